//! On-disk cache of compiled code.
//!
//! An entry is keyed by the sha256 of the wasm bytes and the engine's
//! compatibility hash (wasmtime version, target, settings). It is two files:
//! `KEY.cwasm`, the compiled artifact as wasmtime wrote it (so it can be
//! mapped, not copied), and `KEY.check`, its length and CRC-32 and the
//! identity it was written with (device, inode, modification time). A corrupt,
//! truncated or foreign entry fails the check or wasmtime's own header check
//! and is recompiled; it is never handed to the engine unchecked. Each file
//! is written to a temporary name and renamed into place, the artifact
//! first, so a reader never sees half an entry: at worst a new artifact with
//! an old check, which fails and is recompiled.
//!
//! The checksum guards against damage, not against someone who can write to
//! the user's cache directory (they could replace the binary as well). An
//! artifact that is still the file cordon wrote (same identity and length)
//! is not hashed again: hashing the 20 MB of the built-in tools took half of
//! a warm start. Any other is checked whole (CRC-32 over a mapping).

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::atomic;

const MAGIC: &[u8; 8] = b"cordon3\n";
/// MAGIC, then the artifact's length (u64), CRC-32 (u32) and identity
/// (4 x u64), little-endian.
const CHECK_LEN: usize = 8 + 8 + 4 + IDENTITY_LEN;
const IDENTITY_LEN: usize = 4 * 8;

/// A directory of compiled modules and components.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

/// Feeds `Hash` output into sha256, so the engine's compatibility hash
/// becomes part of the key in a stable form.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl CompileCache {
    /// A cache in `dir`, created on first store.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompileCache { dir: dir.into() }
    }

    /// `$XDG_CACHE_HOME/cordon`, else `$HOME/.cache/cordon`.
    pub fn default_dir() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty());
        let base = match xdg {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
        };
        Some(base.join("cordon"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The key of the wasm whose sha256 is `wasm_sha256`, compiled by
    /// `engine`.
    pub fn key(engine: &Engine, wasm_sha256: &[u8; 32]) -> String {
        let mut hasher = ShaHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        hasher.0.update(wasm_sha256);
        hex(&hasher.0.finalize())
    }

    fn artifact(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    fn check(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.check"))
    }

    /// The artifact stored under `key`, if present and intact.
    pub fn lookup(&self, key: &str) -> Option<PathBuf> {
        let check = std::fs::read(self.check(key)).ok()?;
        if check.len() != CHECK_LEN || &check[..8] != MAGIC {
            return None;
        }
        let length = u64::from_le_bytes(check[8..16].try_into().ok()?);
        let crc = u32::from_le_bytes(check[16..20].try_into().ok()?);
        let path = self.artifact(key);
        let file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if meta.len() != length {
            return None;
        }
        if identity(&meta).is_some_and(|id| id[..] == check[20..]) {
            return Some(path);
        }
        (crc_of(&file, length)? == crc).then_some(path)
    }

    /// Stores `compiled` under `key`, each file atomically.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the entry written.
    pub fn store(&self, key: &str, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut check = Vec::with_capacity(CHECK_LEN);
        check.extend_from_slice(MAGIC);
        check.extend_from_slice(&(compiled.len() as u64).to_le_bytes());
        check.extend_from_slice(&crc32fast::hash(compiled).to_le_bytes());
        let artifact = self.artifact(key);
        atomic::write(&artifact, compiled)?;
        let written = std::fs::metadata(&artifact)?;
        check.extend_from_slice(&identity(&written).unwrap_or([0; IDENTITY_LEN]));
        atomic::write(&self.check(key), &check)
    }

    /// Number of entries and their total size in bytes.
    pub fn usage(&self) -> (u64, u64) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (0, 0);
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| e.metadata().ok())
            .fold((0, 0), |(n, size), meta| (n + 1, size + meta.len()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Device, inode, modification time (s, ns) of a file, as bytes; `None`
/// where the system has no such identity (every lookup then hashes).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<[u8; IDENTITY_LEN]> {
    use std::os::unix::fs::MetadataExt;
    let mut id = [0u8; IDENTITY_LEN];
    let fields = [
        meta.dev(),
        meta.ino(),
        meta.mtime() as u64,
        meta.mtime_nsec() as u64,
    ];
    for (slot, value) in id.chunks_exact_mut(8).zip(fields) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
    Some(id)
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<[u8; IDENTITY_LEN]> {
    None
}

/// CRC-32 of the `len` bytes of `file`. Mapped rather than read: an
/// artifact is tens of megabytes, and copying it would cost more than
/// hashing it.
#[cfg(unix)]
fn crc_of(file: &std::fs::File, len: u64) -> Option<u32> {
    use std::os::fd::AsRawFd;
    let len = usize::try_from(len).ok().filter(|l| *l > 0)?;
    // SAFETY: a private read-only mapping of a file we hold open, unmapped
    // below; the slice does not outlive it. A file changed underneath
    // changes the CRC, and is then refused.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        );
        if map == libc::MAP_FAILED {
            return None;
        }
        let crc = crc32fast::hash(std::slice::from_raw_parts(map.cast::<u8>(), len));
        libc::munmap(map, len);
        Some(crc)
    }
}

#[cfg(not(unix))]
fn crc_of(file: &std::fs::File, len: u64) -> Option<u32> {
    use std::io::Read;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0; 1 << 20];
    let mut seen = 0u64;
    let mut file = file;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                seen += n as u64;
            }
            Err(_) => return None,
        }
    }
    (seen == len).then(|| hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        cache.store("k", b"compiled").unwrap();
        let path = cache.lookup("k").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"compiled");
        // Changed in place (a later modification time): hashed, refused.
        std::fs::write(&path, b"compilEd").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(cache.lookup("k"), None);
        // Replaced by another file (another inode): hashed, refused...
        let other = dir.path().join("other");
        std::fs::write(&other, b"compilEd").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(cache.lookup("k"), None);
        // ...or, when the content is the same, accepted.
        std::fs::write(&other, b"compiled").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(cache.lookup("k"), Some(path.clone()));
        std::fs::write(&path, b"compiled!").unwrap();
        assert_eq!(cache.lookup("k"), None);
        cache.store("k", b"compiled").unwrap();
        std::fs::write(cache.check("k"), b"short").unwrap();
        assert_eq!(cache.lookup("k"), None);
        assert_eq!(cache.lookup("missing"), None);
    }
}
