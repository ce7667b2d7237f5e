//! WASIp1 adapter for [`FsGuard`] and the secrets guard: shadows
//! `path_open` and the mutating `wasi_snapshot_preview1` functions of
//! wasmtime-wasi with versions that ask the guards first (and close a
//! secret just opened), then call wasmtime-wasi's own implementation.
//!
//! p1 file descriptors are private to wasmtime-wasi, so a path is checked
//! from every writable directory the guest holds open: if it reaches a
//! protected path from any of them, the call is refused. That may refuse a
//! harmless call in a rare layout, never allow a harmful one.

use wasmtime::{Caller, Linker, Result};

use super::p1_call::{MODULE, call_original, memory, read_u32, span};

use super::fs_guard::{self, Base, Touch};
use super::state::P1State;

/// WASI errno `perm`: operation not permitted.
const ERRNO_PERM: i32 = 63;
/// WASI errno `acces`: permission denied.
const ERRNO_ACCES: i32 = 2;
const OFLAGS_CREAT: i32 = 1;
const OFLAGS_TRUNC: i32 = 8;
const RIGHTS_FD_WRITE: i64 = 1 << 6;
const LOOKUP_SYMLINK_FOLLOW: i32 = 1;

/// Shadows `func`: refused when any of `paths` (built from its arguments)
/// reaches a protected path, otherwise passed to wasmtime-wasi.
macro_rules! guarded {
    ($linker:ident, $func:ident($($arg:ident: $ty:ty),* $(,)?), $paths:expr) => {
        $linker.func_wrap_async(
            MODULE,
            stringify!($func),
            |mut caller: Caller<'_, P1State>, ($($arg,)*): ($($ty,)*)| {
                Box::new(async move {
                    if refuses(&mut caller, &$paths) {
                        return Ok(ERRNO_PERM);
                    }
                    call_original!(caller, $func($($arg),*))
                })
            },
        )?
    };
}

/// A path argument: pointer, length, and whether a final symlink is
/// followed.
struct PathArg {
    ptr: i32,
    len: i32,
    follow: bool,
}

fn entry(ptr: i32, len: i32) -> PathArg {
    PathArg {
        ptr,
        len,
        follow: false,
    }
}

fn by_flags(flags: i32, ptr: i32, len: i32) -> PathArg {
    PathArg {
        ptr,
        len,
        follow: flags & LOOKUP_SYMLINK_FOLLOW != 0,
    }
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
                if writes && refuses(&mut caller, &[by_flags(dirflags, path, len)]) {
                    return Ok(ERRNO_PERM);
                }
                let errno = call_original!(
                    caller,
                    path_open(
                        fd, dirflags, path, len, oflags, base, inheriting, fdflags, out
                    )
                )?;
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

    guarded!(linker, path_create_directory(fd: i32, path: i32, len: i32), [entry(path, len)]);
    guarded!(linker, path_remove_directory(fd: i32, path: i32, len: i32), [entry(path, len)]);
    guarded!(linker, path_unlink_file(fd: i32, path: i32, len: i32), [entry(path, len)]);
    guarded!(
        linker,
        path_rename(fd: i32, old: i32, old_len: i32, new_fd: i32, new: i32, new_len: i32),
        [entry(old, old_len), entry(new, new_len)]
    );
    guarded!(
        linker,
        path_symlink(old: i32, old_len: i32, fd: i32, new: i32, new_len: i32),
        [entry(new, new_len)]
    );
    guarded!(
        linker,
        path_link(
            old_fd: i32,
            flags: i32,
            old: i32,
            old_len: i32,
            new_fd: i32,
            new: i32,
            new_len: i32
        ),
        [entry(old, old_len), entry(new, new_len)]
    );
    guarded!(
        linker,
        path_filestat_set_times(
            fd: i32,
            flags: i32,
            path: i32,
            len: i32,
            atim: i64,
            mtim: i64,
            fst: i32
        ),
        [by_flags(flags, path, len)]
    );

    linker.func_wrap_async(
        MODULE,
        "fd_filestat_set_times",
        |mut caller: Caller<'_, P1State>, (fd, atim, mtim, fst): (i32, i64, i64, i32)| {
            Box::new(async move {
                if let Some(guard) = caller.data().guard.clone()
                    && guard.table_holds_protected_file(caller.data_mut().table())
                {
                    return Ok(ERRNO_PERM);
                }
                call_original!(caller, fd_filestat_set_times(fd, atim, mtim, fst))
            })
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}

/// Whether any of `paths` reaches a protected path from a writable
/// directory the guest holds.
fn refuses(caller: &mut Caller<'_, P1State>, paths: &[PathArg]) -> bool {
    let (guard, secrets) = (caller.data().guard.clone(), caller.data().secrets.clone());
    if guard.is_none() && secrets.is_none() {
        return false;
    }
    let paths: Vec<(bool, String)> = paths
        .iter()
        .filter_map(|p| guest_str(caller, p.ptr, p.len).map(|s| (p.follow, s)))
        .collect();
    let table = caller.data_mut().table();
    let writable = match &guard {
        Some(guard) => guard.writable_dirs(table),
        None => fs_guard::writable_dir_handles(table),
    };
    paths.iter().any(|(follow, path)| {
        let touch = if *follow {
            Touch::Target(path)
        } else {
            Touch::Entry(path)
        };
        guard
            .as_ref()
            .is_some_and(|g| g.reaches_protected(writable.iter().map(Base), &touch))
            || secrets
                .as_ref()
                .is_some_and(|s| s.reaches_secret(writable.iter().map(Base), &touch))
    })
}

/// Reads the little-endian u32 the guest's memory holds at `ptr`.
fn guest_u32(caller: &mut Caller<'_, P1State>, ptr: i32) -> Option<u32> {
    let memory = memory(caller)?;
    read_u32(memory.data(&*caller), ptr as u32)
}

/// Copies a guest string out of its exported memory; `None` when it is out
/// of bounds or not UTF-8 (wasmtime-wasi then fails the call on its own).
fn guest_str(caller: &mut Caller<'_, P1State>, ptr: i32, len: i32) -> Option<String> {
    let memory = memory(caller)?;
    let bytes = span(memory.data(&*caller), ptr as u32, len as u32 as usize)?;
    String::from_utf8(bytes.to_vec()).ok()
}
