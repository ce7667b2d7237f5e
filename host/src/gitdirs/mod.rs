//! The git directories the repositories in a root use, found by what they
//! are rather than by their name. git finds its directory in several ways:
//! a `.git` directory, a `.git` file naming it (`gitdir: ./.bare`, as
//! worktrees and submodules have), a `.git` symlink (as the `repo` tool
//! lays them out), the `commondir` a worktree's directory names, and
//! `GIT_DIR`/`GIT_COMMON_DIR` in the environment. Each one found is
//! protected whole, by identity, in both engines (docs/SANDBOX.md).

pub mod new_objects;
mod survey;

use std::path::{Path, PathBuf};

use survey::Lead;

/// The length of a [`Keeper::tag`].
pub const TAG_LEN: usize = 32;

/// Where the walk's memory is kept and the key that authenticates it:
/// cordon's compile cache, whose directory no command can write and whose
/// key no command can read.
pub trait Keeper {
    /// The directory the memory is kept in.
    fn dir(&self) -> &Path;
    /// A tag authenticating `bytes`; `None` without a key.
    fn tag(&self, bytes: &[u8]) -> Option<[u8; TAG_LEN]>;
    /// Whether `tag` is [`Keeper::tag`]'s for `bytes`.
    fn is_tagged(&self, bytes: &[u8], tag: &[u8]) -> bool;
}

/// What the walk of a root found.
#[derive(Debug, Default)]
pub struct Walked {
    /// Every git directory the root's repositories use, resolved (absolute,
    /// no symlink) and in name order.
    pub git_dirs: Vec<PathBuf>,
    /// Directories cordon could not list (whole, or an entry of): a
    /// repository below one is not seen, so each is protected whole.
    pub unlisted: Vec<PathBuf>,
    /// Those of [`Self::git_dirs`] only the environment named (`GIT_DIR`):
    /// protected like the others, but none of the root's repositories.
    pub named_by_env: Vec<PathBuf>,
}

/// Every git directory that the repositories under `root` use, and those
/// `env` names; and the directories that could not be listed. `cwd` is
/// where a relative `GIT_DIR` starts. With `memory`, the walk of the root
/// lists only the directories that changed since the last one
/// ([`survey`]).
pub fn resolve(
    root: &Path,
    cwd: &Path,
    env: &[(String, String)],
    memory: Option<&dyn Keeper>,
) -> Walked {
    let survey = survey::survey(root, memory);
    let mut walked = Walked {
        unlisted: survey.unlisted,
        ..Walked::default()
    };
    for lead in survey.leads {
        let unresolved = match lead {
            Lead::Shaped(dir) => add(&dir, &mut walked.git_dirs),
            Lead::GitFile(file) => {
                gitfile_target(&file).and_then(|target| add(&target, &mut walked.git_dirs))
            }
            // A directory, or a symlink to one: what it resolves to.
            Lead::DotGit(path) => add(&path, &mut walked.git_dirs),
        };
        walked.unlisted.extend(unresolved);
    }
    let found = walked.git_dirs.len();
    for name in ["GIT_DIR", "GIT_COMMON_DIR"] {
        if let Some((_, value)) = env.iter().find(|(k, _)| k == name) {
            let unresolved = add(&cwd.join(value), &mut walked.git_dirs);
            walked.unlisted.extend(unresolved);
        }
    }
    walked.named_by_env = walked.git_dirs[found..].to_vec();
    walked.git_dirs.sort();
    walked.git_dirs.dedup();
    walked
}

/// The largest git config read for a hooks directory.
const GIT_CONFIG_LIMIT: u64 = 1 << 20;

