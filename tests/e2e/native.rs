//! Escape attempts from native commands under the OS sandbox (Linux). Each
//! names the attack, asserts the refusal, and asserts that nothing outside
//! the allowed area changed. The filesystem attempts run three ways: as
//! root, as an unprivileged user (setpriv), and with Landlock and seccomp
//! alone (--no-namespaces).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::support::{Layout, Run, allow_rm_rules, skip, skip_without};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Who {
    Root,
    Nobody,
    LandlockOnly,
    /// Unprivileged and with Landlock and seccomp alone.
    NobodyLandlockOnly,
}

const NOBODY: u32 = 65534;

pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// [`everyone`] and, where it can run, the unprivileged user with
/// Landlock and seccomp alone.
pub(crate) fn everyone_and_unprivileged_landlock() -> Vec<Who> {
    let mut all = everyone();
    if all.contains(&Who::Nobody) {
        all.push(Who::NobodyLandlockOnly);
    }
    all
}

/// The ways this machine can run the tests: the unprivileged user needs
/// root (to drop from) and setpriv; without them the running test skips
/// those runs.
pub(crate) fn everyone() -> Vec<Who> {
    let mut all = vec![Who::Root, Who::LandlockOnly];
    if !is_root() {
        skip("the unprivileged runs need root");
    } else if !skip_without(&["setpriv"]) {
        all.push(Who::Nobody);
    }
    all
}

/// Gives the layout to `who` (the unprivileged user, who must write the
/// root), as its runs need it. Only what is not the user's yet changes,
/// so that a snapshot taken after this call holds through the run.
pub(crate) fn hand_over(l: &Layout, who: Who) {
    if matches!(who, Who::Nobody | Who::NobodyLandlockOnly) {
        give_to_nobody(&l.base);
    }
}

fn give_to_nobody(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    if (meta.uid(), meta.gid()) != (NOBODY, NOBODY) {
        std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            give_to_nobody(&entry.unwrap().path());
        }
    }
}

/// The unprivileged user's HOME, which also holds the files its runs read
/// (the test run's own HOME is root's alone).
fn unprivileged_home() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(allow_rm_rules(), dir.path().join("allow-rm.toml")).unwrap();
        give_to_nobody(dir.path());
        dir
    })
    .path()
}

/// A rules file allowing every rm, readable by the unprivileged user too.
fn allow_rm_for_anyone() -> PathBuf {
    unprivileged_home().join("allow-rm.toml")
}

/// `cordon run [flags] -- sh -c SCRIPT` in the layout's root, as `who`.
pub(crate) fn sh(l: &Layout, who: Who, flags: &[&str], script: &str) -> Run {
    Run(sh_command(l, who, flags, script)
        .output()
        .expect("running cordon"))
}

/// The command [`sh`] runs, to be started by the caller.
pub(crate) fn sh_command(l: &Layout, who: Who, flags: &[&str], script: &str) -> Command {
    native_command(l, who, flags, &["sh", "-c", script])
}

/// `cordon run [flags] -- ARGV` in the layout's root, as `who`, with the
/// engine fixed to native: the line goes to the OS sandbox as written
/// (the broker still judges its commands), its redirections unchecked.
pub(crate) fn native_command(l: &Layout, who: Who, flags: &[&str], argv: &[&str]) -> Command {
    let mut cmd = run_as(l, who, flags);
    cmd.args(["--engine", "native", "--"]).args(argv);
    cmd
}

/// `cordon run [flags] -c LINE` in the layout's root, as `who`: each
/// stage of the line goes to its own engine.
pub(crate) fn line_command(l: &Layout, who: Who, flags: &[&str], line: &str) -> Command {
    let mut cmd = run_as(l, who, flags);
    cmd.arg("-c").arg(line);
    cmd
}

/// `cordon run --root ROOT [flags]` as `who`.
fn run_as(l: &Layout, who: Who, flags: &[&str]) -> Command {
    hand_over(l, who);
    let mut cmd = match who {
        Who::Nobody | Who::NobodyLandlockOnly => {
            let home = unprivileged_home();
            let mut c = crate::support::command("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_cordon"))
                .env("HOME", home)
                .env("XDG_CACHE_HOME", home.join("cache"))
                .env("XDG_CONFIG_HOME", home.join("no-config"));
            c
        }
        _ => crate::support::cordon(),
    };
    // rm -r/-f in the attack scripts would otherwise ask first.
    cmd.arg("run")
        .arg("--root")
        .arg(&l.root)
        .arg("--rules")
        .arg(allow_rm_for_anyone())
        .args(flags);
    if matches!(who, Who::LandlockOnly | Who::NobodyLandlockOnly) {
        cmd.arg("--no-namespaces");
    }
    cmd
}

