//! Secret files git already holds. cordon hides a secret file from
//! commands, but once it is staged or committed its content is in the
//! object store (`git show :.env`, `git cat-file`, a loose object), which
//! cordon cannot hide without breaking git. It says so instead: `cordon
//! doctor` names them, and the first run in a root warns once (again when
//! the set changes) and records the warning in the audit.
//!
//! The index is read directly (formats 2 to 4), never by running git on the
//! host: git would obey the repository's settings, which a command may
//! have chosen.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::secrets::SecretPatterns;

/// The tracked files of the repository at `root` that `patterns` make
/// secrets, relative to the root, in index order.
pub fn secrets(root: &Path, patterns: &SecretPatterns) -> Vec<PathBuf> {
    let Some(git_dir) = crate::gitdirs::of_work_tree(root) else {
        return Vec::new();
    };
    let Ok(index) = crate::config_file::read_through_links(&git_dir.join("index"), INDEX_LIMIT)
    else {
        return Vec::new();
    };
    paths(&index)
        .unwrap_or_default()
        .into_iter()
        .map(PathBuf::from)
        .filter(|path| patterns.covers(path))
        .collect()
}

/// The warning for `tracked`, one line.
pub fn warning(tracked: &[PathBuf]) -> String {
    let names: Vec<String> = tracked.iter().map(|p| p.display().to_string()).collect();
    format!(
        "warning: git holds secret files: {}; commands can read them through git \
         (git show, the object store). Untrack them (git rm --cached FILE, then commit) \
         and rotate what they hold if they were ever committed",
        names.join(", ")
    )
}

/// Whether the warning for `tracked` in `root` is due: not given yet for
/// this set. Records it as given in `state_dir` (cordon's own).
pub fn warn_once(state_dir: &Path, root: &Path, tracked: &[PathBuf]) -> bool {
    if tracked.is_empty() {
        return false;
    }
    let key = hex(&Sha256::digest(root.as_os_str().as_encoded_bytes()));
    let mut set = Sha256::new();
    for path in tracked {
        set.update(path.as_os_str().as_encoded_bytes());
        set.update([0]);
    }
    let set = hex(&set.finalize());
    let marker = state_dir.join("tracked-secrets").join(key);
    if std::fs::read_to_string(&marker).is_ok_and(|given| given == set) {
        return false;
    }
    if let Some(dir) = marker.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Not recorded (a read-only config): warned again next time.
    let _ = crate::atomic::write(&marker, set.as_bytes());
    true
}

/// The paths an index lists, or `None` for one cordon does not read.
fn paths(index: &[u8]) -> Option<Vec<String>> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(index.get(at..at + 4)?.try_into().ok()?))
    };
    if index.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(8)? as usize;
    let mut paths: Vec<String> = Vec::with_capacity(count.min(1 << 16));
    let mut at = 12;
    // ctime, mtime, dev, ino, mode, uid, gid, size; then the SHA-1.
    const FIXED: usize = 40 + 20;
    for _ in 0..count {
        let flags = u16::from_be_bytes(index.get(at + FIXED..at + FIXED + 2)?.try_into().ok()?);
        let mut name_at = at + FIXED + 2;
        if version >= 3 && flags & 0x4000 != 0 {
            name_at += 2;
        }
        let rest = index.get(name_at..)?;
        let (name, end) = if version == 4 {
            // How much of the previous name to drop, then the new suffix.
            let (strip, used) = varint(rest)?;
            let suffix = &rest[used..];
            let len = suffix.iter().position(|b| *b == 0)?;
            let previous = paths.last().map_or("", String::as_str);
            let kept = previous.len().checked_sub(strip)?;
            let name = format!(
                "{}{}",
                previous.get(..kept)?,
                std::str::from_utf8(&suffix[..len]).ok()?
            );
            (name, name_at + used + len + 1)
        } else {
            let len = rest.iter().position(|b| *b == 0)?;
            let name = std::str::from_utf8(&rest[..len]).ok()?.to_string();
            // Entries are padded with NULs to a multiple of 8 bytes.
            let size = (name_at - at + len + 8) & !7;
            (name, at + size)
        };
        paths.push(name);
        at = end;
    }
    Some(paths)
}

/// git's offset varint: 7 bits a byte, each continuation adding one.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in bytes.iter().enumerate().take(9) {
        if i > 0 {
            value = value.checked_add(1)?.checked_shl(7)?;
        }
        value |= usize::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// The largest git index read (a repository of a million files has one
/// of about 100 MB); past it, no warning.
const INDEX_LIMIT: u64 = 512 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn every_index_version_is_read() {
        if Command::new("git").arg("--version").output().is_err() {
            return;
        }
        for version in ["2", "3", "4"] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            git(root, &["init", "-q"]);
            for file in [
                ".env",
                "src/main.rs",
                "src/deep/.env.local",
                "certs/site.pem",
                "readme",
            ] {
                let path = root.join(file);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, "x").unwrap();
            }
            git(root, &["add", "."]);
            git(root, &["update-index", "--index-version", version]);
            let found = secrets(root, &SecretPatterns::default());
            assert_eq!(
                found,
                [
                    PathBuf::from(".env"),
                    PathBuf::from("certs/site.pem"),
                    PathBuf::from("src/deep/.env.local")
                ],
                "index version {version}"
            );
        }
    }

    #[test]
    fn the_warning_is_given_once_per_set() {
        let state = tempfile::tempdir().unwrap();
        let root = Path::new("/p");
        let one = [PathBuf::from(".env")];
        assert!(warn_once(state.path(), root, &one));
        assert!(!warn_once(state.path(), root, &one));
        let two = [PathBuf::from(".env"), PathBuf::from("key.pem")];
        assert!(warn_once(state.path(), root, &two));
        assert!(!warn_once(state.path(), root, &[]));
    }
}
