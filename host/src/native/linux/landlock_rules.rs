//! Landlock: reads everywhere, writes only in the writable trees, TCP only
//! with network on (or to the host's proxy with `allow=`), abstract sockets
//! and signals scoped to the sandbox.
//!
//! Without a mount namespace nothing can be covered, so the rules carve the
//! exceptions out themselves. Landlock grants are inherited by a whole
//! hierarchy and cannot be taken back below, so a tree with an exception
//! gets no grant of its own; each of its entries off the path to the
//! exception gets the grant instead. The price: nothing new can be created
//! directly in a directory on such a path (the root itself, for `.git` and
//! `.cordon`), and new files there cannot be read when a secret sits beside
//! them.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::Spec;
use super::helper::Failure;
use crate::native::PlanNetwork;
use crate::net::proxy;

/// The newest ABI whose rights cordon asks for; older kernels get the
/// subset they know (best effort), never nothing.
const ABI_WANTED: ABI = ABI::V9;

/// The devices a command may use. Without namespaces the rest of /dev
/// (disks, the host's terminals, `tty` among them, and what is typed into
/// them) is neither readable nor writable; with them, /dev holds only
/// these (see mounts.rs).
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// With namespaces: the command's own terminal instance.
const TERMINALS: &[&str] = &["/dev/ptmx", "/dev/pts"];

type Grants = Vec<(PathBuf, BitFlags<AccessFs>)>;

/// The command's rules, made once. The supervisor restricts itself with
/// them, then the command's process stacks them again: its domain is then
/// nested in the supervisor's, and Landlock keeps a domain from tracing a
/// process of an enclosing one (no `ptrace`, `/proc/PID/fd`, `pidfd_getfd`
/// of the supervisor's listener). Stacking again takes one call.
pub struct Rules(RulesetCreated);

impl Rules {
    /// Restricts the calling process with the rules; returns the layer's
    /// description.
    pub fn restrict(&self) -> Result<String, Failure> {
        let rules = self
            .0
            .try_clone()
            .map_err(|e| Failure::error("landlock", e))?;
        let status = rules
            .restrict_self()
            .map_err(|e| Failure::error("landlock", e))?;
        if status.ruleset == RulesetStatus::NotEnforced {
            return Err(Failure::Missing(
                "Landlock is not available on this kernel (needs Linux 5.13+ with Landlock \
                 enabled); native commands need it. WASI tools still run; no weaker \
                 sandboxed native mode exists"
                    .into(),
            ));
        }
        let abi = kernel_abi().unwrap_or_default();
        Ok(format!("landlock(abi {abi}, {:?})", status.ruleset).to_lowercase())
    }
}

