//! `cordon test`: the shipped scenario set, determinism of transcripts,
//! blessing, a changed fixture caught, malformed files, the report.

use std::path::{Path, PathBuf};

use crate::support::{Run, Wasi, cordon, probe};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cordon_test(args: &[&str]) -> Run {
    Run(cordon()
        .arg("test")
        .args(args)
        .output()
        .expect("running cordon test"))
}

/// The threat-model demo set, run as a user would run it.
#[cfg(target_os = "linux")]
#[test]
fn the_shipped_scenarios_pass() {
    let dir = repo().join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    if crate::support::skip_without(&["npm"]) {
        files.retain(|f| !f.ends_with("npm-install.toml"));
    }
    // Two of them run native commands (npm, dd), which a scenario may
    // only with the person's flag; the report names it.
    let mut args: Vec<&str> = vec!["--allow-native"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let run = cordon_test(&args);
    run.expect_code(0);
    let out = run.stdout();
    assert_eq!(
        out.lines().next(),
        Some("allowed by the command line: --allow-native"),
        "{out}"
    );
    assert!(
        out.lines()
            .skip(1)
            .all(|l| l.starts_with("ok ") || l.ends_with(" failed")),
        "{out}"
    );
    assert_eq!(
        out.lines().last().unwrap(),
        format!("{} passed, 0 failed", files.len())
    );
}

/// A scenario in its own directory, running the probe guest.
fn scenario(dir: &Path, steps: &str) -> PathBuf {
    let file = dir.join("probe.toml");
    let text = format!(
        "[fixture.files]\n\"data/b.txt\" = \"b\\n\"\n\"data/a.txt\" = \"a\\n\"\n\"data/c.txt\" = \"c\\n\"\n{steps}"
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// The report of a `--json` run: stdout is the JSON alone (the count of
/// passed and failed goes to stderr).
fn transcript_sha256(run: &Run) -> String {
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout()).expect("--json output is JSON alone");
    assert!(run.stderr().contains(" passed, "), "{}", run.stderr());
    report["scenarios"][0]["transcript_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Time, random bytes, the environment and a directory listing, from a
/// guest: the same transcript on every run, whatever the host's clock,
/// time zone and environment.
#[test]
fn transcripts_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let guest = probe(Wasi::P1);
    let guest = guest.display();
    let file = scenario(
        dir.path(),
        &format!(
            "[[step]]\nargv = [\"{guest}\", \"clock\"]\n\
             [[step]]\nargv = [\"{guest}\", \"random\", \"16\"]\n\
             [[step]]\nargv = [\"{guest}\", \"env\"]\n\
             [[step]]\nargv = [\"{guest}\", \"ls\", \"data\"]\n"
        ),
    );
    let file = file.to_str().unwrap();
    let first = cordon_test(&["--bless", "--json", file]);
    first.expect_code(0);
    let mut changed = cordon();
    changed
        .args(["test", "--json", file])
        .env("TZ", "Pacific/Kiritimati")
        .env("LANG", "ja_JP.UTF-8")
        .env("SOME_HOST_VARIABLE", "differs");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = Run(changed.output().unwrap());
    second.expect_code(0);
    assert_eq!(transcript_sha256(&first), transcript_sha256(&second));
}

/// A scenario without its golden transcript fails; blessing writes it;
/// the next run compares against it and passes; a changed fixture is
/// caught with the first difference.
#[test]
fn blessing_round_trips_and_a_changed_fixture_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[step]]\nargv = [\"cat\", \"data/a.txt\", \"data/b.txt\"]\n[step.expect]\nexit = 0\n",
    );
    let path = file.to_str().unwrap();
    let unblessed = cordon_test(&[path]);
    unblessed.expect_code(1);
    assert!(
        unblessed
            .stdout()
            .starts_with("FAILED  probe: no golden transcript"),
        "{}",
        unblessed.stdout()
    );
    let blessed = cordon_test(&["--bless", path]);
    blessed.expect_code(0);
    let golden = dir.path().join("probe.golden.json");
    let text = std::fs::read_to_string(&golden).unwrap();
    assert!(text.contains("\"stdout_sha256\""), "{text}");
    cordon_test(&[path]).expect_code(0);
    cordon_test(&["--bless", path]).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&golden).unwrap(),
        text,
        "re-blessing changes nothing"
    );

    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"a\\n\"", "\"A\\n\"");
    std::fs::write(&file, changed).unwrap();
    let run = cordon_test(&[path]);
    run.expect_code(1);
    let out = run.stdout();
    assert!(
        out.starts_with("FAILED  probe: step 1 vs golden: stdout sha256"),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

/// An expectation that does not hold shows the first differing line.
#[test]
fn a_failed_expectation_shows_the_first_difference() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[step]]\nargv = [\"cat\", \"data/a.txt\", \"data/b.txt\"]\n\
         [step.expect]\nstdout = \"a\\nX\\n\"\n",
    );
    let run = cordon_test(&[file.to_str().unwrap()]);
    run.expect_code(1);
    let out = run.stdout();
    assert!(
        out.contains("stdout differs:\n  line 2\n  - \"X\\n\"\n  + \"b\\n\""),
        "{out}"
    );
}

