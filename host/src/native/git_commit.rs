//! The git-commit grant: a command may commit, and only what a commit
//! writes reaches the git directory.
//!
//! The command does not write the git directory itself. In its mount
//! namespace an overlay lies over each one (the git directory below, read
//! only; a staging directory of cordon's above), so whatever it writes
//! lands in the staging directory. Once the command and every process of
//! its namespace have ended, cordon copies back the regular files a commit
//! writes ([`commit_writes`]: objects, refs, logs, the index, COMMIT_EDITMSG, HEAD,
//! ORIG_HEAD), each written beside its place and renamed over it. Anything
//! else (hooks, config, info/, a `commondir`, a symlink, a rebase's todo
//! list) is left behind and reported as a refusal: what git executes or
//! obeys never changes, however the command wrote it.

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::gitdirs::commit_writes;
use crate::violations::{Denied, MAX_KEPT, Violation};

/// The git directories an overlay goes over: those of `git_dirs` that lie
/// in no other (an inner one is layered with the outer).
pub fn layered(git_dirs: &[PathBuf]) -> Vec<&Path> {
    git_dirs
        .iter()
        .filter(|dir| !git_dirs.iter().any(|o| o != *dir && dir.starts_with(o)))
        .map(PathBuf::as_path)
        .collect()
}

/// The upper and work directories of the overlay over the `index`-th
/// layered git directory, in `stage`.
pub fn layer_dirs(stage: &Path, index: usize) -> (PathBuf, PathBuf) {
    let layer = stage.join(index.to_string());
    (layer.join("upper"), layer.join("work"))
}

/// cordon's staging directory for one run under the grant: the overlays'
/// upper and work directories. Removed when dropped, whatever the command
/// left in it (overlayfs makes its work directory mode 000).
pub struct Stage {
    path: PathBuf,
}

