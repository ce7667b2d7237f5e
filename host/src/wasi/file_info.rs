//! What cordon tells its own tools beyond WASI: a file's permission bits,
//! owner, links and blocks, which WASI has no call for (`ls -l`, `ls -F`,
//! `du`, `stat`), and whether standard input is worth reading (`rg`).
//!
//! `cordon.file_info(path, path_len, follow, out, names, names_len)`
//! takes an absolute guest path and answers only for one inside the root,
//! under a spelling the guest's `/` gives it, resolved beneath the root as
//! every guest call is (see `fs_spot`): nothing outside the root is
//! examined. It writes [`FIELDS`] `u64` at `out` (mode, uid, gid, nlink,
//! ino, dev, rdev, blocks, blksize, ctime seconds and nanoseconds, and the
//! lengths of the owner's and the group's names) and the two names one
//! after the other at `names`, and returns a WASI errno. A deterministic
//! run reports every file as root's, changed at the fixed time, the same
//! on every machine.
//!
//! `cordon.stdin_is_readable()` is 1 when standard input is a file, a pipe
//! or a socket, 0 when it is a terminal or another character device
//! (`/dev/null`): ripgrep searches stdin only in the first case, and WASI
//! shows both as the same stream.

use std::path::PathBuf;
use std::time::Duration;

use wasmtime::{Caller, Linker, Result};

use super::p1_call::{memory, span, span_mut};
use super::state::P1State;

/// The import module of cordon's own calls.
const MODULE: &str = "cordon";

const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
#[cfg(unix)]
const ERRNO_NOENT: i32 = 44;
const ERRNO_NOSYS: i32 = 52;
const ERRNO_NAMETOOLONG: i32 = 37;

/// The root as one run's guest names it.
// Elsewhere than unix only held: there is nothing to look up.
#[cfg_attr(not(unix), allow(dead_code))]
pub struct Roots {
    /// The root, held open.
    dir: std::fs::File,
    /// Its absolute guest paths (the host path, a second spelling, or
    /// `/project`).
    guest: Vec<PathBuf>,
    /// Every file is root's and changed at this time (a deterministic
    /// run).
    fixed_time: Option<Duration>,
}

impl Roots {
    /// `dir` (held open, as the guest's preopens hold it) named `guest`.
    pub fn new(dir: std::fs::File, guest: Vec<PathBuf>, fixed_time: Option<Duration>) -> Roots {
        Roots {
            dir,
            guest,
            fixed_time,
        }
    }
}

/// How many `u64` `cordon.file_info` writes.
const FIELDS: usize = 13;

/// Adds `cordon.file_info` to `linker`.
pub fn add_to_linker(linker: &mut Linker<P1State>) -> Result<()> {
    linker.func_wrap(
        MODULE,
        "file_info",
        |mut caller: Caller<'_, P1State>,
         path: i32,
         path_len: i32,
         follow: i32,
         out: i32,
         names: i32,
         names_len: i32|
         -> i32 {
            answer(
                &mut caller,
                (path, path_len),
                follow != 0,
                out,
                (names, names_len),
            )
            .err()
            .unwrap_or(0)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "stdin_is_readable",
        |caller: Caller<'_, P1State>| -> i32 { caller.data().stdin_readable.into() },
    )?;
    Ok(())
}

/// Whether `stdin` (or the host's own, when `None`) is a file, a pipe or a
/// socket, as ripgrep judges it.
pub fn stdin_is_readable(stdin: Option<&std::fs::File>) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileTypeExt;
        let meta = match stdin {
            Some(file) => file.metadata(),
            None => std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .and_then(|fd| std::fs::File::from(fd).metadata()),
        };
        meta.is_ok_and(|meta| {
            let kind = meta.file_type();
            kind.is_file() || kind.is_fifo() || kind.is_socket()
        })
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        stdin.is_some() || !std::io::stdin().is_terminal()
    }
}

/// What cordon says of a file.
struct Info {
    /// `st_mode`: type and permission bits.
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    ino: u64,
    dev: u64,
    rdev: u64,
    blocks: u64,
    blksize: u64,
    /// When its inode last changed.
    ctime: Duration,
    user: String,
    group: String,
}