/// The directories git runs hooks from besides `git_dirs` themselves:
/// what `core.hooksPath` names (husky's `.husky/_`), in each git
/// directory's config or the user's (`~/.gitconfig`, `~/.config/git/
/// config`), and where a `hooks` symlink leads. A relative hooksPath is
/// taken from each work tree that could be running it (the git
/// directory's parent, the root). Those that exist, inside no git
/// directory, and not the root or above it (that would be the whole
/// project), resolved. The hook scripts may run project files in turn:
/// those stay the project's to change (docs/SANDBOX.md).
pub fn hook_dirs(git_dirs: &[PathBuf], root: &Path, home: Option<&Path>) -> Vec<PathBuf> {
    let mut configs: Vec<PathBuf> = git_dirs
        .iter()
        .flat_map(|dir| [dir.join("config"), dir.join("config.worktree")])
        .collect();
    if let Some(home) = home {
        configs.push(home.join(".gitconfig"));
        configs.push(home.join(".config/git/config"));
    }
    let bases: Vec<&Path> = git_dirs
        .iter()
        .filter_map(|dir| dir.parent())
        .chain([root])
        .collect();
    let mut candidates: Vec<PathBuf> = git_dirs.iter().map(|dir| dir.join("hooks")).collect();
    for config in configs {
        let Ok(text) = crate::config_file::read_through_links(&config, GIT_CONFIG_LIMIT) else {
            continue;
        };
        for value in hooks_paths(&String::from_utf8_lossy(&text)) {
            match (value.strip_prefix("~/"), home) {
                (Some(rest), Some(home)) => candidates.push(home.join(rest)),
                _ if Path::new(&value).is_absolute() => candidates.push(value.into()),
                _ => candidates.extend(bases.iter().map(|base| base.join(&value))),
            }
        }
    }
    let mut found: Vec<PathBuf> = candidates
        .into_iter()
        .filter_map(|path| path.canonicalize().ok())
        .filter(|dir| {
            dir.is_dir()
                && !root.starts_with(dir)
                && !git_dirs.iter().any(|git| dir.starts_with(git))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The values of `core.hooksPath` in a git config's text (section and key
/// names in any case; a value quoted or not).
fn hooks_paths(config: &str) -> Vec<String> {
    let mut in_core = false;
    let mut found = Vec::new();
    for line in config.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[') {
            let name = section.split([']', ' ', '"', '.']).next().unwrap_or("");
            in_core = name.eq_ignore_ascii_case("core");
            // `[core] hooksPath = x` on one line.
            let rest = section.split_once(']').map_or("", |(_, rest)| rest.trim());
            if in_core && !rest.is_empty() {
                found.extend(hooks_path_of(rest));
            }
        } else if in_core {
            found.extend(hooks_path_of(line));
        }
    }
    found
}

fn hooks_path_of(line: &str) -> Option<String> {
    let (key, value) = line.split_once('=')?;
    key.trim().eq_ignore_ascii_case("hookspath").then(|| {
        let value = value.split(['#', ';']).next().unwrap_or("").trim();
        value.trim_matches('"').to_string()
    })
}

/// The entries that make a directory a git directory to git's discovery
/// (setup.c, `is_git_directory`), which takes any directory so shaped for
/// a bare repository and obeys its config and hooks: `HEAD` beside
/// `objects` and `refs`, or beside `commondir`, which stands in for both.
const GIT_DIR_ENTRIES: [&str; 4] = ["HEAD", "objects", "refs", "commondir"];

/// Whether the directory `dir` is shaped as a git directory.
pub fn is_shaped(dir: &Path) -> bool {
    has_git_dir_shape(|name| dir.join(name).symlink_metadata().is_ok())
}

/// Whether a directory where `has` tells which entries exist is shaped
/// as a git directory.
pub fn has_git_dir_shape(has: impl Fn(&str) -> bool) -> bool {
    has("HEAD") && (has("commondir") || (has("objects") && has("refs")))
}

/// The git directory `root` lies inside, if any: the nearest ancestor
/// shaped as one (a root there would make its hooks and config a
/// project's files).
pub fn enclosing(root: &Path) -> Option<&Path> {
    root.ancestors().skip(1).find(|dir| is_shaped(dir))
}

/// Whether making `name` in a directory where `has` tells which entries
/// exist makes it a git directory it was not: a command must not plant a
/// bare repository (its config, e.g. `core.fsmonitor`, runs with the next
/// git command there). Names are matched as case-folding filesystems
/// match them. Replacing an entry of a directory already shaped (git
/// writing HEAD under the git-commit grant) plants nothing.
pub fn completes_git_dir(name: &str, has: impl Fn(&str) -> bool) -> bool {
    let name = crate::policy::folded_name(name);
    is_shape_name(&name)
        && !has_git_dir_shape(&has)
        && has_git_dir_shape(|entry| entry.eq_ignore_ascii_case(&name) || has(entry))
}

/// Whether `name` is one of a git directory's shaping entries, as
/// case-folding filesystems match names: making one is judged under
/// [`crate::shape_lock`].
pub fn is_shape_name(name: &str) -> bool {
    let name = crate::policy::folded_name(name);
    GIT_DIR_ENTRIES.iter().any(|e| name.eq_ignore_ascii_case(e))
}

/// Every `.git` entry under `root` (a directory, file or symlink) and
/// every directory shaped as a bare repository, in name order, not
/// entering `.git`s themselves: what a command made is told by comparing
/// these before and after it ran.
pub fn entries(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
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
            } else if entry.file_type().is_ok_and(|k| k.is_dir()) {
                walk(&entry.path(), found);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, &mut found);
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
/// worktree's directory names. A path that exists but cannot be resolved
/// (too long, a symlink loop) is returned: the caller protects it whole.
fn add(path: &Path, found: &mut Vec<PathBuf>) -> Option<PathBuf> {
    let real = match path.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(_) => return Some(path.to_path_buf()),
    };
    if !real.is_dir() || found.contains(&real) {
        return None;
    }
    let mut unresolved = None;
    if let Ok(common) =
        crate::config_file::read_through_links(&real.join("commondir"), GIT_NOTE_LIMIT)
    {
        unresolved = add(&real.join(String::from_utf8_lossy(&common).trim()), found);
    }
    found.push(real);
    unresolved
}

/// Whether the index file at `path` holds only entries git would make
/// itself: version 2 or 3 with SHA-1 names, every path made of plain
/// names (none empty, `.`, `..`, or `.git` by any spelling a filesystem
/// folds to it), files, symlinks and submodules only, and no entry marked
/// assume-unchanged or skip-worktree (which would hide a change from the
/// user), and no extension but TREE, REUC, UNTR and FSMN (git's default
/// writes TREE alone). git does not check the paths of an index it reads:
/// one holding `.git/hooks/x` would write that hook on the next checkout.
pub fn index_is_plain(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("the index: {e}"))?;
    index_entries(&bytes).map(|_| ())
}

