//! The Linux backend: cordon forks itself into new namespaces (pid 1 of
//! them), mounts the policy there, and starts the command, which restricts
//! itself with Landlock and seccomp before it executes. All of it is
//! cordon's own code running as the invoking user: no setuid helper.
//!
//! Why the single-threaded start matters: user namespaces can only be
//! entered by a single-threaded process, and a forked copy of a threaded
//! host must not allocate. The command line is single-threaded when it
//! gets here and forks directly; a threaded host re-executes its binary as
//! a helper (see [`helper`]) that starts single-threaded.

mod capabilities;
mod cgroup_tree;
pub mod helper;
mod landlock_rules;
mod limits;
mod metadata;
mod mounts;
mod names;
mod openat2;
mod proxy_listener;
pub mod reaper;
mod seccomp;
mod syscall_filter;
mod user_dir;

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::descriptors;
use super::git_commit;
use super::spawn::{self, Process};
use super::{Layer, NativeError, NativeIo, NativeLimits, NativeOutcome, Plan, PlanNetwork};
use crate::net::proxy::Proxy;
use reaper::Reaper;
use user_dir::UserDir;

/// cordon's own binary, as the process runs it: the file opened once
/// through `/proc/self/exe` (the inode that runs, whatever lies at its
/// path now), started as the helper through its descriptor. A command
/// that replaces the file at the binary's path (it may lie in a root, as
/// `target/debug/cordon` does in cordon's own repository) changes nothing
/// of what applies the sandbox.
fn own_binary() -> std::io::Result<PathBuf> {
    static OPENED: std::sync::OnceLock<std::io::Result<OwnedFd>> = std::sync::OnceLock::new();
    let opened = OPENED.get_or_init(|| {
        let binary = File::open("/proc/self/exe")?;
        // Above the numbers the helper's descriptors are moved to before
        // it starts, so that none of them takes this one's place.
        // SAFETY: fcntl on a descriptor `binary` owns; the duplicate is
        // owned here.
        let high = unsafe { libc::fcntl(binary.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
        if high < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor, owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(high) })
    });
    match opened {
        Ok(binary) => Ok(PathBuf::from(format!(
            "/proc/self/fd/{}",
            binary.as_raw_fd()
        ))),
        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
    }
}

/// First argument that turns the `cordon` binary into the helper.
pub const HELPER_ARG: &str = "__native-sandbox";

/// The descriptor on which the helper reports its layers or why it failed;
/// it closes (close-on-exec) when the command starts.
const STATUS_FD: i32 = 3;

/// Where a re-executed helper finds the channel for the proxy listener.
const PROXY_FD: i32 = 4;
/// Where a re-executed helper finds the git-shape lock.
const SHAPE_LOCK_FD: i32 = 5;

/// What the helper receives, as JSON in its argument list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub plan: Plan,
    /// The command's private temporary directory (TMPDIR): with
    /// namespaces a tmpfs of its own mounted here (an empty directory of
    /// cordon's, kept); without, a directory made here for the run by the
    /// supervisor, which removes it afterwards.
    pub tmpdir: PathBuf,
    /// An empty file and an empty directory, never writable by the command,
    /// mounted over what must not be read.
    pub mask_file: PathBuf,
    pub mask_dir: PathBuf,
    /// With `--network allow=`: the unix socket on which the helper hands
    /// the host the proxy's listening socket.
    pub proxy_fd: Option<i32>,
    /// Where the process supervising the command reports its exit code
    /// (a forked helper only).
    pub exit_fd: Option<i32>,
    /// The control group's `cgroup.procs` files the sandbox's first
    /// process joins, and the layer it makes; empty: per-process limits.
    pub cgroup_join: Vec<PathBuf>,
    pub cgroup_layer: Option<String>,
    /// With namespaces and no memory limit: the process count the pid
    /// namespace holds itself (its own `pid_max`), with no control group
    /// to join (see [`limits::pid_namespace_cap`]).
    #[serde(default)]
    pub pid_cap: Option<u64>,
    /// Under the git-commit grant: cordon's staging directory, whose
    /// layers the overlays over the plan's git directories write to (see
    /// [`crate::native::git_commit`]).
    #[serde(default)]
    pub commit_stage: Option<PathBuf>,
    /// The lock the supervisor holds around making a name that can shape
    /// a git directory (see [`crate::shape_lock`]).
    #[serde(default)]
    pub shape_lock_fd: Option<i32>,
}

