//! Setup shared by the end-to-end tests: the built `cordon` binary, test
//! guests (Rust, built once per test run for wasip1 and wasip2; WAT,
//! compiled on the spot), project layouts, snapshots of a tree (contents
//! and metadata), and skips, which are counted and, under `CI=true`, fail.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};

/// Which WASI the probe guest was built for.
#[derive(Clone, Copy, Debug)]
pub enum Wasi {
    P1,
    P2,
}

pub const BOTH: [Wasi; 2] = [Wasi::P1, Wasi::P2];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The probe guest (fixtures/guests/probe), built once per test run.
pub fn probe(wasi: Wasi) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let target_dir = BUILT.get_or_init(|| {
        // Beside the host's build, CARGO_TARGET_DIR or not.
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(repo().join("fixtures/guests/probe/Cargo.toml"))
            .args(["--target", "wasm32-wasip1", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .expect("running cargo to build the probe guest");
        assert!(
            status.success(),
            "building the probe guest failed; the wasm targets may be missing: \
             rustup target add wasm32-wasip1 wasm32-wasip2"
        );
        target_dir
    });
    let triple = match wasi {
        Wasi::P1 => "wasm32-wasip1",
        Wasi::P2 => "wasm32-wasip2",
    };
    target_dir.join(triple).join("release/probe.wasm")
}

/// Compiles WAT text to a .wasm file in `dir`.
pub fn wat_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let bytes = wat::parse_str(text).expect("valid WAT");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// One compile cache for the whole test run, warmed (`cordon warm`) before
/// the first test uses it: each guest compiles once, and no test's stderr
/// holds the first compile's line.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let warmed = Command::new(env!("CARGO_BIN_EXE_cordon"))
            .arg("warm")
            .arg("--cache-dir")
            .arg(dir.path())
            .output()
            .expect("running cordon warm");
        assert!(warmed.status.success(), "{warmed:?}");
        dir
    })
    .path()
}

/// A rules file that allows `rm` in every form (recursive and forced `rm`
/// otherwise need approval), for tests that exercise `rm` itself.
pub fn allow_rm_rules() -> &'static Path {
    static FILE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = FILE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow-rm.toml");
        std::fs::write(&path, "[[rule]]\nprefix = [\"rm\"]\ndecision = \"allow\"\n").unwrap();
        (dir, path)
    });
    path
}

/// A project layout in a fresh temporary directory:
///
/// ```text
/// base/
///   proj/            the root: a.txt, src/main.rs, .git/HEAD, .git/hooks/
///   proj-evil/       a sibling sharing the root's prefix: secret.txt
///   outside/         secret.txt
/// ```
pub struct Layout {
    _tmp: tempfile::TempDir,
    pub base: PathBuf,
    pub root: PathBuf,
}

impl Layout {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root = base.join("proj");
        for dir in ["proj/src", "proj/.git/hooks", "proj-evil", "outside"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        for (file, text) in [
            ("proj/a.txt", "alpha\n"),
            ("proj/src/main.rs", "fn main() {}\n"),
            ("proj/.git/HEAD", "ref: refs/heads/main\n"),
            ("proj-evil/secret.txt", "evil secret\n"),
            ("outside/secret.txt", "outside secret\n"),
        ] {
            std::fs::write(base.join(file), text).unwrap();
        }
        Layout {
            _tmp: tmp,
            base,
            root,
        }
    }

    /// Path of `rel` inside the root.
    pub fn at(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Everything under base/ except the root (see [`snapshot`]).
    pub fn outside(&self) -> Snapshot {
        let mut seen = BTreeMap::new();
        walk(&self.base, &self.base, Some(&self.root), &mut seen);
        seen
    }

    /// Everything under the root (see [`snapshot`]).
    pub fn inside(&self) -> Snapshot {
        snapshot(&self.root)
    }

    /// `cordon run --root proj` with the shared cache, then `args`.
    pub fn cordon(&self) -> Cordon {
        let mut cmd = cordon();
        cmd.arg("run")
            .arg("--root")
            .arg(&self.root)
            .arg("--cache-dir")
            .arg(cache_dir());
        Cordon(cmd)
    }
}

/// Every path under a directory (relative to it), with what a write could
/// change there.
pub type Snapshot = BTreeMap<PathBuf, Entry>;

/// One path of a [`Snapshot`]: its kind and contents, mode, owner,
/// modification and change times to the nanosecond, and extended
/// attributes. Not the access time, which reads change; any change to the
/// rest of the inode moves the change time.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// `dir`, `file [bytes]`, `link -> TARGET`, or another kind's name.
    pub what: String,
    /// Octal, with the kind's bits.
    pub mode: String,
    pub owner: (u32, u32),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    /// Name -> value, of the path itself (never a link's target).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Everything under `dir`.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut seen = BTreeMap::new();
    walk(dir, dir, None, &mut seen);
    seen
}

