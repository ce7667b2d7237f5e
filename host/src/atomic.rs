//! Writing a file so that readers see the old content or the new, never
//! half of it: written beside it, flushed, renamed over.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically (its directory must exist).
///
/// # Errors
///
/// The I/O error of the write or the rename.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, true)
}

/// As [`write`], without waiting for the bytes to reach the disk: for a
/// cache, which a crash may lose (what is read back is checked, and made
/// again when it fails).
///
/// # Errors
///
/// As [`write`].
pub fn write_cache(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, bytes, false)
}

fn replace(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let mut temp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
    temp.write_all(bytes)?;
    if sync {
        temp.as_file().sync_data()?;
    }
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
