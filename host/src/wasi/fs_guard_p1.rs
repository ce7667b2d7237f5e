//! WASIp1 adapter for the guards: shadows `path_open` and the mutating
//! `wasi_snapshot_preview1` functions of wasmtime-wasi with versions that
//! locate and judge the spot first (`fs_act`), then have wasmtime-wasi act
//! on that spot (and close a secret just opened).
//!
//! wasmtime-wasi keeps its p1 descriptor table to itself. The directory
//! behind a descriptor is found by the identity it reports for it (see
//! [`start`]). Calls other than `path_open` then go to wasmtime-wasi's p2
//! methods on the spot's directory, held in the resource table; `path_open`
//! must make a p1 descriptor, so for its length the directory's entries in
//! the table are pointed at the spot's directory and the path at its name.

use std::sync::Arc;

use cap_fs_ext::MetadataExt;
use wasmtime::{Caller, Linker, Result};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    ErrorCode, Host as _, HostDescriptor, NewTimestamp, PathFlags,
};

use super::fs_act::{Guards, Held, Start};
use super::fs_spot::Spot;
use super::p1_call::{MODULE, call_original, identity_hash, memory, read_u32, span, span_mut};
use super::state::P1State;

/// WASI errno `acces`: permission denied.
const ERRNO_ACCES: i32 = 2;
const ERRNO_FAULT: i32 = 21;
const ERRNO_ILSEQ: i32 = 25;
const ERRNO_INVAL: i32 = 28;
const ERRNO_NOTDIR: i32 = 54;
const OFLAGS_CREAT: i32 = 1;
const OFLAGS_TRUNC: i32 = 8;
const RIGHTS_FD_WRITE: i64 = 1 << 6;
const LOOKUP_SYMLINK_FOLLOW: i32 = 1;
const FSTFLAGS_ATIM: i32 = 1;
const FSTFLAGS_ATIM_NOW: i32 = 2;
const FSTFLAGS_MTIM: i32 = 4;
const FSTFLAGS_MTIM_NOW: i32 = 8;
/// A p1 `filestat`: its size, where its `ino` and `filetype` lie, and the
/// file type of a directory.
const FILESTAT_LEN: usize = 64;
const FILESTAT_INO: u32 = 8;
const FILESTAT_TYPE: u32 = 16;
const FILETYPE_DIRECTORY: u8 = 3;

/// Locates and judges the path at guest `ptr`/`len` from descriptor `fd`:
/// the spot and the directory the call starts from, or `None` when nothing
/// is guarded. The inner error is the errno the guest receives.
async fn place(
    caller: &mut Caller<'_, P1State>,
    fd: i32,
    (ptr, len): (i32, i32),
    follow: bool,
) -> Result<Result<Option<(Spot, Start)>, i32>> {
    let (fs, secrets) = (caller.data().guard.clone(), caller.data().secrets.clone());
    let guards = Guards {
        fs: fs.as_deref(),
        secrets: secrets.as_deref(),
    };
    if !guards.any() {
        return Ok(Ok(None));
    }
    let path = match guest_str(caller, ptr, len) {
        Ok(path) => path,
        Err(errno) => return Ok(Err(errno)),
    };
    let start = match start(caller, fd).await? {
        Ok(start) => start,
        Err(errno) => return Ok(Err(errno)),
    };
    Ok(match guards.place(&start, &path, follow) {
        Ok(spot) => Ok(Some((spot, start))),
        Err(code) => Err(errno(code)),
    })
}

/// [`place`], with the spot's directory held in the table.
async fn hold(
    caller: &mut Caller<'_, P1State>,
    fd: i32,
    path: (i32, i32),
    follow: bool,
) -> Result<Result<Option<Held>, i32>> {
    Ok(match place(caller, fd, path, follow).await? {
        Ok(Some((spot, start))) => Ok(Some(Held::new(caller.data_mut().table(), &start, spot)?)),
        Ok(None) => Ok(None),
        Err(errno) => Err(errno),
    })
}