/// A malformed scenario names the file, the line and the problem, and
/// nothing runs.
#[test]
fn a_malformed_scenario_names_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[step]]\nargv = [\"true\"]\nrun = \"true\"\n",
            ":1: a step needs exactly one of run or argv",
        ),
        (
            "[[step]]\nargv = [\"true\"]\n\n[step.expect]\nexitt = 0\n",
            ":5: unknown field `exitt`",
        ),
        ("name = \"x\"\n", ":1: missing field `step`"),
        ("[[step]\n", ":1: "),
    ];
    for (text, want) in cases {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let run = cordon_test(&[file.to_str().unwrap()]);
        run.expect_code(125);
        let err = run.stderr();
        assert!(
            err.starts_with(&format!("cordon: {}", file.display())),
            "{err}"
        );
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let missing = cordon_test(&["/no/such/scenarios"]);
    missing.expect_code(125);
    // A fixture file may not be written outside the scenario's root.
    let file = dir.path().join("escape.toml");
    let outside = dir.path().join("planted");
    std::fs::write(
        &file,
        format!(
            "[fixture.files]\n\"{}\" = \"x\"\n\"../planted\" = \"x\"\n[[step]]\nargv = [\"true\"]\n",
            outside.display()
        ),
    )
    .unwrap();
    let run = cordon_test(&[file.to_str().unwrap()]);
    run.expect_code(125);
    assert!(
        run.stderr().contains("not a relative path inside the root"),
        "{}",
        run.stderr()
    );
    assert!(!outside.exists());
}

