//! New names: no native command may make a `.git` (directory, file,
//! symlink, device, hard link, or a rename to that name) anywhere, nor
//! the entry that makes a directory a git directory to git's discovery (a
//! bare repository: see [`crate::gitdirs::completes_git_dir`]). git would
//! obey what one holds, hooks and settings, once the command is over. Names are not a Landlock concept and no mount can refuse one, so
//! every call that makes a name goes to the supervisor (seccomp user
//! notification), which
//!
//! - reads the call's paths from the command's memory once, into its own;
//! - refuses (EPERM) when the name the call would make folds to `.git` (see
//!   [`crate::policy::protected_name`]) or completes a git directory,
//!   following a final symlink where the kernel would (an `open` with
//!   `O_CREAT` makes what the link names);
//! - otherwise makes the call itself, from those copies, on the command's
//!   descriptors, with its umask. The call is never let through to the
//!   kernel after the check: the command's memory can change in between.
//!
//! The supervisor acts with the command's own powers: its credentials
//! (checked per call), its root and mounts, and the command's Landlock
//! domain (a command cannot stack one of its own: the Landlock calls are
//! ENOSYS, see seccomp.rs). So the kernel judges each call as it would
//! have judged the command's, bar the name. Its own /proc entries are
//! never reached for the command: magic links and files on procfs are
//! refused, but a descriptor table's entry (`/dev/stderr`, `/dev/fd/N`,
//! `/proc/self/fd/N`), which is reopened from the command's descriptor.

use std::ffi::CString;
use std::io::Error;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use std::sync::Arc;

use super::metadata::{Caller, Id, identity, open_path, read_link};
use crate::shape_lock::{Holding, ShapeLock};

/// The calls that make a name, on every architecture: `(number, the
/// argument holding open's flags)` where only an `O_CREAT` open makes one.
pub const MAKING: &[(i64, Option<u8>)] = &[
    (libc::SYS_mkdirat, None),
    (libc::SYS_mknodat, None),
    (libc::SYS_symlinkat, None),
    (libc::SYS_linkat, None),
    (libc::SYS_renameat2, None),
    (libc::SYS_openat, Some(2)),
    // A unix socket's path: the address lies in memory, so every bind.
    (libc::SYS_bind, None),
];

/// Those only x86_64 still has.
#[cfg(target_arch = "x86_64")]
pub const MAKING_LEGACY: &[(i64, Option<u8>)] = &[
    (libc::SYS_mkdir, None),
    (libc::SYS_mknod, None),
    (libc::SYS_symlink, None),
    (libc::SYS_link, None),
    (libc::SYS_rename, None),
    (libc::SYS_renameat, None),
    (libc::SYS_creat, None),
    (libc::SYS_open, Some(1)),
];
#[cfg(not(target_arch = "x86_64"))]
pub const MAKING_LEGACY: &[(i64, Option<u8>)] = &[];

/// Whether the supervisor decides call `nr` here.
pub fn makes_names(nr: i64) -> bool {
    MAKING.iter().chain(MAKING_LEGACY).any(|(n, _)| *n == nr)
}

/// What the supervisor answers: a value or an errno for the kernel to
/// return, or to let the call go on (only where its registers alone show
/// that it makes no name: its memory may change meanwhile).
pub enum Answer {
    Value(i64),
    Errno(i32),
    Continue,
}

/// A path argument, copied: the directory descriptor it starts from and
/// its bytes.
struct Named {
    dirfd: i32,
    path: Vec<u8>,
}

/// What the supervisor judges names by.
#[derive(Default)]
pub struct Names {
    /// Held around the making of a name that can shape a git directory
    /// (none: such names are refused).
    pub shape_lock: Option<Arc<ShapeLock>>,
    /// The identity of the directory in which no name of
    /// [`crate::policy::PROTECTED_NAMES`] may be made (the root, see
    /// [`crate::native::Plan::names_root`]).
    pub root: Option<Id>,
}

