//! Standing settings: the user's `config.toml` sets defaults, a project's
//! `.cordon/config.toml` only tightens them until trusted, flags win, bad
//! files are refused with `file:line`, and `cordon doctor` says where each
//! setting came from.

use std::path::Path;

use crate::support::{Cordon, Layout};

/// A config directory of the test's own, holding `config.toml` = `text`.
fn user_config(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("cordon")).unwrap();
    std::fs::write(dir.path().join("cordon/config.toml"), text).unwrap();
    dir
}

fn project_config(l: &Layout, text: &str) {
    std::fs::create_dir_all(l.at(".cordon")).unwrap();
    std::fs::write(l.at(".cordon/config.toml"), text).unwrap();
}

/// `cordon run` in `l` with the settings in `config`.
fn run_with(l: &Layout, config: &Path) -> Cordon {
    let mut c = l.cordon();
    c.0.env("XDG_CONFIG_HOME", config);
    c
}

/// `cordon SUBCOMMAND --root ROOT` for `l` with the settings in
/// `config`, which must succeed: its stdout.
fn root_command(l: &Layout, config: &Path, subcommand: &str) -> String {
    let out = crate::support::cordon()
        .env("XDG_CONFIG_HOME", config)
        .args([subcommand, "--root"])
        .arg(&l.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `cordon doctor --root` for `l` with the settings in `config`: its
/// settings lines.
fn doctor(l: &Layout, config: &Path) -> String {
    let text = root_command(l, config, "doctor");
    text[text.find("settings for").expect("a settings section")..].to_string()
}

fn trust(l: &Layout, config: &Path) {
    root_command(l, config, "trust");
}

/// The doctor line for `key` whose value starts with `value`.
fn row<'a>(doctor: &'a str, key: &str, value: &str) -> Option<&'a str> {
    doctor.lines().map(str::trim).find(|line| {
        line.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(value))
    })
}

#[test]
fn user_settings_are_the_defaults_and_flags_win_over_them() {
    if crate::support::skip_without(&["sh"]) {
        return;
    }
    let l = Layout::new();
    let outside = l.base.join("outside");
    let config = user_config(&format!(
        "sandbox = \"read-only\"\nwritable = [\"{}\"]\nsecrets = [\"src/main.rs\"]\n\
         [env]\ndrop = [\"CORDON_TEST_*\"]\n[limits]\ntimeout = 1\n",
        outside.display()
    ));
    let cordon = || run_with(&l, config.path());

    // read-only from the settings: the root is not writable, the extra
    // directory is.
    let run = cordon()
        .args([
            "--engine",
            "native",
            "--",
            "sh",
            "-c",
            "touch new.txt; touch ../outside/made",
        ])
        .output();
    assert!(!l.at("new.txt").exists(), "{}", run.stderr());
    assert!(outside.join("made").exists(), "{}", run.stderr());
    // The flag wins: workspace-write.
    cordon()
        .args(["--sandbox", "workspace-write", "--", "touch", "new.txt"])
        .output()
        .expect_code(0);
    assert!(l.at("new.txt").exists());

    // The extra secret, for a built-in tool and a native command.
    let run = cordon().args(["--", "cat", "src/main.rs"]).output();
    assert_ne!(run.code(), 0);
    assert!(!run.stdout().contains("fn main"), "{}", run.stdout());
    let run = cordon()
        .args(["--engine", "native", "--", "sh", "-c", "cat src/main.rs"])
        .output();
    assert!(!run.stdout().contains("fn main"), "{}", run.stdout());

    // The variables left out.
    let run = cordon()
        .args(["--engine", "native", "--", "env"])
        .env("CORDON_TEST_VAR", "visible")
        .env("OTHER_TEST_VAR", "visible")
        .output();
    assert!(
        run.stdout().contains("OTHER_TEST_VAR=visible"),
        "{}",
        run.stdout()
    );
    assert!(
        !run.stdout().contains("CORDON_TEST_VAR"),
        "{}",
        run.stdout()
    );

    // The timeout, and the flag that lifts it.
    cordon()
        .args(["--engine", "native", "--", "sleep", "3"])
        .output()
        .expect_code(124);
    cordon()
        .args([
            "--timeout",
            "10",
            "--engine",
            "native",
            "--",
            "sleep",
            "1.5",
        ])
        .output()
        .expect_code(0);

    let shown = doctor(&l, config.path());
    let file = config.path().join("cordon/config.toml");
    let at = |line: usize| format!("{}:{line}", file.display());
    assert!(
        row(&shown, "sandbox", "read-only")
            .unwrap()
            .ends_with(&at(1)),
        "{shown}"
    );
    assert!(
        row(&shown, "writable", &outside.display().to_string())
            .unwrap()
            .ends_with(&at(2))
    );
    assert!(
        row(&shown, "secret", "src/main.rs")
            .unwrap()
            .ends_with(&at(3))
    );
    assert!(
        row(&shown, "env drop", "CORDON_TEST_*")
            .unwrap()
            .ends_with(&at(5))
    );
    assert!(row(&shown, "timeout", "1 s").unwrap().ends_with(&at(7)));
    assert!(
        row(&shown, "approval", "on-request")
            .unwrap()
            .ends_with("default")
    );
    assert!(row(&shown, "network", "off").unwrap().ends_with("default"));
}

