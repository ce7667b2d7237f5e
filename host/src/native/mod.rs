//! Native commands (cargo, git, python ...) under the OS sandbox, with the
//! same policy as WASI tools.
//!
//! The host computes a [`Plan`] once: what is writable, which paths stay
//! read-only inside it, which secrets are hidden, whether there is network,
//! and the scrubbed environment. A backend per OS enforces it:
//! Linux with namespaces, Landlock and seccomp ([`linux`]), macOS with a
//! Seatbelt profile ([`seatbelt`]); elsewhere native commands are refused.

#[cfg(unix)]
mod descriptors;
pub mod env;
#[cfg(unix)]
pub mod git_commit;
pub mod scan;
pub mod seatbelt;
#[cfg(unix)]
mod spawn;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(target_os = "linux")]
pub use linux::{HELPER_ARG, helper::main as helper_main};
#[cfg(target_os = "macos")]
use macos as platform;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unsupported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
use unsupported as platform;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Becomes the sandbox helper, or an unsandboxed run's reaper, when this
/// process was started as one, and then never returns; else returns at
/// once. cordon starts its own binary as the helper of each native
/// command (it applies the sandbox, then runs the command) and as the
/// reaper of each approved unsandboxed one, so any program that runs
/// native commands through the library calls this first in `main`.
pub fn become_helper_if_asked() {
    #[cfg(target_os = "linux")]
    {
        let mut args = std::env::args_os();
        match args.nth(1) {
            Some(role) if role == HELPER_ARG => helper_main(
                &args
                    .next()
                    .and_then(|a| a.into_string().ok())
                    .unwrap_or_default(),
            ),
            Some(role) if role == linux::reaper::REAPER_ARG => {
                let fds: Vec<String> = args.filter_map(|a| a.into_string().ok()).collect();
                linux::reaper::main(&fds)
            }
            _ => {}
        }
    }
}

use crate::io::{Cancel, CappedOutput};
use crate::net::{Gate, NetAccess, proxy};
use crate::policy::{PROTECTED_NAMES, SandboxPolicy, protected_name};
use crate::violations::Violation;

/// What a native command reaches on the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanNetwork {
    /// No interfaces, no INET sockets, no TCP, no host unix sockets.
    #[default]
    Off,
    /// The host's network, shared.
    On,
    /// Only the host's proxy, at 127.0.0.1:[`proxy::PORT`] in the
    /// command's own network namespace (which needs namespaces).
    Proxy,
}

/// What the user chose for native commands beyond the shared policy.
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// Extra writable directories (`--writable`), canonical.
    pub writable: Vec<PathBuf>,
    /// The git-commit grant: what a commit writes in the policy's git
    /// directories is kept (see [`git_commit`]).
    pub git_commit: bool,
    /// Run without namespaces even where the kernel has them (a weaker
    /// mode: Landlock and seccomp alone).
    pub no_namespaces: bool,
    /// More paths that stay read-only wherever they fall in a writable tree
    /// (cordon's own config directory: rules and trusted projects; its
    /// compile cache).
    pub protected: Vec<PathBuf>,
    /// Files that must not be read wherever they are (the compile cache's
    /// key).
    pub hidden: Vec<PathBuf>,
    /// What the command's tree may use.
    pub limits: NativeLimits,
}

/// What a native command's tree may use; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeLimits {
    /// Memory for the whole tree, in bytes.
    pub memory_bytes: Option<u64>,
    /// Processes the tree may have at once.
    pub processes: Option<u64>,
}

/// Everything a backend enforces for one command, computed by the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// Absolute path of the program, and the argv it sees.
    pub program: PathBuf,
    /// The arguments the program sees, its name first.
    pub argv: Vec<String>,
    /// The working directory, absolute.
    pub cwd: PathBuf,
    /// The command's environment: the host's, scrubbed, with `PWD` set.
    pub env: Vec<(String, String)>,
    /// Writable trees (the root in workspace-write, `--writable` dirs); the
    /// per-run temporary directory is added by the backend.
    pub writable: Vec<PathBuf>,
    /// Paths inside writable trees that stay read-only, existing or not.
    pub protected: Vec<PathBuf>,
    /// The root, when it is writable and keeps its protected names: no
    /// [`PROTECTED_NAMES`] entry (`.cordon`) may be made in it. Where the
    /// kernel cannot hold an absent one read-only, the backend refuses to
    /// make the name (Linux: the supervisor, by the directory's identity).
    #[serde(default)]
    pub names_root: Option<PathBuf>,
    /// Files and directories that must not be read.
    pub secrets: Vec<PathBuf>,
    /// Directories on the way to a secret its path pattern names
    /// (`--secret config/prod.json`), outermost first: they must not be
    /// renamed, or the secret would move out from under its pattern.
    #[serde(default)]
    pub secret_dirs: Vec<PathBuf>,
    /// Git directories (resolved) whose commit writes are kept, under the
    /// git-commit grant: the command writes into a layer of its own over
    /// each, and only what [`git_commit`] keeps reaches it.
    #[serde(default)]
    pub git_commit: Vec<PathBuf>,
    /// What the command reaches on the network.
    pub network: PlanNetwork,
    /// Run without namespaces (Landlock and seccomp alone).
    pub no_namespaces: bool,
    /// What the command's tree may use.
    pub limits: NativeLimits,
}

