//! What a command may touch: the project root, the sandbox mode, limits.
//!
//! Pure data and validation. The only I/O is resolving the root and the
//! working directory once, when the policy is built, so that everything below
//! works with real, symlink-free paths.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::net::NetAccess;
use crate::request::Request;
use crate::secrets::SecretPatterns;

/// Subpaths of the root that stay read-only in `workspace-write`, whether or
/// not they exist yet.
pub const PROTECTED_NAMES: &[&str] = &[".git", ".cordon"];

/// Whether creating or changing the entry `name` is refused by name: `.git`
/// anywhere, `.cordon` too when `at_root`. Compared the way the most
/// lenient filesystem would (see [`folded_name`]), ignoring ASCII case
/// (macOS, Windows, case-folding directories on Linux).
pub fn protected_name(name: &str, at_root: bool) -> bool {
    let name = folded_name(name);
    name.eq_ignore_ascii_case(".git")
        || (at_root && PROTECTED_NAMES.iter().any(|p| name.eq_ignore_ascii_case(p)))
}

/// `name` as the most lenient filesystem takes it, before ASCII case is
/// ignored: trailing dots and spaces dropped (Windows drops them, so
/// `.git.` is `.git` there); Unicode's default-ignorable code points
/// dropped (HFS+ ignores them, and so did Linux's case-folding
/// directories before 6.14: `.g\u{200c}it` is `.git` there); and the two
/// letters case folding takes to ASCII ones (U+017F long s to `s`, U+212A
/// Kelvin sign to `k`: `refſ` is `refs`).
pub fn folded_name(name: &str) -> String {
    name.chars()
        .filter(|c| !is_default_ignorable(*c))
        .map(|c| match c {
            '\u{17f}' => 's',
            '\u{212a}' => 'k',
            c => c,
        })
        .collect::<String>()
        .trim_end_matches(['.', ' '])
        .to_string()
}

/// Unicode's Default_Ignorable_Code_Point property
/// (DerivedCoreProperties.txt): what renders as nothing, and what HFS+
/// and older Linux name folding skip.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{34f}'
            | '\u{61c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
}

/// How much of the filesystem a command may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Nothing is writable.
    ReadOnly,
    /// The root is writable except the protected subpaths.
    #[default]
    WorkspaceWrite,
    /// Everything the backend can grant. For WASI tools that is still only
    /// the root, protected subpaths included.
    FullAccess,
}

impl SandboxMode {
    /// Every mode, least given first.
    pub const ALL: &[SandboxMode] = &[
        SandboxMode::ReadOnly,
        SandboxMode::WorkspaceWrite,
        SandboxMode::FullAccess,
    ];

    /// What the mode gives, in a line.
    pub fn help(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "Nothing is writable",
            SandboxMode::WorkspaceWrite => "The root is writable except the protected subpaths",
            SandboxMode::FullAccess => {
                "Everything the backend can grant. For WASI tools that is still only the \
                 root, protected subpaths included"
            }
        }
    }

    /// The name as the flag and the settings file write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::FullAccess => "full-access",
        }
    }
}

/// `root` resolved, as a project root must be: an existing directory
/// other than the filesystem root, on a filesystem of files (not the
/// kernel's views of processes and devices: a root in `/proc/self` would
/// hand commands cordon's own environment and control files).
///
/// # Errors
///
/// A [`PolicyError`] naming `root` as given.
pub fn canonical_root(root: &Path) -> Result<PathBuf, PolicyError> {
    let canonical = root
        .canonicalize()
        .map_err(|error| PolicyError::RootUnreadable {
            path: root.to_path_buf(),
            error,
        })?;
    if !canonical.is_dir() {
        return Err(PolicyError::RootNotDirectory(root.to_path_buf()));
    }
    if canonical.parent().is_none() {
        return Err(PolicyError::RootIsFilesystemRoot(root.to_path_buf()));
    }
    if let Some(kind) = kernel_filesystem(&canonical) {
        return Err(PolicyError::RootOnKernelFilesystem {
            path: root.to_path_buf(),
            kind,
        });
    }
    Ok(canonical)
}