/// Refuses the index at `new` when, checked out, it would give a
/// directory a git directory's shape (see [`has_git_dir_shape`], names
/// folded; the entries already in that directory of any of `work_trees`
/// count too), unless the index at `old` held that directory with the
/// very same entries: a commit must not bring a bare repository into the
/// work tree, nor complete or change one (a project's bare test
/// fixture), whose config git run there would obey. An `old` index that
/// cannot be read counts as empty.
pub fn index_adds_no_git_dir(new: &Path, old: &Path, work_trees: &[PathBuf]) -> Result<(), String> {
    let bytes = std::fs::read(new).map_err(|e| format!("the index: {e}"))?;
    let after = index_entries(&bytes)?;
    let old = std::fs::read(old).unwrap_or_default();
    let before = index_entries(&old).unwrap_or_default();
    let names: Vec<&[u8]> = after.iter().map(|(name, _)| *name).collect();
    for dir in shaped_dirs(&names, |dir| names_in(work_trees, dir)) {
        let under = |entries: &[IndexEntry]| -> std::collections::BTreeSet<(Vec<u8>, Vec<u8>)> {
            entries
                .iter()
                .filter(|(name, _)| {
                    dir.is_empty() || (name.starts_with(&dir) && name.get(dir.len()) == Some(&b'/'))
                })
                .map(|(name, id)| (name.to_vec(), id.to_vec()))
                .collect()
        };
        if under(&after) != under(&before) {
            return Err(format!(
                "the index would check out a git directory at `{}`",
                String::from_utf8_lossy(&dir)
            ));
        }
    }
    Ok(())
}

