//! Metadata changes without namespaces. Landlock has no access right for
//! chmod, chown, utimes, extended attributes (ACLs among them) or the
//! file-attribute ioctls, and without a mount namespace no read-only mount
//! refuses them. So in Landlock-only mode those calls go to the supervisor
//! (seccomp user notification), which decides and acts itself:
//!
//! - it reads the arguments from the command's memory once, and resolves
//!   the target from the command's own working directory or descriptor;
//! - it checks by identity (device and inode, walking up through `..`)
//!   that the target lies in a writable tree and not under a protected or
//!   secret path;
//! - it makes the change itself, on the object it checked. The call is
//!   never let through to the kernel after the check: the command's memory
//!   can change between the check and the kernel's own read of it.
//!
//! Anything the supervisor cannot establish is refused (EPERM): a command
//! whose credentials differ from the supervisor's, a chroot, a magic link
//! of /proc in the path, memory it cannot read.
//!
//! The same supervisor, in both modes, makes the calls that make names
//! (see [`super::names`]) and sets file flags (FS_IOC_SETFLAGS), where it
//! refuses to make a directory case-folding ([`FS_CASEFOLD_FL`]).

use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::io::{Error, ErrorKind};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::helper::Failure;
use super::names::{self, Answer};
use super::syscall_filter::{Action, Check, Filter};

/// `ioctl` requests that change a file's attributes, done by the supervisor
/// on checked files: FS_IOC_SETFLAGS (with its 32-bit twin, both read an
/// int) and FS_IOC_FSSETXATTR (a 28-byte `struct fsxattr`).
const ATTRIBUTE_IOCTLS: &[(u32, usize)] = &[(0x4008_6602, 4), (0x4004_6602, 4), (0x401c_5820, 28)];

/// FS_IOC_SETFLAGS and its 32-bit twin: the supervisor decides them in
/// every mode, for [`FS_CASEFOLD_FL`].
const SET_FLAGS: &[u32] = &[0x4008_6602, 0x4004_6602];

/// FS_IOC_GETFLAGS: the flags a SETFLAGS would replace.
const GET_FLAGS: libc::c_ulong = 0x8008_6601;

/// The flag that makes an empty directory case-folding (ext4, f2fs, tmpfs
/// mounted so). Names there are found by what they fold to, and a name
/// the supervisor let through as not `.git` could be found as `.git` by
/// the user's git, under whatever folding that kernel applies. No command
/// may set it; a directory already folding keeps it.
const FS_CASEFOLD_FL: i32 = 0x4000_0000;

/// File-system `ioctl`s that only read, of the types refused below:
/// FS_IOC_GETFLAGS (and its 32-bit twin), FS_IOC_FSGETXATTR, FS_IOC_FIEMAP,
/// FS_IOC_GETVERSION (and twin), FS_IOC_GETFSLABEL, and FICLONE and
/// FICLONERANGE, which write only a file opened for writing (cp
/// --reflink).
const READING_IOCTLS: &[u32] = &[
    0x8008_6601,
    0x8004_6601,
    0x801c_581f,
    0xc020_660b,
    0x8008_7601,
    0x8004_7601,
    0x8100_9431,
    0x4004_9409,
    0x4020_940d,
];

/// The `ioctl` types of file systems' own requests ('f' for ext4 and the
/// generic FS_IOC_*, 'X' for xfs and FS_IOC_FSSETXATTR, 'v' for versions,
/// 0x94 for btrfs and FICLONE, 0xf5 for f2fs, 'r' for FAT): many change
/// an inode through a descriptor opened only for reading (the kernel
/// checks the mount, not the descriptor), and some make names where the
/// supervisor never sees them (btrfs's subvolumes and snapshots: a `.git`,
/// or a snapshot of the root whose copies of secret files no mount
/// covers). They are refused in every mode, but for [`READING_IOCTLS`]
/// and the attribute requests.
const FILE_SYSTEM_IOCTL_TYPES: &[u32] = &[0x66, 0x58, 0x76, 0x94, 0xf5, 0x72];

/// setxattrat and removexattrat (Linux 6.13, the same number on every
/// architecture): answered ENOSYS, so a C library falls back to the calls
/// the supervisor handles.
const XATTR_AT: &[i64] = &[463, 466];

/// The system calls the supervisor decides.
#[cfg(target_arch = "x86_64")]
const LEGACY: &[i64] = &[
    libc::SYS_chmod,
    libc::SYS_chown,
    libc::SYS_lchown,
    libc::SYS_utime,
    libc::SYS_utimes,
    libc::SYS_futimesat,
];
#[cfg(not(target_arch = "x86_64"))]
const LEGACY: &[i64] = &[];

const SUPERVISED: &[i64] = &[
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchmodat2,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_setxattr,
    libc::SYS_lsetxattr,
    libc::SYS_fsetxattr,
    libc::SYS_removexattr,
    libc::SYS_lremovexattr,
    libc::SYS_fremovexattr,
];

