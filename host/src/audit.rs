//! The audit log: one JSON object per line for every request, decision,
//! grant, edit, run and violation (`--audit FILE`, or [`Audit::to_file`]).
//! Never file contents or environment values: a run is recorded by sizes
//! and SHA-256 of its output. The schema is in docs/AUDIT.md.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::broker::{ApprovalPolicy, Escalation, Request};
use crate::observe::Observer;
use crate::violations::Violation;

/// Version of the audit schema, in every line.
pub const SCHEMA_VERSION: u32 = 1;

/// One audit line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event(Map<String, Value>);

fn object(event: &str, fields: Value) -> Event {
    let mut map = Map::new();
    map.insert("v".into(), json!(SCHEMA_VERSION));
    map.insert(
        "time".into(),
        json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string()),
    );
    map.insert("event".into(), json!(event));
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Event(map)
}

/// A stream's size and digest, as recorded for a run.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub bytes: u64,
    pub sha256: String,
}

/// How one command ran.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub argv: &'a [String],
    pub engine: &'a str,
    pub sandbox: &'a str,
    /// The exit code cordon returned (reserved codes included).
    pub exit_code: i32,
    pub duration_ms: u128,
    pub stdout: Option<StreamRecord>,
    pub stderr: Option<StreamRecord>,
    /// The sandbox layers in force (native).
    pub layers: &'a [String],
    /// The host variables left out of a native command's environment
    /// (names, never values).
    pub env_dropped: &'a [String],
}

fn stream(record: &Option<StreamRecord>) -> Value {
    record.as_ref().map_or(
        Value::Null,
        |r| json!({"bytes": r.bytes, "sha256": r.sha256}),
    )
}

impl Event {
    pub fn request(request: &Request, policy: ApprovalPolicy) -> Event {
        object(
            "request",
            json!({
                "argv": request.argv,
                "cwd": request.cwd.to_string_lossy(),
                "engine": request.engine,
                "sandbox": request.sandbox,
                "approval": policy.as_str(),
                "escalation": request.escalation.as_ref().map(ToString::to_string),
                "justification": request.justification,
            }),
        )
    }

    /// `decision`: run, refused, approved, denied, aborted; `by`: what
    /// decided (a rule, the policy, a session grant, an approver).
    pub fn decision(decision: &str, by: &str, reason: Option<&str>) -> Event {
        object(
            "decision",
            json!({"decision": decision, "by": by, "reason": reason}),
        )
    }

    pub fn grant(
        by: &str,
        words: &[String],
        prefix: bool,
        escalation: &Option<Escalation>,
    ) -> Event {
        let (exact, prefix) = if prefix {
            (None, Some(words))
        } else {
            (Some(words), None)
        };
        object(
            "decision",
            json!({
                "decision": "approved-for-session",
                "by": by,
                "argv": exact,
                "prefix": prefix,
                "escalation": escalation.as_ref().map(ToString::to_string),
            }),
        )
    }

    /// An "always" answer: `granted` (a command prefix or a host) and the
    /// rules file written, or why none was.
    pub fn always(by: &str, granted: &str, rule: &Result<String, String>) -> Event {
        let (file, error) = match rule {
            Ok(file) => (Some(file.as_str()), None),
            Err(why) => (None, Some(why.as_str())),
        };
        object(
            "decision",
            json!({
                "decision": "approved-always",
                "by": by,
                "granted": granted,
                "rule_file": file,
                "rule_error": error,
            }),
        )
    }

    pub fn edit(by: &str, argv: &[String]) -> Event {
        object(
            "decision",
            json!({"decision": "edited", "by": by, "argv": argv}),
        )
    }

    pub fn run(run: &RunRecord) -> Event {
        object(
            "run",
            json!({
                "argv": run.argv,
                "engine": run.engine,
                "sandbox": run.sandbox,
                "exit_code": run.exit_code,
                "duration_ms": run.duration_ms,
                "stdout": stream(&run.stdout),
                "stderr": stream(&run.stderr),
                "layers": run.layers,
                "env_dropped": run.env_dropped,
            }),
        )
    }

    /// What the sandbox refused: its kind and target, not the message (it
    /// is the command's output).
    pub fn violation(violation: &Violation) -> Event {
        object(
            "violation",
            json!({
                "denied": violation.denied,
                "target": violation.target,
                "times": violation.times,
                "from_stderr": violation.from_stderr,
            }),
        )
    }

    /// Refusal lines of one run past the kept ones: counted, not listed.
    pub fn violations_not_kept(count: u64) -> Event {
        object("violations-not-kept", json!({ "count": count }))
    }

    /// A connection decided by the network gate: `decision` as for
    /// commands (run, refused, approved, approved-for-session, denied),
    /// `by` what decided, `reason` why it was asked or refused.
    pub fn connect(
        argv: &[String],
        host: &str,
        port: u16,
        decision: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Event {
        object(
            "connect",
            json!({
                "argv": argv,
                "host": host,
                "port": (port != 0).then_some(port),
                "decision": decision,
                "by": by,
                "reason": reason,
            }),
        )
    }

    /// A line on the approver's channel not taken as an answer (it came
    /// before the question, answers another id, or is malformed): `line`
    /// is its start, as the approver kept it.
    pub fn answer_discarded(by: &str, why: &str, line: &str) -> Event {
        object(
            "answer-discarded",
            json!({"by": by, "why": why, "line": line}),
        )
    }

    /// The session read (or was granted) a secret: from here on every
    /// network grant needs a person.
    pub fn taint(why: &str) -> Event {
        object("taint", json!({"why": why}))
    }

    /// Something the person running cordon should know (secrets git
    /// already holds).
    pub fn warning(text: &str) -> Event {
        object("warning", json!({"text": text}))
    }

    /// The field `key`, for tests and embedders.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }
}

/// Where audit lines go; the disabled log records nothing.
#[derive(Default)]
pub struct Audit {
    file: Option<(File, PathBuf)>,
    /// Lines that could not be written are counted, and said once.
    failed: bool,
    /// Who hears that a line could not be written.
    notes: Option<Arc<dyn Observer>>,
}

impl Audit {
    /// Appends to `path`, creating it.
    ///
    /// # Errors
    ///
    /// The I/O error, when the file cannot be opened for appending.
    pub fn to_file(path: &Path) -> std::io::Result<Audit> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Audit {
            file: Some((file, path.to_path_buf())),
            failed: false,
            notes: None,
        })
    }

    /// Tells `notes` when a line cannot be written.
    pub fn observed_by(&mut self, notes: Arc<dyn Observer>) {
        self.notes = Some(notes);
    }

    pub fn enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Writes one line (a single write, so concurrent appenders do not
    /// interleave within it).
    pub fn record(&mut self, event: &Event) {
        let Some((file, path)) = &mut self.file else {
            return;
        };
        let mut line = Value::Object(event.0.clone()).to_string();
        line.push('\n');
        if let Err(err) = file.write_all(line.as_bytes())
            && !self.failed
        {
            if let Some(notes) = &self.notes {
                notes.note(&format!("audit log {}: {err}", path.display()));
            }
            self.failed = true;
        }
    }
}
