//! Running WASI tools in wasmtime.
//!
//! [`WasiHost`] owns the engine, the compile cache and the pre-built linkers;
//! [`WasiHost::load`] compiles a tool once, [`WasiHost::run`] instantiates and
//! runs it under a [`SandboxPolicy`]. Limits: a wall-clock deadline (epoch
//! interruption for guest code, cancellation for host calls), a memory cap,
//! caps on instances, tables and resource-table entries, and a cap on what
//! one host call may copy.

mod cache;
mod ctx;
mod determinism;
mod direct_p1;
mod file_info;
mod fixed_times;
mod fs_act;
mod fs_guard;
mod fs_guard_p1;
mod fs_guard_p2;
mod fs_spot;
mod http;
mod net_p2;
mod output;
mod p1_call;
mod program;
mod refused;
mod secrets_guard;
mod state;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::Result;
use wasmtime::component::{self, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{
    Config, Engine, InstancePre, Linker, Store, StoreLimitsBuilder, Trap, UpdateDeadline, bail,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::CommandPre;

pub use cache::CompileCache;
pub use ctx::DETERMINISTIC_ROOT;
pub use output::BROKEN_PIPE;

use fs_guard::FsGuard;
use http::HttpHooks;
use program::Compiled;
use secrets_guard::SecretsGuard;
use state::{GuestState, Limiter, P1State, P2State};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::io::{Cancel, Stdio};
use crate::net::NetAccess;
use crate::observe::Observer;
use crate::policy::{Limits, SandboxPolicy};
use crate::program_file::ProgramFile;
use crate::request::Request;

/// How often the epoch advances; the granularity of the wall-clock deadline
/// for code that never calls the host.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The wasmtime version this host embeds.
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Engine, cache and linkers shared by every run.
pub struct WasiHost {
    engine: Engine,
    cache: Option<CompileCache>,
    /// Built on first use: a process runs one kind of tool far more often
    /// than both, and each linker costs start-up time.
    p1: OnceLock<Linker<P1State>>,
    p2: OnceLock<component::Linker<P2State>>,
    ticker: OnceLock<()>,
    mode: EngineMode,
    /// The guests' `/`s, made once for each root.
    skeletons: ctx::Skeletons,
}

/// A tool compiled and linked, ready to run any number of times.
#[derive(Clone)]
pub struct Program {
    linked: Linked,
    /// Whether the guest changes to `$PWD` itself as it starts (cordon's
    /// own tools do): then the guest's `/` is exact (see [`ctx`]).
    enters_pwd: bool,
    /// The sha256 (lowercase hex) of a program read from a file, which
    /// network rules naming its bytes match; `None` for a built-in tool.
    sha256: Option<String>,
}

#[derive(Clone)]
enum Linked {
    CoreModule(InstancePre<P1State>),
    Component(CommandPre<P2State>),
}

/// Which engine a host runs: each compiles differently, so their compiled
/// code is cached apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineMode {
    /// Fastest: native NaN bits, relaxed SIMD, no fuel accounting.
    Standard,
    /// Same results on every machine: NaNs canonicalized, relaxed SIMD and
    /// threads off, fuel metered. Runs need a policy with `determinism`.
    Deterministic,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The guest exited with this code (0 when it returned normally).
    Exited(i32),
    /// The wall-clock deadline passed.
    TimedOut,
    /// A deterministic run burned all its fuel.
    OutOfFuel,
    /// The guest trapped; the text says what trapped.
    Trapped(String),
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How the guest ended.
    pub status: Status,
    /// The guest asked for more memory than `--memory` allows.
    pub memory_exceeded: bool,
    /// Bytes of stdout past the cap, dropped.
    pub stdout_dropped: u64,
    /// Bytes of stderr past the cap, dropped.
    pub stderr_dropped: u64,
    /// What the guards refused the guest, and how many more refusals were
    /// not kept.
    pub violations: Vec<crate::violations::Violation>,
    /// Refusals past the kept ones, counted only.
    pub violations_more: u64,
}

impl WasiHost {
    /// A host with a fresh engine, caching compiled code in `cache`.
    ///
    /// # Errors
    ///
    /// When the engine or the WASI linkers cannot be built.
    pub fn new(cache: Option<CompileCache>, mode: EngineMode) -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Threads are never available: wasmtime is built without them.
        if mode == EngineMode::Deterministic {
            config
                .consume_fuel(true)
                .cranelift_nan_canonicalization(true)
                .wasm_relaxed_simd(false);
        }
        let engine = Engine::new(&config)?;
        Ok(WasiHost {
            engine,
            cache,
            p1: OnceLock::new(),
            p2: OnceLock::new(),
            ticker: OnceLock::new(),
            mode,
            skeletons: ctx::Skeletons::default(),
        })
    }

    /// Compiles (or loads from the cache) and links `bytes`.
    ///
    /// # Errors
    ///
    /// When the bytes are not a valid WASI program, or import something this
    /// host does not provide.
    pub fn load(&self, bytes: &[u8], notes: &dyn Observer) -> Result<Program> {
        let sha256 = Sha256::digest(bytes).into();
        self.link(bytes, &sha256, false, notes)
    }

    /// [`WasiHost::load`] for a program resolution read, whose digest is
    /// known.
    ///
    /// # Errors
    ///
    /// As [`WasiHost::load`].
    pub fn load_file(&self, file: &ProgramFile, notes: &dyn Observer) -> Result<Program> {
        self.link(&file.bytes, &file.sha256, false, notes)
    }

    /// [`WasiHost::load`] for one of cordon's own tools: its sha256 is
    /// known, which spares hashing it (the built-in tools are 10 MB), and
    /// it changes to `$PWD` as it starts.
    ///
    /// # Errors
    ///
    /// As [`WasiHost::load`].
    pub fn load_built_in(
        &self,
        module: &crate::tools::Embedded,
        notes: &dyn Observer,
    ) -> Result<Program> {
        self.link(module.bytes, module.sha256, true, notes)
    }

    /// Compiles the built-in tools for this machine into the cache at
    /// `dir`, for normal and deterministic runs alike (`cordon warm`).
    ///
    /// # Errors
    ///
    /// As [`WasiHost::load`].
    pub fn compile_built_ins(dir: &Path, notes: &dyn Observer) -> Result<()> {
        for mode in [EngineMode::Standard, EngineMode::Deterministic] {
            let host = WasiHost::new(Some(CompileCache::new(dir)), mode)?;
            for module in [&crate::tools::TOOLS, &crate::tools::FETCH] {
                host.load_built_in(module, notes)?;
            }
        }
        Ok(())
    }

    /// `built_in`: one of cordon's own tools, which changes to `$PWD` as it
    /// starts, and is not matched by digest.
    fn link(
        &self,
        bytes: &[u8],
        sha256: &[u8; 32],
        built_in: bool,
        notes: &dyn Observer,
    ) -> Result<Program> {
        let cache = self.cache.as_ref();
        let linked = match program::compile(&self.engine, cache, bytes, sha256, notes)? {
            Compiled::CoreModule(module) => Linked::CoreModule(
                self.p1_linker()?
                    .instantiate_pre(&module)
                    .context("cannot link module")?,
            ),
            Compiled::Component(component) => {
                let pre = self
                    .p2_linker()?
                    .instantiate_pre(&component)
                    .context("cannot link component")?;
                Linked::Component(
                    CommandPre::new(pre).context("component is not a wasi:cli command")?,
                )
            }
        };
        Ok(Program {
            linked,
            enters_pwd: built_in,
            sha256: (!built_in).then(|| crate::digest::hex(sha256)),
        })
    }

    /// Runs `program` with `argv` (argv[0] is the tool's name) under
    /// `policy`, writing to `stdio`.
    ///
    /// # Errors
    ///
    /// Only for failures of the host itself; everything the guest does
    /// (exit, trap, time out) is an [`Outcome`].
    pub fn run(
        &self,
        program: &Program,
        policy: &SandboxPolicy,
        argv: &[String],
        stdio: Stdio,
    ) -> Result<Outcome> {
        if policy.determinism.is_some() != (self.mode == EngineMode::Deterministic) {
            bail!("a deterministic run needs a deterministic engine, and only it");
        }
        let own_dirs: Vec<&Path> = policy.own_dirs_in_root().collect();
        let guard = if policy.protects_subpaths() || (policy.writable() && !own_dirs.is_empty()) {
            Some(Arc::new(
                FsGuard::new(policy.root(), policy.protects_subpaths(), own_dirs)
                    .context("examining the root")?,
            ))
        } else {
            None
        };
        // It guards the session's root, not what its path leads to now.
        if let (Some(guard), Some(root)) = (&guard, policy.root_identity())
            && guard.root_identity() != root
        {
            bail!(crate::policy::PolicyError::RootMoved(
                policy.root().to_path_buf()
            ));
        }
        let (stdout, stderr) = (stdio.stdout.clone(), stdio.stderr.clone());
        let notes = stdio.notes.clone();
        let cancel = stdio.cancel.clone();
        let gate = policy.network.gate(
            Request {
                program_sha256: program.sha256.clone(),
                ..policy.request(argv, "wasi")
            },
            notes.clone(),
        );
        let secrets = SecretsGuard::new(policy.root(), policy.secrets.clone()).map(Arc::new);
        // Kept to read what they refused once the guest is done.
        let (guard_kept, secrets_kept) = (guard.clone(), secrets.clone());
        let stdin_readable = file_info::stdin_is_readable(stdio.stdin.as_ref());
        let (mut builder, skeleton) = ctx::build(
            policy,
            guard.as_deref(),
            gate.clone(),
            argv,
            stdio,
            program.enters_pwd,
            &self.skeletons,
        )?;
        let limits = &policy.limits;
        let limiter = Limiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(limits.max_instances)
                .tables(limits.max_tables)
                .memories(limits.max_instances)
                .table_elements(limits.max_table_elements)
                .build(),
            memory_exceeded: false,
        };
        let deadline_ticks = match limits.timeout {
            Some(timeout) => {
                self.start_ticker();
                (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
            }
            None => u64::MAX,
        };
        if cancel.is_some() {
            self.start_ticker();
        }
        let fuel = policy.determinism.as_ref().map(|fixed| fixed.fuel);
        let fixed_time = policy.determinism.as_ref().map(|fixed| fixed.wall_clock);
        let call = async {
            match &program.linked {
                Linked::CoreModule(pre) => {
                    let roots = skeleton
                        .as_ref()
                        .map(|s| -> Result<_> {
                            let root = s.root()?;
                            Ok(file_info::Roots::new(root, s.roots().to_vec(), fixed_time))
                        })
                        .transpose()?
                        .map(Arc::new);
                    let state = P1State {
                        wasi: builder.build_p1(),
                        direct: direct_p1::Direct::new(stdout.clone(), stderr.clone()),
                        guard,
                        secrets,
                        limiter,
                        fixed_time,
                        roots,
                        stdin_readable,
                    };
                    let mut store =
                        self.store(state, deadline_ticks, limits, fuel, cancel.as_ref())?;
                    store
                        .data_mut()
                        .table()
                        .set_max_capacity(limits.max_resources);
                    let result = async {
                        let instance = pre.instantiate_async(&mut store).await?;
                        let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                        start.call_async(&mut store, ()).await
                    }
                    .await;
                    Ok::<_, wasmtime::Error>((
                        result.map(|()| 0),
                        store.data().limiter.memory_exceeded,
                    ))
                }
                Linked::Component(pre) => {
                    let mut table = ResourceTable::new();
                    table.set_max_capacity(limits.max_resources);
                    let state = P2State {
                        wasi: builder.build(),
                        table,
                        guard,
                        secrets,
                        limiter,
                        fixed_time,
                        http_hooks: HttpHooks::new(&policy.network, gate.clone(), notes),
                        gate,
                        http: WasiHttpCtx::new(),
                    };
                    let mut store =
                        self.store(state, deadline_ticks, limits, fuel, cancel.as_ref())?;
                    let result = async {
                        let command = pre.instantiate_async(&mut store).await?;
                        command.wasi_cli_run().call_run(&mut store).await
                    }
                    .await;
                    // `run` returning `err` is exit status 1, as in `exit(err)`.
                    let code = result.map(|r| if r.is_ok() { 0 } else { 1 });
                    Ok((code, store.data().limiter.memory_exceeded))
                }
            }
        };
        // A runtime per run: the stages of a pipeline run at once, each on
        // its own thread, maybe on one host.
        let mut runtime = tokio::runtime::Builder::new_current_thread();
        runtime.enable_time();
        // Sockets need the I/O driver; a run without network skips its cost.
        if !matches!(policy.network, NetAccess::Off) {
            runtime.enable_io();
        }
        let runtime = runtime.build().context("starting the async runtime")?;
        // A guest blocked in a host call is stopped by dropping the call:
        // at the deadline, or when cancelled.
        let call = async {
            match &cancel {
                Some(cancel) => or_cancelled(call, cancel).await,
                None => Some(call.await),
            }
        };
        let ended = runtime.block_on(async {
            match limits.timeout {
                Some(timeout) => tokio::time::timeout(timeout, call).await.ok().flatten(),
                None => call.await,
            }
        });
        // A guest stopped while a blocking call of the host waits (opening
        // a FIFO) leaves that thread behind rather than waiting for it.
        runtime.shutdown_background();
        let (status, memory_exceeded) = match ended {
            None => (Status::TimedOut, false),
            Some(result) => {
                let (result, memory_exceeded) = result?;
                (status_of(result), memory_exceeded)
            }
        };
        let mut violations = Vec::new();
        let mut violations_more = 0;
        let refused = [
            guard_kept.as_ref().map(|g| g.refused.take()),
            secrets_kept.as_ref().map(|g| g.refused.take()),
        ];
        for (found, more) in refused.into_iter().flatten() {
            violations.extend(found);
            violations_more += more;
        }
        Ok(Outcome {
            status,
            memory_exceeded,
            stdout_dropped: stdout.dropped(),
            stderr_dropped: stderr.dropped(),
            violations,
            violations_more,
        })
    }

    /// A store for one run, with its limits, deadline, cancelling and (in
    /// a deterministic run) fuel.
    fn store<T: GuestState>(
        &self,
        state: T,
        deadline_ticks: u64,
        limits: &Limits,
        fuel: Option<u64>,
        cancel: Option<&Cancel>,
    ) -> Result<Store<T>> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s.limiter());
        match cancel {
            None => store.set_epoch_deadline(deadline_ticks),
            Some(cancel) => {
                // Looked at every tick: a guest that never calls the host
                // is stopped too.
                let cancel = cancel.clone();
                let mut left = deadline_ticks;
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(move |_| {
                    left = left.saturating_sub(1);
                    if cancel.is_cancelled() || left == 0 {
                        Err(Trap::Interrupt.into())
                    } else {
                        Ok(UpdateDeadline::Continue(1))
                    }
                });
            }
        }
        store.set_hostcall_fuel(limits.hostcall_fuel);
        if let Some(fuel) = fuel {
            store.set_fuel(fuel)?;
        }
        Ok(store)
    }

    fn p1_linker(&self) -> Result<&Linker<P1State>> {
        if let Some(linker) = self.p1.get() {
            return Ok(linker);
        }
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut P1State| &mut s.wasi)?;
        fs_guard_p1::shadow(&mut linker)?;
        direct_p1::shadow(&mut linker)?;
        file_info::add_to_linker(&mut linker)?;
        if self.mode == EngineMode::Deterministic {
            fixed_times::shadow_p1(&mut linker)?;
        }
        Ok(self.p1.get_or_init(|| linker))
    }

    fn p2_linker(&self) -> Result<&component::Linker<P2State>> {
        if let Some(linker) = self.p2.get() {
            return Ok(linker);
        }
        let mut linker = component::Linker::new(&self.engine);
        // Includes `wasi:cli/exit.exit-with-code` (stable since WASI 0.2.12),
        // which is how a component reports an exact exit code.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        fs_guard_p2::shadow(&mut linker)?;
        net_p2::shadow(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        if self.mode == EngineMode::Deterministic {
            fixed_times::shadow_p2(&mut linker)?;
        }
        Ok(self.p2.get_or_init(|| linker))
    }

    /// Starts the thread that advances the epoch, once per host.
    fn start_ticker(&self) {
        self.ticker.get_or_init(|| {
            let engine = self.engine.weak();
            std::thread::spawn(move || {
                while let Some(engine) = engine.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            });
        });
    }
}