/// Hands the supervisor the filter's `listener` on `channel`; returns the
/// layer's description. The command's process keeps no copy: it could
/// answer its own calls.
pub fn hand_over(channel: RawFd, listener: OwnedFd, metadata: bool) -> Result<String, Failure> {
    send_fd(channel, listener.as_raw_fd()).map_err(|e| Failure::error("seccomp listener", e))?;
    drop(listener);
    Ok(if metadata {
        "supervisor(new names but .git and git-directory shapes, and chmod/chown/utimes/xattr only in the writable \
         trees, decided and made by cordon)"
    } else {
        "supervisor(new names but .git and git-directory shapes, decided and made by cordon)"
    }
    .into())
}

/// Adds to `filter` what the supervisor decides: the calls that make names
/// (an open only with O_CREAT) and, with `metadata`, the supervised calls
/// and attribute ioctls are sent to it; the `*xattrat` calls are answered
/// ENOSYS (openat2 is, for every mode, among the refusals). File systems' own ioctls are refused in every
/// mode (see [`FILE_SYSTEM_IOCTL_TYPES`]).
pub fn supervise(filter: &mut Filter, metadata: bool) {
    for (nr, flags) in names::MAKING.iter().chain(names::MAKING_LEGACY) {
        match flags {
            None => filter.always(*nr, Action::Notify),
            Some(arg) => filter.when(
                *nr,
                vec![Check::any_bit(*arg, libc::O_CREAT as u32)],
                Action::Notify,
            ),
        }
    }
    if metadata {
        for nr in SUPERVISED.iter().chain(LEGACY) {
            filter.always(*nr, Action::Notify);
        }
        for nr in XATTR_AT {
            filter.always(*nr, Action::Errno(libc::ENOSYS));
        }
    }
    filter.when(
        libc::SYS_ioctl,
        vec![Check::one_of(1, SET_FLAGS)],
        Action::Notify,
    );
    // With namespaces the read-only mounts hold the other attribute
    // changes.
    let attributes: Vec<u32> = ATTRIBUTE_IOCTLS
        .iter()
        .map(|(request, _)| *request)
        .filter(|request| !SET_FLAGS.contains(request))
        .collect();
    let changing = if metadata {
        Action::Notify
    } else {
        Action::Allow
    };
    filter.when(
        libc::SYS_ioctl,
        vec![Check::one_of(1, &attributes)],
        changing,
    );
    filter.when(
        libc::SYS_ioctl,
        vec![Check::one_of(1, READING_IOCTLS)],
        Action::Allow,
    );
    // The type is the request's second byte.
    let kinds: Vec<u32> = FILE_SYSTEM_IOCTL_TYPES
        .iter()
        .map(|kind| kind << 8)
        .collect();
    filter.when(
        libc::SYS_ioctl,
        vec![Check::one_of(1, &kinds).masked(0xff00)],
        Action::Errno(libc::EPERM),
    );
}

/// Sends `fd` over the unix socket `channel` (SCM_RIGHTS).
fn send_fd(channel: RawFd, fd: RawFd) -> std::io::Result<()> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64s keep the control buffer aligned for a cmsghdr.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; the pointers set below outlive sendmsg,
    // and CMSG_FIRSTHDR points into `control`, which has room for one fd.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        if libc::sendmsg(channel, &msg, 0) != 1 {
            return Err(Error::last_os_error());
        }
    }
    Ok(())
}

/// Receives the listener sent by [`install`], if the command's process
/// sent one before it executed (or failed).
pub fn receive_listener(channel: RawFd) -> Option<OwnedFd> {
    let mut byte = [0u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: as in `send_fd`; the descriptor received is owned once.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        if libc::recvmsg(
            channel,
            &mut msg,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        ) != 1
        {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return None;
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Some(OwnedFd::from_raw_fd(fd))
    }
}

/// A file's identity.
pub type Id = (u64, u64);

pub fn identity(fd: BorrowedFd) -> std::io::Result<(Id, libc::stat)> {
    // SAFETY: fstat fills the buffer on success.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(Error::last_os_error());
        }
        Ok(((st.st_dev, st.st_ino), st))
    }
}

/// Where metadata may change: the writable trees, less the protected and
/// secret paths in them, by identity.
pub struct Area {
    writable: HashSet<Id>,
    excluded: HashSet<Id>,
    /// The supervisor's "/", which the command's must be.
    root: Id,
    /// What names are judged by.
    pub names: names::Names,
}

