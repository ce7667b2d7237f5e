//! The helper: the code that sets up the sandbox in a process of its own
//! and executes the command. It reports each layer, or why it could not
//! set one up, on the status descriptor; the host refuses to go on without
//! that report.
//!
//! Order matters: the process is created in its namespaces (pid 1 of its
//! own pid namespace, with the privileges that Landlock and seccomp take
//! away later), mounts the plan, then forks the command, which restricts
//! itself with Landlock and seccomp and executes. pid 1 stays behind as
//! the command's init. Without namespaces a plain child supervises the
//! command instead, as the subreaper of its tree.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{
    STATUS_FD, Spec, capabilities, landlock_rules, limits, metadata, mounts, proxy_listener,
    seccomp,
};
use crate::native::{NativeLimits, Plan, PlanNetwork};
use crate::native::{descriptors, spawn};

/// A setup step that failed: `Missing` when a layer the policy needs is
/// absent (the user may choose a weaker mode), `Error` otherwise.
pub enum Failure {
    Missing(String),
    Error(String),
}

impl Failure {
    pub fn error(what: &str, err: impl std::fmt::Display) -> Failure {
        Failure::Error(format!("{what}: {err}"))
    }

    pub fn last_os(what: &str) -> Failure {
        Failure::error(what, std::io::Error::last_os_error())
    }
}

/// The namespaces a sandbox process was created in.
#[derive(Clone, Copy)]
pub struct Namespaces {
    /// The ids to map in a new user namespace; `None` when root made the
    /// others without one.
    user: Option<(libc::uid_t, libc::gid_t)>,
    net: bool,
}

impl Namespaces {
    fn kinds(self) -> String {
        let mut kinds = Vec::new();
        if self.user.is_some() {
            kinds.push("user");
        }
        kinds.extend(["mount", "pid", "ipc"]);
        if self.net {
            kinds.push("net");
        }
        kinds.join(",")
    }
}

/// Which side of [`fork_sandbox`] a process is on.
pub enum Side {
    Parent(libc::pid_t),
    /// The new process: pid 1 of new namespaces, or a plain child where
    /// the kernel refused them or the plan runs without.
    Child(Option<Namespaces>),
}

/// Forks this single-threaded process into new user, mount, pid, ipc and
/// (unless the network is shared) network namespaces, made as the child
/// is created, so the child is pid 1 of its pid namespace with no process
/// between it and the caller. Root may make them without a user namespace.
/// Where the kernel refuses, a plain fork: Landlock and seccomp alone then
/// hold the plan, whose rules are built for that.
pub fn fork_sandbox(plan: &Plan) -> Result<Side, Failure> {
    if !plan.no_namespaces {
        // SAFETY: these cannot fail.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let net = plan.network != PlanNetwork::On;
        let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC;
        if net {
            flags |= libc::CLONE_NEWNET;
        }
        let attempts = [
            (flags | libc::CLONE_NEWUSER, Some((uid, gid))),
            (flags, None),
        ];
        for (flags, user) in attempts {
            if user.is_none() && uid != 0 {
                break;
            }
            match fork_into(flags) {
                Ok(0) => return Ok(Side::Child(Some(Namespaces { user, net }))),
                Ok(pid) => return Ok(Side::Parent(pid)),
                Err(_) => continue,
            }
        }
    }
    match fork_into(0) {
        Ok(0) => Ok(Side::Child(None)),
        Ok(pid) => Ok(Side::Parent(pid)),
        Err(err) => Err(Failure::error("fork", err)),
    }
}

