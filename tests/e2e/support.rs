//! Setup shared by the end-to-end tests: the built `cordon` binary, test
//! guests (Rust, built once per test run for wasip1 and wasip2; WAT,
//! compiled on the spot), project layouts, and snapshots of what lies
//! outside the root.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        let target_dir = repo().join("target/guests");
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

/// One compile cache for the whole test run, so each guest compiles once.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
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

    /// Everything under base/ except the root: names, kinds, contents.
    pub fn outside(&self) -> BTreeMap<PathBuf, String> {
        let mut seen = BTreeMap::new();
        snapshot(&self.base, &self.base, Some(&self.root), &mut seen);
        seen
    }

    /// Everything under the root.
    pub fn inside(&self) -> BTreeMap<PathBuf, String> {
        let mut seen = BTreeMap::new();
        snapshot(&self.root, &self.root, None, &mut seen);
        seen
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

fn snapshot(base: &Path, dir: &Path, skip: Option<&Path>, seen: &mut BTreeMap<PathBuf, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if Some(path.as_path()) == skip {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(base).unwrap().to_path_buf();
        let what = if meta.is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            snapshot(base, &path, skip, seen);
            "dir".to_string()
        } else {
            format!("file {:?}", std::fs::read(&path).unwrap())
        };
        seen.insert(rel, what);
    }
}

/// The built `cordon` binary, with a scrubbed cache location and an empty
/// user config (no user rules, nothing trusted).
pub fn cordon() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
    cmd.env("XDG_CACHE_HOME", cache_dir())
        .env("XDG_CONFIG_HOME", cache_dir().join("no-config"));
    cmd
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

/// Whether `program` runs here (tests that need it skip, saying so).
pub fn installed(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}
