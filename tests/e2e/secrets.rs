//! Secret files in the root stay unreadable for WASI tools, as for native
//! commands: however the guest names them (a symlink, a path through a
//! secret directory, a copy, a rename, a hard link), and in every sandbox
//! mode, unless `--allow-secret` grants them.

use crate::support::{BOTH, Layout};

/// A layout with secrets: `.env`, `app/.env.local`, `certs/site.pem`,
/// `.ssh/config`, and a symlink `link` to `.env`.
fn with_secrets() -> Layout {
    let l = Layout::new();
    for dir in ["app", "certs", ".ssh"] {
        std::fs::create_dir_all(l.at(dir)).unwrap();
    }
    for (file, text) in [
        (".env", "TOKEN=sk-live\n"),
        ("app/.env.local", "DB=secret\n"),
        ("certs/site.pem", "-----BEGIN\n"),
        (".ssh/config", "Host *\n"),
    ] {
        std::fs::write(l.at(file), text).unwrap();
    }
    std::os::unix::fs::symlink(".env", l.at("link")).unwrap();
    l
}

#[test]
fn reading_a_secret_is_refused_however_it_is_named() {
    for wasi in BOTH {
        let l = with_secrets();
        for mode in ["read-only", "workspace-write", "full-access"] {
            for path in [
                ".env",
                "link",
                "app/.env.local",
                "certs/site.pem",
                ".ssh/config",
                "src/../.env",
            ] {
                let run = l
                    .cordon()
                    .args(["--sandbox", mode])
                    .probe(wasi, &["read", path]);
                run.expect_refused();
                assert!(!run.stdout().contains("TOKEN"), "{wasi:?} {mode} {path}");
            }
            let run = l
                .cordon()
                .args(["--sandbox", mode])
                .probe(wasi, &["ls", ".ssh"]);
            run.expect_refused();
        }
        // Ordinary files stay readable.
        let run = l.cordon().probe(wasi, &["read", "a.txt"]);
        assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    }
    // The built-in tools too.
    let l = with_secrets();
    for command in [
        &["cat", ".env"][..],
        &["head", "link"],
        &["grep", "-r", "TOKEN", "."],
    ] {
        let run = l.cordon().args(["--"]).args(command).output();
        assert_ne!(run.code(), 0, "{command:?}");
        assert!(
            !run.stdout().contains("sk-live"),
            "{command:?}: {}",
            run.stdout()
        );
    }
}

#[test]
fn a_secret_cannot_be_moved_copied_linked_or_changed() {
    for wasi in BOTH {
        let l = with_secrets();
        let before = l.inside();
        let attempts: &[&[&str]] = &[
            &["rename", ".env", "plain.txt"],
            &["rename", ".ssh", "ssh"],
            &["link", ".env", "plain.txt"],
            &["write", ".env", "TOKEN=stolen"],
            &["append", "link", "x"],
            &["truncate", "certs/site.pem"],
            &["rm", ".env"],
            &["write", ".ssh/authorized_keys", "ssh-ed25519 AAAA attacker"],
        ];
        for attempt in attempts {
            l.cordon().probe(wasi, attempt).expect_refused();
        }
        assert_eq!(l.inside(), before, "{wasi:?}");
    }
    let l = with_secrets();
    let before = l.inside();
    for command in [
        &["cp", ".env", "copy"][..],
        &["mv", ".env", "moved"],
        &["sed", "-i", "s/sk/xx/", ".env"],
    ] {
        let run = l.cordon().args(["--"]).args(command).output();
        assert_ne!(run.code(), 0, "{command:?}");
    }
    assert_eq!(l.inside(), before);
}

/// A secret named by its path (`--secret config/prod.json`) must stay one
/// when a directory on its way moves: the pattern would no longer match
/// it, in this run or the next. WASI refuses the rename.
#[test]
fn a_secret_named_by_path_cannot_be_moved_out_from_under_it() {
    for wasi in BOTH {
        let l = Layout::new();
        std::fs::create_dir_all(l.at("config/deep")).unwrap();
        std::fs::write(l.at("config/deep/prod.json"), "{\"key\": \"live\"}\n").unwrap();
        let before = l.inside();
        for attempt in [
            &["rename", "config", "cfg"][..],
            &["rename", "config/deep", "config/shallow"],
            &["rename", "config", "src/config"],
        ] {
            l.cordon()
                .args(["--secret", "config/deep/prod.json"])
                .probe(wasi, attempt)
                .expect_refused();
        }
        assert_eq!(l.inside(), before, "{wasi:?}");
        // Elsewhere renames still work.
        l.cordon()
            .args(["--secret", "config/deep/prod.json"])
            .probe(wasi, &["rename", "src", "source"])
            .expect_code(0);
    }
}

