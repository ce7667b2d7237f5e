//! Guest stdout/stderr: written through to the host as the guest writes
//! (live), capped at `--max-output` bytes. Past the cap, bytes are dropped
//! and counted; the guest is never trapped for writing too much.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Largest write a guest may hand over at once.
const WRITE_BUDGET: usize = 64 * 1024;

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
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some((sink.written + sink.dropped, hex))
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

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        self.terminal
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

/// What a guest traps with when the reader of its output went away: it
/// ends as a native process ends by SIGPIPE, quietly.
pub const BROKEN_PIPE: &str = "its output pipe was closed (broken pipe)";

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                StreamError::Trap(wasmtime::format_err!(BROKEN_PIPE))
            } else {
                StreamError::LastOperationFailed(e.into())
            }
        })
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.write_bytes(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let shared = Shared::default();
        let out = CappedOutput::new(Box::new(shared.clone()), Some(5), false);
        out.write_bytes(b"abc").unwrap();
        out.write_bytes(b"defg").unwrap();
        out.write_bytes(b"h").unwrap();
        assert_eq!(&*shared.0.lock().unwrap(), b"abcde");
        assert_eq!(out.dropped(), 3);
    }
}
