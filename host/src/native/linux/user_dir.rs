//! cordon's directory for one user under the temporary directory
//! (`cordon-UID`, mode 0700): what native runs share, made once and kept.
//! It holds the locks on placeholders, the two stand-ins mounted over what
//! must not be read, and the directory the runs' temporary directories go
//! on or in.
//!
//! Nothing in it is trusted without a look: the directory must be a real
//! directory of this user that no one else can enter, and a stand-in that
//! is not exactly what cordon makes (type, owner, mode) is made
//! again, so another user cannot plant content where a secret should be.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::super::NativeError;

pub struct UserDir {
    path: PathBuf,
    uid: libc::uid_t,
}

impl UserDir {
    /// Opens (making it when absent) this user's directory.
    pub fn open() -> io::Result<UserDir> {
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        Ok(UserDir {
            path: crate::shape_lock::user_dir()?,
            uid,
        })
    }

    /// The stand-ins, made where missing or not as cordon makes them:
    /// a socket inode for files (opening one fails with ENXIO for everyone,
    /// root included, where an empty file would read as empty) and an empty
    /// mode-000 directory.
    pub fn masks(&self) -> io::Result<(PathBuf, PathBuf)> {
        let file = self.path.join("mask-file");
        let dir = self.path.join("mask-dir");
        if !self.is_mask(&file, |t| t.is_socket())? {
            self.replace(&file, |at| {
                drop(std::os::unix::net::UnixListener::bind(at)?);
                std::fs::set_permissions(at, PermissionsExt::from_mode(0o000))
            })?;
        }
        // Mode 000: only this user (after a chmod) or root could put
        // anything in it.
        if !self.is_mask(&dir, |t| t.is_dir())? {
            self.replace(&dir, |at| DirBuilder::new().mode(0o000).create(at))?;
        }
        Ok((file, dir))
    }

    /// The directory itself, for what a run keeps in it for its length.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kept, empty directory under which each run gets its temporary
    /// directory (see `Spec::tmpdir`).
    pub fn temporary(&self) -> io::Result<PathBuf> {
        let path = self.path.join("tmp");
        make_private_dir(&path)?;
        if !path.symlink_metadata()?.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        Ok(path)
    }

    /// Whether `path` is of the right type, this user's, with mode 000.
    fn is_mask(&self, path: &Path, kind: impl Fn(std::fs::FileType) -> bool) -> io::Result<bool> {
        match path.symlink_metadata() {
            Ok(meta) => {
                Ok(kind(meta.file_type()) && meta.uid() == self.uid && meta.mode() & 0o777 == 0)
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Makes `path` anew: `make` builds it under a name of this process,
    /// which then replaces `path` in one step (a run mounting the old one
    /// keeps what it mounted).
    fn replace(&self, path: &Path, make: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
        let fresh = self.path.join(format!(".new-{}", std::process::id()));
        remove_any(&fresh)?;
        make(&fresh)?;
        if let Err(err) = std::fs::rename(&fresh, path) {
            // A directory does not replace a non-empty one (or a non-dir).
            remove_any(path)?;
            std::fs::rename(&fresh, path).map_err(|_| err)?;
        }
        Ok(())
    }

    /// Takes a shared lock per writable tree for the length of a run; see
    /// [`PlaceholderLock`].
    pub fn lock_placeholders(&self, writable: &[PathBuf]) -> Result<PlaceholderLock, NativeError> {
        use sha2::{Digest, Sha256};
        let mut held = Vec::new();
        for tree in writable {
            let key: String = Sha256::digest(tree.as_os_str().as_encoded_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let lock_failed =
                |e: io::Error| NativeError::Setup(format!("lock for {}: {e}", tree.display()));
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(self.path.join(format!("lock-{key}")))
                .map_err(lock_failed)?;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) } != 0 {
                return Err(lock_failed(io::Error::last_os_error()));
            }
            held.push(file);
        }
        Ok(PlaceholderLock(held))
    }
}

/// Makes `path` a mode-0700 directory unless something is there already
/// (which the caller then checks).
fn make_private_dir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// Removes a file, socket or directory tree at `path`, if any.
fn remove_any(path: &Path) -> io::Result<()> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => {
            // A mode-000 directory must be opened up to be emptied.
            std::fs::set_permissions(path, PermissionsExt::from_mode(0o700))?;
            std::fs::remove_dir_all(path)
        }
        Ok(_) => std::fs::remove_file(path),
        Err(err) => Err(err),
    };
    match result {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A shared lock per writable tree for the length of a run. A run creates
/// placeholders for absent protected paths to hold read-only mounts; removing
/// one under another run would detach that run's mount, so only a run that
/// can take the lock exclusively at its end (no other run holds it) removes
/// them. Empty placeholders left behind are harmless and reused.
pub struct PlaceholderLock(Vec<File>);

impl PlaceholderLock {
    /// Removes the empty placeholders of `absent` if no other run holds
    /// the lock, then releases it.
    pub fn release(self, absent: &[PathBuf]) {
        // SAFETY: flock on descriptors we own.
        let alone = self
            .0
            .iter()
            .all(|f| unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0);
        if alone {
            for path in absent {
                let _ = std::fs::remove_dir(path);
            }
        }
    }
}
