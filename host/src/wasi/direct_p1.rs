//! WASIp1 calls cordon serves itself, where wasmtime-wasi's own way costs
//! many system calls per call. Both keep wasmtime-wasi's results; any case
//! they do not cover goes to wasmtime-wasi.
//!
//! - `fd_write` on stdout and stderr: wasmtime-wasi hands the stream 4 KB
//!   at a time, a system call each (a tool writing 64 KB blocks made
//!   sixteen calls where GNU's makes one). While descriptors 1 and 2 are
//!   still the run's streams (no `fd_renumber` or `fd_close` has touched
//!   them), each buffer goes to the run's [`CappedOutput`] whole.
//! - `fd_readdir` (unix): wasmtime-wasi stats every entry twice, for its
//!   type and for its inode, and lists the directory again for every call
//!   that continues a listing. cordon lists a directory the guest opened
//!   once, taking type and inode from the directory entry itself (the
//!   inode hashed as wasmtime-wasi hashes it), and serves continuations
//!   from that listing.

#[cfg(unix)]
use std::collections::HashMap;
#[cfg(unix)]
use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::{Caller, Linker, Result};
#[cfg(unix)]
use wasmtime_wasi::ResourceTable;
#[cfg(unix)]
use wasmtime_wasi::filesystem::Descriptor;

use super::output::BROKEN_PIPE;
use super::p1_call::{MODULE, call_original, memory, read_u32, span, span_mut};
use super::state::P1State;
use crate::io::CappedOutput;

/// WASI errno `fault`: a buffer outside the guest's memory.
const ERRNO_FAULT: i32 = 21;
/// WASI errno `inval`.
const ERRNO_INVAL: i32 = 28;
/// WASI errno `io`.
const ERRNO_IO: i32 = 29;
/// Most buffers one write takes, as writev(2) on Linux: bounds the host's
/// work in a single call, which the run's deadline cannot interrupt.
const IOV_MAX: usize = 1024;

/// What cordon knows about the guest's descriptors.
pub struct Direct {
    /// The streams behind descriptors 1 and 2, while they are still there.
    streams: [Option<CappedOutput>; 2],
    /// Directories the guest opened, by descriptor.
    #[cfg(unix)]
    dirs: HashMap<i32, Weak<std::fs::File>>,
    /// Every directory handle seen in the guest's table.
    #[cfg(unix)]
    seen: Vec<Weak<std::fs::File>>,
    /// The last listing, served to the calls that continue it.
    #[cfg(unix)]
    listing: Option<(i32, Vec<u8>, Vec<usize>)>,
}

impl Direct {
    pub fn new(stdout: CappedOutput, stderr: CappedOutput) -> Self {
        Direct {
            streams: [Some(stdout), Some(stderr)],
            #[cfg(unix)]
            dirs: HashMap::new(),
            #[cfg(unix)]
            seen: Vec::new(),
            #[cfg(unix)]
            listing: None,
        }
    }

    /// Where descriptor `fd` (1 or 2) is in `streams`.
    fn slot(fd: i32) -> Option<usize> {
        usize::try_from(fd).ok()?.checked_sub(1)
    }

    fn stream(&self, fd: i32) -> Option<CappedOutput> {
        self.streams.get(Self::slot(fd)?)?.clone()
    }

    /// Descriptor `fd` is closed or replaced.
    fn forget(&mut self, fd: i32) {
        if let Some(stream) = Self::slot(fd).and_then(|slot| self.streams.get_mut(slot)) {
            *stream = None;
        }
        #[cfg(unix)]
        {
            self.dirs.remove(&fd);
            self.listing = None;
        }
    }

    /// `path_open` gave the guest descriptor `fd`: if a directory handle
    /// appeared in `table` with it (exactly one, so it is this one), it is
    /// the directory behind `fd`.
    #[cfg(unix)]
    pub fn opened(&mut self, fd: u32, table: &mut ResourceTable) {
        if let [dir] = self.unseen_dirs(table).as_slice() {
            self.dirs.insert(fd as i32, dir.clone());
        }
    }