impl Area {
    pub fn new<'a>(
        writable: impl IntoIterator<Item = &'a PathBuf>,
        excluded: impl IntoIterator<Item = &'a PathBuf>,
    ) -> std::io::Result<Area> {
        use std::os::unix::fs::MetadataExt;
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        let writable = writable
            .into_iter()
            .filter_map(|p| std::fs::metadata(p).ok().map(id))
            .collect();
        // A protected path counts as itself and, when it is a link, as
        // what it leads to.
        let excluded = excluded
            .into_iter()
            .flat_map(|p| [std::fs::symlink_metadata(p), std::fs::metadata(p)])
            .filter_map(|m| m.ok().map(id))
            .collect();
        Ok(Area {
            writable,
            excluded,
            root: id(std::fs::metadata("/")?),
            names: names::Names::default(),
        })
    }

    /// Whether `object` (with the directory it was found in, for anything
    /// but a directory) lies in the area.
    fn holds(&self, object: BorrowedFd, parent: Option<BorrowedFd>) -> bool {
        let Ok((id, st)) = identity(object) else {
            return false;
        };
        if self.excluded.contains(&id) {
            return false;
        }
        if self.writable.contains(&id) {
            return true;
        }
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let start = match (is_dir, parent) {
            (true, _) => open_at(object, c"..", libc::O_DIRECTORY),
            (false, Some(parent)) => dup(parent),
            // A file no name leads to any more, open for writing: Landlock
            // let the command open it so (made with O_TMPFILE or memfd, or
            // unlinked, in the area). One opened only for reading may be
            // anybody's.
            (false, None) => {
                return st.st_mode & libc::S_IFMT == libc::S_IFREG
                    && st.st_nlink == 0
                    && opened_for_writing(object);
            }
        };
        let Ok(mut dir) = start else { return false };
        // Directories have one parent each: `..` leads to the top of the
        // tree without ambiguity. 4096 levels is deeper than any path.
        for _ in 0..4096 {
            let Ok((id, _)) = identity(dir.as_fd()) else {
                return false;
            };
            if self.excluded.contains(&id) {
                return false;
            }
            if self.writable.contains(&id) {
                return true;
            }
            let Ok(up) = open_at(dir.as_fd(), c"..", libc::O_DIRECTORY) else {
                return false;
            };
            if identity(up.as_fd()).is_ok_and(|(up_id, _)| up_id == id) {
                return false; // the top: "/" is its own parent
            }
            dir = up;
        }
        false
    }

    /// Serves the supervised calls of the command's tree until `child`
    /// ends; returns its wait status.
    pub fn serve(&self, listener: &OwnedFd, child: libc::pid_t) -> std::io::Result<i32> {
        // The supervisor's credentials as it serves, which the command's
        // must be.
        let credentials = proc_status("self")?.credentials;
        // SAFETY: pidfd_open of our own child, which we have not reaped.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) };
        if pidfd < 0 {
            return Err(Error::last_os_error());
        }
        // SAFETY: the kernel just made it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        let mut listening = true;
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if listening { listener.as_raw_fd() } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: two valid pollfd entries.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                let err = Error::last_os_error();
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if fds[0].revents != 0 {
                return crate::native::spawn::wait(child);
            }
            if fds[1].revents & libc::POLLIN != 0 {
                self.answer_one(listener.as_fd(), &credentials);
            } else if fds[1].revents != 0 {
                // No process of the command's is left under the filter.
                listening = false;
            }
        }
    }

    /// Receives one notification and answers it.
    fn answer_one(&self, listener: BorrowedFd, credentials: &str) {
        // SAFETY: the kernel wants a zeroed buffer and fills it.
        let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the buffer has the size the request encodes.
        if unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut notif,
            )
        } != 0
        {
            return; // the caller went away (a signal, or killed)
        }
        let mut response = libc::seccomp_notif_resp {
            id: notif.id,
            val: 0,
            error: 0,
            flags: 0,
        };
        match self.decide(listener, &notif, credentials) {
            Answer::Value(value) => response.val = value,
            Answer::Errno(errno) => response.error = -errno,
            Answer::Continue => response.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        }
        // SAFETY: a filled response for the id just received; a caller gone
        // in between makes this fail, which changes nothing.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &response,
            )
        };
    }

    /// Decodes, checks and performs one call.
    fn decide(
        &self,
        listener: BorrowedFd,
        notif: &libc::seccomp_notif,
        credentials: &str,
    ) -> Answer {
        let caller = match Caller::open(listener, notif.id, notif.pid) {
            Ok(caller) => caller,
            Err(errno) => return Answer::Errno(errno),
        };
        // The supervisor acts with its own powers and root: they must be
        // the command's.
        if caller.credentials != *credentials || caller.root_id() != Ok(self.root) {
            return Answer::Errno(libc::EPERM);
        }
        let nr = notif.data.nr.into();
        if names::makes_names(nr) {
            return names::decide(&caller, nr, &notif.data.args, &self.names);
        }
        match self.change_metadata(&caller, nr, &notif.data.args) {
            Ok(value) => Answer::Value(value),
            Err(errno) => Answer::Errno(errno),
        }
    }

    /// Checks and makes a metadata change: its return value or errno.
    fn change_metadata(&self, caller: &Caller, nr: i64, args: &[u64; 6]) -> Result<i64, i32> {
        let call = Call::decode(nr, args, caller)?;
        let object = caller.locate(&call.target)?;
        // Everything the decision rests on is open: the caller must still be
        // the process that asked, or the pid named another one.
        caller.still_waiting()?;
        if !self.holds(object.fd.as_fd(), object.parent.as_ref().map(|p| p.as_fd())) {
            return Err(libc::EPERM);
        }
        call.change.apply(&object)
    }
}

