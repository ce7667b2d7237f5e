//! Guest stdout/stderr as wasmtime's streams: [`CappedOutput`] (see
//! [`crate::io`]) written to as the guest writes.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::io::CappedOutput;

/// Largest write a guest may hand over at once.
const WRITE_BUDGET: usize = 64 * 1024;

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        CappedOutput::is_terminal(self)
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
