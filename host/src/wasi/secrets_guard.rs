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

use cap_std::fs::Dir;
use wasmtime_wasi::ResourceTable;
use wasmtime_wasi::filesystem::Descriptor;

use super::fs_guard::{Base, Entry, Touch, entry_chain};
use crate::fd_path::real_path;
use crate::secrets::SecretPatterns;

/// Decides whether a guest's file is a secret.
pub struct SecretsGuard {
    root: PathBuf,
    patterns: SecretPatterns,
    /// Handles already found not to be secrets; the weak references keep
    /// each allocation alive, so an address is never mistaken for a later
    /// handle.
    checked: Mutex<Vec<Weak<std::fs::File>>>,
}

impl SecretsGuard {
    /// A guard for `root` (canonical), or `None` where this system cannot
    /// tell where a descriptor leads.
    pub fn new(root: &Path, patterns: SecretPatterns) -> Option<SecretsGuard> {
        cfg!(any(target_os = "linux", target_os = "macos")).then(|| SecretsGuard {
            root: root.to_path_buf(),
            patterns,
            checked: Mutex::new(Vec::new()),
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
                return true;
            }
            checked.push(weak);
        }
        false
    }

    /// Whether `touch`, resolved from any of `bases`, changes a secret (or
    /// something inside a secret directory).
    pub fn reaches_secret<'a>(
        &self,
        bases: impl IntoIterator<Item = Base<'a>>,
        touch: &Touch<'_>,
    ) -> bool {
        bases.into_iter().any(|base| {
            let Ok(file) = base.0.try_clone() else {
                return true;
            };
            let (path, follow) = match touch {
                Touch::Entry(path) => (*path, false),
                Touch::Target(path) => (*path, true),
            };
            let Some(chain) = entry_chain(&Dir::from_std_file(file), path, follow) else {
                return true;
            };
            let last = chain.len().saturating_sub(1);
            chain.iter().enumerate().any(|(i, entry)| {
                let (dir, name) = match entry {
                    Entry::Whole(dir) => (dir, None),
                    Entry::Named(parent, name) => (parent, Some(name)),
                };
                let real = dir
                    .try_clone()
                    .ok()
                    .and_then(|d| real_path(&d.into_std_file()));
                let path = match (real, name) {
                    (Some(dir), Some(name)) => dir.join(name),
                    (Some(dir), None) => dir,
                    (None, _) => return true,
                };
                // The entry changed itself (renamed, linked, removed) must
                // not carry a secret out from under its path pattern.
                self.is_secret(&path) || (i == last && name.is_some() && self.may_hold_at(&path))
            })
        })
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