/// A FIFO in the root that a command's processes hold open for writing,
/// read here without blocking: end-of-file once none of them runs. It and
/// the markers of [`Holders::hold`] lie in `procs/` (with Landlock alone
/// nothing new can be made at the root's top).
struct Holders {
    fifo: std::fs::File,
}

impl Holders {
    fn new(l: &Layout) -> Holders {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        let path = l.at("procs/held");
        std::fs::create_dir(l.at("procs")).unwrap();
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o666) }, 0);
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        Holders { fifo }
    }

    /// A shell command that runs `sleep` holding the FIFO and, once it
    /// does, makes the marker `procs/up.N` for [`Holders::wait`].
    fn hold(n: usize) -> String {
        format!("sh -c 'touch procs/up.{n}; exec sleep 300' > procs/held")
    }

    /// Shell that waits for the markers 1 to `n`.
    fn wait(n: usize) -> String {
        let all: Vec<String> = (1..=n).map(|i| format!("test -e procs/up.{i}")).collect();
        format!("until {}; do sleep 0.01; done", all.join(" && "))
    }

    /// Removes the markers, for another run.
    fn reset(l: &Layout, n: usize) {
        for i in 1..=n {
            let _ = std::fs::remove_file(l.at(&format!("procs/up.{i}")));
        }
    }

    /// Whether a process still holds the FIFO.
    fn any_left(&self) -> bool {
        match std::io::Read::read(&mut &self.fifo, &mut [0u8; 1]) {
            Ok(0) => false,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            other => panic!("nothing writes to the FIFO: {other:?}"),
        }
    }
}

#[test]
fn writes_inside_the_root_work_and_tmpdir_is_private() {
    for who in everyone() {
        let l = Layout::new();
        let run = sh(
            &l,
            who,
            &[],
            "echo hi > src/new.txt && cat src/new.txt && echo t > $TMPDIR/t && cat $TMPDIR/t \
             && echo $TMPDIR",
        );
        run.expect_code(0);
        let out = run.stdout();
        assert!(out.starts_with("hi\nt\n"), "{who:?}: {out}");
        // Gone with the run: a namespace's own tmpfs, or a directory the
        // supervisor removes. The next run starts with an empty one.
        let tmpdir = out.lines().nth(2).unwrap();
        let left = Path::new(tmpdir).join("t");
        assert!(!left.exists(), "{who:?}: {} left behind", left.display());
        let next = sh(&l, who, &[], "ls -A $TMPDIR");
        assert_eq!(next.stdout(), "", "{who:?}: {}", next.stderr());
        assert_eq!(
            std::fs::read_to_string(l.at("src/new.txt")).unwrap(),
            "hi\n"
        );
    }
}

#[test]
fn writes_outside_the_root_are_refused() {
    for who in everyone() {
        let l = Layout::new();
        hand_over(&l, who);
        let before = l.outside();
        let outside = l.base.join("outside");
        // Names of this layout's own in /etc and in /tmp itself.
        let unique = l.base.file_name().unwrap().to_str().unwrap();
        let etc = PathBuf::from(format!("/etc/cordon-e2e-{unique}"));
        let tmp = std::env::temp_dir().join(format!("cordon-e2e-{unique}"));
        let script = format!(
            "echo x > {o}/new.txt; echo x >> {o}/secret.txt; rm -f {o}/secret.txt; \
             mkdir {o}/d; echo x > {e}; echo x > {t}; chmod 777 {o}/secret.txt; \
             echo x > ../proj-evil/x; echo x > /proc/self/root{o}/alias.txt",
            o = outside.display(),
            e = etc.display(),
            t = tmp.display()
        );
        let run = sh(&l, who, &[], &script);
        let written: Vec<&PathBuf> = [&etc, &tmp].into_iter().filter(|p| p.exists()).collect();
        for path in &written {
            std::fs::remove_file(path).unwrap();
        }
        assert!(
            run.stderr().contains("cordon: sandbox refused a write"),
            "{who:?}: {}",
            run.stderr()
        );
        assert_eq!(l.outside(), before, "{who:?}");
        assert!(written.is_empty(), "{who:?}: wrote {written:?}");
    }
}