impl Stage {
    /// Makes a staging directory for `git_dirs` in `parent` (a directory
    /// only this user may enter).
    pub fn new(parent: &Path, git_dirs: &[PathBuf]) -> io::Result<Stage> {
        let path = tempfile::Builder::new()
            .prefix("commit-")
            .tempdir_in(parent)?
            .keep();
        let stage = Stage { path };
        prepare(&stage.path, git_dirs)?;
        Ok(stage)
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        open_up(&self.path);
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Lets this user into every directory of the tree at `path`, so that it
/// can be removed; follows no symlink.
fn open_up(path: &Path) {
    let Ok(meta) = path.symlink_metadata() else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        open_up(&entry.path());
    }
}

/// Makes the staging directories for `git_dirs` in `stage`.
fn prepare(stage: &Path, git_dirs: &[PathBuf]) -> io::Result<()> {
    for index in 0..layered(git_dirs).len() {
        let (upper, work) = layer_dirs(stage, index);
        for dir in [upper, work] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    Ok(())
}

/// The files whose removal a commit makes: concluding a merge, a
/// cherry-pick or a revert removes its state. Removing never plants.
const STATE_REMOVED: &[&str] = &[
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "SQUASH_MSG",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "AUTO_MERGE",
];

/// What copying back came to.
#[derive(Debug, Default)]
pub struct Kept {
    /// Files written or removed in the git directories.
    pub changes: u64,
    /// What the command wrote there that was not kept (at most
    /// [`MAX_KEPT`]), and how many more.
    pub left: Vec<Violation>,
    /// Refusals past the kept ones, counted only.
    pub left_more: u64,
}

/// Copies back from `stage` what a commit writes into `git_dirs` (see
/// [`prepare`]), once nothing of the command runs any more.
pub fn keep(stage: &Path, git_dirs: &[PathBuf], writable: &[PathBuf]) -> Kept {
    let mut kept = Kept::default();
    // The names kept are judged as every maker's are, under the same lock.
    let _holding = match crate::shape_lock::ShapeLock::open().and_then(|lock| lock.hold()) {
        Ok(holding) => holding,
        Err(err) => {
            for dir in layered(git_dirs) {
                Copy {
                    outer: dir,
                    git_dirs,
                    work_trees: &[],
                    kept: &mut kept,
                }
                .leave(
                    Path::new(""),
                    &format!("not kept: the git-shape lock: {err}"),
                );
            }
            return kept;
        }
    };
    // Where an index's paths could be checked out: each git directory's
    // own work tree, and every tree a command could write.
    let work_trees: Vec<PathBuf> = git_dirs
        .iter()
        .flat_map(|dir| work_trees_of(dir))
        .chain(writable.iter().cloned())
        .collect();
    for (index, dir) in layered(git_dirs).into_iter().enumerate() {
        let (upper, _) = layer_dirs(stage, index);
        let mut copy = Copy {
            outer: dir,
            git_dirs,
            work_trees: &work_trees,
            kept: &mut kept,
        };
        // The objects of every git directory in this layer (a submodule's
        // in `modules/`, a worktree's common one).
        let judged = git_dirs
            .iter()
            .filter_map(|inner| inner.strip_prefix(dir).ok())
            .try_for_each(|inner| {
                let objects = upper.join(inner).join("objects");
                crate::gitdirs::new_objects::plant_no_git_dir(&objects, &work_trees)
            });
        match judged {
            Ok(()) => copy.walk(&upper, Path::new("")),
            Err(why) => copy.leave(Path::new(""), &format!("nothing kept: {why}")),
        }
    }
    kept
}

struct Copy<'a> {
    outer: &'a Path,
    git_dirs: &'a [PathBuf],
    work_trees: &'a [PathBuf],
    kept: &'a mut Kept,
}

impl Copy<'_> {
    /// Goes through `dir` of the upper layer, `relative` to the outer git
    /// directory; nothing in it is followed.
    fn walk(&mut self, dir: &Path, relative: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => return self.leave(relative, &format!("not read: {err}")),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => return self.leave(relative, &format!("not read: {err}")),
            };
            let (from, rel) = (entry.path(), relative.join(entry.file_name()));
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => self.walk(&from, &rel),
                Ok(meta) => self.one(&from, &rel, &meta),
                Err(err) => self.leave(&rel, &format!("not read: {err}")),
            }
        }
    }

    /// Keeps, or leaves and reports, one entry of the upper layer.
    fn one(&mut self, from: &Path, relative: &Path, meta: &std::fs::Metadata) {
        let to = self.outer.join(relative);
        // Git's lock files are its own passing state: kept by no one.
        if relative.extension() == Some(OsStr::new("lock")) {
            return;
        }
        // Judged against the innermost git directory holding it: a
        // submodule's or a worktree's own has the same rules at its top.
        let inner = self
            .git_dirs
            .iter()
            .filter(|g| to.starts_with(g))
            .max_by_key(|g| g.components().count())
            .map_or(self.outer, PathBuf::as_path);
        let within = to.strip_prefix(inner).unwrap_or(relative);
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        // Only what the command wrote is written: nothing on the way may
        // be a symlink (a git directory's own `objects` may lead elsewhere).
        if let Err(why) = plain_way(self.outer, relative) {
            return self.leave(relative, &format!("not kept: {why}"));
        }
        if !whiteout && let Some(shaped) = first_new_name_shapes(self.outer, relative) {
            return self.leave(
                relative,
                &format!(
                    "not kept: it would make {} a git directory",
                    shaped.display()
                ),
            );
        }
        let result = if whiteout {
            // A commit removes nothing but a concluded merge's state.
            if !within.to_str().is_some_and(|n| STATE_REMOVED.contains(&n)) {
                return self.leave(relative, "removed in the git directory; not kept");
            }
            match std::fs::remove_file(&to) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => return,
                other => other,
            }
        } else if !meta.is_file() || !commit_writes(within) {
            return self.leave(
                relative,
                "written in the git directory; not kept (git-commit keeps objects, refs, \
                 logs, the index, COMMIT_EDITMSG, HEAD and ORIG_HEAD)",
            );
        } else if within.starts_with("objects") && to.symlink_metadata().is_ok() {
            // Named by their content: one already there is this one.
            return;
        } else if within == Path::new("index")
            && let Err(why) = crate::gitdirs::index_is_plain(from)
                .and_then(|()| crate::gitdirs::index_adds_no_git_dir(from, &to, self.work_trees))
        {
            return self.leave(relative, &format!("not kept: {why}"));
        } else {
            // git's own modes, not the command's.
            let mode = if within.starts_with("objects") {
                0o444
            } else {
                0o644
            };
            copy_over(from, &to, mode)
        };
        match result {
            Ok(()) => self.kept.changes += 1,
            Err(err) => self.leave(relative, &format!("not kept: {err}")),
        }
    }

    fn leave(&mut self, relative: &Path, why: &str) {
        if self.kept.left.len() >= MAX_KEPT {
            self.kept.left_more += 1;
            return;
        }
        let path = self.outer.join(relative);
        self.kept.left.push(Violation {
            denied: Denied::Write,
            target: Some(path.display().to_string()),
            line: format!("{}: {why}", path.display()),
            times: 1,
            from_stderr: false,
            engine: "native",
        });
    }
}

