//! The audit log: one JSON object per line for every request, decision,
//! grant, edit, run and violation (`--audit FILE`, or [`Audit::to_file`]).
//! Never file contents or environment values: a run is recorded by sizes
//! and SHA-256 of its output. The schema is in docs/AUDIT.md.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::observe::Observer;
use crate::request::{ApprovalPolicy, Escalation, Request};
use crate::violations::{Denied, Violation};

/// Version of the audit schema, in every line.
pub const SCHEMA_VERSION: u32 = 1;

/// What one audit line records. The type is the schema: each variant is
/// an `event`, each field a key (docs/AUDIT.md lists them, and a test
/// holds the two together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A command the broker was asked about.
    Request {
        /// The command as asked.
        argv: Vec<String>,
        /// Where it would run.
        cwd: String,
        /// `wasi`, `native`, or `shell` for a line cordon routes stage by
        /// stage.
        engine: String,
        /// The sandbox mode, as the user named it.
        sandbox: String,
        /// The approval policy it was asked under.
        approval: String,
        /// What it asks for beyond the sandbox, as `--escalate` writes it.
        escalation: Option<String>,
        /// Why it needs the escalation, in the requester's words.
        justification: Option<String>,
        /// Variables set for it beyond the session's (`KEY=VALUE`).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        env: Vec<String>,
    },
    /// How a request was disposed of (`run`, `refused`, `approved`,
    /// `denied`, `aborted` ...) and what decided it.
    Decision {
        /// The word: `run` (no one asked), `refused`, `approved`,
        /// `approved-for-session`, `approved-always`, `denied`, `edited`,
        /// `aborted`.
        decision: String,
        /// What decided: a rule, the policy, a session grant, an approver.
        by: String,
        /// What this kind of decision adds, as keys of the same line.
        #[serde(flatten)]
        detail: DecisionDetail,
    },
    /// How a command ran.
    Run {
        /// The command as run (after a person's edit).
        argv: Vec<String>,
        /// `wasi`, `native`, or `shell` for a line cordon routed.
        engine: String,
        /// The sandbox mode it ran under; `none` when unsandboxed.
        sandbox: String,
        /// The exit code cordon returned (reserved codes included).
        exit_code: i32,
        /// How long it ran, in milliseconds.
        duration_ms: u128,
        /// The size and digest of all it wrote to stdout, kept or past
        /// `--max-output`.
        stdout: Option<StreamRecord>,
        /// The size and digest of all it wrote to stderr, kept or past
        /// `--max-output`.
        stderr: Option<StreamRecord>,
        /// The sandbox layers in force.
        layers: Vec<String>,
        /// The host variables left out of a native command's environment
        /// (names, never values).
        env_dropped: Vec<String>,
    },
    /// What the sandbox refused: its kind and target, not the message (it
    /// is the command's output).
    Violation {
        /// What kind of access was refused.
        denied: Denied,
        /// The path or host refused, when known.
        target: Option<String>,
        /// How many lines reported it.
        times: u64,
        /// Read from the command's own stderr, a hint; `false` for what
        /// cordon saw itself.
        from_stderr: bool,
    },
    /// Refusal lines of one run past the kept ones: counted, not listed.
    ViolationsNotKept {
        /// How many refusal lines were not kept.
        count: u64,
    },
    /// A connection decided by the network gate.
    Connect {
        /// The command that connects.
        argv: Vec<String>,
        /// The host it connects to or looks up.
        host: String,
        /// `None` for a name lookup.
        port: Option<u16>,
        /// As for commands: run, refused, approved, approved-for-session,
        /// denied, aborted.
        decision: String,
        /// What decided: `--network allow`, a rule, a session grant, the
        /// approver, the policy, the address check.
        by: String,
        /// Why it was asked or refused.
        reason: Option<String>,
    },
    /// A line on the approver's channel not taken as an answer.
    AnswerDiscarded {
        /// The approver whose channel it came on.
        by: String,
        /// Why it was not taken (early, another id or protocol version,
        /// malformed, too long).
        why: String,
        /// The line's start, as the approver kept it.
        line: String,
    },
    /// The session read (or was granted) a secret: from here on every
    /// network grant needs a person.
    Taint {
        /// The secret read or granted.
        why: String,
    },
    /// Something the person running cordon should know (secrets git
    /// already holds).
    Warning {
        /// What the person was told.
        text: String,
    },
    /// A grant made for the session was taken back (`session/revoke`).
    Revoke {
        /// The grant's id, as the session listed it.
        grant: u64,
    },
}