    #[cfg(not(unix))]
    pub fn opened(&mut self, _fd: u32, _table: &mut wasmtime_wasi::ResourceTable) {}

    /// The directory handles in `table` not seen before, now seen.
    #[cfg(unix)]
    fn unseen_dirs(&mut self, table: &mut ResourceTable) -> Vec<Weak<std::fs::File>> {
        self.seen.retain(|dir| dir.strong_count() > 0);
        let mut new = Vec::new();
        for entry in table.iter_mut() {
            if let Some(Descriptor::Dir(dir)) = entry.downcast_ref::<Descriptor>() {
                let handle = Arc::downgrade(&dir.dir);
                if !self.seen.iter().any(|seen| seen.ptr_eq(&handle)) {
                    new.push(handle);
                }
            }
        }
        self.seen.extend(new.iter().cloned());
        new
    }
}

/// Replaces `fd_write`, `fd_readdir` and `fd_prestat_get` (unix),
/// `fd_renumber` and `fd_close` (which end what cordon knew of the
/// descriptors they touch), and `poll_oneoff` on one relative clock (a
/// guest's `sleep`).
pub fn shadow(linker: &mut Linker<P1State>) -> Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "poll_oneoff",
        |mut caller: Caller<'_, P1State>, (subs, events, count, done): (i32, i32, i32, i32)| {
            Box::new(async move {
                match lone_sleep(&mut caller, subs, count) {
                    Some((userdata, duration)) => {
                        // wasmtime-wasi sleeps on the thread here, which
                        // the run's deadline cannot cut short; a sleep of
                        // the runtime's own can be.
                        tokio::time::sleep(duration).await;
                        Ok(clock_event(&mut caller, events, done, userdata))
                    }
                    None => call_original!(caller, poll_oneoff(subs, events, count, done)),
                }
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, P1State>, (fd, iovs, count, written): (i32, i32, i32, i32)| {
            Box::new(async move {
                match caller.data().direct.stream(fd) {
                    Some(stream) => write_whole(&mut caller, &stream, iovs, count, written),
                    None => call_original!(caller, fd_write(fd, iovs, count, written)),
                }
            })
        },
    )?;
    #[cfg(unix)]
    linker.func_wrap_async(
        MODULE,
        "fd_readdir",
        |mut caller: Caller<'_, P1State>,
         (fd, buf, len, cookie, used): (i32, i32, i32, i64, i32)| {
            Box::new(async move {
                match readdir(&mut caller, fd, buf, len, cookie, used) {
                    Some(errno) => Ok(errno),
                    None => call_original!(caller, fd_readdir(fd, buf, len, cookie, used)),
                }
            })
        },
    )?;
    // The C library asks for every preopen before `main`: by then they are
    // in the table, and marked seen, the first directory the guest opens
    // is told apart from them.
    #[cfg(unix)]
    linker.func_wrap_async(
        MODULE,
        "fd_prestat_get",
        |mut caller: Caller<'_, P1State>, (fd, out): (i32, i32)| {
            Box::new(async move {
                let errno = call_original!(caller, sync fd_prestat_get(fd, out))?;
                let state = caller.data_mut();
                let table = wasmtime_wasi::WasiView::ctx(&mut state.wasi).table;
                state.direct.unseen_dirs(table);
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_renumber",
        |mut caller: Caller<'_, P1State>, (from, to): (i32, i32)| {
            Box::new(async move {
                caller.data_mut().direct.forget(from);
                caller.data_mut().direct.forget(to);
                call_original!(caller, fd_renumber(from, to))
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "fd_close",
        |mut caller: Caller<'_, P1State>, (fd,): (i32,)| {
            Box::new(async move {
                caller.data_mut().direct.forget(fd);
                call_original!(caller, fd_close(fd))
            })
        },
    )?;
    Ok(())
}

/// A `poll_oneoff` of one subscription to a relative clock (a guest's
/// `sleep`): its userdata and how long. Layout of a WASIp1 subscription:
/// userdata u64 at 0, tag u8 at 8 (0: clock), timeout u64 at 24, flags u16
/// at 40 (1: absolute).
fn lone_sleep(caller: &mut Caller<'_, P1State>, subs: i32, count: i32) -> Option<(u64, Duration)> {
    if count != 1 {
        return None;
    }
    let memory = memory(caller)?;
    let sub = span(memory.data(&caller), subs as u32, 48)?;
    let u64_at = |at: usize| u64::from_le_bytes(sub[at..at + 8].try_into().unwrap_or_default());
    let relative_clock = sub[8] == 0 && u16::from_le_bytes([sub[40], sub[41]]) & 1 == 0;
    relative_clock.then(|| (u64_at(0), Duration::from_nanos(u64_at(24))))
}

/// Writes the clock event of a finished sleep (userdata, no error, type
/// clock) at `events` and 1 at `done`; the errno.
fn clock_event(caller: &mut Caller<'_, P1State>, events: i32, done: i32, userdata: u64) -> i32 {
    let Some(memory) = memory(caller) else {
        return ERRNO_FAULT;
    };
    let bytes = memory.data_mut(caller);
    let Some(event) = span_mut(bytes, events as u32, 32) else {
        return ERRNO_FAULT;
    };
    event.fill(0);
    event[..8].copy_from_slice(&userdata.to_le_bytes());
    if !put_u32(bytes, done, 1) {
        return ERRNO_FAULT;
    }
    0
}

/// Writes `value` at guest address `at`; `false` if out of bounds.
fn put_u32(memory: &mut [u8], at: i32, value: usize) -> bool {
    let value = u32::try_from(value).unwrap_or(u32::MAX).to_le_bytes();
    span_mut(memory, at as u32, 4)
        .map(|slot| slot.copy_from_slice(&value))
        .is_some()
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
    let Some(memory) = memory(caller) else {
        wasmtime::bail!("missing required memory export");
    };
    let bytes = memory.data(&caller);
    let count = count as u32 as usize;
    if count > IOV_MAX {
        return Ok(ERRNO_INVAL);
    }
    let mut total = 0usize;
    for i in 0..count {
        // An iovec: a buffer's address and length, u32 each.
        let iov = (iovs as u32)
            .checked_add(8 * i as u32)
            .and_then(|at| span(bytes, at, 8));
        let Some(buf) =
            iov.and_then(|iov| span(bytes, read_u32(iov, 0)?, read_u32(iov, 4)? as usize))
        else {
            return Ok(ERRNO_FAULT);
        };
        let len = buf.len();
        match stream.write_bytes(buf) {
            Ok(()) => total += len,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                wasmtime::bail!(BROKEN_PIPE)
            }
            Err(_) => return Ok(ERRNO_IO),
        }
    }
    if !put_u32(memory.data_mut(caller), written, total) {
        return Ok(ERRNO_FAULT);
    }
    Ok(0)
}

/// `fd_readdir` of a directory the guest opened: the entries from
/// `cookie` on, as many bytes as fit in `len`. `None` leaves the call to
/// wasmtime-wasi (a descriptor cordon did not see opened, a listing it
/// cannot make the same way).
#[cfg(unix)]
fn readdir(
    caller: &mut Caller<'_, P1State>,
    fd: i32,
    buf: i32,
    len: i32,
    cookie: i64,
    used: i32,
) -> Option<i32> {
    let skip = usize::try_from(cookie).ok()?;
    let direct = &mut caller.data_mut().direct;
    let fresh = skip == 0 || direct.listing.as_ref().is_none_or(|(at, ..)| *at != fd);
    if fresh {
        let dir = direct.dirs.get(&fd)?.upgrade()?;
        let (bytes, starts) = list(&dir)?;
        direct.listing = Some((fd, bytes, starts));
    }
    let (_, bytes, starts) = direct.listing.as_ref()?;
    let from = starts.get(skip).copied().unwrap_or(bytes.len());
    let end = from.saturating_add(len as u32 as usize).min(bytes.len());
    let out = bytes[from..end].to_vec();
    let memory = memory(caller)?;
    let memory = memory.data_mut(caller);
    let Some(target) = span_mut(memory, buf as u32, out.len()) else {
        return Some(ERRNO_FAULT);
    };
    target.copy_from_slice(&out);
    Some(if put_u32(memory, used, out.len()) {
        0
    } else {
        ERRNO_FAULT
    })
}

/// The whole listing of `dir` as p1 dirents (`.`, `..`, then the entries
/// in name order), and where each entry starts.
/// `None` for what wasmtime-wasi reports its own way (an error, a name
/// that is not UTF-8).
#[cfg(unix)]
fn list(dir: &std::fs::File) -> Option<(Vec<u8>, Vec<usize>)> {
    use std::os::unix::fs::MetadataExt;

    use super::p1_call::identity_hash;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};

    let meta = dir.metadata().ok()?;
    let hash = |ino: u64| identity_hash(meta.dev(), ino);
    let mut bytes = Vec::new();
    let mut starts = Vec::new();
    // One dirent: next cookie, inode, name length, type, padding, name.
    let mut push = |ino: u64, kind: FileType, name: &[u8]| -> Option<()> {
        let next = starts.len() as u64 + 1;
        starts.push(bytes.len());
        bytes.extend_from_slice(&next.to_le_bytes());
        bytes.extend_from_slice(&ino.to_le_bytes());
        bytes.extend_from_slice(&u32::try_from(name.len()).ok()?.to_le_bytes());
        bytes.extend_from_slice(&[filetype(kind), 0, 0, 0]);
        bytes.extend_from_slice(name);
        Some(())
    };
    let own = hash(meta.ino());
    push(own, FileType::Directory, b".")?;
    push(own, FileType::Directory, b"..")?;
    // A listing of its own: reading `dir` would move the guest's position.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fresh = rustix::fs::openat(dir, c".", flags, Mode::empty()).ok()?;
    let mut entries = Vec::new();
    each_entry(fresh, |name, ino, kind| {
        if matches!(name.to_bytes(), b"." | b"..") {
            return Some(());
        }
        let kind = match kind {
            FileType::Unknown => {
                let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
                FileType::from_raw_mode(stat.st_mode)
            }
            kind => kind,
        };
        let name = String::from_utf8(name.to_bytes().to_vec()).ok()?;
        entries.push((name, hash(ino), kind));
        Some(())
    })?;
    // The same order on every file system and in every run (a guest that
    // sorts, as find does, then gets its order for the price of a check).
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for (name, ino, kind) in entries {
        push(ino, kind, name.as_bytes())?;
    }
    Some((bytes, starts))
}

/// Calls `each` with the name, inode and type of every entry of `dir`;
/// `None` when reading fails or `each` says so.
#[cfg(target_os = "linux")]
fn each_entry(
    dir: rustix::fd::OwnedFd,
    mut each: impl FnMut(&std::ffi::CStr, u64, rustix::fs::FileType) -> Option<()>,
) -> Option<()> {
    // Room for a whole directory of source files in one getdents call
    // (rustix's Dir starts at 768 bytes and grows).
    let mut buf = Vec::with_capacity(32 * 1024);
    let mut entries = rustix::fs::RawDir::new(dir, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry.ok()?;
        each(entry.file_name(), entry.ino(), entry.file_type())?;
    }
    Some(())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn each_entry(
    dir: rustix::fd::OwnedFd,
    mut each: impl FnMut(&std::ffi::CStr, u64, rustix::fs::FileType) -> Option<()>,
) -> Option<()> {
    for entry in rustix::fs::Dir::new(dir).ok()? {
        let entry = entry.ok()?;
        each(entry.file_name(), entry.ino(), entry.file_type())?;
    }
    Some(())
}

/// A p1 file type, as wasmtime-wasi maps a system one: FIFOs have no p1
/// code (unknown), and sockets, on which wasmtime-wasi traps, are unknown
/// too.
#[cfg(unix)]
fn filetype(kind: rustix::fs::FileType) -> u8 {
    use rustix::fs::FileType;
    match kind {
        FileType::BlockDevice => 1,
        FileType::CharacterDevice => 2,
        FileType::Directory => 3,
        FileType::RegularFile => 4,
        FileType::Symlink => 7,
        _ => 0,
    }
}
