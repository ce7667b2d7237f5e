//! WASIp2 adapter for [`FsGuard`] and the secrets guard: shadows `open-at`
//! and the mutating methods of `wasi:filesystem/types.descriptor` with
//! versions that ask the guards first (and close a secret just opened),
//! then call wasmtime-wasi's implementation.

use wasmtime::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::FsResult;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, Host as _, HostDescriptor, NewTimestamp, OpenFlags, PathFlags,
};

use super::fs_guard::{Base, Touch};
use super::state::P2State;

/// The interface as wasmtime-wasi 48 names it.
pub const INTERFACE: &str = "wasi:filesystem/types@0.2.12";

/// Whether any of `touches` (each from the directory behind a descriptor)
/// reaches a protected path.
fn refuses(state: &mut P2State, touches: &[(&Resource<Descriptor>, Touch<'_>)]) -> bool {
    let (guard, secrets) = (state.guard.clone(), state.secrets.clone());
    touches
        .iter()
        .any(|(fd, touch)| match state.table.get(*fd) {
            Ok(Descriptor::Dir(dir)) => {
                guard
                    .as_ref()
                    .is_some_and(|g| g.reaches_protected([Base(&dir.dir)], touch))
                    || secrets
                        .as_ref()
                        .is_some_and(|s| s.reaches_secret([Base(&dir.dir)], touch))
            }
            // Not a directory: wasmtime-wasi refuses the call itself.
            _ => false,
        })
}

/// Maps wasmtime-wasi's result to what the guest receives: a filesystem
/// error becomes an `error-code`, anything else traps.
pub fn finish<T>(state: &mut P2State, result: FsResult<T>) -> Result<(Result<T, ErrorCode>,)> {
    Ok((match result {
        Ok(value) => Ok(value),
        Err(err) => Err(state.filesystem().convert_error_code(err)?),
    },))
}

const REFUSED: ErrorCode = ErrorCode::NotPermitted;

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
                let touch = if path_flags.contains(PathFlags::SYMLINK_FOLLOW) {
                    Touch::Target(&path)
                } else {
                    Touch::Entry(&path)
                };
                let state = store.data_mut();
                if writes && refuses(state, &[(&fd, touch)]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state
                    .filesystem()
                    .open_at(fd, path_flags, path, oflags, flags)
                    .await;
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
                if refuses(state, &[(&fd, Touch::Entry(&path))]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state.filesystem().create_directory_at(fd, path).await;
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.remove-directory-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if refuses(state, &[(&fd, Touch::Entry(&path))]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state.filesystem().remove_directory_at(fd, path).await;
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.unlink-file-at",
        |mut store, (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if refuses(state, &[(&fd, Touch::Entry(&path))]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state.filesystem().unlink_file_at(fd, path).await;
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
                let touches = [
                    (&fd, Touch::Entry(&old_path)),
                    (&new_fd, Touch::Entry(&new_path)),
                ];
                if refuses(state, &touches) {
                    return Ok((Err(REFUSED),));
                }
                let result = state
                    .filesystem()
                    .rename_at(fd, old_path, new_fd, new_path)
                    .await;
                finish(state, result)
            })
        },
    )?;

    types.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store, (fd, old_path, new_path): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                let state = store.data_mut();
                if refuses(state, &[(&fd, Touch::Entry(&new_path))]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state.filesystem().symlink_at(fd, old_path, new_path).await;
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
                let touches = [
                    (&fd, Touch::Entry(&old_path)),
                    (&new_fd, Touch::Entry(&new_path)),
                ];
                if refuses(state, &touches) {
                    return Ok((Err(REFUSED),));
                }
                let result = state
                    .filesystem()
                    .link_at(fd, old_flags, old_path, new_fd, new_path)
                    .await;
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
                let touch = if path_flags.contains(PathFlags::SYMLINK_FOLLOW) {
                    Touch::Target(&path)
                } else {
                    Touch::Entry(&path)
                };
                let state = store.data_mut();
                if refuses(state, &[(&fd, touch)]) {
                    return Ok((Err(REFUSED),));
                }
                let result = state
                    .filesystem()
                    .set_times_at(fd, path_flags, path, atim, mtim)
                    .await;
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
                    return Ok((Err(REFUSED),));
                }
                let result = state.filesystem().set_times(fd, atim, mtim).await;
                finish(state, result)
            })
        },
    )?;

    linker.allow_shadowing(false);
    Ok(())
}