#[test]
fn protected_paths_stay_read_only_existing_or_not() {
    for who in everyone() {
        let l = Layout::new();
        std::fs::write(l.at(".git/config"), "[core]\n").unwrap();
        std::fs::create_dir_all(l.at("vendor/lib/.git")).unwrap();
        hand_over(&l, who);
        let before = l.inside();
        // Attack: rewrite .git/config, plant hooks, rename .git away and
        // recreate it, poison a nested repository's .git.
        let run = sh(
            &l,
            who,
            &[],
            "echo evil > .git/config; echo evil > .git/hooks/pre-commit; \
             mv .git .git-old; mkdir .git-new; mv .git-new .git; \
             echo evil > vendor/lib/.git/config; rm -rf vendor/lib/.git; \
             rm -rf .git-new .git-old; true",
        );
        run.expect_code(0);
        assert_eq!(l.inside(), before, "{who:?}: {}", run.stderr());

        // Absent .git and .cordon cannot be created either, by any name
        // for the root or any case, nor by renaming, linking or a FIFO.
        let l = Layout::new();
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        let run = sh(
            &l,
            who,
            &[],
            "mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; mkdir .cordon; \
             echo '[[rule]]' > .cordon/rules.toml; echo gitdir: /tmp > .git; \
             ln -s /tmp .cordon; (cd src && mkdir ../.cordon); mkdir ./src/../.CORDON; \
             mkdir \"$PWD/.Cordon.\"; mkfifo .cordon; mkdir made; mv made .cordon; \
             touch src/f; ln src/f .cordon; mv src/f .cordon; echo ok > fine.txt; \
             mkdir src/.cordon; true",
        );
        run.expect_code(0);
        assert!(!l.at(".git").exists(), "{who:?}: .git created");
        let made: Vec<_> = std::fs::read_dir(l.at(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_lowercase())
            .filter(|name| name.starts_with(".cordon"))
            .collect();
        assert!(made.is_empty(), "{who:?}: made {made:?}");
        if who != Who::LandlockOnly {
            // Landlock alone cannot create anything new at the root's top.
            assert!(l.at("fine.txt").exists(), "{who:?}: {}", run.stderr());
        }
        // Deeper down the name is an ordinary one.
        assert!(l.at("src/.cordon").is_dir(), "{who:?}: {}", run.stderr());
    }
}

#[test]
fn symlinks_out_of_the_root_do_not_carry_writes() {
    for who in everyone() {
        let l = Layout::new();
        std::os::unix::fs::symlink(l.base.join("outside"), l.at("src/link")).unwrap();
        std::os::unix::fs::symlink(l.base.join("outside/secret.txt"), l.at("src/file-link"))
            .unwrap();
        hand_over(&l, who);
        let before = l.outside();
        // Each attempt says so if it worked.
        let run = sh(
            &l,
            who,
            &[],
            "echo x > src/link/new.txt && echo new; echo x > src/file-link && echo file; \
             mkdir src/link/d && echo dir; echo done",
        );
        assert_eq!(run.expect_code(0).stdout(), "done\n", "{who:?}");
        assert_eq!(l.outside(), before, "{who:?}");
    }
}

#[test]
fn secrets_in_the_root_are_unreadable() {
    for who in everyone() {
        let l = Layout::new();
        std::fs::write(l.at(".env"), "API_TOKEN=sk-live-123\n").unwrap();
        std::fs::create_dir_all(l.at("deploy/.ssh")).unwrap();
        std::fs::write(l.at("deploy/.ssh/id_rsa"), "PRIVATE KEY\n").unwrap();
        std::fs::write(l.at("config.yaml"), "password: hunter2\n").unwrap();
        let run = sh(
            &l,
            who,
            &["--secret", "config.yaml"],
            "cat .env deploy/.ssh/id_rsa config.yaml /proc/self/root$PWD/.env; cat a.txt",
        );
        let out = run.stdout();
        assert!(out.contains("alpha"), "{who:?}: {out} {}", run.stderr());
        for secret in ["sk-live", "PRIVATE", "hunter2"] {
            assert!(!out.contains(secret), "{who:?} read {secret}: {out}");
        }
        // --allow-secret makes one readable again.
        let run = sh(&l, who, &["--allow-secret", ".env"], "cat .env");
        assert!(
            run.stdout().contains("sk-live"),
            "{who:?}: {}",
            run.stderr()
        );
    }
}

/// The stand-ins mounted over secrets live in cordon's per-user directory
/// and are kept between runs: one planted there (content where a secret
/// should read as nothing) is made again, and a directory others could
/// write to is refused before anything runs.
#[test]
fn planted_stand_ins_are_replaced_and_a_shared_user_dir_is_refused() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let l = Layout::new();
    std::fs::write(l.at(".env"), "API_TOKEN=sk-live-123\n").unwrap();
    std::fs::create_dir_all(l.at("deploy/.ssh")).unwrap();
    std::fs::write(l.at("deploy/.ssh/id_rsa"), "PRIVATE KEY\n").unwrap();
    let tmp = l.base.join("tmp");
    // SAFETY: geteuid cannot fail.
    let user_dir = tmp.join(format!("cordon-{}", unsafe { libc::geteuid() }));
    std::fs::create_dir_all(user_dir.join("mask-dir")).unwrap();
    std::fs::set_permissions(&user_dir, PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::write(user_dir.join("mask-file"), "planted\n").unwrap();
    std::fs::write(user_dir.join("mask-dir/planted"), "planted\n").unwrap();
    let run = |script: &str| {
        Run(crate::support::cordon()
            .env("TMPDIR", &tmp)
            .args(["run", "--engine", "native", "--root"])
            .arg(&l.root)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap())
    };
    let out = run("cat .env; ls -A deploy/.ssh; cat a.txt");
    assert!(out.stdout().contains("alpha"), "{}", out.stderr());
    for leak in ["planted", "sk-live", "id_rsa"] {
        assert!(!out.stdout().contains(leak), "{leak}: {}", out.stdout());
    }
    let file = std::fs::symlink_metadata(user_dir.join("mask-file")).unwrap();
    assert!(file.file_type().is_socket() && file.mode() & 0o777 == 0);
    let dir = std::fs::symlink_metadata(user_dir.join("mask-dir")).unwrap();
    assert!(dir.is_dir() && dir.mode() & 0o777 == 0);

    std::fs::set_permissions(&user_dir, PermissionsExt::from_mode(0o777)).unwrap();
    let before = l.inside();
    let out = run("echo ran > ran.txt");
    out.expect_code(125);
    assert!(
        out.stderr().contains("is not a private directory"),
        "{}",
        out.stderr()
    );
    assert_eq!(l.inside(), before, "the command ran");
}

/// A native command's stdout and stderr reach cordon's while it runs, not
/// when it ends: the command waits for a file the test makes only after
/// reading a line of each (--timeout ends a run that would wait forever).
#[test]
fn output_streams_while_the_command_runs() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for who in everyone() {
        let l = Layout::new();
        let mut child = sh_command(
            &l,
            who,
            &["--timeout", "30"],
            "echo out; echo err >&2; until test -e go; do sleep 0.02; done; echo done",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cordon");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        assert_eq!(out.next().unwrap().unwrap(), "out", "{who:?}");
        assert_eq!(err.next().unwrap().unwrap(), "err", "{who:?}");
        assert!(
            child.try_wait().unwrap().is_none(),
            "{who:?}: the output came only at the end"
        );
        std::fs::write(l.at("go"), "").unwrap();
        assert_eq!(out.next().unwrap().unwrap(), "done", "{who:?}");
        assert!(child.wait().unwrap().success(), "{who:?}");
    }
}

/// When cordon returns, nothing the command started runs any more, also
/// what it left in the background or moved out of its process group.
#[test]
fn nothing_the_command_started_outlives_cordon() {
    for who in everyone() {
        let l = Layout::new();
        let holders = Holders::new(&l);
        let script = format!(
            "{} & setsid {} & ({} &); {}; echo started",
            Holders::hold(1),
            Holders::hold(2),
            Holders::hold(3),
            Holders::wait(3)
        );
        // The deadline only ends a run whose markers never came.
        let run = sh(&l, who, &["--timeout", "600"], &script);
        assert_eq!(run.expect_code(0).stdout(), "started\n", "{who:?}");
        assert!(!holders.any_left(), "{who:?}: still running");
    }
}

/// A native command gets the user's environment (toolchains and virtual
/// environments behave as outside), less what looks like a credential by
/// its name or by its value; the audit and --verbose name what was left
/// out, never a value; --env-pass and --env-drop adjust.
#[test]
fn environment_is_the_users_less_credentials() {
    let l = Layout::new();
    let audit = l.base.join("outside/audit.jsonl");
    let run = |flags: &[&str]| {
        let mut cordon = l.cordon().args(flags).args(["--", "env"]);
        cordon
            .0
            .env("GITHUB_TOKEN", "ghp_leak")
            .env("MY_API_KEY", "key_leak")
            .env("BUILD_NOTE", "-----BEGIN OPENSSH PRIVATE KEY----- leak")
            .env("DATABASE_URL", "postgres://app:leak@db/app")
            .env("LC_PAPER", "$(leak)")
            .env("EDITOR", "vi")
            .env("PYENV_VERSION", "3.12.1")
            .env("VIRTUAL_ENV", "/opt/venv")
            .env("RUSTFLAGS", "-C debuginfo=0")
            .env("RUSTUP_AUTO_INSTALL", "0")
            .env("LANG", "C.UTF-8");
        cordon.output()
    };
    let audit_flag = format!("--audit={}", audit.display());
    let default = run(&["--verbose", &audit_flag]);
    default.expect_code(0);
    let out = default.stdout();
    assert!(!out.contains("leak"), "{out}");
    for kept in [
        "EDITOR=vi",
        "PYENV_VERSION=3.12.1",
        "VIRTUAL_ENV=/opt/venv",
        "RUSTFLAGS=-C debuginfo=0",
        "RUSTUP_AUTO_INSTALL=0",
        "LANG=C.UTF-8",
    ] {
        assert!(out.contains(kept), "{kept}: {out}");
    }
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(!log.contains("leak"), "{log}");
    let run_event: serde_json::Value = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .find(|event: &serde_json::Value| event["event"] == "run")
        .expect("a run event");
    let left_out = default
        .stderr()
        .lines()
        .find(|line| line.contains("host variables left out"))
        .unwrap_or_default()
        .to_string();
    for name in [
        "BUILD_NOTE",
        "DATABASE_URL",
        "GITHUB_TOKEN",
        "LC_PAPER",
        "MY_API_KEY",
    ] {
        assert!(left_out.split(' ').any(|n| n == name), "{name}: {left_out}");
        let recorded = run_event["env_dropped"].as_array().unwrap();
        assert!(recorded.iter().any(|n| n == name), "{name}: {run_event}");
    }
    let out = run(&["--env-pass", "GITHUB_TOKEN", "--env-drop", "PY*"]).stdout();
    assert!(
        out.contains("GITHUB_TOKEN=ghp_leak") && !out.contains("key_leak"),
        "{out}"
    );
    assert!(!out.contains("PYENV_VERSION"), "{out}");
    let bad = run(&["--env-drop", "["]);
    bad.expect_code(125);
    assert!(
        bad.stderr().starts_with("cordon: --env-drop ["),
        "{}",
        bad.stderr()
    );
}

/// Python that runs `attempt` and prints `ok`, or `refused` and the
/// errno's name.
fn python_attempt(attempt: &str) -> String {
    format!(
        "import errno, socket\ntry:\n  {attempt}\n  print('ok')\n\
         except OSError as e:\n  print('refused', errno.errorcode.get(e.errno, e.errno))"
    )
}

#[test]
fn network_is_off_unless_on() {
    if skip_without(&["python3"]) {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = python_attempt(&format!(
        "socket.create_connection(('127.0.0.1', {port}), timeout=2)"
    ));
    // No name lookup either: not even a socket to ask with.
    let socket = python_attempt("socket.socket(socket.AF_INET6)");
    let l = Layout::new();
    for flags in [&[][..], &["--no-namespaces"][..]] {
        for script in [&connect, &socket] {
            let run = l
                .cordon()
                .args(flags)
                .args(["--", "python3", "-c", script])
                .output();
            let out = run.expect_code(0).stdout();
            assert!(
                out.starts_with("refused "),
                "{flags:?}: {out}{}",
                run.stderr()
            );
        }
        assert!(
            listener.accept().is_err(),
            "{flags:?}: the listener saw a connection"
        );
    }
    let run = l
        .cordon()
        .args(["--network", "on", "--", "python3", "-c", &connect])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "ok\n");
    assert!(listener.accept().is_ok(), "the granted connection arrived");
}

#[test]
fn unix_sockets_outside_the_root_are_unreachable() {
    if skip_without(&["python3"]) {
        return;
    }
    let l = Layout::new();
    let path = l.base.join("outside/host.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let script = python_attempt(&format!(
        "socket.socket(socket.AF_UNIX).connect('{}')",
        path.display()
    ));
    for flags in [&[][..], &["--no-namespaces"][..]] {
        let run = l
            .cordon()
            .args(flags)
            .args(["--", "python3", "-c", &script])
            .output();
        let out = run.expect_code(0).stdout();
        assert!(
            out.starts_with("refused "),
            "{flags:?}: {out}{}",
            run.stderr()
        );
        assert!(
            listener.accept().is_err(),
            "{flags:?}: the host socket saw a connection"
        );
    }
}

