//! The command's view of the filesystem, in its own mount namespace:
//! everything read-only but the writable trees, protected paths read-only
//! again inside them (a placeholder holds the mount where one does not exist
//! yet, unless the supervisor refuses to make its name), secrets and host
//! sockets covered by empty, unreadable stand-ins, and a /proc and /dev/shm
//! of its own.
//!
//! Read-only mounts hold even against a process with capabilities in the
//! user namespace: they also stop chmod, chown and utimes, which Landlock
//! does not cover.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::Spec;
use super::helper::Failure;
use crate::native::git_commit;

pub fn apply(spec: &Spec, user_namespace: bool) -> Result<(), Failure> {
    let plan = &spec.plan;
    // Nothing done here may propagate back to the host's namespace.
    mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE)?;
    for dir in &plan.writable {
        bind(dir, dir, true)?;
    }
    // No device node of the host's is usable anywhere (a block device
    // holding the project would bypass every mask); /dev gets its own
    // few below.
    setattr(
        Path::new("/"),
        true,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV,
        0,
    )?;
    for dir in &plan.writable {
        set_writable(dir)?;
    }
    // A temporary directory of the run's own, gone with the namespace.
    mount_with(
        Some("tmpfs"),
        &spec.tmpdir,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("mode=0700"),
    )?;
    mount(
        Some("proc"),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )?;
    minimal_dev()?;
    for path in &plan.protected {
        use std::io::ErrorKind::{NotADirectory, NotFound};
        let absent = match path.symlink_metadata() {
            Ok(_) => false,
            Err(e) if matches!(e.kind(), NotFound | NotADirectory) => true,
            // There, but not to be reached by its path (past PATH_MAX, say):
            // it cannot be mounted over, so the run does not go on.
            Err(e) => return Err(Failure::error(&format!("protecting {}", path.display()), e)),
        };
        if absent && plan.refuses_to_make(path) {
            continue; // the supervisor judges the name (names.rs)
        }
        // Its directory gone too: nothing holds a place there, and the
        // directories on the way would be names no one judged.
        if absent && path.parent().is_none_or(|dir| !dir.is_dir()) {
            continue;
        }
        pin_ancestors(path, &plan.writable)?;
        if absent {
            std::fs::create_dir(path)
                .map_err(|e| Failure::error(&format!("placeholder {}", path.display()), e))?;
        }
        bind(path, path, true)?;
        set_readonly(path, true)?;
    }
    if let Some(stage) = &spec.commit_stage {
        layer_git_dirs(stage, &plan.git_commit, &plan.writable, user_namespace)?;
    }
    // A mount point cannot be renamed (EBUSY): each directory on the way
    // to a secret named by its path becomes one, writable as before.
    for dir in &plan.secret_dirs {
        bind(dir, dir, true)?;
    }
    for secret in &plan.secrets {
        // A secret that moved since the host looked could be read where it
        // went: refuse rather than run with it uncovered.
        if secret.symlink_metadata().is_err() {
            return Err(Failure::Error(format!(
                "{} moved while the sandbox was set up; run again",
                secret.display()
            )));
        }
        let mask = if secret.is_dir() {
            &spec.mask_dir
        } else {
            &spec.mask_file
        };
        cover(mask, secret)?;
    }
    Ok(())
}

/// Under the git-commit grant: an overlay over each git directory, the
/// directory itself below (never written), a layer of `stage` above. The
/// stage is reachable only through the overlays: its own writable mount,
/// which they need, is detached once they hold it.
fn layer_git_dirs(
    stage: &Path,
    git_dirs: &[PathBuf],
    writable: &[PathBuf],
    user_namespace: bool,
) -> Result<(), Failure> {
    bind(stage, stage, true)?;
    set_writable(stage)?;
    for (index, dir) in git_commit::layered(git_dirs).into_iter().enumerate() {
        pin_ancestors(dir, writable)?;
        let (upper, work) = git_commit::layer_dirs(stage, index);
        let mut options = format!(
            "lowerdir={},upperdir={},workdir={}",
            overlay_path(dir)?,
            overlay_path(&upper)?,
            overlay_path(&work)?
        );
        // In a user namespace overlayfs keeps its marks in user.* xattrs.
        if user_namespace {
            options.push_str(",userxattr");
        }
        mount_with(
            Some("overlay"),
            dir,
            Some("overlay"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&options),
        )
        .map_err(|failure| match failure {
            Failure::Error(why) | Failure::Missing(why) => Failure::Missing(format!(
                "an overlay over the git directory, which the git-commit grant needs ({why})"
            )),
        })?;
    }
    let stage_c = c_path(stage)?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::umount2(stage_c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(Failure::last_os(&format!("unmounting {}", stage.display())));
    }
    Ok(())
}

/// A path as an overlayfs option: its `\`, `,` and `:` escaped.
fn overlay_path(path: &Path) -> Result<String, Failure> {
    let text = path
        .to_str()
        .ok_or_else(|| Failure::Error(format!("{} is not UTF-8", path.display())))?;
    Ok(text
        .chars()
        .flat_map(|c| match c {
            '\\' | ',' | ':' => vec!['\\', c],
            c => vec![c],
        })
        .collect())
}

