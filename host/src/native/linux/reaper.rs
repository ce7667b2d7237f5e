//! The reaper of an unsandboxed run's tree: a process of its own that
//! kills everything in the run's control group when told to (a cancel, a
//! timeout), and when the run ends, whichever way it ends: cordon tells it
//! at the end, and if cordon itself is killed (Ctrl-C, SIGKILL, a closed
//! terminal) the pipe it reads ends with cordon. A sandboxed run needs
//! none: its pid namespace ends with its pid 1, which ends with cordon.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use super::cgroup_tree::{self, Tree};
use crate::native::NativeError;

/// First argument that turns the `cordon` binary into a reaper.
pub const REAPER_ARG: &str = "__tree-reaper";

/// Where the reaper finds the first of the groups it reaps.
const FIRST_FD: i32 = 3;

/// Told to the reaper: kill what is in the groups now, and go on.
const KILL: u8 = b'k';
/// Told to the reaper: the run ended; kill what is left, remove the
/// groups, and end.
const END: u8 = b'e';

/// A running reaper of a run's groups.
pub struct Reaper {
    child: Child,
    /// Close-on-exec: no command holds it open past cordon.
    told: std::sync::Mutex<ChildStdin>,
}

impl Reaper {
    /// Starts `binary` (cordon's own, or the embedder's helper) as the
    /// reaper of `trees` (given at descriptors 3 and on: the groups the
    /// run made, wherever they are moved), in a process group of its own
    /// (a terminal's signals to cordon's group do not reach it).
    pub fn start(binary: &Path, trees: &[Tree]) -> Result<Reaper, NativeError> {
        use std::os::unix::process::CommandExt;
        let given: Vec<i32> = trees.iter().map(|tree| tree.fd().as_raw_fd()).collect();
        let numbers = (0..given.len()).map(|i| (FIRST_FD + i as i32).to_string());
        let mut command = Command::new(binary);
        command
            .arg(REAPER_ARG)
            .args(numbers)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: fcntl and dup2 only, between fork and exec. Each is first
        // copied above every number it goes to, so that none is taken
        // over before it is moved, and the moved one is inherited.
        unsafe {
            command.pre_exec(move || {
                let mut high = [0; 8];
                for (i, fd) in given.iter().enumerate().take(high.len()) {
                    high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64);
                    if high[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, fd) in high.iter().take(given.len()).enumerate() {
                    if libc::dup2(*fd, FIRST_FD + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| NativeError::Setup(format!("the run's reaper: {e}")))?;
        let told = child.stdin.take().expect("stdin piped");
        Ok(Reaper {
            child,
            told: std::sync::Mutex::new(told),
        })
    }

    /// Has everything in the groups killed now.
    pub fn kill(&self) {
        let mut told = self.told.lock().unwrap_or_else(|e| e.into_inner());
        let _ = told.write_all(&[KILL]);
    }

    /// Has what is left killed and the groups removed, and waits until
    /// that is done; whether the reaper saw it through.
    pub fn end(mut self) -> bool {
        if let Ok(told) = self.told.get_mut() {
            let _ = told.write_all(&[END]);
        }
        self.child.wait().is_ok_and(|status| status.success())
    }
}

/// The reaper's process: kills the groups at descriptors `fds` when told,
/// and once more at the end (told, or its pipe ended with cordon), then
/// removes them.
pub fn main(fds: &[String]) -> ! {
    // It ends when its pipe says so, not at a signal meant for cordon.
    for signal in [libc::SIGINT, libc::SIGHUP, libc::SIGTERM, libc::SIGQUIT] {
        // SAFETY: sets a signal's disposition to ignore.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    let trees: Vec<Tree> = fds
        .iter()
        .filter_map(|fd| fd.parse::<i32>().ok())
        .filter(|&fd| fd >= FIRST_FD)
        // SAFETY: descriptors cordon put there for the reaper alone.
        .map(|fd| Tree::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }))
        .collect();
    let mut stdin = std::io::stdin().lock();
    let mut told = [0u8; 1];
    loop {
        match stdin.read(&mut told) {
            Ok(1) if told[0] == KILL => cgroup_tree::kill_all(&trees),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    cgroup_tree::kill_all(&trees);
    for tree in &trees {
        tree.remove();
    }
    std::process::exit(0)
}