/// The directories among `names` (paths of files, `/`-separated; `""`
/// is the top) whose entries give them a git directory's shape, with
/// what `on_disk` lists of a directory that holds a shape name.
fn shaped_dirs(
    names: &[&[u8]],
    on_disk: impl Fn(&[u8]) -> Vec<String>,
) -> std::collections::BTreeSet<Vec<u8>> {
    let mut children: std::collections::BTreeMap<&[u8], Vec<String>> = Default::default();
    for name in names {
        let mut start = 0;
        loop {
            let rest = &name[start..];
            let part = rest.split(|b| *b == b'/').next().unwrap_or(rest);
            let dir = &name[..start.saturating_sub(1)];
            children
                .entry(dir)
                .or_default()
                .push(crate::policy::folded_name(&String::from_utf8_lossy(part)));
            if part.len() == rest.len() {
                break;
            }
            start += part.len() + 1;
        }
    }
    children
        .into_iter()
        .filter(|(dir, entries)| {
            let mut all = entries.clone();
            if entries.iter().any(|e| is_shape_name(e)) {
                all.extend(on_disk(dir));
            }
            has_git_dir_shape(|e| all.iter().any(|c| c.eq_ignore_ascii_case(e)))
        })
        .map(|(dir, _)| dir.to_vec())
        .collect()
}

/// The names, folded, in the directory `dir` (`/`-separated, relative)
/// of each of `work_trees`: what a checkout there would add entries to.
pub fn names_in(work_trees: &[PathBuf], dir: &[u8]) -> Vec<String> {
    #[cfg(unix)]
    let dir = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(dir);
    #[cfg(not(unix))]
    let dir = String::from_utf8_lossy(dir);
    #[cfg(not(unix))]
    let dir = std::ffi::OsStr::new(dir.as_ref());
    work_trees
        .iter()
        .filter_map(|tree| std::fs::read_dir(tree.join(dir)).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| crate::policy::folded_name(&entry.file_name().to_string_lossy()))
        .collect()
}

/// An index entry: its name and its object's id.
type IndexEntry<'a> = (&'a [u8], &'a [u8]);