/// The identity of the directory at `canonical` (the root `root` names),
/// and its path, from one opening: a swap between two lookups could pair
/// this path with another directory.
#[cfg(unix)]
fn opened_identity(root: &Path, canonical: &Path) -> Result<Option<Identity>, PolicyError> {
    let opened = std::fs::File::open(canonical).map_err(|error| PolicyError::RootUnreadable {
        path: root.to_path_buf(),
        error,
    })?;
    if crate::fd_path::real_path(&opened).is_some_and(|real| real != canonical) {
        return Err(PolicyError::RootMoved(canonical.to_path_buf()));
    }
    Ok(opened.metadata().ok().as_ref().and_then(identity_of))
}

/// Not told on these systems.
#[cfg(not(unix))]
fn opened_identity(_: &Path, _: &Path) -> Result<Option<Identity>, PolicyError> {
    Ok(None)
}

/// A directory's device and inode: what it is, whatever its path.
type Identity = (u64, u64);

fn identity(path: &Path) -> Option<Identity> {
    std::fs::metadata(path).ok().as_ref().and_then(identity_of)
}

#[cfg(unix)]
fn identity_of(meta: &std::fs::Metadata) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Not told on these systems.
#[cfg(not(unix))]
fn identity_of(_: &std::fs::Metadata) -> Option<Identity> {
    None
}

/// Refuses a root that is, or lies inside, one of `own` (cordon's own
/// directories): what they keep would be the commands' to write.
///
/// # Errors
///
/// [`PolicyError::RootInsideProtected`].
pub fn refuse_root_inside_own(root: &Path, own: &[PathBuf]) -> Result<(), PolicyError> {
    match own.iter().find(|dir| root.starts_with(dir)) {
        Some(dir) => Err(PolicyError::RootInsideProtected {
            path: root.to_path_buf(),
            dir: dir.clone(),
            what: "cordon's own directory",
        }),
        None => Ok(()),
    }
}

/// The kind of kernel filesystem `dir` is on, if it is one: the views of
/// processes, devices and the kernel's own state, whose files are not a
/// project's.
#[cfg(target_os = "linux")]
fn kernel_filesystem(dir: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statfs the call fills.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Some("unknown (statfs failed)");
    }
    const KINDS: &[(i64, &str)] = &[
        (0x9fa0, "proc"),
        (0x6265_6572, "sysfs"),
        (0x1373, "devfs"),
        (0x1cd1, "devpts"),
        (0x2762_0007, "cgroup"),
        (0x6367_7270, "cgroup2"),
        (0x6462_6720, "debugfs"),
        (0x7472_6163, "tracefs"),
        (0x7363_6673, "securityfs"),
        (0xcafe_4a11, "bpf"),
        (0x6165_676c, "pstore"),
        (0x6265_6570, "configfs"),
        (0xf97c_ff8c, "selinuxfs"),
        (0x6e73_6673, "nsfs"),
    ];
    let magic = stat.f_type as i64;
    if let Some((_, kind)) = KINDS.iter().find(|(m, _)| *m == magic) {
        return Some(kind);
    }
    // devtmpfs reports tmpfs's magic: /dev is known by its filesystem
    // (where it has one of its own).
    use std::os::unix::fs::MetadataExt;
    let device = |path: &str| std::fs::metadata(path).map(|m| m.dev()).ok();
    let dev = device("/dev").filter(|dev| Some(*dev) != device("/"));
    let here = std::fs::metadata(dir).map(|m| m.dev()).ok();
    (dev.is_some() && here == dev).then_some("devtmpfs")
}

/// Elsewhere the kernel's views are not mounted as files.
#[cfg(not(target_os = "linux"))]
fn kernel_filesystem(_: &Path) -> Option<&'static str> {
    None
}

