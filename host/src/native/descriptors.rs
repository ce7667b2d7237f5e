//! What a native command may inherit from cordon: descriptors 0, 1 and 2,
//! and nothing else. Anything cordon was started with (a caller's file,
//! directory, socket or pipe, the approver's channel) or opened for itself
//! is closed before the command starts: a directory opened outside the
//! sandbox's mount namespace reaches past every mask, and an approver's
//! channel would let the command answer its own questions.
//!
//! Two steps, because some descriptors must live until the very exec (the
//! helper's status pipe): processes that only supervise close everything
//! they do not use ([`close_all_but`]); the command's process marks every
//! descriptor above 2 close-on-exec as its last step ([`close_on_exec_from`]).

use std::fs::File;
use std::os::fd::RawFd;

/// Marks every descriptor from `first` up close-on-exec. Async-signal-safe:
/// it runs between fork and exec. Fails (and the command must not run)
/// only when neither close_range(2) nor a loop of fcntl(2) can do it.
pub fn close_on_exec_from(first: RawFd) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range with CLOEXEC only sets a flag on our own
        // descriptors (Linux 5.11+).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                first as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if rc == 0 {
            return Ok(());
        }
    }
    for fd in first..open_limit()? {
        // SAFETY: fcntl on a number that may not be open: EBADF is fine.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Closes every descriptor of this process except `keep` (in any order;
/// negative numbers stand for none). For the processes that set up and
/// supervise the sandbox: nothing of the host stays open in them either.
/// Allocates nothing: it runs in forked copies of a threaded host.
#[cfg(target_os = "linux")]
pub fn close_all_but<const N: usize>(mut keep: [RawFd; N]) -> std::io::Result<()> {
    keep.sort_unstable();
    let mut from: RawFd = 0;
    for fd in keep.into_iter().chain([RawFd::MAX]) {
        if fd > from {
            close_range(from, fd - 1)?;
        }
        from = from.max(fd.saturating_add(1));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn close_range(first: RawFd, last: RawFd) -> std::io::Result<()> {
    // SAFETY: closes our own descriptors in the range; nothing of this
    // process uses them afterwards (the caller keeps what it needs).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            last as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    // Before Linux 5.9: one by one.
    for fd in first..=last.min(open_limit()?.saturating_sub(1)) {
        // SAFETY: as above; EBADF for numbers not open is fine.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// One past the highest descriptor number this process can have open.
fn open_limit() -> std::io::Result<RawFd> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(RawFd::try_from(limit.rlim_cur).unwrap_or(RawFd::MAX))
}

/// The stdin a command gets when the caller gave none: cordon's own,
/// unless that is a terminal. A command never holds the person's terminal:
/// writing to it would go past the output caps, and it could draw over
/// cordon's questions. It reads an empty input instead.
pub fn stdin_without_terminal(stdin: Option<File>) -> std::io::Result<Option<File>> {
    // SAFETY: isatty only inspects descriptor 0.
    if stdin.is_none() && unsafe { libc::isatty(0) } == 1 {
        return File::open("/dev/null").map(Some);
    }
    Ok(stdin)
}

/// A command's stdin that it cannot turn against what it reads from. An
/// anonymous pipe or a socket is passed as it is. Anything else (a file, a
/// named FIFO, a device) was opened outside the sandbox, on a mount it does
/// not make read-only: through the descriptor (or /proc/self/fd/0) a
/// command could change the file's mode, owner, times or attributes (the
/// host's /dev/null, given for a terminal, included). cordon reads it into
/// a pipe instead, from a thread started with [`Pump::start`] once the
/// sandbox is launched.
#[cfg(target_os = "linux")]
pub fn piped_stdin(stdin: Option<File>) -> std::io::Result<(Option<File>, Option<Pump>)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // The kernel's own file systems of pipes and sockets: nothing on disk.
    const PIPEFS_MAGIC: libc::c_long = 0x5049_5045;
    const SOCKFS_MAGIC: libc::c_long = 0x534f_434b;
    let fd = stdin.as_ref().map_or(0, AsRawFd::as_raw_fd);
    // SAFETY: fstatfs fills the buffer on success.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a closed descriptor 0 fails and is passed as it is.
    if unsafe { libc::fstatfs(fd, &mut fs) } != 0
        || matches!(fs.f_type as libc::c_long, PIPEFS_MAGIC | SOCKFS_MAGIC)
    {
        return Ok((stdin, None));
    }
    let source = match stdin {
        Some(file) => file,
        // SAFETY: duplicates descriptor 0, owned once.
        None => unsafe {
            let copy = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3);
            if copy < 0 {
                return Err(std::io::Error::last_os_error());
            }
            File::from(OwnedFd::from_raw_fd(copy))
        },
    };
    let (read, write) = std::io::pipe()?;
    Ok((
        Some(File::from(OwnedFd::from(read))),
        Some(Pump {
            source,
            into: write,
        }),
    ))
}

/// What [`piped_stdin`] copies: from the caller's stdin into the pipe.
#[cfg(target_os = "linux")]
pub struct Pump {
    source: File,
    into: std::io::PipeWriter,
}

#[cfg(target_os = "linux")]
impl Pump {
    /// Copies in the background until the input ends or the command
    /// closes its end.
    pub fn start(self) {
        let Pump {
            mut source,
            mut into,
        } = self;
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut source, &mut into);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn open(fd: RawFd) -> bool {
        // SAFETY: F_GETFD only reads the flags of a number.
        unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn close_all_but_keeps_exactly_what_is_named() {
        let files: Vec<File> = (0..4).map(|_| File::open("/dev/null").unwrap()).collect();
        let fds: Vec<RawFd> = files.iter().map(AsRawFd::as_raw_fd).collect();
        // Run in a child: closing a test process's descriptors would break
        // the harness.
        // SAFETY: the child only makes system calls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = close_all_but([0, 1, 2, fds[3], fds[1], -1]).is_ok()
                && open(fds[1])
                && open(fds[3])
                && !open(fds[0])
                && !open(fds[2]);
            // SAFETY: ends the forked child without running the harness.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let status = crate::native::spawn::wait(pid).unwrap();
        assert_eq!(crate::native::spawn::exit_code(status), 0);
    }

    #[test]
    fn close_on_exec_marks_every_higher_descriptor() {
        let file = File::open("/dev/null").unwrap();
        let fd = file.as_raw_fd();
        // SAFETY: clears the flag std set, on our own descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        // SAFETY: as above.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = close_on_exec_from(3).is_ok()
                // SAFETY: reads the flags of our own descriptor.
                && unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC != 0;
            // SAFETY: as above.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let status = crate::native::spawn::wait(pid).unwrap();
        assert_eq!(crate::native::spawn::exit_code(status), 0);
    }
}