/// fork(2) that creates the namespaces in `flags` for the child.
fn fork_into(flags: libc::c_int) -> std::io::Result<libc::pid_t> {
    if flags == 0 {
        // SAFETY: the caller is single-threaded.
        let pid = unsafe { libc::fork() };
        return if pid < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(pid)
        };
    }
    let flags = (flags | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: clone without CLONE_VM or a new stack is fork: the child goes
    // on with a copy of this single-threaded process. libc's fork would
    // also run at-fork handlers (no lock is held with one thread) and
    // refresh its cached thread id, which only pthread_kill and owner-
    // checking pthread mutexes read; the sandbox's processes use neither.
    #[cfg(not(target_arch = "s390x"))]
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    // SAFETY: as above; s390x takes the stack first.
    #[cfg(target_arch = "s390x")]
    let pid = unsafe { libc::syscall(libc::SYS_clone, 0usize, flags, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(pid as libc::pid_t)
}

/// The re-executed helper's entry point (a threaded host cannot fork into
/// namespaces itself): the plan as JSON, the status pipe at [`STATUS_FD`].
/// It waits for the sandbox it forks and exits with its status. Never
/// returns.
pub fn main(spec: &str) -> ! {
    // SAFETY: the host put the status pipe at STATUS_FD before exec; this is
    // its only owner here.
    let mut status = unsafe { File::from_raw_fd(STATUS_FD) };
    // SAFETY: plain fcntl on the descriptor owned above.
    unsafe { libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    let spec = match serde_json::from_str::<Spec>(spec) {
        Ok(spec) => spec,
        Err(e) => fail(&mut status, Failure::error("reading the sandbox plan", e)),
    };
    // What the threaded host had open came along through its spawn.
    let proxy = spec.proxy_fd.unwrap_or(-1);
    let shape_lock = spec.shape_lock_fd.unwrap_or(-1);
    if let Err(e) = descriptors::close_all_but([0, 1, 2, STATUS_FD, proxy, shape_lock]) {
        fail(
            &mut status,
            Failure::error("closing inherited descriptors", e),
        );
    }
    if let Err(failure) = die_with_parent() {
        fail(&mut status, failure);
    }
    match fork_sandbox(&spec.plan) {
        Ok(Side::Parent(child)) => {
            drop(status);
            supervise(child, Tree::Child, None, None, None)
        }
        Ok(Side::Child(namespaces)) => run(&spec, status, namespaces),
        Err(failure) => fail(&mut status, failure),
    }
}

/// The new process of [`fork_sandbox`]: sets up the sandbox and executes
/// the command in a child, reporting on `status`; on failure reports why
/// and exits 125. Never returns.
pub fn run(spec: &Spec, mut status: File, namespaces: Option<Namespaces>) -> ! {
    // Nothing the host had open stays in the sandbox's processes: not in
    // the command (see `exec`), nor in those that supervise it.
    let keep = [
        0,
        1,
        2,
        status.as_raw_fd(),
        spec.exit_fd.unwrap_or(-1),
        spec.proxy_fd.unwrap_or(-1),
        spec.shape_lock_fd.unwrap_or(-1),
    ];
    if let Err(e) = descriptors::close_all_but(keep) {
        fail(
            &mut status,
            Failure::error("closing inherited descriptors", e),
        );
    }
    // Before anything else can start: all that follows is in the group.
    if let Err(failure) = limits::join(&spec.cgroup_join) {
        fail(&mut status, failure);
    }
    let result = match namespaces {
        Some(namespaces) => init(spec, &mut status, namespaces),
        None => supervisor(spec, &mut status),
    };
    match result {
        Ok(never) => match never {},
        Err(failure) => fail(&mut status, failure),
    }
}

fn fail(status: &mut File, failure: Failure) -> ! {
    let line = match failure {
        Failure::Missing(why) => format!("missing {why}\n"),
        Failure::Error(why) => format!("error {why}\n"),
    };
    let _ = status.write_all(line.as_bytes());
    // SAFETY: _exit skips the atexit handlers and buffers of a forked copy
    // of the host.
    unsafe { libc::_exit(125) }
}

/// pid 1 of the sandbox's namespaces: maps its user, hands over the proxy
/// listener, mounts the plan and forks the command, whose init it stays.
/// The kernel spares pid 1 the default action of signals (SIGPIPE,
/// SIGTERM, SIGINT): the command must be another process.
fn init(spec: &Spec, status: &mut File, namespaces: Namespaces) -> Result<Infallible, Failure> {
    die_with_parent()?;
    if let Some((uid, gid)) = namespaces.user {
        for (file, map) in [
            ("setgroups", "deny".to_string()),
            ("uid_map", format!("{uid} {uid} 1")),
            ("gid_map", format!("{gid} {gid} 1")),
        ] {
            std::fs::write(format!("/proc/self/{file}"), map)
                .map_err(|e| Failure::error(&format!("writing /proc/self/{file}"), e))?;
        }
    }
    if let Some(channel) = spec.proxy_fd {
        proxy_listener::open_and_send(channel)?;
        // SAFETY: the channel is not used again; nothing after this may
        // inherit it.
        unsafe { libc::close(channel) };
    }
    mounts::apply(spec, namespaces.user.is_some())?;
    let mut layers = vec![format!("namespaces({})", namespaces.kinds())];
    // Its /proc is mounted: the namespace's own pid_max caps the tree.
    if let Some(processes) = spec.pid_cap {
        layers.push(limits::cap_pid_namespace(processes)?);
    }
    spawn_command(
        spec,
        status,
        Tree::Namespace,
        layers,
        namespaces.user.is_some(),
    )
}

/// Without namespaces: forks the command and supervises it as the
/// subreaper of its tree.
fn supervisor(spec: &Spec, status: &mut File) -> Result<Infallible, Failure> {
    die_with_parent()?;
    if spec.proxy_fd.is_some() {
        return Err(Failure::Missing(
            "network namespaces, which --network allow= needs for native commands \
             (the proxy must be all the command can reach); choose --network on or off"
                .into(),
        ));
    }
    if !spec.plan.git_commit.is_empty() {
        return Err(Failure::Missing(
            "namespaces, which the git-commit grant needs (a commit's writes are kept \
             apart in a mount namespace until the command ends)"
                .into(),
        ));
    }
    // No namespace to hold a temporary directory: a real one, removed
    // when the command ends.
    let tmpdir = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&spec.tmpdir)
        .map_err(|e| Failure::error("temporary directory", e))?
        .keep();
    let spec = Spec {
        tmpdir,
        ..spec.clone()
    };
    // Here, before the command starts: the supervisor acts for it on
    // metadata calls, with the same powers.
    let layers = capabilities::keep_file_powers()?.into_iter().collect();
    spawn_command(&spec, status, Tree::Subreaper, layers, false)
}

/// Stack of the command's process until it executes the command (it runs
/// Landlock's and seccomp's setup, no more).
const COMMAND_STACK: usize = 1 << 20;

/// What the command's process is handed, in the memory it shares with the
/// supervisor until it executes.
struct Job<'a> {
    spec: &'a Spec,
    status: &'a mut File,
    layers: Vec<String>,
    tree: Tree,
    user_namespace: bool,
    supervisor: libc::pid_t,
    metadata_channel: RawFd,
    /// The rules the supervisor restricted itself with, which the
    /// command's process stacks again.
    landlock: landlock_rules::Rules,
}

/// Starts the command's process and stays behind to supervise it as
/// `tree`. The process shares this one's memory until it executes the
/// command (or fails), while this one waits (`CLONE_VM | CLONE_VFORK`, as
/// posix_spawn does): no copy of the address space to make and then throw
/// away at exec. It runs on a stack of its own with a guard page below.
fn spawn_command(
    spec: &Spec,
    status: &mut File,
    tree: Tree,
    layers: Vec<String>,
    user_namespace: bool,
) -> Result<Infallible, Failure> {
    extern "C" fn command(job: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the Job below, alive while this process shares the
        // memory (the parent waits for it to execute or end).
        let job = unsafe { &mut *job.cast::<Job>() };
        match restrict_and_exec(job) {
            Ok(never) => match never {},
            Err(failure) => fail(job.status, failure),
        }
    }
    let page = 4096;
    // SAFETY: a fresh private mapping; the lowest page becomes the guard.
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            COMMAND_STACK + page,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    // SAFETY: the guard page lies in the mapping just made.
    if stack == libc::MAP_FAILED || unsafe { libc::mprotect(stack, page, libc::PROT_NONE) } != 0 {
        return Err(Failure::last_os("the command's stack"));
    }
    // The calls that make names (and, without namespaces, the metadata
    // calls) are the supervisor's to decide: the command's process hands it
    // the listener on this channel.
    let (area, host, channel, landlock) = metadata_supervision(spec, tree)?;
    let mut job = Job {
        spec,
        status,
        layers,
        tree,
        user_namespace,
        supervisor: std::process::id() as libc::pid_t,
        metadata_channel: channel.as_raw_fd(),
        landlock,
    };
    // SAFETY: the stack grows down from the end of the mapping; `job`
    // outlives the child's use of it (CLONE_VFORK returns once the child
    // executed or ended).
    let pid = unsafe {
        libc::clone(
            command,
            stack.cast::<u8>().add(COMMAND_STACK + page).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut job).cast(),
        )
    };
    if pid < 0 {
        return Err(Failure::last_os("starting the command"));
    }
    // SAFETY: the descriptor is not used again in this process; only the
    // command's process reports, and the pipe must close at its exec.
    unsafe { libc::close(job.status.as_raw_fd()) };
    let made = (tree == Tree::Subreaper).then_some(spec.tmpdir.as_path());
    // It acts with the powers the command has now that it executed.
    let equal = match tree {
        Tree::Namespace => capabilities::as_executed(),
        _ => Ok(()),
    };
    let guard = match metadata::receive_listener(host.as_raw_fd()) {
        Some(listener) if equal.is_ok() => Some((area, listener)),
        // The command's process ended without handing it over (it reported
        // why), or the supervisor could not act as it: nothing may run
        // unsupervised.
        _ => {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            None
        }
    };
    supervise(pid, tree, spec.exit_fd, made, guard)
}

