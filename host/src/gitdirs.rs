//! The git directories the repositories in a root use, found by what they
//! are rather than by their name. git finds its directory in several ways:
//! a `.git` directory, a `.git` file naming it (`gitdir: ./.bare`, as
//! worktrees and submodules have), a `.git` symlink (as the `repo` tool
//! lays them out), the `commondir` a worktree's directory names, and
//! `GIT_DIR`/`GIT_COMMON_DIR` in the environment. Each one found is
//! protected whole, by identity, in both engines (docs/SANDBOX.md).

use std::path::{Path, PathBuf};

/// How deep below the root `.git` entries are looked for.
const MAX_DEPTH: usize = 32;

/// Every git directory that the repositories under `root` use, and those
/// `env` names, resolved (absolute, no symlink) and in name order. `cwd` is
/// where a relative `GIT_DIR` starts.
pub fn resolve(root: &Path, cwd: &Path, env: &[(String, String)]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if has_git_dir_shape(|name| root.join(name).symlink_metadata().is_ok()) {
        add(root, &mut found);
    }
    walk(root, 0, &mut found);
    for name in ["GIT_DIR", "GIT_COMMON_DIR"] {
        if let Some((_, value)) = env.iter().find(|(k, _)| k == name) {
            add(&cwd.join(value), &mut found);
        }
    }
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let entries: Vec<_> = entries.flatten().collect();
    for entry in &entries {
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let path = entry.path();
            // A bare repository: git finds it when run inside it.
            if has_git_dir_shape(|name| path.join(name).symlink_metadata().is_ok()) {
                add(&path, found);
            }
        }
        if name == ".git" {
            let path = entry.path();
            if kind.is_file() {
                if let Some(target) = gitfile_target(&path) {
                    add(&target, found);
                }
            } else {
                // A directory, or a symlink to one: what it resolves to.
                add(&path, found);
            }
        } else if kind.is_dir() {
            // Every directory: a gitfile in a hidden one or in
            // node_modules names a git directory as well as any other.
            walk(&entry.path(), depth + 1, found);
        }
    }
}

/// The entries that make a directory a git directory to git's discovery
/// (setup.c, `is_git_directory`), which takes any directory so shaped for
/// a bare repository and obeys its config and hooks: `HEAD` beside
/// `objects` and `refs`, or beside `commondir`, which stands in for both.
const GIT_DIR_ENTRIES: [&str; 4] = ["HEAD", "objects", "refs", "commondir"];

/// Whether a directory where `has` tells which entries exist is shaped
/// as a git directory.
pub fn has_git_dir_shape(has: impl Fn(&str) -> bool) -> bool {
    has("HEAD") && (has("commondir") || (has("objects") && has("refs")))
}

/// Whether making `name` in a directory where `has` tells which entries
/// exist makes it a git directory it was not: a command must not plant a
/// bare repository (its config, e.g. `core.fsmonitor`, runs with the next
/// git command there). Names are matched as case-folding filesystems
/// match them. Replacing an entry of a directory already shaped (git
/// writing HEAD under the git-commit grant) plants nothing.
pub fn completes_git_dir(name: &str, has: impl Fn(&str) -> bool) -> bool {
    is_shape_name(name)
        && !has_git_dir_shape(&has)
        && has_git_dir_shape(|entry| {
            entry.eq_ignore_ascii_case(name.trim_end_matches(['.', ' '])) || has(entry)
        })
}

/// Whether `name` is one of a git directory's shaping entries, as
/// case-folding filesystems match names: making one is judged under
/// [`crate::shape_lock`].
pub fn is_shape_name(name: &str) -> bool {
    let name = name.trim_end_matches(['.', ' ']);
    GIT_DIR_ENTRIES.iter().any(|e| name.eq_ignore_ascii_case(e))
}

