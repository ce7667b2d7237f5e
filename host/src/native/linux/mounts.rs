//! The command's view of the filesystem, in its own mount namespace:
//! everything read-only but the writable trees, protected paths read-only
//! again inside them (a placeholder holds the mount where one does not exist
//! yet), secrets and host sockets covered by empty, unreadable stand-ins,
//! and a /proc and /dev/shm of its own.
//!
//! Read-only mounts hold even against a process with capabilities in the
//! user namespace: they also stop chmod, chown and utimes, which Landlock
//! does not cover.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::Spec;
use super::helper::Failure;

pub fn apply(spec: &Spec) -> Result<(), Failure> {
    let plan = &spec.plan;
    // Nothing done here may propagate back to the host's namespace.
    mount(None, Path::new("/"), None, libc::MS_REC | libc::MS_PRIVATE)?;
    for dir in &plan.writable {
        bind(dir, dir, true)?;
    }
    set_readonly(Path::new("/"), true)?;
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
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        mount(
            Some("tmpfs"),
            shm,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
        )?;
    }
    mount(
        Some("proc"),
        Path::new("/proc"),
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )?;
    // Terminals of its own: the host's other terminals (and what is typed
    // into them) stay out of reach.
    let pts = Path::new("/dev/pts");
    if pts.is_dir() {
        mount_with(
            Some("devpts"),
            pts,
            Some("devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )?;
        let ptmx = Path::new("/dev/ptmx");
        if ptmx.exists() {
            bind(&pts.join("ptmx"), ptmx, false)?;
        }
    }
    for path in &plan.protected {
        if path.symlink_metadata().is_err() {
            std::fs::create_dir_all(path)
                .map_err(|e| Failure::error(&format!("placeholder {}", path.display()), e))?;
        }
        bind(path, path, true)?;
        set_readonly(path, true)?;
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
    for socket in &spec.host_sockets {
        // A socket closed since the host looked has nothing left to reach.
        if socket.symlink_metadata().is_ok() {
            cover(&spec.mask_file, socket)?;
        }
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