/// What a decision says beyond its word and who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DecisionDetail {
    /// Why it was asked or refused.
    Reason {
        /// The reason, when there is one.
        reason: Option<String>,
    },
    /// `approved-for-session`: the exact command granted, or the prefix
    /// the person typed, with the escalation granted along.
    Session {
        /// The exact command granted; `None` for a prefix.
        argv: Option<Vec<String>>,
        /// The prefix granted, as the person typed it; `None` for an exact
        /// command.
        prefix: Option<Vec<String>>,
        /// The escalation granted along, if any.
        escalation: Option<String>,
    },
    /// `approved-always`: what was granted, and the rules file written or
    /// why none was.
    Always {
        /// What was granted: a command prefix or a host.
        granted: String,
        /// The rules file written; `None` when none was.
        rule_file: Option<String>,
        /// Why no rule was written; `None` when one was.
        rule_error: Option<String>,
    },
    /// `edited`: the command the person put in its place.
    Edited {
        /// The new command.
        argv: Vec<String>,
    },
}

/// A stream's size and digest, as recorded for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamRecord {
    /// How many bytes the stream carried, kept or past `--max-output`.
    pub bytes: u64,
    /// The SHA-256 of those bytes, as lowercase hex.
    pub sha256: String,
}

/// How one command ran.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    /// The command as run.
    pub argv: &'a [String],
    /// `wasi`, `native`, or `shell` for a line cordon routed.
    pub engine: &'a str,
    /// The sandbox mode it ran under; `none` when unsandboxed.
    pub sandbox: &'a str,
    /// The exit code cordon returned (reserved codes included).
    pub exit_code: i32,
    /// How long it ran, in milliseconds.
    pub duration_ms: u128,
    /// Stdout's size and digest; `None` when no digest was kept.
    pub stdout: Option<StreamRecord>,
    /// Stderr's size and digest; `None` when no digest was kept.
    pub stderr: Option<StreamRecord>,
    /// The sandbox layers in force.
    pub layers: &'a [String],
    /// The host variables left out of a native command's environment
    /// (names, never values).
    pub env_dropped: &'a [String],
}

/// One line as written: the schema version and the time, then the event.
#[derive(Serialize)]
struct Line<'a> {
    v: u32,
    time: String,
    #[serde(flatten)]
    event: &'a Event,
}

impl Event {
    /// The request for `request`, asked under `policy`.
    pub fn request(request: &Request, policy: ApprovalPolicy) -> Event {
        Event::Request {
            argv: request.argv.clone(),
            cwd: request.cwd.to_string_lossy().into_owned(),
            engine: request.engine.to_string(),
            sandbox: request.sandbox.to_string(),
            approval: policy.as_str().to_string(),
            escalation: request.escalation.as_ref().map(ToString::to_string),
            justification: request.justification.clone(),
            env: request.env.clone(),
        }
    }

    /// `decision`: run, refused, approved, denied, aborted; `by`: what
    /// decided (a rule, the policy, a session grant, an approver).
    pub fn decision(decision: &str, by: &str, reason: Option<&str>) -> Event {
        Event::Decision {
            decision: decision.to_string(),
            by: by.to_string(),
            detail: DecisionDetail::Reason {
                reason: reason.map(str::to_string),
            },
        }
    }

    /// An `approved-for-session` answer from `by`: `words` granted as a
    /// prefix when `prefix`, else as the exact command, with `escalation`
    /// granted along.
    pub fn grant(
        by: &str,
        words: &[String],
        prefix: bool,
        escalation: &Option<Escalation>,
    ) -> Event {
        let words = Some(words.to_vec());
        let (argv, prefix) = if prefix { (None, words) } else { (words, None) };
        Event::Decision {
            decision: "approved-for-session".into(),
            by: by.to_string(),
            detail: DecisionDetail::Session {
                argv,
                prefix,
                escalation: escalation.as_ref().map(ToString::to_string),
            },
        }
    }

