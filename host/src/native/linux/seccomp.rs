//! seccomp: the system calls a sandboxed command never needs and that
//! would let it out (ptrace, io_uring, mounts, new namespaces, bpf, kernel
//! keys, modules) fail with EPERM, and so does every socket family the
//! network grant does not need. NO_NEW_PRIVS is set on the way.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule,
};

use super::helper::Failure;
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

/// The open flags that make a file (O_TMPFILE without its O_DIRECTORY).
const CREATING: &[u64] = &[libc::O_CREAT as u64, 0o20_000_000];

/// clone() flags that would create a namespace (CLONE_NEWTIME only exists
/// for clone3, which is refused as a whole).
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// Terminal ioctls that push input into another process's terminal.
const TERMINAL_INJECTION: &[libc::c_ulong] = &[libc::TIOCSTI, libc::TIOCLINUX];

/// A condition on the low 32 bits of an argument: the kernel reads ioctl
/// requests, socket families and clone flags as 32-bit values, so garbage
/// in the high half must not slip past the filter.
fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, Failure> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
        .map_err(|e| Failure::error("seccomp", e))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, Failure> {
    SeccompRule::new(conditions).map_err(|e| Failure::error("seccomp", e))
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    errno: libc::c_int,
) -> Result<BpfProgram, Failure> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| Failure::error("seccomp", e))?;
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| Failure::error("seccomp", e))
}

/// Installs the filters; returns the layer's description.
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
pub fn apply(network: PlanNetwork, unix_sockets_scoped: bool) -> Result<String, Failure> {
    let (program, layer) = program(network, unix_sockets_scoped)?;
    seccompiler::apply_filter(&program).map_err(|e| Failure::error("seccomp", e))?;
    Ok(layer)
}

