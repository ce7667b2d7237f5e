//! On-disk cache of compiled code.
//!
//! An entry is keyed by the sha256 of the wasm bytes and the engine's
//! compatibility hash (wasmtime version, target, settings). It is two files:
//! `KEY.cwasm`, the compiled artifact as wasmtime wrote it (so it can be
//! mapped, not copied), and `KEY.check`, its length and CRC-32. A corrupt,
//! truncated or foreign entry fails the check or wasmtime's own header check
//! and is recompiled; it is never handed to the engine unchecked. Each file
//! is written to a temporary name and renamed into place, the artifact
//! first, so a reader never sees half an entry: at worst a new artifact with
//! an old check, which fails and is recompiled.
//!
//! The checksum guards against damage, not against someone who can write to
//! the user's cache directory (they could replace the binary as well); a
//! CRC-32 checks a 20 MB entry in a few milliseconds, where sha256 would
//! cost more than the rest of a warm start.

use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::atomic;

const MAGIC: &[u8; 8] = b"cordon2\n";
/// MAGIC, then the artifact's length (u64) and CRC-32 (u32), little-endian.
const CHECK_LEN: usize = 8 + 8 + 4;

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
        let mut file = std::fs::File::open(&path).ok()?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buffer = vec![0; 1 << 20];
        let mut seen = 0u64;
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
        (seen == length && hasher.finalize() == crc).then_some(path)
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
        atomic::write(&self.artifact(key), compiled)?;
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
        std::fs::write(&path, b"compilEd").unwrap();
        assert_eq!(cache.lookup("k"), None);
        std::fs::write(&path, b"compiled!").unwrap();
        assert_eq!(cache.lookup("k"), None);
        cache.store("k", b"compiled").unwrap();
        std::fs::write(cache.check("k"), b"short").unwrap();
        assert_eq!(cache.lookup("k"), None);
        assert_eq!(cache.lookup("missing"), None);
    }
}