/// Every `.git` entry under `root` (a directory, file or symlink) and
/// every directory shaped as a bare repository, in name order, not
/// entering `.git`s themselves: what a command made is told by comparing
/// these before and after it ran.
pub fn entries(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(list) = std::fs::read_dir(dir) else {
            return;
        };
        if has_git_dir_shape(|name| dir.join(name).symlink_metadata().is_ok()) {
            found.push(dir.to_path_buf());
        }
        for entry in list.flatten() {
            let name = entry.file_name();
            if name == ".git" {
                found.push(entry.path());
            } else if depth < MAX_DEPTH && entry.file_type().is_ok_and(|k| k.is_dir()) {
                walk(&entry.path(), depth + 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, 0, &mut found);
    found.sort();
    found
}

/// The git directory of the work tree at `root`: its `.git` directory
/// (or what a symlink there resolves to), or the directory a `.git` file
/// names.
pub fn of_work_tree(root: &Path) -> Option<PathBuf> {
    let dot_git = root.join(".git");
    let target = if dot_git.is_file() {
        gitfile_target(&dot_git)?
    } else {
        dot_git
    };
    target.canonicalize().ok().filter(|dir| dir.is_dir())
}

/// The most read of a gitfile or a `commondir` file (one path).
const GIT_NOTE_LIMIT: u64 = 64 << 10;

/// The directory a `.git` file names (`gitdir: PATH`, relative to the
/// file's directory).
fn gitfile_target(file: &Path) -> Option<PathBuf> {
    let text = crate::config_file::read_through_links(file, GIT_NOTE_LIMIT).ok()?;
    let text = String::from_utf8_lossy(&text);
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    Some(file.parent()?.join(target))
}

/// Adds the git directory `path` resolves to, and the common directory a
/// worktree's directory names.
fn add(path: &Path, found: &mut Vec<PathBuf>) {
    let Ok(real) = path.canonicalize() else {
        return;
    };
    if !real.is_dir() || found.contains(&real) {
        return;
    }
    if let Ok(common) =
        crate::config_file::read_through_links(&real.join("commondir"), GIT_NOTE_LIMIT)
    {
        add(&real.join(String::from_utf8_lossy(&common).trim()), found);
    }
    found.push(real);
}

/// Whether the index file at `path` holds only entries git would make
/// itself: version 2 or 3 with SHA-1 names, every path made of plain
/// names (none empty, `.`, `..`, or `.git` by any spelling a filesystem
/// folds to it), files, symlinks and submodules only, and no entry marked
/// assume-unchanged or skip-worktree (which would hide a change from the
/// user). git does not check the paths of an index it reads: one holding
/// `.git/hooks/x` would write that hook on the next checkout.
pub fn index_is_plain(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("the index: {e}"))?;
    let bad = |why: &str| Err(format!("the index {why}"));
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.get(..4) != Some(b"DIRC") {
        return bad("is not an index");
    }
    let version = word(4).unwrap_or(0);
    if !(2..=3).contains(&version) {
        return bad(&format!("is version {version}; only 2 and 3 are kept"));
    }
    let mut at = 12;
    for _ in 0..word(8).unwrap_or(0) {
        let (Some(mode), Some(flags)) = (
            word(at + 24),
            bytes
                .get(at + 60..at + 62)
                .map(|f| u16::from_be_bytes([f[0], f[1]])),
        ) else {
            return bad("is cut short");
        };
        if !matches!(mode, 0o100644 | 0o100755 | 0o120000 | 0o160000) {
            return bad(&format!("has an entry of mode {mode:o}"));
        }
        let mut name_at = at + 62;
        if flags & 0x8000 != 0 {
            return bad("marks an entry assume-unchanged");
        }
        if flags & 0x4000 != 0 {
            let extended = bytes
                .get(name_at..name_at + 2)
                .ok_or("the index is cut short")?;
            if u16::from_be_bytes([extended[0], extended[1]]) & 0x4000 != 0 {
                return bad("marks an entry skip-worktree");
            }
            name_at += 2;
        }
        let Some(len) = bytes
            .get(name_at..)
            .and_then(|rest| rest.iter().position(|b| *b == 0))
        else {
            return bad("is cut short");
        };
        let name = &bytes[name_at..name_at + len];
        let plain = |part: &[u8]| {
            let text = String::from_utf8_lossy(part);
            !part.is_empty()
                && part != b"."
                && part != b".."
                && !crate::policy::protected_name(&text, false)
                && !text.eq_ignore_ascii_case("git~1")
        };
        if !name.split(|b| *b == b'/').all(plain) {
            return bad(&format!("names {}", String::from_utf8_lossy(name)));
        }
        // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
        let entry = name_at - at + len;
        at += (entry + 8) & !7;
    }
    Ok(())
}

/// Whether a commit, on its way, writes at `path` (relative to its git
/// directory): what it keeps ([`commit_writes`]) and the temporary files
/// and directories of the object store it makes them through.
pub fn commit_may_write(path: &Path) -> bool {
    let mut parts = path.iter();
    commit_writes(path)
        || (parts.next() == Some("objects".as_ref()) && parts.next() != Some("info".as_ref()))
}

/// Whether a commit writes the file at `path`, relative to its git
/// directory: the objects (loose ones and packs, not objects/info, whose
/// alternates would make git read another store), refs and reflogs, and
/// the index, COMMIT_EDITMSG, HEAD and ORIG_HEAD.
pub fn commit_writes(path: &Path) -> bool {
    use std::ffi::OsStr;
    use std::path::Component;
    let parts: Vec<&OsStr> = path
        .components()
        .map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    let Some(first) = parts.first().and_then(|p| p.to_str()) else {
        return false;
    };
    let text = |i: usize| parts.get(i).and_then(|p| p.to_str()).unwrap_or("");
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    match first {
        // A loose object (objects/ab/cdef...), or a pack and what goes with
        // it: nothing else, so no other file (a config, a HEAD) lands in
        // the store.
        "objects" if parts.len() == 3 && text(1) != "pack" => {
            text(1).len() == 2 && hex(text(1)) && hex(text(2))
        }
        "objects" if parts.len() == 3 => {
            let name = text(2);
            name == "multi-pack-index"
                || name.strip_prefix("pack-").is_some_and(|rest| {
                    rest.split_once('.').is_some_and(|(id, kind)| {
                        hex(id)
                            && ["pack", "idx", "rev", "mtimes", "bitmap", "keep", "promisor"]
                                .contains(&kind)
                    })
                })
        }
        "refs" | "logs" => parts.len() >= 2,
        "index" | "COMMIT_EDITMSG" | "HEAD" | "ORIG_HEAD" => parts.len() == 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn every_layout_git_finds() {
        let base = tempfile::tempdir().unwrap();
        let base = base.path().canonicalize().unwrap();
        let root = base.join("proj");
        // A plain .git, a gitfile to a bare directory, a worktree whose
        // directory names its common directory, a symlinked nested .git.
        std::fs::create_dir_all(root.join(".bare/worktrees/wt")).unwrap();
        std::fs::write(root.join(".git"), "gitdir: ./.bare\n").unwrap();
        std::fs::write(root.join(".bare/worktrees/wt/commondir"), "../..\n").unwrap();
        std::fs::create_dir_all(root.join("wt")).unwrap();
        std::fs::write(root.join("wt/.git"), "gitdir: ../.bare/worktrees/wt\n").unwrap();
        std::fs::create_dir_all(base.join(".repo/projects/sub.git")).unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        symlink("../../.repo/projects/sub.git", root.join("sub/.git")).unwrap();
        std::fs::create_dir_all(root.join("vendor/lib/.git")).unwrap();
        std::fs::create_dir_all(base.join("elsewhere.git")).unwrap();
        let env = [("GIT_DIR".to_string(), "../elsewhere.git".to_string())];
        // A bare repository inside the work tree, as test fixtures have.
        for entry in ["fixtures/repo.git/objects", "fixtures/repo.git/refs"] {
            std::fs::create_dir_all(root.join(entry)).unwrap();
        }
        std::fs::write(root.join("fixtures/repo.git/HEAD"), "ref: refs/heads/m\n").unwrap();
        let found = resolve(&root, &root, &env);
        assert_eq!(
            found,
            [
                base.join(".repo/projects/sub.git"),
                base.join("elsewhere.git"),
                root.join(".bare"),
                root.join(".bare/worktrees/wt"),
                root.join("fixtures/repo.git"),
                root.join("vendor/lib/.git"),
            ]
        );
        let bare = root.join("fixtures/repo.git");
        assert_eq!(resolve(&bare, &bare, &[]), [bare]);
    }

    #[test]
    fn the_name_that_completes_a_git_directory_shape() {
        let has = |present: &'static [&'static str]| move |name: &str| present.contains(&name);
        assert!(completes_git_dir("HEAD", has(&["objects", "refs"])));
        assert!(completes_git_dir("refs", has(&["HEAD", "objects"])));
        assert!(completes_git_dir("Objects", has(&["HEAD", "refs"])));
        assert!(completes_git_dir("commondir", has(&["HEAD"])));
        assert!(completes_git_dir("head.", has(&["commondir"])));
        // A directory shaped already stays what it was.
        assert!(!completes_git_dir(
            "HEAD",
            has(&["HEAD", "objects", "refs"])
        ));
        assert!(!completes_git_dir("HEAD", has(&["objects"])));
        assert!(!completes_git_dir("refs", has(&["objects"])));
        assert!(!completes_git_dir(
            "config",
            has(&["HEAD", "objects", "refs"])
        ));
    }
}