/// A scenario repository someone else wrote: it cannot choose its own
/// sandbox or approve its own way out, read host files through its paths,
/// or have the harness write through a symlink. Each attack is refused
/// with one line (or a refused grant), and nothing outside changes.
#[cfg(target_os = "linux")]
#[test]
fn a_hostile_scenario_repository_only_tightens() {
    let base = tempfile::tempdir().unwrap();
    let base = base.path().canonicalize().unwrap();
    let repo = base.join("cloned");
    let outside = base.join("outside");
    std::fs::create_dir_all(repo.join("fixture")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("id_rsa"), "CANARY-KEY\n").unwrap();
    std::fs::write(outside.join("creds.json"), "\"CANARY-KEY\"\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.join("fixture/out")).unwrap();
    let before = crate::support::snapshot(&outside);
    let write_outside = format!("echo x > {}/written", outside.display());
    let hostile = [
        (
            "full-access",
            format!("[policy]\nsandbox = \"full-access\"\nallow_native = true\n[[step]]\nargv = [\"sh\", \"-c\", \"{write_outside}\"]\nanswers = [\"once\"]\n"),
            "--allow-unsandboxed",
        ),
        (
            "unsandboxed escalation",
            format!("[[step]]\nargv = [\"sh\", \"-c\", \"{write_outside}\"]\nescalate = \"unsandboxed\"\nanswers = [\"once\"]\n"),
            "--allow-unsandboxed",
        ),
        (
            "writable escalation",
            format!("[[step]]\nargv = [\"cat\", \"a\"]\nescalate = \"writable={}\"\nanswers = [\"once\"]\n", outside.display()),
            "--allow-unsandboxed",
        ),
        (
            "network on",
            "[policy]\nnetwork = \"on\"\n[[step]]\nargv = [\"ls\"]\n".to_string(),
            "--allow-network",
        ),
        (
            "native",
            "[policy]\ndeterministic = false\n[[step]]\nargv = [\"ls\"]\n".to_string(),
            "--allow-native",
        ),
        (
            "absolute fixture",
            format!("[fixture]\ndir = \"{}\"\n[[step]]\nargv = [\"cat\", \"id_rsa\"]\n", outside.display()),
            "outside the scenario's directory",
        ),
        (
            "fixture through a symlink",
            "[fixture]\ndir = \"fixture/out\"\n[[step]]\nargv = [\"cat\", \"id_rsa\"]\n".to_string(),
            "outside the scenario's directory",
        ),
        (
            "server of host files",
            "[[server]]\nname = \"leak.test\"\ndir = \"../outside\"\n[[step]]\nargv = [\"ls\"]\n"
                .to_string(),
            "outside the scenario's directory",
        ),
        (
            "fixture file through a fixture symlink",
            "[fixture]\ndir = \"fixture\"\n[fixture.files]\n\"out/planted\" = \"x\"\n[[step]]\nargv = [\"ls\"]\n".to_string(),
            "symlink in the fixture",
        ),
    ];
    for (attack, text, says) in hostile {
        let file = repo.join("attack.toml");
        std::fs::write(&file, text).unwrap();
        let run = cordon_test(&[file.to_str().unwrap()]);
        assert_ne!(run.code(), 0, "{attack}: {}", run.stdout());
        let all = format!("{}{}", run.stdout(), run.stderr());
        assert!(all.contains(says), "{attack}: {all}");
        assert!(!all.contains("CANARY-KEY"), "{attack}: {all}");
        assert_eq!(crate::support::snapshot(&outside), before, "{attack}");
    }
    // A golden transcript that is a symlink to a host file (or /dev/zero)
    // is not read; a FIFO in the fixture does not hold the copy.
    let golden = repo.join("golden.toml");
    std::fs::write(&golden, "[[step]]\nargv = [\"ls\"]\n").unwrap();
    for target in [outside.join("creds.json"), "/dev/zero".into()] {
        let link = repo.join("golden.golden.json");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let run = cordon_test(&[golden.to_str().unwrap()]);
        assert_ne!(run.code(), 0);
        assert!(
            run.stdout().contains("out of its directory"),
            "{}",
            run.stdout()
        );
        assert!(!run.stdout().contains("CANARY-KEY"), "{}", run.stdout());
    }
    std::fs::create_dir_all(repo.join("fifo-fixture")).unwrap();
    let fifo = std::ffi::CString::new(repo.join("fifo-fixture/pipe").to_str().unwrap()).unwrap();
    // SAFETY: makes a FIFO at a path the test owns.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::write(
        repo.join("fifo.toml"),
        "[fixture]\ndir = \"fifo-fixture\"\n[[step]]\nargv = [\"ls\"]\n",
    )
    .unwrap();
    let run = cordon_test(&[repo.join("fifo.toml").to_str().unwrap()]);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("not a regular file"),
        "{}",
        run.stderr()
    );
    // A loopback address on the allow list stands for the scenario's own
    // servers, not for another service of this machine.
    let service = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = service.local_addr().unwrap().port();
    service.set_nonblocking(true).unwrap();
    std::fs::write(
        repo.join("local.toml"),
        format!(
            "[policy]\nnetwork = \"allow=127.0.0.1\"\n[[step]]\nargv = [\"fetch\", \"-s\", \"http://127.0.0.1:{port}/\"]\nanswers = [\"once\", \"once\"]\n"
        ),
    )
    .unwrap();
    cordon_test(&[repo.join("local.toml").to_str().unwrap()]);
    assert!(service.accept().is_err(), "the local service was reached");
    // An on-failure retry the scenario's answers would approve: refused
    // unasked (--no-grant), nothing written outside.
    let retry = format!(
        "[policy]\napproval = \"on-failure\"\nallow_native = true\n[[step]]\nargv = [\"dd\", \"if=/dev/null\", \"of={}/written\"]\nanswers = [\"once\", \"once\"]\n[step.expect]\nexit = 0\n",
        outside.display()
    );
    std::fs::write(repo.join("retry.toml"), retry).unwrap();
    let run = cordon_test(&["--allow-native", repo.join("retry.toml").to_str().unwrap()]);
    assert_ne!(run.code(), 0, "{}", run.stdout());
    assert!(run.stdout().contains("never granted"), "{}", run.stdout());
    assert_eq!(crate::support::snapshot(&outside), before);
}

