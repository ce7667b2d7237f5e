//! Memory and process-count limits for a native command's whole tree.
//!
//! Where cordon may make a control group (cgroup v2 delegated to it with
//! the memory and pids controllers, or cgroup v1's memory and pids
//! hierarchies writable, as for root), the sandbox's first process joins
//! a group of its own before anything else runs, and the limits hold for
//! the tree as a whole. Elsewhere, resource limits on each process:
//! RLIMIT_DATA for memory (the heap and private writable mappings; unlike
//! RLIMIT_AS it does not count the address space runtimes such as V8 or
//! Go reserve without using), and RLIMIT_NPROC, which inside a user
//! namespace counts the processes of the namespace's own user, that is
//! the command's tree. Root's processes are exempt from RLIMIT_NPROC, so
//! as root without a control group the count is not limited; the layer
//! says so.

use std::path::{Path, PathBuf};

use super::cgroup_tree::{self, Tree};
use super::helper::Failure;
use crate::native::NativeLimits as Limits;

/// A control group made for one run; removed when dropped (once the
/// tree in it has ended).
#[derive(Debug)]
pub struct Group {
    /// One directory per hierarchy (v1), or one (v2).
    dirs: Vec<PathBuf>,
    /// The same, open: the group the run made, wherever it is moved.
    trees: Vec<Tree>,
    kind: &'static str,
}

impl Group {
    /// Makes a group under this process's own with `limits`, or says why
    /// none could be made.
    pub fn create(limits: Limits) -> Result<Group, String> {
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        // A name may be taken: a group that an earlier process of this
        // pid left, not yet swept.
        let mut tries = 0;
        loop {
            let name = format!(
                "cordon-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let made = if v2 {
                create_v2(&own, &name, limits)
            } else {
                create_v1(&own, &name, limits)
            };
            match made {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 64 => tries += 1,
                made => return made.map_err(|e| format!("no control group ({e})")),
            }
        }
    }

    /// The files the sandbox's first process writes `0` to, to join.
    pub fn join_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    pub fn describe(&self, limits: Limits) -> String {
        describe(self.kind, limits)
    }

    /// Kills every process left in the group and the groups below it.
    pub fn kill_all(&self) {
        cgroup_tree::kill_all(&self.trees);
    }

    /// The group's directories, open, one per hierarchy.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
}

impl Drop for Group {
    /// The tree may still be ending (cordon reports its exit before the
    /// kernel has taken the last process down): a group still busy is not
    /// waited for; the next run that makes a group removes it.
    fn drop(&mut self) {
        for tree in &self.trees {
            tree.remove();
        }
    }
}

/// Removes the groups that runs which have ended left in `parent`.
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cordon-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists()
            && let Ok(tree) = Tree::open(&entry.path())
        {
            tree.remove();
        }
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// This process's group in hierarchy `controller` (`""` for v2), from
/// /proc/self/cgroup.
fn own_path<'a>(own: &'a str, controller: &str) -> Option<&'a str> {
    own.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })
}

fn create_v2(own: &str, name: &str, limits: Limits) -> std::io::Result<Group> {
    let path = own_path(own, "").ok_or_else(|| std::io::Error::other("not in a cgroup v2"))?;
    let parent = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    sweep(&parent);
    let dir = parent.join(name);
    std::fs::create_dir(&dir)?;
    let group = Group {
        dirs: vec![dir.clone()],
        trees: vec![Tree::open(&dir)?],
        kind: "cgroup v2",
    };
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))?;
    for needed in ["memory", "pids"] {
        if !controllers.split_whitespace().any(|c| c == needed) {
            return Err(std::io::Error::other(format!(
                "the {needed} controller is not delegated"
            )));
        }
    }
    if let Some(bytes) = limits.memory_bytes {
        std::fs::write(dir.join("memory.max"), bytes.to_string())?;
        std::fs::write(dir.join("memory.swap.max"), "0").or_else(absent_ok)?;
    }
    if let Some(count) = limits.processes {
        std::fs::write(dir.join("pids.max"), count.to_string())?;
    }
    Ok(group)
}

fn create_v1(own: &str, name: &str, limits: Limits) -> std::io::Result<Group> {
    let mut group = Group {
        dirs: Vec::new(),
        trees: Vec::new(),
        kind: "cgroup v1",
    };
    for (controller, file, value) in [
        ("memory", "memory.limit_in_bytes", limits.memory_bytes),
        ("pids", "pids.max", limits.processes),
    ] {
        // v1's hierarchies are separate: only those with a limit to hold
        // (a memory group costs the most to make and to join).
        let Some(value) = value else { continue };
        let path = own_path(own, controller)
            .ok_or_else(|| std::io::Error::other(format!("no {controller} hierarchy")))?;
        let parent = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(path.trim_start_matches('/'));
        sweep(&parent);
        let dir = parent.join(name);
        std::fs::create_dir(&dir)?;
        group.dirs.push(dir.clone());
        group.trees.push(Tree::open(&dir)?);
        std::fs::write(dir.join(file), value.to_string())?;
    }
    Ok(group)
}

/// A limit file this kernel does not have (no swap accounting).
fn absent_ok(err: std::io::Error) -> std::io::Result<()> {
    match err.kind() {
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(err),
    }
}