/// The rules for `spec`'s command.
pub fn rules(spec: &Spec, namespaces: bool) -> Result<Rules, Failure> {
    let plan = &spec.plan;
    let all = AccessFs::from_all(ABI_WANTED);
    let read = AccessFs::from_read(ABI_WANTED);
    // No device nodes made: one would reach past every rule.
    let write = all & !read & !AccessFs::ResolveUnix & !AccessFs::MakeChar & !AccessFs::MakeBlock;
    let mut grants: Grants = Vec::new();
    if namespaces {
        // Secrets are covered by mounts; reading the rest is the policy.
        grants.push(("/".into(), read));
    } else {
        let hidden: Vec<PathBuf> = plan
            .secrets
            .iter()
            .cloned()
            .chain([PathBuf::from("/dev")])
            .collect();
        carve(
            Path::new("/"),
            &hidden,
            read,
            AccessFs::ReadDir.into(),
            &mut grants,
        );
    }
    for dir in &plan.writable {
        // Neither protected paths nor secrets may be written, renamed or
        // removed (a secret renamed is a secret no more for the next run).
        let inside: Vec<PathBuf> = plan
            .protected
            .iter()
            .chain(&plan.secrets)
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect();
        // With namespaces they are read-only mounts and covers.
        if namespaces || inside.is_empty() {
            grants.push((dir.clone(), write));
        } else {
            carve(dir, &inside, write, BitFlags::EMPTY, &mut grants);
        }
    }
    grants.push((spec.tmpdir.clone(), write));
    if namespaces {
        grants.push(("/dev/shm".into(), write));
        // The overlays over them (the command's writes go to cordon's
        // staging directory, see git_commit.rs).
        grants.extend(plan.git_commit.iter().map(|dir| (dir.clone(), write)));
    }
    let terminals = if namespaces { TERMINALS } else { &[] };
    for device in DEVICES.iter().chain(terminals) {
        grants.push((
            device.into(),
            read | AccessFs::WriteFile | AccessFs::IoctlDev,
        ));
    }
    // Pathname unix sockets (ABI 9): without network only inside the
    // writable trees; older kernels rely on the mounts or on seccomp.
    if plan.network == PlanNetwork::On {
        grants.push(("/".into(), AccessFs::ResolveUnix.into()));
    } else {
        for dir in &plan.writable {
            grants.push((dir.clone(), AccessFs::ResolveUnix.into()));
        }
    }

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| Failure::error("landlock", e))?;
    if plan.network != PlanNetwork::On {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| Failure::error("landlock", e))?;
    }
    let mut created = ruleset
        .scope(Scope::from_all(ABI_WANTED))
        .map_err(|e| Failure::error("landlock", e))?
        .create()
        .map_err(|e| Failure::error("landlock", e))?;
    for (path, access) in grants {
        // A device or tree missing on this machine has nothing to grant.
        let Ok(fd) = PathFd::new(&path) else {
            continue;
        };
        let access = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(ABI_WANTED)
        };
        if access.is_empty() {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| Failure::error(&format!("landlock rule for {}", path.display()), e))?;
    }
    if plan.network == PlanNetwork::Proxy {
        created = created
            .add_rule(NetPort::new(proxy::PORT, AccessNet::ConnectTcp))
            .map_err(|e| Failure::error("landlock rule for the proxy port", e))?;
    }
    Ok(Rules(created))
}

/// Grants `access` on everything under `base` except `excluded`: entries
/// off every path to an exception get `access`, directories on such a
/// path get only `along`. Symlinks get nothing (their targets have rules of
/// their own).
fn carve(
    base: &Path,
    excluded: &[PathBuf],
    access: BitFlags<AccessFs>,
    along: BitFlags<AccessFs>,
    grants: &mut Grants,
) {
    if excluded.iter().any(|e| e == base) {
        return;
    }
    if !excluded.iter().any(|e| e.starts_with(base)) {
        grants.push((base.to_path_buf(), access));
        return;
    }
    if !along.is_empty() {
        grants.push((base.to_path_buf(), along));
    }
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        carve(&entry.path(), excluded, access, along, grants);
    }
}

/// Whether this kernel's Landlock confines unix sockets: pathname ones to
/// the grants (ABI 9, `ResolveUnix`) and abstract ones to the sandbox
/// (ABI 6 scopes).
pub fn confines_unix_sockets() -> bool {
    kernel_abi().is_ok_and(|abi| abi >= 9)
}

/// The kernel's Landlock ABI version, or why there is none.
pub fn kernel_abi() -> Result<i64, String> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the version query takes no attributes.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi > 0 {
        Ok(abi)
    } else {
        Err(format!(
            "not available: {}",
            std::io::Error::last_os_error()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carve_grants_around_the_exceptions_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("vendor/lib/.git")).unwrap();
        std::fs::create_dir_all(root.join("vendor/other")).unwrap();
        std::fs::write(root.join("README"), "").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        let excluded = [root.join(".git"), root.join("vendor/lib/.git")];
        let mut grants = Vec::new();
        let write: BitFlags<AccessFs> = AccessFs::WriteFile | AccessFs::MakeReg;
        carve(root, &excluded, write, BitFlags::EMPTY, &mut grants);
        let mut paths: Vec<PathBuf> = grants.into_iter().map(|(p, _)| p).collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                root.join("README"),
                root.join("src"),
                root.join("vendor/other")
            ]
        );
    }
}
