//! On-disk cache of compiled code.
//!
//! An entry is keyed by the sha256 of the wasm bytes and the engine's
//! compatibility hash (wasmtime version, target, settings), and holds a
//! CRC-32 of its own payload. A corrupt, truncated or foreign entry fails
//! the checksum or wasmtime's own header check and is recompiled; it is never
//! handed to the engine unchecked. Writes go to a temporary file that is
//! renamed into place, so a reader never sees half an entry.
//!
//! The checksum guards against damage, not against someone who can write to
//! the user's cache directory (they could replace the binary as well); a
//! CRC-32 checks a 20 MB entry in a few milliseconds, where sha256 would
//! cost more than the rest of a warm start.

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"cordon2\n";
const CHECKSUM_LEN: usize = 4;

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

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The compiled bytes stored under `key`, if present and intact.
    pub fn load(&self, key: &str) -> Option<Vec<u8>> {
        let mut bytes = std::fs::read(self.path(key)).ok()?;
        let header = MAGIC.len() + CHECKSUM_LEN;
        if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
            return None;
        }
        let (checksum, payload) = bytes[MAGIC.len()..].split_at(CHECKSUM_LEN);
        if crc32fast::hash(payload).to_le_bytes() != checksum {
            return None;
        }
        bytes.drain(..header);
        Some(bytes)
    }

    /// Stores `compiled` under `key`, atomically.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created or the entry written.
    pub fn store(&self, key: &str, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(MAGIC)?;
        file.write_all(&crc32fast::hash(compiled).to_le_bytes())?;
        file.write_all(compiled)?;
        file.as_file().sync_data()?;
        file.persist(self.path(key)).map_err(|e| e.error)?;
        Ok(())
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
        assert_eq!(cache.load("k").as_deref(), Some(&b"compiled"[..]));
        let path = cache.path("k");
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(cache.load("k"), None);
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(cache.load("k"), None);
        assert_eq!(cache.load("missing"), None);
    }
}
