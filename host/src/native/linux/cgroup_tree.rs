//! A control group and the groups below it, held and walked by
//! descriptor: a group renamed, nested past `PATH_MAX`, or with another
//! directory bind-mounted inside it is still walked as the tree it is,
//! and never left for what lies elsewhere.

use std::ffi::{CStr, CString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A group's directory, open.
#[derive(Debug)]
pub struct Tree(OwnedFd);

impl Tree {
    /// Opens the group at `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Tree> {
        let path = CString::new(dir.as_os_str().as_bytes())?;
        // SAFETY: a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_DIRECTORY | libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: just opened, owned by nothing else.
        Ok(Tree(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The group whose directory `fd` is.
    pub fn from_fd(fd: OwnedFd) -> Tree {
        Tree(fd)
    }

    /// The directory's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Kills every process in the tree: cgroup v2 at once (`cgroup.kill`);
    /// v1 by its lists, signalled until two looks in a row find none (a
    /// process may be forking, or moving between the tree's groups), or
    /// until `until`. The pause between looks starts short: usually
    /// nothing is left.
    pub fn kill(&self, until: Instant) {
        if write_at(self.fd(), c"cgroup.kill", b"1").is_ok() {
            return;
        }
        let (mut pause, mut quiet) = (Duration::from_micros(50), 0);
        while quiet < 2 && Instant::now() < until {
            let pids = pids_below(self.fd());
            if pids.is_empty() {
                quiet += 1;
                continue;
            }
            quiet = 0;
            for pid in pids {
                // SAFETY: signals a process found in the run's own tree.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// Removes the groups below, deepest first, then the group itself
    /// where it is now; a group still holding a process stays.
    pub fn remove(&self) {
        remove_below(self.fd());
        let link = format!("/proc/self/fd/{}", self.0.as_raw_fd());
        if let Ok(now) = std::fs::read_link(link) {
            let _ = std::fs::remove_dir(now);
        }
    }
}

/// Kills every process in `trees` ([`Tree::kill`]), for at most a second.
pub fn kill_all(trees: &[Tree]) {
    let until = Instant::now() + Duration::from_secs(1);
    for tree in trees {
        tree.kill(until);
    }
}

/// The processes in the group `dir` and in every group below it.
fn pids_below(dir: BorrowedFd) -> Vec<libc::pid_t> {
    let mut pids: Vec<libc::pid_t> = read_at(dir, c"cgroup.procs")
        .unwrap_or_default()
        .lines()
        .filter_map(|p| p.parse().ok())
        .collect();
    for name in subgroup_names(dir) {
        if let Ok(child) = open_below(dir, &name) {
            pids.extend(pids_below(child.as_fd()));
        }
    }
    pids
}

fn remove_below(dir: BorrowedFd) {
    for name in subgroup_names(dir) {
        if let Ok(child) = open_below(dir, &name) {
            remove_below(child.as_fd());
            // SAFETY: a name in a directory we hold open.
            unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
        }
    }
}

/// The names of the directories in `dir`.
fn subgroup_names(dir: BorrowedFd) -> Vec<CString> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| CString::new(entry.file_name().as_bytes()).ok())
        .collect()
}

/// The group `name` directly in `dir`: never through a symlink, and never
/// a mount point (a directory bind-mounted there is not the run's).
fn open_below(dir: BorrowedFd, name: &CStr) -> std::io::Result<OwnedFd> {
    let flags = libc::O_DIRECTORY | libc::O_RDONLY | libc::O_NOFOLLOW;
    let resolve = libc::RESOLVE_BENEATH
        | libc::RESOLVE_NO_SYMLINKS
        | libc::RESOLVE_NO_MAGICLINKS
        | libc::RESOLVE_NO_XDEV;
    super::openat2::openat2(dir, name, flags, 0, resolve)
}

fn read_at(dir: BorrowedFd, name: &CStr) -> std::io::Result<String> {
    let mut file = open_file_at(dir, name, libc::O_RDONLY)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

fn write_at(dir: BorrowedFd, name: &CStr, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    open_file_at(dir, name, libc::O_WRONLY)?.write_all(bytes)
}

fn open_file_at(dir: BorrowedFd, name: &CStr, flags: i32) -> std::io::Result<std::fs::File> {
    // SAFETY: a NUL-terminated name relative to a directory we hold open.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nothing else.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}
