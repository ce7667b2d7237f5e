//! `cordon run --json`: one JSON object saying how the run went, written
//! when it ends on a descriptor of the caller's choice (`--json-fd N`,
//! default 3), never on the command's own output. The fields are listed
//! in docs/AUDIT.md.

use std::fs::File;
use std::io::Write;

use serde_json::{Value, json};

use crate::audit::StreamRecord;
use crate::session::{Refusal, RunOutcome};

/// The report of a run that went as `outcome` says.
pub fn to_json(outcome: &RunOutcome) -> Value {
    let size = |stream: &Option<StreamRecord>| stream.as_ref().map(|s| s.bytes);
    let decision = outcome.decision.as_ref();
    json!({
        "argv": outcome.argv,
        "engine": outcome.engine,
        "decision": decision.map(|d| d.decision.as_str()),
        "decided_by": decision.map(|d| d.by.as_str()),
        "status": outcome.status.as_str(),
        "exit_code": outcome.exit_code,
        "error": outcome.error,
        "retried": outcome.retried,
        "violations": outcome.violations.iter().map(violation_json).collect::<Vec<_>>(),
        "violations_not_kept": outcome.violations_not_kept,
        "layers": outcome.layers,
        "duration_ms": outcome.duration.as_millis(),
        "stdout_bytes": size(&outcome.stdout),
        "stderr_bytes": size(&outcome.stderr),
        "env_dropped": outcome.env_dropped,
    })
}

/// A refusal, with what would have allowed it.
fn violation_json(refusal: &Refusal) -> Value {
    let violation = &refusal.violation;
    json!({
        "denied": violation.denied,
        "target": violation.target,
        "line": violation.line,
        "times": violation.times,
        "from_stderr": violation.from_stderr,
        "allowed_by": refusal.allowed_by,
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
