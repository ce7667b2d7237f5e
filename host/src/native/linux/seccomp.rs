//! seccomp: the system calls a sandboxed command never needs and that
//! would let it out (ptrace, io_uring, mounts, new namespaces, bpf, kernel
//! keys, modules) fail with EPERM, and so does every socket family the
//! network grant does not need. One filter holds these refusals and the
//! calls the supervisor decides.

use std::os::fd::RawFd;

use super::helper::Failure;
use super::metadata;
use super::syscall_filter::{self, Action, Check, Filter};
use crate::native::PlanNetwork;

/// Refused outright, whatever the arguments.
const REFUSED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    // Another process's descriptor (the supervisor's listener): Landlock's
    // nested domain refuses it too.
    libc::SYS_pidfd_getfd,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_perf_event_open,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_acct,
    libc::SYS_userfaultfd,
    libc::SYS_syslog,
    // Opens by handle, past every path check: with CAP_SYS_ADMIN in its
    // own namespace a command reaches what a mount covers.
    libc::SYS_open_by_handle_at,
];

/// Calls that set a file's mode: the argument holding the mode, and the
/// one holding open's flags when the mode only counts as a file is made.
#[cfg(target_arch = "x86_64")]
const MODE_SETTERS: &[(libc::c_long, u8, Option<u8>)] = &[
    (libc::SYS_chmod, 1, None),
    (libc::SYS_fchmod, 1, None),
    (libc::SYS_fchmodat, 2, None),
    (libc::SYS_fchmodat2, 2, None),
    (libc::SYS_mknod, 1, None),
    (libc::SYS_mknodat, 2, None),
    (libc::SYS_creat, 1, None),
    (libc::SYS_open, 2, Some(1)),
    (libc::SYS_openat, 3, Some(2)),
];
#[cfg(not(target_arch = "x86_64"))]
const MODE_SETTERS: &[(libc::c_long, u8, Option<u8>)] = &[
    (libc::SYS_fchmod, 1, None),
    (libc::SYS_fchmodat, 2, None),
    (libc::SYS_fchmodat2, 2, None),
    (libc::SYS_mknodat, 2, None),
    (libc::SYS_openat, 3, Some(2)),
];

/// The open flags that make a file: O_CREAT, and O_TMPFILE without its
/// O_DIRECTORY.
const CREATING: u32 = libc::O_CREAT as u32 | 0o20_000_000;

/// clone() flags that would create a namespace (CLONE_NEWTIME only exists
/// for clone3, which is refused as a whole).
const NAMESPACE_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u32;

/// Terminal ioctls that push input into another process's terminal.
const TERMINAL_INJECTION: &[u32] = &[libc::TIOCSTI as u32, libc::TIOCLINUX as u32];

/// Installs the one filter of the command's process: the refusals below,
/// then the calls the supervisor decides ([`metadata::supervise`]), and
/// hands the supervisor its listener on `channel`. Returns the layers'
/// descriptions. NO_NEW_PRIVS is set on the way.
///
/// Socket families: with the network on, all; with `allow=` only INET and
/// INET6 (to the proxy, which Landlock and the namespace leave as all they
/// reach); off, none. AF_UNIX joins those only where the kernel confines
/// it (`unix_sockets_scoped`: Landlock restricts pathname sockets to the
/// writable trees and abstract ones to the sandbox). Otherwise a unix
/// socket could reach any listener of the host's, whatever its name or
/// network namespace: socket(AF_UNIX) is refused, and so is every
/// socketpair but stream and seqpacket ones (connected for good): a
/// datagram one could be re-connected, or sent from, to any address.
pub fn apply(
    network: PlanNetwork,
    unix_sockets_scoped: bool,
    channel: RawFd,
    metadata: bool,
) -> Result<[String; 2], Failure> {
    // SAFETY: plain prctl; a filter needs it (or CAP_SYS_ADMIN).
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Failure::last_os("PR_SET_NO_NEW_PRIVS"));
    }
    let (program, layer) = program(network, unix_sockets_scoped, metadata)?;
    let listener = syscall_filter::install(&program).map_err(|e| Failure::error("seccomp", e))?;
    Ok([metadata::hand_over(channel, listener, metadata)?, layer])
}