/// The most processes a pids control group counts to (the kernel's
/// `PID_MAX_LIMIT`): the group of an unsandboxed run with no limit of its
/// own holds its tree, not its count.
const PIDS_MAX: u64 = 4_194_304;

/// Runs an approved unsandboxed `command` in a control group of its own
/// (joined before it executes), whose every process a [`Reaper`] kills
/// at a cancel, a timeout and the run's end, and if cordon is killed:
/// what it started, `setsid` or not, goes with it, as the sandbox's pid
/// namespace takes a sandboxed command's tree. Where no group can be
/// made, its process group only, with the memory limit per process, and
/// the layer says so.
pub fn run_unsandboxed(
    limits: NativeLimits,
    mut command: Command,
    io: NativeIo,
) -> Result<NativeOutcome, NativeError> {
    let counted = NativeLimits {
        processes: Some(limits.processes.unwrap_or(PIDS_MAX)),
        ..limits
    };
    let group = match limits::Group::create(counted) {
        Ok(group) => group,
        Err(why) => {
            let layer = per_process_memory(&mut command, limits.memory_bytes, &why);
            return spawn::run_command(&mut command, io, vec![layer], None);
        }
    };
    let binary = match io.helper.clone() {
        Some(helper) => helper,
        None => {
            own_binary().map_err(|e| NativeError::Setup(format!("cordon's own binary: {e}")))?
        }
    };
    let reaper = std::sync::Arc::new(Reaper::start(&binary, group.trees())?);
    join_before_exec(&mut command, &group.join_files())?;
    let layer = format!("tree({}, killed with the run)", group.describe(limits));
    let kill = std::sync::Arc::clone(&reaper);
    let ran = spawn::run_command(
        &mut command,
        io,
        vec![layer],
        Some(std::sync::Arc::new(move || kill.kill())),
    );
    // Every other holder (the cancel hook, the watchdog) is gone with the
    // run. A reaper that did not see it through (killed, say): cordon
    // kills the tree itself.
    let reaped = std::sync::Arc::try_unwrap(reaper).is_ok_and(Reaper::end);
    if !reaped {
        group.kill_all();
    }
    ran
}