/// Resource limits for one command.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock deadline; `None` means no deadline.
    pub timeout: Option<Duration>,
    /// Cap on linear memory, per memory, in bytes.
    pub memory_bytes: usize,
    /// Cap on each of stdout and stderr, in bytes; the excess is dropped.
    pub max_output_bytes: Option<u64>,
    /// Cap on instances, tables and memories a guest may create.
    pub max_instances: usize,
    /// Cap on tables a guest may create.
    pub max_tables: usize,
    /// Cap on the elements of each table.
    pub max_table_elements: usize,
    /// Bytes a single WASI host call may copy in or out of the guest.
    pub hostcall_fuel: usize,
    /// Entries in the host's resource table (open files, streams, ...).
    pub max_resources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: None,
            memory_bytes: 512 << 20,
            max_output_bytes: None,
            max_instances: 64,
            max_tables: 64,
            max_table_elements: 1 << 20,
            hostcall_fuel: 128 << 20,
            max_resources: 16 * 1024,
        }
    }
}

/// Fixed inputs for a reproducible run: the same tool, arguments and files
/// give byte-identical results on every run and every OS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Determinism {
    /// What the wall clock reads, as time since the Unix epoch.
    pub wall_clock: Duration,
    /// How far the monotonic clock advances at each read.
    pub monotonic_step: Duration,
    /// Seed of every random source.
    pub seed: u64,
    /// Fuel (roughly, wasm instructions) the guest may burn; it replaces the
    /// wall-clock deadline, which no two machines would agree on.
    pub fuel: u64,
}

impl Default for Determinism {
    /// 2000-01-01T00:00:00Z, 1 ms per monotonic read, seed 0, 10^10 fuel.
    fn default() -> Self {
        Determinism {
            wall_clock: Duration::from_secs(946_684_800),
            monotonic_step: Duration::from_millis(1),
            seed: 0,
            fuel: 10_000_000_000,
        }
    }
}

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The root cannot be resolved.
    #[error("root {path}: {error}")]
    RootUnreadable {
        /// The root as given.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The root is not a directory.
    #[error("root {0} is not a directory")]
    RootNotDirectory(PathBuf),
    /// The root is on one of the kernel's own filesystems.
    #[error("root {path}: on {kind}, the kernel's view of its own state, not a project's files")]
    RootOnKernelFilesystem {
        /// The root as given.
        path: PathBuf,
        /// Which filesystem.
        kind: &'static str,
    },
    /// The root lies inside a directory commands may never write.
    #[error(
        "root {path}: inside {what} {dir}, which commands may not write; choose the project \
             directory"
    )]
    RootInsideProtected {
        /// The root as given.
        path: PathBuf,
        /// The directory it lies in.
        dir: PathBuf,
        /// What that directory is.
        what: &'static str,
    },
    /// The root's path leads elsewhere than when the session opened.
    #[error(
        "root {0}: no longer the directory the session opened (a symlink or a move on the \
             way); open a new session"
    )]
    RootMoved(PathBuf),
    /// The root is the filesystem root.
    #[error("root {0} is the filesystem root; choose a project directory")]
    RootIsFilesystemRoot(PathBuf),
    /// The working directory cannot be resolved.
    #[error("--cwd {cwd}: {error}")]
    CwdUnreadable {
        /// The working directory as given.
        cwd: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The working directory resolves outside the root.
    #[error("--cwd {cwd} leaves the root {root}")]
    CwdOutsideRoot {
        /// The working directory as given.
        cwd: PathBuf,
        /// The root, resolved.
        root: PathBuf,
    },
    /// The working directory is not a directory.
    #[error("--cwd {0} is not a directory")]
    CwdNotDirectory(PathBuf),
    /// An `--env` that is not `KEY=VALUE`, as given.
    #[error("--env {0}: expected KEY=VALUE with a non-empty KEY and no '=' or NUL in it")]
    BadEnv(String),
}

