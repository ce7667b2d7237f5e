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
    // A working directory inside a protected tree is read-only from the start.
    let cwd_perms = match guard {
        Some(guard) if perms == FsPerms::ReadWrite => {
            let dir = std::fs::File::open(&cwd_abs)
                .with_context(|| format!("opening {}", cwd_abs.display()))?;
            if guard.dir_protected(&dir) {
                FsPerms::ReadOnly
            } else {
                perms
            }
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
    b.preopened_dir(&cwd_abs, ".", cwd_perms)
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
