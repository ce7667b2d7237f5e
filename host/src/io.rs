//! Where a command's input comes from and its output goes, for every
//! engine: [`Stdio`], and [`CappedOutput`], a stream written through as
//! the command writes (live), capped at `--max-output` bytes. Past the
//! cap, bytes are dropped and counted; the command is never stopped for
//! writing too much. [`Buffer`] keeps a stream in memory for a caller to
//! read.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::observe::{Observer, Quiet};

/// The read end of a pipe as a file, as a stage's stdin is given.
pub fn pipe_file(reader: std::io::PipeReader) -> std::fs::File {
    #[cfg(unix)]
    return std::fs::File::from(std::os::fd::OwnedFd::from(reader));
    #[cfg(windows)]
    return std::fs::File::from(std::os::windows::io::OwnedHandle::from(reader));
}

/// A writer that keeps what it is given in memory. Clones share the
/// bytes: give one to a command as its output, read the other. As an
/// [`Observer`], it keeps cordon's lines as `cordon run` writes them on
/// stderr, in order with the command's own.
#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Observer for Buffer {
    fn note(&self, line: &str) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend_from_slice(crate::display::said(line).as_bytes());
    }
}

/// Stops a running command from outside ([`Cancel::cancel`]): a native
/// command's whole process group is killed, a WASI tool interrupted, and
/// no later stage of a line starts. Clones share it.
#[derive(Clone, Default)]
pub struct Cancel(Arc<CancelState>);

/// What runs when a run is cancelled.
type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct CancelState {
    cancelled: AtomicBool,
    /// What runs on cancelling, each with the id its [`OnCancel`] removes
    /// it by. Run under the lock: once an `OnCancel` is dropped, its hook
    /// has run or never will.
    hooks: Mutex<Vec<(u64, Hook)>>,
    next: AtomicU64,
}

impl Cancel {
    /// Cancels: every hook registered runs, once.
    pub fn cancel(&self) {
        let mut hooks = self.0.hooks.lock().unwrap_or_else(|e| e.into_inner());
        self.0.cancelled.store(true, Ordering::SeqCst);
        for (_, hook) in hooks.drain(..) {
            hook();
        }
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Runs `hook` when cancelled (at once if already), unless the
    /// returned guard is dropped first.
    pub fn on_cancel(&self, hook: impl FnOnce() + Send + 'static) -> OnCancel {
        let mut hooks = self.0.hooks.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        if self.is_cancelled() {
            drop(hooks);
            hook();
        } else {
            hooks.push((id, Box::new(hook)));
        }
        OnCancel {
            cancel: self.clone(),
            id,
        }
    }
}

/// A hook of [`Cancel::on_cancel`]; dropping it removes the hook.
pub struct OnCancel {
    cancel: Cancel,
    id: u64,
}

impl Drop for OnCancel {
    fn drop(&mut self) {
        let state = &self.cancel.0;
        let mut hooks = state.hooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.retain(|(id, _)| *id != self.id);
    }
}

struct Sink {
    writer: Box<dyn Write + Send>,
    limit: Option<u64>,
    /// Whether `writer` is the person's terminal (see [`crate::screen`]).
    terminal: bool,
    written: u64,
    dropped: u64,
    /// Digest of everything produced, kept or dropped, when asked for.
    digest: Option<Sha256>,
}

impl Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(digest) = &mut self.digest {
            digest.update(buf);
        }
        let room = self.limit.map_or(u64::MAX, |limit| limit - self.written);
        let keep = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        if keep > 0 {
            let _floor = self.terminal.then(crate::screen::command_writes);
            self.writer.write_all(&buf[..keep])?;
            self.writer.flush()?;
            self.written += keep as u64;
        }
        self.dropped += (buf.len() - keep) as u64;
        Ok(())
    }
}

/// One capped output stream; clones share the same cap and counters.
#[derive(Clone)]
pub struct CappedOutput {
    sink: Arc<Mutex<Sink>>,
    terminal: bool,
}

