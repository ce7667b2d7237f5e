//! The command line: resolution of tools, refusals of bad input, doctor.

use crate::support::{Layout, Wasi, cordon, probe, skip_without};

#[test]
fn unknown_tool_is_127_and_says_where_it_looked() {
    let l = Layout::new();
    let run = l.cordon().args(["--", "no-such-tool", "x"]).output();
    run.expect_code(127);
    let stderr = run.stderr();
    assert!(
        stderr.starts_with("cordon: no-such-tool: command not found"),
        "{stderr}"
    );
    assert!(stderr.contains("--tool") && stderr.contains(".cordon/tools/no-such-tool.wasm"));
    let run = l.cordon().args(["--", "./missing.wasm"]).output();
    run.expect_code(127);
}

#[test]
fn tools_resolve_from_flags_and_the_project() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--tool", &format!("hello={}", probe(Wasi::P1).display())])
        .args(["--", "hello", "args", "a b"])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "a b\n");
    std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
    std::fs::copy(probe(Wasi::P2), l.at(".cordon/tools/mine.wasm")).unwrap();
    let run = l.cordon().args(["--", "mine", "args", "x"]).output();
    assert_eq!(run.expect_code(0).stdout(), "x\n");
}

/// A project's tool never answers to a system command's name or a
/// built-in's (`.cordon/tools/git.wasm` once ran under the user's rule
/// `allow git status` and wrote a file); rules naming a command never
/// allow a project's tool of that name.
#[test]
fn a_project_tool_never_takes_a_command_name_and_rules_do_not_allow_it() {
    if skip_without(&["git"]) {
        return;
    }
    let l = Layout::new();
    let rules = l.base.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nprefix = [\"git\", \"status\"]\ndecision = \"allow\"\n\
         [[rule]]\nprefix = [\"cat\"]\ndecision = \"allow\"\n\
         [[rule]]\nprefix = [\"mine\"]\ndecision = \"allow\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
    for name in ["git", "cat", "mine"] {
        std::fs::copy(probe(Wasi::P2), l.at(&format!(".cordon/tools/{name}.wasm"))).unwrap();
    }
    let before = l.inside();
    for (argv, taken) in [
        (vec!["git", "write", "planted.txt", "x"], "found on PATH"),
        (
            vec!["cat", "write", "planted.txt", "x"],
            "cordon's built-in cat",
        ),
    ] {
        let run = l
            .cordon()
            .args([
                "--approval",
                "untrusted",
                "--rules",
                rules.to_str().unwrap(),
                "--",
            ])
            .args(&argv)
            .output();
        run.expect_code(126);
        assert!(run.stderr().contains(taken), "{}", run.stderr());
        assert!(run.stderr().contains("--tool"), "{}", run.stderr());
        assert_eq!(run.stderr().lines().count(), 1, "{}", run.stderr());
    }
    // The rule `allow mine` does not allow the project's tool `mine`:
    // under untrusted it asks (and nobody answers).
    let run = l
        .cordon()
        .args([
            "--approval",
            "untrusted",
            "--rules",
            rules.to_str().unwrap(),
            "--",
        ])
        .args(["mine", "write", "planted.txt", "x"])
        .output();
    run.expect_code(126);
    assert!(run.stderr().contains("project's own"), "{}", run.stderr());
    assert_eq!(l.inside(), before);
}

#[test]
fn bad_roots_are_refused() {
    let l = Layout::new();
    let file = l.at("a.txt");
    let missing = l.base.join("missing");
    for (root, says) in [
        ("/", "filesystem root"),
        (file.to_str().unwrap(), "not a directory"),
        (missing.to_str().unwrap(), "No such file"),
    ] {
        let run = cordon()
            .args(["run", "--root", root, "--"])
            .arg(probe(Wasi::P1))
            .arg("noop")
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(125));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.starts_with("cordon: root"), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(stderr.lines().count(), 1);
    }
}