/// Releases `held` and gives the guest `result`'s errno.
fn finish<T>(
    caller: &mut Caller<'_, P1State>,
    held: impl IntoIterator<Item = Held>,
    result: FsResult<T>,
) -> Result<i32> {
    let state = caller.data_mut();
    for held in held {
        held.release(state.table())?;
    }
    Ok(match result {
        Ok(_) => 0,
        Err(err) => errno(state.wasi.filesystem().convert_error_code(err)?),
    })
}

/// The directory behind p1 descriptor `fd`. wasmtime-wasi's
/// `fd_filestat_get` reports the identity of what `fd` holds (its `ino`, a
/// hash of device and inode); it writes into 64 bytes of the guest's
/// memory, which are put back before the guest runs again. The directory
/// entry of the table with that identity is the one.
async fn start(mut caller: &mut Caller<'_, P1State>, fd: i32) -> Result<Result<Start, i32>> {
    let Some(mem) = memory(caller) else {
        return Ok(Err(ERRNO_FAULT));
    };
    let Some(saved) = span(mem.data(&*caller), 0, FILESTAT_LEN).map(<[u8]>::to_vec) else {
        return Ok(Err(ERRNO_FAULT));
    };
    let code = call_original!(caller, fd_filestat_get(fd, 0))?;
    let data = mem.data_mut(&mut *caller);
    let stat = data[..FILESTAT_LEN].to_vec();
    data[..FILESTAT_LEN].copy_from_slice(&saved);
    if code != 0 {
        return Ok(Err(code));
    }
    if stat[FILESTAT_TYPE as usize] != FILETYPE_DIRECTORY {
        return Ok(Err(ERRNO_NOTDIR));
    }
    let ino = read_u32(&stat, FILESTAT_INO).map(u64::from).unwrap_or(0)
        | read_u32(&stat, FILESTAT_INO + 4).map_or(0, |high| u64::from(high) << 32);
    // Entries of the same directory have the same permissions (given by
    // identity); should they differ, the narrowest counts.
    let mut found: Option<Start> = None;
    for entry in caller.data_mut().table().iter_mut() {
        if let Some(Descriptor::Dir(dir)) = entry.downcast_ref::<Descriptor>()
            && wasi_inode(&dir.dir) == Some(ino)
        {
            match &mut found {
                Some(start) if dir.perms == FsPerms::ReadOnly => start.perms = FsPerms::ReadOnly,
                Some(_) => {}
                None => found = Some(Start::of(dir)),
            }
        }
    }
    // wasmtime-wasi holds a directory cordon cannot find: refuse.
    Ok(found.ok_or(errno(ErrorCode::NotPermitted)))
}

/// A file's p1 inode number as wasmtime-wasi makes it.
fn wasi_inode(file: &std::fs::File) -> Option<u64> {
    let meta = cap_std::fs::Metadata::from_file(file).ok()?;
    Some(identity_hash(meta.dev(), meta.ino()))
}

/// Shadows `$func`, whose path `$path` (pointer, length) from descriptor
/// `$fd` names one entry: `$call` acts on the held spot, with `$fs` the
/// filesystem view, `$dir` and `$name` the spot.
macro_rules! on_spot {
    (
        $linker:ident,
        $func:ident($($arg:ident: $ty:ty),* $(,)?),
        ($fd:expr, $path:expr, $follow:expr),
        |$fs:ident, $dir:ident, $name:ident| $call:expr
    ) => {
        $linker.func_wrap_async(
            MODULE,
            stringify!($func),
            |mut caller: Caller<'_, P1State>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    match hold(&mut caller, $fd, $path, $follow).await? {
                        Err(errno) => Ok(errno),
                        Ok(None) => call_original!(caller, $func($($arg),*)),
                        Ok(Some(held)) => {
                            let ($dir, $name) = (held.dir(), held.name.clone());
                            let mut $fs = caller.data_mut().wasi.filesystem();
                            let result = $call;
                            finish(&mut caller, [held], result)
                        }
                    }
                })
            },
        )?
    };
}