/// The program [`apply`] installs, and the refusals' description. The
/// refusals come first: the kernel, too, would take a refusal over a
/// notification.
fn program(
    network: PlanNetwork,
    unix_sockets_scoped: bool,
    metadata: bool,
) -> Result<(Vec<libc::sock_filter>, String), Failure> {
    let (mut filter, layer) = refusals(network, unix_sockets_scoped);
    metadata::supervise(&mut filter, metadata);
    let program = filter.program().map_err(|e| Failure::error("seccomp", e))?;
    Ok((program, layer))
}

/// The refusals, and their description.
///
/// - [`REFUSED`] gets EPERM, whatever the arguments.
/// - clone3 passes its flags in memory, out of a filter's reach: ENOSYS
///   makes the C library fall back to clone(), which is checked. So does
///   openat2 its mode (a setuid file could be made) and its flags (whether
///   it makes a name the supervisor must judge): programs fall back to
///   openat.
/// - Landlock is as if absent: the supervisor makes names for the command
///   within cordon's domain, so a tighter domain the command stacked for
///   itself would not hold for them. A program then knows it has none,
///   rather than trusting one that leaks.
/// - A system call newer than [`NEWEST_KNOWN`] gets ENOSYS: a refusal list
///   cannot judge what it has never seen (Linux 6.15's open_tree_attr
///   clones a mount with its read-only flag cleared; 6.17's file_setattr
///   sets file attributes by path), and C libraries fall back to the
///   older calls on ENOSYS. This covers x86_64's x32 ABI too, which reaches
///   the same system calls with bit 30 set in the number, under the same
///   architecture tag, past rules keyed by number.
fn refusals(network: PlanNetwork, unix_sockets_scoped: bool) -> (Filter, String) {
    let refuse = Action::Errno(libc::EPERM);
    let absent = Action::Errno(libc::ENOSYS);
    let mut filter = Filter::new(NEWEST_KNOWN, absent);
    for nr in ABSENT {
        filter.always(*nr, absent);
    }
    for nr in REFUSED {
        filter.always(*nr, refuse);
    }
    filter.when(
        libc::SYS_clone,
        vec![Check::any_bit(0, NAMESPACE_FLAGS)],
        refuse,
    );
    // No setuid or setgid file: one made here would run as its owner for
    // anyone on the host, root's included.
    let set_id = libc::S_ISUID | libc::S_ISGID;
    for (nr, mode, flags) in MODE_SETTERS {
        let creating = flags.map(|flags| Check::any_bit(flags, CREATING));
        let checks = creating
            .into_iter()
            .chain([Check::any_bit(*mode, set_id)])
            .collect();
        filter.when(*nr, checks, refuse);
    }
    // A listener of its own would let a command answer calls for its
    // children, and in Landlock-only mode race the supervisor for theirs.
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
    filter.when(libc::SYS_seccomp, vec![Check::any_bit(1, listener)], refuse);
    // Another process's limits: the supervisor's (same user) would let a
    // command have it killed (RLIMIT_CPU) or starved of descriptors.
    // C libraries set their own with pid 0.
    filter.when(libc::SYS_prlimit64, vec![Check::none_of(0, &[0])], refuse);
    filter.when(
        libc::SYS_ioctl,
        vec![Check::one_of(1, TERMINAL_INJECTION)],
        refuse,
    );
    let mut families = match network {
        PlanNetwork::On => None,
        PlanNetwork::Proxy => Some(vec![(libc::AF_INET, "inet"), (libc::AF_INET6, "inet6")]),
        PlanNetwork::Off => Some(Vec::new()),
    };
    if let Some(families) = &mut families {
        // A pair of unix sockets is all socketpair makes here: other
        // families that have pairs (TIPC) are networks of their own.
        let unix = libc::AF_UNIX as u32;
        filter.when(
            libc::SYS_socketpair,
            vec![Check::none_of(0, &[unix])],
            refuse,
        );
        if unix_sockets_scoped {
            families.push((libc::AF_UNIX, "unix"));
        } else {
            // The low four bits of the type are the kind (the rest are
            // SOCK_CLOEXEC and SOCK_NONBLOCK). Every kind but stream and
            // seqpacket is refused, not just SOCK_DGRAM: the kernel makes
            // a SOCK_RAW unix socket a datagram one.
            let connected = [libc::SOCK_STREAM as u32, libc::SOCK_SEQPACKET as u32];
            filter.when(
                libc::SYS_socketpair,
                vec![Check::none_of(1, &connected).masked(0xf)],
                refuse,
            );
        }
        let allowed: Vec<u32> = families.iter().map(|(family, _)| *family as u32).collect();
        filter.when(libc::SYS_socket, vec![Check::none_of(0, &allowed)], refuse);
    }
    let sockets = match &families {
        None => "all socket families".to_string(),
        Some(families) if families.is_empty() => "no sockets (stream socketpairs only)".into(),
        Some(families) => {
            let names: Vec<&str> = families.iter().map(|(_, name)| *name).collect();
            format!("{} sockets only", names.join("/"))
        }
    };
    (filter, format!("seccomp({sockets})"))
}

