//! Escape attempts from native commands under the OS sandbox (Linux). Each
//! names the attack, asserts the refusal, and asserts that nothing outside
//! the allowed area changed. The filesystem attempts run three ways: as
//! root, as an unprivileged user (setpriv), and with Landlock and seccomp
//! alone (--no-namespaces).

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::support::{Layout, Run, allow_rm_rules, installed};

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

/// The ways this machine can run the tests: unprivileged needs root (to
/// drop from) and setpriv.
/// [`everyone`] and, where it can run, the unprivileged user with
/// Landlock and seccomp alone.
pub(crate) fn everyone_and_unprivileged_landlock() -> Vec<Who> {
    let mut all = everyone();
    if all.contains(&Who::Nobody) {
        all.push(Who::NobodyLandlockOnly);
    }
    all
}

pub(crate) fn everyone() -> Vec<Who> {
    let mut all = vec![Who::Root, Who::LandlockOnly];
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if is_root() && setpriv {
        all.push(Who::Nobody);
    } else {
        eprintln!("skipping the unprivileged runs: needs root and setpriv");
    }
    all
}

fn chown_tree(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A rules file allowing every rm, readable by the unprivileged user too.
fn allow_rm_for_anyone() -> &'static Path {
    static FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("cordon-e2e-allow-rm-{}.toml", std::process::id()));
        std::fs::copy(allow_rm_rules(), &path).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        path
    })
}

/// `cordon run [flags] -- sh -c SCRIPT` in the layout's root, as `who`.
pub(crate) fn sh(l: &Layout, who: Who, flags: &[&str], script: &str) -> Run {
    Run(sh_command(l, who, flags, script)
        .output()
        .expect("running cordon"))
}

/// The command [`sh`] runs, to be started by the caller.
pub(crate) fn sh_command(l: &Layout, who: Who, flags: &[&str], script: &str) -> Command {
    let mut cmd = match who {
        Who::Nobody | Who::NobodyLandlockOnly => {
            chown_tree(&l.base);
            let mut c = Command::new("setpriv");
            c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_cordon"));
            c
        }
        _ => Command::new(env!("CARGO_BIN_EXE_cordon")),
    };
    // The line goes to the OS sandbox as written: no routing, no
    // redirection checks before it runs.
    // rm -r/-f in the attack scripts would otherwise ask first.
    cmd.arg("run")
        .arg("--root")
        .arg(&l.root)
        .args(["--engine", "native", "--rules"])
        .arg(allow_rm_for_anyone())
        .args(flags);
    if matches!(who, Who::LandlockOnly | Who::NobodyLandlockOnly) {
        cmd.arg("--no-namespaces");
    }
    cmd.args(["--", "sh", "-c", script]);
    cmd
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
        let before = l.outside();
        let outside = l.base.join("outside");
        let tmp_probe = std::env::temp_dir().join(format!("cordon-e2e-{}", std::process::id()));
        let script = format!(
            "echo x > {o}/new.txt; echo x >> {o}/secret.txt; rm -f {o}/secret.txt; \
             mkdir {o}/d; echo x > /etc/cordon-e2e; echo x > {t}; chmod 777 {o}/secret.txt; \
             echo x > ../proj-evil/x; echo x > /proc/self/root{o}/alias.txt",
            o = outside.display(),
            t = tmp_probe.display()
        );
        let run = sh(&l, who, &[], &script);
        assert!(
            run.stderr().contains("cordon: sandbox refused a write"),
            "{who:?}: {}",
            run.stderr()
        );
        assert_eq!(l.outside(), before, "{who:?}");
        assert!(!Path::new("/etc/cordon-e2e").exists());
        assert!(!tmp_probe.exists(), "{who:?}: wrote /tmp itself");
    }
}

#[test]
fn protected_paths_stay_read_only_existing_or_not() {
    for who in everyone() {
        let l = Layout::new();
        std::fs::write(l.at(".git/config"), "[core]\n").unwrap();
        std::fs::create_dir_all(l.at("vendor/lib/.git")).unwrap();
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

        // Absent .git and .cordon cannot be created either.
        let l = Layout::new();
        std::fs::remove_dir_all(l.at(".git")).unwrap();
        let run = sh(
            &l,
            who,
            &[],
            "mkdir -p .git/hooks; echo evil > .git/hooks/pre-commit; mkdir .cordon; \
             echo '[[rule]]' > .cordon/rules.toml; echo gitdir: /tmp > .git; \
             ln -s /tmp .cordon; echo ok > fine.txt; true",
        );
        run.expect_code(0);
        assert!(!l.at(".git").exists(), "{who:?}: .git created");
        assert!(!l.at(".cordon").exists(), "{who:?}: .cordon created");
        if who != Who::LandlockOnly {
            // Landlock alone cannot create anything new at the root's top.
            assert!(l.at("fine.txt").exists(), "{who:?}: {}", run.stderr());
        }
    }
}