/// The validated sandbox for one command.
#[derive(Clone, Debug)]
pub struct SandboxPolicy {
    root: PathBuf,
    /// The root's identity when the policy was made: its path must still
    /// lead there when a command runs ([`SandboxPolicy::check_root`]).
    root_identity: Option<Identity>,
    /// The root as the user spelled it, made absolute, when that differs
    /// from the canonical path (e.g. through a symlinked parent).
    root_alias: Option<PathBuf>,
    /// Working directory, relative to the root, without `.`/`..`/symlinks.
    cwd: PathBuf,
    /// How much of the filesystem the command may change.
    pub mode: SandboxMode,
    /// What the command may use.
    pub limits: Limits,
    /// `Some` for a deterministic run.
    pub determinism: Option<Determinism>,
    /// What the command may reach on the network (nothing by default).
    pub network: NetAccess,
    /// Files in the root no command may read (the defaults unless set).
    pub secrets: SecretPatterns,
    /// cordon's own directories (its rules and trust store, its compile
    /// cache), resolved: no command may write them, wherever they lie.
    pub own_dirs: Vec<PathBuf>,
    /// cordon's own secrets (the compile cache's key), resolved: no
    /// command may read them, wherever they lie.
    pub own_secrets: Vec<PathBuf>,
    /// The git directories the root's repositories use, resolved (see
    /// [`crate::gitdirs`]); in [`Self::own_dirs`] too where subpaths are
    /// protected.
    pub git_dirs: Vec<PathBuf>,
    /// The git directories the git-commit grant may write: those of the
    /// root's repositories (not only named by the command's environment,
    /// which could name any directory) shaped as git directories.
    pub commit_dirs: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl SandboxPolicy {
    /// The request to run `argv` under this policy on `engine`, asking
    /// for nothing more.
    pub fn request(&self, argv: &[String], engine: &'static str) -> Request {
        Request {
            argv: argv.to_vec(),
            cwd: self.cwd_abs(),
            engine,
            sandbox: self.mode.as_str(),
            escalation: None,
            justification: None,
            program_sha256: None,
            env: self.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        }
    }

    /// Builds a policy for `root` (must be an existing directory other than
    /// the filesystem root), with the command running in `cwd`.
    ///
    /// `cwd` may be relative (to the root) or absolute; either way it is
    /// resolved, symlinks included, and must lie inside the root, compared
    /// component by component.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] naming the offending path.
    pub fn new(root: &Path, cwd: Option<&Path>, mode: SandboxMode) -> Result<Self, PolicyError> {
        let canonical = canonical_root(root)?;
        // A `..` after a symlink leads where the kernel says, not where
        // the spelling does: no second spelling then.
        let spelled = std::path::absolute(root)
            .ok()
            .filter(|p| !p.components().any(|c| c == Component::ParentDir))
            .map(|p| lexically_normal(&p));
        let root_alias = spelled.filter(|p| *p != canonical);
        let cwd = match cwd {
            None => PathBuf::new(),
            Some(cwd) => resolve_cwd(&canonical, root_alias.as_deref(), cwd)?,
        };
        Ok(SandboxPolicy {
            root_identity: opened_identity(root, &canonical)?,
            root: canonical,
            root_alias,
            cwd,
            mode,
            limits: Limits::default(),
            determinism: None,
            network: NetAccess::Off,
            secrets: SecretPatterns::default(),
            own_dirs: Vec::new(),
            own_secrets: Vec::new(),
            git_dirs: Vec::new(),
            commit_dirs: Vec::new(),
            env: Vec::new(),
        })
    }

    /// Checks that the root's path still leads to the directory the policy
    /// was made for, or (`opened`: the root as an engine opened it, its
    /// metadata) that the engine holds that directory. Between a session's
    /// commands another could have put a symlink on the way, to make the
    /// next command's root a directory no root may be (cordon's own, a git
    /// directory).
    ///
    /// # Errors
    ///
    /// [`PolicyError::RootMoved`].
    pub fn check_root(&self, opened: Option<&std::fs::Metadata>) -> Result<(), PolicyError> {
        let now = match opened {
            Some(meta) => identity_of(meta),
            // Its path must still be its real path too: a move that keeps
            // the directory (behind a symlink of the old name) would put
            // every prefix cordon compares out of line with the kernel's.
            None if self.root.canonicalize().ok().as_ref() != Some(&self.root) => {
                return Err(PolicyError::RootMoved(self.root.clone()));
            }
            None => identity(&self.root),
        };
        if self.root_identity.is_some() && now != self.root_identity {
            return Err(PolicyError::RootMoved(self.root.clone()));
        }
        Ok(())
    }

    /// The root's device and inode when the policy was made (`None` where
    /// the system does not tell them).
    pub fn root_identity(&self) -> Option<(u64, u64)> {
        self.root_identity
    }

    /// The same policy with the working directory moved to `cwd` (absolute,
    /// or relative to the root), checked as in [`SandboxPolicy::new`].
    ///
    /// # Errors
    ///
    /// As [`SandboxPolicy::new`] for the cwd.
    pub fn with_cwd(&self, cwd: &Path) -> Result<Self, PolicyError> {
        let cwd = resolve_cwd(&self.root, self.root_alias.as_deref(), cwd)?;
        Ok(SandboxPolicy {
            cwd,
            ..self.clone()
        })
    }

    /// Adds `KEY=VALUE` to the command's environment.
    ///
    /// # Errors
    ///
    /// [`PolicyError::BadEnv`] when the text is not `KEY=VALUE`.
    pub fn push_env(&mut self, assignment: &str) -> Result<(), PolicyError> {
        let bad = || PolicyError::BadEnv(assignment.to_string());
        let (key, value) = assignment.split_once('=').ok_or_else(bad)?;
        if key.is_empty() || key.contains('\0') || value.contains('\0') {
            return Err(bad());
        }
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Other absolute spellings of the root that the guest may use.
    pub fn root_alias(&self) -> Option<&Path> {
        self.root_alias.as_deref()
    }

    /// The working directory relative to the root (empty for the root).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The working directory as an absolute host path.
    pub fn cwd_abs(&self) -> PathBuf {
        if self.cwd.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(&self.cwd)
        }
    }

    /// Variables passed with `--env`, in order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Whether the command may write anywhere.
    pub fn writable(&self) -> bool {
        self.mode != SandboxMode::ReadOnly
    }

    /// cordon's own directories that lie inside the root, by components.
    pub fn own_dirs_in_root(&self) -> impl Iterator<Item = &Path> {
        self.own_dirs
            .iter()
            .filter(|dir| dir.starts_with(&self.root))
            .map(PathBuf::as_path)
    }

    /// Whether [`PROTECTED_NAMES`] and the git directories stay read-only
    /// by what they are: in every mode but full-access, since a
    /// read-only root may still lie in a writable directory
    /// (`--writable`, an approved grant).
    pub fn protects_subpaths(&self) -> bool {
        self.mode != SandboxMode::FullAccess
    }

    /// Whether `dir` (canonical) lies in a tree that stays read-only
    /// whatever is granted: a git directory of the root's repositories,
    /// cordon's own directories, a `.git` or the root's `.cordon` by name.
    pub fn in_protected_tree(&self, dir: &Path) -> bool {
        if self.own_dirs.iter().any(|own| dir.starts_with(own)) {
            return true;
        }
        self.protects_subpaths()
            && dir.strip_prefix(self.root()).is_ok_and(|relative| {
                relative.iter().enumerate().any(|(depth, name)| {
                    name.to_str()
                        .is_none_or(|name| protected_name(name, depth == 0))
                })
            })
    }
}

/// Resolves `cwd` against the root and checks, by components of the
/// canonical path, that it stays inside.
fn resolve_cwd(root: &Path, alias: Option<&Path>, cwd: &Path) -> Result<PathBuf, PolicyError> {
    // An absolute cwd spelled through the alias is the same place.
    let joined = match alias.and_then(|a| cwd.strip_prefix(a).ok()) {
        Some(rest) => root.join(rest),
        None => root.join(cwd),
    };
    let resolved = joined
        .canonicalize()
        .map_err(|error| PolicyError::CwdUnreadable {
            cwd: cwd.to_path_buf(),
            error,
        })?;
    let inside = resolved
        .strip_prefix(root)
        .map_err(|_| PolicyError::CwdOutsideRoot {
            cwd: cwd.to_path_buf(),
            root: root.to_path_buf(),
        })?;
    if !resolved.is_dir() {
        return Err(PolicyError::CwdNotDirectory(cwd.to_path_buf()));
    }
    Ok(inside.to_path_buf())
}

/// Removes `.` and folds `..` without touching the filesystem; used only to
/// spell an alias of a root that was already resolved for real.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_lenient_filesystem_takes_for_git_are_protected() {
        for name in [
            ".git",
            ".GiT",
            ".git. .",
            ".g\u{200c}it",
            "\u{feff}.git",
            ".gi\u{ad}t\u{200b}",
            ".G\u{34f}IT\u{e0001}",
        ] {
            assert!(protected_name(name, false), "{name:?}");
        }
        assert!(protected_name(".cor\u{2060}don", true));
        assert!(!protected_name(".cor\u{2060}don", false));
        for name in [
            ".gitx",
            "git",
            ".g\u{301}it",
            ".g\u{131}t",
            "\u{ff0e}git",
            ".gitignore",
        ] {
            assert!(!protected_name(name, false), "{name:?}");
        }
        assert_eq!(folded_name("ref\u{17f}"), "refs");
        assert_eq!(folded_name("HEAD\u{200d}. "), "HEAD");
    }

    #[test]
    fn cwd_must_stay_inside_by_components() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("proj");
        let evil = base.path().join("proj-evil");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(&evil).unwrap();
        let p = SandboxPolicy::new(&root, Some(Path::new("src")), SandboxMode::ReadOnly).unwrap();
        assert_eq!(p.cwd(), Path::new("src"));
        let err = SandboxPolicy::new(&root, Some(&evil), SandboxMode::ReadOnly).unwrap_err();
        assert!(matches!(err, PolicyError::CwdOutsideRoot { .. }), "{err}");
        let err = SandboxPolicy::new(
            &root,
            Some(Path::new("../proj-evil")),
            SandboxMode::ReadOnly,
        )
        .unwrap_err();
        assert!(matches!(err, PolicyError::CwdOutsideRoot { .. }), "{err}");
    }

    #[test]
    fn cwd_symlink_out_of_root_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("proj");
        std::fs::create_dir_all(&root).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.path(), root.join("up")).unwrap();
        #[cfg(unix)]
        assert!(matches!(
            SandboxPolicy::new(&root, Some(Path::new("up")), SandboxMode::ReadOnly),
            Err(PolicyError::CwdOutsideRoot { .. })
        ));
    }

    #[test]
    fn root_must_be_a_directory_and_not_slash() {
        let base = tempfile::tempdir().unwrap();
        let file = base.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            SandboxPolicy::new(&file, None, SandboxMode::ReadOnly),
            Err(PolicyError::RootNotDirectory(_))
        ));
        assert!(matches!(
            SandboxPolicy::new(Path::new("/"), None, SandboxMode::ReadOnly),
            Err(PolicyError::RootIsFilesystemRoot(_))
        ));
        assert!(matches!(
            SandboxPolicy::new(&base.path().join("missing"), None, SandboxMode::ReadOnly),
            Err(PolicyError::RootUnreadable { .. })
        ));
    }

    #[test]
    fn env_needs_key_and_equals() {
        let base = tempfile::tempdir().unwrap();
        let mut p = SandboxPolicy::new(base.path(), None, SandboxMode::ReadOnly).unwrap();
        p.push_env("A=1").unwrap();
        p.push_env("A=2").unwrap();
        assert_eq!(p.env(), &[("A".to_string(), "2".to_string())]);
        assert!(p.push_env("=x").is_err());
        assert!(p.push_env("novalue").is_err());
    }
}
