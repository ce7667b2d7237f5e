//! A command run as root keeps only the capabilities that act on files
//! and on its own identity. The rest reach past the other layers:
//! - without a user namespace (Landlock-only mode, or root's namespaces
//!   without one) they are the host's: set the clock and the host name,
//!   freeze, shut down or relabel a file system by ioctl, reconfigure the
//!   network;
//! - even inside its own user namespace, CAP_SYS_ADMIN opens directories
//!   by handle (`open_by_handle_at`) on the mount beneath a read-only or
//!   covering one, and CAP_SETFCAP writes file capabilities that hold on
//!   the host (root is root's own in the namespace).
//!
//! CAP_SETFCAP, CAP_LINUX_IMMUTABLE and CAP_MKNOD go with them; the kept
//! ones act within what Landlock, the mounts and the metadata supervisor
//! allow.

use super::helper::Failure;

/// CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
/// CAP_FSETID, CAP_KILL (signals are scoped by Landlock), CAP_SETGID,
/// CAP_SETUID, CAP_NET_BIND_SERVICE.
const KEPT: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 7, 10];

/// The highest capability number any kernel is asked about.
const LAST: u32 = 63;

/// Drops every capability but [`KEPT`] from this process: from its
/// bounding set (what an executed program can get back) where it may
/// change that (root), and from its effective, permitted, inheritable and
/// ambient sets. Returns the layer's description, or `None` when there was
/// nothing to drop.
pub fn keep_file_powers() -> Result<Option<String>, Failure> {
    let kept_mask: u64 = KEPT.iter().map(|cap| 1u64 << cap).sum();
    let mut sets = capget()?;
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root
        && sets
            .iter()
            .all(|set| set.effective == 0 && set.permitted == 0)
    {
        return Ok(None);
    }
    for cap in (0..=LAST).filter(|cap| !KEPT.contains(cap)) {
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINVAL) => break, // past this kernel's last one
                // Without CAP_SETPCAP: nothing executed gets more than the
                // (reduced) sets below, NO_NEW_PRIVS holds file capabilities.
                Some(libc::EPERM) if !root => break,
                _ => return Err(Failure::last_os("dropping capabilities")),
            }
        }
    }
    // SAFETY: plain prctl.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(Failure::last_os("clearing ambient capabilities"));
    }
    for (half, set) in sets.iter_mut().enumerate() {
        let mask = (kept_mask >> (32 * half)) as u32;
        set.effective &= mask;
        set.permitted &= mask;
        set.inheritable = 0;
    }
    capset(&sets)?;
    Ok(Some(
        "capabilities(only chown, dac_override, dac_read_search, fowner, fsetid, kill, \
         setgid, setuid, net_bind_service)"
            .into(),
    ))
}

/// Leaves this process the capabilities the command has once it executed:
/// [`keep_file_powers`], and none at all for a user other than root
/// (executing a program drops them).
pub fn as_executed() -> Result<(), Failure> {
    keep_file_powers()?;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        let mut sets = capget()?;
        for set in &mut sets {
            *set = Set::default();
        }
        capset(&sets)?;
    }
    Ok(())
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Set {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// _LINUX_CAPABILITY_VERSION_3: two 32-bit halves.
const VERSION_3: u32 = 0x2008_0522;

fn capget() -> Result<[Set; 2], Failure> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut sets = [Set::default(); 2];
    // SAFETY: a version-3 header and room for its two sets.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, sets.as_mut_ptr()) } != 0 {
        return Err(Failure::last_os("reading capabilities"));
    }
    Ok(sets)
}

fn capset(sets: &[Set; 2]) -> Result<(), Failure> {
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    // SAFETY: a version-3 header and its two sets.
    if unsafe { libc::syscall(libc::SYS_capset, &mut header, sets.as_ptr()) } != 0 {
        return Err(Failure::last_os("dropping capabilities"));
    }
    Ok(())
}
