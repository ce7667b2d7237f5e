//! What could lead git to a directory below a root: every `.git` entry, of
//! any kind, and every directory shaped as a bare repository. Finding them
//! means listing every directory of the root, which in a large tree costs
//! more than the command that follows; so what each listing gave is
//! remembered between runs, beside the compiled code in cordon's cache,
//! and a directory is listed again only when its identity changed.
//!
//! A directory's identity is its device, inode and change time. The kernel
//! moves the change time whenever an entry is added, removed or renamed
//! (and on chmod, chown or a change of times), and no command can set it;
//! a directory replaced, or a mount placed over it, has another device or
//! inode. So a directory that still has the identity it had when it was
//! listed holds the same names. A listing is remembered only when its
//! change time was [`SETTLED`] old as the listing began: a change made
//! later within the same tick of a coarse clock could not be told apart.
//! Where a `.git` file or symlink leads is not remembered (a gitfile's
//! text changes without its directory changing): the caller resolves the
//! leads on every run. The memory is authenticated with the compile
//! cache's key, which no command can read, and kept in the cache
//! directory, which no command can write (docs/SANDBOX.md).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cap_fs_ext::DirExt;
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Keeper, TAG_LEN};
use crate::digest::hex;

/// How deep below the root the walk goes: a deeper directory is taken as
/// one that cannot be listed (protected whole), so that a tree a command
/// nested thousands deep cannot exhaust the walk's stack or descriptors.
const MAX_DEPTH: usize = 256;

/// How old a directory's change time must be for its listing to be
/// remembered (more than the 2 s tick of the coarsest filesystems).
const SETTLED: Duration = Duration::from_secs(5);

/// An entry that leads git to a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lead {
    /// A directory shaped as a git directory: git takes it for a bare
    /// repository when run inside it.
    Shaped(PathBuf),
    /// A `.git` file, naming its git directory.
    GitFile(PathBuf),
    /// A `.git` directory, or a symlink (or anything else) by that name.
    DotGit(PathBuf),
}

/// What the walk found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Survey {
    pub leads: Vec<Lead>,
    /// Directories that could not be listed (whole, or an entry of).
    pub unlisted: Vec<PathBuf>,
}

/// Walks every directory below `root` to [`MAX_DEPTH`], following no
/// symlink, and not entering a `.git`. With `memory`, directories whose
/// identity did not change since they were listed are not listed again.
pub(super) fn survey(root: &Path, memory: Option<&dyn Keeper>) -> Survey {
    survey_settled(root, memory, SETTLED)
}

fn survey_settled(root: &Path, memory: Option<&dyn Keeper>, settled: Duration) -> Survey {
    let began = SystemTime::now();
    let memory = memory.map(|cache| (cache, Memory::file(cache, root)));
    let before = memory
        .as_ref()
        .map(|(cache, file)| Memory::load(*cache, root, file));
    let mut walk = Walk {
        cache_dir: memory.as_ref().map(|(cache, _)| cache.dir().to_path_buf()),
        before: before.unwrap_or_default(),
        after: HashMap::new(),
        changed: false,
        settled_by: began.checked_sub(settled),
        found: Survey::default(),
    };
    let opened = Dir::open_ambient_dir(root, ambient_authority());
    walk.visit(root, opened, Some(String::new()), 0);
    if let Some((cache, file)) = memory
        && (walk.changed || !walk.before.is_empty())
    {
        // Not kept, the next run lists again: nothing is lost.
        let _ = Memory::store(cache, root, &file, &walk.after);
    }
    walk.found
}

/// What a listing of one directory gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Listing {
    /// Device, inode and change time (seconds, nanoseconds) as it began.
    identity: [i64; 4],
    /// Shaped as a git directory.
    shaped: bool,
    /// Its `.git` entry, if any: a file (`true`) or anything else.
    dot_git: Option<bool>,
    /// Its subdirectories but `.git`, symlinks not followed, by name.
    subdirs: Vec<String>,
}