/// Has `command` join the control group through `join_files` before it
/// executes; it does not start if it cannot.
fn join_before_exec(command: &mut Command, join_files: &[PathBuf]) -> Result<(), NativeError> {
    use std::os::unix::ffi::OsStrExt;
    let join: Vec<std::ffi::CString> = join_files
        .iter()
        .map(|file| std::ffi::CString::new(file.as_os_str().as_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|e| NativeError::Setup(format!("the run's control group: {e}")))?;
    // SAFETY: open, write and close only, on paths made before the fork.
    unsafe {
        command.pre_exec(move || {
            for file in &join {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// Without a control group: `memory` (if any) as each process's
/// RLIMIT_DATA; the layer saying what holds and what does not.
fn per_process_memory(command: &mut Command, memory: Option<u64>, why: &str) -> String {
    let tree = format!(
        "tree(its process group only: {why}, so what calls setsid outlives the run; \
         processes not counted"
    );
    let Some(bytes) = memory else {
        return format!("{tree})");
    };
    // SAFETY: setrlimit only, on a value computed before the fork.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    format!("{tree}; memory {} MiB per process)", bytes >> 20)
}

pub fn run(plan: &Plan, mut io: NativeIo) -> Result<NativeOutcome, NativeError> {
    let setup = |what: &str, err: std::io::Error| NativeError::Setup(format!("{what}: {err}"));
    let user_dir = UserDir::open().map_err(|e| setup("cordon's directory", e))?;
    let (mask_file, mask_dir) = user_dir.masks().map_err(|e| setup("mask", e))?;
    let tmpdir = user_dir
        .temporary()
        .map_err(|e| setup("temporary directory", e))?;
    let shape_lock =
        crate::shape_lock::ShapeLock::open().map_err(|e| setup("the git-shape lock", e))?;
    // Runs on one root share its placeholders; the last one out removes them.
    let placeholders = user_dir.lock_placeholders(&plan.writable)?;
    let mut plan = plan.clone();
    // Held by a command, the git-shape lock would keep every run from
    // making those names: hidden as a secret is.
    plan.secrets
        .push(crate::shape_lock::ShapeLock::path().map_err(|e| setup("the git-shape lock", e))?);
    // The sandbox sets it once it knows where the directory is.
    plan.env.retain(|(k, _)| k != "TMPDIR");
    // Absent protected paths get placeholders to hold their read-only
    // mounts, but for names the supervisor refuses to make.
    let absent_protected: Vec<PathBuf> = plan
        .protected
        .iter()
        .filter(|p| p.symlink_metadata().is_err() && !plan.refuses_to_make(p))
        .cloned()
        .collect();
    let proxy_channel = match (plan.network, &io.gate) {
        (PlanNetwork::Proxy, None) => {
            return Err(NativeError::Setup(
                "--network allow= without a gate to decide connections".into(),
            ));
        }
        (PlanNetwork::Proxy, Some(_)) => Some(socketpair().map_err(|e| setup("socketpair", e))?),
        _ => None,
    };
    // The tree's limits: the pid namespace's own cap where it holds them
    // all, else a control group where cordon may make one.
    let pid_cap = (!plan.no_namespaces)
        .then(|| limits::pid_namespace_cap(plan.limits))
        .flatten();
    let cgroup = (plan.limits != NativeLimits::default() && pid_cap.is_none())
        .then(|| limits::Group::create(plan.limits).ok())
        .flatten();
    // Under the git-commit grant: where the command's writes to the git
    // directories go until cordon keeps the commit's part of them.
    let stage = match plan.git_commit.is_empty() {
        true => None,
        false => Some(
            git_commit::Stage::new(user_dir.path(), &plan.git_commit)
                .map_err(|e| setup("the git-commit staging directory", e))?,
        ),
    };
    let mut spec = Spec {
        commit_stage: stage.as_ref().map(|s| s.path().to_path_buf()),
        cgroup_join: cgroup
            .as_ref()
            .map(limits::Group::join_files)
            .unwrap_or_default(),
        cgroup_layer: cgroup.as_ref().map(|g| g.describe(plan.limits)),
        pid_cap,
        plan,
        tmpdir,
        mask_file,
        mask_dir,
        proxy_fd: proxy_channel.as_ref().map(|(_, child)| child.as_raw_fd()),
        exit_fd: None,
        shape_lock_fd: Some(shape_lock.as_raw_fd()),
    };
    let (proxy_host, proxy_child) = proxy_channel.unzip();
    let (stdin, pump) =
        descriptors::piped_stdin(io.stdin.take()).map_err(|e| setup("stdin pipe", e))?;
    let launched = launch(&mut spec, stdin, proxy_child, io.helper.as_deref())?;
    // After the launch: a thread of its own would make this process take
    // the slower, re-executed way into the namespaces.
    if let Some(pump) = pump {
        pump.start();
    }
    let group = launched.pid;
    let (watched, listener, layers) = match confirm_start(launched, &io, proxy_host.as_ref()) {
        Ok(started) => started,
        Err(failure) => {
            spawn::kill_group(group);
            spawn::reap(group);
            placeholders.release(&absent_protected);
            return Err(failure);
        }
    };

    let proxy = listener
        .zip(io.gate.clone())
        .map(|(listener, gate)| Proxy::serve(listener, gate));
    let ended = watched.wait();
    if let Some(cgroup) = &cgroup {
        cgroup.kill_all();
    }
    if let Some(proxy) = proxy {
        proxy.stop();
    }
    // Nothing of the command runs any more: its placeholders can go while
    // the last of its output arrives.
    placeholders.release(&absent_protected);
    let (status, (mut violations, mut violations_more)) = ended?.drain();
    let mut layers = layers;
    if let Some(stage) = stage {
        let kept = git_commit::keep(stage.path(), &spec.plan.git_commit, &spec.plan.writable);
        layers.push(format!(
            "git-commit({} changes kept in {})",
            kept.changes,
            spec.plan
                .git_commit
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        violations.splice(0..0, kept.left);
        violations_more += kept.left_more;
    }
    Ok(NativeOutcome {
        status,
        stdout_dropped: io.stdout.dropped(),
        stderr_dropped: io.stderr.dropped(),
        violations,
        violations_more,
        layers,
    })
}

/// Starts watching the sandbox and reads its report until the command
/// starts: the layers it set up and, with a proxy, the listener it handed
/// over; or why the command does not run.
fn confirm_start(
    launched: Launched,
    io: &NativeIo,
    proxy_host: Option<&OwnedFd>,
) -> Result<(spawn::Watched, Option<TcpListener>, Vec<String>), NativeError> {
    // The deadline runs while the sandbox is set up. Output is copied
    // once the command runs: nothing before it writes any.
    let watched = spawn::watch(launched.process, io)?;
    // Before the status: the helper sends it before reporting its layers.
    let listener = match proxy_host {
        Some(channel) => proxy_listener::receive(channel)
            .map_err(|e| NativeError::Setup(format!("proxy listener: {e}")))?,
        None => None,
    };
    let mut report = String::new();
    let _ = { launched.status }.read_to_string(&mut report);
    let mut layers = Vec::new();
    for line in report.lines() {
        match line.split_once(' ') {
            Some(("layer", layer)) => layers.push(layer.to_string()),
            Some(("missing", why)) => return Err(NativeError::LayerMissing(why.to_string())),
            Some(("error", why)) => return Err(NativeError::Setup(why.to_string())),
            _ => {}
        }
    }
    if layers.is_empty() {
        return Err(NativeError::Setup(
            "the sandbox helper ended before the command started (a program that embeds \
             cordon calls cordon::native::become_helper_if_asked() first in main)"
                .into(),
        ));
    }
    if proxy_host.is_some() && listener.is_none() {
        return Err(NativeError::Setup(
            "the sandbox helper did not hand over the proxy listener".into(),
        ));
    }
    Ok((watched, listener, layers))
}

/// A started helper: its process and the read end of its status pipe.
struct Launched {
    pid: i32,
    process: Process,
    status: File,
}

/// Starts the sandbox. A single-threaded host (the command line) forks into
/// it and runs the helper's code directly; a threaded one (a library user)
/// must not set up namespaces in a forked copy of itself, so it re-executes
/// its own binary as the helper, passing the plan as JSON.
fn launch(
    spec: &mut Spec,
    stdin: Option<File>,
    proxy_child: Option<OwnedFd>,
    helper: Option<&Path>,
) -> Result<Launched, NativeError> {
    let setup = |what: &str, err: std::io::Error| NativeError::Setup(format!("{what}: {err}"));
    let (status_read, status_write) = pipe().map_err(|e| setup("pipe", e))?;
    if single_threaded() {
        let (out_read, out_write) = pipe().map_err(|e| setup("pipe", e))?;
        let (err_read, err_write) = pipe().map_err(|e| setup("pipe", e))?;
        let (exit_read, exit_write) = pipe().map_err(|e| setup("pipe", e))?;
        spec.exit_fd = Some(exit_write.as_raw_fd());
        let side = helper::fork_sandbox(&spec.plan).map_err(|failure| match failure {
            helper::Failure::Missing(why) => NativeError::LayerMissing(why),
            helper::Failure::Error(why) => NativeError::Setup(why),
        })?;
        let pid = match side {
            helper::Side::Parent(pid) => pid,
            helper::Side::Child(namespaces) => {
                // The host's ends stay with the host: the helper must see
                // the status pipe break if the host goes away.
                drop((out_read, err_read, exit_read, status_read));
                // SAFETY: descriptors owned by this process; the originals are
                // close-on-exec.
                unsafe {
                    libc::setpgid(0, 0);
                    libc::dup2(out_write.as_raw_fd(), 1);
                    libc::dup2(err_write.as_raw_fd(), 2);
                    if let Some(stdin) = &stdin {
                        libc::dup2(stdin.as_raw_fd(), 0);
                    }
                }
                // Only 1 and 2 may keep the output open: the host reads it
                // to its end once they close.
                drop((out_write, err_write));
                helper::run(spec, File::from(status_write), namespaces);
            }
        };
        // SAFETY: the child's own group, set here too so a kill cannot race
        // the child's setpgid.
        unsafe { libc::setpgid(pid, pid) };
        return Ok(Launched {
            pid,
            process: Process {
                pid,
                stdout: File::from(out_read),
                stderr: File::from(err_read),
                exit: Some(File::from(exit_read)),
                tree: None,
            },
            status: File::from(status_read),
        });
    }
    let raw_shape_lock = spec.shape_lock_fd;
    let mut json = serde_json::to_value(spec).map_err(|e| NativeError::Setup(e.to_string()))?;
    if proxy_child.is_some() {
        json["proxy_fd"] = PROXY_FD.into();
    }
    if raw_shape_lock.is_some() {
        json["shape_lock_fd"] = SHAPE_LOCK_FD.into();
    }
    let json = json.to_string();
    let exe = match helper {
        Some(helper) => helper.to_path_buf(),
        None => own_binary().map_err(|e| setup("cordon's own binary", e))?,
    };
    let mut command = Command::new(exe);
    command
        .arg(HELPER_ARG)
        .arg(json)
        .env_clear()
        .stdin(stdin.map_or_else(Stdio::inherit, Stdio::from))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let raw_status = status_write.as_raw_fd();
    let raw_proxy = proxy_child.as_ref().map(AsRawFd::as_raw_fd);
    // SAFETY: dup2 and fcntl are async-signal-safe; they run between fork and
    // exec and leave the status pipe, the proxy channel and the lock at
    // fixed numbers without close-on-exec.
    unsafe {
        command.pre_exec(move || {
            let fixed = [
                (Some(raw_status), STATUS_FD),
                (raw_proxy, PROXY_FD),
                (raw_shape_lock, SHAPE_LOCK_FD),
            ];
            // Each moved above the fixed numbers first: one may already sit
            // where another goes.
            let mut high = [-1; 3];
            for (i, (raw, _)) in fixed.iter().enumerate() {
                if let Some(raw) = raw {
                    high[i] = libc::fcntl(*raw, libc::F_DUPFD_CLOEXEC, 10);
                    if high[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            for (from, (_, at)) in high.iter().zip(fixed) {
                if *from >= 0 && libc::dup2(*from, at) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| setup("starting the helper", e))?;
    let process = Process::from_child(child);
    Ok(Launched {
        pid: process.pid,
        process,
        status: File::from(status_read),
    })
}

/// Whether this process has a single thread (read from /proc).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| tasks.count() == 1)
}

/// A connected pair of unix stream sockets, close-on-exec.
fn socketpair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills both descriptors on success; each is owned once.
    unsafe {
        if libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is owned once.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

/// The layers this kernel offers, probed without running anything.
pub fn layers() -> Vec<Layer> {
    vec![
        Layer {
            name: "landlock",
            state: landlock_rules::kernel_abi()
                .map(|abi| format!("ABI {abi}: filesystem; TCP from ABI 4; scopes from ABI 6")),
        },
        Layer {
            name: "seccomp",
            state: seccomp::available().map(|()| "filter mode".to_string()),
        },
        Layer {
            name: "limits",
            state: Ok(limits::available()),
        },
        Layer {
            name: "namespaces",
            state: helper::probe_namespaces()
                .map(|kinds| format!("{kinds}: mounts, secrets masked, own pids, no network")),
        },
    ]
}
