//! What a guest can see besides files: environment, network, working
//! directory, and how its output reaches the user.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{BOTH, Layout, Wasi, probe};

#[test]
fn host_environment_never_leaks_in() {
    for wasi in BOTH {
        let l = Layout::new();
        let mut cordon = l.cordon().args(["--env", "FOO=bar"]);
        cordon.0.env("CORDON_TEST_SECRET_TOKEN", "hunter2");
        let run = cordon.probe(wasi, &["env"]);
        let root = l.root.to_str().unwrap();
        assert_eq!(
            run.expect_code(0).stdout(),
            format!("FOO=bar\nHOME={root}\nPWD={root}\n")
        );
    }
}

#[test]
fn no_socket_without_a_grant() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for wasi in BOTH {
        let l = Layout::new();
        let run = l.cordon().probe(wasi, &["connect", &addr]);
        run.expect_refused();
        assert!(!run.stdout().contains("connected"));
        l.cordon()
            .probe(wasi, &["lookup", "localhost"])
            .expect_refused();
    }
    assert!(listener.accept().is_err(), "a guest reached the listener");
}

#[test]
fn cwd_sets_where_relative_paths_resolve() {
    for wasi in BOTH {
        let l = Layout::new();
        let run = l
            .cordon()
            .args(["--cwd", "src"])
            .probe(wasi, &["read", "main.rs"]);
        assert_eq!(run.expect_code(0).stdout(), "fn main() {}\n");
        let run = l.cordon().args(["--cwd", "src"]).probe(wasi, &["env"]);
        let pwd = format!("PWD={}/src\n", l.root.display());
        assert!(
            run.expect_code(0).stdout().contains(&pwd),
            "{}",
            run.stdout()
        );
        // An absolute --cwd inside the root is the same place.
        let abs = l.at("src");
        let run = l
            .cordon()
            .args(["--cwd", abs.to_str().unwrap()])
            .probe(wasi, &["write", "made.txt", "x"]);
        run.expect_code(0);
        assert!(l.at("src/made.txt").exists());
    }
}

#[test]
fn output_streams_while_the_tool_runs() {
    let l = Layout::new();
    let mut child = l
        .cordon()
        .0
        .arg("--")
        .arg(probe(Wasi::P1))
        .args(["tick", "5"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "tick 0");
    // The first line arrived while the tool still had ~1.2 s to run.
    assert!(
        child.try_wait().unwrap().is_none(),
        "output came only at exit"
    );
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["tick 1", "tick 2", "tick 3", "tick 4"]);
    assert!(child.wait().unwrap().success());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[test]
fn stdin_reaches_the_guest() {
    for wasi in BOTH {
        let l = Layout::new();
        let run = l
            .cordon()
            .args(["--".as_ref(), probe(wasi).as_os_str(), "cat".as_ref()])
            .output_with_stdin(b"piped in\n");
        assert_eq!(run.expect_code(0).stdout(), "piped in\n");
    }
}

/// A built-in tool's `/` holds only the way to the root: a host path
/// inside the root is that file, any other absolute path is not found
/// (never the root's file of the same name: `cat /etc/hosts` with an
/// `etc/hosts` in the project), nothing can be made there, and a walk
/// from `/` down to the root finds its way (`mv` into a root with no
/// directory named like the host's).
#[test]
fn a_built_in_tools_slash_holds_only_the_way_to_the_root() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("etc")).unwrap();
    std::fs::write(l.at("etc/hosts"), "the project's own\n").unwrap();
    let root = l.root.to_str().unwrap();
    for args in [
        &["cat", "/etc/hosts"][..],
        &["ls", "/etc"],
        &["cat", "/proc/self/environ"],
    ] {
        let run = l.cordon().args(["--"]).args(args).output();
        assert_ne!(run.code(), 0, "{args:?}: {}", run.stderr());
        assert!(!run.stdout().contains("own"), "{args:?}: {}", run.stdout());
        assert!(
            run.stderr().contains("No such file"),
            "{args:?}: {}",
            run.stderr()
        );
    }
    let before = l.outside();
    let inside = l.inside();
    for args in [
        &["mkdir", "/made-by-a-guest"][..],
        &["touch", &format!("{}/made", l.base.display())],
        &["cp", "a.txt", "/a.txt"],
        &["mv", "a.txt", "/tmp/a.txt"],
        &["rm", "-r", &l.base.join("outside").display().to_string()],
    ] {
        let run = l
            .cordon()
            .args(["--rules"])
            .args([crate::support::allow_rm_rules()])
            .args(["--"])
            .args(args)
            .output();
        assert_ne!(run.code(), 0, "{args:?}");
    }
    assert_eq!(l.outside(), before);
    assert_eq!(l.inside(), inside);
    assert!(!std::path::Path::new("/made-by-a-guest").exists());
    assert!(!std::path::Path::new("/a.txt").exists());
    // What `/` lists: the first directory on the way to the root.
    let first = l.root.components().nth(1).unwrap().as_os_str();
    let run = l.cordon().args(["--", "ls", "/"]).output();
    assert_eq!(
        run.expect_code(0).stdout(),
        format!("{}\n", first.to_str().unwrap())
    );
    // The root by its host path, and a move resolved through it.
    let run = l
        .cordon()
        .args(["--", "cat", &format!("{root}/a.txt")])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    l.cordon()
        .args(["--", "mv", "a.txt", &format!("{root}/src/")])
        .output()
        .expect_code(0);
    assert!(l.at("src/a.txt").exists());
    // A deterministic run's root is /project, and / holds only it.
    let run = l
        .cordon()
        .args(["--deterministic", "--", "realpath", "src/a.txt"])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "/project/src/a.txt\n");
    let run = l
        .cordon()
        .args(["--deterministic", "--", "ls", "/"])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "project\n");
}

