//! Watching a sandboxed process the host started: its output copied
//! through the caps, its stderr read for refusals, its deadline, and its
//! whole process group killed when it ends or times out.

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{NativeError, NativeIo, NativeStatus};
use crate::io::{CappedOutput, OnCancel};
use crate::violations::{Refusals, Violation};

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
    /// Kills what of its tree its process group does not hold (an
    /// unsandboxed run's control group), with the group, at a timeout, a
    /// cancel and its end.
    pub tree: Option<TreeKill>,
}

/// Kills the rest of a command's tree.
pub type TreeKill = std::sync::Arc<dyn Fn() + Send + Sync>;

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
            tree: None,
        }
    }
}

/// Waits for the exit of `pid`, returning its raw wait status.
pub fn wait(pid: i32) -> std::io::Result<i32> {
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
    tree: Option<TreeKill>,
) -> Result<super::NativeOutcome, NativeError> {
    use std::os::unix::process::CommandExt;
    let stdin = io
        .stdin
        .take()
        .map_or_else(std::process::Stdio::inherit, std::process::Stdio::from);
    // As in the helper: the command gets SIGPIPE's default back, and
    // inherits no descriptor but its stdio (std has put those in place).
    // SAFETY: signal() and close_on_exec_from are async-signal-safe; they
    // run between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            super::descriptors::close_on_exec_from(3)
        });
    }
    let child = command
        .stdin(stdin)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| NativeError::Setup(format!("starting {:?}: {e}", command.get_program())))?;
    let process = Process {
        tree,
        ..Process::from_child(child)
    };
    let (status, (violations, violations_more)) = supervise(process, &io)?;
    Ok(super::NativeOutcome {
        status,
        stdout_dropped: io.stdout.dropped(),
        stderr_dropped: io.stderr.dropped(),
        violations,
        violations_more,
        layers,
    })
}

/// Waits for `process`, copying its output through the caps.
pub fn supervise(
    process: Process,
    io: &NativeIo,
) -> Result<(NativeStatus, (Vec<Violation>, u64)), NativeError> {
    Ok(watch(process, io)?.wait()?.drain())
}

/// A started process whose deadline runs; [`Watched::wait`] copies its
/// output while it waits for the end.
pub struct Watched {
    group: i32,
    /// Where the exit code arrives as a line: written by the process
    /// itself (pid 1 of the sandbox) or by a thread that waits for it.
    exit: File,
    /// Whether the writer of the exit code also reaped the process.
    reaped: bool,
    output: Output,
    done: mpsc::Sender<()>,
    watchdog: Option<std::thread::JoinHandle<bool>>,
    /// Kills the group when the run is cancelled, until the process ended.
    on_cancel: Option<OnCancel>,
    /// Kills the group and the rest of the tree.
    kill: Box<dyn Fn() + Send>,
}

/// Starts `process`'s deadline. Its output is copied from
/// [`Watched::wait`] on, on the calling thread: a thread of its own costs
/// more than the copying (a thread's start and the address-space changes
/// it brings are felt by every short command).
pub fn watch(process: Process, io: &NativeIo) -> Result<Watched, NativeError> {
    let group = process.pid;
    let (exit, reaped) = match process.exit {
        Some(report) => (report, false),
        None => (wait_in_thread(group)?, true),
    };
    let tree = process.tree.clone();
    let kill = move || {
        kill_group(group);
        if let Some(tree) = &tree {
            tree();
        }
    };
    let (done, timer) = mpsc::channel::<()>();
    let on_timeout = kill.clone();
    let watchdog = io.timeout.map(|timeout| {
        std::thread::spawn(move || {
            let expired = timer.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout);
            if expired {
                on_timeout();
            }
            expired
        })
    });
    Ok(Watched {
        group,
        exit,
        reaped,
        output: Output {
            pipes: [Some(process.stdout), Some(process.stderr)],
            sinks: [io.stdout.clone(), io.stderr.clone()],
            refusals: Refusals::default(),
            buf: Vec::new(),
        },
        done,
        watchdog,
        on_cancel: io
            .cancel
            .as_ref()
            .map(|cancel| cancel.on_cancel(kill.clone())),
        kill: Box::new(kill),
    })
}

/// For a process that reports no exit code itself: a thread waits for it
/// and writes the code on a pipe, which is returned.
fn wait_in_thread(pid: i32) -> Result<File, NativeError> {
    let (report, mut writer) =
        std::io::pipe().map_err(|e| NativeError::Setup(format!("pipe for the exit code: {e}")))?;
    std::thread::spawn(move || {
        // Nothing written: the reader sees the pipe end without a code.
        if let Ok(status) = wait(pid) {
            let _ = writer.write_all(format!("{}\n", exit_code(status)).as_bytes());
        }
    });
    Ok(File::from(std::os::fd::OwnedFd::from(report)))
}