/// `syscall(nr, args...)` from python's ctypes; prints the errno name.
fn raw_syscall(l: &Layout, call: &str) -> Run {
    let script = format!(
        "import ctypes, errno, os\nlibc=ctypes.CDLL(None, use_errno=True)\n\
         r=libc.syscall({call})\nprint(r, errno.errorcode.get(ctypes.get_errno(), 0))"
    );
    l.cordon().args(["--", "python3", "-c", &script]).output()
}

/// System call numbers are x86_64's.
#[cfg(target_arch = "x86_64")]
#[test]
fn dangerous_system_calls_are_refused() {
    if skip_without(&["python3"]) {
        return;
    }
    let l = Layout::new();
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() };
    for (attack, call) in [
        (
            "io_uring_setup",
            "425, 8, ctypes.create_string_buffer(120)".to_string(),
        ),
        (
            "ptrace(PTRACE_ATTACH, parent)",
            format!("101, 16, {parent}, 0, 0"),
        ),
        ("unshare(CLONE_NEWUSER)", "272, 0x10000000".to_string()),
        // Flags in memory, out of the filter's reach: refused whole.
        (
            "clone3(CLONE_NEWUSER)",
            "435, ctypes.create_string_buffer(__import__('struct').pack('11Q', \
             0x10000000, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0), 88), 88"
                .to_string(),
        ),
        // The x32 ABI: the same call with bit 30 set in its number.
        (
            "x32 unshare(CLONE_NEWUSER)",
            "0x40000000 | 272, 0x10000000".to_string(),
        ),
        ("bpf", "321, 0, 0, 0".to_string()),
        ("keyctl", "250, 0, 0, 0".to_string()),
        ("mount", "165, 0, 0, 0, 0, 0".to_string()),
        (
            "TIOCSTI",
            "16, 0, 0x5412, ctypes.c_char_p(b'x')".to_string(),
        ),
    ] {
        let run = raw_syscall(&l, &call);
        assert!(
            run.stdout().starts_with("-1 EPERM") || run.stdout().starts_with("-1 ENOSYS"),
            "{attack}: {} {}",
            run.stdout(),
            run.stderr()
        );
    }
}