/// The calls a command finds missing (see [`refusals`]).
const ABSENT: &[libc::c_long] = &[
    libc::SYS_clone3,
    libc::SYS_openat2,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
];

/// The newest system call whose effects this filter was written for
/// (removexattrat, Linux 6.13; numbered alike on every architecture since
/// 5.1).
const NEWEST_KNOWN: u32 = 466;

/// Whether the kernel has seccomp filters.
pub fn available() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if status.lines().any(|l| l.starts_with("Seccomp_filters:")) || status.contains("Seccomp:") {
        Ok(())
    } else {
        Err("not in this kernel (CONFIG_SECCOMP_FILTER)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each call returns in a child that installed the filter: the
    /// errno, or 0 where it did not fail. Every argument is all ones, so a
    /// call the filter let through fails harmlessly (bad address, bad
    /// descriptor, bad flags) with an errno of its own.
    fn errnos_under_filter(calls: &[libc::c_long]) -> Vec<i32> {
        let all = usize::MAX;
        let calls: Vec<_> = calls.iter().map(|nr| (*nr, [all; 4])).collect();
        errnos_of(&calls, true)
    }

    /// As [`errnos_under_filter`], with the first four arguments given,
    /// under the filter for the network off.
    fn errnos_of(calls: &[(libc::c_long, [usize; 4])], unix_scoped: bool) -> Vec<i32> {
        let Ok((program, _)) = program(PlanNetwork::Off, unix_scoped, false) else {
            panic!("the filter does not compile");
        };
        let mut fds = [0; 2];
        // SAFETY: a fresh pipe into a local array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only makes system calls and writes to the pipe
        // (the program was built before the fork), then _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                // The listener is dropped: a notified call fails.
                if syscall_filter::install(&program).is_err() {
                    libc::_exit(2);
                }
                for (nr, [a, b, c, d]) in calls {
                    let errno = if libc::syscall(*nr, *a, *b, *c, *d, 0usize, 0usize) < 0 {
                        *libc::__errno_location()
                    } else {
                        0
                    };
                    libc::write(fds[1], (&raw const errno).cast(), 4);
                }
                libc::_exit(0);
            }
        }
        // SAFETY: the parent's copy of the write end, not used here.
        unsafe { libc::close(fds[1]) };
        let mut out = Vec::new();
        // SAFETY: the read end, owned from here on.
        let mut reader = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        std::io::Read::read_to_end(&mut reader, &mut out).unwrap();
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(status, 0, "the child could not install the filter");
        out.chunks(4)
            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn every_call_refused_by_number_gets_its_errno_and_others_pass() {
        let refused = errnos_under_filter(REFUSED);
        assert!(refused.iter().all(|e| *e == libc::EPERM), "{refused:?}");
        let absent: Vec<libc::c_long> = ABSENT
            .iter()
            .copied()
            .chain([
                NEWEST_KNOWN as libc::c_long + 1,
                1 << 30 | libc::SYS_unshare,
            ])
            .collect();
        let absent = errnos_under_filter(&absent);
        assert!(absent.iter().all(|e| *e == libc::ENOSYS), "{absent:?}");
        // Past the refusals: a call refused on its arguments alone, one
        // the filter lets through, and the newest it knows.
        let rest = errnos_under_filter(&[libc::SYS_socket, libc::SYS_close, NEWEST_KNOWN as _]);
        assert_eq!(rest[0], libc::EPERM);
        assert_eq!(rest[1], libc::EBADF);
        assert_ne!(rest[2], libc::EPERM);
        assert_ne!(rest[2], libc::ENOSYS);
    }

    /// One filter answers both: a refusal wins over the supervisor, as
    /// the kernel would decide between two filters.
    #[test]
    fn refusals_come_before_the_calls_the_supervisor_decides() {
        let path = c"/nonexistent/cordon-test".as_ptr() as usize;
        let here = libc::AT_FDCWD as usize;
        let create = (libc::O_CREAT | libc::O_WRONLY) as usize;
        let errnos = errnos_of(
            &[
                (libc::SYS_openat, [here, path, create, 0o4755]),
                // Sent to the supervisor, which is not there: ENOSYS.
                (libc::SYS_openat, [here, path, create, 0o644]),
                (libc::SYS_openat, [here, path, libc::O_RDONLY as usize, 0]),
            ],
            true,
        );
        assert_eq!(errnos, [libc::EPERM, libc::ENOSYS, libc::ENOENT]);
    }

    /// btrfs's requests that make subvolumes and snapshots (names the
    /// supervisor never sees) are refused with namespaces too; a clone of
    /// a file's extents is not.
    #[test]
    fn file_systems_requests_that_make_names_are_refused() {
        let bad_fd = usize::MAX;
        let calls: Vec<_> = [0x5000_9401usize, 0x5000_940e, 0x5000_9417, 0x5000_9418]
            .into_iter()
            .chain([0x4004_9409]) // FICLONE
            .map(|request| (libc::SYS_ioctl, [bad_fd, request, 0, 0]))
            .collect();
        let errnos = errnos_of(&calls, true);
        let eperm = libc::EPERM;
        assert_eq!(errnos, [eperm, eperm, eperm, eperm, libc::EBADF]);
    }

    /// Setting file flags goes to the supervisor with namespaces too (it
    /// refuses FS_CASEFOLD_FL); FS_IOC_FSSETXATTR, which cannot set that
    /// flag, is left to the read-only mounts.
    #[test]
    fn setting_file_flags_goes_to_the_supervisor_in_every_mode() {
        let bad_fd = usize::MAX;
        let calls: Vec<_> = [0x4008_6602usize, 0x4004_6602, 0x401c_5820]
            .into_iter()
            .map(|request| (libc::SYS_ioctl, [bad_fd, request, 0, 0]))
            .collect();
        let errnos = errnos_of(&calls, true);
        assert_eq!(errnos, [libc::ENOSYS, libc::ENOSYS, libc::EBADF]);
    }

    #[test]
    fn socketpair_makes_unix_pairs_only_with_the_network_off() {
        let tipc = 30; // AF_TIPC: a network of its own, with socketpair
        let stream = libc::SOCK_STREAM as usize;
        let dgram = libc::SOCK_DGRAM as usize;
        let unix = libc::AF_UNIX as usize;
        let mut pair = [0i32; 2];
        let out = pair.as_mut_ptr() as usize;
        for scoped in [true, false] {
            let errnos = errnos_of(
                &[
                    (libc::SYS_socketpair, [tipc, stream, 0, out]),
                    (libc::SYS_socketpair, [unix, stream, 0, out]),
                    (libc::SYS_socketpair, [unix, dgram, 0, out]),
                ],
                scoped,
            );
            let dgram_refused = if scoped { 0 } else { libc::EPERM };
            assert_eq!(errnos, [libc::EPERM, 0, dgram_refused], "scoped: {scoped}");
        }
    }
}