/// Where the git directory `dir` checks files out: beside it (`.git`),
/// where its `core.worktree` names (a submodule's, in `modules/`), and
/// where a linked worktree's `gitdir` file says it lives.
fn work_trees_of(dir: &Path) -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = dir.parent().map(Path::to_path_buf).into_iter().collect();
    let config = std::fs::read_to_string(dir.join("config")).unwrap_or_default();
    trees.extend(config.lines().filter_map(|line| {
        let (key, value) = line.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("worktree")
            .then(|| dir.join(value.trim().trim_matches('"')))
    }));
    if let Ok(gitdir) = std::fs::read_to_string(dir.join("gitdir")) {
        trees.extend(Path::new(gitdir.trim()).parent().map(Path::to_path_buf));
    }
    trees
}

/// The directory that making the first missing name on the way from
/// `outer` to `relative` would give a git directory's shape, if any.
fn first_new_name_shapes(outer: &Path, relative: &Path) -> Option<PathBuf> {
    let mut parent = outer.to_path_buf();
    for part in relative.components() {
        let at = parent.join(part);
        if at.symlink_metadata().is_err() {
            let name = part.as_os_str().to_string_lossy();
            let has = |entry: &str| parent.join(entry).symlink_metadata().is_ok();
            return crate::gitdirs::completes_git_dir(&name, has).then_some(parent);
        }
        parent = at;
    }
    None
}

/// Whether every directory between `outer` and the entry `relative` to it
/// that exists is a directory, not a symlink, and the entry is none.
fn plain_way(outer: &Path, relative: &Path) -> Result<(), String> {
    let mut at = outer.to_path_buf();
    for part in relative.components() {
        at.push(part);
        match at.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!("{} is a symlink", at.display()));
            }
            Ok(meta) if !meta.is_dir() && at != outer.join(relative) => {
                return Err(format!("{} is not a directory", at.display()));
            }
            Ok(_) => {}
            Err(_) => return Ok(()), // made anew from here
        }
    }
    Ok(())
}

