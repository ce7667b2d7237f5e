//! What each store carries: the WASI context, the filesystem guard, and the
//! limiter that remembers which limit a guest ran into.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::fs_guard::FsGuard;
use super::http::HttpHooks;
use super::secrets_guard::SecretsGuard;
use crate::net::Gate;

/// Store limits that also record a refused memory growth, so the host can
/// say "memory limit reached" instead of only "the guest aborted".
pub struct Limiter {
    pub limits: StoreLimits,
    pub memory_exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.memory_exceeded |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// What every store's data offers the host.
pub trait GuestState: Send + 'static {
    fn limiter(&mut self) -> &mut Limiter;
}

impl GuestState for P1State {
    fn limiter(&mut self) -> &mut Limiter {
        &mut self.limiter
    }
}

impl GuestState for P2State {
    fn limiter(&mut self) -> &mut Limiter {
        &mut self.limiter
    }
}

/// Store data for a WASIp1 core module.
pub struct P1State {
    pub wasi: WasiP1Ctx,
    /// The calls cordon serves itself (see direct_p1).
    pub direct: super::direct_p1::Direct,
    pub guard: Option<Arc<FsGuard>>,
    pub secrets: Option<Arc<SecretsGuard>>,
    pub limiter: Limiter,
    /// The time every file shows in a deterministic run.
    pub fixed_time: Option<Duration>,
    /// The root as cordon's own tools name it, for `cordon.file_info`
    /// (`None` for any other module).
    pub roots: Option<Arc<super::file_info::Roots>>,
    /// Standard input is a file, a pipe or a socket, for
    /// `cordon.stdin_is_readable`.
    pub stdin_readable: bool,
}

impl P1State {
    /// The resource table behind the guest's file descriptors.
    pub fn table(&mut self) -> &mut ResourceTable {
        self.wasi.ctx().table
    }
}

/// Store data for a WASIp2 command component.
pub struct P2State {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub guard: Option<Arc<FsGuard>>,
    pub secrets: Option<Arc<SecretsGuard>>,
    pub limiter: Limiter,
    /// The time every file shows in a deterministic run.
    pub fixed_time: Option<Duration>,
    /// Decides name lookups and connections under `--network allow=`.
    pub gate: Option<Arc<Gate>>,
    pub http: WasiHttpCtx,
    /// Where the guest's HTTP requests may go.
    pub http_hooks: HttpHooks,
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for P2State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
