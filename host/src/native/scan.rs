//! The one walk of the root a native plan needs: secret files to hide and
//! nested repositories whose `.git` stays read-only.

use std::path::{Path, PathBuf};

use crate::secrets::{HOME_SECRETS, SecretPatterns};

/// What the walk found, as absolute paths in name order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Secret files and directories under the root, then the home
    /// credential stores that exist.
    pub secrets: Vec<PathBuf>,
    /// `.git` entries below the root's top level, symlinks included (the
    /// directories on the way to one are pinned: moved, a relative one
    /// would lead elsewhere).
    pub nested_git: Vec<PathBuf>,
}

/// Walks `root` without following symlinks (a link is judged where its
/// target lives, but for a `.git` one) and without entering `.git` or a
/// secret directory.
pub fn scan(root: &Path, patterns: &SecretPatterns, home: Option<&Path>) -> Scan {
    let mut found = Scan::default();
    walk(root, Path::new(""), patterns, &mut found);
    if let Some(home) = home {
        for name in HOME_SECRETS {
            let path = home.join(name);
            if path.symlink_metadata().is_ok() && !found.secrets.contains(&path) {
                found.secrets.push(path);
            }
        }
    }
    found.secrets.sort();
    found.nested_git.sort();
    found
}

fn walk(dir: &Path, relative: &Path, patterns: &SecretPatterns, found: &mut Scan) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let rel = relative.join(&name);
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name == ".git" {
            if !relative.as_os_str().is_empty() {
                found.nested_git.push(entry.path());
            }
        } else if kind.is_symlink() {
            continue;
        } else if patterns.is_secret(&rel) {
            found.secrets.push(entry.path());
        } else if kind.is_dir() {
            walk(&entry.path(), &rel, patterns, found);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_and_nested_repositories_but_follows_no_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("app/.ssh")).unwrap();
        std::fs::write(root.join("app/.ssh/id_rsa"), "k").unwrap();
        std::fs::create_dir_all(root.join("vendor/lib/.git")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".env"), "A=1").unwrap();
        std::fs::write(root.join("main.rs"), "").unwrap();
        std::os::unix::fs::symlink(root.join(".env"), root.join("link.pem")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        let found = scan(root, &SecretPatterns::new(&[], &[]).unwrap(), None);
        assert_eq!(found.secrets, [root.join(".env"), root.join("app/.ssh")]);
        assert_eq!(found.nested_git, [root.join("vendor/lib/.git")]);
    }
}