#[test]
fn host_processes_cannot_be_seen_or_signalled() {
    let mut victim = crate::support::command("sleep").arg("300").spawn().unwrap();
    let l = Layout::new();
    for who in [Who::Root, Who::LandlockOnly] {
        let run = sh(&l, who, &[], &format!("kill -9 {}; echo $?", victim.id()));
        assert_eq!(run.expect_code(0).stdout(), "1\n", "{who:?}");
        assert!(
            victim.try_wait().unwrap().is_none(),
            "{who:?}: the host process was killed"
        );
    }
    let run = sh(
        &l,
        Who::Root,
        &[],
        &format!(
            "test -e /proc/{} && echo visible || echo hidden",
            victim.id()
        ),
    );
    assert_eq!(run.expect_code(0).stdout(), "hidden\n");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    for who in everyone() {
        let l = Layout::new();
        let holders = Holders::new(&l);
        // A fork storm: children, grandchildren, one escaping its process
        // group with setsid, then more until the deadline.
        let children: Vec<String> = (1..=8)
            .map(|n| format!("({} &)", Holders::hold(n)))
            .collect();
        let script = format!(
            "{}; setsid {} & {}; echo started; \
             while true; do sleep 300 > procs/held & sleep 0.05; done",
            children.join("; "),
            Holders::hold(9),
            Holders::wait(9)
        );
        // The deadline must fall after the storm started: a machine too
        // slow for that gets a longer one.
        let started = [1, 4, 16, 64].into_iter().any(|secs| {
            Holders::reset(&l, 9);
            let run = sh(&l, who, &["--timeout", &secs.to_string()], &script);
            run.expect_code(124);
            run.stdout() == "started\n"
        });
        assert!(started, "{who:?}: the storm never started");
        assert!(!holders.any_left(), "{who:?}: survivors");
    }
}