/// What supervising the command's calls needs: the area metadata may
/// change in, a channel (the supervisor's end, the command's end) for the
/// listener, and the command's Landlock rules. The supervisor restricts
/// itself here with them: the command's domain then lies within its own,
/// and what it does for the command the kernel judges as the command's.
fn metadata_supervision(
    spec: &Spec,
    tree: Tree,
) -> Result<(metadata::Area, OwnedFd, OwnedFd, landlock_rules::Rules), Failure> {
    let writable: Vec<_> = spec.plan.writable.iter().chain([&spec.tmpdir]).collect();
    let mut area = metadata::Area::new(writable, &metadata::excluded(&spec.plan))
        .map_err(|e| Failure::error("the writable area", e))?;
    // SAFETY: handed down for this process alone, which takes it once; the
    // command's process closes it before it executes.
    area.names.shape_lock = spec
        .shape_lock_fd
        .map(|fd| unsafe { crate::shape_lock::ShapeLock::from_raw_fd(fd) });
    // Where no `.cordon` may be made: the root as it is now, mounted.
    area.names.root = match &spec.plan.names_root {
        Some(root) => Some(
            std::fs::metadata(root)
                .map(|m| (m.dev(), m.ino()))
                .map_err(|e| Failure::error("the root", e))?,
        ),
        None => None,
    };
    let (host, child) = super::socketpair().map_err(|e| Failure::error("socketpair", e))?;
    let landlock = landlock_rules::rules(spec, tree == Tree::Namespace)?;
    landlock.restrict()?;
    // Out of any directory a mount hides from the command: nothing the
    // supervisor opens for it may start there (the command's process
    // enters its own working directory before it executes).
    std::env::set_current_dir("/").map_err(|e| Failure::error("entering /", e))?;
    Ok((area, host, child, landlock))
}

