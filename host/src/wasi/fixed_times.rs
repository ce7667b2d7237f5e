//! In a deterministic run every timestamp a guest reads from the filesystem
//! is the run's fixed wall clock, so files created or touched during the run
//! look the same on every machine. Installed only in deterministic hosts.

use std::time::Duration;

use wasmtime::component::{self, Resource};
use wasmtime::{Caller, Linker, Result};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types::{DescriptorStat, HostDescriptor, PathFlags};

use super::fs_guard_p2::{INTERFACE, finish};
use super::p1_call::{MODULE, call_original, memory, span_mut};
use super::state::{P1State, P2State};

/// Offsets of atim, mtim and ctim (u64 nanoseconds) in a p1 `filestat`.
const P1_TIME_OFFSETS: [u32; 3] = [40, 48, 56];

/// Rewrites the times of the p1 `filestat` the guest received at `buf`.
fn fix_p1_filestat(caller: &mut Caller<'_, P1State>, buf: i32) {
    let Some(time) = caller.data().fixed_time else {
        return;
    };
    let nanos = u64::try_from(time.as_nanos())
        .unwrap_or(u64::MAX)
        .to_le_bytes();
    let Some(memory) = memory(caller) else {
        return;
    };
    let data = memory.data_mut(&mut *caller);
    for offset in P1_TIME_OFFSETS {
        let at = (buf as u32).checked_add(offset);
        if let Some(slot) = at.and_then(|at| span_mut(data, at, 8)) {
            slot.copy_from_slice(&nanos);
        }
    }
}

/// Shadows `fd_filestat_get` and `path_filestat_get`.
pub fn shadow_p1(linker: &mut Linker<P1State>) -> Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        MODULE,
        "fd_filestat_get",
        |mut caller: Caller<'_, P1State>, (fd, buf): (i32, i32)| {
            Box::new(async move {
                let errno = call_original!(caller, fd_filestat_get(fd, buf))?;
                if errno == 0 {
                    fix_p1_filestat(&mut caller, buf);
                }
                Ok(errno)
            })
        },
    )?;
    linker.func_wrap_async(
        MODULE,
        "path_filestat_get",
        |mut caller: Caller<'_, P1State>,
         (fd, flags, path, len, buf): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let errno = call_original!(caller, path_filestat_get(fd, flags, path, len, buf))?;
                if errno == 0 {
                    fix_p1_filestat(&mut caller, buf);
                }
                Ok(errno)
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn fixed(stat: DescriptorStat, time: Option<Duration>) -> DescriptorStat {
    let Some(time) = time else {
        return stat;
    };
    let at = Some(Datetime {
        seconds: time.as_secs(),
        nanoseconds: time.subsec_nanos(),
    });
    DescriptorStat {
        data_access_timestamp: at,
        data_modification_timestamp: at,
        status_change_timestamp: at,
        ..stat
    }
}

/// Shadows `descriptor.stat` and `descriptor.stat-at`.
pub fn shadow_p2(linker: &mut component::Linker<P2State>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(INTERFACE)?;
    types.func_wrap_async(
        "[method]descriptor.stat",
        |mut store, (fd,): (Resource<Descriptor>,)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().stat(fd).await;
                let time = state.fixed_time;
                let (result,) = finish(state, result)?;
                Ok((result.map(|stat| fixed(stat, time)),))
            })
        },
    )?;
    types.func_wrap_async(
        "[method]descriptor.stat-at",
        |mut store, (fd, flags, path): (Resource<Descriptor>, PathFlags, String)| {
            Box::new(async move {
                let state = store.data_mut();
                let result = state.filesystem().stat_at(fd, flags, path).await;
                let time = state.fixed_time;
                let (result,) = finish(state, result)?;
                Ok((result.map(|stat| fixed(stat, time)),))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