/// What /proc/PID/status says of a thread: its process, and the
/// credential lines that decide what a call may do (a caller that changed
/// any of them is not the supervisor's equal).
struct ProcStatus {
    tgid: Option<u32>,
    credentials: String,
}

fn proc_status(pid: &str) -> std::io::Result<ProcStatus> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let tgid = status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok());
    let credentials = status
        .lines()
        .filter(|l| {
            ["Uid:", "Gid:", "Groups:", "CapEff:", "CapPrm:", "CapBnd:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(ProcStatus { tgid, credentials })
}

/// The process that made a call, seen through /proc.
pub struct Caller<'a> {
    listener: BorrowedFd<'a>,
    id: u64,
    tid: u32,
    /// The thread's process, whose descriptors its calls name.
    tgid: u32,
    credentials: String,
    memory: File,
}

impl<'a> Caller<'a> {
    fn open(listener: BorrowedFd<'a>, id: u64, tid: u32) -> Result<Self, i32> {
        let memory = File::open(format!("/proc/{tid}/mem")).map_err(|_| libc::EPERM)?;
        let status = proc_status(&tid.to_string()).map_err(|_| libc::EPERM)?;
        let caller = Caller {
            listener,
            id,
            tid,
            tgid: status.tgid.ok_or(libc::EPERM)?,
            credentials: status.credentials,
            memory,
        };
        caller.still_waiting()?;
        Ok(caller)
    }

    /// The notification's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn listener(&self) -> BorrowedFd<'a> {
        self.listener
    }

    /// The umask the caller's files are made with.
    pub fn umask(&self) -> Result<libc::mode_t, i32> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.tid))
            .map_err(|_| libc::EPERM)?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|v| libc::mode_t::from_str_radix(v.trim(), 8).ok())
            .ok_or(libc::EPERM)
    }

    /// Whether the notification is still pending: the thread has not been
    /// killed, so /proc/TID still names it.
    pub fn still_waiting(&self) -> Result<(), i32> {
        // SAFETY: the request reads the id from the pointer.
        let valid = unsafe {
            libc::ioctl(
                self.listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &self.id,
            )
        };
        if valid == 0 {
            Ok(())
        } else {
            Err(libc::ENOENT)
        }
    }

    fn root_id(&self) -> Result<Id, i32> {
        let root = open_path(&format!("/proc/{}/root", self.tid))?;
        identity(root.as_fd()).map(|(id, _)| id).map_err(errno)
    }

    pub fn read(&self, address: u64, len: usize) -> Result<Vec<u8>, i32> {
        let mut bytes = vec![0; len];
        self.memory
            .read_exact_at(&mut bytes, address)
            .map_err(|_| libc::EFAULT)?;
        Ok(bytes)
    }

    /// A NUL-terminated string of at most `max` bytes, read a page at most
    /// at a time (a read across an unmapped page fails as a whole).
    pub fn string(&self, address: u64, max: usize, too_long: i32) -> Result<Vec<u8>, i32> {
        let mut bytes = Vec::new();
        let mut at = address;
        while bytes.len() <= max {
            let chunk = 4096 - (at % 4096) as usize;
            let mut page = vec![0; chunk];
            let read = self
                .memory
                .read_at(&mut page, at)
                .map_err(|_| libc::EFAULT)?;
            if read == 0 {
                return Err(libc::EFAULT);
            }
            if let Some(end) = page[..read].iter().position(|b| *b == 0) {
                bytes.extend_from_slice(&page[..end]);
                return if bytes.len() <= max {
                    Ok(bytes)
                } else {
                    Err(too_long)
                };
            }
            bytes.extend_from_slice(&page[..read]);
            at += read as u64;
        }
        Err(too_long)
    }

    /// The caller's descriptor `fd`, as the very same open file.
    pub fn descriptor(&self, fd: i32) -> Result<OwnedFd, i32> {
        if fd == libc::AT_FDCWD {
            return open_path(&format!("/proc/{}/cwd", self.tid));
        }
        // SAFETY: plain system calls; each descriptor made is owned once.
        unsafe {
            let pidfd = libc::syscall(libc::SYS_pidfd_open, self.tgid, 0);
            if pidfd < 0 {
                return Err(libc::EPERM);
            }
            let pidfd = OwnedFd::from_raw_fd(pidfd as RawFd);
            let file = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0);
            if file < 0 {
                return Err(Error::last_os_error().raw_os_error().unwrap_or(libc::EBADF));
            }
            Ok(OwnedFd::from_raw_fd(file as RawFd))
        }
    }

    /// Where a path argument starts: `/` for an absolute one (the kernel
    /// ignores the descriptor then, even an invalid one), else the
    /// caller's descriptor `dirfd`.
    pub fn start(&self, dirfd: i32, path: &[u8]) -> Result<OwnedFd, i32> {
        if path.first() == Some(&b'/') {
            open_path("/")
        } else {
            self.descriptor(dirfd)
        }
    }

    /// The caller's descriptor that entry `name` of directory `dir` is,
    /// when `dir` is a descriptor table of /proc: the caller's own (by its
    /// pid or thread) or the supervisor's, reached through /proc/self, which
    /// the caller meant as its own. Told by identity, whatever the way to
    /// it (/dev/stderr, /dev/fd, /proc/thread-self).
    pub fn descriptor_entry(&self, dir: BorrowedFd, name: &[u8]) -> Option<i32> {
        if name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let (id, _) = identity(dir).ok()?;
        let tables = [
            "/proc/self/fd".to_string(),
            "/proc/thread-self/fd".to_string(),
            format!("/proc/{}/fd", self.tgid),
            format!("/proc/{}/task/{}/fd", self.tgid, self.tid),
        ];
        let table = |path: &String| {
            open_path(path)
                .ok()
                .and_then(|fd| identity(fd.as_fd()).ok())
                .is_some_and(|(table, _)| table == id)
        };
        if !tables.iter().any(table) {
            return None;
        }
        std::str::from_utf8(name).ok()?.parse().ok()
    }

    /// Finds the object a call names.
    fn locate(&self, target: &Target) -> Result<Object, i32> {
        match target {
            Target::File(fd) => {
                let file = self.descriptor(*fd)?;
                let parent = self.parent_of_open(&file)?;
                Ok(Object {
                    fd: file,
                    parent,
                    symlink: false,
                })
            }
            Target::Path { path, follow, .. } if *follow && self.proc_fd(path).is_some() => {
                let fd = self.proc_fd(path).unwrap_or_default();
                self.locate(&Target::File(fd))
            }
            Target::Path {
                dirfd,
                path,
                follow,
            } => {
                let base = if path.first() == Some(&b'/') {
                    open_path("/")?
                } else {
                    self.descriptor(*dirfd)?
                };
                resolve(base, path, *follow)
            }
        }
    }

    /// The descriptor a path of the form /proc/self/fd/N names (or
    /// thread-self, or the caller's own pid), which the kernel follows to
    /// the open file: C libraries emulate calls on descriptors that way.
    /// The supervisor's own /proc/self would name its own descriptors.
    fn proc_fd(&self, path: &[u8]) -> Option<i32> {
        let path = std::str::from_utf8(path).ok()?;
        let rest = path.strip_prefix("/proc/")?;
        let (process, fd) = rest.rsplit_once("/fd/")?;
        let tgid = self.tgid.to_string();
        let thread = format!("{tgid}/task/{}", self.tid);
        let own = ["self", "thread-self", tgid.as_str(), thread.as_str()];
        if !own.contains(&process) || !fd.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        fd.parse().ok()
    }

    /// The directory an open file was found in, when the area check needs
    /// one: none for a directory (its `..` is the way up) or a file no name
    /// leads to any more (only this descriptor reaches it). Otherwise the
    /// name the kernel keeps for it, resolved again, must lead to this
    /// very file.
    fn parent_of_open(&self, file: &OwnedFd) -> Result<Option<OwnedFd>, i32> {
        let (id, st) = identity(file.as_fd()).map_err(errno)?;
        let kind = st.st_mode & libc::S_IFMT;
        if kind == libc::S_IFDIR || (kind == libc::S_IFREG && st.st_nlink == 0) {
            return Ok(None);
        }
        let name = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .map_err(|_| libc::EPERM)?;
        if !name.is_absolute() {
            return Err(libc::EPERM); // a pipe, a socket, an anonymous inode
        }
        let found = resolve(open_path("/")?, name.as_os_str().as_bytes(), false)?;
        match identity(found.fd.as_fd()) {
            Ok((found_id, _)) if found_id == id => found.parent.map(Some).ok_or(libc::EPERM),
            _ => Err(libc::EPERM),
        }
    }
}