impl Watched {
    /// Copies the output until the process has ended, with what it left
    /// in its group; the rest of the output may still be on the way.
    pub fn wait(mut self) -> Result<Ended, NativeError> {
        let group = self.group;
        let code = match (self.output.copy_until_exit(&mut self.exit), self.reaped) {
            (Some(code), true) => code,
            (Some(code), false) => {
                // What is left is the kernel's: the process ends on its own.
                reap_later(group);
                code
            }
            (None, false) => exit_code(
                wait(group)
                    .map_err(|e| NativeError::Setup(format!("waiting for the command: {e}")))?,
            ),
            (None, true) => {
                return Err(NativeError::Setup("waiting for the command failed".into()));
            }
        };
        drop(self.on_cancel);
        let _ = self.done.send(());
        let timed_out = self.watchdog.is_some_and(|w| w.join().unwrap_or(false));
        // What the command left running in its tree goes with it.
        (self.kill)();
        let status = if timed_out {
            NativeStatus::TimedOut
        } else {
            NativeStatus::Exited(code)
        };
        Ok(Ended {
            status,
            output: self.output,
        })
    }
}

/// A process that ended, the end of its output still to be copied.
pub struct Ended {
    status: NativeStatus,
    output: Output,
}

impl Ended {
    /// Copies the rest of the output (for at most a grace period); returns
    /// the status, the refusals seen on stderr and how many refusal lines
    /// were not kept.
    pub fn drain(mut self) -> (NativeStatus, (Vec<Violation>, u64)) {
        self.output.copy_to_end(Instant::now() + DRAIN_GRACE);
        (self.status, self.output.refusals.finish())
    }
}

/// A process's stdout and stderr, copied into their capped streams as
/// either has data; stderr's lines are read for sandbox refusals.
struct Output {
    /// `None` once a pipe ended or is no longer read.
    pipes: [Option<File>; 2],
    sinks: [CappedOutput; 2],
    refusals: Refusals,
    /// Made at the first output: zeroing it touches 16 pages, which a
    /// command without output need not pay for.
    buf: Vec<u8>,
}

impl Output {
    const STDERR: usize = 1;

    /// Copies output until `exit` is readable, then reads the exit code
    /// written there; `None` when it ended without one (the writer was
    /// killed, or it failed).
    fn copy_until_exit(&mut self, exit: &mut File) -> Option<i32> {
        while !self.copy_ready(Some(exit.as_raw_fd()), -1) {}
        // The line, not the end of the pipe: that comes only once the
        // kernel has taken the writer's memory down.
        let mut line = String::new();
        std::io::BufReader::new(exit).read_line(&mut line).ok()?;
        line.strip_suffix('\n')?.parse().ok()
    }

    /// Copies output until both pipes ended or `deadline` passed.
    fn copy_to_end(&mut self, deadline: Instant) {
        while self.pipes.iter().any(Option::is_some) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
            self.copy_ready(None, millis);
        }
    }

    /// Waits (at most `timeout` ms, -1 for no limit) until a pipe or
    /// `also` is readable and copies what the pipes have; returns whether
    /// `also` is readable (or polling failed: reading it then tells).
    fn copy_ready(&mut self, also: Option<RawFd>, timeout: i32) -> bool {
        // poll skips entries whose descriptor is negative.
        let fds = [
            self.pipes[0].as_ref().map(AsRawFd::as_raw_fd),
            self.pipes[1].as_ref().map(AsRawFd::as_raw_fd),
            also,
        ];
        let mut polled = fds.map(|fd| libc::pollfd {
            fd: fd.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: `polled` is an array of initialized entries.
        if unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, timeout) } < 0 {
            return also.is_some()
                && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted;
        }
        let [stdout, stderr, also] = polled.map(|p| p.revents != 0);
        for (index, ready) in [stdout, stderr].into_iter().enumerate() {
            if ready {
                self.copy(index);
            }
        }
        also
    }

    /// Copies what pipe `index` has.
    fn copy(&mut self, index: usize) {
        let Some(pipe) = &mut self.pipes[index] else {
            return;
        };
        if self.buf.is_empty() {
            self.buf = vec![0; 64 * 1024];
        }
        let n = match pipe.read(&mut self.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        // At its end, or the reader went away: stop reading, so the
        // command gets SIGPIPE on its next write, as in a shell pipeline.
        if n == 0 || self.sinks[index].write_bytes(&self.buf[..n]).is_err() {
            self.pipes[index] = None;
        } else if index == Self::STDERR {
            self.refusals.feed(&self.buf[..n]);
        }
    }
}

/// SIGKILL to a whole process group.
pub fn kill_group(group: i32) {
    // SAFETY: plain syscall on a group the host created for this command.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}
