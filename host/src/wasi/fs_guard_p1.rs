//! WASIp1 adapter for [`FsGuard`]: shadows the mutating
//! `wasi_snapshot_preview1` functions of wasmtime-wasi with versions that
//! ask the guard first and then call the original.
//!
//! p1 file descriptors are private to wasmtime-wasi, so a path is checked
//! from every writable directory the guest holds open: if it reaches a
//! protected path from any of them, the call is refused. That may refuse a
//! harmless call in a rare layout, never allow a harmful one.

use wasmtime::Result;
use wasmtime::error::Context;
use wasmtime::{Caller, Engine, Extern, Func, FuncType, Linker, Store, Val, ValType};

use super::fs_guard::{Base, Touch};
use super::state::P1State;

const MODULE: &str = "wasi_snapshot_preview1";
/// WASI errno `perm`: operation not permitted.
const ERRNO_PERM: i32 = 63;
const OFLAGS_CREAT: i32 = 1;
const OFLAGS_TRUNC: i32 = 8;
const RIGHTS_FD_WRITE: i64 = 1 << 6;
const LOOKUP_SYMLINK_FOLLOW: i32 = 1;

use ValType::{I32, I64};

/// The shadowed functions: name, parameter types, and what they change.
const SHADOWED: &[(&str, &[ValType])] = &[
    ("path_open", &[I32, I32, I32, I32, I32, I64, I64, I32, I32]),
    ("path_create_directory", &[I32, I32, I32]),
    ("path_remove_directory", &[I32, I32, I32]),
    ("path_unlink_file", &[I32, I32, I32]),
    ("path_rename", &[I32, I32, I32, I32, I32, I32]),
    ("path_symlink", &[I32, I32, I32, I32, I32]),
    ("path_link", &[I32, I32, I32, I32, I32, I32, I32]),
    (
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
    ),
    ("fd_filestat_set_times", &[I32, I64, I64, I32]),
];

/// The original wasmtime-wasi functions, instantiated in one store.
pub struct P1Originals(Vec<Func>);

impl P1Originals {
    /// Instantiates the originals from `plain` (a linker holding only
    /// wasmtime-wasi's p1 functions) into `store`.
    pub fn new(plain: &Linker<P1State>, store: &mut Store<P1State>) -> Result<Self> {
        SHADOWED
            .iter()
            .map(|(name, _)| {
                plain
                    .get(&mut *store, MODULE, name)
                    .ok()
                    .and_then(Extern::into_func)
                    .with_context(|| format!("wasmtime-wasi lacks {MODULE}::{name}"))
            })
            .collect::<Result<_>>()
            .map(P1Originals)
    }
}

/// Replaces the mutating p1 functions in `linker` with guarded versions.
pub fn shadow(engine: &Engine, linker: &mut Linker<P1State>) -> Result<()> {
    linker.allow_shadowing(true);
    for (index, (name, params)) in SHADOWED.iter().enumerate() {
        let ty = FuncType::new(engine, params.iter().cloned(), [I32]);
        linker.func_new_async(MODULE, name, ty, move |mut caller, params, results| {
            Box::new(async move {
                if refuses(&mut caller, name, params) {
                    results[0] = Val::I32(ERRNO_PERM);
                    return Ok(());
                }
                let original = caller
                    .data()
                    .originals
                    .as_ref()
                    .context("p1 originals missing")?
                    .0[index];
                original.call_async(&mut caller, params, results).await?;
                if *name == "path_open" {
                    downgrade_new_dirs(&mut caller);
                }
                Ok(())
            })
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Whether the call must be refused before it reaches wasmtime-wasi.
fn refuses(caller: &mut Caller<'_, P1State>, name: &str, p: &[Val]) -> bool {
    let Some(guard) = caller.data().guard.clone() else {
        return false;
    };
    let i32_at = |i: usize| p[i].unwrap_i32();
    let touches: Vec<(bool, i32, i32)> = match name {
        "path_open" => {
            let writes = i32_at(4) & (OFLAGS_CREAT | OFLAGS_TRUNC) != 0
                || p[5].unwrap_i64() & RIGHTS_FD_WRITE != 0;
            if !writes {
                return false;
            }
            vec![(i32_at(1) & LOOKUP_SYMLINK_FOLLOW != 0, i32_at(2), i32_at(3))]
        }
        "path_create_directory" | "path_remove_directory" | "path_unlink_file" => {
            vec![(false, i32_at(1), i32_at(2))]
        }
        "path_rename" => vec![(false, i32_at(1), i32_at(2)), (false, i32_at(4), i32_at(5))],
        "path_symlink" => vec![(false, i32_at(3), i32_at(4))],
        "path_link" => vec![(false, i32_at(2), i32_at(3)), (false, i32_at(5), i32_at(6))],
        "path_filestat_set_times" => {
            vec![(i32_at(1) & LOOKUP_SYMLINK_FOLLOW != 0, i32_at(2), i32_at(3))]
        }
        "fd_filestat_set_times" => {
            return guard.table_holds_protected_file(caller.data_mut().table());
        }
        _ => return true,
    };
    let paths: Vec<(bool, String)> = touches
        .into_iter()
        .filter_map(|(follow, ptr, len)| guest_str(caller, ptr, len).map(|s| (follow, s)))
        .collect();
    let writable = guard.writable_dirs(caller.data_mut().table());
    paths.iter().any(|(follow, path)| {
        let touch = if *follow {
            Touch::Target(path)
        } else {
            Touch::Entry(path)
        };
        guard.reaches_protected(writable.iter().map(Base), &touch)
    })
}

/// A directory the guest just opened inside a protected tree becomes
/// read-only before the guest can use it.
fn downgrade_new_dirs(caller: &mut Caller<'_, P1State>) {
    if let Some(guard) = caller.data().guard.clone() {
        guard.writable_dirs(caller.data_mut().table());
    }
}

/// Copies a guest string out of its exported memory; `None` when it is out
/// of bounds or not UTF-8 (the original call then fails on its own).
fn guest_str(caller: &mut Caller<'_, P1State>, ptr: i32, len: i32) -> Option<String> {
    let memory = caller.get_export("memory")?.into_memory()?;
    let start = usize::try_from(ptr as u32).ok()?;
    let end = start.checked_add(usize::try_from(len as u32).ok()?)?;
    let bytes = memory.data(&*caller).get(start..end)?;
    String::from_utf8(bytes.to_vec()).ok()
}