impl Cordon {
    fn env(mut self, key: &str, value: &str) -> Self {
        self.0.env(key, value);
        self
    }
}

/// A cloned repository's settings cannot widen the sandbox: what would
/// loosen the user's (a wider sandbox, a writable directory, a host the
/// user did not allow, a variable passed, a higher limit) is left out and
/// said; what tightens applies. Trusted from outside, all of it applies;
/// changed after, it only tightens again.
#[test]
fn project_settings_only_tighten_until_trusted() {
    if crate::support::skip_without(&["sh"]) {
        return;
    }
    let l = Layout::new();
    let outside = l.base.join("outside");
    let config = user_config(
        "approval = \"on-request\"\nnetwork = [\"a.test\", \"*.b.test\"]\n\
         [limits]\ntimeout = 30\nprocesses = 100\n",
    );
    let project = format!(
        "sandbox = \"full-access\"\napproval = \"never\"\n\
         network = [\"a.test\", \"x.b.test\", \"c.test\"]\nwritable = [\"{}\"]\n\
         secrets = [\"a.txt\"]\n[env]\npass = [\"GITHUB_TOKEN\"]\ndrop = [\"HOME_ONLY\"]\n\
         [limits]\ntimeout = 60\nprocesses = 50\n",
        outside.display()
    );
    project_config(&l, &project);
    let before = l.outside();

    let shown = doctor(&l, config.path());
    let file = l.at(".cordon/config.toml");
    let at = |line: usize| format!("{}:{line}", file.display());
    assert!(
        row(&shown, "sandbox", "workspace-write")
            .unwrap()
            .ends_with("default"),
        "{shown}"
    );
    assert!(
        row(&shown, "approval", "never").unwrap().ends_with(&at(2)),
        "{shown}"
    );
    assert!(
        row(&shown, "network", "allow=a.test,x.b.test")
            .unwrap()
            .ends_with(&at(3)),
        "{shown}"
    );
    assert!(row(&shown, "writable", "").is_none(), "{shown}");
    assert!(
        row(&shown, "secret", "a.txt").unwrap().ends_with(&at(5)),
        "{shown}"
    );
    assert!(row(&shown, "env pass", "").is_none(), "{shown}");
    assert!(
        row(&shown, "env drop", "HOME_ONLY")
            .unwrap()
            .ends_with(&at(8)),
        "{shown}"
    );
    assert!(
        row(&shown, "timeout", "30 s")
            .unwrap()
            .ends_with("config.toml:4"),
        "{shown}"
    );
    assert!(
        row(&shown, "processes", "50").unwrap().ends_with(&at(11)),
        "{shown}"
    );
    for left_out in [
        "line 1: sandbox = full-access",
        "line 3: network c.test",
        "line 4: writable",
        "line 7: env.pass GITHUB_TOKEN",
        "line 10: limits.timeout = 60",
        "cordon trust --root",
    ] {
        assert!(shown.contains(left_out), "{left_out}: {shown}");
    }

    // In a run: said once on stderr; the directory stays unwritable, the
    // secret unreadable, full-access not given.
    let run = run_with(&l, config.path())
        .args([
            "--engine",
            "native",
            "--",
            "sh",
            "-c",
            "touch ../outside/made; cat a.txt",
        ])
        .output();
    assert!(run.stderr().contains("left out"), "{}", run.stderr());
    assert!(!run.stdout().contains("alpha"), "{}", run.stdout());
    assert_eq!(l.outside(), before, "the project widened its own sandbox");

    // Trusted from outside: all of it applies.
    trust(&l, config.path());
    let shown = doctor(&l, config.path());
    assert!(
        row(&shown, "sandbox", "full-access")
            .unwrap()
            .ends_with(&at(1)),
        "{shown}"
    );
    assert!(
        row(&shown, "writable", &outside.display().to_string()).is_some(),
        "{shown}"
    );
    assert!(row(&shown, "env pass", "GITHUB_TOKEN").is_some(), "{shown}");
    assert!(
        row(&shown, "timeout", "60 s").unwrap().ends_with(&at(10)),
        "{shown}"
    );
    assert!(!shown.contains("left out"), "{shown}");

    // Changed after trusting: it only tightens again.
    std::fs::write(l.at(".cordon/config.toml"), format!("{project}# changed\n")).unwrap();
    let shown = doctor(&l, config.path());
    assert!(
        row(&shown, "sandbox", "workspace-write").is_some(),
        "{shown}"
    );
    assert!(shown.contains("left out"), "{shown}");
}