#[test]
fn symlinks_out_of_the_root_do_not_carry_writes() {
    for who in everyone() {
        let l = Layout::new();
        std::os::unix::fs::symlink(l.base.join("outside"), l.at("src/link")).unwrap();
        std::os::unix::fs::symlink(l.base.join("outside/secret.txt"), l.at("src/file-link"))
            .unwrap();
        let before = l.outside();
        sh(
            &l,
            who,
            &[],
            "echo x > src/link/new.txt; echo x > src/file-link; mkdir src/link/d; true",
        );
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
        Run(Command::new(env!("CARGO_BIN_EXE_cordon"))
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
    if !installed("pgrep") {
        eprintln!("skipping: pgrep not found");
        return;
    }
    for who in everyone() {
        let l = Layout::new();
        let marker = format!("{}.{}", 2000 + std::process::id() % 1000, who as u8 + 1);
        let run = sh(
            &l,
            who,
            &[],
            &format!("sleep {marker} & setsid sleep {marker} & (sleep {marker} &); echo started"),
        );
        run.expect_code(0);
        let left = Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .expect("pgrep");
        let pids = String::from_utf8_lossy(&left.stdout).into_owned();
        let _ = Command::new("pkill")
            .args(["-f", &format!("sleep {marker}")])
            .status();
        assert!(pids.trim().is_empty(), "{who:?}: still running: {pids}");
    }
}

#[test]
fn environment_is_scrubbed_of_secrets() {
    let l = Layout::new();
    let run = |flags: &[&str]| {
        let mut cordon = l.cordon().args(flags).args(["--", "env"]);
        cordon
            .0
            .env("GITHUB_TOKEN", "ghp_leak")
            .env("MY_API_KEY", "key_leak")
            .env("EDITOR", "vi")
            .env("LANG", "C.UTF-8");
        cordon.output()
    };
    let out = run(&[]).expect_code(0).stdout();
    assert!(!out.contains("leak"), "{out}");
    assert!(!out.contains("EDITOR"), "{out}");
    assert!(out.contains("LANG=C.UTF-8"), "{out}");
    let out = run(&["--env-pass", "GITHUB_TOKEN"]).stdout();
    assert!(
        out.contains("GITHUB_TOKEN=ghp_leak") && !out.contains("key_leak"),
        "{out}"
    );
}

#[test]
fn network_is_off_unless_on() {
    if !installed("python3") {
        eprintln!("skipping: python3 not found");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!(
        "import socket\ns=socket.create_connection(('127.0.0.1',{port}),timeout=2)\nprint('connected')"
    );
    for who in [Who::Root, Who::LandlockOnly] {
        let l = Layout::new();
        let weaker: &[&str] = if who == Who::LandlockOnly {
            &["--no-namespaces"]
        } else {
            &[]
        };
        let run = l
            .cordon()
            .args(weaker)
            .args(["--", "python3", "-c", &connect])
            .output();
        assert_ne!(run.code(), 0, "{who:?}");
        assert!(!run.stdout().contains("connected"), "{who:?}");
        assert!(
            listener.accept().is_err(),
            "{who:?}: the listener saw a connection"
        );
        // No name lookup either: not even a socket to ask with.
        let run = l
            .cordon()
            .args([
                "--",
                "python3",
                "-c",
                "import socket; socket.socket(socket.AF_INET6)",
            ])
            .output();
        assert_ne!(run.code(), 0, "{who:?}");
    }
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--network", "on", "--", "python3", "-c", &connect])
        .output();
    run.expect_code(0);
    assert!(run.stdout().contains("connected"));
}

#[test]
fn unix_sockets_outside_the_root_are_unreachable() {
    if !installed("python3") {
        eprintln!("skipping: python3 not found");
        return;
    }
    let l = Layout::new();
    let path = l.base.join("outside/host.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect('{}')\nprint('connected')",
        path.display()
    );
    for flags in [&[][..], &["--no-namespaces"][..]] {
        let run = l
            .cordon()
            .args(flags)
            .args(["--", "python3", "-c", &script])
            .output();
        assert_ne!(run.code(), 0, "{flags:?}");
        assert!(!run.stdout().contains("connected"), "{flags:?}");
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
    if !installed("python3") {
        eprintln!("skipping: python3 not found");
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
    let mut victim = Command::new("sleep").arg("30").spawn().unwrap();
    let l = Layout::new();
    for who in [Who::Root, Who::LandlockOnly] {
        sh(&l, who, &[], &format!("kill -9 {}; true", victim.id()));
        assert!(
            victim.try_wait().unwrap().is_none(),
            "{who:?}: the host process was killed"
        );
    }
    let run = sh(
        &l,
        Who::Root,
        &[],
        &format!("test -e /proc/{} && echo visible", victim.id()),
    );
    assert!(!run.stdout().contains("visible"));
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    for who in [Who::Root, Who::LandlockOnly] {
        let l = Layout::new();
        let marker = format!("{}.{}", 1000 + std::process::id() % 1000, who as u8 + 1);
        // A bounded fork storm: children, grandchildren, one escaping its
        // process group with setsid.
        let script = format!(
            "for i in 1 2 3 4 5 6 7 8; do (sleep {marker} &) ; done; setsid sleep {marker} & \
             while true; do sleep {marker} & sleep 0.05; done"
        );
        let run = sh(&l, who, &["--timeout", "1"], &script);
        run.expect_code(124);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let left = Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output();
        if let Ok(left) = left {
            let pids = String::from_utf8_lossy(&left.stdout).into_owned();
            if who == Who::Root {
                assert!(pids.trim().is_empty(), "{who:?}: survivors {pids}");
            }
            let _ = Command::new("pkill")
                .args(["-f", &format!("sleep {marker}")])
                .status();
        }
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
    run(&[
        "--sandbox",
        "read-only",
        "--",
        "sh",
        "-c",
        "echo x > a.txt; echo x > new",
    ]);
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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cordon"));
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
    // Without namespaces they are the host's: not opened.
    let run = sh(
        &l,
        Who::LandlockOnly,
        &["--timeout", "5"],
        "cat /dev/pts/ptmx",
    );
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("Permission denied"),
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
    let script = format!(
        "echo evil > {} ; echo evil > cordon-cache/new.cwasm",
        target.display()
    );
    let run = cordon_with_cache()
        .args(["--engine", "native", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(!cache.join("new.cwasm").exists());
    assert_ne!(std::fs::read(target).unwrap(), b"evil\n");
}