    /// An "always" answer: `granted` (a command prefix or a host) and the
    /// rules file written, or why none was.
    pub fn always(by: &str, granted: &str, rule: &Result<String, String>) -> Event {
        Event::Decision {
            decision: "approved-always".into(),
            by: by.to_string(),
            detail: DecisionDetail::Always {
                granted: granted.to_string(),
                rule_file: rule.as_ref().ok().cloned(),
                rule_error: rule.as_ref().err().cloned(),
            },
        }
    }

    /// An `edited` answer from `by`: `argv` runs in the command's place.
    pub fn edit(by: &str, argv: &[String]) -> Event {
        Event::Decision {
            decision: "edited".into(),
            by: by.to_string(),
            detail: DecisionDetail::Edited {
                argv: argv.to_vec(),
            },
        }
    }

    /// How a command ran, from its record.
    pub fn run(run: &RunRecord) -> Event {
        Event::Run {
            argv: run.argv.to_vec(),
            engine: run.engine.to_string(),
            sandbox: run.sandbox.to_string(),
            exit_code: run.exit_code,
            duration_ms: run.duration_ms,
            stdout: run.stdout.clone(),
            stderr: run.stderr.clone(),
            layers: run.layers.to_vec(),
            env_dropped: run.env_dropped.to_vec(),
        }
    }

    /// One refusal: its kind and target, never its line (the command's
    /// output).
    pub fn violation(violation: &Violation) -> Event {
        Event::Violation {
            denied: violation.denied,
            target: violation.target.clone(),
            times: violation.times,
            from_stderr: violation.from_stderr,
        }
    }

    /// `count` refusal lines of one run past the kept ones.
    pub fn violations_not_kept(count: u64) -> Event {
        Event::ViolationsNotKept { count }
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
        Event::Connect {
            argv: argv.to_vec(),
            host: host.to_string(),
            port: (port != 0).then_some(port),
            decision: decision.to_string(),
            by: by.to_string(),
            reason: reason.map(str::to_string),
        }
    }

    /// `line` is the discarded line's start, as the approver kept it.
    pub fn answer_discarded(by: &str, why: &str, line: &str) -> Event {
        Event::AnswerDiscarded {
            by: by.to_string(),
            why: why.to_string(),
            line: line.to_string(),
        }
    }

    /// The session read or was granted a secret: `why`.
    pub fn taint(why: &str) -> Event {
        Event::Taint {
            why: why.to_string(),
        }
    }

    /// `text`, as the person running cordon was told it.
    pub fn warning(text: &str) -> Event {
        Event::Warning {
            text: text.to_string(),
        }
    }

    /// The session grant `grant` taken back.
    pub fn revoke(grant: u64) -> Event {
        Event::Revoke { grant }
    }
}

/// Hears every event the moment it is recorded (a server's connections
/// that subscribed to them).
pub trait AuditWatcher: Send + Sync {
    /// Whether anyone hears the events now (none: the session keeps no
    /// digests for them).
    fn listening(&self) -> bool {
        true
    }
    /// One event as the log writes its line: `v`, `time`, then the
    /// event's fields. Called with the broker held: return at once.
    fn recorded(&self, line: &serde_json::Value);
}

