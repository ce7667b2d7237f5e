//! Keeps the protected subpaths (`.git`, `.cordon`, nested `.git`) read-only
//! for WASI guests in `workspace-write`, whether or not they exist yet.
//!
//! wasmtime-wasi grants write access per preopen, and a preopen is the whole
//! root. So every mutating filesystem call a guest makes is judged here
//! first, on the [`Spot`] it acts on (resolved once, see `fs_spot`): the
//! directory it lands in is identified by device and inode, never by
//! comparing path strings. Directory descriptors that lie inside a protected
//! tree lose their write permission as soon as they are opened.
//!
//! The thin adapters in `fs_guard_p1` and `fs_guard_p2` decode each ABI's
//! arguments, locate the spot, ask [`FsGuard`], and act on that spot.

use std::collections::HashSet;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use cap_fs_ext::MetadataExt;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::ResourceTable;
use wasmtime_wasi::filesystem::Descriptor;

use super::fs_spot::Spot;
use crate::policy::{PROTECTED_NAMES, protected_name};

/// Directory levels walked up before giving up (and refusing).
const MAX_DEPTH: u32 = 4096;
/// Entries examined when looking for a file inside the protected trees.
const MAX_PROTECTED_SCAN: usize = 200_000;

/// Identity of a file or directory on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn id_of(dir: &Dir) -> io::Result<FileId> {
    let meta = dir.dir_metadata()?;
    Ok(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

impl FsGuard {
    /// The root it guards: its device and inode.
    pub fn root_identity(&self) -> (u64, u64) {
        (self.root.dev, self.root.ino)
    }
}

/// Decides whether a guest mutation reaches a protected path.
pub struct FsGuard {
    root: FileId,
    /// The root's real path, for the names of open files.
    root_path: std::path::PathBuf,
    /// Whether `.git`, `.cordon` and nested `.git` are protected by name
    /// too (workspace-write), or only the directories given by identity.
    names: bool,
    /// Identities of the protected directories that exist at the root.
    protected_dirs: Vec<FileId>,
    /// Identities of the directories between the root and each of cordon's
    /// own directories: moving one away would let a substitute take the
    /// own directory's place by the next run, so they are never moved or
    /// removed.
    pinned: Vec<FileId>,
    /// Handles of the protected trees, for the rare descriptor-level check.
    protected_trees: Vec<Dir>,
    /// Directory handles already found outside every protected tree. The
    /// weak references keep each allocation alive, so an address is never
    /// mistaken for a later handle.
    known_free: Mutex<Vec<Weak<std::fs::File>>>,
    /// Identities of directories already found outside every protected
    /// tree: a walk up that meets one stops there.
    free_ids: Mutex<HashSet<FileId>>,
    /// This guard's own description of the git-shape lock, opened at the
    /// first name that needs it (none: it could not be).
    shape_lock: std::sync::OnceLock<Option<Arc<crate::shape_lock::ShapeLock>>>,
    /// What this guard refused.
    pub refused: super::refused::Refused,
}

impl FsGuard {
    /// Captures the identities of `root` and of its protected subpaths:
    /// with `names`, `.git` and `.cordon` (and any `.git` by name); always,
    /// `own_dirs`, cordon's own directories inside the root.
    ///
    /// # Errors
    ///
    /// When the root itself, or one of `own_dirs`, cannot be opened or
    /// examined: a directory that cannot be identified cannot be protected.
    pub fn new<'a>(
        root: &Path,
        names: bool,
        own_dirs: impl IntoIterator<Item = &'a Path>,
    ) -> io::Result<Self> {
        let root_dir = Dir::open_ambient_dir(root, ambient_authority())?;
        let mut protected_dirs = Vec::new();
        let mut protected_trees = Vec::new();
        let protected_names = if names { PROTECTED_NAMES } else { &[] };
        for name in protected_names {
            // A protected name that is a symlink to a directory inside the
            // root protects that directory; a file is protected by name.
            if let Ok(dir) = root_dir.open_dir(name) {
                protected_dirs.push(id_of(&dir)?);
                protected_trees.push(dir);
            }
        }
        let mut pinned = Vec::new();
        for own in own_dirs {
            let open = |path: &Path| {
                Dir::open_ambient_dir(path, ambient_authority())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
            };
            let dir = open(own)?;
            protected_dirs.push(id_of(&dir)?);
            protected_trees.push(dir);
            for ancestor in own.ancestors().skip(1) {
                if ancestor == root || !ancestor.starts_with(root) {
                    break;
                }
                pinned.push(id_of(&open(ancestor)?)?);
            }
        }
        Ok(FsGuard {
            names,
            pinned,
            root: id_of(&root_dir)?,
            root_path: root.canonicalize()?,
            protected_dirs,
            protected_trees,
            known_free: Mutex::new(Vec::new()),
            free_ids: Mutex::new(HashSet::new()),
            shape_lock: std::sync::OnceLock::new(),
            refused: super::refused::Refused::new(&root.canonicalize()?),
        })
    }

    /// Whether `.git`, `.cordon` and the names that shape a git directory
    /// are judged by name.
    pub fn protects_names(&self) -> bool {
        self.names
    }

    /// The git-shape lock, held; `None` when it cannot be had (the name is
    /// then refused).
    pub fn hold_shape_lock(&self) -> Option<crate::shape_lock::Holding> {
        let lock = self
            .shape_lock
            .get_or_init(|| crate::shape_lock::ShapeLock::open().ok());
        lock.as_ref()?.hold().ok()
    }

    /// Whether a call on `spot` would change something protected: an
    /// entry of a protected tree, a protected name, a name that makes its
    /// directory a git directory, a protected or pinned directory itself. What cannot be examined counts as protected.
    pub fn spot_protected(&self, spot: &Spot) -> bool {
        if self.dir_in_protected_tree(&spot.parent) {
            return true;
        }
        if spot.is_whole() {
            return false;
        }
        id_of(&spot.parent)
            .ok()
            .is_none_or(|id| self.names && protected_name(&spot.name, id == self.root))
            || (self.names
                && crate::gitdirs::completes_git_dir(&spot.name, |entry| {
                    spot.parent.symlink_metadata(entry).is_ok()
                }))
            || id_at(&spot.parent, &spot.name)
                .is_some_and(|id| self.protected_dirs.contains(&id) || self.pinned.contains(&id))
    }

    /// Whether the directory behind `file` lies in a protected tree.
    pub fn dir_protected(&self, file: &std::fs::File) -> bool {
        match file.try_clone() {
            Ok(file) => self.climb_protected(Dir::from_std_file(file)),
            Err(_) => true,
        }
    }

    /// Removes write permission from every directory descriptor in `table`
    /// that lies in a protected tree, and returns the writable ones that
    /// remain: the directories a mutating call may start from.
    pub fn writable_dirs(&self, table: &mut ResourceTable) -> Vec<Arc<std::fs::File>> {
        let mut known_free = self.known_free.lock().unwrap_or_else(|e| e.into_inner());
        known_free.retain(|weak| weak.strong_count() > 0);
        let mut writable = Vec::new();
        for entry in table.iter_mut() {
            let Some(Descriptor::Dir(dir)) = entry.downcast_mut::<Descriptor>() else {
                continue;
            };
            if dir.perms == FsPerms::ReadOnly {
                continue;
            }
            let handle = Arc::downgrade(&dir.dir);
            if !known_free.iter().any(|free| free.ptr_eq(&handle)) {
                if self.dir_protected(&dir.dir) {
                    dir.perms = FsPerms::ReadOnly;
                    continue;
                }
                known_free.push(handle);
            }
            writable.push(Arc::clone(&dir.dir));
        }
        writable
    }

    /// Whether `file` is one of the files inside the protected trees. Used
    /// before changing a file through its descriptor (its times), where no
    /// path is given.
    pub fn file_protected(&self, file: &std::fs::File) -> bool {
        match file.metadata() {
            Ok(meta) => {
                self.named_protected(file) || self.protected_trees_contain(&[std_id(&meta)])
            }
            Err(_) => true,
        }
    }

    /// Whether `file` lies, by its real path, under a directory protected
    /// by name only (a `.git` made where no identity was taken).
    fn named_protected(&self, file: &std::fs::File) -> bool {
        if !self.names {
            return false;
        }
        match crate::fd_path::real_path(file) {
            Some(path) => path.strip_prefix(&self.root_path).is_ok_and(|relative| {
                relative.iter().enumerate().any(|(depth, name)| {
                    name.to_str()
                        .is_none_or(|name| protected_name(name, depth == 0))
                })
            }),
            None => cfg!(any(target_os = "linux", target_os = "macos")),
        }
    }

    /// Whether any open file in `table` lies inside the protected trees: the
    /// p1 form of [`FsGuard::file_protected`], where the descriptor behind a
    /// file number is not known.
    pub fn table_holds_protected_file(&self, table: &mut ResourceTable) -> bool {
        let mut open_files = Vec::new();
        for entry in table.iter_mut() {
            if let Some(Descriptor::File(file)) = entry.downcast_mut::<Descriptor>() {
                if self.named_protected(&file.file) {
                    return true;
                }
                match file.file.metadata() {
                    Ok(meta) => open_files.push(std_id(&meta)),
                    Err(_) => return true,
                }
            }
        }
        !open_files.is_empty() && self.protected_trees_contain(&open_files)
    }

    /// Walks up from `dir` to the root: inside a protected tree if it meets
    /// a protected directory, or a directory that its parent calls `.git`;
    /// outside once it meets the root or a directory found outside before
    /// (a guest cannot move a directory into a protected tree, nor name one
    /// `.git`).
    fn dir_in_protected_tree(&self, dir: &Dir) -> bool {
        match dir.try_clone() {
            Ok(dir) => self.climb_protected(dir),
            Err(_) => true,
        }
    }

    /// [`FsGuard::dir_in_protected_tree`] on a descriptor of its own, which
    /// the walk up moves.
    fn climb_protected(&self, mut current: Dir) -> bool {
        let mut free_ids = self.free_ids.lock().unwrap_or_else(|e| e.into_inner());
        let mut climbed = Vec::new();
        let Ok(mut id) = id_of(&current) else {
            return true;
        };
        for _ in 0..MAX_DEPTH {
            if self.protected_dirs.contains(&id) {
                return true;
            }
            if id == self.root || free_ids.contains(&id) {
                free_ids.extend(climbed);
                return false;
            }
            climbed.push(id);
            let Ok(parent) = current.open_parent_dir(ambient_authority()) else {
                return true;
            };
            if self.names {
                match parent.open_dir(".git").and_then(|git| id_of(&git)) {
                    Ok(git) if git == id => return true,
                    _ => {}
                }
            }
            match id_of(&parent) {
                // Reached the filesystem root without meeting ours.
                Ok(parent_id) if parent_id == id => return true,
                Ok(parent_id) => (current, id) = (parent, parent_id),
                Err(_) => return true,
            }
        }
        true
    }

    fn protected_trees_contain(&self, wanted: &[FileId]) -> bool {
        let mut budget = MAX_PROTECTED_SCAN;
        let mut stack: Vec<Dir> = Vec::new();
        for tree in &self.protected_trees {
            match tree.try_clone() {
                Ok(dir) => stack.push(dir),
                Err(_) => return true,
            }
        }
        while let Some(dir) = stack.pop() {
            let Ok(entries) = dir.entries() else {
                return true;
            };
            for entry in entries {
                budget = match budget.checked_sub(1) {
                    Some(left) => left,
                    None => return true,
                };
                let Ok(entry) = entry else { return true };
                let Ok(meta) = entry.metadata() else {
                    return true;
                };
                if wanted.contains(&FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                }) {
                    return true;
                }
                if meta.is_dir() {
                    match entry.open_dir() {
                        Ok(sub) => stack.push(sub),
                        Err(_) => return true,
                    }
                }
            }
        }
        false
    }
}