/// Adds what lies under `dir` to `seen`, named relative to `base`, leaving
/// out `except` and what it holds.
fn walk(base: &Path, dir: &Path, except: Option<&Path>, seen: &mut Snapshot) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if Some(path.as_path()) == except {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        let what = if kind.is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if kind.is_dir() {
            walk(base, &path, except, seen);
            "dir".to_string()
        } else if kind.is_file() {
            format!("file {:?}", std::fs::read(&path).unwrap())
        } else {
            // A socket or a device: opening it could block.
            format!("{kind:?}")
        };
        let entry = Entry {
            what,
            mode: format!("{:o}", meta.mode()),
            owner: (meta.uid(), meta.gid()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
            xattrs: xattrs(&path),
        };
        seen.insert(path.strip_prefix(base).unwrap().to_path_buf(), entry);
    }
}

/// The extended attributes of `path` itself.
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: each call writes at most `len` bytes to `buf`.
    let names = sized(|buf, len| unsafe { xattr::list(&path, buf, len) });
    names
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = CString::new(name).unwrap();
            // SAFETY: as above.
            let value = sized(|buf, len| unsafe { xattr::get(&path, &name, buf, len) });
            (name.to_string_lossy().into_owned(), value)
        })
        .collect()
}

/// What `call` fills in: asked for the size first (a null buffer), then
/// again if the value grew in between. A file system without extended
/// attributes has none.
fn sized(call: impl Fn(*mut libc::c_void, usize) -> isize) -> Vec<u8> {
    loop {
        let mut buf = Vec::new();
        let mut got = call(std::ptr::null_mut(), 0);
        if let Ok(size) = usize::try_from(got) {
            buf.resize(size, 0);
            got = call(buf.as_mut_ptr().cast(), size);
        }
        if let Ok(len) = usize::try_from(got) {
            buf.truncate(len);
            return buf;
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::ERANGE) => continue,
            Some(libc::ENOTSUP) => return Vec::new(),
            _ => panic!("reading extended attributes: {error}"),
        }
    }
}

/// The two calls [`xattrs`] makes, never following a symlink.
#[cfg(target_os = "linux")]
mod xattr {
    use std::ffi::CStr;

    pub unsafe fn list(path: &CStr, buf: *mut libc::c_void, len: usize) -> isize {
        unsafe { libc::llistxattr(path.as_ptr(), buf.cast(), len) }
    }

    pub unsafe fn get(path: &CStr, name: &CStr, buf: *mut libc::c_void, len: usize) -> isize {
        unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf, len) }
    }
}

#[cfg(target_os = "macos")]
mod xattr {
    use std::ffi::CStr;

    pub unsafe fn list(path: &CStr, buf: *mut libc::c_void, len: usize) -> isize {
        unsafe { libc::listxattr(path.as_ptr(), buf.cast(), len, libc::XATTR_NOFOLLOW) }
    }

    pub unsafe fn get(path: &CStr, name: &CStr, buf: *mut libc::c_void, len: usize) -> isize {
        unsafe {
            libc::getxattr(
                path.as_ptr(),
                name.as_ptr(),
                buf,
                len,
                0,
                libc::XATTR_NOFOLLOW,
            )
        }
    }
}

/// The HOME of every process the tests start: a regression must not
/// reach the real one (a `~/.bashrc` the host opens itself, say).
pub fn home() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// `program` with the test run's own HOME, compile cache and an empty
/// user config (no user rules, nothing trusted).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("HOME", home())
        .env("XDG_CACHE_HOME", cache_dir())
        .env("XDG_CONFIG_HOME", cache_dir().join("no-config"));
    cmd
}

/// The built `cordon` binary, started as [`command`] starts programs.
pub fn cordon() -> Command {
    command(env!("CARGO_BIN_EXE_cordon"))
}