impl Plan {
    /// Builds the plan for `argv` run as `program` under `policy`.
    ///
    /// `host_env` is the host's side of the command's environment; `home`
    /// is where the user's credential stores live.
    pub fn new(
        policy: &SandboxPolicy,
        options: &NativeOptions,
        program: PathBuf,
        argv: &[String],
        host_env: &env::HostEnvironment,
        home: Option<&Path>,
    ) -> Plan {
        let root = policy.root();
        let scan = scan::scan(root, &policy.secrets, home);
        let mut writable = Vec::new();
        let mut protected = Vec::new();
        if policy.writable() {
            writable.push(root.to_path_buf());
        }
        // Named explicitly (a flag or an approved grant): writable in any mode.
        writable.extend(options.writable.iter().cloned());
        if policy.protects_subpaths() {
            protected.extend(PROTECTED_NAMES.iter().map(|name| root.join(name)));
            protected.extend(scan.nested_git);
        }
        protected.extend(options.protected.iter().cloned());
        // Only what a command could otherwise write needs making read-only.
        protected.retain(|p| writable.iter().any(|w| p.starts_with(w)));
        let names_root = (policy.protects_subpaths()
            && writable.iter().any(|w| root.starts_with(w)))
        .then(|| root.to_path_buf());
        let git_commit = if options.git_commit {
            policy.commit_dirs.clone()
        } else {
            Vec::new()
        };
        // A git directory a commit may write is layered, not read-only.
        if !git_commit.is_empty() {
            protected.retain(|path| {
                // A `.git` symlink stays, to keep the way to it pinned.
                if path.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
                    return true;
                }
                let real = path.canonicalize().unwrap_or_else(|_| path.clone());
                !git_commit.iter().any(|dir| real.starts_with(dir))
            });
        }
        // Once each (`.git` is a protected name and a git directory), a
        // directory before what lies in it.
        protected.sort();
        protected.dedup();
        let mut secrets = scan.secrets;
        secrets.extend(options.hidden.iter().filter(|p| p.exists()).cloned());
        secrets.sort();
        secrets.dedup();
        let mut secret_dirs: Vec<PathBuf> = secrets
            .iter()
            .flat_map(|secret| secret.ancestors().skip(1))
            .filter(|dir| {
                dir.strip_prefix(root)
                    .is_ok_and(|rel| !rel.as_os_str().is_empty() && policy.secrets.may_hold(rel))
            })
            .map(Path::to_path_buf)
            .collect();
        secret_dirs.sort();
        secret_dirs.dedup();
        let mut env = host_env.with(policy.env());
        env.retain(|(k, _)| k != "PWD");
        env.push(("PWD".to_string(), policy.cwd_abs().display().to_string()));
        let network = match policy.network {
            NetAccess::Off => PlanNetwork::Off,
            NetAccess::On => PlanNetwork::On,
            NetAccess::Gated(_) => {
                drop_proxy_env(&mut env);
                env.extend(proxy::environment());
                PlanNetwork::Proxy
            }
        };
        Plan {
            program,
            argv: argv.to_vec(),
            cwd: policy.cwd_abs(),
            env,
            writable,
            protected,
            names_root,
            secrets,
            secret_dirs,
            git_commit,
            network,
            no_namespaces: options.no_namespaces,
            limits: options.limits,
        }
    }
}

impl Plan {
    /// Whether `path` names what the backend judges before making it,
    /// whatever the path it is made by (a `.git` anywhere, a protected
    /// name in [`Plan::names_root`], a name that can complete a git
    /// directory's shape): absent, it needs nothing holding its place. A
    /// placeholder with a shape name would be a name made unjudged, one
    /// that another run's command could complete a bare repository with.
    pub fn refuses_to_make(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        protected_name(name, false)
            || crate::gitdirs::is_shape_name(name)
            || (protected_name(name, true) && path.parent() == self.names_root.as_deref())
    }

    /// The plan with the host's network instead of the proxy (for a run a
    /// person approved without any sandbox).
    pub fn without_proxy(&mut self) {
        drop_proxy_env(&mut self.env);
        self.network = PlanNetwork::On;
    }
}

/// Removes the variables that point clients at a proxy.
fn drop_proxy_env(env: &mut Vec<(String, String)>) {
    let proxy_env = proxy::environment();
    env.retain(|(k, _)| !proxy_env.iter().any(|(p, _)| p == k));
}

/// How a native command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeStatus {
    /// Exit code, or 128 + the signal that killed it.
    Exited(i32),
    /// Killed when the timeout ran out.
    TimedOut,
}