/// Writes the file `from` at `to` in one step: beside it, then renamed
/// over it, with permission bits `mode`.
fn copy_over(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let parent = to.parent().ok_or_else(|| io::Error::other("no parent"))?;
    std::fs::DirBuilder::new().recursive(true).create(parent)?;
    let mut source = std::fs::File::open(from)?;
    let mut temp = tempfile::NamedTempFile::new_in(parent)?;
    io::copy(&mut source, temp.as_file_mut())?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode & 0o777))?;
    temp.as_file().sync_data()?;
    temp.persist(to).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_keeps_its_objects_refs_logs_and_index_and_nothing_git_obeys() {
        for path in [
            "objects/ab/cdef",
            "refs/heads/main",
            "refs/heads/feature/x",
            "logs/HEAD",
            "logs/refs/heads/main",
            "index",
            "COMMIT_EDITMSG",
            "HEAD",
            "ORIG_HEAD",
        ] {
            assert!(commit_writes(Path::new(path)), "{path}");
        }
        for path in [
            "hooks/pre-commit",
            "config",
            "config.worktree",
            "commondir",
            "gitdir",
            "info/attributes",
            "objects/info/alternates",
            "objects/ab/config",
            "objects/ab/cd/HEAD",
            "objects/tmp_obj_x1",
            "objects/pack/pack-1f.pack",
            "objects/pack/pack-1f.idx",
            "objects/pack/multi-pack-index",
            "refs/replace/0123abcd",
            "objects/pack/pack-1f.pack/x",
            "objects/pack/evil.sh",
            "objects",
            "refs",
            "rebase-merge/git-rebase-todo",
            "modules/sub/config",
            "packed-refs",
            "index/x",
            "../config",
            "/etc/passwd",
        ] {
            assert!(!commit_writes(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn only_the_outermost_git_directories_are_layered() {
        let dirs: Vec<PathBuf> = ["/r/.git", "/r/.git/modules/s", "/r/sub/.git", "/r/.gitx"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            layered(&dirs),
            [
                Path::new("/r/.git"),
                Path::new("/r/sub/.git"),
                Path::new("/r/.gitx")
            ]
        );
    }

    #[test]
    fn copying_back_keeps_the_commit_and_reports_the_rest() {
        let base = tempfile::tempdir().unwrap();
        let git = base.path().join("repo/.git");
        let module = git.join("modules/sub");
        std::fs::create_dir_all(git.join("hooks")).unwrap();
        std::fs::create_dir_all(&module).unwrap();
        std::fs::write(git.join("MERGE_HEAD"), "x").unwrap();
        let dirs = vec![git.clone(), module.clone()];
        let stage = Stage::new(base.path(), &dirs).unwrap();
        let (upper, work) = layer_dirs(stage.path(), 0);
        // As overlayfs leaves it.
        std::fs::create_dir(work.join("work")).unwrap();
        std::fs::set_permissions(work.join("work"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        let write = |rel: &str, text: &str| {
            let path = upper.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("refs/heads/main", "abc\n");
        // A loose blob, as git writes one (zlib): read before anything is kept.
        let blob = {
            use std::io::Write;
            let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            zlib.write_all(b"blob 4\0abcd").unwrap();
            zlib.finish().unwrap()
        };
        std::fs::create_dir_all(upper.join("objects/ab")).unwrap();
        let object = "objects/ab/cdefcdefcdefcdefcdefcdefcdefcdefcdef01";
        std::fs::write(upper.join(object), &blob).unwrap();
        write("index", "DIRC");
        write("index.lock", "DIRC");
        write("hooks/pre-commit", "#!/bin/sh\n");
        write("config", "[core]\n");
        write("modules/sub/refs/heads/main", "def\n");
        write("modules/sub/hooks/post-checkout", "#!/bin/sh\n");
        std::os::unix::fs::symlink("/tmp", upper.join("refs/heads/link")).unwrap();
        let kept = keep(stage.path(), &dirs, &[]);
        assert_eq!(
            std::fs::read_to_string(git.join("refs/heads/main")).unwrap(),
            "abc\n"
        );
        assert_eq!(std::fs::read(git.join(object)).unwrap(), blob);
        assert_eq!(
            std::fs::read_to_string(module.join("refs/heads/main")).unwrap(),
            "def\n"
        );
        assert!(!git.join("index.lock").exists());
        assert!(!git.join("hooks/pre-commit").exists());
        assert!(!git.join("config").exists());
        assert!(!module.join("hooks/post-checkout").exists());
        assert!(git.join("refs/heads/link").symlink_metadata().is_err());
        // The index written is no index git could read: not kept.
        assert_eq!(kept.changes, 3);
        let mut left: Vec<_> = kept
            .left
            .iter()
            .map(|v| v.target.clone().unwrap())
            .collect();
        left.sort();
        let mut expected: Vec<_> = [
            "config",
            "hooks/pre-commit",
            "index",
            "modules/sub/hooks/post-checkout",
            "refs/heads/link",
        ]
        .iter()
        .map(|rel| git.join(rel).display().to_string())
        .collect();
        expected.sort();
        assert_eq!(left, expected);
        assert!(git.join("MERGE_HEAD").exists());
        let path = stage.path().to_path_buf();
        drop(stage);
        assert!(!path.exists(), "the stage is removed");
    }
}