/// The command's process: limits, Landlock (the supervisor's rules
/// stacked again), seccomp, the report, exec.
fn restrict_and_exec(job: &mut Job) -> Result<Infallible, Failure> {
    let (spec, tree, user_namespace) = (job.spec, job.tree, job.user_namespace);
    let mut layers = std::mem::take(&mut job.layers);
    die_with_parent()?;
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } != job.supervisor && tree == Tree::Subreaper {
        return Err(Failure::Error("the supervisor ended before setup".into()));
    }
    let namespaces = tree == Tree::Namespace;
    if namespaces {
        // Without namespaces the supervisor dropped them for both.
        layers.extend(capabilities::keep_file_powers()?);
    }
    limits::forbid_core_files()?;
    match &spec.cgroup_layer {
        Some(layer) => layers.push(layer.clone()),
        None if spec.plan.limits != NativeLimits::default() && spec.pid_cap.is_none() => {
            layers.push(limits::apply_rlimits(spec.plan.limits, user_namespace)?);
        }
        None => {}
    }
    layers.push(job.landlock.restrict()?);
    layers.extend(seccomp::apply(
        spec.plan.network,
        landlock_rules::confines_unix_sockets(),
        job.metadata_channel,
        !namespaces,
    )?);
    let report: String = layers.iter().map(|l| format!("layer {l}\n")).collect();
    // A host that ended before its child could ask to die with it reads
    // nothing any more: the write fails and the command does not run.
    job.status
        .write_all(report.as_bytes())
        .map_err(|e| Failure::error("reporting to cordon", e))?;
    exec(spec)
}

fn die_with_parent() -> Result<(), Failure> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(Failure::last_os("PR_SET_PDEATHSIG"));
    }
    Ok(())
}

/// What a supervising process answers for once its child ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// pid 1 of the namespaces: every other process in them.
    Namespace,
    /// Without namespaces: the command's tree, re-parented to this
    /// process as its subreaper.
    Subreaper,
    /// The re-executed helper waits for pid 1, which does the rest.
    Child,
}