/// Where audit lines go; the disabled log records nothing.
#[derive(Default)]
pub struct Audit {
    file: Option<(File, PathBuf)>,
    watcher: Option<Arc<dyn AuditWatcher>>,
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
            ..Audit::default()
        })
    }

    /// Tells `notes` when a line cannot be written.
    pub fn observed_by(&mut self, notes: Arc<dyn Observer>) {
        self.notes = Some(notes);
    }

    /// Tells `watcher` of every event too.
    pub fn watched_by(&mut self, watcher: Arc<dyn AuditWatcher>) {
        self.watcher = Some(watcher);
    }

    /// Whether events go anywhere (false for the disabled log).
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.watcher.as_ref().is_some_and(|w| w.listening())
    }

    /// Writes one line (a single write, so concurrent appenders do not
    /// interleave within it), and tells the watcher.
    pub fn record(&mut self, event: &Event) {
        if !self.enabled() {
            return;
        }
        let stamped = Line {
            v: SCHEMA_VERSION,
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            event,
        };
        if let Some(watcher) = self.watcher.as_ref().filter(|w| w.listening()) {
            // Strings, numbers and lists only: nothing here fails.
            watcher.recorded(&serde_json::to_value(&stamped).expect("an audit line serializes"));
        }
        let Some((file, path)) = &mut self.file else {
            return;
        };
        let mut line = serde_json::to_string(&stamped).expect("an audit line serializes");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each event, every optional field set, and each kind of
    /// decision. The match makes a new variant a compile error here until
    /// it has a sample (and so a row in docs/AUDIT.md).
    fn samples() -> Vec<Event> {
        let words = vec!["rm".to_string(), "-rf".to_string(), "x".to_string()];
        let stream = Some(StreamRecord {
            bytes: 1,
            sha256: "00".into(),
        });
        let events = vec![
            Event::Request {
                argv: words.clone(),
                cwd: "/p".into(),
                engine: "native".into(),
                sandbox: "workspace-write".into(),
                approval: "on-request".into(),
                escalation: Some("network".into()),
                justification: Some("why".into()),
                env: vec!["GIT_DIR=x".into()],
            },
            Event::decision("refused", "policy never", Some("why")),
            Event::grant("script", &words, false, &Some(Escalation::Network)),
            Event::grant("script", &words, true, &None),
            Event::always("script", "rm", &Ok("rules.toml".into())),
            Event::edit("script", &words),
            Event::Run {
                argv: words.clone(),
                engine: "wasi".into(),
                sandbox: "read-only".into(),
                exit_code: 0,
                duration_ms: 1,
                stdout: stream.clone(),
                stderr: stream,
                layers: vec!["wasmtime".into()],
                env_dropped: vec!["TOKEN".into()],
            },
            Event::Violation {
                denied: Denied::Write,
                target: Some(".git".into()),
                times: 1,
                from_stderr: false,
            },
            Event::violations_not_kept(3),
            Event::connect(&words, "example.com", 443, "refused", "policy", Some("why")),
            Event::answer_discarded("jsonl", "malformed", "{"),
            Event::taint("a secret was read"),
            Event::warning("secrets git holds"),
            Event::revoke(1),
        ];
        for event in &events {
            match event {
                Event::Request { .. }
                | Event::Decision { .. }
                | Event::Run { .. }
                | Event::Violation { .. }
                | Event::ViolationsNotKept { .. }
                | Event::Connect { .. }
                | Event::AnswerDiscarded { .. }
                | Event::Taint { .. }
                | Event::Warning { .. }
                | Event::Revoke { .. } => {}
            }
        }
        events
    }

    /// docs/AUDIT.md's table of events: each event's name and the text
    /// of its fields column.
    fn documented() -> Vec<(String, String)> {
        let doc = include_str!("../../docs/AUDIT.md");
        let table = doc
            .split("| event | fields |")
            .nth(1)
            .expect("docs/AUDIT.md has the table of events");
        table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|row| {
                let cells: Vec<&str> = row.split(" | ").collect();
                let name = cells[0].trim_start_matches("| ").trim_matches('`');
                (name.to_string(), cells[1..].join(" | "))
            })
            .collect()
    }

    /// The type is the schema, and the docs say it: every event the type
    /// writes has a row, every row is an event, and every key an event
    /// writes is named in its row.
    #[test]
    fn docs_audit_md_lists_every_event_and_field() {
        let documented = documented();
        let mut written = Vec::new();
        for event in samples() {
            let serde_json::Value::Object(fields) = serde_json::to_value(&event).unwrap() else {
                panic!("{event:?} is not an object");
            };
            let name = fields["event"].as_str().unwrap().to_string();
            let row = documented
                .iter()
                .find(|(documented, _)| *documented == name)
                .unwrap_or_else(|| panic!("docs/AUDIT.md has no row for `{name}`"));
            for key in fields.keys().filter(|key| *key != "event") {
                assert!(
                    row.1.contains(&format!("`{key}`")),
                    "docs/AUDIT.md: `{name}` does not name its field `{key}`"
                );
            }
            written.push(name);
        }
        for (name, _) in &documented {
            assert!(
                written.contains(name),
                "docs/AUDIT.md documents `{name}`, which no event writes"
            );
        }
    }

    /// A line carries the version and the time before the event's own
    /// fields.
    #[test]
    fn a_line_is_stamped_with_version_and_time() {
        let event = Event::taint("why");
        let line = serde_json::to_value(Line {
            v: SCHEMA_VERSION,
            time: "t".into(),
            event: &event,
        })
        .unwrap();
        assert_eq!(line["v"], SCHEMA_VERSION);
        assert_eq!(line["event"], "taint");
        assert_eq!(line["why"], "why");
    }
}
