//! Where an open file really is, as the kernel knows it: the path checks
//! that must not be fooled by a symlink or a rename made after the path was
//! resolved ask this of the descriptor they hold. Linux reads it from
//! /proc/self/fd, macOS from `F_GETPATH`; elsewhere it is unknown, and
//! callers refuse.

use std::path::PathBuf;

/// Where `file` really is, as the kernel knows it.
#[cfg(target_os = "linux")]
pub fn real_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

/// macOS tells it through `fcntl(F_GETPATH)`.
#[cfg(target_os = "macos")]
pub fn real_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: F_GETPATH writes at most PATH_MAX bytes, NUL-terminated.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETPATH, buf.as_mut_ptr()) } < 0 {
        return None;
    }
    let len = buf.iter().position(|b| *b == 0)?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..len])))
}

/// Elsewhere the path is not known: `None`.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn real_path(_file: &std::fs::File) -> Option<PathBuf> {
    None
}
