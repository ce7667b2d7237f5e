//! WASIp1 writes to stdout and stderr in one piece. wasmtime-wasi hands a
//! guest's `fd_write` on them to the stream 4 KB at a time, a system call
//! each: a tool writing 64 KB blocks made sixteen calls where GNU's makes
//! one. While descriptors 1 and 2 are still the streams the run began with
//! (no `fd_renumber` or `fd_close` has touched them), `fd_write` on them
//! goes to the run's [`CappedOutput`] whole; every other call goes to
//! wasmtime-wasi.

use wasmtime::{Caller, Extern, Linker, Result};

use super::output::{BROKEN_PIPE, CappedOutput};
use super::p1_call::{MODULE, call_original};
use super::state::P1State;

/// WASI errno `fault`: a buffer outside the guest's memory.
const ERRNO_FAULT: i32 = 21;
/// WASI errno `io`.
const ERRNO_IO: i32 = 29;

/// The streams behind descriptors 1 and 2, while they are still there.
#[derive(Default)]
pub struct Streams([Option<CappedOutput>; 2]);

impl Streams {
    pub fn new(stdout: CappedOutput, stderr: CappedOutput) -> Self {
        Streams([Some(stdout), Some(stderr)])
    }

    fn get(&self, fd: i32) -> Option<CappedOutput> {
        self.0.get(Self::slot(fd)?)?.clone()
    }

    /// Descriptor `fd` may no longer be the stream it began as.
    fn forget(&mut self, fd: i32) {
        if let Some(stream) = Self::slot(fd).and_then(|slot| self.0.get_mut(slot)) {
            *stream = None;
        }
    }

    fn slot(fd: i32) -> Option<usize> {
        usize::try_from(fd).ok()?.checked_sub(1)
    }
}

/// Replaces `fd_write`, and `fd_renumber` and `fd_close` (which end the
/// direct path for the descriptors they touch).
pub fn shadow(linker: &mut Linker<P1State>) -> Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, P1State>, (fd, iovs, count, written): (i32, i32, i32, i32)| {
            Box::new(async move {
                match caller.data().stdio.get(fd) {
                    Some(stream) => write_whole(&mut caller, &stream, iovs, count, written),
                    None => call_original!(caller, fd_write(fd, iovs, count, written)),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut caller: Caller<'_, P1State>, (from, to): (i32, i32)| {
            Box::new(async move {
                caller.data_mut().stdio.forget(from);
                caller.data_mut().stdio.forget(to);
                call_original!(caller, fd_renumber(from, to))
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, P1State>, (fd,): (i32,)| {
            Box::new(async move {
                caller.data_mut().stdio.forget(fd);
                call_original!(caller, fd_close(fd))
            })
        },
    )?;
    Ok(())
}

/// `fd_write` of the iovecs at `iovs` to `stream`, each whole; the total
/// goes to `written`. A reader that went away traps, as wasmtime-wasi's
/// stream does.
fn write_whole(
    caller: &mut Caller<'_, P1State>,
    stream: &CappedOutput,
    iovs: i32,
    count: i32,
    written: i32,
) -> Result<i32> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("missing required memory export");
    };
    let memory_bytes = memory.data(&caller);
    let word = |at: usize| -> Option<usize> {
        let bytes = memory_bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(bytes.try_into().ok()?) as usize)
    };
    let mut total = 0usize;
    for i in 0..count as u32 as usize {
        let Some(iov) = (iovs as u32 as usize).checked_add(i * 8) else {
            return Ok(ERRNO_FAULT);
        };
        let (Some(ptr), Some(len)) = (word(iov), word(iov + 4)) else {
            return Ok(ERRNO_FAULT);
        };
        let Some(buf) = ptr
            .checked_add(len)
            .and_then(|end| memory_bytes.get(ptr..end))
        else {
            return Ok(ERRNO_FAULT);
        };
        match stream.write_bytes(buf) {
            Ok(()) => total += len,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                wasmtime::bail!(BROKEN_PIPE)
            }
            Err(_) => return Ok(ERRNO_IO),
        }
    }
    let total = u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes();
    let at = written as u32 as usize;
    match memory.data_mut(caller).get_mut(at..at + 4) {
        Some(slot) => slot.copy_from_slice(&total),
        None => return Ok(ERRNO_FAULT),
    }
    Ok(0)
}