/// Natively, in every mode, the same: the rename fails, the secret stays
/// where its pattern names it and unread.
#[cfg(target_os = "linux")]
#[test]
fn a_secret_named_by_path_cannot_be_moved_natively() {
    use crate::native::{everyone_and_unprivileged_landlock, hand_over, sh};
    for who in everyone_and_unprivileged_landlock() {
        let l = Layout::new();
        std::fs::create_dir_all(l.at("config")).unwrap();
        std::fs::write(l.at("config/prod.json"), "live-key\n").unwrap();
        hand_over(&l, who);
        let before = l.inside();
        let run = sh(
            &l,
            who,
            &["--secret", "config/prod.json"],
            "mv config cfg; cat cfg/prod.json config/prod.json",
        );
        assert!(!run.stdout().contains("live-key"), "{who:?}");
        assert_eq!(l.inside(), before, "{who:?}");
    }
}

/// A secret git already holds is readable through git: cordon says so,
/// once per root and set of files, on stderr and in the audit, and `cordon
/// doctor` names it.
#[test]
fn secrets_git_already_holds_are_named_once() {
    if crate::support::skip_without(&["git"]) {
        return;
    }
    let l = with_secrets();
    std::fs::remove_dir_all(l.at(".git")).unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&l.root)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", ".env", "a.txt"]);
    git(&["commit", "-q", "-m", "oops"]);
    let audit = l.base.join("audit.jsonl");
    let run = l
        .cordon()
        .args(["--audit", audit.to_str().unwrap(), "--", "true"])
        .output();
    run.expect_code(0);
    assert!(
        run.stderr().contains("git holds secret files: .env"),
        "{}",
        run.stderr()
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(log.contains("\"warning\"") && log.contains(".env"), "{log}");
    // Once: the next run says nothing.
    let run = l.cordon().args(["--", "true"]).output();
    assert_eq!(run.expect_code(0).stderr(), "");
    // A new one tracked: said again, naming both.
    git(&["add", "certs/site.pem"]);
    let run = l.cordon().args(["--", "true"]).output();
    assert!(
        run.stderr().contains(".env, certs/site.pem"),
        "{}",
        run.stderr()
    );
    let doctor = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .arg("doctor")
        .current_dir(&l.root)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        out.contains("git holds secret files: .env, certs/site.pem"),
        "{out}"
    );
}

#[test]
fn allow_secret_grants_and_secret_adds() {
    let l = with_secrets();
    let run = l
        .cordon()
        .args(["--allow-secret", ".env", "--", "cat", ".env"])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "TOKEN=sk-live\n");
    // Only what was granted: the others stay hidden.
    l.cordon()
        .args(["--allow-secret", ".env", "--", "cat", "certs/site.pem"])
        .output()
        .expect_code(1);
    let run = l
        .cordon()
        .args(["--secret", "src/*.rs", "--", "cat", "src/main.rs"])
        .output();
    run.expect_code(1);
    assert_eq!(run.stdout(), "");
}

/// Natively, in every mode: a secret renamed within its directory would be
/// a secret no more for the next run's scan, and one overwritten,
/// truncated or removed is lost. None of it may happen; the secret's
/// directory still lists and reads its other files.
#[cfg(target_os = "linux")]
#[test]
fn a_secret_cannot_be_renamed_overwritten_or_removed_natively() {
    use crate::native::{everyone_and_unprivileged_landlock, sh};
    for who in everyone_and_unprivileged_landlock() {
        let l = with_secrets();
        std::fs::write(l.at("app/readme"), "read me\n").unwrap();
        crate::native::hand_over(&l, who);
        let before = l.inside();
        let run = sh(
            &l,
            who,
            &[],
            "mv app/.env.local app/notes.txt; echo x > .env; true > app/.env.local; \
             rm -f certs/site.pem; rm -rf .ssh; ln app/.env.local app/hard; \
             echo key > .ssh/authorized_keys; cat app/readme",
        );
        assert_eq!(run.stdout(), "read me\n", "{who:?}: {}", run.stderr());
        assert_eq!(l.inside(), before, "{who:?}: {}", run.stderr());
        assert_eq!(
            std::fs::read_to_string(l.at("app/.env.local")).unwrap(),
            "DB=secret\n"
        );
    }
}

/// `--secret /abs/path` outside the root is honoured: native commands are
/// denied it in every mode (WASI tools never see past the root); a pattern
/// there is refused with a reason, never accepted and ignored.
#[cfg(target_os = "linux")]
#[test]
fn a_secret_outside_the_root_is_denied_to_native_commands() {
    let l = Layout::new();
    let outside = l.base.join("outside/secret.txt");
    let outside = outside.to_str().unwrap();
    let read = |extra: &[&str]| {
        l.cordon()
            .args(["--engine", "native", "--secret", outside])
            .args(extra)
            .args(["--", "cat", outside])
            .output()
    };
    for mode in [&[][..], &["--no-namespaces"][..]] {
        let run = read(mode);
        assert_ne!(run.code(), 0, "{mode:?}: {}", run.stdout());
        assert!(!run.stdout().contains("outside secret"), "{mode:?}");
    }
    let pattern = format!("{}/*.txt", l.base.join("outside").display());
    let run = l.cordon().args(["--secret", &pattern, "--", "ls"]).output();
    run.expect_code(125);
    assert!(
        run.stderr().contains("a pattern outside the root"),
        "{}",
        run.stderr()
    );
}
