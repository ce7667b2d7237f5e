//! `cordon run --json`: one JSON object saying how the run went, written
//! when it ends on a descriptor of the caller's choice (`--json-fd N`,
//! default 3), never on the command's own output. The fields are listed
//! in docs/AUDIT.md.

use std::fs::File;
use std::io::Write;

use serde_json::{Value, json};

use crate::audit::StreamRecord;
use crate::broker::{self, Decided, Remedy};
use crate::exit;
use crate::native::Violation;
use crate::policy::SandboxPolicy;

/// What is known of the run so far.
#[derive(Default)]
pub struct RunReport {
    argv: Vec<String>,
    engine: &'static str,
    decision: Option<Decided>,
    /// Runs made: a second is the on-failure retry.
    attempts: u32,
    violations: Vec<Value>,
    violations_more: u64,
    layers: Vec<String>,
    duration_ms: u128,
    stdout: Option<StreamRecord>,
    stderr: Option<StreamRecord>,
    env_dropped: Vec<String>,
}

/// One execution's part of the report.
pub struct Execution<'a> {
    pub argv: &'a [String],
    pub engine: &'static str,
    pub violations: &'a [Violation],
    pub violations_more: u64,
    pub layers: &'a [String],
    pub duration_ms: u128,
    pub stdout: Option<StreamRecord>,
    pub stderr: Option<StreamRecord>,
    pub env_dropped: &'a [String],
}

impl RunReport {
    /// The broker's decision on the command about to run (or not).
    pub fn decided(&mut self, argv: &[String], engine: &'static str, decision: Option<&Decided>) {
        self.argv = argv.to_vec();
        self.engine = engine;
        self.decision = decision.cloned();
    }

    /// What one execution did; a retry's replaces the first one's.
    pub fn ran(&mut self, execution: Execution, policy: &SandboxPolicy) {
        self.attempts += 1;
        self.argv = execution.argv.to_vec();
        self.engine = execution.engine;
        self.violations = execution
            .violations
            .iter()
            .map(|violation| violation_json(violation, policy))
            .collect();
        self.violations_more = execution.violations_more;
        self.layers = execution.layers.to_vec();
        self.duration_ms = execution.duration_ms;
        self.stdout = execution.stdout;
        self.stderr = execution.stderr;
        self.env_dropped = execution.env_dropped.to_vec();
    }

    /// The object for a run that ended with cordon's `code`, or failed
    /// with `error`.
    pub fn to_json(&self, code: u8, error: Option<&str>) -> Value {
        let status = match (error, self.attempts) {
            (Some(_), _) => "error",
            (None, 0) => match code {
                exit::NOT_FOUND => "not-found",
                exit::HOST_ERROR => "error",
                _ => "refused",
            },
            (None, _) => match code {
                exit::TIMED_OUT => "timed-out",
                exit::TRAPPED => "trapped",
                _ => "exited",
            },
        };
        let size = |stream: &Option<StreamRecord>| stream.as_ref().map(|s| s.bytes);
        json!({
            "argv": self.argv,
            "engine": (!self.engine.is_empty()).then_some(self.engine),
            "decision": self.decision.as_ref().map(|d| d.decision.as_str()),
            "decided_by": self.decision.as_ref().map(|d| d.by.as_str()),
            "status": status,
            "exit_code": code,
            "error": error,
            "retried": self.attempts > 1,
            "violations": self.violations,
            "violations_not_kept": self.violations_more,
            "layers": self.layers,
            "duration_ms": self.duration_ms,
            "stdout_bytes": size(&self.stdout),
            "stderr_bytes": size(&self.stderr),
            "env_dropped": self.env_dropped,
        })
    }
}

/// A refusal, with what would have allowed it.
fn violation_json(violation: &Violation, policy: &SandboxPolicy) -> Value {
    let allowed_by = match broker::remedy(violation, policy) {
        Remedy::Escalation(grant) => grant.as_flags(),
        Remedy::Flag(flag) => flag,
    };
    json!({
        "denied": violation.denied,
        "target": violation.target,
        "line": violation.line,
        "times": violation.times,
        "from_stderr": violation.from_stderr,
        "allowed_by": allowed_by,
    })
}

/// The descriptor the report goes to, taken over (close-on-exec: no
/// command inherits it).
///
/// # Errors
///
/// A descriptor that is not open, or is the command's own output.
#[cfg(unix)]
pub fn sink(fd: i32) -> Result<File, String> {
    use std::os::fd::FromRawFd;
    if fd <= 2 {
        return Err(format!(
            "--json-fd {fd}: the report would mix with the command's own input or \
             output; name another descriptor (3>FILE --json-fd 3)"
        ));
    }
    // SAFETY: fcntl on a number; F_SETFD only sets the flag.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(format!(
            "--json-fd {fd}: not an open descriptor; open one for the report \
             ({fd}>FILE) or name another"
        ));
    }
    // SAFETY: open (checked above) and handed to cordon for the report.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Descriptors are not inherited by number here.
#[cfg(not(unix))]
pub fn sink(fd: i32) -> Result<File, String> {
    Err(format!("--json-fd {fd}: not on this system"))
}

/// Writes `report` on `sink`, one line.
pub fn write(mut sink: File, report: &Value) -> std::io::Result<()> {
    let mut line = report.to_string();
    line.push('\n');
    sink.write_all(line.as_bytes())
}