/// Waits for `child`, kills what it left behind, removes the temporary
/// directory it `made` for it, and exits with its status. Where the host
/// gave an exit descriptor, the status goes there first, once nothing of
/// the command runs any more: the host then need not wait for the kernel
/// to take the namespaces down.
fn supervise(
    child: libc::pid_t,
    tree: Tree,
    exit_fd: Option<i32>,
    made: Option<&Path>,
    metadata: Option<(metadata::Area, OwnedFd)>,
) -> ! {
    if tree == Tree::Subreaper {
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let waited = match &metadata {
        Some((area, listener)) => area.serve(listener, child),
        None => spawn::wait(child),
    };
    if waited.is_err() {
        // SAFETY: our own child.
        unsafe { libc::kill(child, libc::SIGKILL) };
    }
    match tree {
        Tree::Namespace => kill_namespace(),
        Tree::Subreaper => kill_descendants(),
        Tree::Child => {}
    }
    // Only now: while the listener is open no process can install one of
    // its own (the kernel allows one per filter chain), and none is left.
    drop(metadata);
    let Ok(status) = waited else {
        // SAFETY: as in `fail`.
        unsafe { libc::_exit(125) }
    };
    if let Some(dir) = made {
        let _ = std::fs::remove_dir_all(dir);
    }
    let code = spawn::exit_code(status);
    if let Some(fd) = exit_fd {
        let line = format!("{code}\n");
        // SAFETY: this process's own descriptors. The command's output
        // ends here: the host's readers see the end of it before the status.
        unsafe {
            for stdio in 0..3 {
                libc::close(stdio);
            }
            libc::write(fd, line.as_ptr().cast(), line.len());
        }
    }
    // SAFETY: as in `fail`.
    unsafe { libc::_exit(code) }
}

/// As pid 1: kills and reaps every other process of the namespace.
fn kill_namespace() {
    loop {
        // SAFETY: from pid 1, -1 is every other process of its namespace.
        unsafe { libc::kill(-1, libc::SIGKILL) };
        // SAFETY: reaping our own children.
        if unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } < 0
            && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            return;
        }
    }
}

/// Kills and reaps every process re-parented to this subreaper.
fn kill_descendants() {
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/self/task/{}/children", std::process::id()))
                .unwrap_or_default();
        let pids: Vec<libc::pid_t> = children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for pid in &pids {
            // SAFETY: signalling our own children.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        // SAFETY: reaping our own children.
        let reaped = unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        if reaped < 0 && pids.is_empty() {
            return;
        }
    }
}

fn cstring(bytes: &[u8]) -> Result<CString, Failure> {
    CString::new(bytes).map_err(|_| Failure::Error("a NUL byte in the command".into()))
}

fn exec(spec: &Spec) -> Result<Infallible, Failure> {
    let plan = &spec.plan;
    std::env::set_current_dir(&plan.cwd)
        .map_err(|e| Failure::error(&format!("entering {}", plan.cwd.display()), e))?;
    let program = cstring(plan.program.as_os_str().as_bytes())?;
    let argv = plan
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let tmpdir = [("TMPDIR".to_string(), spec.tmpdir.display().to_string())];
    let env = plan
        .env
        .iter()
        .chain(&tmpdir)
        .map(|(k, v)| cstring(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    // The last step: only 0, 1 and 2 outlive the exec (the status pipe,
    // already close-on-exec, is written until then).
    descriptors::close_on_exec_from(3)
        .map_err(|e| Failure::error("closing inherited descriptors", e))?;
    // cordon ignores SIGPIPE (Rust's default) and an ignored signal stays
    // ignored across exec: give the command the default back, so it ends
    // quietly when the reader of its output goes away.
    // SAFETY: plain signal disposition change in a single-threaded process.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive
    // the call; on success it does not return.
    unsafe { libc::execve(program.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    Err(Failure::last_os(&format!(
        "executing {}",
        display(&plan.program)
    )))
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Whether this kernel lets cordon create the namespaces, tried in a
/// throwaway child: `Ok(kinds)` or why not.
pub fn probe_namespaces() -> Result<String, String> {
    let flags = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWNET;
    let mut probe = std::process::Command::new("/proc/self/exe");
    probe
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: unshare is a raw syscall, async-signal-safe; it runs in the
    // forked child only.
    unsafe {
        use std::os::unix::process::CommandExt;
        probe.pre_exec(move || {
            if libc::unshare(flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    match probe.status() {
        Ok(status) if status.success() => Ok("user, mount, pid, ipc, net".into()),
        Ok(status) => Err(format!("probe ended with {status}")),
        Err(err) => Err(format!(
            "unshare refused ({err}); Landlock and seccomp alone hold the policy, \
             secrets are unreadable rather than masked"
        )),
    }
}
