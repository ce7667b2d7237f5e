//! What cordon tells its own tools beyond WASI: a file's permission bits
//! and owner, which WASI has no call for (`ls -l`, `ls -F`).
//!
//! `cordon.file_info(path, path_len, follow, out, names, names_len)`
//! takes an absolute guest path and answers only for one inside the root,
//! under a spelling the guest's `/` gives it, resolved beneath the root as
//! every guest call is (see `fs_spot`): nothing outside the root is
//! examined. It writes five `u32` at `out` (mode, uid, gid, and the
//! lengths of the owner's and the group's names) and the two names one
//! after the other at `names`, and returns a WASI errno. A deterministic
//! run reports every file as root's, the same on every machine.

use std::path::PathBuf;

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
    /// Every file is root's (a deterministic run).
    fixed_owner: bool,
}

impl Roots {
    /// `dir` (held open, as the guest's preopens hold it) named `guest`.
    pub fn new(dir: std::fs::File, guest: Vec<PathBuf>, fixed_owner: bool) -> Roots {
        Roots {
            dir,
            guest,
            fixed_owner,
        }
    }
}

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
    Ok(())
}

/// What a file's owner is: ids and names.
struct Owner {
    mode: u32,
    uid: u32,
    gid: u32,
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
    let owner = look_up(&roots, &path, follow)?;
    let (user, group) = (owner.user.as_bytes(), owner.group.as_bytes());
    let data = mem.data_mut(&mut *caller);
    let fields = [
        owner.mode,
        owner.uid,
        owner.gid,
        user.len() as u32,
        group.len() as u32,
    ];
    let at = span_mut(data, out as u32, 20).ok_or(ERRNO_FAULT)?;
    for (slot, value) in at.chunks_exact_mut(4).zip(fields) {
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
fn look_up(_roots: &Roots, _path: &str, _follow: bool) -> Result<Owner, i32> {
    Err(ERRNO_NOSYS)
}

/// The file `path` (a guest's absolute path) names inside the root.
#[cfg(unix)]
fn look_up(roots: &Roots, path: &str, follow: bool) -> Result<Owner, i32> {
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
    if roots.fixed_owner {
        return Ok(Owner {
            mode: meta.mode(),
            uid: 0,
            gid: 0,
            user: "root".into(),
            group: "root".into(),
        });
    }
    let (uid, gid) = (meta.uid(), meta.gid());
    Ok(Owner {
        mode: meta.mode(),
        uid,
        gid,
        user: names::user(uid).unwrap_or_else(|| uid.to_string()),
        group: names::group(gid).unwrap_or_else(|| gid.to_string()),
    })
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
