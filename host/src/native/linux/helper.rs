//! The helper: `cordon __native-sandbox SPEC` sets up the sandbox in
//! itself and executes the command. It reports each layer, or why it could
//! not set one up, on the status descriptor; the host refuses to go on
//! without that report.
//!
//! Order matters: namespaces first (they need the privileges that Landlock
//! and seccomp take away), then a fork so the command is pid 1 of its own
//! pid namespace, then mounts, Landlock, seccomp, exec.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{STATUS_FD, Spec, landlock_rules, mounts, proxy_listener, seccomp};
use crate::native::PlanNetwork;

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

/// The re-executed helper's entry point: the plan as JSON, the status pipe
/// at [`STATUS_FD`]. Never returns.
pub fn main(spec: &str) -> ! {
    // SAFETY: the host put the status pipe at STATUS_FD before exec; this is
    // its only owner here.
    let status = unsafe { File::from_raw_fd(STATUS_FD) };
    // SAFETY: plain fcntl on the descriptor owned above.
    unsafe { libc::fcntl(STATUS_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    match serde_json::from_str::<Spec>(spec) {
        Ok(spec) => run(&spec, status),
        Err(e) => fail(status, Failure::error("reading the sandbox plan", e)),
    }
}

/// Sets up the sandbox in this (single-threaded) process and executes the
/// command; on failure reports on `status` and exits 125. Never returns.
pub fn run(spec: &Spec, mut status: File) -> ! {
    match setup_and_exec(spec, &mut status) {
        Ok(never) => match never {},
        Err(failure) => fail(status, failure),
    }
}

fn fail(mut status: File, failure: Failure) -> ! {
    let line = match failure {
        Failure::Missing(why) => format!("missing {why}\n"),
        Failure::Error(why) => format!("error {why}\n"),
    };
    let _ = status.write_all(line.as_bytes());
    // SAFETY: _exit skips the atexit handlers and buffers of a forked copy
    // of the host.
    unsafe { libc::_exit(125) }
}

fn setup_and_exec(spec: &Spec, status: &mut File) -> Result<Infallible, Failure> {
    die_with_parent()?;
    let namespaces = if spec.plan.no_namespaces {
        None
    } else {
        enter_namespaces(spec.plan.network)?
    };
    if let Some(channel) = spec.proxy_fd {
        if namespaces.is_none() {
            return Err(Failure::Missing(
                "network namespaces, which --network allow= needs for native commands \
                 (the proxy must be all the command can reach); choose --network on or off"
                    .into(),
            ));
        }
        proxy_listener::open_and_send(channel)?;
        // SAFETY: the channel is not used again; nothing after this may
        // inherit it.
        unsafe { libc::close(channel) };
    }
    let supervisor = std::process::id();
    // SAFETY: the helper is single-threaded, so the child may run any code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Failure::last_os("fork"));
    }
    if child > 0 {
        // Only the command's half reports; the pipe must close at its exec.
        // SAFETY: the descriptor is not used again in this process.
        unsafe { libc::close(status.as_raw_fd()) };
        supervise(child, namespaces.is_none());
    }
    die_with_parent()?;
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } as u32 != supervisor && namespaces.is_none() {
        return Err(Failure::Error("the supervisor ended before setup".into()));
    }

    let mut layers = Vec::new();
    if let Some(kinds) = &namespaces {
        mounts::apply(spec)?;
        layers.push(format!("namespaces({kinds})"));
        // This process is pid 1 of the namespace, which the kernel spares
        // the default action of signals (SIGPIPE, SIGTERM, SIGINT): the
        // command must be another process, this one its init.
        // SAFETY: single-threaded, as above.
        let command = unsafe { libc::fork() };
        if command < 0 {
            return Err(Failure::last_os("fork"));
        }
        if command > 0 {
            // SAFETY: the descriptor is not used again in this process.
            unsafe { libc::close(status.as_raw_fd()) };
            supervise(command, false);
        }
        die_with_parent()?;
    }
    layers.push(landlock_rules::restrict(spec, namespaces.is_some())?);
    layers.push(seccomp::apply(
        spec.plan.network != PlanNetwork::Off,
        namespaces.is_some(),
    )?);
    for layer in &layers {
        let _ = writeln!(status, "layer {layer}");
    }
    exec(spec)
}

fn die_with_parent() -> Result<(), Failure> {
    // SAFETY: plain prctl.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
        return Err(Failure::last_os("PR_SET_PDEATHSIG"));
    }
    Ok(())
}

/// Enters new user, mount, pid and (unless the network is shared) network
/// namespaces.
/// `None` when the kernel refuses: the run goes on with Landlock and
/// seccomp alone, which the plan's rules are built to hold without them.
fn enter_namespaces(network: PlanNetwork) -> Result<Option<String>, Failure> {
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC;
    let mut kinds = vec!["user", "mount", "pid", "ipc"];
    if network != PlanNetwork::On {
        flags |= libc::CLONE_NEWNET;
        kinds.push("net");
    }
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    // SAFETY: unshare on a single-threaded process.
    if unsafe { libc::unshare(flags | libc::CLONE_NEWUSER) } == 0 {
        for (file, map) in [
            ("setgroups", "deny".to_string()),
            ("uid_map", format!("{uid} {uid} 1")),
            ("gid_map", format!("{gid} {gid} 1")),
        ] {
            std::fs::write(format!("/proc/self/{file}"), map)
                .map_err(|e| Failure::error(&format!("writing /proc/self/{file}"), e))?;
        }
        return Ok(Some(kinds.join(",")));
    }
    // Root needs no user namespace for the others.
    // SAFETY: as above.
    if uid == 0 && unsafe { libc::unshare(flags) } == 0 {
        kinds.remove(0);
        return Ok(Some(kinds.join(",")));
    }
    Ok(None)
}

/// The helper's parent half: waits for the command's process and exits
/// with its status. Without a pid namespace it also becomes the subreaper
/// of the command's tree, so what the command leaves behind dies with it.
fn supervise(child: libc::pid_t, reap_tree: bool) -> ! {
    if reap_tree {
        // SAFETY: plain prctl.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // SAFETY: as in `fail`.
            unsafe { libc::_exit(125) }
        }
    }
    if reap_tree {
        kill_descendants();
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    // SAFETY: as in `fail`.
    unsafe { libc::_exit(code) }
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
    let env = plan
        .env
        .iter()
        .map(|(k, v)| cstring(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
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