impl CappedOutput {
    /// Writes to `writer`, keeping at most `limit` bytes (`None`: no cap).
    /// `terminal` tells the guest whether it writes to a terminal.
    pub fn new(writer: Box<dyn Write + Send>, limit: Option<u64>, terminal: bool) -> Self {
        CappedOutput {
            sink: Arc::new(Mutex::new(Sink {
                writer,
                limit,
                terminal,
                written: 0,
                dropped: 0,
                digest: None,
            })),
            terminal,
        }
    }

    /// From now on, keep a SHA-256 of everything written (for the audit log).
    pub fn keep_digest(&self) {
        self.lock().digest.get_or_insert_with(Sha256::new);
    }

    /// Bytes produced (kept and dropped) and their SHA-256 in hex, if
    /// [`keep_digest`](Self::keep_digest) was called.
    pub fn digest(&self) -> Option<(u64, String)> {
        let sink = self.lock();
        let digest = sink.digest.clone()?.finalize();
        Some((sink.written + sink.dropped, crate::digest::hex(&digest)))
    }

    /// Whether it writes to the person's terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Bytes dropped because they were past the cap.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sink> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes through, keeping what fits under the cap and counting the rest.
    pub fn write_bytes(&self, buf: &[u8]) -> std::io::Result<()> {
        self.lock().write(buf)
    }
}

/// Where a run's input comes from and its output goes.
pub struct Stdio {
    /// A file or pipe to read, or `None` for the host's stdin.
    pub stdin: Option<std::fs::File>,
    /// Where the command's stdout goes, capped.
    pub stdout: CappedOutput,
    /// Where its stderr goes, capped.
    pub stderr: CappedOutput,
    /// Where cordon's own lines about the run go (a refused connection).
    pub notes: Arc<dyn Observer>,
    /// What stops the run from outside, if anything may.
    pub cancel: Option<Cancel>,
}

impl Stdio {
    /// The host's stdout and stderr, each capped at `limit` bytes.
    pub fn inherit(limit: Option<u64>) -> Self {
        use std::io::IsTerminal;
        Stdio {
            stdin: None,
            notes: Arc::new(Quiet),
            cancel: None,
            stdout: CappedOutput::new(
                unbuffered(std::io::stdout()),
                limit,
                std::io::stdout().is_terminal(),
            ),
            stderr: CappedOutput::new(
                unbuffered(std::io::stderr()),
                limit,
                std::io::stderr().is_terminal(),
            ),
        }
    }

    /// Both streams into one writer each, never a terminal (for embedding).
    pub fn to_writers(
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        limit: Option<u64>,
    ) -> Self {
        Stdio {
            stdin: None,
            notes: Arc::new(Quiet),
            cancel: None,
            stdout: CappedOutput::new(stdout, limit, false),
            stderr: CappedOutput::new(stderr, limit, false),
        }
    }
}

/// A stream of the host written straight to (a copy of) its descriptor:
/// Rust's stdout is line-buffered, which split a guest's 64 KB writes into
/// dozens of system calls. The stream itself if it cannot be copied.
#[cfg(unix)]
fn unbuffered<S>(stream: S) -> Box<dyn Write + Send>
where
    S: Write + Send + std::os::fd::AsFd + 'static,
{
    match stream.as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(std::fs::File::from(fd)),
        Err(_) => Box::new(stream),
    }
}

#[cfg(windows)]
fn unbuffered<S>(stream: S) -> Box<dyn Write + Send>
where
    S: Write + Send + std::os::windows::io::AsHandle + 'static,
{
    match stream.as_handle().try_clone_to_owned() {
        Ok(handle) => Box::new(std::fs::File::from(handle)),
        Err(_) => Box::new(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let shared = Buffer::default();
        let out = CappedOutput::new(Box::new(shared.clone()), Some(5), false);
        out.write_bytes(b"abc").unwrap();
        out.write_bytes(b"defg").unwrap();
        out.write_bytes(b"h").unwrap();
        assert_eq!(shared.bytes(), b"abcde");
        assert_eq!(out.dropped(), 3);
    }
}
