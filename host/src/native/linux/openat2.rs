//! openat2(2), which neither std nor libc wraps: an open whose path is
//! resolved under the rules `resolve` gives (`RESOLVE_*`).

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Opens `path` relative to `dir` with `flags` (close-on-exec added) and,
/// for a file it creates, `mode`.
pub fn openat2(
    dir: BorrowedFd,
    path: &CStr,
    flags: i32,
    mode: libc::mode_t,
    resolve: u64,
) -> std::io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; all-zero is its default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    if flags & libc::O_CREAT != 0 {
        how.mode = u64::from(mode);
    }
    how.resolve = resolve;
    // SAFETY: a NUL-terminated path and a filled open_how of its own size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how,
            size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
