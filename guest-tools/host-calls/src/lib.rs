//! The calls cordon's host answers for its own tools beyond WASI, one
//! binding each (the host's side: host/src/wasi/file_info.rs). Built for
//! anything but WASI, each says it cannot tell.

use std::path::Path;

/// What the host says of a file.
#[derive(Debug, Clone)]
pub struct FileInfo {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub ino: u64,
    pub dev: u64,
    pub rdev: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    pub blksize: u64,
    /// When the inode last changed: seconds and nanoseconds since 1970.
    pub ctime: (u64, u32),
    pub user: String,
    pub group: String,
}

/// How many `u64` the host writes.
#[cfg(target_os = "wasi")]
const FIELDS: usize = 13;

#[cfg(target_os = "wasi")]
#[link(wasm_import_module = "cordon")]
unsafe extern "C" {
    /// Writes [`FIELDS`] `u64` at `out` and the owner's and group's names
    /// one after the other at `names`; returns a WASI errno. `path` is
    /// absolute.
    fn file_info(
        path: *const u8,
        path_len: usize,
        follow: u32,
        out: *mut u64,
        names: *mut u8,
        names_len: usize,
    ) -> u32;

    /// 1 when standard input is a file, a pipe or a socket.
    #[link_name = "stdin_is_readable"]
    fn host_stdin_is_readable() -> u32;
}

/// What the host says of `path` (following a final symlink if `follow`);
/// `None` when it cannot say (outside the root, not cordon's host).
#[cfg(target_os = "wasi")]
pub fn file_info_of(path: &Path, follow: bool) -> Option<FileInfo> {
    let path = std::path::absolute(path).ok()?;
    let path = path.to_str()?;
    let mut out = [0u64; FIELDS];
    let mut names = [0u8; 1024];
    // SAFETY: every pointer is valid for its length during the call.
    let errno = unsafe {
        file_info(
            path.as_ptr(),
            path.len(),
            u32::from(follow),
            out.as_mut_ptr(),
            names.as_mut_ptr(),
            names.len(),
        )
    };
    if errno != 0 {
        return None;
    }
    let (user_len, group_len) = (out[11] as usize, out[12] as usize);
    let user = String::from_utf8_lossy(names.get(..user_len)?).into_owned();
    let group = String::from_utf8_lossy(names.get(user_len..user_len + group_len)?).into_owned();
    Some(FileInfo {
        mode: out[0] as u32,
        uid: out[1] as u32,
        gid: out[2] as u32,
        nlink: out[3],
        ino: out[4],
        dev: out[5],
        rdev: out[6],
        blocks: out[7],
        blksize: out[8],
        ctime: (out[9], out[10] as u32),
        user,
        group,
    })
}

#[cfg(not(target_os = "wasi"))]
pub fn file_info_of(_path: &Path, _follow: bool) -> Option<FileInfo> {
    None
}

/// Whether standard input is a file, a pipe or a socket (ripgrep reads it
/// then, and not from a terminal or `/dev/null`). Without cordon's host:
/// when it is not a terminal.
pub fn stdin_is_readable() -> bool {
    #[cfg(target_os = "wasi")]
    {
        // SAFETY: no arguments.
        unsafe { host_stdin_is_readable() == 1 }
    }
    #[cfg(not(target_os = "wasi"))]
    {
        use std::io::IsTerminal;
        !std::io::stdin().is_terminal()
    }
}