/// Replaces the mutating p1 functions in `linker` with guarded versions.
pub fn shadow(linker: &mut Linker<P1State>) -> Result<()> {
    linker.allow_shadowing(true);

    linker.func_wrap_async(
        MODULE,
        "path_open",
        |mut caller: Caller<'_, P1State>,
         (fd, dirflags, path, len, oflags, base, inheriting, fdflags, out): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i64,
            i64,
            i32,
            i32,
        )| {
            Box::new(async move {
                let writes =
                    oflags & (OFLAGS_CREAT | OFLAGS_TRUNC) != 0 || base & RIGHTS_FD_WRITE != 0;
                let placed = if writes {
                    let follow = dirflags & LOOKUP_SYMLINK_FOLLOW != 0;
                    match place(&mut caller, fd, (path, len), follow).await? {
                        Err(errno) => return Ok(errno),
                        placed => placed.ok().flatten(),
                    }
                } else {
                    None
                };
                let errno = match placed.map(|(spot, start)| swap_in(&mut caller, spot, &start)) {
                    Some(Err(errno)) => errno,
                    Some(Ok(swapped)) => {
                        let (at, name_len) = (0, swapped.name_len);
                        let dirflags = dirflags & !LOOKUP_SYMLINK_FOLLOW;
                        let result = call_original!(
                            caller,
                            path_open(
                                fd, dirflags, at, name_len, oflags, base, inheriting, fdflags, out
                            )
                        );
                        let opened = matches!(result, Ok(0)).then_some(out);
                        swap_out(&mut caller, swapped, opened);
                        result?
                    }
                    None => call_original!(
                        caller,
                        path_open(
                            fd, dirflags, path, len, oflags, base, inheriting, fdflags, out
                        )
                    )?,
                };
                // A directory just opened inside a protected tree becomes
                // read-only before the guest can use it.
                if let Some(guard) = caller.data().guard.clone() {
                    guard.writable_dirs(caller.data_mut().table());
                }
                // A secret is closed before the guest can use it.
                if errno == 0
                    && let Some(secrets) = caller.data().secrets.clone()
                    && secrets.newly_opened_secret(caller.data_mut().table())
                {
                    let Some(opened) = guest_u32(&mut caller, out) else {
                        // Cannot close it: the guest must not go on holding it.
                        wasmtime::bail!("a secret was opened and its descriptor is unreadable");
                    };
                    call_original!(caller, fd_close(opened as i32))?;
                    return Ok(ERRNO_ACCES);
                }
                // A directory opened is listed by cordon itself.
                if errno == 0
                    && let Some(opened) = guest_u32(&mut caller, out)
                {
                    let state = caller.data_mut();
                    let table = wasmtime_wasi::WasiView::ctx(&mut state.wasi).table;
                    state.direct.opened(opened, table);
                }
                Ok(errno)
            })
        },
    )?;

    on_spot!(
        linker,
        path_create_directory(fd: i32, path: i32, len: i32),
        (fd, (path, len), false),
        |fs, dir, name| fs.create_directory_at(dir, name).await
    );
    on_spot!(
        linker,
        path_remove_directory(fd: i32, path: i32, len: i32),
        (fd, (path, len), false),
        |fs, dir, name| fs.remove_directory_at(dir, name).await
    );
    on_spot!(
        linker,
        path_unlink_file(fd: i32, path: i32, len: i32),
        (fd, (path, len), false),
        |fs, dir, name| fs.unlink_file_at(dir, name).await
    );

    linker.func_wrap_async(
        MODULE,
        "path_symlink",
        |mut caller: Caller<'_, P1State>,
         (old, old_len, fd, new, new_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let target = match guest_str(&mut caller, old, old_len) {
                    Ok(target) => target,
                    Err(errno) => return Ok(errno),
                };
                match hold(&mut caller, fd, (new, new_len), false).await? {
                    Err(errno) => Ok(errno),
                    Ok(None) => {
                        call_original!(caller, path_symlink(old, old_len, fd, new, new_len))
                    }
                    Ok(Some(held)) => {
                        let (dir, name) = (held.dir(), held.name.clone());
                        let mut fs = caller.data_mut().wasi.filesystem();
                        let result = fs.symlink_at(dir, target, name).await;
                        finish(&mut caller, [held], result)
                    }
                }
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "path_filestat_set_times",
        |mut caller: Caller<'_, P1State>,
         (fd, flags, path, len, atim, mtim, fst): (i32, i32, i32, i32, i64, i64, i32)| {
            Box::new(async move {
                let times = (
                    new_timestamp(atim, fst & FSTFLAGS_ATIM != 0, fst & FSTFLAGS_ATIM_NOW != 0),
                    new_timestamp(mtim, fst & FSTFLAGS_MTIM != 0, fst & FSTFLAGS_MTIM_NOW != 0),
                );
                let (Some(atim_new), Some(mtim_new)) = times else {
                    return Ok(ERRNO_INVAL);
                };
                let follow = flags & LOOKUP_SYMLINK_FOLLOW != 0;
                match hold(&mut caller, fd, (path, len), follow).await? {
                    Err(errno) => Ok(errno),
                    Ok(None) => call_original!(
                        caller,
                        path_filestat_set_times(fd, flags, path, len, atim, mtim, fst)
                    ),
                    Ok(Some(held)) => {
                        let (dir, name) = (held.dir(), held.name.clone());
                        let mut fs = caller.data_mut().wasi.filesystem();
                        let result = fs
                            .set_times_at(dir, PathFlags::empty(), name, atim_new, mtim_new)
                            .await;
                        finish(&mut caller, [held], result)
                    }
                }
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "path_rename",
        |mut caller: Caller<'_, P1State>,
         (fd, old, old_len, new_fd, new, new_len): (i32, i32, i32, i32, i32, i32)| {
            Box::new(async move {
                match hold_pair(&mut caller, (fd, old, old_len), (new_fd, new, new_len)).await? {
                    Err(errno) => Ok(errno),
                    Ok(None) => {
                        call_original!(caller, path_rename(fd, old, old_len, new_fd, new, new_len))
                    }
                    Ok(Some((from, to))) => {
                        let (from_dir, from_name) = (from.dir(), from.name.clone());
                        let (to_dir, to_name) = (to.dir(), to.name.clone());
                        let mut fs = caller.data_mut().wasi.filesystem();
                        let result = fs.rename_at(from_dir, from_name, to_dir, to_name).await;
                        finish(&mut caller, [from, to], result)
                    }
                }
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "path_link",
        |mut caller: Caller<'_, P1State>,
         (old_fd, flags, old, old_len, new_fd, new, new_len): (
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
            i32,
        )| {
            Box::new(async move {
                let pair =
                    hold_pair(&mut caller, (old_fd, old, old_len), (new_fd, new, new_len)).await?;
                match pair {
                    Err(errno) => Ok(errno),
                    Ok(None) => call_original!(
                        caller,
                        path_link(old_fd, flags, old, old_len, new_fd, new, new_len)
                    ),
                    Ok(Some((from, to))) => {
                        // wasmtime-wasi refuses to follow here (EINVAL).
                        let follow = if flags & LOOKUP_SYMLINK_FOLLOW != 0 {
                            PathFlags::SYMLINK_FOLLOW
                        } else {
                            PathFlags::empty()
                        };
                        let (from_dir, from_name) = (from.dir(), from.name.clone());
                        let (to_dir, to_name) = (to.dir(), to.name.clone());
                        let mut fs = caller.data_mut().wasi.filesystem();
                        let result = fs
                            .link_at(from_dir, follow, from_name, to_dir, to_name)
                            .await;
                        finish(&mut caller, [from, to], result)
                    }
                }
            })
        },
    )?;

    linker.func_wrap_async(
        MODULE,
        "fd_filestat_set_times",
        |mut caller: Caller<'_, P1State>, (fd, atim, mtim, fst): (i32, i64, i64, i32)| {
            Box::new(async move {
                if let Some(guard) = caller.data().guard.clone()
                    && guard.table_holds_protected_file(caller.data_mut().table())
                {
                    return Ok(errno(ErrorCode::NotPermitted));
                }
                call_original!(caller, fd_filestat_set_times(fd, atim, mtim, fst))
            })
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}

/// [`hold`] for the two paths of a rename or link (neither follows a final
/// symlink): both, or neither.
async fn hold_pair(
    caller: &mut Caller<'_, P1State>,
    (old_fd, old, old_len): (i32, i32, i32),
    (new_fd, new, new_len): (i32, i32, i32),
) -> Result<Result<Option<(Held, Held)>, i32>> {
    let from = match hold(caller, old_fd, (old, old_len), false).await? {
        Ok(Some(from)) => from,
        other => return Ok(other.map(|_| None)),
    };
    match hold(caller, new_fd, (new, new_len), false).await? {
        Ok(Some(to)) => Ok(Ok(Some((from, to)))),
        other => {
            from.release(caller.data_mut().table())?;
            Ok(Err(other.err().unwrap_or(errno(ErrorCode::NotPermitted))))
        }
    }
}

/// `path_open` pointed at a spot: for the call's length every table entry
/// of the directory it starts from holds the spot's directory instead, and
/// the path is the spot's name, written at guest address 0 over memory put
/// back afterwards.
struct Swapped {
    /// The spot's hold on the git-shape lock, until the call is made.
    _holding: Option<crate::shape_lock::Holding>,
    parent: Arc<std::fs::File>,
    replaced: Vec<Arc<std::fs::File>>,
    saved: Vec<u8>,
    name_len: i32,
}

fn swap_in(caller: &mut Caller<'_, P1State>, spot: Spot, start: &Start) -> Result<Swapped, i32> {
    let start_id = wasi_inode(&start.dir).ok_or(errno(ErrorCode::NotPermitted))?;
    let holding = spot.holding;
    let name = spot.name.into_bytes();
    let name_len = i32::try_from(name.len()).map_err(|_| errno(ErrorCode::NameTooLong))?;
    let mem = memory(caller).ok_or(ERRNO_FAULT)?;
    let saved = span(mem.data(&*caller), 0, name.len())
        .ok_or(errno(ErrorCode::NameTooLong))?
        .to_vec();
    mem.data_mut(&mut *caller)[..name.len()].copy_from_slice(&name);
    let parent = Arc::new(spot.parent.into_std_file());
    let mut replaced = Vec::new();
    for entry in caller.data_mut().table().iter_mut() {
        if let Some(Descriptor::Dir(dir)) = entry.downcast_mut::<Descriptor>()
            && wasi_inode(&dir.dir) == Some(start_id)
        {
            replaced.push(std::mem::replace(&mut dir.dir, Arc::clone(&parent)));
        }
    }
    Ok(Swapped {
        _holding: holding,
        parent,
        replaced,
        saved,
        name_len,
    })
}

/// Puts back what [`swap_in`] changed; the descriptor number a call that
/// succeeded wrote at `out` stays.
fn swap_out(caller: &mut Caller<'_, P1State>, swapped: Swapped, out: Option<i32>) {
    let mut replaced = swapped.replaced.into_iter();
    for entry in caller.data_mut().table().iter_mut() {
        if let Some(Descriptor::Dir(dir)) = entry.downcast_mut::<Descriptor>()
            && Arc::ptr_eq(&dir.dir, &swapped.parent)
            && let Some(original) = replaced.next()
        {
            dir.dir = original;
        }
    }
    let Some(mem) = memory(caller) else {
        return;
    };
    let data = mem.data_mut(&mut *caller);
    let opened = out.and_then(|out| Some((out, read_u32(data, out as u32)?)));
    data[..swapped.saved.len()].copy_from_slice(&swapped.saved);
    if let Some((out, opened)) = opened
        && let Some(at) = span_mut(data, out as u32, 4)
    {
        at.copy_from_slice(&opened.to_le_bytes());
    }
}

/// A p1 time to set: `nanos` given, now, or unchanged; `None` for both.
fn new_timestamp(nanos: i64, set: bool, now: bool) -> Option<NewTimestamp> {
    let nanos = nanos as u64;
    match (set, now) {
        (true, true) => None,
        (true, false) => Some(NewTimestamp::Timestamp(Datetime {
            seconds: nanos / 1_000_000_000,
            nanoseconds: (nanos % 1_000_000_000) as u32,
        })),
        (false, true) => Some(NewTimestamp::Now),
        (false, false) => Some(NewTimestamp::NoChange),
    }
}

/// The p1 errno for a filesystem error code (wasmtime-wasi's own mapping).
fn errno(code: ErrorCode) -> i32 {
    match code {
        ErrorCode::Access => 2,
        ErrorCode::WouldBlock => 6,
        ErrorCode::Already => 7,
        ErrorCode::BadDescriptor => 8,
        ErrorCode::Busy => 10,
        ErrorCode::Deadlock => 16,
        ErrorCode::Quota => 19,
        ErrorCode::Exist => 20,
        ErrorCode::FileTooLarge => 22,
        ErrorCode::IllegalByteSequence => 25,
        ErrorCode::InProgress => 26,
        ErrorCode::Interrupted => 27,
        ErrorCode::Invalid => 28,
        ErrorCode::Io => 29,
        ErrorCode::IsDirectory => 31,
        ErrorCode::Loop => 32,
        ErrorCode::TooManyLinks => 34,
        ErrorCode::MessageSize => 35,
        ErrorCode::NameTooLong => 37,
        ErrorCode::NoDevice => 43,
        ErrorCode::NoEntry => 44,
        ErrorCode::NoLock => 46,
        ErrorCode::InsufficientMemory => 48,
        ErrorCode::InsufficientSpace => 51,
        ErrorCode::NotDirectory => 54,
        ErrorCode::NotEmpty => 55,
        ErrorCode::NotRecoverable => 56,
        ErrorCode::Unsupported => 58,
        ErrorCode::NoTty => 59,
        ErrorCode::NoSuchDevice => 60,
        ErrorCode::Overflow => 61,
        ErrorCode::NotPermitted => 63,
        ErrorCode::Pipe => 64,
        ErrorCode::ReadOnly => 69,
        ErrorCode::InvalidSeek => 70,
        ErrorCode::TextFileBusy => 74,
        ErrorCode::CrossDevice => 75,
    }
}

/// Reads the little-endian u32 the guest's memory holds at `ptr`.
fn guest_u32(caller: &mut Caller<'_, P1State>, ptr: i32) -> Option<u32> {
    let memory = memory(caller)?;
    read_u32(memory.data(&*caller), ptr as u32)
}

/// Copies a guest string out of its exported memory; the errno when it is
/// out of bounds or not UTF-8.
fn guest_str(caller: &mut Caller<'_, P1State>, ptr: i32, len: i32) -> Result<String, i32> {
    let memory = memory(caller).ok_or(ERRNO_FAULT)?;
    let bytes = span(memory.data(&*caller), ptr as u32, len as u32 as usize).ok_or(ERRNO_FAULT)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| ERRNO_ILSEQ)
}