/// `cordon test` runs each step through a session in its own process: no
/// `cordon run` child per step (each would pay a process start and a
/// fresh engine).
#[cfg(target_os = "linux")]
#[test]
fn steps_run_in_process_without_a_cordon_run_child() {
    if crate::support::skip_without(&["strace"]) {
        return;
    }
    let scenario = repo().join("tests/scenarios/rm-glob-contained.toml");
    let trace = tempfile::tempdir().unwrap();
    let log = trace.path().join("execve.log");
    let out = crate::support::command("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_cordon"))
        .arg("test")
        .arg(&scenario)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let execs = std::fs::read_to_string(&log).unwrap();
    let cordons: Vec<&str> = execs
        .lines()
        .filter(|line| line.contains(env!("CARGO_BIN_EXE_cordon")))
        .collect();
    assert_eq!(cordons.len(), 1, "only `cordon test` itself: {cordons:#?}");
}

/// `cordon test` runs every step in one process, each under its own
/// deadline: the watchdog that ends a step stuck in a host call is called
/// off when the step ends, so it cannot end the run steps later.
#[test]
fn a_finished_steps_deadline_does_not_end_the_run_later() {
    let dir = tempfile::tempdir().unwrap();
    let step = "[[step]]\nargv = [\"sleep\", \"0.3\"]\n[step.expect]\nexit = 0\n";
    // 12 steps of 0.3 s: past the first step's deadline and grace (3 s).
    let file = scenario(
        dir.path(),
        &format!("[policy]\ntimeout = 1.0\n{}", step.repeat(12)),
    );
    let run = cordon_test(&["--bless", file.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stdout().ends_with("1 passed, 0 failed\n"),
        "{}",
        run.stdout()
    );
}

/// Attack: a scenario names its own server without a port (or pins a name
/// to this machine) and has its scripted answers approve a connection to
/// another port there: any service of the machine running `cordon test`.
/// Without `--allow-network`, a server is reachable on its own port only,
/// and nobody is asked about another.
#[test]
fn a_scenario_reaches_its_servers_on_their_ports_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/index.html"), "served\n").unwrap();
    let file = dir.path().join("ports.toml");
    std::fs::write(
        &file,
        "[[server]]\nname = \"srv.test\"\ndir = \"site\"\n\n[policy]\nnetwork = \"allow=srv.test\"\n\n\
         [[step]]\nargv = [\"fetch\", \"-s\", \"http://srv.test:1/\"]\nanswers = [\"once\"]\n\
         [step.expect]\nasked = []\n",
    )
    .unwrap();
    let run = cordon_test(&["--bless", file.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stdout().ends_with("1 passed, 0 failed\n"),
        "{}",
        run.stdout()
    );

    let pinned = dir.path().join("pinned.toml");
    std::fs::write(
        &pinned,
        "[policy]\nresolve = [\"cache.test=127.0.0.1\"]\n\n[[step]]\nargv = [\"true\"]\n",
    )
    .unwrap();
    let refused = cordon_test(&[pinned.to_str().unwrap()]);
    refused.expect_code(125);
    assert!(
        refused.stderr().contains("needs --allow-network"),
        "{}",
        refused.stderr()
    );
}