#[test]
fn bad_flags_are_one_line_and_125() {
    let l = Layout::new();
    for args in [
        &["--sandbox", "wide-open", "--", "x"][..],
        &["--timeout", "-1", "--", "x"],
        &["--memory", "0", "--", "x"],
        &["--env", "NOEQUALS", "--", "x"],
        &["--tool", "nopath", "--", "x"],
        &["--cwd", "../", "--", "x"],
    ] {
        let run = l.cordon().args(args).output();
        run.expect_code(125);
        let stderr = run.stderr();
        assert!(stderr.starts_with("cordon: "), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn doctor_reports_engine_and_cache() {
    let l = Layout::new();
    l.cordon().probe(Wasi::P1, &["noop"]).expect_code(0);
    let out = cordon()
        .args(["doctor", "--cache-dir"])
        .arg(crate::support::cache_dir())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("wasmtime 48.0.8"), "{text}");
    assert!(
        text.contains(&crate::support::cache_dir().display().to_string()),
        "{text}"
    );
    assert!(!text.contains("(0 entries"), "{text}");
}

/// Bad input gets one clear `cordon:` line and 125: a misspelled flag is
/// a usage error naming the closest one (not a command), a missing command
/// says what is missing, a bad value lists the allowed ones, a bad host
/// is named plainly, and a missing path is said once.
#[test]
fn bad_input_gets_one_clear_line() {
    let l = Layout::new();
    let root = l.root.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--roo", ".", "--", "ls"],
            "a similar argument exists: '--root'",
        ),
        (&["run", "--root", root], "not provided: <TOOL [ARGS]...>"),
        (
            &["run", "--sandbox", "readonly", "--", "ls"],
            "possible values: read-only, workspace-write, full-access",
        ),
        (
            &["run", "--network", "allow=exa%mple.com", "--", "ls"],
            "'exa%mple.com': not a host name",
        ),
        (
            &["run", "--root", "/nonexistent", "--", "ls"],
            "root /nonexistent: No such file or directory (os error 2)",
        ),
        (
            &["run", "--root", root, "--cwd", "/nonexistent", "--", "ls"],
            "--cwd /nonexistent: No such file or directory (os error 2)",
        ),
        (
            &["run", "--root", root, "--rules", "/nonexistent", "--", "ls"],
            "/nonexistent: No such file or directory (os error 2)",
        ),
    ];
    for (args, says) in cases {
        let run = crate::support::Run(cordon().args(*args).output().unwrap());
        run.expect_code(125);
        let stderr = run.stderr();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("cordon: "), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            stderr.matches("os error").count() <= 1,
            "said twice: {stderr}"
        );
        assert!(!stderr.contains("EscapeDefault"), "{stderr}");
    }
}

/// `cordon doctor | head -1` and `cordon tools | head -1` end quietly, as
/// a filter does when its reader goes away (no panic, no 101).
#[cfg(unix)]
#[test]
fn listings_end_quietly_when_the_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    for sub in ["doctor", "tools"] {
        let mut child = cordon()
            .arg(sub)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader reads nothing and goes away.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{sub}: {stderr}");
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{sub}: {:?} {stderr}",
            out.status
        );
    }
}

/// A built-in tool given a host path outside the root fails as the tool
/// says, and cordon adds one line saying why and how to reach it; a path
/// that does not exist anywhere gets no such line.
#[test]
fn a_path_outside_the_root_gets_a_hint() {
    let l = Layout::new();
    let outside = l.base.join("outside/secret.txt");
    let run = l
        .cordon()
        .args(["--", "cat", outside.to_str().unwrap()])
        .output();
    run.expect_code(1);
    let hints: Vec<String> = run
        .stderr()
        .lines()
        .filter(|l| l.starts_with("cordon: "))
        .map(str::to_string)
        .collect();
    assert_eq!(hints.len(), 1, "{}", run.stderr());
    assert!(hints[0].contains("is outside the root"), "{hints:?}");
    assert!(hints[0].contains("--engine native"), "{hints:?}");
    let missing = l.base.join("outside/missing.txt");
    let run = l
        .cordon()
        .args(["--", "cat", missing.to_str().unwrap()])
        .output();
    run.expect_code(1);
    assert!(!run.stderr().contains("cordon: "), "{}", run.stderr());
}