/// A `cordon run` being assembled.
pub struct Cordon(pub Command);

impl Cordon {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(args);
        self
    }

    /// Runs `probe ACTION...` built for `wasi`.
    pub fn probe(mut self, wasi: Wasi, action: &[&str]) -> Run {
        self.0.arg("--").arg(probe(wasi)).args(action);
        self.output()
    }

    /// Runs the .wasm at `path` with `args`.
    pub fn wasm(mut self, path: &Path, args: &[&str]) -> Run {
        self.0.arg("--").arg(path).args(args);
        self.output()
    }

    pub fn output(mut self) -> Run {
        Run(self.0.output().expect("running cordon"))
    }

    /// Runs with `input` on stdin.
    pub fn output_with_stdin(mut self, input: &[u8]) -> Run {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .0
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running cordon");
        child.stdin.take().unwrap().write_all(input).unwrap();
        Run(child.wait_with_output().expect("waiting for cordon"))
    }
}

/// What a finished `cordon` run printed and returned.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exit code")
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Asserts exit code `code`, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }

    /// Asserts the probe reported a failed action.
    #[track_caller]
    pub fn expect_refused(&self) -> &Self {
        self.expect_code(1);
        assert!(self.stderr().contains("error:"), "{}", self.stderr());
        self
    }
}

/// `--approver script=FILE` answering `answers`; the file lives outside
/// the layout, which tests compare before and after.
pub fn script(answers: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = cache_dir().join(format!("answers-{n}.txt"));
    std::fs::write(&path, answers).unwrap();
    format!("script={}", path.display())
}

pub fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an audit line is JSON"))
        .collect()
}

pub fn events<'a>(lines: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    lines.iter().filter(|l| l["event"] == kind).collect()
}

/// Tests that may skip under `CI=true`, as (test, why it cannot run on the
/// CI machine). None: .ci/run installs everything the tests drive and runs
/// them as root.
const MAY_SKIP_IN_CI: &[(&str, &str)] = &[];

/// Why tests skipped (all or part of themselves) -> which tests.
static SKIPS: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

/// Records that the running test skips what needs `why` ("no bash").
/// Under `CI=true` that fails the test unless [`MAY_SKIP_IN_CI`] names it;
/// either way, the run ends with one line counting the skips.
#[track_caller]
pub fn skip(why: &str) {
    // The harness names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed)")
        .to_string();
    let allowed = MAY_SKIP_IN_CI.iter().any(|(name, _)| *name == test);
    if std::env::var("CI").as_deref() == Ok("true") && !allowed {
        panic!(
            "{test} skips ({why}), which fails under CI=true: install what it needs \
             (.ci/run does), or add it to MAY_SKIP_IN_CI in tests/e2e/support.rs with a reason"
        );
    }
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a function that takes no arguments.
        assert_eq!(unsafe { libc::atexit(print_skips) }, 0);
    });
    SKIPS
        .lock()
        .unwrap()
        .entry(why.to_string())
        .or_default()
        .insert(test);
}

/// Skips the running test (see [`skip`]) if one of `programs` does not
/// run here; says whether it did.
#[track_caller]
pub fn skip_without(programs: &[&str]) -> bool {
    let missing = programs
        .iter()
        .find(|program| command(program).arg("--version").output().is_err());
    if let Some(program) = missing {
        skip(&format!("no {program}"));
    }
    missing.is_some()
}

/// Writes the skips in one line, straight to descriptor 2: the harness
/// shows nothing that a passing test printed.
extern "C" fn print_skips() {
    let Ok(skips) = SKIPS.try_lock() else { return };
    let tests: BTreeSet<&String> = skips.values().flatten().collect();
    let reasons: Vec<String> = skips
        .iter()
        .map(|(why, tests)| {
            let names: Vec<&str> = tests.iter().map(String::as_str).collect();
            format!("{why}: {}", names.join(", "))
        })
        .collect();
    let plural = if tests.len() == 1 { "" } else { "s" };
    let line = format!(
        "cordon e2e: {} test{plural} skipped in whole or part ({})\n",
        tests.len(),
        reasons.join("; ")
    );
    // SAFETY: writes `line`'s bytes, which outlive the call.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// The processes whose command line holds `marker`.
pub fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}