struct Walk {
    /// The cache's directory, not walked where the root holds it: no
    /// command can write it (a git directory there is as safe as the
    /// cache), and the memory written there would change it on every run.
    cache_dir: Option<PathBuf>,
    /// What the last run remembered, by path relative to the root (`a/b`;
    /// the root itself is the empty string), taken as it is used.
    before: HashMap<String, Listing>,
    /// What this run remembers.
    after: HashMap<String, Listing>,
    /// Whether `after` holds a listing `before` did not, or `before` one
    /// that no longer holds (those left in `before` at the end, too).
    changed: bool,
    /// A directory whose change time is older than this may be
    /// remembered (`None`: none may).
    settled_by: Option<SystemTime>,
    found: Survey,
}

impl Walk {
    /// Visits the directory at `path`, opened as `dir` (or not), whose
    /// path relative to the root is `relative` (`None` when it is not
    /// UTF-8: such a directory is listed every time). Its identity, its
    /// listing and its shape are all read through the one descriptor, and
    /// its subdirectories opened from it without following a symlink: a
    /// directory moved meanwhile cannot lend its contents to another's
    /// identity.
    fn visit(
        &mut self,
        path: &Path,
        dir: std::io::Result<Dir>,
        relative: Option<String>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return self.found.unlisted.push(path.to_path_buf());
        }
        let dir = match dir {
            Ok(dir) => dir,
            // Gone since its parent was listed: nothing below it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => return self.found.unlisted.push(path.to_path_buf()),
        };
        if self.cache_dir.as_deref() == Some(path) {
            return;
        }
        let identity = dir.dir_metadata().ok().and_then(|meta| identity(&meta));
        let remembered = relative.as_ref().and_then(|rel| self.before.remove(rel));
        let (shaped, dot_git, subdirs) = match remembered {
            Some(listing) if Some(listing.identity) == identity => {
                let subdirs = listing.subdirs.iter().map(OsString::from).collect();
                let found = (listing.shaped, listing.dot_git, subdirs);
                if let Some(rel) = relative.clone() {
                    self.after.insert(rel, listing);
                }
                found
            }
            remembered => {
                // One remembered and no longer true is dropped.
                self.changed |= remembered.is_some();
                let Ok(fresh) = list(&dir) else {
                    return self.found.unlisted.push(path.to_path_buf());
                };
                if !fresh.whole {
                    self.found.unlisted.push(path.to_path_buf());
                }
                if let (Some(rel), Some(identity)) = (&relative, identity)
                    && let Some(listing) = self.rememberable(&fresh, identity)
                {
                    self.after.insert(rel.clone(), listing);
                    self.changed = true;
                }
                (fresh.shaped, fresh.dot_git, fresh.subdirs)
            }
        };
        if shaped {
            self.found.leads.push(Lead::Shaped(path.to_path_buf()));
        }
        let dot_git_path = || path.join(".git");
        match dot_git {
            Some(true) => self.found.leads.push(Lead::GitFile(dot_git_path())),
            Some(false) => self.found.leads.push(Lead::DotGit(dot_git_path())),
            None => {}
        }
        for name in subdirs {
            let below = match (&relative, name.to_str()) {
                (Some(rel), Some(name)) if rel.is_empty() => Some(name.to_string()),
                (Some(rel), Some(name)) => Some(format!("{rel}/{name}")),
                _ => None,
            };
            let opened = dir.open_dir_nofollow(&name);
            // Replaced by a symlink or a file since it was listed: not
            // walked, as one listed so is not.
            let replaced = || dir.symlink_metadata(&name).is_ok_and(|meta| !meta.is_dir());
            if opened.is_err() && replaced() {
                continue;
            }
            self.visit(&path.join(&name), opened, below, depth + 1);
        }
    }
}

impl Walk {
    /// What to remember of a directory listed now, whose identity was
    /// `identity` as the listing began: nothing if the listing was not
    /// whole, its change time is too recent, or a name is not UTF-8.
    fn rememberable(&self, fresh: &Fresh, identity: [i64; 4]) -> Option<Listing> {
        let [_, _, secs, nanos] = identity;
        if !fresh.whole || changed_at(secs, nanos)? >= self.settled_by? {
            return None;
        }
        let subdirs = fresh
            .subdirs
            .iter()
            .map(|name| name.to_str().map(str::to_string));
        Some(Listing {
            identity,
            shaped: fresh.shaped,
            dot_git: fresh.dot_git,
            subdirs: subdirs.collect::<Option<_>>()?,
        })
    }
}

