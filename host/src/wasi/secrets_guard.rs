//! Keeps the secret files of the root (`.env`, keys, `.ssh/`, ... and
//! `--secret`) unreadable for WASI guests, as the native sandbox does for
//! native commands: a guest cannot open one, nor rename, link, truncate or
//! remove it.
//!
//! A file is judged by where it really is: after wasmtime-wasi opens it,
//! the descriptor's real path (the kernel's, symlinks resolved) is matched
//! against the patterns, and a secret is closed before the guest can use
//! it. Linux reads it from /proc/self/fd, macOS from `F_GETPATH`; where
//! neither exists, or the path cannot be read, the file counts as a secret
//! (fail closed) on those systems, and other systems have no WASI secret
//! hiding (docs/SANDBOX.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use wasmtime_wasi::ResourceTable;
use wasmtime_wasi::filesystem::Descriptor;

use super::fs_spot::Spot;
use crate::fd_path::real_path;
use crate::secrets::SecretPatterns;
use crate::violations::Denied;

/// Decides whether a guest's file is a secret.
pub struct SecretsGuard {
    root: PathBuf,
    patterns: SecretPatterns,
    /// Handles already found not to be secrets; the weak references keep
    /// each allocation alive, so an address is never mistaken for a later
    /// handle.
    checked: Mutex<Vec<Weak<std::fs::File>>>,
    /// What this guard refused.
    pub refused: super::refused::Refused,
}

impl SecretsGuard {
    /// A guard for `root` (canonical), or `None` where this system cannot
    /// tell where a descriptor leads.
    pub fn new(root: &Path, patterns: SecretPatterns) -> Option<SecretsGuard> {
        cfg!(any(target_os = "linux", target_os = "macos")).then(|| SecretsGuard {
            root: root.to_path_buf(),
            patterns,
            checked: Mutex::new(Vec::new()),
            refused: super::refused::Refused::new(root),
        })
    }

    /// Whether a descriptor in `table` opened since the last call leads to
    /// a secret: the guest just opened it, and must not keep it.
    pub fn newly_opened_secret(&self, table: &mut ResourceTable) -> bool {
        let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
        checked.retain(|weak| weak.strong_count() > 0);
        for entry in table.iter_mut() {
            let handle = match entry.downcast_ref::<Descriptor>() {
                Some(Descriptor::File(file)) => &file.file,
                Some(Descriptor::Dir(dir)) => &dir.dir,
                None => continue,
            };
            let weak = Arc::downgrade(handle);
            if checked.iter().any(|seen| seen.ptr_eq(&weak)) {
                continue;
            }
            if self.leads_to_secret(handle) {
                let path = real_path(handle).unwrap_or_default();
                self.refused.path(Denied::Read, &path, "a secret file");
                return true;
            }
            checked.push(weak);
        }
        false
    }

    /// Whether a call on `spot` changes a secret (or something inside a
    /// secret directory), or carries one out from under its path pattern
    /// (renames, links or removes a directory a pattern reaches into).
    pub fn spot_secret(&self, spot: &Spot) -> bool {
        let Some(dir) = spot
            .parent
            .try_clone()
            .ok()
            .and_then(|d| real_path(&d.into_std_file()))
        else {
            return true;
        };
        if spot.is_whole() {
            return self.is_secret(&dir);
        }
        let path = dir.join(&spot.name);
        self.is_secret(&path) || self.may_hold_at(&path)
    }

    fn leads_to_secret(&self, file: &std::fs::File) -> bool {
        real_path(file).is_none_or(|path| self.is_secret(&path))
    }

    fn may_hold_at(&self, path: &Path) -> bool {
        path.strip_prefix(&self.root)
            .is_ok_and(|relative| self.patterns.may_hold(relative))
    }

    fn is_secret(&self, path: &Path) -> bool {
        path.strip_prefix(&self.root)
            .is_ok_and(|relative| self.patterns.covers(relative))
    }
}
