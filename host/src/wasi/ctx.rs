//! The WASI context of one run, built from a [`SandboxPolicy`].
//!
//! Deny by default: the only preopens are the project root (at its absolute
//! path, so agents may pass absolute paths) and the working directory (at
//! `.`, where relative paths resolve); no sockets and no name lookup unless
//! the policy's network grants them (through the gate); the
//! environment holds only the fixed variables below and what `--env` passes.
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

use super::Stdio;
use super::determinism;
use super::fs_guard::FsGuard;
use super::net_p2;
use crate::net::{Gate, NetAccess};
use crate::policy::SandboxPolicy;

/// Where a deterministic run sees the project root.
pub const DETERMINISTIC_ROOT: &str = "/project";

/// Builds the context for `argv` under `policy`.
///
/// # Errors
///
/// When the root or the working directory cannot be opened.
pub fn build(
    policy: &SandboxPolicy,
    guard: Option<&FsGuard>,
    gate: Option<Arc<Gate>>,
    argv: &[String],
    stdio: Stdio,
) -> Result<WasiCtxBuilder> {
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
    let cwd_dir = open_beneath(policy.root(), policy.cwd())
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
        b.preopened_dir(policy.root(), root, perms)
            .with_context(|| format!("opening root {}", policy.root().display()))?;
    }
    if let Some(alias) = policy.root_alias().and_then(|a| a.to_str())
        && policy.determinism.is_none()
    {
        b.preopened_dir(policy.root(), alias, perms)?;
    }
    b.preopened_dir(held_path(&cwd_dir, &cwd_abs), ".", cwd_perms)
        .with_context(|| format!("opening {}", cwd_abs.display()))?;
    b.initial_cwd(&guest_cwd);
    b.env("HOME", guest_root.unwrap_or("."));
    b.env("PWD", &guest_cwd);
    for (key, value) in policy.env() {
        b.env(key, value);
    }
    if let Some(fixed) = &policy.determinism {
        determinism::apply(&mut b, fixed);
    }
    Ok(b)
}

/// The directory `relative` names under `root`, resolved as a guest call
/// would be (see `fs_spot`): no symlink followed out of the root, none
/// left to be swapped between the opening and the use.
fn open_beneath(root: &Path, relative: &Path) -> std::io::Result<std::fs::File> {
    use cap_fs_ext::DirExt;
    let root = std::fs::File::open(root)?;
    let relative = relative
        .to_str()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    let relative = if relative.is_empty() { "." } else { relative };
    let spot = super::fs_spot::locate(&root, relative, true)?;
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