#[test]
fn engine_choice_and_refusals() {
    let l = Layout::new();
    let run = |args: &[&str]| l.cordon().args(args).output();
    // A native program is not a WASI tool.
    run(&["--engine", "wasi", "--", "uname"]).expect_code(127);
    run(&["--", "no-such-program-anywhere"]).expect_code(127);
    // A path to a native program runs natively; to a wasm file, in wasmtime.
    run(&["--", "/bin/sh", "-c", "exit 3"]).expect_code(3);
    // --engine native runs the host's grep instead of the built-in one.
    let native = run(&["--engine", "native", "--", "grep", "--version"]);
    native.expect_code(0);
    assert!(native.stdout().contains("GNU grep"), "{}", native.stdout());
    // full-access would be unsandboxed: it needs a person's approval.
    let full = run(&["--sandbox", "full-access", "--", "sh", "-c", "true"]);
    full.expect_code(126);
    assert!(full.stderr().starts_with("cordon: "), "{}", full.stderr());
    // Deterministic runs refuse native commands unless allowed.
    run(&[
        "--deterministic",
        "--engine",
        "native",
        "--",
        "sh",
        "-c",
        "true",
    ])
    .expect_code(126);
    // A line of WASI tools stays deterministic.
    run(&["--deterministic", "-c", "true && echo ok"]).expect_code(0);
    run(&[
        "--deterministic",
        "--allow-native",
        "--",
        "sh",
        "-c",
        "true",
    ])
    .expect_code(0);
    // read-only: nothing in the root is writable.
    let before = l.inside();
    let read_only = run(&[
        "--sandbox",
        "read-only",
        "--engine",
        "native",
        "--",
        "sh",
        "-c",
        "echo x > a.txt && echo wrote; echo x > new && echo made; echo done",
    ]);
    assert_eq!(read_only.expect_code(0).stdout(), "done\n");
    assert_eq!(l.inside(), before);
}

