// cordon: not part of same-file (see PATCHED.md at the crate's root).

//! Handles on WASI: a file's device and inode, which WASI's stable Rust
//! API does not give, come from cordon's host (`cordon.file_info`).

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identities for files the host does not tell of: each differs.
static OUTSIDE: AtomicU64 = AtomicU64::new(0);

#[derive(Debug)]
pub struct Handle {
    file: File,
    dev: u64,
    ino: u64,
}

impl Eq for Handle {}

impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }
}

impl Hash for Handle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.dev.hash(state);
        self.ino.hash(state);
    }
}

impl Handle {
    pub fn from_path<P: AsRef<Path>>(p: P) -> io::Result<Handle> {
        let path = p.as_ref();
        let file = File::open(path)?;
        let (dev, ino) = match cordon_host_calls::file_info_of(path, true) {
            Some(info) => (info.dev, info.ino),
            // The host tells only of files inside the project root. A
            // directory outside it (one leading to the root, which a
            // walk's ancestors reach) is like no other.
            None => (u64::MAX, OUTSIDE.fetch_add(1, Ordering::Relaxed)),
        };
        Ok(Handle { file, dev, ino })
    }

    /// A file opened elsewhere has no path to ask about.
    pub fn from_file(_file: File) -> io::Result<Handle> {
        Err(unsupported())
    }

    pub fn stdin() -> io::Result<Handle> {
        Err(unsupported())
    }

    pub fn stdout() -> io::Result<Handle> {
        Err(unsupported())
    }

    pub fn stderr() -> io::Result<Handle> {
        Err(unsupported())
    }

    pub fn as_file(&self) -> &File {
        &self.file
    }

    pub fn as_file_mut(&mut self) -> &mut File {
        &mut self.file
    }
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "same-file on WASI needs cordon's host to tell a file's device and inode",
    )
}
