//! WASIp2 adapter for the guards: shadows `open-at` and the mutating
//! methods of `wasi:filesystem/types.descriptor` with versions that locate
//! and judge the spot first (`fs_act`), then call wasmtime-wasi's
//! implementation on that spot (and close a secret just opened).

use wasmtime::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, Host as _, HostDescriptor, NewTimestamp, OpenFlags, PathFlags,
};

use super::fs_act::{Guards, Held, Start};
use super::state::P2State;

/// The interface as wasmtime-wasi 48 names it.
pub const INTERFACE: &str = "wasi:filesystem/types@0.2.12";

/// Locates and judges `path` from the directory behind `fd`, and holds the
/// spot's directory for the call. `Ok(None)`: nothing to guard, or `fd` is
/// not a directory; wasmtime-wasi answers the call as it is.
fn held(
    state: &mut P2State,
    fd: &Resource<Descriptor>,
    path: &str,
    follow: bool,
) -> Result<Result<Option<Held>, ErrorCode>> {
    let (fs, secrets) = (state.guard.clone(), state.secrets.clone());
    let guards = Guards {
        fs: fs.as_deref(),
        secrets: secrets.as_deref(),
    };
    let start = match state.table.get(fd) {
        Ok(Descriptor::Dir(dir)) if guards.any() => Start::of(dir),
        _ => return Ok(Ok(None)),
    };
    Ok(match guards.place(&start, path, follow) {
        Ok(spot) => Ok(Some(Held::new(&mut state.table, &start, spot)?)),
        Err(code) => Err(code),
    })
}

/// The spots of a rename or link, each held or left as given.
type HeldPair = (Option<Held>, Option<Held>);

/// [`held`] for the two paths of a rename or link: both, or neither.
fn held_pair(
    state: &mut P2State,
    (old_fd, old_path): (&Resource<Descriptor>, &str),
    (new_fd, new_path): (&Resource<Descriptor>, &str),
) -> Result<Result<HeldPair, ErrorCode>> {
    let old = match held(state, old_fd, old_path, false)? {
        Ok(old) => old,
        Err(code) => return Ok(Err(code)),
    };
    match held(state, new_fd, new_path, false)? {
        Ok(new) => Ok(Ok((old, new))),
        Err(code) => {
            if let Some(old) = old {
                old.release(&mut state.table)?;
            }
            Ok(Err(code))
        }
    }
}

/// The descriptor and name a call acts on: the held spot's, or as given.
fn target(
    held: &Option<Held>,
    fd: Resource<Descriptor>,
    path: String,
) -> (Resource<Descriptor>, String) {
    match held {
        Some(held) => (held.dir(), held.name.clone()),
        None => (fd, path),
    }
}

/// Runs `$call` with `$dir` and `$name` bound to the spot of `$path` from
/// `$fd` (or to them as given, when nothing is guarded); a refusal returns
/// from the host function.
macro_rules! at_spot {
    ($state:ident, $fd:expr, $path:expr, $follow:expr, |$dir:ident, $name:ident| $call:expr) => {{
        match held($state, &$fd, &$path, $follow)? {
            Err(code) => return Ok((Err(code),)),
            Ok(None) => {
                let ($dir, $name) = ($fd, $path);
                $call
            }
            Ok(Some(held)) => {
                let ($dir, $name) = (held.dir(), held.name.clone());
                let result = $call;
                held.release(&mut $state.table)?;
                result
            }
        }
    }};
}

/// Maps wasmtime-wasi's result to what the guest receives: a filesystem
/// error becomes an `error-code`, anything else traps.
pub fn finish<T>(state: &mut P2State, result: FsResult<T>) -> Result<(Result<T, ErrorCode>,)> {
    Ok((match result {
        Ok(value) => Ok(value),
        Err(err) => Err(state.filesystem().convert_error_code(err)?),
    },))
}