/// The filter [`apply`] installs, and the layer's description.
fn program(
    network: PlanNetwork,
    unix_sockets_scoped: bool,
) -> Result<(BpfProgram, String), Failure> {
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    refused.insert(
        libc::SYS_clone,
        NAMESPACE_FLAGS
            .iter()
            .map(|flag| {
                let flag = *flag as u64;
                rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag), flag)?])
            })
            .collect::<Result<_, _>>()?,
    );
    // No setuid or setgid file: one made here would run as its owner for
    // anyone on the host, root's included.
    for (nr, mode, flags) in MODE_SETTERS {
        let mut rules = Vec::new();
        for bit in [libc::S_ISUID as u64, libc::S_ISGID as u64] {
            let set = condition(*mode, SeccompCmpOp::MaskedEq(bit), bit)?;
            match flags {
                None => rules.push(rule(vec![set])?),
                Some(flags) => {
                    for creating in CREATING {
                        rules.push(rule(vec![
                            condition(*flags, SeccompCmpOp::MaskedEq(*creating), *creating)?,
                            set.clone(),
                        ])?);
                    }
                }
            }
        }
        refused.insert(*nr, rules);
    }
    // A listener of its own would let a command answer calls for its
    // children, and in Landlock-only mode race the supervisor for theirs.
    let listener = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    refused.insert(
        libc::SYS_seccomp,
        vec![rule(vec![condition(
            1,
            SeccompCmpOp::MaskedEq(listener),
            listener,
        )?])?],
    );
    // Another process's limits: the supervisor's (same user) would let a
    // command have it killed (RLIMIT_CPU) or starved of descriptors.
    // C libraries set their own with pid 0.
    refused.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![condition(0, SeccompCmpOp::Ne, 0)?])?],
    );
    refused.insert(
        libc::SYS_ioctl,
        TERMINAL_INJECTION
            .iter()
            .map(|request| rule(vec![condition(1, SeccompCmpOp::Eq, *request)?]))
            .collect::<Result<_, _>>()?,
    );
    let mut families = match network {
        PlanNetwork::On => None,
        PlanNetwork::Proxy => Some(vec![(libc::AF_INET, "inet"), (libc::AF_INET6, "inet6")]),
        PlanNetwork::Off => Some(Vec::new()),
    };
    if let Some(families) = &mut families {
        // A pair of unix sockets is all socketpair makes here: other
        // families that have pairs (TIPC) are networks of their own.
        let mut pairs = vec![rule(vec![condition(
            0,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?];
        if unix_sockets_scoped {
            families.push((libc::AF_UNIX, "unix"));
        } else {
            // The low four bits of the type are the kind (the rest are
            // SOCK_CLOEXEC and SOCK_NONBLOCK). Every kind but stream and
            // seqpacket is refused, not just SOCK_DGRAM: the kernel makes
            // a SOCK_RAW unix socket a datagram one.
            for kind in (0..16u64).filter(|kind| {
                ![libc::SOCK_STREAM as u64, libc::SOCK_SEQPACKET as u64].contains(kind)
            }) {
                pairs.push(rule(vec![condition(
                    1,
                    SeccompCmpOp::MaskedEq(0xf),
                    kind,
                )?])?);
            }
        }
        refused.insert(libc::SYS_socketpair, pairs);
        // One rule, all conditions at once: refused unless the family is
        // one of these (no condition at all: every socket() refused).
        let others = families
            .iter()
            .map(|(family, _)| condition(0, SeccompCmpOp::Ne, *family as u64))
            .collect::<Result<Vec<_>, _>>()?;
        let rules = if others.is_empty() {
            Vec::new()
        } else {
            vec![rule(others)?]
        };
        refused.insert(libc::SYS_socket, rules);
    }
    let sockets = match &families {
        None => "all socket families".to_string(),
        Some(families) if families.is_empty() => "no sockets (stream socketpairs only)".into(),
        Some(families) => {
            let names: Vec<&str> = families.iter().map(|(_, name)| *name).collect();
            format!("{} sockets only", names.join("/"))
        }
    };
    let mut program = refused_by_number();
    program.extend(compile(refused, libc::EPERM)?);
    Ok((program, format!("seccomp({sockets})")))
}

/// Checks on the bare system call number, placed before the per-call
/// rules in the same program (one filter for the kernel to run on every
/// call, not three). They only ever refuse, so reading the number before
/// the architecture check lets nothing through. Each is one comparison
/// jumping to a shared return: the kernel's work to take a filter in
/// (checking, translating, compiling it) grows with its length, and
/// seccompiler spends five instructions on a call refused outright.
///
/// - [`REFUSED`] gets EPERM, whatever the arguments.
/// - clone3 passes its flags in memory, out of a filter's reach: ENOSYS
///   makes the C library fall back to clone(), which is checked. So does
///   openat2 its mode (a setuid file could be made): programs fall back
///   to openat.
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
fn refused_by_number() -> BpfProgram {
    use seccompiler::sock_filter;
    const LOAD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS, offset 0: the number
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGT: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K (unsigned)
    const JA: u16 = 0x05; // BPF_JMP | BPF_JA
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO
    // (comparison, number, whether it refuses with ENOSYS rather than EPERM)
    let tests: Vec<(u16, u32, bool)> = ABSENT
        .iter()
        .map(|nr| (JEQ, *nr as u32, true))
        .chain([(JGT, NEWEST_KNOWN, true)])
        .chain(REFUSED.iter().map(|nr| (JEQ, *nr as u32, false)))
        .collect();
    // After the tests: a jump past the two returns, ENOSYS's, EPERM's. A
    // test jumps forward by at most 255.
    let count = tests.len();
    assert!(count < 254, "too many calls refused by number");
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    let mut program = vec![op(LOAD_NR, 0, 0, 0)];
    for (i, (comparison, nr, absent)) in tests.into_iter().enumerate() {
        let to_enosys = count - i;
        let to_return = if absent { to_enosys } else { to_enosys + 1 };
        program.push(op(comparison, to_return as u8, 0, nr));
    }
    program.push(op(JA, 0, 0, 2));
    program.push(op(RET, 0, 0, ERRNO | libc::ENOSYS as u32));
    program.push(op(RET, 0, 0, ERRNO | libc::EPERM as u32));
    program
}

/// The calls a command finds missing (see [`refused_by_number`]).
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
        let Ok((program, _)) = program(PlanNetwork::Off, unix_scoped) else {
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
                if seccompiler::apply_filter(&program).is_err() {
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