/// What a call names: a path (from `dirfd`, or `/` when absolute), or an
/// open file.
enum Target {
    Path {
        dirfd: i32,
        path: Vec<u8>,
        follow: bool,
    },
    File(i32),
}

/// The object a call acts on: an `O_PATH` descriptor of the resolved path
/// or the caller's own open file, and the directory it was found in.
struct Object {
    fd: OwnedFd,
    parent: Option<OwnedFd>,
    symlink: bool,
}

/// The change a call asks for.
enum Change {
    Mode(libc::mode_t),
    Owner(libc::uid_t, libc::gid_t),
    /// Access and modification times; none: now.
    Times(Option<[libc::timespec; 2]>),
    SetXattr {
        name: CString,
        value: Vec<u8>,
        flags: i32,
    },
    RemoveXattr(CString),
    Ioctl {
        request: u32,
        argument: Vec<u8>,
    },
}

struct Call {
    target: Target,
    change: Change,
}

impl Call {
    fn decode(nr: i64, args: &[u64; 6], caller: &Caller) -> Result<Call, i32> {
        let int = |i: usize| args[i] as i32;
        let path =
            |i: usize| caller.string(args[i], libc::PATH_MAX as usize - 1, libc::ENAMETOOLONG);
        // A path call: an empty path with AT_EMPTY_PATH names `dirfd` itself.
        let at = |dirfd: i32, path: Vec<u8>, flags: i32| -> Result<Target, i32> {
            if path.is_empty() {
                return if flags & libc::AT_EMPTY_PATH != 0 {
                    Ok(Target::File(dirfd))
                } else {
                    Err(libc::ENOENT)
                };
            }
            Ok(Target::Path {
                dirfd,
                path,
                follow: flags & libc::AT_SYMLINK_NOFOLLOW == 0,
            })
        };
        let cwd = libc::AT_FDCWD;
        let follow = 0;
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        let mode = |i: usize| Change::Mode(args[i] as libc::mode_t);
        let owner = |i: usize| Change::Owner(args[i] as libc::uid_t, args[i + 1] as libc::gid_t);
        let xattr_name = |i: usize| {
            caller
                .string(args[i], 255, libc::ERANGE)
                .and_then(|n| CString::new(n).map_err(|_| libc::EINVAL))
        };
        let set_xattr = |i: usize| -> Result<Change, i32> {
            let size = args[i + 2] as usize;
            if size > 65536 {
                return Err(libc::E2BIG);
            }
            Ok(Change::SetXattr {
                name: xattr_name(i)?,
                value: if size == 0 {
                    Vec::new()
                } else {
                    caller.read(args[i + 1], size)?
                },
                flags: args[i + 3] as i32,
            })
        };
        let (target, change) = match nr {
            n if n == libc::SYS_fchmod => (Target::File(int(0)), mode(1)),
            n if n == libc::SYS_fchmodat => (at(int(0), path(1)?, follow)?, mode(2)),
            n if n == libc::SYS_fchmodat2 => (at(int(0), path(1)?, int(3))?, mode(2)),
            n if n == libc::SYS_fchown => (Target::File(int(0)), owner(1)),
            n if n == libc::SYS_fchownat => (at(int(0), path(1)?, int(4))?, owner(2)),
            n if n == libc::SYS_utimensat => {
                let flags = int(3);
                let target = if args[1] == 0 {
                    Target::File(int(0))
                } else {
                    at(int(0), path(1)?, flags)?
                };
                (target, Change::Times(timespecs(caller, args[2])?))
            }
            n if n == libc::SYS_setxattr => (at(cwd, path(0)?, follow)?, set_xattr(1)?),
            n if n == libc::SYS_lsetxattr => (at(cwd, path(0)?, nofollow)?, set_xattr(1)?),
            n if n == libc::SYS_fsetxattr => (Target::File(int(0)), set_xattr(1)?),
            n if n == libc::SYS_removexattr => (
                at(cwd, path(0)?, follow)?,
                Change::RemoveXattr(xattr_name(1)?),
            ),
            n if n == libc::SYS_lremovexattr => (
                at(cwd, path(0)?, nofollow)?,
                Change::RemoveXattr(xattr_name(1)?),
            ),
            n if n == libc::SYS_fremovexattr => {
                (Target::File(int(0)), Change::RemoveXattr(xattr_name(1)?))
            }
            n if n == libc::SYS_ioctl => {
                let request = args[1] as u32;
                let (_, size) = ATTRIBUTE_IOCTLS
                    .iter()
                    .find(|(r, _)| *r == request)
                    .ok_or(libc::EPERM)?;
                let argument = caller.read(args[2], *size)?;
                (Target::File(int(0)), Change::Ioctl { request, argument })
            }
            _ => legacy(nr, args, caller, &path)?,
        };
        Ok(Call { target, change })
    }
}

