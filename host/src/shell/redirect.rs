//! The redirections of a line cordon runs itself, opened by the host.
//!
//! Each target is checked twice: by its path before anything runs (so a
//! line that would write outside its area is refused whole), and again as
//! it is opened: on the directory actually opened (its real path, from the
//! descriptor), with the last component opened without following a
//! symlink. An earlier command of the line cannot redirect a later write
//! through a link it made.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};

use super::{Redirect, RedirectOp};
use crate::fd_path::real_path;
use crate::io::{CappedOutput, Stdio};
use crate::policy::{SandboxPolicy, protected_name};
use crate::shape_lock::ShapeLock;

/// Where the redirections of a line may read and write.
pub struct Area<'a> {
    /// The sandbox the line runs under.
    pub policy: &'a SandboxPolicy,
    /// `--writable` directories, resolved.
    pub writable: &'a [PathBuf],
    /// Directories no command may write (cordon's own rules and cache).
    pub protected: &'a [PathBuf],
}

/// Why a stage's redirection was not set up.
#[derive(Debug)]
pub enum Failed {
    /// The policy does not allow it: the line stops.
    Refused(String),
    /// The file cannot be opened (missing, a directory ...): the command
    /// does not run and fails, as in a shell.
    Open(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Area<'_> {
    /// Checks `redirect`, of a stage read in `cwd`, before anything runs.
    /// A directory that does not exist yet (an earlier command may make it)
    /// is judged by where it would be. `Ok(false)` for a read from outside
    /// the root: not cordon's to open; the line runs in the shell, where the
    /// OS sandbox judges the read as a native command's.
    ///
    /// # Errors
    ///
    /// Why the redirection is refused.
    pub fn precheck(&self, cwd: &Path, redirect: &Redirect) -> Result<bool, String> {
        let (path, access) = match (redirect.written_file(), redirect.read_file()) {
            (Some(path), _) => (path, Access::Write),
            (None, Some(path)) => (path, Access::Read),
            (None, None) => return Ok(true),
        };
        let refused = |why: String| format!("redirection {path}: {why}; nothing ran");
        let target = cwd.join(path);
        let (parent, name) = split(&target).ok_or_else(|| refused("not a file name".into()))?;
        let parent = resolve_missing(parent).ok_or_else(|| refused("outside the root".into()))?;
        if access == Access::Read && !parent.starts_with(self.policy.root()) {
            return Ok(false);
        }
        self.allows(&parent, name, access).map_err(refused)?;
        Ok(true)
    }

    /// The streams of a stage run in `cwd`: `stdio` with `redirects`
    /// applied in order, as a shell applies them.
    ///
    /// # Errors
    ///
    /// [`Failed`], for the first redirection that cannot be set up.
    pub fn streams(
        &self,
        cwd: &Path,
        redirects: &[Redirect],
        stdio: Stdio,
    ) -> Result<Stdio, Failed> {
        let Stdio {
            mut stdin,
            mut stdout,
            mut stderr,
            notes,
            cancel,
        } = stdio;
        for redirect in redirects {
            let output = match (&redirect.op, redirect.fd) {
                (RedirectOp::Read(path), 0) => {
                    match path.as_str() {
                        "/dev/stdin" => {}
                        "/dev/null" => stdin = Some(null_device()?),
                        _ => stdin = Some(self.open(cwd, path, Access::Read, false)?),
                    }
                    continue;
                }
                (RedirectOp::Write { path, append }, 1 | 2) => match path.as_str() {
                    "/dev/null" => CappedOutput::new(Box::new(std::io::sink()), None, false),
                    "/dev/stdout" => stdout.clone(),
                    "/dev/stderr" => stderr.clone(),
                    _ => {
                        let file = self.open(cwd, path, Access::Write, *append)?;
                        CappedOutput::new(Box::new(file), None, false)
                    }
                },
                (RedirectOp::Duplicate(1), 1 | 2) => stdout.clone(),
                (RedirectOp::Duplicate(2), 1 | 2) => stderr.clone(),
                _ => {
                    return Err(Failed::Refused(format!(
                        "cordon does not set up {redirect:?}"
                    )));
                }
            };
            if redirect.fd == 2 || redirect.and_stderr {
                stderr = output.clone();
            }
            if redirect.fd == 1 {
                stdout = output;
            }
        }
        Ok(Stdio {
            stdin,
            stdout,
            stderr,
            notes,
            cancel,
        })
    }

    /// Opens `path` (relative to `cwd`) as the line's redirection: the
    /// directory's real path checked, the last component never followed.
    fn open(&self, cwd: &Path, path: &str, access: Access, append: bool) -> Result<File, Failed> {
        let failed = |e: std::io::Error| Failed::Open(format!("{path}: {e}"));
        let refused = |why: &str| Failed::Refused(format!("redirection {path}: {why}"));
        let target = cwd.join(path);
        let (parent, name) = split(&target).ok_or_else(|| refused("not a file name"))?;
        let dir = cap_std::fs::Dir::open_ambient_dir(parent, cap_std::ambient_authority())
            .map_err(failed)?
            .into_std_file();
        let real = real_path(&dir).ok_or_else(|| refused("where it leads cannot be known here"))?;
        self.allows(&real, name, access)
            .map_err(|why| refused(&why))?;
        let dir = cap_std::fs::Dir::from_std_file(dir);
        if dir
            .symlink_metadata(name)
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(refused("a symbolic link, not followed"));
        }
        // A name that can complete a git directory's shape is judged, on
        // the directory opened, and made under the git-shape lock, as
        // every other maker of names does.
        let _holding = match access {
            Access::Write if crate::gitdirs::is_shape_name(&name.to_string_lossy()) => {
                let holding = ShapeLock::open()
                    .and_then(|lock| lock.hold())
                    .map_err(|_| refused("the git-shape lock cannot be had"))?;
                let name = name.to_string_lossy();
                if crate::gitdirs::completes_git_dir(&name, |entry| {
                    dir.symlink_metadata(entry).is_ok()
                }) {
                    return Err(refused("it would make its directory a git directory"));
                }
                Some(holding)
            }
            _ => None,
        };
        let mut options = cap_std::fs::OpenOptions::new();
        match access {
            Access::Read => options.read(true),
            Access::Write if append => options.append(true).create(true),
            Access::Write => options.write(true).create(true).truncate(true),
        };
        options.follow(FollowSymlinks::No);
        // Not blocked opening a FIFO (which waits for its other end,
        // past any deadline or cancel): only a regular file is opened.
        #[cfg(unix)]
        cap_std::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = dir.open_with(name, &options).map_err(failed)?.into_std();
        if !file.metadata().map_err(failed)?.is_file() {
            return Err(refused("not a regular file"));
        }
        #[cfg(unix)]
        clear_nonblocking(&file).map_err(failed)?;
        Ok(file)
    }

