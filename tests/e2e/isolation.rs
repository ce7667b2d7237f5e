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