/// The entries of the index `bytes`, once every check of
/// [`index_is_plain`] passed.
fn index_entries(bytes: &[u8]) -> Result<Vec<IndexEntry<'_>>, String> {
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
    let mut names = Vec::new();
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
        // git reads a name by the length its flags give (past 0xFFF, up to
        // a NUL): a NUL must end it exactly there, or git and this check
        // would read different entries.
        let stored = usize::from(flags & 0x0fff);
        let from = name_at + stored.min(0x0fff);
        let Some(len) = bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|b| *b == 0))
            .map(|end| from - name_at + end)
        else {
            return bad("is cut short");
        };
        if (stored < 0x0fff && len != stored) || bytes[name_at..name_at + len].contains(&0) {
            return bad("has an entry whose name disagrees with its length");
        }
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
        names.push((name, &bytes[at + 40..at + 60]));
        // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
        let entry = name_at - at + len;
        at += (entry + 8) & !7;
    }
    // Extensions, up to the 20-byte checksum: only those that hold no
    // entry and say nothing of where entries lie. A split index (`link`)
    // keeps entries in another file; an offset table (`IEOT`, with
    // `EOIE`) makes a threaded git read entries from where it points,
    // inside another extension this check never reads.
    let end = bytes.len().saturating_sub(20);
    while at < end {
        let (Some(signature), Some(size)) = (bytes.get(at..at + 4), word(at + 4)) else {
            return bad("is cut short");
        };
        let kept = [&b"TREE"[..], b"REUC", b"UNTR", b"FSMN"];
        if !kept.contains(&signature) {
            return bad(&format!(
                "has the extension {}, which cordon does not keep",
                String::from_utf8_lossy(signature)
            ));
        }
        at += 8 + size as usize;
    }
    if at != end {
        return bad("is cut short");
    }
    Ok(names)
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
        // A loose object (objects/ab/cdef...): nothing else, so no other
        // file (a config, a HEAD) lands in the store. No pack, nor what goes
        // with one (a multi-pack-index maps ids to any bytes of a pack):
        // cordon reads loose objects only (see [`new_objects`]).
        "objects" if parts.len() == 3 => text(1).len() == 2 && hex(text(1)) && hex(text(2)),
        // Not refs/replace/: git would read another object for each one
        // named there, the one cordon judged or any.
        "refs" | "logs" => parts.len() >= 2 && text(1) != "replace",
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
        let found = resolve(&root, &root, &env, None).git_dirs;
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
        assert_eq!(resolve(&bare, &bare, &[], None).git_dirs, [bare]);
    }

    /// A repository the walk finds but whose path is too long to resolve
    /// (past PATH_MAX) is protected whole, not dropped.
    #[test]
    fn a_git_directory_too_deep_to_resolve_is_protected_whole() {
        use cap_fs_ext::DirExt;
        let base = tempfile::tempdir().unwrap();
        let root = base.path().canonicalize().unwrap();
        let name = "n".repeat(250);
        let mut dir =
            cap_std::fs::Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap();
        let mut path = root.clone();
        for _ in 0..20 {
            dir.create_dir(&name).unwrap();
            dir = dir.open_dir_nofollow(&name).unwrap();
            path.push(&name);
        }
        dir.create_dir(".git").unwrap();
        let walked = resolve(&root, &root, &[], None);
        assert_eq!(walked.git_dirs, Vec::<PathBuf>::new());
        assert_eq!(walked.unlisted, [path.join(".git")]);
    }

    /// An index of `entries` (each its flags' name length and its name
    /// bytes, NUL and padding included), then `extensions`.
    fn index(entries: &[(u16, &[u8])], extensions: &[u8]) -> Vec<u8> {
        let mut bytes = b"DIRC".to_vec();
        bytes.extend(2u32.to_be_bytes());
        bytes.extend((entries.len() as u32).to_be_bytes());
        for (length, name) in entries {
            let mut entry = vec![0u8; 62];
            entry[24..28].copy_from_slice(&0o100644u32.to_be_bytes());
            entry[60..62].copy_from_slice(&length.to_be_bytes());
            entry.extend_from_slice(name);
            bytes.extend(entry);
        }
        bytes.extend_from_slice(extensions);
        bytes.extend([0u8; 20]);
        bytes
    }

    #[test]
    fn an_index_that_would_check_out_a_new_git_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, entries: &[&str]| {
            // Each name padded with NULs to a multiple of 8, with its 62.
            let padded: Vec<Vec<u8>> = entries
                .iter()
                .map(|e| {
                    let mut bytes = e.as_bytes().to_vec();
                    bytes.resize(((62 + e.len() + 8) & !7) - 62, 0);
                    bytes
                })
                .collect();
            let entries: Vec<(u16, &[u8])> = entries
                .iter()
                .zip(&padded)
                .map(|(e, bytes)| (e.len() as u16, bytes.as_slice()))
                .collect();
            let path = dir.path().join(name);
            std::fs::write(&path, index(&entries, b"")).unwrap();
            path
        };
        let none = dir.path().join("absent");
        let shaped = write("shaped", &["a/HEAD", "a/objects/k", "a/refs/k"]);
        let why = index_adds_no_git_dir(&shaped, &none, &[]).unwrap_err();
        assert!(why.contains("`a`"), "{why}");
        let folded = write("folded", &["x/Head.", "x/commondir"]);
        assert!(index_adds_no_git_dir(&folded, &none, &[]).is_err());
        let top = write("top", &["HEAD", "objects/k", "refs/k"]);
        assert!(index_adds_no_git_dir(&top, &none, &[]).is_err());
        // A shape the index held before (a bare fixture) is the project's,
        // as it was: changed, it is refused too.
        assert_eq!(index_adds_no_git_dir(&shaped, &shaped, &[]), Ok(()));
        let mut changed = std::fs::read(&shaped).unwrap();
        changed[12 + 40] ^= 1; // the first entry's object id
        let changed_path = dir.path().join("changed");
        std::fs::write(&changed_path, changed).unwrap();
        assert!(index_adds_no_git_dir(&changed_path, &shaped, &[]).is_err());
        let plain = write("plain", &["a/HEAD", "a/objects/k", "b/refs/k"]);
        assert_eq!(index_adds_no_git_dir(&plain, &none, &[]), Ok(()));
        // The rest of the shape already in the work tree, untracked.
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("a/refs")).unwrap();
        let work = [tree.path().to_path_buf()];
        assert!(index_adds_no_git_dir(&plain, &none, &work).is_err());
    }

    #[test]
    fn an_index_is_read_as_git_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let check = |bytes: Vec<u8>| {
            let path = dir.path().join("index");
            std::fs::write(&path, bytes).unwrap();
            index_is_plain(&path)
        };
        // 62 + 1 + 1 NUL = 64: no more padding.
        assert_eq!(check(index(&[(1, b"a\0")], b"")), Ok(()));
        let tree = [&b"TREE"[..], &0u32.to_be_bytes()].concat();
        assert_eq!(check(index(&[(1, b"a\0")], &tree)), Ok(()));
        // The flags say 9 bytes, a NUL after 1: git reads `a\0.git/h`..., and
        // its next entry where this one's name goes on.
        let skewed = index(&[(9, b"a\0.git/hk\0\0\0\0\0\0\0")], b"");
        assert!(check(skewed).unwrap_err().contains("disagrees"));
        for refused in [&b"link"[..], b"IEOT", b"EOIE", b"ZHID"] {
            let extension = [refused, &0u32.to_be_bytes()].concat();
            let why = check(index(&[(1, b"a\0")], &extension)).unwrap_err();
            assert!(why.contains(&*String::from_utf8_lossy(refused)), "{why}");
        }
        assert!(check(index(&[(6, b".git/x\0\0")], b"")).is_err());
    }

    #[test]
    fn hook_directories_from_config_and_symlinks() {
        let base = tempfile::tempdir().unwrap();
        let base = base.path().canonicalize().unwrap();
        let root = base.join("proj");
        for dir in [
            ".git",
            ".husky/_",
            "tools/hooks",
            "home/.githooks",
            "shared",
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(
            root.join(".git/config"),
            "[core]\n\tbare = false\n\thooksPath = \".husky/_\" ; husky\n[CORE] HooksPath=~/.githooks\n",
        )
        .unwrap();
        symlink("../tools/hooks", root.join(".git/hooks")).unwrap();
        let git_dirs = [root.join(".git")];
        let found = hook_dirs(&git_dirs, &root, Some(&root.join("home")));
        assert_eq!(
            found,
            [
                root.join(".husky/_"),
                root.join("home/.githooks"),
                root.join("tools/hooks")
            ]
        );
        // The root itself is never one: it would make the project read-only.
        std::fs::write(root.join(".git/config"), "[core]\nhooksPath = .\n").unwrap();
        std::fs::remove_file(root.join(".git/hooks")).unwrap();
        assert!(hook_dirs(&git_dirs, &root, None).is_empty());
    }

    #[test]
    fn the_name_that_completes_a_git_directory_shape() {
        let has = |present: &'static [&'static str]| move |name: &str| present.contains(&name);
        assert!(completes_git_dir("HEAD", has(&["objects", "refs"])));
        assert!(completes_git_dir("refs", has(&["HEAD", "objects"])));
        assert!(completes_git_dir("Objects", has(&["HEAD", "refs"])));
        assert!(completes_git_dir("commondir", has(&["HEAD"])));
        assert!(completes_git_dir("head.", has(&["commondir"])));
        assert!(completes_git_dir("ref\u{17f}", has(&["HEAD", "objects"])));
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