/// A threaded host cannot fork into namespaces; it re-executes `cordon` as
/// the helper with the plan as JSON and a status pipe on fd 3. That
/// protocol, end to end: layers reported, the policy enforced.
#[test]
fn the_re_executed_helper_reports_layers_and_enforces_the_plan() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    let l = Layout::new();
    std::fs::write(l.at(".env"), "TOKEN=sk-live\n").unwrap();
    let masks = tempfile::tempdir().unwrap();
    std::fs::write(masks.path().join("file"), "").unwrap();
    std::fs::create_dir(masks.path().join("dir")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = l.root.display().to_string();
    let spec = serde_json::json!({
        "plan": {
            "program": "/bin/sh",
            "argv": ["sh", "-c", "echo hi > new.txt; cat .env; echo x > .git/HEAD; cat new.txt"],
            "cwd": root,
            "env": [["PATH", "/usr/bin:/bin"]],
            "writable": [root],
            "protected": [format!("{root}/.git"), format!("{root}/.cordon")],
            "secrets": [format!("{root}/.env")],
            "network": "off",
            "no_namespaces": false,
            "limits": {"memory_bytes": null, "processes": 64},
        },
        "tmpdir": tmp.path(),
        "mask_file": masks.path().join("file"),
        "mask_dir": masks.path().join("dir"),
        "cgroup_join": [],
        "cgroup_layer": null,
    });
    let mut fds = [0; 2];
    // SAFETY: pipe fills both descriptors; each is owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let raw = write_end.as_raw_fd();
    let mut cmd = crate::support::cordon();
    cmd.arg("__native-sandbox").arg(spec.to_string());
    // SAFETY: dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would leave close-on-exec set.
            if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else {
                libc::dup2(raw, 3);
            }
            Ok(())
        });
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(write_end);
    let mut status = String::new();
    std::fs::File::from(read_end)
        .read_to_string(&mut status)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(status.contains("layer namespaces("), "{status}");
    assert!(
        status.contains("layer landlock(") && status.contains("layer seccomp("),
        "{status}"
    );
    // No control group was handed over: the limits hold per process.
    assert!(status.contains("layer limits(rlimits"), "{status}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        std::fs::read_to_string(l.at(".git/HEAD")).unwrap(),
        "ref: refs/heads/main\n"
    );
}

#[test]
fn the_hosts_terminals_are_not_in_the_sandbox() {
    let l = Layout::new();
    let run = sh(&l, Who::Root, &[], "ls /dev/pts");
    assert_eq!(run.expect_code(0).stdout(), "ptmx\n");
    // Without namespaces they are the host's: not opened, though this
    // user opens them outside the sandbox.
    let open = ["/dev/ptmx", "/dev/pts/ptmx"]
        .map(|t| {
            format!("{{ true <> {t}; }} 2>/dev/null && echo '{t} opened' || echo '{t} refused'")
        })
        .join("; ");
    let host = crate::support::command("sh")
        .args(["-c", &open])
        .output()
        .unwrap();
    let opened = String::from_utf8_lossy(&host.stdout);
    if opened != "/dev/ptmx opened\n/dev/pts/ptmx opened\n" {
        return skip(&format!("the host's terminals do not open here: {opened}"));
    }
    let run = sh(&l, Who::LandlockOnly, &[], &open);
    assert_eq!(
        run.expect_code(0).stdout(),
        "/dev/ptmx refused\n/dev/pts/ptmx refused\n",
        "{}",
        run.stderr()
    );
}

