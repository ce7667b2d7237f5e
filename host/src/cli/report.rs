//! `cordon run --json`: the run's report ([`crate::session::RunOutcome::report`]),
//! written when it ends on a descriptor of the caller's choice
//! (`--json-fd N`, default 3), never on the command's own output.

use std::fs::File;
use std::io::Write;

use serde_json::Value;

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
