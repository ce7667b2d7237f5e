//! The reaper of an unsandboxed run's tree: a process of its own that
//! kills everything in the run's control group when told to (a cancel, a
//! timeout), and when the run ends, whichever way it ends: cordon tells it
//! at the end, and if cordon itself is killed (Ctrl-C, SIGKILL, a closed
//! terminal) the pipe it reads ends with cordon. A sandboxed run needs
//! none: its pid namespace ends with its pid 1, which ends with cordon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use super::limits;
use crate::native::NativeError;

/// First argument that turns the `cordon` binary into a reaper.
pub const REAPER_ARG: &str = "__tree-reaper";

/// Told to the reaper: kill what is in the groups now, and go on.
const KILL: u8 = b'k';
/// Told to the reaper: the run ended; kill what is left, remove the
/// groups, and end.
const END: u8 = b'e';

/// A running reaper of the groups `dirs`.
pub struct Reaper {
    child: Child,
    /// Close-on-exec: no command holds it open past cordon.
    told: std::sync::Mutex<ChildStdin>,
}

impl Reaper {
    /// Starts `binary` (cordon's own, or the embedder's helper) as the
    /// reaper of `dirs`, in a process group of its own (a terminal's
    /// signals to cordon's group do not reach it).
    pub fn start(binary: &Path, dirs: &[PathBuf]) -> Result<Reaper, NativeError> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(binary)
            .arg(REAPER_ARG)
            .args(dirs)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
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
    /// that is done.
    pub fn end(mut self) {
        if let Ok(told) = self.told.get_mut() {
            let _ = told.write_all(&[END]);
        }
        let _ = self.child.wait();
    }
}

/// The reaper's process: kills the groups `dirs` when told, and once more
/// at the end (told, or its pipe ended with cordon), then removes them.
pub fn main(dirs: &[PathBuf]) -> ! {
    // It ends when its pipe says so, not at a signal meant for cordon.
    for signal in [libc::SIGINT, libc::SIGHUP, libc::SIGTERM, libc::SIGQUIT] {
        // SAFETY: sets a signal's disposition to ignore.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    let mut stdin = std::io::stdin().lock();
    let mut told = [0u8; 1];
    loop {
        match stdin.read(&mut told) {
            Ok(1) if told[0] == KILL => limits::kill_tree(dirs),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            _ => break,
        }
    }
    limits::kill_tree(dirs);
    limits::remove_tree(dirs);
    std::process::exit(0)
}
