//! Watching a sandboxed process the host started: its output copied
//! through the caps, its stderr read for refusals, its deadline, and its
//! whole process group killed when it ends or times out.

use std::fs::File;
use std::io::{BufRead, Read};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use super::violations::{self, Violation};
use super::{NativeError, NativeIo, NativeStatus};
use crate::wasi::CappedOutput;

/// How long output may keep flowing after the process ended: something that
/// escaped its group (possible only without a pid namespace) may hold the
/// pipes open, and cordon must not wait for it.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// A started process, leader of its own process group, with its output
/// piped to the host.
pub struct Process {
    pub pid: i32,
    pub stdout: File,
    pub stderr: File,
    /// Where the process reports the command's exit code once nothing of
    /// it runs any more, before it ends itself; `None` to wait for its end.
    pub exit: Option<File>,
}

impl Process {
    /// Takes over a child spawned with piped stdout and stderr in its own
    /// process group; waiting for it is then this module's job.
    pub fn from_child(mut child: Child) -> Process {
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        Process {
            pid: child.id() as i32,
            stdout: File::from(std::os::fd::OwnedFd::from(stdout)),
            stderr: File::from(std::os::fd::OwnedFd::from(stderr)),
            exit: None,
        }
    }
}

/// Waits for the exit of `pid`, returning its raw wait status.
fn wait(pid: i32) -> std::io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(status);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reaps `pid` after it was killed.
#[cfg(target_os = "linux")]
pub fn reap(pid: i32) {
    let _ = wait(pid);
}

/// A raw wait status as a shell reports it: the exit code, or 128 plus
/// the signal that ended the process.
pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// Reaps `pid` once it has ended, without waiting for it: now if it has,
/// else at a later call (at most a few zombies for the host's lifetime,
/// none once it exits).
fn reap_later(pid: i32) {
    static ENDING: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());
    let mut ending = ENDING.lock().unwrap_or_else(|e| e.into_inner());
    ending.push(pid);
    // SAFETY: polling our own children.
    ending.retain(|&pid| unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0);
}

/// Runs `command` (its stdio and process group are set here) to the end.
pub fn run_command(
    command: &mut std::process::Command,
    mut io: NativeIo,
    layers: Vec<String>,
) -> Result<super::NativeOutcome, NativeError> {
    use std::os::unix::process::CommandExt;
    let stdin = io
        .stdin
        .take()
        .map_or_else(std::process::Stdio::inherit, std::process::Stdio::from);
    // As in the helper: the command gets SIGPIPE's default back.
    // SAFETY: signal() is async-signal-safe; it runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            Ok(())
        });
    }
    let child = command
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| NativeError::Setup(format!("starting {:?}: {e}", command.get_program())))?;
    let (status, violations) = supervise(Process::from_child(child), &io)?;
    Ok(super::NativeOutcome {
        status,
        stdout_dropped: io.stdout.dropped(),
        stderr_dropped: io.stderr.dropped(),
        violations,
        layers,
    })
}

/// Waits for `process`, copying its output through the caps.
pub fn supervise(
    process: Process,
    io: &NativeIo,
) -> Result<(NativeStatus, Vec<Violation>), NativeError> {
    Ok(watch(process, io).wait()?.drain())
}

/// A process whose output is being copied and whose deadline runs.
pub struct Watched {
    group: i32,
    exit: Option<File>,
    stdout: mpsc::Receiver<Vec<Violation>>,
    stderr: mpsc::Receiver<Vec<Violation>>,
    done: mpsc::Sender<()>,
    watchdog: Option<std::thread::JoinHandle<bool>>,
}

/// Starts copying `process`'s output through the caps and its deadline;
/// [`Watched::wait`] waits for the end. Dropped instead, the copying
/// ends with the process.
pub fn watch(process: Process, io: &NativeIo) -> Watched {
    let group = process.pid;
    let stdout = pump(Some(process.stdout), io.stdout.clone(), false);
    let stderr = pump(Some(process.stderr), io.stderr.clone(), true);
    let (done, timer) = mpsc::channel::<()>();
    let watchdog = io.timeout.map(|timeout| {
        std::thread::spawn(move || {
            let expired = timer.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout);
            if expired {
                kill_group(group);
            }
            expired
        })
    });
    Watched {
        group,
        exit: process.exit,
        stdout,
        stderr,
        done,
        watchdog,
    }
}

impl Watched {
    /// Waits for the end of the process and of what it left in its group;
    /// its output may still be on the way.
    pub fn wait(self) -> Result<Ended, NativeError> {
        let group = self.group;
        let code = match self.exit.and_then(reported_code) {
            Some(code) => {
                // What is left is the kernel's: the process ends on its own.
                reap_later(group);
                code
            }
            None => {
                let status = wait(group)
                    .map_err(|e| NativeError::Setup(format!("waiting for the command: {e}")))?;
                exit_code(status)
            }
        };
        let _ = self.done.send(());
        let timed_out = self.watchdog.is_some_and(|w| w.join().unwrap_or(false));
        // What the command left running in its group goes with it.
        kill_group(group);
        let status = if timed_out {
            NativeStatus::TimedOut
        } else {
            NativeStatus::Exited(code)
        };
        Ok(Ended {
            status,
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}

/// A process that ended, its output still being copied.
pub struct Ended {
    status: NativeStatus,
    stdout: mpsc::Receiver<Vec<Violation>>,
    stderr: mpsc::Receiver<Vec<Violation>>,
}

impl Ended {
    /// Waits (at most a grace period) for the rest of the output: the
    /// status, and the refusals seen on stderr.
    pub fn drain(self) -> (NativeStatus, Vec<Violation>) {
        let _ = self.stdout.recv_timeout(DRAIN_GRACE);
        let found = self.stderr.recv_timeout(DRAIN_GRACE).unwrap_or_default();
        (self.status, found)
    }
}

/// The exit code a supervising process wrote on `report`; `None` when it
/// ended without one (killed, or it failed).
fn reported_code(report: File) -> Option<i32> {
    // The line, not the end of the pipe: that comes only once the kernel
    // has taken the process's memory down.
    let mut line = String::new();
    std::io::BufReader::new(report).read_line(&mut line).ok()?;
    line.strip_suffix('\n')?.parse().ok()
}

/// Copies a pipe into a capped stream; with `scan`, also reads each line
/// for sandbox refusals.
fn pump(
    pipe: Option<impl Read + Send + 'static>,
    out: CappedOutput,
    scan: bool,
) -> mpsc::Receiver<Vec<Violation>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Vec::new();
        let mut line = Vec::new();
        if let Some(mut pipe) = pipe {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // The reader went away: stop reading, so the command gets
                // SIGPIPE on its next write, as in a shell pipeline.
                if out.write_bytes(&buf[..n]).is_err() {
                    break;
                }
                if scan {
                    for &byte in &buf[..n] {
                        if byte == b'\n' {
                            found.extend(violations::classify(&String::from_utf8_lossy(&line)));
                            line.clear();
                        } else {
                            line.push(byte);
                        }
                    }
                }
            }
        }
        if !line.is_empty() {
            found.extend(violations::classify(&String::from_utf8_lossy(&line)));
        }
        let _ = tx.send(found);
    });
    rx
}

/// SIGKILL to a whole process group.
pub fn kill_group(group: i32) {
    // SAFETY: plain syscall on a group the host created for this command.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
