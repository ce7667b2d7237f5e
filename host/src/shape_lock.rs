//! One lock, per user, around every making of a name that can complete a
//! git directory's shape (`HEAD`, `objects`, `refs`, `commondir`: see
//! [`crate::gitdirs::completes_git_dir`]). The check and the making are
//! then one step for every maker of names, the native supervisor of each
//! stage and run and each WASI guard: two stages of a line (or two runs)
//! cannot each add one of the last two entries, both having seen the
//! other missing.
//!
//! The lock is a file in this user's private directory (mode 0700), held
//! (flock(2), `File::lock`) by each maker through an open file description
//! of its own, and only for the check and the call. Waiting for it is bounded: a
//! maker that cannot have it within [`WAIT`] refuses the name.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest a maker waits for the lock.
const WAIT: Duration = Duration::from_secs(2);

/// This user's private directory under the temporary directory
/// (`cordon-UID`, mode 0700), made when absent. Nothing in it is trusted
/// unless it is a real directory of this user that no one else can enter.
///
/// # Errors
///
/// When it cannot be made, or is not such a directory.
#[cfg(unix)]
pub fn user_dir() -> io::Result<PathBuf> {
    use std::fs::DirBuilder;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let path = user_dir_path();
    match DirBuilder::new().mode(0o700).create(&path) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
        _ => {}
    }
    let meta = path.symlink_metadata()?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory of this user (mode 0700, owned by uid {uid}); \
             remove it, or point TMPDIR elsewhere",
            path.display()
        )));
    }
    Ok(path)
}

/// This user's directory under the temporary directory, which is the
/// user's own on these systems.
#[cfg(not(unix))]
pub fn user_dir() -> io::Result<PathBuf> {
    let path = user_dir_path();
    std::fs::create_dir_all(&path)?;
    Ok(path)
}

/// Where [`user_dir`] is, made or not.
pub fn user_dir_path() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: geteuid cannot fail.
    let name = format!("cordon-{}", unsafe { libc::geteuid() });
    #[cfg(not(unix))]
    let name = "cordon".to_string();
    std::env::temp_dir().join(name)
}

/// An open file description of the lock file, and how many holdings of
/// it are alive (a maker may judge several names for one call: the lock
/// goes at the last one's end).
#[derive(Debug)]
pub struct ShapeLock {
    file: File,
    holdings: Mutex<usize>,
}

/// The lock, held until dropped.
#[derive(Debug)]
pub struct Holding(Arc<ShapeLock>);

impl ShapeLock {
    /// Opens the lock file (a new open file description: a lock of its
    /// own, which excludes every other).
    ///
    /// # Errors
    ///
    /// When this user's directory or the file cannot be had.
    pub fn open() -> io::Result<Arc<ShapeLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(ShapeLock::path()?)?;
        Ok(Arc::new(ShapeLock::of(file)))
    }

    /// Where the lock file is: a sandboxed command must not reach it (it
    /// could hold the lock, and keep every run from making these names).
    pub fn path() -> io::Result<PathBuf> {
        Ok(user_dir()?.join("git-shape.lock"))
    }

    /// The lock from a descriptor handed down (a sandbox helper's).
    ///
    /// # Safety
    ///
    /// `fd` is an open descriptor of the lock file that nothing else owns.
    #[cfg(unix)]
    pub unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Arc<ShapeLock> {
        use std::os::fd::{FromRawFd, OwnedFd};
        // SAFETY: as the caller promises.
        Arc::new(ShapeLock::of(File::from(unsafe {
            OwnedFd::from_raw_fd(fd)
        })))
    }

    fn of(file: File) -> ShapeLock {
        ShapeLock {
            file,
            holdings: Mutex::new(0),
        }
    }

    /// The descriptor, to hand down to a sandbox helper.
    #[cfg(unix)]
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.file)
    }

    /// Takes the lock, waiting at most [`WAIT`].
    ///
    /// # Errors
    ///
    /// When another maker held it all that time, or flock failed.
    pub fn hold(self: &Arc<Self>) -> io::Result<Holding> {
        let mut holdings = self.holdings.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + WAIT;
        loop {
            let taken = match *holdings {
                0 => self.file.try_lock(),
                _ => Ok(()),
            };
            match taken {
                Ok(()) => {
                    *holdings += 1;
                    return Ok(Holding(Arc::clone(self)));
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(err)) => return Err(err),
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the git-shape lock stayed held",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let mut holdings = self.0.holdings.lock().unwrap_or_else(|e| e.into_inner());
        *holdings -= 1;
        if *holdings == 0 {
            let _ = self.0.file.unlock();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(lock: &ShapeLock) -> bool {
        let free = lock.file.try_lock().is_ok();
        if free {
            lock.file.unlock().unwrap();
        }
        free
    }

    #[test]
    fn one_holder_at_a_time_across_open_descriptions() {
        let (a, b) = (ShapeLock::open().unwrap(), ShapeLock::open().unwrap());
        let held = a.hold().unwrap();
        assert!(!free(&b), "a second description took the held lock");
        // Held twice through one description, it goes with the last.
        let again = a.hold().unwrap();
        drop(held);
        assert!(!free(&b), "the lock went with the first of two holdings");
        drop(again);
        drop(b.hold().unwrap());
    }
}