/// A directory as listed now.
struct Fresh {
    shaped: bool,
    dot_git: Option<bool>,
    subdirs: Vec<OsString>,
    /// Every entry was read.
    whole: bool,
}

/// Lists `dir`.
fn list(dir: &Dir) -> std::io::Result<Fresh> {
    let listing = dir.entries()?;
    let mut fresh = Fresh {
        shaped: super::has_git_dir_shape(|name| dir.symlink_metadata(name).is_ok()),
        dot_git: None,
        subdirs: Vec::new(),
        whole: true,
    };
    for entry in listing {
        let Ok((kind, entry)) = entry.and_then(|entry| Ok((entry.file_type()?, entry))) else {
            fresh.whole = false;
            continue;
        };
        let name = entry.file_name();
        if name == ".git" {
            fresh.dot_git = Some(kind.is_file());
        } else if kind.is_dir() {
            // Every directory: a gitfile in a hidden one or in
            // node_modules names a git directory as well as any other.
            fresh.subdirs.push(name);
        }
    }
    fresh.subdirs.sort();
    Ok(fresh)
}

fn changed_at(secs: i64, nanos: i64) -> Option<SystemTime> {
    let since = Duration::new(u64::try_from(secs).ok()?, u32::try_from(nanos).ok()?);
    SystemTime::UNIX_EPOCH.checked_add(since)
}

#[cfg(unix)]
fn identity(meta: &cap_std::fs::Metadata) -> Option<[i64; 4]> {
    use cap_std::fs::MetadataExt;
    Some([
        meta.dev() as i64,
        meta.ino() as i64,
        meta.ctime(),
        meta.ctime_nsec(),
    ])
}

/// No change time the kernel alone sets: nothing is remembered.
#[cfg(not(unix))]
fn identity(_meta: &cap_std::fs::Metadata) -> Option<[i64; 4]> {
    None
}

/// The listings remembered for one root: a file in the cache's `walks`
/// directory named by the root's digest, holding a tag, then the listings
/// as JSON. The tag covers the root's path and the JSON.
struct Memory;

impl Memory {
    fn file(cache: &dyn Keeper, root: &Path) -> PathBuf {
        let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
        cache.dir().join("walks").join(hex(&digest))
    }

    fn signed(root: &Path, json: &[u8]) -> Vec<u8> {
        let mut signed = b"walk\0".to_vec();
        signed.extend_from_slice(root.as_os_str().as_encoded_bytes());
        signed.push(0);
        signed.extend_from_slice(json);
        signed
    }

    /// The listings remembered, if the file is there and authentic.
    fn load(cache: &dyn Keeper, root: &Path, file: &Path) -> HashMap<String, Listing> {
        let Ok(bytes) = std::fs::read(file) else {
            return HashMap::new();
        };
        let Some((tag, json)) = bytes.split_at_checked(TAG_LEN) else {
            return HashMap::new();
        };
        if !cache.is_tagged(&Self::signed(root, json), tag) {
            return HashMap::new();
        }
        serde_json::from_slice(json).unwrap_or_default()
    }