#[test]
fn cordons_own_config_is_protected_when_it_is_in_the_root() {
    let l = Layout::new();
    let config = l.at("home/.config");
    std::fs::create_dir_all(&config).unwrap();
    let mut cordon = l.cordon().args([
        "--engine",
        "native",
        "--",
        "sh",
        "-c",
        "mkdir -p home/.config/cordon; echo '[[rule]]' > home/.config/cordon/rules.toml; true",
    ]);
    cordon.0.env("XDG_CONFIG_HOME", &config);
    let run = cordon.output();
    run.expect_code(0);
    assert!(
        !config.join("cordon/rules.toml").exists(),
        "{}",
        run.stderr()
    );
}

/// Attack: plant compiled code in cordon's compile cache (here inside the
/// root) so that cordon runs it next time. The cache stays read-only for
/// native commands wherever it lies.
#[test]
fn the_compile_cache_is_read_only_for_native_commands() {
    let l = Layout::new();
    let cache = l.at("cordon-cache");
    let cordon_with_cache = || {
        let mut c = crate::support::cordon();
        c.arg("run")
            .arg("--root")
            .arg(&l.root)
            .arg("--cache-dir")
            .arg(&cache);
        c
    };
    // A WASI run fills the cache first.
    let fill = cordon_with_cache()
        .args(["--", "cat", "a.txt"])
        .output()
        .unwrap();
    assert!(fill.status.success());
    let stored: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let target = &stored[0];
    // What cordon itself remembers there of the root's walk is left out.
    let snapshot = || {
        let mut all = crate::support::snapshot(&cache);
        all.retain(|path, _| !path.starts_with("walks"));
        all
    };
    let before = snapshot();
    // Each attempt says so if it worked.
    let script = format!(
        "echo evil > {} && echo replaced; echo evil > cordon-cache/new.cwasm && echo planted; \
         echo done",
        target.display()
    );
    let run = Run(cordon_with_cache()
        .args(["--engine", "native", "--", "sh", "-c", &script])
        .output()
        .unwrap());
    assert_eq!(run.expect_code(0).stdout(), "done\n");
    assert_eq!(snapshot(), before);
}

/// Attack: take the supervisor's descriptors (its seccomp listener above
/// all: answering its own calls with "continue", a command would make any
/// name and, without namespaces, change metadata anywhere) with
/// pidfd_getfd or through /proc/PID/fd, from every process above the
/// command; or set its limits (RLIMIT_CPU would have it killed).
#[test]
fn a_command_cannot_take_the_supervisors_descriptors() {
    if skip_without(&["python3"]) {
        return;
    }
    let attack = r#"
import ctypes, os, resource, time
libc = ctypes.CDLL(None, use_errno=True)
PIDFD_OPEN, PIDFD_GETFD = 434, 438
def ancestors():
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        yield pid
taken, errors = [], set()
deadline = time.time() + 2
while time.time() < deadline and not taken:
    for pid in set(ancestors()) | {1}:
        pidfd = libc.syscall(PIDFD_OPEN, pid, 0)
        if pidfd < 0:
            errors.add(ctypes.get_errno())
            continue
        for fd in range(64):
            got = libc.syscall(PIDFD_GETFD, pidfd, fd, 0)
            if got >= 0:
                taken.append(os.readlink(f"/proc/self/fd/{got}"))
            else:
                errors.add(ctypes.get_errno())
        os.close(pidfd)
        for fd in range(64):
            try:
                taken.append(os.readlink(f"/proc/self/fd/{os.open(f'/proc/{pid}/fd/{fd}', os.O_PATH)}"))
            except OSError as e:
                errors.add(e.errno)
    time.sleep(0.01)
limited = []
for pid in set(ancestors()) | {1}:
    try:
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, resource.RLIM_INFINITY))
        limited.append(pid)
    except OSError as e:
        errors.add(e.errno)
print("taken", taken)
print("limited", limited)
print("errors", sorted(errors))
"#;
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        let mut command = native_command(&l, who, &[], &["python3", "-c", attack]);
        let before = l.outside();
        let run = Run(command.output().expect("running cordon"));
        let out = run.expect_code(0).stdout();
        assert!(
            out.starts_with("taken []\nlimited []\n"),
            "{who:?}: {out}{}",
            run.stderr()
        );
        assert_eq!(l.outside(), before, "{who:?}");
    }
}