/// A root spelled with `..` after a symlink is where the kernel says, not
/// where the spelling says: the host directory the spelling names is not
/// the root for a guest.
#[cfg(unix)]
#[test]
fn a_root_spelled_through_a_symlink_and_dotdot_is_not_the_spelled_directory() {
    let l = Layout::new();
    let base = &l.base;
    for dir in ["elsewhere/deep", "elsewhere/proj2", "proj2"] {
        std::fs::create_dir_all(base.join(dir)).unwrap();
    }
    std::fs::write(base.join("proj2/x.txt"), "decoy outside\n").unwrap();
    std::fs::write(base.join("elsewhere/proj2/x.txt"), "the root's\n").unwrap();
    std::os::unix::fs::symlink(base.join("elsewhere/deep"), base.join("L")).unwrap();
    let spelled = base.join("L/../proj2");
    let decoy = base.join("proj2");
    let run = |args: &[&str]| {
        crate::support::cordon()
            .arg("run")
            .arg("--root")
            .arg(&spelled)
            .args(["--cache-dir"])
            .arg(crate::support::cache_dir())
            .arg("--")
            .args(args)
            .output()
            .unwrap()
    };
    let read = run(&["cat", &format!("{}/x.txt", decoy.display())]);
    assert!(!String::from_utf8_lossy(&read.stdout).contains("root's"));
    let made = run(&["touch", &format!("{}/created", decoy.display())]);
    assert!(!made.status.success());
    assert!(!decoy.join("created").exists());
    assert!(!base.join("elsewhere/proj2/created").exists());
    // Relative paths still reach the root.
    let read = run(&["cat", "x.txt"]);
    assert_eq!(String::from_utf8_lossy(&read.stdout), "the root's\n");
}

/// A root whose path is not UTF-8 cannot be named to a WASI tool: a clear
/// refusal, not a crash, and not `.` standing in for every absolute path.
#[cfg(target_os = "linux")]
#[test]
fn a_root_that_is_not_utf8_is_refused_for_wasi_tools() {
    use std::os::unix::ffi::OsStrExt;
    let l = Layout::new();
    let root = l.base.join(std::ffi::OsStr::from_bytes(b"lat\xe9"));
    std::fs::create_dir(&root).unwrap();
    let out = crate::support::cordon()
        .arg("run")
        .arg("--root")
        .arg(&root)
        .args(["--audit"])
        .arg(l.base.join("audit.jsonl"))
        .args(["--", "ls", "/"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a UTF-8 path"), "{stderr}");
}