/// The devices a command gets: the host's, bound into a /dev of its own.
/// No terminal of the host's (`tty` included), no disk, nothing else.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// Replaces /dev with a tmpfs holding [`DEVICES`], a terminal instance of
/// the command's own (`pts`, `ptmx`), `shm`, and the `fd` links, then
/// makes it read-only.
fn minimal_dev() -> Result<(), Failure> {
    use std::os::fd::{AsRawFd, OwnedFd};
    let dev = Path::new("/dev");
    // The host's nodes, held before the new /dev hides them.
    let mut nodes: Vec<(&str, OwnedFd)> = Vec::new();
    for name in DEVICES {
        let path = dev.join(name);
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&path)
        {
            Ok(file) => nodes.push((name, file.into())),
            // A device this machine lacks is one the command lacks too.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::error(&format!("opening {}", path.display()), e)),
        }
    }
    mount_with(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("mode=0755,size=64k"),
    )?;
    let made = |what: &str, result: std::io::Result<()>| {
        result.map_err(|e| Failure::error(&format!("making /dev/{what}"), e))
    };
    for (name, node) in &nodes {
        let target = dev.join(name);
        made(name, std::fs::write(&target, b""))?;
        let source = PathBuf::from(format!("/proc/self/fd/{}", node.as_raw_fd()));
        bind(&source, &target, false)?;
        // The bind took the node's mount flags, nodev among them.
        setattr(&target, false, 0, MOUNT_ATTR_NODEV)?;
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        made(link, std::os::unix::fs::symlink(to, dev.join(link)))?;
    }
    for dir in ["pts", "shm"] {
        made(dir, std::fs::create_dir(dev.join(dir)))?;
    }
    // Terminals of its own: the host's (and what is typed into them) stay
    // out of reach.
    mount_with(
        Some("devpts"),
        &dev.join("pts"),
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    mount(
        Some("tmpfs"),
        &dev.join("shm"),
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
    )?;
    set_readonly(dev, false)
}

/// Makes each directory between a writable tree and `path` a mount point
/// of itself: a mount point cannot be renamed or removed (EBUSY), so no
/// command can move the protected path's parent aside and make a
/// substitute in its place for the next run to find.
fn pin_ancestors(path: &Path, writable: &[PathBuf]) -> Result<(), Failure> {
    let Some(tree) = writable.iter().find(|w| path.starts_with(w)) else {
        return Ok(());
    };
    let between: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .take_while(|a| a != tree && a.starts_with(tree))
        .collect();
    // One that does not exist has nothing in it to substitute.
    for ancestor in between.into_iter().rev().filter(|a| a.is_dir()) {
        bind(ancestor, ancestor, true)?;
    }
    Ok(())
}

/// Mounts an empty, read-only stand-in over `target`.
fn cover(mask: &Path, target: &Path) -> Result<(), Failure> {
    bind(mask, target, false)?;
    set_readonly(target, false)
}

fn c_path(path: &Path) -> Result<CString, Failure> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Failure::Error(format!("a NUL byte in {}", path.display())))
}

fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> Result<(), Failure> {
    mount_with(source, target, fstype, flags, None)
}

fn mount_with(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), Failure> {
    let source = source.map(|s| CString::new(s).expect("static name"));
    let fstype = fstype.map(|s| CString::new(s).expect("static name"));
    let data = data.map(|s| CString::new(s).expect("static options"));
    let target_c = c_path(target)?;
    // SAFETY: NUL-terminated strings (or NULL) that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            target_c.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            data.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr().cast::<libc::c_void>()),
        )
    };
    if rc != 0 {
        return Err(Failure::last_os(&format!("mount on {}", target.display())));
    }
    Ok(())
}

fn bind(source: &Path, target: &Path, recursive: bool) -> Result<(), Failure> {
    let source_c = c_path(source)?;
    let target_c = c_path(target)?;
    let flags = libc::MS_BIND | if recursive { libc::MS_REC } else { 0 };
    // SAFETY: NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            source_c.as_ptr(),
            target_c.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Failure::last_os(&format!(
            "bind {} on {}",
            source.display(),
            target.display()
        )));
    }
    Ok(())
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NODEV: u64 = 0x4;

fn set_readonly(path: &Path, recursive: bool) -> Result<(), Failure> {
    setattr(path, recursive, MOUNT_ATTR_RDONLY, 0)
}

fn set_writable(path: &Path) -> Result<(), Failure> {
    setattr(path, true, 0, MOUNT_ATTR_RDONLY)
}

fn setattr(path: &Path, recursive: bool, set: u64, clear: u64) -> Result<(), Failure> {
    let path_c = c_path(path)?;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: a valid path and a mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path_c.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc != 0 {
        return Err(Failure::last_os(&format!(
            "mount_setattr on {}",
            path.display()
        )));
    }
    Ok(())
}
