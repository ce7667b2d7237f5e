//! Where a guest's mutating call lands, found once and held.
//!
//! A guard that checks a path and then lets wasmtime-wasi resolve the same
//! path again can be raced: another process (a native stage of the same
//! line) swaps a directory on the way for a symlink into `.git` between
//! the two. So the path is resolved here, once, component by component:
//! each directory is opened without following a symlink, a symlink met on
//! the way is read and its target walked the same way, and the walk never
//! climbs above the directory it starts from (as cap-std). What comes out
//! is a [`Spot`]: an open directory and one name in it. The guards judge
//! the spot, and the call then acts on that directory, on that name, with
//! no symlink followed; a directory swapped after the walk is not the one
//! held, and a name turned into a symlink is refused by the kernel.

use std::collections::VecDeque;
use std::io;

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;

/// Symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: u32 = 40;
/// The longest path a call takes, as Linux's `PATH_MAX`: bounds the walk
/// (which the run's deadline cannot interrupt).
const PATH_MAX: usize = 4096;

/// One directory entry a call acts on.
pub struct Spot {
    /// The directory holding the entry, held open.
    pub parent: Dir,
    /// The entry's name: one component, never `..`; `.` when the call is
    /// on `parent` itself (the path ended in `..`). A path ending in `/`
    /// names a directory if anything, one ending in `/.` an existing one.
    pub name: String,
    /// The git-shape lock, when the guards judged the name under it: held
    /// until the call on the spot is made (see [`crate::shape_lock`]).
    pub holding: Option<crate::shape_lock::Holding>,
}

/// What a path's ending asks of its entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DirOnly {
    No,
    /// Ended in `/`: a directory if it exists.
    IfExists,
    /// Ended in `/.`: an existing directory.
    Existing,
}

impl Spot {
    /// Whether the call is on the directory itself rather than an entry.
    pub fn is_whole(&self) -> bool {
        self.name == "."
    }
}

/// Resolves `path` from `base` to the entry a call acts on. With `follow`,
/// a final symlink is followed (to the entry it names, existing or not);
/// without, the final entry is the one named. A path ending in `/` names a
/// directory: a final symlink there is followed as the kernel would.
///
/// # Errors
///
/// As the call itself would fail: `NotFound` for a missing directory on
/// the way, `PermissionDenied` for an absolute path or one that climbs out
/// of `base`, too many symlinks, a directory that is not one.
pub fn locate(base: &std::fs::File, path: &str, follow: bool) -> io::Result<Spot> {
    if path.is_empty() {
        return Err(io::ErrorKind::NotFound.into());
    }
    if path.len() > PATH_MAX {
        return Err(too_long());
    }
    let dir_only = if path == "." || path.ends_with("/.") {
        DirOnly::Existing
    } else if path.ends_with('/') {
        DirOnly::IfExists
    } else {
        DirOnly::No
    };
    let mut dirs = vec![Dir::from_std_file(base.try_clone()?)];
    let follow = follow || dir_only != DirOnly::No;
    let mut pending = components(path)?;
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            if dirs.len() == 1 {
                return Err(escapes());
            }
            dirs.pop();
            continue;
        }
        let top = dirs.last().expect("the base is never popped");
        let last = pending.is_empty();
        let meta = match top.symlink_metadata(&name) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound && last => {
                if dir_only == DirOnly::Existing {
                    return Err(e);
                }
                return Ok(Spot {
                    parent: top.try_clone()?,
                    name,
                    holding: None,
                });
            }
            Err(e) => return Err(e),
        };
        if meta.is_symlink() && (follow || !last) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(too_many_links());
            }
            let target = top.read_link(&name)?;
            let target = target
                .to_str()
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
            let mut next = components(target)?;
            next.extend(pending.drain(..));
            pending = next;
            continue;
        }
        if last {
            if dir_only != DirOnly::No && !meta.is_dir() {
                return Err(not_a_directory());
            }
            return Ok(Spot {
                parent: top.try_clone()?,
                name,
                holding: None,
            });
        }
        let dir = top.open_dir_nofollow(&name)?;
        dirs.push(dir);
    }
    let top = dirs.pop().expect("the base is never popped");
    Ok(Spot {
        parent: top,
        name: ".".to_string(),
        holding: None,
    })
}

/// The components of a relative path, without empty ones and `.`.
fn components(path: &str) -> io::Result<VecDeque<String>> {
    if path.starts_with('/') {
        return Err(escapes());
    }
    Ok(path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect())
}

/// What cap-std answers for a path that leaves its directory.
fn escapes() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "a path that leaves its directory",
    )
}

fn too_long() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(rustix::io::Errno::NAMETOOLONG.raw_os_error());
    #[cfg(not(unix))]
    return io::Error::other("file name too long");
}

fn not_a_directory() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error());
    #[cfg(not(unix))]
    return io::Error::other("not a directory");
}

fn too_many_links() -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(unix))]
    return io::Error::other("too many levels of symbolic links");
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, std::fs::File) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/f"), "x").unwrap();
        symlink("a/b", tmp.path().join("link")).unwrap();
        symlink("../..", tmp.path().join("a/up")).unwrap();
        symlink("/etc", tmp.path().join("abs")).unwrap();
        let base = std::fs::File::open(tmp.path()).unwrap();
        (tmp, base)
    }

    fn found(base: &std::fs::File, path: &str, follow: bool) -> (std::path::PathBuf, String) {
        let spot = locate(base, path, follow).unwrap();
        let real = crate::fd_path::real_path(&spot.parent.into_std_file()).unwrap();
        (real, spot.name)
    }

    #[test]
    fn symlinks_on_the_way_are_walked_and_the_last_is_not() {
        let (tmp, base) = setup();
        let root = tmp.path().canonicalize().unwrap();
        assert_eq!(
            found(&base, "link/f", false),
            (root.join("a/b"), "f".into())
        );
        assert_eq!(found(&base, "link", false), (root.clone(), "link".into()));
        assert_eq!(found(&base, "link", true), (root.join("a"), "b".into()));
        assert_eq!(found(&base, "link/", false), (root.join("a"), "b".into()));
        assert_eq!(
            found(&base, "a/b/../new", false),
            (root.join("a"), "new".into())
        );
        assert_eq!(found(&base, "a/..", false), (root.clone(), ".".into()));
    }

    #[test]
    fn nothing_leaves_the_base() {
        let (_tmp, base) = setup();
        for path in ["..", "a/../..", "/etc/passwd", "abs/passwd", "a/up/x"] {
            let err = locate(&base, path, true).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(io::ErrorKind::PermissionDenied),
                "{path}"
            );
        }
        assert_eq!(
            locate(&base, "missing/x", false).err().map(|e| e.kind()),
            Some(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn a_trailing_slash_or_dot_names_a_directory() {
        let (_tmp, base) = setup();
        let kind = |path: &str| locate(&base, path, false).err().map(|e| e.kind());
        assert_eq!(kind("a/b/f/"), Some(io::ErrorKind::NotADirectory));
        assert_eq!(kind("a/b/f/."), Some(io::ErrorKind::NotADirectory));
        assert_eq!(kind("new/."), Some(io::ErrorKind::NotFound));
        assert_eq!(kind(""), Some(io::ErrorKind::NotFound));
        assert_eq!(
            kind(&"a/".repeat(3000)),
            Some(io::ErrorKind::InvalidFilename)
        );
        assert!(locate(&base, "new/", false).is_ok());
        assert!(locate(&base, "link/", false).is_ok());
    }
}