fn describe(how: &str, limits: Limits) -> String {
    let memory = limits
        .memory_bytes
        .map_or("memory unlimited".to_string(), |b| {
            format!("memory {} MiB", b >> 20)
        });
    let processes = limits
        .processes
        .map_or("processes unlimited".to_string(), |n| {
            format!("{n} processes")
        });
    format!("limits({how}: {memory}, {processes})")
}

/// How `--memory` and `--processes` would hold here, for `cordon doctor`.
pub fn available() -> String {
    let probe = Limits {
        memory_bytes: Some(u64::MAX >> 1),
        processes: Some(1 << 20),
    };
    match Group::create(probe) {
        Ok(group) => format!("{}: memory and process count of the whole tree", group.kind),
        Err(why) => format!(
            "{why}; per process instead: RLIMIT_DATA for memory, RLIMIT_NPROC for the \
             process count in a user namespace (not as root)"
        ),
    }
}

/// In the sandbox's first process, before anything else runs: joins the
/// group through `join_files`.
pub fn join(join_files: &[PathBuf]) -> Result<(), Failure> {
    for file in join_files {
        std::fs::write(file, "0")
            .map_err(|e| Failure::error(&format!("joining {}", file.display()), e))?;
    }
    Ok(())
}

/// The lowest `pid_max` a pid namespace takes (the kernel's floor).
const PID_MAX_FLOOR: u64 = 301;

/// The process count a pid namespace of the run's own can hold by itself,
/// if it can hold all of `limits`: no memory limit, a count of at least
/// [`PID_MAX_FLOOR`] (a namespace's `pid_max` takes no less), and a
/// kernel that gives each pid namespace its own `pid_max` (6.14). Joining
/// a control group takes the kernel's cgroup-migration lock for writing,
/// which waits for an RCU grace period (milliseconds) when the lock has
/// been idle; this needs no group at all.
pub fn pid_namespace_cap(limits: Limits) -> Option<u64> {
    let processes = limits.processes?;
    (limits.memory_bytes.is_none() && processes >= PID_MAX_FLOOR && kernel_at_least(6, 14))
        .then_some(processes)
}

/// Caps the processes of the pid namespace the caller just mounted /proc
/// for: no pid at or above `processes + 1`. After the numbers wrap the
/// kernel reuses them from 300, so the count holds within 299. Returns
/// the layer.
pub fn cap_pid_namespace(processes: u64) -> Result<String, Failure> {
    std::fs::write("/proc/sys/kernel/pid_max", (processes + 1).to_string())
        .map_err(|e| Failure::error("setting the pid namespace's pid_max", e))?;
    Ok(format!(
        "limits(pid namespace: {processes} processes, within 299; memory unlimited)"
    ))
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: uname fills the struct it is given.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return false;
    }
    // SAFETY: uname NUL-terminates release.
    let release = unsafe { std::ffi::CStr::from_ptr(name.release.as_ptr()) };
    let mut parts = release
        .to_string_lossy()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0))
        .collect::<Vec<_>>()
        .into_iter();
    let (found_major, found_minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (found_major, found_minor) >= (major, minor)
}

/// In the command's process, without a group: the per-process limits.
/// `user_namespace`: whether it runs in a user namespace of its own (where
/// RLIMIT_NPROC counts only the sandbox's processes). Returns the layer.
pub fn apply_rlimits(limits: Limits, user_namespace: bool) -> Result<String, Failure> {
    if let Some(bytes) = limits.memory_bytes {
        set(libc::RLIMIT_DATA, bytes, "RLIMIT_DATA")?;
    }
    // SAFETY: getuid cannot fail.
    let root = unsafe { libc::getuid() } == 0;
    let processes = match limits.processes {
        Some(count) if user_namespace && !root => {
            set(libc::RLIMIT_NPROC, count, "RLIMIT_NPROC")?;
            limits.processes
        }
        _ => None,
    };
    let how = if limits.processes.is_some() && processes.is_none() {
        "rlimits per process; the process count is not limited (root, or no user namespace)"
    } else {
        "rlimits per process"
    };
    Ok(describe(
        how,
        Limits {
            memory_bytes: limits.memory_bytes,
            processes,
        },
    ))
}

/// In the command's process: no core file, ever. The kernel writes one
/// where the crashing process stands, past the supervisor that refuses a
/// `.git` or a git directory's shape, and under a name the process may
/// choose (core_pattern's `%e` is its own `comm`). The hard limit stays 0:
/// raising it needs CAP_SYS_RESOURCE over the host, which no command has.
pub fn forbid_core_files() -> Result<(), Failure> {
    set(libc::RLIMIT_CORE, 0, "RLIMIT_CORE")
}

#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

fn set(resource: Resource, value: u64, name: &str) -> Result<(), Failure> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct given.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(Failure::last_os(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_groups_are_read_per_hierarchy() {
        let own = "9:name=systemd:/\n8:pids:/a\n4:memory:/b/c\n0::/d\n";
        assert_eq!(own_path(own, "pids"), Some("/a"));
        assert_eq!(own_path(own, "memory"), Some("/b/c"));
        assert_eq!(own_path(own, ""), Some("/d"));
        assert_eq!(own_path(own, "cpu"), None);
    }
}
