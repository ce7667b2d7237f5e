//! The WASI context of one run, built from a [`SandboxPolicy`].
//!
//! Deny by default: the only preopens are the project root (at its absolute
//! path, so agents may pass absolute paths) and what the guest's `/` is;
//! no sockets and no name lookup unless the policy's network grants them
//! (through the gate); the environment holds only the fixed variables below
//! and what `--env` passes.
//!
//! What `/` is: the C library (and Rust's std on it) resolves an absolute
//! path by the preopen whose name is its longest prefix, and a preopen
//! named `.` is the prefix of every path. A guest that changes to `$PWD`
//! as it starts (cordon's own tools) gets no `.` preopen: its `/` is an
//! empty, read-only skeleton holding only the directories on the way to
//! the root, so a host path inside the root means that file, a walk from
//! `/` down to the root finds its way (`mv` resolving its target's
//! parent), and any other absolute path is not found. Any other guest
//! starts in `/` as far as its C library knows, so it needs the working
//! directory preopened at `.`, and with it an absolute path outside the
//! root resolves in the working directory, as under `wasmtime run --dir .`
//! (docs/SANDBOX.md).
//!
//! Fixed variables: `HOME` (the root) and `PWD` (the working directory), both
//! as the guest sees them. In a deterministic run the root is at
//! [`DETERMINISTIC_ROOT`] instead of its host path.

use wasmtime::Result;
use wasmtime::error::Context;
use wasmtime_wasi::cli::InputFile;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::determinism;
use super::fs_guard::FsGuard;
use super::net_p2;
use crate::io::Stdio;
use crate::net::{Gate, NetAccess};
use crate::policy::SandboxPolicy;

/// Where a deterministic run sees the project root.
pub const DETERMINISTIC_ROOT: &str = "/project";

/// Builds the context for `argv` under `policy`; `enters_pwd` when the
/// guest changes to `$PWD` as it starts. Returns the skeleton the guest's
/// `/` is, if it has one, to keep until the run ends.
///
/// # Errors
///
/// When the root or the working directory cannot be opened, or the
/// skeleton made.
pub fn build(
    policy: &SandboxPolicy,
    guard: Option<&FsGuard>,
    gate: Option<Arc<Gate>>,
    argv: &[String],
    stdio: Stdio,
    enters_pwd: bool,
    skeletons: &Skeletons,
) -> Result<(WasiCtxBuilder, Option<Skeleton>)> {
    let mut b = WasiCtxBuilder::new();
    b.args(argv).stdout(stdio.stdout).stderr(stdio.stderr);
    match stdio.stdin {
        Some(file) => b.stdin(InputFile::new(file)),
        None => b.inherit_stdin(),
    };
    b.allow_blocking_current_thread(true);
    match (&policy.network, gate) {
        (NetAccess::On, _) => {
            b.allow_ip_name_lookup(true)
                .allow_tcp(true)
                .allow_udp(true)
                .socket_addr_check(|_, _| Box::pin(async { true }));
        }
        // Lookups go through the gate (net_p2), connections too.
        (NetAccess::Gated(_), Some(gate)) => {
            b.allow_ip_name_lookup(true)
                .allow_tcp(true)
                .allow_udp(true)
                .socket_addr_check(move |addr, usage| {
                    let allowed = net_p2::allowed(&gate, addr, usage);
                    Box::pin(async move { allowed })
                });
        }
        _ => {
            b.allow_ip_name_lookup(false)
                .allow_tcp(false)
                .allow_udp(false)
                .socket_addr_check(|_, _| Box::pin(async { false }));
        }
    }

    let perms = if policy.writable() {
        FsPerms::ReadWrite
    } else {
        FsPerms::ReadOnly
    };
    let cwd_abs = policy.cwd_abs();
    // Opened from the root one directory at a time, never through a
    // symlink: a native stage of the same line may have swapped the
    // working directory for one by now (to `/`, say).
    // The root, opened once: every preopen of it and cordon's answers
    // about its files (`cordon.file_info`) hold this very directory.
    let root_dir = std::fs::File::open(policy.root())
        .with_context(|| format!("opening root {}", policy.root().display()))?;
    policy.check_root(Some(&root_dir.metadata()?))?;
    let cwd_dir = open_beneath(&root_dir, policy.cwd())
        .with_context(|| format!("opening {}", cwd_abs.display()))?;
    // A working directory inside a protected tree is read-only from the start.
    let cwd_perms = match guard {
        Some(guard) if perms == FsPerms::ReadWrite && guard.dir_protected(&cwd_dir) => {
            FsPerms::ReadOnly
        }
        _ => perms,
    };
    // A deterministic run sees the root at a fixed path, so that output
    // naming it is the same wherever the files really are.
    let guest_root = if policy.determinism.is_some() {
        Some(DETERMINISTIC_ROOT)
    } else {
        policy.root().to_str().filter(|p| p.starts_with('/'))
    };
    let guest_cwd = match guest_root {
        Some(root) if policy.cwd().as_os_str().is_empty() => root.to_string(),
        Some(root) => format!("{root}/{}", policy.cwd().to_string_lossy()),
        None => ".".to_string(),
    };
    if let Some(root) = guest_root {
        b.preopened_dir(held_path(&root_dir, policy.root()), root, perms)
            .with_context(|| format!("opening root {}", policy.root().display()))?;
    }
    let alias = policy
        .root_alias()
        .and_then(|a| a.to_str())
        .filter(|_| policy.determinism.is_none());
    if let Some(alias) = alias {
        b.preopened_dir(held_path(&root_dir, policy.root()), alias, perms)?;
    }
    let skeleton = match guest_root {
        // WASI names paths as Unicode strings: a root that is not one
        // cannot be named, and `.` would stand for every absolute path.
        None if enters_pwd => {
            return Err(wasmtime::Error::msg(format!(
                "the root {} is not a UTF-8 path, which WASI tools need",
                policy.root().display()
            )));
        }
        Some(root) if enters_pwd => {
            let skeleton =
                Skeleton::leading_to(skeletons, [root].into_iter().chain(alias), root_dir)
                    .context("making the guest's /")?;
            b.preopened_dir(skeleton.path(), "/", FsPerms::ReadOnly)
                .context("opening the guest's /")?;
            Some(skeleton)
        }
        _ => {
            b.preopened_dir(held_path(&cwd_dir, &cwd_abs), ".", cwd_perms)
                .with_context(|| format!("opening {}", cwd_abs.display()))?;
            None
        }
    };
    b.initial_cwd(&guest_cwd);
    b.env("HOME", guest_root.unwrap_or("."));
    b.env("PWD", &guest_cwd);
    for (key, value) in policy.env() {
        b.env(key, value);
    }
    if let Some(fixed) = &policy.determinism {
        determinism::apply(&mut b, fixed);
    }
    Ok((b, skeleton))
}