/// `call`, or `None` once `cancel` is cancelled (`call` is then dropped
/// where it waits).
async fn or_cancelled<F: std::future::Future>(call: F, cancel: &Cancel) -> Option<F::Output> {
    let waiting: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Arc::default();
    let _wake = cancel.on_cancel({
        let waiting = Arc::clone(&waiting);
        move || {
            if let Some(waker) = waiting.lock().unwrap_or_else(|e| e.into_inner()).take() {
                waker.wake();
            }
        }
    });
    let mut call = std::pin::pin!(call);
    std::future::poll_fn(|cx| {
        // The waker first: a cancel after the check still wakes this.
        *waiting.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if cancel.is_cancelled() {
            return std::task::Poll::Ready(None);
        }
        call.as_mut().poll(cx).map(Some)
    })
    .await
}

/// Reads an exit code, a deadline or a trap out of a guest's result.
fn status_of(result: wasmtime::Result<i32>) -> Status {
    match result {
        Ok(code) => Status::Exited(code),
        Err(err) => {
            if let Some(exit) = err.downcast_ref::<I32Exit>() {
                Status::Exited(exit.0)
            } else if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
                Status::TimedOut
            } else if let Some(Trap::OutOfFuel) = err.downcast_ref::<Trap>() {
                Status::OutOfFuel
            } else if let Some(trap) = err.downcast_ref::<Trap>() {
                Status::Trapped(trap.to_string())
            } else {
                Status::Trapped(format!("{:#}", err.root_cause()))
            }
        }
    }
}