/// Without a terminal, the first compile says what the wait is, once; a
/// cache `cordon warm` filled has nothing left to compile.
#[test]
fn the_first_compile_says_so_and_warm_does_it_ahead() {
    let l = Layout::new();
    let fresh = tempfile::tempdir().unwrap();
    let run_with = |cache: &std::path::Path| {
        crate::support::Run(
            cordon()
                .args(["run", "--root", l.root.to_str().unwrap(), "--cache-dir"])
                .arg(cache)
                .args(["--", "cat", "a.txt"])
                .output()
                .unwrap(),
        )
    };
    let first = run_with(fresh.path());
    first.expect_code(0);
    assert!(
        first
            .stderr()
            .contains("compiling WebAssembly for this machine, once"),
        "{}",
        first.stderr()
    );
    let second = run_with(fresh.path());
    assert_eq!(second.stderr(), "");
    let warmed = tempfile::tempdir().unwrap();
    let warm = crate::support::Run(
        cordon()
            .arg("warm")
            .arg("--cache-dir")
            .arg(warmed.path())
            .output()
            .unwrap(),
    );
    warm.expect_code(0);
    assert!(
        warm.stderr().contains("are compiled for this machine"),
        "{}",
        warm.stderr()
    );
    let after = run_with(warmed.path());
    after.expect_code(0);
    assert_eq!(after.stderr(), "");
}

/// `cordon run --json` writes one JSON object on the caller's descriptor
/// (3 unless --json-fd), never on the command's output: the decision and
/// who made it, status, exit code, refusals with what would allow each,
/// output sizes. A descriptor that is the command's own, or not open, is
/// a one-line usage error.
#[test]
fn run_json_reports_on_its_own_descriptor() {
    use std::os::unix::process::CommandExt;
    let l = Layout::new();
    std::fs::write(l.at(".env"), "TOKEN=x\n").unwrap();
    let report = l.base.join("outside/report.json");
    let run = |args: &[&str]| {
        let file = std::fs::File::create(&report).unwrap();
        let mut cordon = l.cordon().args(args);
        // SAFETY: dup2 between fork and exec.
        unsafe {
            use std::os::fd::AsRawFd;
            let fd = file.as_raw_fd();
            cordon.0.pre_exec(move || {
                // dup2 onto itself would leave close-on-exec set.
                let placed = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, 3)
                };
                if placed < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let run = cordon.output();
        drop(file);
        let text = std::fs::read_to_string(&report).unwrap();
        let value: serde_json::Value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).expect("one JSON object")
        };
        (run, value)
    };
    let (ran, json) = run(&["--json", "--", "cat", "a.txt"]);
    assert_eq!(
        ran.stdout(),
        "alpha\n",
        "only the command's output: {}",
        ran.stderr()
    );
    assert_eq!(json["status"], "exited");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["engine"], "wasi");
    assert_eq!(json["decision"], "run");
    assert_eq!(json["decided_by"], "policy on-request");
    assert_eq!(json["stdout_bytes"], 6);
    let (ran, json) = run(&["--json-fd", "3", "--", "cat", ".env"]);
    ran.expect_code(1);
    assert_eq!(json["violations"][0]["denied"], "read");
    assert_eq!(json["violations"][0]["allowed_by"], "--allow-secret .env");
    let (ran, json) = run(&[
        "--json",
        "--approval",
        "never",
        "--",
        "sh",
        "-c",
        "rm -rf src",
    ]);
    ran.expect_code(126);
    assert_eq!(
        (&json["status"], &json["decision"]),
        (&"refused".into(), &"refused".into())
    );
    for fd in ["1", "2", "9"] {
        let (ran, _) = run(&["--json-fd", fd, "--", "true"]);
        ran.expect_code(125);
        let stderr = ran.stderr();
        assert!(
            stderr.starts_with(&format!("cordon: --json-fd {fd}: ")) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}

/// Each subcommand's help opens with its own description, the one the
/// command list shows (their arguments are built only when the subcommand
/// is given, and a flattened group's doc comment once took its place).
#[test]
fn every_subcommand_help_opens_with_its_description() {
    let out = cordon().arg("--help").output().unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    let commands: Vec<(&str, &str)> = list
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.trim().split_once(char::is_whitespace))
        .filter(|(name, _)| *name != "help")
        .map(|(name, about)| (name, about.trim()))
        .collect();
    assert!(commands.len() >= 8, "{list}");
    for (name, about) in commands {
        let out = cordon().args([name, "--help"]).output().unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert_eq!(help.lines().next(), Some(about), "cordon {name} --help");
    }
}