/// An unknown key or a bad value is refused with the file, the line and
/// the problem, on one line, and nothing runs.
#[test]
fn bad_settings_files_name_the_file_and_line_and_nothing_runs() {
    let l = Layout::new();
    for (text, line, problem) in [
        (
            "sandbox = \"read-only\"\n\nsandbx = \"x\"\n",
            3,
            "unknown field `sandbx`",
        ),
        ("[limits]\nmemroy = 5\n", 2, "unknown field `memroy`"),
        ("[env]\npass = []\nkeep = []\n", 3, "unknown field `keep`"),
        ("sandbox = \"lax\"\n", 1, "unknown variant `lax`"),
        (
            "approval = \"sometimes\"\n",
            1,
            "unknown variant `sometimes`",
        ),
        ("network = 5\n", 1, "network: expected"),
        ("network = [\"exa%mple.com\"]\n", 1, "not a host name"),
        ("\n[limits]\nmemory = 0\n", 3, "not in 1..=65536"),
        ("[limits]\ntimeout = -1\n", 2, "positive number of seconds"),
        ("writable = [\"relative/dir\"]\n", 1, "starts with / or ~/"),
        ("writable = [\"/nonexistent/dir\"]\n", 1, "not a directory"),
        ("[env]\ndrop = [\"A[\"]\n", 2, "env.drop A["),
        ("sandbox = \n", 1, ""),
        ("secrets = [\"/etc/*\"]\n", 1, "a pattern outside the root"),
    ] {
        let config = user_config(text);
        let file = config.path().join("cordon/config.toml");
        let run = run_with(&l, config.path())
            .args(["--", "touch", "ran.txt"])
            .output();
        run.expect_code(125);
        let stderr = run.stderr();
        let want = format!("cordon: {}:{line}: ", file.display());
        assert!(stderr.starts_with(&want), "{text:?}: {stderr}");
        assert!(stderr.contains(problem), "{text:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{text:?}: {stderr}");
        assert!(!l.at("ran.txt").exists(), "{text:?} ran the command");
        // The same for a project's file (whose writable entries, untrusted,
        // are only left out).
        if text.starts_with("writable") {
            continue;
        }
        project_config(&l, text);
        let run = run_with(&l, tempfile::tempdir().unwrap().path())
            .args(["--", "touch", "ran.txt"])
            .output();
        run.expect_code(125);
        if !problem.contains("starts with") {
            let want = format!("cordon: {}:{line}: ", l.at(".cordon/config.toml").display());
            assert!(
                run.stderr().starts_with(&want),
                "{text:?}: {}",
                run.stderr()
            );
        }
        std::fs::remove_file(l.at(".cordon/config.toml")).ok();
    }
}

/// A project "tightening" to read-only must not drop the protection of
/// its git directory where the user's own writable directory holds the
/// root: a hook planted there would run outside the sandbox at the next
/// `git commit`.
#[test]
fn read_only_keeps_the_git_directory_read_only_inside_a_writable_directory() {
    if crate::support::skip_without(&["sh"]) {
        return;
    }
    let l = Layout::new();
    let config = user_config(&format!("writable = [\"{}\"]\n", l.base.display()));
    project_config(&l, "sandbox = \"read-only\"\n");
    let before = crate::support::snapshot(&l.at(".git"));
    let plant = "mkdir -p .git/hooks; echo 'echo planted' > .git/hooks/pre-commit; \
                 echo '[core]' >> .git/config; echo x > .cordon/rules.toml; echo x > a.txt";
    for flags in [&[][..], &["--sandbox", "read-only", "--writable"][..]] {
        let mut run = run_with(&l, config.path()).args(flags);
        if !flags.is_empty() {
            run = run.args([&l.base]);
        }
        run.args(["--engine", "native", "--", "sh", "-c", plant])
            .output();
        assert_eq!(crate::support::snapshot(&l.at(".git")), before, "{flags:?}");
        assert!(!l.at(".cordon/rules.toml").exists(), "{flags:?}");
        // The root itself, inside the writable directory, stays writable.
        assert_eq!(std::fs::read_to_string(l.at("a.txt")).unwrap(), "x\n");
        std::fs::write(l.at("a.txt"), "alpha\n").unwrap();
    }
}

