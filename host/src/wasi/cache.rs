//! On-disk cache of compiled code.
//!
//! An entry is keyed by the sha256 of the wasm bytes and the engine's
//! compatibility hash (wasmtime version, target, settings). It is two files:
//! `KEY.cwasm`, the compiled artifact as wasmtime wrote it (so it can be
//! mapped, not copied), and `KEY.check`, which authenticates it.
//!
//! A compiled artifact is native code that runs inside cordon, outside any
//! sandbox, so it is loaded only if cordon can tell it wrote it: the check
//! holds an HMAC-SHA256, under a per-user key (`mac.key` in the cache
//! directory, made once from the OS's random source), of the entry's key,
//! the artifact's length and its identity right after it was written:
//! device, inode and change time. The change time cannot be set by anyone
//! but the kernel, which moves it on every write, rename or truncation, so
//! a file that still has that identity is the one cordon wrote, unchanged;
//! anything else is compiled again. The key file is hidden from every
//! command and the directory is read-only to them (both engines), wherever
//! it lies; see docs/SANDBOX.md.
//!
//! Each file is written to a temporary name and renamed into place, the
//! artifact first, so a reader never sees half an entry: at worst a new
//! artifact with an old check, which fails and is recompiled. Where the
//! system has no such identity (not unix), the MAC covers the artifact's
//! bytes instead and each lookup reads them.

use std::hash::Hasher;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ring::hmac;
use sha2::{Digest, Sha256};
use wasmtime::Engine;

use crate::atomic;
use crate::digest::hex;

const MAGIC: &[u8; 8] = b"cordon4\n";
/// MAGIC, the artifact's length (u64, little-endian), its identity, the tag.
const CHECK_LEN: usize = 8 + 8 + IDENTITY_LEN + TAG_LEN;
const IDENTITY_LEN: usize = 4 * 8;
const TAG_LEN: usize = 32;
/// The key file's name and length.
const KEY_FILE: &str = "mac.key";
const KEY_LEN: usize = 32;

/// A directory of compiled modules and components.
#[derive(Debug)]
pub struct CompileCache {
    dir: PathBuf,
    /// The MAC key, read or made at first use; `None` when neither worked
    /// (the cache is then not used at all).
    key: OnceLock<Option<hmac::Key>>,
}

impl Clone for CompileCache {
    fn clone(&self) -> Self {
        CompileCache::new(self.dir.clone())
    }
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
        CompileCache {
            dir: dir.into(),
            key: OnceLock::new(),
        }
    }

    /// `$XDG_CACHE_HOME/cordon`, else `$HOME/.cache/cordon`.
    pub fn default_dir() -> Option<PathBuf> {
        crate::config_file::xdg_dir("XDG_CACHE_HOME", ".cache").map(|dir| dir.join("cordon"))
    }

    /// The directory compiled code is kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The MAC key's file: no command may read it.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
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

    fn mac_key(&self) -> Option<&hmac::Key> {
        self.key
            .get_or_init(|| load_or_make_key(&self.dir).ok())
            .as_ref()
    }

    /// The artifact stored under `key`, if present and authenticated.
    pub fn lookup(&self, key: &str) -> Option<PathBuf> {
        let mac_key = self.mac_key()?;
        let check = std::fs::read(self.check(key)).ok()?;
        if check.len() != CHECK_LEN || &check[..8] != MAGIC {
            return None;
        }
        let path = self.artifact(key);
        let file = std::fs::File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        let header = &check[..CHECK_LEN - TAG_LEN];
        if u64::from_le_bytes(check[8..16].try_into().ok()?) != meta.len() {
            return None;
        }
        let signed = match identity(&meta) {
            Some(id) if id[..] == check[16..16 + IDENTITY_LEN] => signed(key, header, None),
            Some(_) => return None,
            None => signed(key, header, Some(read_all(file, meta.len())?)),
        };
        hmac::verify(mac_key, &signed, &check[CHECK_LEN - TAG_LEN..])
            .ok()
            .map(|()| path)
    }

    /// Stores `compiled` under `key`, each file atomically.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created, the key read or made, or the
    /// entry written.
    pub fn store(&self, key: &str, compiled: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mac_key = self
            .mac_key()
            .ok_or_else(|| std::io::Error::other("no key to authenticate the entry"))?;
        let artifact = self.artifact(key);
        atomic::write(&artifact, compiled)?;
        let written = std::fs::metadata(&artifact)?;
        let mut check = Vec::with_capacity(CHECK_LEN);
        check.extend_from_slice(MAGIC);
        check.extend_from_slice(&(compiled.len() as u64).to_le_bytes());
        let id = identity(&written);
        check.extend_from_slice(&id.unwrap_or([0; IDENTITY_LEN]));
        let content = id.is_none().then(|| compiled.to_vec());
        let tag = hmac::sign(mac_key, &signed(key, &check, content));
        check.extend_from_slice(tag.as_ref());
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

/// The walk of a root remembers what it found beside the compiled code,
/// authenticated with the same key.
impl crate::gitdirs::Keeper for CompileCache {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn tag(&self, bytes: &[u8]) -> Option<[u8; crate::gitdirs::TAG_LEN]> {
        hmac::sign(self.mac_key()?, bytes).as_ref().try_into().ok()
    }

    fn is_tagged(&self, bytes: &[u8], tag: &[u8]) -> bool {
        self.mac_key()
            .is_some_and(|key| hmac::verify(key, bytes, tag).is_ok())
    }
}

/// What the tag covers: the entry's key, the check's header, and (without
/// an identity) the artifact's bytes.
fn signed(key: &str, header: &[u8], content: Option<Vec<u8>>) -> Vec<u8> {
    let mut signed = Vec::with_capacity(key.len() + 1 + header.len());
    signed.extend_from_slice(key.as_bytes());
    signed.push(0);
    signed.extend_from_slice(header);
    if let Some(content) = content {
        signed.extend_from_slice(&content);
    }
    signed
}

fn read_all(mut file: std::fs::File, len: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(len).ok()?);
    file.read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 == len).then_some(bytes)
}