/// The calls only x86_64 still has.
#[cfg(target_arch = "x86_64")]
fn legacy(
    nr: i64,
    args: &[u64; 6],
    caller: &Caller,
    path: &dyn Fn(usize) -> Result<Vec<u8>, i32>,
) -> Result<(Target, Change), i32> {
    let named = |i: usize, follow: bool| -> Result<Target, i32> {
        let path = path(i)?;
        if path.is_empty() {
            return Err(libc::ENOENT);
        }
        Ok(Target::Path {
            dirfd: libc::AT_FDCWD,
            path,
            follow,
        })
    };
    let owner = || Change::Owner(args[1] as libc::uid_t, args[2] as libc::gid_t);
    Ok(match nr {
        n if n == libc::SYS_chmod => (named(0, true)?, Change::Mode(args[1] as libc::mode_t)),
        n if n == libc::SYS_chown => (named(0, true)?, owner()),
        n if n == libc::SYS_lchown => (named(0, false)?, owner()),
        n if n == libc::SYS_utime => {
            let times = if args[1] == 0 {
                None
            } else {
                // struct utimbuf: two time_t, in seconds.
                let raw = caller.read(args[1], 16)?;
                let secs = |i: usize| i64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
                Some([0, 1].map(|i| libc::timespec {
                    tv_sec: secs(i),
                    tv_nsec: 0,
                }))
            };
            (named(0, true)?, Change::Times(times))
        }
        n if n == libc::SYS_utimes => (named(0, true)?, Change::Times(timevals(caller, args[1])?)),
        n if n == libc::SYS_futimesat => {
            let target = if args[1] == 0 {
                Target::File(args[0] as i32)
            } else {
                let path = path(1)?;
                if path.is_empty() {
                    return Err(libc::ENOENT);
                }
                Target::Path {
                    dirfd: args[0] as i32,
                    path,
                    follow: true,
                }
            };
            (target, Change::Times(timevals(caller, args[2])?))
        }
        _ => return Err(libc::ENOSYS),
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn legacy(
    _: i64,
    _: &[u64; 6],
    _: &Caller,
    _: &dyn Fn(usize) -> Result<Vec<u8>, i32>,
) -> Result<(Target, Change), i32> {
    Err(libc::ENOSYS)
}

/// Two `struct timespec` at `address`; none when it is NULL.
fn timespecs(caller: &Caller, address: u64) -> Result<Option<[libc::timespec; 2]>, i32> {
    if address == 0 {
        return Ok(None);
    }
    let raw = caller.read(address, 32)?;
    let word = |i: usize| i64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
    Ok(Some([0, 1].map(|i| libc::timespec {
        tv_sec: word(2 * i),
        tv_nsec: word(2 * i + 1),
    })))
}

/// Two `struct timeval` at `address`, as timespecs; none when it is NULL.
#[cfg(target_arch = "x86_64")]
fn timevals(caller: &Caller, address: u64) -> Result<Option<[libc::timespec; 2]>, i32> {
    let Some(times) = timespecs(caller, address)? else {
        return Ok(None);
    };
    // The second word holds microseconds; the kernel refuses any outside
    // one second.
    if times.iter().any(|t| !(0..1_000_000).contains(&t.tv_nsec)) {
        return Err(libc::EINVAL);
    }
    Ok(Some(times.map(|t| libc::timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec * 1000,
    })))
}

impl Change {
    /// Makes the change on `object`: on the caller's own open file with the
    /// descriptor calls, on a resolved path through its `O_PATH`
    /// descriptor.
    fn apply(&self, object: &Object) -> Result<i64, i32> {
        let fd = object.fd.as_raw_fd();
        // The magic link to the object, for the calls that take no
        // descriptor: it leads to this very inode, not to a name.
        let by_fd = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL");
        let empty = c"".as_ptr();
        let opened_path = is_path_descriptor(fd);
        // SAFETY: plain system calls on descriptors and buffers alive
        // across each call.
        let result = unsafe {
            match self {
                Change::Mode(_) if object.symlink => return Err(libc::EOPNOTSUPP),
                Change::Mode(mode) if opened_path => libc::chmod(by_fd.as_ptr(), *mode),
                Change::Mode(mode) => libc::fchmod(fd, *mode),
                Change::Owner(uid, gid) => {
                    libc::fchownat(fd, empty, *uid, *gid, libc::AT_EMPTY_PATH)
                }
                Change::Times(times) => {
                    let times = times.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
                    libc::utimensat(
                        fd,
                        empty,
                        times,
                        libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                    )
                }
                Change::SetXattr { .. } | Change::RemoveXattr(_) if object.symlink => {
                    return Err(libc::EPERM);
                }
                Change::SetXattr { name, value, flags } if opened_path => libc::setxattr(
                    by_fd.as_ptr(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    *flags,
                ),
                Change::SetXattr { name, value, flags } => libc::fsetxattr(
                    fd,
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    *flags,
                ),
                Change::RemoveXattr(name) if opened_path => {
                    libc::removexattr(by_fd.as_ptr(), name.as_ptr())
                }
                Change::RemoveXattr(name) => libc::fremovexattr(fd, name.as_ptr()),
                Change::Ioctl { request, argument } => {
                    if SET_FLAGS.contains(request) && sets_casefold(fd, argument)? {
                        return Err(libc::EPERM);
                    }
                    let mut argument = argument.clone();
                    libc::ioctl(fd, *request as _, argument.as_mut_ptr())
                }
            }
        };
        if result < 0 {
            Err(Error::last_os_error().raw_os_error().unwrap_or(libc::EPERM))
        } else {
            Ok(result.into())
        }
    }
}

/// Whether SETFLAGS's `argument` (an int) on `fd` adds [`FS_CASEFOLD_FL`].
fn sets_casefold(fd: RawFd, argument: &[u8]) -> Result<bool, i32> {
    let wanted = i32::from_ne_bytes(argument.try_into().map_err(|_| libc::EINVAL)?);
    if wanted & FS_CASEFOLD_FL == 0 {
        return Ok(false);
    }
    let mut current: libc::c_int = 0;
    // SAFETY: GETFLAGS writes one int, to a local that outlives the call.
    if unsafe { libc::ioctl(fd, GET_FLAGS as _, &mut current) } < 0 {
        return Err(errno(Error::last_os_error()));
    }
    Ok(current & FS_CASEFOLD_FL == 0)
}

fn opened_for_writing(fd: BorrowedFd) -> bool {
    // SAFETY: plain fcntl.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_PATH == 0 && flags & libc::O_ACCMODE != libc::O_RDONLY
}

/// Whether `fd` was opened with O_PATH (a resolved path is; a caller's
/// descriptor may be: then the descriptor calls fail as they would have).
fn is_path_descriptor(fd: RawFd) -> bool {
    // SAFETY: plain fcntl.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_PATH != 0
}

fn errno(err: Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EPERM)
}

/// Opens `path` as an `O_PATH` descriptor (following magic links: only
/// cordon's own /proc paths come here).
pub fn open_path(path: &str) -> Result<OwnedFd, i32> {
    let path = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: a NUL-terminated path; the descriptor is owned once.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno(Error::last_os_error()));
    }
    // SAFETY: just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2 with `O_PATH | flags`, refusing /proc's magic links: in the
/// supervisor they would lead to its own descriptors, not the caller's.
fn open_at(dir: BorrowedFd, path: &std::ffi::CStr, flags: i32) -> Result<OwnedFd, Error> {
    let resolve = libc::RESOLVE_NO_MAGICLINKS;
    super::openat2::openat2(dir, path, libc::O_PATH | flags, 0, resolve)
}

fn dup(fd: BorrowedFd) -> Result<OwnedFd, Error> {
    fd.try_clone_to_owned()
}

/// Resolves `path` from `base` as the kernel would for the caller, keeping
/// the directory the last name was found in. Symbolic links on the way are
/// the kernel's to follow; a final one is followed here, link by link, so
/// that the directory of what it leads to is known.
fn resolve(mut base: OwnedFd, path: &[u8], follow: bool) -> Result<Object, i32> {
    let mut path = path.to_vec();
    // The kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        let (dir, name) = match path.iter().rposition(|b| *b == b'/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => (&b""[..], &path[..]),
        };
        let cstr = |bytes: &[u8]| CString::new(bytes).map_err(|_| libc::EINVAL);
        if name.is_empty() || name == b"." || name == b".." {
            // Names a directory: its `..` is the way up.
            let fd = open_at(base.as_fd(), &cstr(&path)?, libc::O_DIRECTORY).map_err(errno)?;
            return Ok(Object {
                fd,
                parent: None,
                symlink: false,
            });
        }
        let parent = if dir.is_empty() {
            base
        } else {
            open_at(base.as_fd(), &cstr(dir)?, libc::O_DIRECTORY).map_err(errno)?
        };
        let name = cstr(name)?;
        let fd = open_at(parent.as_fd(), &name, libc::O_NOFOLLOW).map_err(errno)?;
        let (_, st) = identity(fd.as_fd()).map_err(errno)?;
        let symlink = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if symlink && follow {
            path = read_link(parent.as_fd(), &name)?;
            base = if path.first() == Some(&b'/') {
                open_path("/")?
            } else {
                parent
            };
            continue;
        }
        return Ok(Object {
            fd,
            parent: Some(parent),
            symlink,
        });
    }
    Err(libc::ELOOP)
}

pub fn read_link(dir: BorrowedFd, name: &std::ffi::CStr) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: the buffer's length is passed; readlinkat writes at most that.
    let len = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if len < 0 {
        return Err(errno(Error::last_os_error()));
    }
    buf.truncate(len as usize);
    Ok(buf)
}

/// The paths the area check excludes, for a plan.
pub fn excluded(plan: &crate::native::Plan) -> Vec<PathBuf> {
    plan.protected
        .iter()
        .chain(&plan.secrets)
        .cloned()
        .collect()
}