    /// Whether the line may `access` the entry `name` of the directory
    /// whose real path is `parent`.
    fn allows(&self, parent: &Path, name: &OsStr, access: Access) -> Result<(), String> {
        let policy = self.policy;
        let target = parent.join(name);
        let in_root = target.strip_prefix(policy.root()).ok();
        if in_root.is_some_and(|rel| policy.secrets.covers(rel)) {
            return Err("a secret file".into());
        }
        if access == Access::Read {
            return match in_root {
                Some(_) => Ok(()),
                None => Err("outside the root".into()),
            };
        }
        let writable = (policy.writable() && in_root.is_some())
            || self.writable.iter().any(|w| target.starts_with(w));
        // A `.git` is refused wherever the line may write, in the root or
        // not; `.cordon` in the root, at any depth here.
        let named = |path: &Path, at_root: bool| {
            path.components()
                .any(|c| protected_name(&c.as_os_str().to_string_lossy(), at_root))
        };
        let protected = (policy.protects_subpaths()
            && (in_root.is_some_and(|rel| named(rel, true))
                || self
                    .writable
                    .iter()
                    .any(|w| target.strip_prefix(w).is_ok_and(|rel| named(rel, false)))))
            || self.protected.iter().any(|p| target.starts_with(p));
        if !writable {
            return Err("outside what the line may write".into());
        }
        if protected {
            return Err("a protected path".into());
        }
        Ok(())
    }
}

/// A path's directory and last component, which must be a name.
fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    match path.components().next_back()? {
        Component::Normal(name) => Some((path.parent()?, name)),
        _ => None,
    }
}

/// The real path of `dir`, or of where it would be: its nearest existing
/// ancestor resolved, the missing names after it (never `..`) kept.
fn resolve_missing(dir: &Path) -> Option<PathBuf> {
    let mut missing = Vec::new();
    let mut existing = dir;
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Some(
                missing
                    .iter()
                    .rev()
                    .fold(real, |path, name| path.join(name)),
            );
        }
        let (parent, name) = split(existing)?;
        missing.push(name);
        existing = parent;
    }
}

fn null_device() -> Result<File, Failed> {
    let path = if cfg!(windows) { "NUL" } else { "/dev/null" };
    File::open(path).map_err(|e| Failed::Open(format!("{path}: {e}")))
}

/// Makes reads and writes of `file` wait again (it was opened without).
#[cfg(unix)]
fn clear_nonblocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor `file` owns; only the status flags change.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