    fn store(
        cache: &dyn Keeper,
        root: &Path,
        file: &Path,
        listings: &HashMap<String, Listing>,
    ) -> std::io::Result<()> {
        let json = serde_json::to_vec(listings).map_err(std::io::Error::other)?;
        let tag = cache
            .tag(&Self::signed(root, &json))
            .ok_or_else(|| std::io::Error::other("no key to authenticate the walk"))?;
        let mut bytes = tag.to_vec();
        bytes.extend_from_slice(&json);
        std::fs::create_dir_all(file.parent().unwrap_or(root))?;
        crate::atomic::write_cache(file, &bytes)
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use crate::wasi::CompileCache;
    use proptest::prelude::*;
    use std::os::unix::fs::symlink;

    /// The directories the generated changes work on.
    const DIRS: [&str; 6] = ["a", "a/b", "a/b/c", "d", "d/e", "a/d"];

    /// One change a user (or git) could make to a tree.
    #[derive(Debug, Clone)]
    enum Change {
        Make(usize),
        Remove(usize),
        Rename(usize, usize),
        GitDir(usize),
        GitFile(usize),
        GitLink(usize),
        Shape(usize),
        Unshape(usize),
        LinkInPlace(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        let dir = 0..DIRS.len();
        prop_oneof![
            dir.clone().prop_map(Change::Make),
            dir.clone().prop_map(Change::Remove),
            (dir.clone(), dir.clone()).prop_map(|(a, b)| Change::Rename(a, b)),
            dir.clone().prop_map(Change::GitDir),
            dir.clone().prop_map(Change::GitFile),
            dir.clone().prop_map(Change::GitLink),
            dir.clone().prop_map(Change::Shape),
            dir.clone().prop_map(Change::Unshape),
            dir.prop_map(Change::LinkInPlace),
        ]
    }

    /// Makes `change` under `root`; one that does not apply (its directory
    /// missing) changes nothing.
    fn apply(root: &Path, change: &Change) {
        let at = |i: usize| root.join(DIRS[i]);
        let _ = match change {
            Change::Make(i) => std::fs::create_dir_all(at(*i)),
            Change::Remove(i) => std::fs::remove_dir_all(at(*i)).or_else(|_| {
                // A symlink put in its place.
                std::fs::remove_file(at(*i))
            }),
            Change::Rename(from, to) => std::fs::rename(at(*from), at(*to)),
            Change::GitDir(i) => std::fs::create_dir(at(*i).join(".git")),
            Change::GitFile(i) => std::fs::write(at(*i).join(".git"), "gitdir: ../x\n"),
            Change::GitLink(i) => symlink("../x", at(*i).join(".git")),
            Change::Shape(i) => ["objects", "refs"]
                .iter()
                .try_for_each(|name| std::fs::create_dir_all(at(*i).join(name)))
                .and_then(|()| std::fs::write(at(*i).join("HEAD"), "ref: refs/heads/m\n")),
            Change::Unshape(i) => std::fs::remove_file(at(*i).join("HEAD")),
            Change::LinkInPlace(i) => {
                std::fs::remove_dir_all(at(*i)).and_then(|()| symlink(root.join("d"), at(*i)))
            }
        };
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever changed between two runs, the walk that lists only the
        /// directories whose identity changed finds what a walk listing
        /// every directory finds.
        #[test]
        fn a_remembered_walk_finds_what_a_whole_walk_finds(
            changes in proptest::collection::vec(change(), 1..10)
        ) {
            let cache_dir = tempfile::tempdir().unwrap();
            let cache = CompileCache::new(cache_dir.path());
            let tree = tempfile::tempdir().unwrap();
            let root = tree.path().canonicalize().unwrap();
            std::fs::create_dir_all(root.join("a/b/c")).unwrap();
            std::fs::create_dir_all(root.join("d/e")).unwrap();
            for change in &changes {
                survey_settled(&root, Some(&cache), Duration::ZERO);
                // Past the tick of the coarsest clock the kernel keeps
                // times with, so the change gets a later one.
                std::thread::sleep(Duration::from_millis(20));
                apply(&root, change);
                let remembered = survey_settled(&root, Some(&cache), Duration::ZERO);
                prop_assert_eq!(remembered, survey_settled(&root, None, Duration::ZERO));
            }
        }
    }

    /// A command swapping two directories (`a`, `c`) while the walk runs
    /// must not make it remember one directory's identity with the other's
    /// contents: `a/b` is shaped as a bare repository and `c/b` is not,
    /// and neither `b` changes, so a listing remembered wrong would stay
    /// trusted and hide the repository from every later run. (The window
    /// is narrow: a walk that took the identity by path, then listed by
    /// path again, was caught here about once in 30,000 walks.)
    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_swapped_during_the_walk_is_not_remembered_wrong() {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(cache_dir.path());
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        for dir in ["a/b/objects", "a/b/refs", "c/b"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("a/b/HEAD"), "ref: refs/heads/m\n").unwrap();
        let c_path = |name: &str| CString::new(root.join(name).as_os_str().as_bytes()).unwrap();
        let (a, c) = (c_path("a"), c_path("c"));
        let swap = || {
            // SAFETY: two NUL-terminated paths; renameat2 only reads them.
            let done = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
        };
        let id = |dir: &str| {
            let dir = Dir::open_ambient_dir(root.join(dir), ambient_authority()).unwrap();
            identity(&dir.dir_metadata().unwrap()).unwrap()
        };
        // Neither `b` changes: their identities hold throughout.
        let shaped_of = HashMap::from([(id("a/b"), true), (id("c/b"), false)]);
        let file = Memory::file(&cache, &root);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    swap();
                }
            });
            for _ in 0..50000 {
                survey_settled(&root, Some(&cache), Duration::ZERO);
                for (rel, listing) in Memory::load(&cache, &root, &file) {
                    if let Some(&shaped) = shaped_of.get(&listing.identity) {
                        stop.store(true, Ordering::Relaxed);
                        assert_eq!(listing.shaped, shaped, "{rel} remembered wrong");
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    /// Attack: a tree nested thousands deep, made so that every later
    /// run's walk exhausts its stack. Below the bound it is protected
    /// whole instead.
    #[test]
    fn a_tree_deeper_than_the_bound_is_protected_whole_not_walked() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        let mut dir = Dir::open_ambient_dir(&root, ambient_authority()).unwrap();
        for _ in 0..4000 {
            dir.create_dir("d").unwrap();
            dir = dir.open_dir_nofollow("d").unwrap();
        }
        let deepest = (0..=MAX_DEPTH).fold(root.clone(), |path, _| path.join("d"));
        let found = survey_settled(&root, None, Duration::ZERO);
        assert_eq!(found.unlisted, [deepest]);
    }

    #[test]
    fn a_memory_not_tagged_with_the_key_is_not_trusted() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(cache_dir.path());
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        survey_settled(&root, Some(&cache), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::create_dir(root.join("sub/.git")).unwrap();
        let found = survey_settled(&root, None, Duration::ZERO);
        assert_eq!(found.leads, [Lead::DotGit(root.join("sub/.git"))]);
        // A memory of today's identities that leaves the `.git` out, tagged
        // with another key: what a command would forge.
        let listed = |dir: &Path, subdirs: &[&str]| Listing {
            identity: identity(
                &Dir::open_ambient_dir(dir, ambient_authority())
                    .unwrap()
                    .dir_metadata()
                    .unwrap(),
            )
            .unwrap(),
            shaped: false,
            dot_git: None,
            subdirs: subdirs.iter().map(|s| s.to_string()).collect(),
        };
        let forged = HashMap::from([
            (String::new(), listed(&root, &["sub"])),
            ("sub".to_string(), listed(&root.join("sub"), &[])),
        ]);
        let other = tempfile::tempdir().unwrap();
        let file = Memory::file(&cache, &root);
        Memory::store(&CompileCache::new(other.path()), &root, &file, &forged).unwrap();
        assert_eq!(survey_settled(&root, Some(&cache), Duration::ZERO), found);
        // The same memory under the right key is trusted: the forgery is
        // refused by its tag alone.
        Memory::store(&cache, &root, &file, &forged).unwrap();
        let trusted = survey_settled(&root, Some(&cache), Duration::ZERO);
        assert!(trusted.leads.is_empty());
    }

    #[test]
    fn a_cache_inside_the_root_is_not_walked_nor_the_memory_rewritten() {
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        // Made before any run, as cordon makes its own directories.
        std::fs::create_dir(root.join(".cache")).unwrap();
        let cache = CompileCache::new(root.join(".cache"));
        survey_settled(&root, Some(&cache), Duration::ZERO);
        let file = Memory::file(&cache, &root);
        let inode = |file: &Path| std::os::unix::fs::MetadataExt::ino(&file.metadata().unwrap());
        let written = inode(&file);
        std::thread::sleep(Duration::from_millis(20));
        survey_settled(&root, Some(&cache), Duration::ZERO);
        assert_eq!(
            inode(&file),
            written,
            "a run that changed nothing rewrote the memory"
        );
        let remembered = Memory::load(&cache, &root, &file);
        assert!(remembered.keys().all(|rel| !rel.starts_with(".cache")));
    }

    #[test]
    fn a_directory_changed_too_recently_is_listed_again() {
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(cache_dir.path());
        let tree = tempfile::tempdir().unwrap();
        let root = tree.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        survey(&root, Some(&cache));
        assert!(
            Memory::load(&cache, &root, &Memory::file(&cache, &root)).is_empty(),
            "a directory made a moment ago was remembered"
        );
        survey_settled(&root, Some(&cache), Duration::ZERO);
        let remembered = Memory::load(&cache, &root, &Memory::file(&cache, &root));
        assert_eq!(remembered.len(), 2);
    }
}