/// The result of one native run.
#[derive(Debug)]
pub struct NativeOutcome {
    /// How it ended.
    pub status: NativeStatus,
    /// Bytes of stdout past the cap, dropped.
    pub stdout_dropped: u64,
    /// Bytes of stderr past the cap, dropped.
    pub stderr_dropped: u64,
    /// What the sandbox refused, as far as it could be observed: distinct
    /// refusals, at most [`crate::violations::MAX_KEPT`] read from stderr.
    pub violations: Vec<Violation>,
    /// Refusal lines past that bound, counted only.
    pub violations_more: u64,
    /// The layers that were in force, e.g. `landlock(abi 7)`.
    pub layers: Vec<String>,
}

/// Why a native command did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NativeError {
    /// A layer the policy needs is missing; the message says which and what
    /// weaker choice the user has.
    #[error("{0}")]
    LayerMissing(String),
    /// This OS has no native sandbox.
    #[error("native commands are not supported on this OS ({0}); WASI tools still run")]
    Unsupported(&'static str),
    /// Setting up the sandbox, starting the command or waiting for it
    /// failed; the message says what.
    #[error("native sandbox: {0}")]
    Setup(String),
}

/// One sandbox layer as `cordon doctor` shows it.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The layer's name (`landlock`, `seccomp` ...).
    pub name: &'static str,
    /// `Ok(detail)` when usable, `Err(why not)` when missing.
    pub state: Result<String, String>,
}

/// The layers this machine offers native commands.
pub fn layers() -> Vec<Layer> {
    platform::layers()
}

/// What the host attaches to one native run: streams, limits, and the
/// gate its proxy decides connections with.
pub struct NativeIo {
    /// A file or pipe to read, or `None` for the host's stdin.
    pub stdin: Option<std::fs::File>,
    /// Where the command's stdout goes, capped.
    pub stdout: CappedOutput,
    /// Where the command's stderr goes, capped.
    pub stderr: CappedOutput,
    /// How long the command may run before its tree is killed; `None`: no
    /// limit.
    pub timeout: Option<Duration>,
    /// Kills the command's tree when cancelled.
    pub cancel: Option<Cancel>,
    /// Required when the plan's network is [`PlanNetwork::Proxy`].
    pub gate: Option<Arc<Gate>>,
    /// The binary started as the sandbox helper (see
    /// [`become_helper_if_asked`]); `None`: this process's own.
    pub helper: Option<PathBuf>,
}

/// Runs `plan` under this OS's sandbox and waits for it.
///
/// # Errors
///
/// [`NativeError`]: a missing layer (fail closed), an unsupported OS, or a
/// sandbox that could not be set up. The command did not run.
pub fn run(plan: &Plan, io: NativeIo) -> Result<NativeOutcome, NativeError> {
    platform::run(plan, without_terminal(io)?)
}

/// `io` with a stdin that is not the person's terminal.
#[cfg(unix)]
fn without_terminal(mut io: NativeIo) -> Result<NativeIo, NativeError> {
    io.stdin = descriptors::stdin_without_terminal(io.stdin.take())
        .map_err(|e| NativeError::Setup(format!("opening /dev/null for stdin: {e}")))?;
    Ok(io)
}

#[cfg(not(unix))]
fn without_terminal(io: NativeIo) -> Result<NativeIo, NativeError> {
    Ok(io)
}

fn executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    path.is_file()
}

/// Finds `name` as an executable file: a name with a `/` relative to `cwd`
/// (the command's working directory), any other on `path` (a `PATH` value).
pub fn find_program(name: &str, path: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        let path = cwd.join(name);
        return executable(&path).then_some(path);
    }
    // An empty entry is the working directory, as is a relative one's
    // start (POSIX).
    path?
        .split(':')
        .map(|dir| cwd.join(dir).join(name))
        .find(|candidate| executable(candidate))
}

/// Runs `plan`'s command with no sandbox at all: only its environment and
/// limits apply, and (on Linux, where cordon may make a control group)
/// nothing it starts outlives it. For a person's explicit `unsandboxed`
/// approval, never as a fallback.
///
/// # Errors
///
/// [`NativeError::Setup`] when it cannot start.
#[cfg(unix)]
pub fn run_unsandboxed(plan: &Plan, io: NativeIo) -> Result<NativeOutcome, NativeError> {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(&plan.program);
    command
        .arg0(&plan.argv[0])
        .args(&plan.argv[1..])
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plan.cwd);
    let io = without_terminal(io)?;
    #[cfg(target_os = "linux")]
    return linux::run_unsandboxed(plan.limits, command, io);
    #[cfg(not(target_os = "linux"))]
    spawn::run_command(&mut command, io, Vec::new(), None)
}

/// Native commands need a unix system even unsandboxed.
#[cfg(not(unix))]
pub fn run_unsandboxed(_plan: &Plan, _io: NativeIo) -> Result<NativeOutcome, NativeError> {
    Err(NativeError::Unsupported(std::env::consts::OS))
}