/// Identity of the entry `name` of `parent` itself (a final symlink is
/// not followed), if there is one.
fn id_at(parent: &Dir, name: &str) -> Option<FileId> {
    let meta = parent.symlink_metadata(name).ok()?;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

fn std_id(meta: &std::fs::Metadata) -> FileId {
    let meta = cap_std::fs::Metadata::from_just_metadata(meta.clone());
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, FsGuard, std::fs::File) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(root.join("src/.git")).unwrap();
        std::fs::create_dir_all(root.join("src/lib")).unwrap();
        symlink(".git", root.join("gitlink")).unwrap();
        symlink("../.git/hooks/pre-commit", root.join("src/hook")).unwrap();
        let guard = FsGuard::new(root, true, []).unwrap();
        let base = std::fs::File::open(root).unwrap();
        (tmp, guard, base)
    }

    /// Whether a call on `path` is refused; `None` when the call fails by
    /// itself (a missing directory on the way).
    fn refused(guard: &FsGuard, base: &std::fs::File, path: &str, follow: bool) -> Option<bool> {
        let spot = crate::wasi::fs_spot::locate(base, path, follow).ok()?;
        Some(guard.spot_protected(&spot))
    }

    fn entry(guard: &FsGuard, base: &std::fs::File, path: &str) -> bool {
        refused(guard, base, path, false).expect(path)
    }

    #[test]
    fn plain_paths_are_free() {
        let (_tmp, guard, base) = setup();
        assert!(!entry(&guard, &base, "new.txt"));
        assert!(!entry(&guard, &base, "src/lib/x.rs"));
        assert!(!entry(&guard, &base, "src/gitx"));
        assert_eq!(refused(&guard, &base, "missing/dir/x", false), None);
    }

    #[test]
    fn protected_names_and_trees() {
        let (_tmp, guard, base) = setup();
        assert!(entry(&guard, &base, ".git"));
        assert!(entry(&guard, &base, ".GIT"));
        assert!(entry(&guard, &base, ".git."));
        assert!(entry(&guard, &base, ".cordon. ."));
        assert!(entry(&guard, &base, ".cordon"));
        assert!(entry(&guard, &base, ".git/hooks/pre-commit"));
        assert!(entry(&guard, &base, ".git/hooks"));
        assert!(entry(&guard, &base, "src/../.git/config"));
        assert!(entry(&guard, &base, "gitlink/config"));
        assert!(entry(&guard, &base, "src/.git/HEAD"));
        assert!(entry(&guard, &base, "src/lib/.git"));
        assert!(!entry(&guard, &base, "src/.."));
        // A missing parent fails the call by itself.
        assert_eq!(refused(&guard, &base, "src/new/.git", false), None);
        assert_eq!(refused(&guard, &base, ".cordon/rules.toml", false), None);
    }

    #[test]
    fn final_symlinks_are_followed_for_targets() {
        let (_tmp, guard, base) = setup();
        assert!(!entry(&guard, &base, "src/hook"));
        assert_eq!(refused(&guard, &base, "src/hook", true), Some(true));
        assert_eq!(refused(&guard, &base, "gitlink", true), Some(true));
    }
}