/// The guest's `/`: an empty directory of its own holding, read-only,
/// only the directories on the way to the guest paths of the root. It
/// lies in the user's private directory (`$TMPDIR/cordon-UID`), named for
/// the process; made once for those paths by each host ([`Skeletons`])
/// and removed when the host goes. One a killed process left behind goes
/// at the next process's first run.
pub struct Skeleton {
    dir: Arc<tempfile::TempDir>,
    /// The root's absolute guest paths it leads to.
    roots: Vec<PathBuf>,
    /// The root the guest's preopens hold.
    root: std::fs::File,
}

/// The skeletons a host made, by the guest paths they lead to: a
/// session's runs share one (no command can write where it lies).
#[derive(Default)]
pub struct Skeletons(std::sync::Mutex<Vec<(Vec<PathBuf>, Arc<tempfile::TempDir>)>>);

impl Skeleton {
    fn leading_to<'a>(
        made: &Skeletons,
        paths: impl IntoIterator<Item = &'a str>,
        root: std::fs::File,
    ) -> std::io::Result<Skeleton> {
        let roots: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
        let mut made = made.0.lock().unwrap_or_else(|e| e.into_inner());
        // Made before, and still there.
        let before = made
            .iter()
            .find(|(led, dir)| *led == roots && dir.path().is_dir());
        if let Some((_, dir)) = before {
            let dir = Arc::clone(dir);
            return Ok(Skeleton { dir, roots, root });
        }
        let user_dir = crate::shape_lock::user_dir()?;
        // Once a process: the directory may hold thousands of entries (a
        // lock per writable tree ever used), too many to list at each run.
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(|| remove_orphans(&user_dir));
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SKELETON_PREFIX}{}-", std::process::id()))
            .tempdir_in(&user_dir)?;
        for path in &roots {
            let inside = path.strip_prefix("/").unwrap_or(path);
            std::fs::create_dir_all(dir.path().join(inside))?;
        }
        let dir = Arc::new(dir);
        made.retain(|(led, _)| *led != roots);
        made.push((roots.clone(), Arc::clone(&dir)));
        Ok(Skeleton { dir, roots, root })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The root's absolute guest paths.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// The root the guest's preopens hold.
    pub fn root(&self) -> std::io::Result<std::fs::File> {
        self.root.try_clone()
    }
}

/// The directory `relative` names under `root`, resolved as a guest call
/// would be (see `fs_spot`): no symlink followed out of the root, none
/// left to be swapped between the opening and the use.
fn open_beneath(root: &std::fs::File, relative: &Path) -> std::io::Result<std::fs::File> {
    use cap_fs_ext::DirExt;
    let relative = relative
        .to_str()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    let relative = if relative.is_empty() { "." } else { relative };
    let spot = super::fs_spot::locate(root, relative, true)?;
    let dir = if spot.is_whole() {
        spot.parent
    } else {
        spot.parent.open_dir_nofollow(&spot.name)?
    };
    Ok(dir.into_std_file())
}

/// A path that opens exactly the directory `dir` holds (Linux: its
/// descriptor's entry in /proc); elsewhere `path`, which a swap between
/// here and the open could redirect (docs/SANDBOX.md).
fn held_path(dir: &std::fs::File, path: &Path) -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = path;
        PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        path.to_path_buf()
    }
}

/// How a skeleton's name starts, before its process's id.
const SKELETON_PREFIX: &str = "root-";

/// Removes the skeletons of processes that are gone (killed before they
/// could remove their own).
fn remove_orphans(user_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(user_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(SKELETON_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !crate::process::alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