/// A writable directory reached through a symlink in the root (or in
/// another writable directory) is refused, wherever it was set: a command
/// could point the symlink at the home directory for every run after,
/// with the trusted settings file unchanged.
#[test]
fn a_writable_directory_through_a_symlink_commands_can_change_is_refused() {
    let l = Layout::new();
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(l.at("out/build")).unwrap();
    project_config(&l, "writable = [\"out/build\"]\n");
    trust(&l, config.path());
    assert!(doctor(&l, config.path()).contains("out/build"));
    // What a command in the sandbox could do: out becomes a symlink to
    // somewhere outside.
    let target = l.base.join("outside");
    std::fs::rename(l.at("out"), l.at("out-old")).unwrap();
    std::fs::create_dir(l.at("out")).unwrap();
    std::os::unix::fs::symlink(&target, l.at("out/build")).unwrap();
    let before = l.outside();
    let run = run_with(&l, config.path())
        .args(["--engine", "native", "--", "touch"])
        .args([target.join("made")])
        .output();
    run.expect_code(125);
    let file = l.at(".cordon/config.toml");
    assert!(
        run.stderr()
            .starts_with(&format!("cordon: {}:1: writable", file.display())),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("reached through the symlink"),
        "{}",
        run.stderr()
    );
    assert_eq!(l.outside(), before);
    // The same for a flag.
    std::fs::remove_file(l.at(".cordon/config.toml")).unwrap();
    let run = run_with(&l, config.path())
        .args(["--writable"])
        .args([l.at("out/build")])
        .args(["--", "true"])
        .output();
    run.expect_code(125);
    assert!(run.stderr().contains("--writable"), "{}", run.stderr());
    assert!(
        run.stderr().contains("reached through the symlink"),
        "{}",
        run.stderr()
    );
}

/// Unset, a WASI tool's memory is 512 MiB: a project's higher limit
/// loosens it and is left out.
#[test]
fn a_project_cannot_raise_the_default_memory_limit() {
    let l = Layout::new();
    let config = tempfile::tempdir().unwrap();
    project_config(&l, "[limits]\nmemory = 65536\n");
    let shown = doctor(&l, config.path());
    assert!(
        row(&shown, "memory", "512 MiB")
            .unwrap()
            .ends_with("default"),
        "{shown}"
    );
    assert!(shown.contains("line 2: limits.memory = 65536"), "{shown}");
    project_config(&l, "[limits]\nmemory = 256\n");
    let shown = doctor(&l, config.path());
    assert!(row(&shown, "memory", "256 MiB").is_some(), "{shown}");
}

/// What a project's file says cannot draw lines of its own in doctor's
/// report: control characters are escaped.
#[test]
fn doctor_escapes_what_a_project_file_says() {
    let l = Layout::new();
    let config = tempfile::tempdir().unwrap();
    project_config(
        &l,
        "[env]\ndrop = [\"Z\\n  approval   never\"]\npass = [\"X\\u001bM\\u001bM\"]\n",
    );
    let shown = doctor(&l, config.path());
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(
        !shown
            .lines()
            .any(|line| line.trim_start().starts_with("approval   never")),
        "{shown}"
    );
    assert!(row(&shown, "approval", "on-request").is_some(), "{shown}");
}

/// A relative XDG_CONFIG_HOME is ignored, as the XDG spec says: it would
/// name a directory in the project, whose own trust store would trust it.
#[test]
fn a_relative_config_home_is_ignored() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("xdgrel/cordon")).unwrap();
    std::fs::write(
        l.at("xdgrel/cordon/config.toml"),
        "sandbox = \"full-access\"\n",
    )
    .unwrap();
    let out = crate::support::cordon()
        .env("XDG_CONFIG_HOME", "xdgrel")
        .current_dir(&l.root)
        .args(["doctor"])
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        row(&shown, "sandbox", "workspace-write")
            .unwrap()
            .ends_with("default"),
        "{shown}"
    );
}