/// Decides and performs call `nr` for `caller`; names are judged by `names`.
pub fn decide(caller: &Caller, nr: i64, args: &[u64; 6], names: &Names) -> Answer {
    match perform(caller, nr, args, names) {
        Ok(answer) => answer,
        Err(errno) => Answer::Errno(errno),
    }
}

fn perform(caller: &Caller, nr: i64, args: &[u64; 6], names: &Names) -> Result<Answer, i32> {
    let path = |i: usize| caller.string(args[i], libc::PATH_MAX as usize - 1, libc::ENAMETOOLONG);
    let int = |i: usize| args[i] as i32;
    let at = |dirfd: usize, path_arg: usize| -> Result<Named, i32> {
        Ok(Named {
            dirfd: int(dirfd),
            path: path(path_arg)?,
        })
    };
    let cwd = |path_arg: usize| -> Result<Named, i32> {
        Ok(Named {
            dirfd: libc::AT_FDCWD,
            path: path(path_arg)?,
        })
    };
    let mode = |i: usize| args[i] as libc::mode_t;
    let umask = caller.umask()?;
    if nr == libc::SYS_bind {
        return bind(caller, args, umask, names);
    }
    let value = |result: libc::c_int| -> Result<Answer, i32> {
        if result < 0 {
            Err(last_errno())
        } else {
            Ok(Answer::Value(result.into()))
        }
    };
    #[cfg(target_arch = "x86_64")]
    let legacy = match nr {
        n if n == libc::SYS_mkdir => Some((libc::SYS_mkdirat, vec![cwd(0)?], [mode(1) as u64, 0])),
        n if n == libc::SYS_mknod => Some((libc::SYS_mknodat, vec![cwd(0)?], [args[1], args[2]])),
        n if n == libc::SYS_link => Some((libc::SYS_linkat, vec![cwd(0)?, cwd(1)?], [0, 0])),
        n if n == libc::SYS_rename => Some((libc::SYS_renameat2, vec![cwd(0)?, cwd(1)?], [0, 0])),
        n if n == libc::SYS_renameat => {
            Some((libc::SYS_renameat2, vec![at(0, 1)?, at(2, 3)?], [0, 0]))
        }
        n if n == libc::SYS_symlink => return symlink(caller, path(0)?, cwd(1)?, umask, names),
        _ => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let legacy: Option<(i64, Vec<Named>, [u64; 2])> = None;
    let (call, paths, extra) = match legacy {
        Some(call) => call,
        None => match nr {
            n if n == libc::SYS_mkdirat => (nr, vec![at(0, 1)?], [mode(2) as u64, 0]),
            n if n == libc::SYS_mknodat => (nr, vec![at(0, 1)?], [args[2], args[3]]),
            n if n == libc::SYS_linkat => (nr, vec![at(0, 1)?, at(2, 3)?], [args[4], 0]),
            n if n == libc::SYS_renameat2 => (nr, vec![at(0, 1)?, at(2, 3)?], [args[4], 0]),
            n if n == libc::SYS_symlinkat => {
                return symlink(caller, path(0)?, at(1, 2)?, umask, names);
            }
            _ => {
                let (named, flags, mode) = open_call(nr, args, &path)?;
                if flags & libc::O_PATH != 0 {
                    // The kernel ignores O_CREAT with O_PATH (and no
                    // O_PATH descriptor can be handed over).
                    return Ok(Answer::Continue);
                }
                let base = caller.start(named.dirfd, &named.path)?;
                caller.still_waiting()?;
                let file = with_umask(umask, || {
                    open_creating(caller, base, named.path, flags, mode, names)
                })?;
                return send(caller, file, flags);
            }
        },
    };
    // The last name is made; RENAME_EXCHANGE makes both anew. A rename's or
    // link's first name is only found.
    let exchange = call == libc::SYS_renameat2 && extra[0] as u32 & libc::RENAME_EXCHANGE != 0;
    let last = paths.len() - 1;
    let places = paths
        .iter()
        .enumerate()
        .map(|(i, named)| {
            let base = caller.start(named.dirfd, &named.path)?;
            if i == last || exchange {
                judge(base, &named.path, names)
            } else {
                let follow =
                    call == libc::SYS_linkat && extra[0] as i32 & libc::AT_SYMLINK_FOLLOW != 0;
                Place::found(caller, base, &named.path, follow)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The descriptors are the caller's: it must still be the process that
    // asked, or its pid named another one.
    caller.still_waiting()?;
    let (fd, path) = (
        |i: usize| places[i].fd(),
        |i: usize| places[i].path.as_ptr(),
    );
    with_umask(umask, || {
        // SAFETY: NUL-terminated copies of the paths and descriptors of
        // ours; the numbers were checked to be these calls.
        let result = unsafe {
            match call {
                n if n == libc::SYS_mkdirat => {
                    libc::mkdirat(fd(0), path(0), extra[0] as libc::mode_t)
                }
                n if n == libc::SYS_mknodat => libc::mknodat(
                    fd(0),
                    path(0),
                    extra[0] as libc::mode_t,
                    extra[1] as libc::dev_t,
                ),
                n if n == libc::SYS_linkat => {
                    libc::linkat(fd(0), path(0), fd(1), path(1), extra[0] as libc::c_int)
                }
                _ => libc::renameat2(fd(0), path(0), fd(1), path(1), extra[0] as libc::c_uint),
            }
        };
        value(result)
    })
}

/// symlink(2) and symlinkat(2): the link's name is judged; its target is
/// only text.
fn symlink(
    caller: &Caller,
    target: Vec<u8>,
    link: Named,
    umask: libc::mode_t,
    names: &Names,
) -> Result<Answer, i32> {
    let place = judge(caller.start(link.dirfd, &link.path)?, &link.path, names)?;
    let target = c_path(&target)?;
    caller.still_waiting()?;
    with_umask(umask, || {
        // SAFETY: NUL-terminated copies and a descriptor of ours.
        if unsafe { libc::symlinkat(target.as_ptr(), place.fd(), place.path.as_ptr()) } < 0 {
            Err(last_errno())
        } else {
            Ok(Answer::Value(0))
        }
    })
}

/// bind(2), which makes a name for a unix socket's path. The address is
/// copied once; the supervisor binds the command's own socket to it, from
/// the command's working directory (bind has no `*at` form) and with its
/// umask. Every bind comes here, the filter not seeing the address: one
/// of another family is made just the same.
fn bind(
    caller: &Caller,
    args: &[u64; 6],
    umask: libc::mode_t,
    names: &Names,
) -> Result<Answer, i32> {
    let len = args[2] as usize;
    if len > size_of::<libc::sockaddr_storage>() {
        return Err(libc::EINVAL);
    }
    let address = caller.read(args[1], len)?;
    let socket = caller.descriptor(args[0] as i32)?;
    let family = address.get(..2).map(|f| u16::from_ne_bytes([f[0], f[1]]));
    let path = address
        .get(2..)
        .filter(|_| family == Some(libc::AF_UNIX as u16))
        .map(|sun_path| {
            &sun_path[..sun_path
                .iter()
                .position(|b| *b == 0)
                .unwrap_or(sun_path.len())]
        })
        .filter(|path| !path.is_empty()); // abstract or unnamed: no file
    // A socket file is made by its name in the directory judged: bind has
    // no `*at` form, so from there, as the working directory.
    let place = match path {
        Some(path) => Some(judge(caller.start(libc::AT_FDCWD, path)?, path, names)?),
        None => None,
    };
    let address = match &place {
        Some(place) => unix_address(place.path.as_bytes())?,
        None => address,
    };
    caller.still_waiting()?;
    with_umask(umask, || {
        if let Some(place) = &place {
            // SAFETY: fchdir to a directory of ours; the supervisor has one
            // thread and goes back to / below.
            if unsafe { libc::fchdir(place.fd()) } != 0 {
                return Err(last_errno());
            }
        }
        // SAFETY: an address of its own length.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                address.as_ptr().cast(),
                address.len() as libc::socklen_t,
            )
        };
        let errno = last_errno();
        // SAFETY: a NUL-terminated path.
        if place.is_some() && unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
            // Nothing more may start from the command's directory.
            std::process::abort();
        }
        if bound < 0 {
            Err(errno)
        } else {
            Ok(Answer::Value(0))
        }
    })
}

/// A unix socket address for `path`.
fn unix_address(path: &[u8]) -> Result<Vec<u8>, i32> {
    // SAFETY: sockaddr_un is plain data.
    let sun_path = unsafe { std::mem::zeroed::<libc::sockaddr_un>() }
        .sun_path
        .len();
    if path.len() >= sun_path {
        return Err(libc::ENAMETOOLONG);
    }
    let mut address = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    address.extend_from_slice(path);
    address.push(0);
    Ok(address)
}

/// The path, flags and mode of an opening call (`open`, `creat`, `openat`).
fn open_call(
    nr: i64,
    args: &[u64; 6],
    path: &dyn Fn(usize) -> Result<Vec<u8>, i32>,
) -> Result<(Named, i32, libc::mode_t), i32> {
    let at = |dirfd: i32, i: usize, flags: u64, mode: u64| -> Result<_, i32> {
        Ok((
            Named {
                dirfd,
                path: path(i)?,
            },
            flags as i32,
            mode as libc::mode_t,
        ))
    };
    match nr {
        n if n == libc::SYS_openat => at(args[0] as i32, 1, args[2], args[3]),
        #[cfg(target_arch = "x86_64")]
        n if n == libc::SYS_open => at(libc::AT_FDCWD, 0, args[1], args[2]),
        #[cfg(target_arch = "x86_64")]
        n if n == libc::SYS_creat => at(
            libc::AT_FDCWD,
            0,
            (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
            args[1],
        ),
        _ => Err(libc::ENOSYS),
    }
}

/// Opens `path` from `base` with `flags` (which hold O_CREAT) as the
/// kernel would for `caller`, but refuses to make a `.git` or to complete
/// a git directory: a final symlink, which the kernel would follow to make
/// the file it names, is followed here, link by link, and each name it
/// leads to is judged.
fn open_creating(
    caller: &Caller,
    mut base: OwnedFd,
    mut path: Vec<u8>,
    flags: i32,
    mode: libc::mode_t,
    names: &Names,
) -> Result<OwnedFd, i32> {
    // Each name the links lead to is judged; what the lock guards, it
    // guards until the open is done.
    let mut held = Vec::new();
    // Never waiting in the open (a FIFO with no reader would hold the
    // supervisor, and every other call with it): a write-only FIFO with
    // no reader is ENXIO, as for O_NONBLOCK; the file is then as asked.
    let as_asked = |file: OwnedFd| {
        if flags & libc::O_NONBLOCK == 0 {
            blocking(file)
        } else {
            Ok(file)
        }
    };
    // The kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        let mut place = judge(base, &path, names)?;
        held.extend(place.holding.take());
        let follows = flags & (libc::O_NOFOLLOW | libc::O_EXCL) == 0;
        match open_at(
            place.dir.as_fd(),
            &place.path,
            flags | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            mode,
        ) {
            Err(libc::ELOOP) if follows => {}
            Ok(file) => return as_asked(off_proc(file)?),
            Err(errno) => return Err(errno),
        }
        // The last name is a symlink (or the way to it had too many).
        let (dir, name) = split(place.path.as_bytes());
        let parent = open_at(
            place.dir.as_fd(),
            &c_path(dir)?,
            libc::O_PATH | libc::O_DIRECTORY,
            0,
        )?;
        if let Some(fd) = caller.descriptor_entry(parent.as_fd(), name) {
            // The command's own open file, opened anew (no name is made);
            // never one on procfs, which the supervisor would reopen as its
            // own (a command may hold /proc/SUPERVISOR/environ with O_PATH).
            let file = off_proc(caller.descriptor(fd)?)?;
            return as_asked(reopen(&file, flags & !libc::O_CREAT | libc::O_NONBLOCK)?);
        }
        let parent = off_proc(parent)?;
        let target = read_link(parent.as_fd(), &c_path(name)?).map_err(|_| libc::ELOOP)?;
        base = if target.first() == Some(&b'/') {
            open_path("/")?
        } else {
            parent
        };
        path = target;
    }
    Err(libc::ELOOP)
}

/// The directory part and the last name of `path` (`.` when it has no
/// directory part).
fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

/// `file` opened anew with `flags`, through the supervisor's own /proc
/// entry for it, as the kernel reopens a descriptor table's entry.
fn reopen(file: &OwnedFd, flags: i32) -> Result<OwnedFd, i32> {
    let path = c_path(format!("/proc/self/fd/{}", file.as_raw_fd()).as_bytes())?;
    // SAFETY: a NUL-terminated path; the descriptor is owned once.
    let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `file` with O_NONBLOCK cleared, as the command asked for it.
fn blocking(file: OwnedFd) -> Result<OwnedFd, i32> {
    // SAFETY: plain fcntl on a descriptor of ours.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0
        || unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0
    {
        return Err(last_errno());
    }
    Ok(file)
}

/// Where a call makes or finds a name: a directory of the supervisor's and
/// the last name in it, with the git-shape lock when the name can shape a
/// git directory (held until the call is made).
struct Place {
    dir: OwnedFd,
    path: CString,
    holding: Option<Holding>,
}

impl Place {
    /// The name `path` (from `base`) finds: its directory opened without
    /// following a magic link, and never one on procfs, whose /proc/self
    /// is the supervisor's; but an entry of the caller's descriptor table
    /// (`/proc/self/fd/N`, as `linkat` publishes an O_TMPFILE file by) is
    /// the caller's descriptor. With `follow` (a link's AT_SYMLINK_FOLLOW)
    /// the last name's symlinks are followed here, never to a magic link,
    /// and the file found is linked through the supervisor's own entry
    /// for it.
    fn found(caller: &Caller, base: OwnedFd, path: &[u8], follow: bool) -> Result<Place, i32> {
        let (dir, name) = directory_of(base, path)?;
        let file = match off_proc(dir.try_clone().map_err(|_| libc::EMFILE)?) {
            Ok(_) if !follow => return Place::at(dir, name, None),
            Ok(_) => off_proc(open_at(dir.as_fd(), &c_path(name)?, libc::O_PATH, 0)?)?,
            Err(on_proc) => {
                let fd = caller.descriptor_entry(dir.as_fd(), name).ok_or(on_proc)?;
                caller.descriptor(fd)?
            }
        };
        let own = format!("/proc/self/fd/{}", file.as_raw_fd());
        Ok(Place {
            dir: file,
            path: c_path(own.as_bytes())?,
            holding: None,
        })
    }

    fn at(dir: OwnedFd, name: &[u8], holding: Option<Holding>) -> Result<Place, i32> {
        Ok(Place {
            dir,
            path: c_path(name)?,
            holding,
        })
    }

    fn fd(&self) -> RawFd {
        self.dir.as_raw_fd()
    }
}

/// The directory of `path` (from `base`), opened without following a
/// magic link, and its last name, with the trailing slashes that ask for
/// a directory. A path without a directory part is `base`'s own name.
fn directory_of(base: OwnedFd, path: &[u8]) -> Result<(OwnedFd, &[u8]), i32> {
    let trimmed = &path[..path.iter().rposition(|b| *b != b'/').map_or(0, |i| i + 1)];
    let Some(slash) = trimmed.iter().rposition(|b| *b == b'/') else {
        return Ok((base, path));
    };
    let (dir, _) = split(trimmed);
    let dir = open_at(
        base.as_fd(),
        &c_path(dir)?,
        libc::O_PATH | libc::O_DIRECTORY,
        0,
    )?;
    Ok((dir, &path[slash + 1..]))
}

/// Judges the name `path` (from `base`) would make: refused when it folds
/// to `.git`, folds to another protected name (`.cordon`) in the root,
/// or would make the directory it lands in a git directory. Where the
/// directory decides, the place returned is the very directory judged
/// (looked up again by path, it could be another by then, moved by
/// another process's rename on the way), and a name that can shape a git
/// directory is judged and made under the git-shape lock.
fn judge(base: OwnedFd, path: &[u8], names: &Names) -> Result<Place, i32> {
    // "/", empty or not UTF-8: no name that folds to a protected one.
    let name = last_name(path).and_then(|name| std::str::from_utf8(name).ok());
    if name.is_some_and(|name| crate::policy::protected_name(name, false)) {
        return Err(libc::EPERM);
    }
    let (dir, last) = directory_of(base, path)?;
    let Some(name) = name else {
        return Place::at(dir, last, None);
    };
    let root_name = names.root.is_some() && crate::policy::protected_name(name, true);
    let shapes = crate::gitdirs::is_shape_name(name);
    if !root_name && !shapes {
        return Place::at(dir, last, None);
    }
    let holding = match shapes {
        true => Some(
            names
                .shape_lock
                .as_ref()
                .ok_or(libc::EPERM)?
                .hold()
                .map_err(|_| libc::EPERM)?,
        ),
        false => None,
    };
    // A directory that cannot be looked at counts as the root.
    let in_root = || {
        identity(dir.as_fd())
            .ok()
            .is_none_or(|(id, _)| Some(id) == names.root)
    };
    if root_name && in_root() {
        return Err(libc::EPERM);
    }
    let completes = shapes
        && crate::gitdirs::completes_git_dir(name, |entry| {
            let Ok(entry) = c_path(entry.as_bytes()) else {
                return true;
            };
            // SAFETY: fstatat fills the buffer; a NUL-terminated name.
            let found = unsafe {
                let mut st: libc::stat = std::mem::zeroed();
                libc::fstatat(
                    dir.as_raw_fd(),
                    entry.as_ptr(),
                    &mut st,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            // What cannot be looked at counts as there.
            found == 0 || last_errno() != libc::ENOENT
        });
    if completes {
        return Err(libc::EPERM);
    }
    Place::at(dir, last, holding)
}

/// The last name of `path`, trailing slashes aside.
fn last_name(path: &[u8]) -> Option<&[u8]> {
    let end = path.iter().rposition(|b| *b != b'/')?;
    let trimmed = &path[..=end];
    Some(match trimmed.iter().rposition(|b| *b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    })
}

/// Runs `call` with the command's umask, then restores the supervisor's
/// (which has one thread: nothing else sees it meanwhile).
fn with_umask<T>(umask: libc::mode_t, call: impl FnOnce() -> T) -> T {
    // SAFETY: umask cannot fail.
    let own = unsafe { libc::umask(umask) };
    let result = call();
    // SAFETY: as above.
    unsafe { libc::umask(own) };
    result
}

/// Hands `file` to the caller; the descriptor number it gets is the
/// call's value. The answer goes only once the supervisor's copy is
/// closed: a command that writes a program and runs it must not find it
/// busy (ETXTBSY) because the supervisor still holds it open for writing.
fn send(caller: &Caller, file: OwnedFd, flags: i32) -> Result<Answer, i32> {
    let addfd = libc::seccomp_notif_addfd {
        id: caller.id(),
        flags: 0,
        srcfd: file.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: (flags & libc::O_CLOEXEC) as u32,
    };
    // SAFETY: a filled seccomp_notif_addfd of the size the request encodes.
    let number = unsafe {
        libc::ioctl(
            caller.listener().as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD,
            &addfd,
        )
    };
    if number < 0 {
        return Err(last_errno());
    }
    drop(file);
    Ok(Answer::Value(number.into()))
}

fn open_at(
    dir: BorrowedFd,
    path: &std::ffi::CStr,
    flags: i32,
    mode: libc::mode_t,
) -> Result<OwnedFd, i32> {
    // /proc's magic links would be the supervisor's, not the command's (its
    // working directory, its descriptors): refused.
    let resolve = libc::RESOLVE_NO_MAGICLINKS;
    super::openat2::openat2(dir, path, flags, mode, resolve)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Refuses `file` if it lies on procfs: /proc/self would have led to the
/// supervisor's own files (its environment, its memory), not the
/// command's.
fn off_proc(file: OwnedFd) -> Result<OwnedFd, i32> {
    // SAFETY: fstatfs fills the buffer.
    let on_proc = unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &mut fs) != 0 || fs.f_type == libc::PROC_SUPER_MAGIC
    };
    if on_proc { Err(libc::EACCES) } else { Ok(file) }
}

fn c_path(bytes: &[u8]) -> Result<CString, i32> {
    CString::new(bytes).map_err(|_| libc::EINVAL)
}

fn last_errno() -> i32 {
    Error::last_os_error().raw_os_error().unwrap_or(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(dir: &std::path::Path) -> OwnedFd {
        std::fs::File::open(dir).unwrap().into()
    }

    /// Whether `judge` lets `path` be made from `base`.
    fn judged(base: &OwnedFd, path: &str) -> Result<(), i32> {
        let names = Names {
            shape_lock: Some(ShapeLock::open().unwrap()),
            root: None,
        };
        let base = base.try_clone().unwrap();
        judge(base, path.as_bytes(), &names).map(|_| ())
    }

    #[test]
    fn the_last_name_decides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git/hooks")).unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let base = base(dir.path());
        for path in [
            ".git",
            "a/.git",
            "a/.git/",
            "a/.GIT",
            "/x/.git.",
            "b/.git //",
            "c/.g\u{200c}it",
        ] {
            assert_eq!(judged(&base, path), Err(libc::EPERM), "{path}");
        }
        for path in [".git/hooks/x", "a/.gitignore", "/", "", "a/git", ".github"] {
            assert_eq!(judged(&base, path), Ok(()), "{path}");
        }
    }

    #[test]
    fn a_protected_name_is_refused_in_the_root_only() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        let meta = std::fs::metadata(dir.path()).unwrap();
        let names = Names {
            shape_lock: None,
            root: Some((meta.dev(), meta.ino())),
        };
        let judged = |base: &std::path::Path, path: &str| {
            judge(self::base(base), path.as_bytes(), &names).map(|_| ())
        };
        // The root however it is reached: by name, by `..`, from below.
        for path in [
            ".cordon",
            "./.CORDON.",
            ".cordon/",
            "src/../.cordon",
            "src/deep/../../.Cordon ",
        ] {
            assert_eq!(judged(dir.path(), path), Err(libc::EPERM), "{path}");
        }
        assert_eq!(
            judged(&dir.path().join("src"), "../.cordon"),
            Err(libc::EPERM)
        );
        for path in ["src/.cordon", ".cordonx", "src/deep/.cordon"] {
            assert_eq!(judged(dir.path(), path), Ok(()), "{path}");
        }
    }

    #[test]
    fn the_entry_that_makes_a_git_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/objects")).unwrap();
        std::fs::create_dir_all(dir.path().join("src/refs")).unwrap();
        let base = base(dir.path());
        for path in ["src/HEAD", "src/head/", "./src//HEAD"] {
            assert_eq!(judged(&base, path), Err(libc::EPERM), "{path}");
        }
        for path in ["src/config", "HEAD", "src/objects/HEAD"] {
            assert_eq!(judged(&base, path), Ok(()), "{path}");
        }
        // Without the lock, no name that can shape one is made.
        let again = || base.try_clone().unwrap();
        let unlocked = Names::default();
        assert_eq!(
            judge(again(), b"HEAD", &unlocked).map(|_| ()),
            Err(libc::EPERM)
        );
        assert!(judge(again(), b"config", &unlocked).is_ok());
    }
}