/// Replaces the mutating descriptor methods in `linker` with guarded ones.
pub fn shadow(linker: &mut Linker<P2State>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(INTERFACE)?;

    types.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (fd, path_flags, path, oflags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let writes = oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE)
                    || flags.intersects(DescriptorFlags::WRITE | DescriptorFlags::MUTATE_DIRECTORY);
                let state = store.data_mut();
                let result = if writes {
                    let follow = path_flags.contains(PathFlags::SYMLINK_FOLLOW);
                    // The spot is where following led (its only flag).
                    let path_flags = PathFlags::empty();
                    at_spot!(state, fd, path, follow, |dir, name| {
                        state
                            .filesystem()
                            .open_at(dir, path_flags, name, oflags, flags)
                            .await
                    })
                } else {
                    state
                        .filesystem()
                        .open_at(fd, path_flags, path, oflags, flags)
                        .await
                };
                if let (Ok(new), Some(guard)) = (&result, state.guard.clone())
                    && let Ok(Descriptor::Dir(dir)) = state.table.get_mut(new)
                    && guard.dir_protected(&dir.dir)
                {
                    dir.perms = FsPerms::ReadOnly;
                }
                // A secret is closed before the guest can use it.
                if let (Ok(new), Some(secrets)) = (&result, state.secrets.clone())
                    && secrets.newly_opened_secret(&mut state.table)
                {
                    let secret = Resource::<Descriptor>::new_own(new.rep());
                    state.table.delete(secret)?;
                    return Ok((Err(ErrorCode::Access),));
                }
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.create-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = at_spot!(state, fd, path, false, |dir, name| {
                    state.filesystem().create_directory_at(dir, name).await
                });
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = at_spot!(state, fd, path, false, |dir, name| {
                    state.filesystem().remove_directory_at(dir, name).await
                });
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = at_spot!(state, fd, path, false, |dir, name| {
                    state.filesystem().unlink_file_at(dir, name).await
                });
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.rename-at",
        |mut store,
         (fd, old_path, new_fd, new_path): (
            Resource<Descriptor>,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let pair = held_pair(state, (&fd, &old_path), (&new_fd, &new_path))?;
                let (old, new) = match pair {
                    Ok(pair) => pair,
                    Err(code) => return Ok((Err(code),)),
                };
                let (old_dir, old_name) = target(&old, fd, old_path);
                let (new_dir, new_name) = target(&new, new_fd, new_path);
                let result = state
                    .filesystem()
                    .rename_at(old_dir, old_name, new_dir, new_name)
                    .await;
                for held in [old, new].into_iter().flatten() {
                    held.release(&mut state.table)?;
                }
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (fd, old_path, new_path): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = at_spot!(state, fd, new_path, false, |dir, name| {
                    state.filesystem().symlink_at(dir, old_path, name).await
                });
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.link-at",
        |mut store,
         (fd, old_flags, old_path, new_fd, new_path): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let pair = held_pair(state, (&fd, &old_path), (&new_fd, &new_path))?;
                let (old, new) = match pair {
                    Ok(pair) => pair,
                    Err(code) => return Ok((Err(code),)),
                };
                let (old_dir, old_name) = target(&old, fd, old_path);
                let (new_dir, new_name) = target(&new, new_fd, new_path);
                let result = state
                    .filesystem()
                    .link_at(old_dir, old_flags, old_name, new_dir, new_name)
                    .await;
                for held in [old, new].into_iter().flatten() {
                    held.release(&mut state.table)?;
                }
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.set-times-at",
        |mut store,
         (fd, path_flags, path, atim, mtim): (
            Resource<Descriptor>,
            PathFlags,
            String,
            NewTimestamp,
            NewTimestamp,
        )| {
            Box::new(async move {
                let follow = path_flags.contains(PathFlags::SYMLINK_FOLLOW);
                let path_flags = PathFlags::empty();
                let state = store.data_mut();
                let result = at_spot!(state, fd, path, follow, |dir, name| {
                    state
                        .filesystem()
                        .set_times_at(dir, path_flags, name, atim, mtim)
                        .await
                });
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.set-times",
        |mut store, (fd, atim, mtim): (Resource<Descriptor>, NewTimestamp, NewTimestamp)| {
            Box::new(async move {
                let state = store.data_mut();
                let protected = match (&state.guard, state.table.get(&fd)) {
                    (Some(guard), Ok(Descriptor::File(file))) => guard.file_protected(&file.file),
                    _ => false,
                };
                if protected {
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let result = state.filesystem().set_times(fd, atim, mtim).await;
                finish(state, result)
            })
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}