/// Reads the cache's MAC key, or makes it: 32 bytes from the OS's random
/// source, written once (a file that is not exactly a key is refused, and
/// the cache goes unused rather than trusting it).
fn load_or_make_key(dir: &Path) -> std::io::Result<hmac::Key> {
    use ring::rand::SecureRandom;
    let path = dir.join(KEY_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            let mut fresh = [0u8; KEY_LEN];
            ring::rand::SystemRandom::new()
                .fill(&mut fresh)
                .map_err(|_| std::io::Error::other("the OS's random source failed"))?;
            write_new_private(&path, &fresh)?;
            // Two cordons making it at once: the one that landed wins.
            std::fs::read(&path)?
        }
        Err(e) => return Err(e),
    };
    if bytes.len() != KEY_LEN {
        return Err(std::io::Error::other(format!(
            "{} is not a key",
            path.display()
        )));
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Writes `bytes` to a new file at `path` readable by its owner only (as
/// tempfile makes them), in one step (a temporary file linked into place);
/// an existing file wins.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_data()?;
    match temp.persist_noclobber(path) {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.error),
    }
}

/// Device, inode, change time (s, ns) of a file, as bytes; `None` where
/// the system has no such identity (every lookup then reads the file).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<[u8; IDENTITY_LEN]> {
    use std::os::unix::fs::MetadataExt;
    let mut id = [0u8; IDENTITY_LEN];
    let fields = [
        meta.dev(),
        meta.ino(),
        meta.ctime() as u64,
        meta.ctime_nsec() as u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_while_it_is_the_file_cordon_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path());
        cache.store("k", b"compiled").unwrap();
        let path = cache.lookup("k").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"compiled");
        // Changed in place, even with the same length and times put back.
        let times = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::write(&path, b"compilEd").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(times)
            .unwrap();
        assert_eq!(cache.lookup("k"), None);
        // Replaced by another file with the very same bytes.
        cache.store("k", b"compiled").unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, b"compiled").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(cache.lookup("k"), None);
        // A check forged without the key, for an artifact of one's own.
        cache.store("k", b"compiled").unwrap();
        let mut check = std::fs::read(cache.check("k")).unwrap();
        std::fs::write(&other, b"evil-cod").unwrap();
        std::fs::rename(&other, &path).unwrap();
        let id = identity(&std::fs::metadata(&path).unwrap()).unwrap();
        check[16..16 + IDENTITY_LEN].copy_from_slice(&id);
        std::fs::write(cache.check("k"), &check).unwrap();
        assert_eq!(cache.lookup("k"), None);
        // Another entry's check, copied over this one's.
        cache.store("k", b"compiled").unwrap();
        cache.store("j", b"compiled").unwrap();
        std::fs::copy(cache.check("j"), cache.check("k")).unwrap();
        assert_eq!(cache.lookup("k"), None);
        std::fs::write(cache.check("k"), b"short").unwrap();
        assert_eq!(cache.lookup("k"), None);
        assert_eq!(cache.lookup("missing"), None);
        // Stored again, it is used again; the key file is the owner's only.
        cache.store("k", b"compiled").unwrap();
        assert_eq!(cache.lookup("k"), Some(path));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.key_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_file_that_is_not_a_key_disables_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let cache = CompileCache::new(dir.path());
        assert!(cache.store("k", b"compiled").is_err());
        assert_eq!(cache.lookup("k"), None);
    }
}