fn answer(
    caller: &mut Caller<'_, P1State>,
    (path, path_len): (i32, i32),
    follow: bool,
    out: i32,
    (names, names_len): (i32, i32),
) -> Result<(), i32> {
    let mem = memory(caller).ok_or(ERRNO_FAULT)?;
    let bytes = span(mem.data(&*caller), path as u32, path_len as usize).ok_or(ERRNO_FAULT)?;
    let path = std::str::from_utf8(bytes)
        .map_err(|_| ERRNO_INVAL)?
        .to_string();
    let roots = caller.data().roots.clone().ok_or(ERRNO_NOSYS)?;
    let info = look_up(&roots, &path, follow)?;
    let (user, group) = (info.user.as_bytes(), info.group.as_bytes());
    let data = mem.data_mut(&mut *caller);
    let fields: [u64; FIELDS] = [
        info.mode.into(),
        info.uid.into(),
        info.gid.into(),
        info.nlink,
        info.ino,
        info.dev,
        info.rdev,
        info.blocks,
        info.blksize,
        info.ctime.as_secs(),
        info.ctime.subsec_nanos().into(),
        user.len() as u64,
        group.len() as u64,
    ];
    let at = span_mut(data, out as u32, FIELDS * 8).ok_or(ERRNO_FAULT)?;
    for (slot, value) in at.chunks_exact_mut(8).zip(fields) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
    let both = [user, group].concat();
    if both.len() > names_len as usize {
        return Err(ERRNO_NAMETOOLONG);
    }
    let at = span_mut(data, names as u32, both.len()).ok_or(ERRNO_FAULT)?;
    at.copy_from_slice(&both);
    Ok(())
}

/// Elsewhere the host has no permission bits or owners to tell.
#[cfg(not(unix))]
fn look_up(_roots: &Roots, _path: &str, _follow: bool) -> Result<Info, i32> {
    Err(ERRNO_NOSYS)
}

/// The file `path` (a guest's absolute path) names inside the root.
#[cfg(unix)]
fn look_up(roots: &Roots, path: &str, follow: bool) -> Result<Info, i32> {
    use cap_std::fs::MetadataExt;
    // The longest spelling that matches, as the guest's C library picks
    // the preopen.
    let inside = roots
        .guest
        .iter()
        .filter_map(|root| Some((root, std::path::Path::new(path).strip_prefix(root).ok()?)))
        .max_by_key(|(root, _)| root.components().count())
        .map(|(_, inside)| inside)
        .ok_or(ERRNO_NOENT)?;
    let inside = inside.to_str().ok_or(ERRNO_INVAL)?;
    let inside = if inside.is_empty() { "." } else { inside };
    let spot = super::fs_spot::locate(&roots.dir, inside, follow).map_err(|_| ERRNO_NOENT)?;
    let meta = if spot.is_whole() {
        spot.parent.dir_metadata()
    } else {
        spot.parent.symlink_metadata(&spot.name)
    }
    .map_err(|_| ERRNO_NOENT)?;
    let (uid, gid) = (meta.uid(), meta.gid());
    let mut info = Info {
        mode: meta.mode(),
        uid,
        gid,
        nlink: meta.nlink(),
        ino: meta.ino(),
        dev: meta.dev(),
        rdev: meta.rdev(),
        blocks: meta.blocks(),
        blksize: meta.blksize(),
        ctime: Duration::new(
            u64::try_from(meta.ctime()).unwrap_or(0),
            u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        ),
        user: String::new(),
        group: String::new(),
    };
    match roots.fixed_time {
        Some(when) => {
            (info.uid, info.gid, info.ctime) = (0, 0, when);
            (info.user, info.group) = ("root".into(), "root".into());
        }
        None => {
            info.user = names::user(uid).unwrap_or_else(|| uid.to_string());
            info.group = names::group(gid).unwrap_or_else(|| gid.to_string());
        }
    }
    Ok(info)
}

/// Names of users and groups, as the host's C library gives them.
#[cfg(unix)]
mod names {
    use std::ffi::CStr;

    pub fn user(uid: u32) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: zeroed is a valid passwd; the buffer outlives the call.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call.
        let code = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        // SAFETY: on success pw_name points into `buf`, NUL-terminated.
        (code == 0 && !found.is_null()).then(|| {
            unsafe { CStr::from_ptr(pwd.pw_name) }
                .to_string_lossy()
                .into_owned()
        })
    }

    pub fn group(gid: u32) -> Option<String> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: zeroed is a valid group; the buffer outlives the call.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call.
        let code = unsafe {
            libc::getgrgid_r(
                gid,
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        // SAFETY: on success gr_name points into `buf`, NUL-terminated.
        (code == 0 && !found.is_null()).then(|| {
            unsafe { CStr::from_ptr(grp.gr_name) }
                .to_string_lossy()
                .into_owned()
        })
    }
}
