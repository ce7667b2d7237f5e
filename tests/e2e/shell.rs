//! Shell command lines: parsed, judged command by command, run across WASI
//! and native stages; escape and injection attempts refused before anything
//! runs.

use crate::support::{Layout, Run, allow_rm_rules};

fn line(l: &Layout, flags: &[&str], script: &str) -> Run {
    l.cordon().args(flags).args(["-c", script]).output()
}

#[test]
fn lists_run_each_command_on_its_engine_with_shell_status() {
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let run = line(
        &l,
        &["--audit", audit.to_str().unwrap()],
        "cat a.txt && sh -c 'echo native'; false || echo fallback; cd src && cat main.rs",
    );
    assert_eq!(
        run.expect_code(0).stdout(),
        "alpha\nnative\nfallback\nfn main() {}\n"
    );
    assert!(
        std::fs::read_to_string(&audit)
            .unwrap()
            .contains("\"engine\":\"shell\"")
    );
    line(&l, &[], "true && false").expect_code(1);
    line(&l, &[], "false; true").expect_code(0);
    line(&l, &[], "false && echo never").expect_code(1);
    // bash -lc is the same thing.
    let run = l.cordon().args(["--", "bash", "-lc", "cat a.txt"]).output();
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
}

#[test]
fn pipelines_return_the_last_stage_status_and_honour_pipefail() {
    let l = Layout::new();
    let run = line(&l, &[], "cat a.txt | tr a-z A-Z");
    assert_eq!(run.expect_code(0).stdout(), "ALPHA\n");
    line(&l, &[], "false | true").expect_code(0);
    line(&l, &[], "true | false").expect_code(1);
    line(&l, &[], "set -o pipefail; false | true").expect_code(1);
}

#[test]
fn quoting_corner_cases() {
    let l = Layout::new();
    let run = line(
        &l,
        &[],
        r#"echo "a  b" 'c  d' e\ f "\$HOME" '$HOME' "it's""#,
    );
    assert_eq!(
        run.expect_code(0).stdout(),
        "a  b c  d e f $HOME $HOME it's\n"
    );
}

#[test]
fn a_forbidden_command_anywhere_refuses_the_whole_line() {
    let l = Layout::new();
    let rules = l.base.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nprefix = [\"rm\"]\ndecision = \"forbid\"\n",
    )
    .unwrap();
    let before = l.inside();
    for script in [
        "touch first.txt && rm -rf src",
        "touch first.txt; rm -rf src",
        "ls | rm -rf src",
        "X=1 rm -rf src",
        "env -i rm -rf src",
        "nice -n 5 rm -rf src",
        "timeout 5 rm -rf src",
        "echo src | xargs rm -rf",
        "sudo rm -rf src",
        "command rm -rf src",
        "exec rm -rf src",
        "/usr/bin/rm -rf src",
        "bash -c 'rm -rf src'",
        "sh -c \"sh -c 'rm -rf src'\"",
        "find . -name src -exec rm -rf {} +",
        "touch first.txt > out.txt; rm -rf src",
    ] {
        let run = line(&l, &["--rules", rules.to_str().unwrap()], script);
        run.expect_code(126);
        assert!(
            run.stderr().contains("forbidden by"),
            "{script}: {}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{script}: something ran");
    }
}

#[test]
fn redirections_outside_the_writable_area_are_refused_before_running() {
    let l = Layout::new();
    // A HOME of the layout's, which the snapshots cover.
    let home = l.base.join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join(".bashrc"), "# the person's own\n").unwrap();
    // A name of this layout's own in /etc.
    let etc = format!(
        "/etc/cordon-{}",
        l.base.file_name().unwrap().to_str().unwrap()
    );
    let before = (l.inside(), l.outside());
    for script in [
        "touch first.txt; echo x > ../outside/x",
        &format!("echo x > {etc}"),
        "echo x 2> ~/.bashrc",
        "echo x >> .git/config",
        "echo x > .GIT/config",
        "echo x &> ../proj-evil/x",
        "echo x > .env",
    ] {
        let mut cordon = l.cordon().args(["-c", script]);
        cordon.0.env("HOME", &home);
        let run = cordon.output();
        run.expect_code(126);
        assert!(
            run.stderr().contains("nothing ran"),
            "{script}: {}",
            run.stderr()
        );
        assert_eq!((l.inside(), l.outside()), before, "{script}");
    }
    assert!(!std::path::Path::new(&etc).exists());
    // Inside the root, redirections work.
    line(&l, &[], "echo ok > out.txt").expect_code(0);
    assert_eq!(std::fs::read_to_string(l.at("out.txt")).unwrap(), "ok\n");
}

/// Attack: cordon opens a line's redirections itself, so they are a maker
/// of names like any command. A redirection that would complete a bare
/// repository's shape (HEAD beside objects and refs, or beside
/// commondir), whichever engine the writing stage runs on, or make a
/// `.git` in a `--writable` directory outside the root, is refused; git
/// run afterwards finds no repository there, and nothing changed.
#[test]
fn a_redirection_cannot_make_a_git_directory() {
    let l = Layout::new();
    let writable = l.base.join("outside/w");
    std::fs::create_dir_all(writable.join("sub")).unwrap();
    std::fs::create_dir_all(l.at("src/objects")).unwrap();
    std::fs::create_dir_all(l.at("src/refs")).unwrap();
    std::fs::create_dir_all(l.at("wt")).unwrap();
    std::fs::write(l.at("wt/HEAD"), "ref: refs/heads/main\n").unwrap();
    let w = writable.display();
    for script in [
        "echo 'ref: refs/heads/main' > src/HEAD".to_string(),
        "echo 'ref: refs/heads/main' > src/head".to_string(),
        "/bin/echo 'ref: refs/heads/main' >> src/HEAD".to_string(),
        "echo ../.git > wt/commondir".to_string(),
        format!("echo 'gitdir: /tmp' > {w}/sub/.git"),
        format!("echo x > {w}/.GIT."),
        format!("echo x > {w}/.g\u{200c}it"),
    ] {
        let before = (l.inside(), l.outside());
        let run = l
            .cordon()
            .args(["--writable", &w.to_string(), "-c", &script])
            .output();
        assert_ne!(run.code(), 0, "{script}: {}", run.stderr());
        assert!(
            run.stderr().contains("redirection"),
            "{script}: {}",
            run.stderr()
        );
        assert_eq!((l.inside(), l.outside()), before, "{script}");
    }
    for dir in [l.at("src"), l.at("wt"), writable.join("sub")] {
        let git = std::process::Command::new("git")
            .args(["rev-parse", "--git-dir"])
            .current_dir(&dir)
            .env("GIT_CEILING_DIRECTORIES", &l.base)
            .output()
            .unwrap();
        assert!(!git.status.success(), "{}: a repository", dir.display());
    }
    // A HEAD beside nothing that shapes a repository is a file like any.
    l.cordon()
        .args(["-c", "echo x > wt/objects && echo y > HEAD"])
        .output()
        .expect_code(0);
}

#[test]
fn globs_that_would_reach_outside_the_root_are_refused() {
    let l = Layout::new();
    for script in ["ls ../*", "cat /etc/*", "ls ../proj-e*/secret.txt"] {
        let run = line(&l, &[], script);
        run.expect_code(125);
        assert!(
            run.stderr().contains("outside the root"),
            "{script}: {}",
            run.stderr()
        );
    }
    let run = line(&l, &[], "ls src/*.rs");
    assert_eq!(run.expect_code(0).stdout(), "src/main.rs\n");
}

#[test]
fn opaque_constructs_are_unknown_commands() {
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    for script in [
        "echo $(cat a.txt)",
        "(cat a.txt)",
        "for f in x; do cat a.txt; done",
    ] {
        let run = line(
            &l,
            &[
                "--approval",
                "untrusted",
                "--audit",
                audit.to_str().unwrap(),
            ],
            script,
        );
        run.expect_code(126);
        assert!(
            run.stderr().contains("opaque"),
            "{script}: {}",
            run.stderr()
        );
        // Under the default policy they run, natively, in the sandbox.
        assert_eq!(line(&l, &[], script).expect_code(0).stdout(), "alpha\n");
    }
    // A loop variable only has a value as the shell runs: as an argument
    // it is a wildcard, and `cat` reads whatever it is; as the command it
    // cannot be read, so it asks under every policy.
    let run = line(&l, &[], "for f in a.txt; do cat $f; done");
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    let run = line(&l, &[], "for f in cat; do $f a.txt; done");
    run.expect_code(126);
    assert!(run.stderr().contains("cannot"), "{}", run.stderr());
    // Known-safe commands alone do not ask, even in a pipeline.
    line(&l, &["--approval", "untrusted"], "cat a.txt | wc -l").expect_code(0);
}

#[test]
fn an_argument_cannot_smuggle_a_second_command() {
    let l = Layout::new();
    let before = l.inside();
    let run = line(
        &l,
        &[],
        r#"echo "; rm -rf src" '$(rm -rf src)' '`rm -rf src`'"#,
    );
    assert_eq!(
        run.expect_code(0).stdout(),
        "; rm -rf src $(rm -rf src) `rm -rf src`\n"
    );
    line(&l, &[], "grep -e '; rm -rf src' a.txt").expect_code(1);
    assert_eq!(l.inside(), before);
    // A read-only-looking command that runs another is not known-safe.
    for script in [
        "find . -exec touch {}.x ;",
        "sed -i s/a/b/ a.txt",
        "rg --pre sh x .",
    ] {
        let run = line(&l, &["--approval", "untrusted"], script);
        run.expect_code(126);
    }
    assert_eq!(l.inside(), before);
}

#[test]
fn parse_errors_are_one_line_with_the_position() {
    let l = Layout::new();
    let run = line(&l, &[], "echo 'unterminated");
    run.expect_code(125);
    let stderr = run.stderr();
    assert!(stderr.starts_with("cordon: -c script:"), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn wasi_pipelines_are_joined_in_the_host_without_any_process() {
    let l = Layout::new();
    let lines: String = (1..=5000).map(|n| format!("{n}\n")).collect();
    std::fs::write(l.at("nums.txt"), lines).unwrap();
    // No PATH: nothing native can run, so every stage is a WASI tool.
    let no_path = |script: &str| {
        let mut cordon = l.cordon().args(["-c", script]);
        cordon.0.env("PATH", "");
        cordon.output()
    };
    let run = no_path("cat nums.txt | grep 7 | wc -l");
    assert_eq!(run.expect_code(0).stdout().trim(), "1355");
    let run = no_path("cat a.txt | tr a-z A-Z && cat a.txt | grep -c alpha");
    assert_eq!(run.expect_code(0).stdout(), "ALPHA\n1\n");
    // The status is the last stage's.
    no_path("cat a.txt | grep zzz").expect_code(1);
    no_path("grep zzz a.txt | cat").expect_code(0);
    // A stage whose reader went away ends quietly, as by SIGPIPE.
    let run = no_path("cat nums.txt | head -2");
    assert_eq!(run.expect_code(0).stdout(), "1\n2\n");
    assert_eq!(run.stderr(), "");
}

#[test]
fn wasi_and_native_stages_are_joined_by_pipes_in_the_host() {
    let l = Layout::new();
    // WASI cat into native sh into WASI wc, then a native producer whose
    // reader goes away: it ends quietly, as in a shell.
    let run = line(&l, &[], "cat a.txt | sh -c 'tr a-z A-Z' | wc -c");
    assert_eq!(run.expect_code(0).stdout().trim(), "6");
    let run = line(&l, &[], "yes | head -2");
    assert_eq!(run.expect_code(0).stdout(), "y\ny\n");
    assert_eq!(run.stderr(), "");
    // The native stage is still in the sandbox.
    let before = l.outside();
    let run = line(
        &l,
        &[],
        "cat a.txt | sh -c 'cat > ../outside/x && echo wrote || echo refused'",
    );
    assert_eq!(run.expect_code(0).stdout(), "refused\n", "{}", run.stderr());
    assert_eq!(l.outside(), before);
}

/// Attacks on the broker's reading of a line: each must be refused (a
/// forbidding rule) or asked about (and so denied with nobody to ask), and
/// change nothing.
#[test]
fn what_the_broker_cannot_read_it_does_not_let_through() {
    let l = Layout::new();
    let rules = l.base.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nprefix = [\"rm\"]\ndecision = \"forbid\"\n\n\
         [[rule]]\nprefix = [\"curl\"]\ndecision = \"forbid\"\n",
    )
    .unwrap();
    let before = l.inside();
    let refused = |flags: &[&str], argv: &[&str]| {
        let run = l
            .cordon()
            .args(["--rules", rules.to_str().unwrap()])
            .args(flags)
            .args(["--"])
            .args(argv)
            .output();
        run.expect_code(126);
        assert_eq!(l.inside(), before, "{argv:?} changed something");
    };
    // Top-level wrappers and wrapped shells.
    refused(&[], &["env", "rm", "-rf", "src"]);
    refused(&[], &["nice", "rm", "-rf", "src"]);
    refused(&[], &["env", "sh", "-c", "rm -rf src"]);
    refused(&[], &["sh", "-c", "exec -a x rm -rf src"]);
    // Shell options before -c.
    refused(&[], &["bash", "-e", "-c", "rm -rf src"]);
    refused(&[], &["sh", "-xc", "rm -rf src"]);
    refused(&[], &["bash", "--norc", "-c", "rm -rf src"]);
    refused(&[], &["sh", "-c", "--", "rm -rf src"]);
    // Inside bodies and substitutions.
    refused(&[], &["sh", "-c", "(rm -rf src)"]);
    refused(&[], &["sh", "-c", "{ rm -rf src; }"]);
    refused(&[], &["sh", "-c", "echo $(rm -rf src)"]);
    refused(&[], &["sh", "-c", "if true; then rm -rf src; fi"]);
    // What only the running shell knows.
    refused(&[], &["sh", "-c", "$NOPE rm -rf src >/dev/null"]);
    refused(&[], &["bash", "-c", "find .${IFS}-delete >/dev/null"]);
    refused(&[], &["bash", "-c", "{rm,-rf,src} >/dev/null"]);
    refused(&[], &["sh", "-c", "command eval 'rm -rf src'"]);
    refused(&[], &["bash", "-c", "bash <<EOF\nrm -rf src\nEOF"]);
    refused(&[], &["sh", "-c", "touch ./-rf && rm * >/dev/null"]);
    // dash reads `&>` as `&` then `>`: read with sh's grammar.
    refused(&[], &["sh", "-c", "echo &>/dev/null rm -rf src"]);
    // A variable the line sets, read back as a command name: the shell
    // runs `rm`, not the environment's HOME.
    refused(&[], &["sh", "-c", "HOME=rm; $HOME -rf src"]);
    refused(&[], &["sh", "-c", "export HOME=rm; $HOME -rf src"]);
    refused(
        &[],
        &["bash", "-c", "for HOME in rm; do $HOME -rf src; done"],
    );
    refused(&[], &["bash", "-c", "f() { $HOME -rf src; }; HOME=rm; f"]);
    // A command fed to a wrapper by xargs.
    refused(&[], &["sh", "-c", "echo rm -rf src | xargs env"]);
    // untrusted: variables set for a command, the project's own programs,
    // option prefixes.
    std::fs::write(l.at("ls"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        l.at("ls"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let before = l.inside();
    for argv in [
        &["sh", "-c", "LD_PRELOAD=./x.so cat a.txt"][..],
        &["./ls"],
        &["sort", "--o=out", "a.txt"],
        &["sort", "--compress-program=./x", "a.txt"],
    ] {
        let run = l
            .cordon()
            .args(["--approval", "untrusted", "--"])
            .args(argv)
            .output();
        run.expect_code(126);
        assert_eq!(l.inside(), before, "{argv:?}");
    }
}

/// A glob after `cd` expands where the `cd` went, as in a shell; a `cd`
/// that fails ends the line (its rest was read in that directory).
#[test]
fn globs_follow_cd_and_a_failed_cd_ends_the_line() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build/obj")).unwrap();
    std::fs::write(l.at("build/a.o"), "a").unwrap();
    std::fs::write(l.at("build/obj/b.o"), "b").unwrap();
    let run = line(
        &l,
        &["--rules", allow_rm_rules().to_str().unwrap()],
        "cd build && rm -rf *",
    );
    run.expect_code(0);
    assert!(l.at("build").is_dir());
    assert_eq!(std::fs::read_dir(l.at("build")).unwrap().count(), 0);
    assert!(l.at("src/main.rs").exists() && l.at("a.txt").exists());
    let run = line(&l, &[], "cd nowhere; touch after.txt");
    run.expect_code(1);
    assert!(!l.at("after.txt").exists() && !l.at("nowhere/after.txt").exists());
}

/// `cordon run -c` with no PATH: nothing native (not even a shell) can run,
/// so a line that works ran its WASI tools with cordon joining the pipes,
/// opening the redirections and following the builtins.
fn in_host(l: &Layout, script: &str) -> Run {
    let mut cordon = l.cordon().args(["-c", script]);
    cordon.0.env("PATH", "");
    cordon.output()
}

#[test]
fn redirections_assignments_and_builtins_run_in_the_host() {
    let l = Layout::new();
    std::fs::write(l.at("in.txt"), "b\na\nc\n").unwrap();
    // <, >, >>, 2>&1, >&2, /dev/null, `: >` and `>` alone (with no bash
    // the line is read as sh reads it, so `&>` is bash's only, below).
    let run = in_host(
        &l,
        "sort < in.txt > sorted.txt && cat sorted.txt; echo one >> log; echo two >> log; \
         ls nope > both 2>&1; echo gone > /dev/null; echo to-err >&2; \
         : > emptied; > made",
    );
    assert_eq!(run.expect_code(0).stdout(), "a\nb\nc\n");
    assert_eq!(run.stderr(), "to-err\n");
    std::fs::write(l.at("emptied"), "x").unwrap();
    let read = |f: &str| std::fs::read_to_string(l.at(f)).unwrap();
    assert_eq!(read("log"), "one\ntwo\n");
    assert!(read("both").contains("nope"));
    line(&l, &[], "ls nope &> all").expect_code(2);
    assert!(read("all").contains("nope"));
    in_host(&l, ": > emptied").expect_code(0);
    assert_eq!(read("emptied"), "");
    assert_eq!(read("made"), "");
    // Order matters as in a shell: stderr goes where stdout went before.
    let run = in_host(&l, "ls nope 2>&1 > out | wc -l");
    assert_eq!(run.expect_code(0).stdout().trim(), "1");
    // A directory made earlier in the line can be written into.
    in_host(&l, "mkdir -p build && echo hi > build/x.txt").expect_code(0);
    assert_eq!(read("build/x.txt"), "hi\n");
    // A variable set for one command reaches that command only.
    let run = in_host(&l, "TZ=XYZ-3 date -d @0 +%H; date -u -d @0 +%H");
    assert_eq!(run.expect_code(0).stdout(), "03\n00\n");
    // A file that cannot be opened fails its command, as in a shell.
    let run = in_host(&l, "cat < missing.txt; echo after");
    assert_eq!(run.expect_code(0).stdout(), "after\n");
    assert!(run.stderr().contains("missing.txt"), "{}", run.stderr());
    in_host(&l, "cat < missing.txt").expect_code(1);
    // A file outside the root is read as a native command reads it: in the
    // shell, under the OS sandbox.
    let run = line(&l, &[], "wc -c < ../outside/secret.txt");
    assert_eq!(run.expect_code(0).stdout().trim(), "15");
}

#[test]
fn negation_exit_errexit_and_pipefail_are_followed_in_the_host() {
    let l = Layout::new();
    // `[` is a built-in tool, and `[` alone is a word, not a glob.
    let run = in_host(&l, "[ -f a.txt ] && echo yes; [ -d a.txt ] || echo no");
    assert_eq!(run.expect_code(0).stdout(), "yes\nno\n");
    in_host(&l, "! false").expect_code(0);
    in_host(&l, "! true").expect_code(1);
    in_host(&l, "false || exit 7; echo no").expect_code(7);
    in_host(&l, "false; exit").expect_code(1);
    let run = in_host(&l, "set -e; echo a; false; echo b");
    assert_eq!(run.expect_code(1).stdout(), "a\n");
    // A failing condition of && / || or a negated one does not end it.
    let run = in_host(
        &l,
        "set -e; false && true; ! true; false || true; echo reached",
    );
    assert_eq!(run.expect_code(0).stdout(), "reached\n");
    in_host(&l, "false | true").expect_code(0);
    in_host(&l, "set -o pipefail; false | true").expect_code(1);
    in_host(&l, "set -euo pipefail; grep zzz a.txt | cat; echo no").expect_code(1);
    in_host(&l, "set -o pipefail; set +o pipefail; false | true").expect_code(0);
    // They only steer the line: nothing to approve, even under untrusted.
    let run = line(
        &l,
        &["--approval", "untrusted"],
        "set -e; cat a.txt; exit 0",
    );
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
}

/// Each attack writes or reads through a link an earlier command of the
/// same line made (or one already there), after the path was checked: the
/// host opens the directory it checks and never follows the last name.
#[test]
fn redirections_through_links_made_in_the_line_are_refused() {
    let l = Layout::new();
    std::os::unix::fs::symlink("../outside/secret.txt", l.at("already")).unwrap();
    let before = (
        l.outside(),
        std::fs::read_to_string(l.at(".git/HEAD")).unwrap(),
    );
    for script in [
        // A link to a file outside the root, then a write through it.
        "sh -c 'ln -s ../outside/secret.txt link'; echo pwned > link",
        "echo pwned >> already",
        // A linked directory, then a new file in it.
        "sh -c 'ln -s ../outside d'; echo pwned > d/new.txt",
        // A link to .git, then its config.
        "sh -c 'ln -s .git g'; echo pwned > g/HEAD",
        // Reading a file outside the root through a link.
        "sh -c 'ln -s ../outside o'; cat < o/secret.txt",
        "cat < already",
    ] {
        let run = line(&l, &[], script);
        run.expect_code(126);
        assert!(
            run.stderr().contains("does not run"),
            "{script}: {}",
            run.stderr()
        );
        assert!(!run.stdout().contains("secret"), "{script}");
        let now = (
            l.outside(),
            std::fs::read_to_string(l.at(".git/HEAD")).unwrap(),
        );
        assert_eq!(now, before, "{script}");
        for link in ["link", "d", "g", "o"] {
            let _ = std::fs::remove_file(l.at(link));
        }
    }
}

#[test]
fn secrets_cannot_be_read_or_written_through_redirections() {
    let l = Layout::new();
    std::fs::write(l.at(".env"), "TOKEN=s3cret\n").unwrap();
    let before = l.inside();
    for script in [
        "cat < .env",
        "wc -c < .env",
        "echo x > .env",
        "echo x >> .env",
    ] {
        let run = line(&l, &[], script);
        run.expect_code(126);
        assert!(!run.stdout().contains("s3cret"), "{script}");
        assert!(
            run.stderr().contains("secret"),
            "{script}: {}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{script}");
    }
}

/// Attack: a line nested thousands of levels deep (braces, substitutions,
/// compound commands) to overflow cordon's stack while it reads the line.
/// It is refused with one clean line and exit 125; nothing runs.
#[test]
fn lines_nested_past_the_limit_are_a_clean_error() {
    let l = Layout::new();
    let before = l.inside();
    for script in [
        format!("{}touch x{}", "{ ".repeat(20_000), "; }".repeat(20_000)),
        format!(
            "echo {}x{}",
            "$(touch x; echo ".repeat(2_000),
            ")".repeat(2_000)
        ),
        format!(
            "{}touch x; {}",
            "if true; then ".repeat(5_000),
            "fi; ".repeat(5_000)
        ),
        format!("{}touch x{}", "(".repeat(150), ")".repeat(150)),
        // A shift taken for a here-document would hide the rest.
        format!(
            "echo $((1<<2))\n{}touch x{}\n2",
            "{ ".repeat(5_000),
            "; }".repeat(5_000)
        ),
        format!(
            "((x<<1))\necho {}x{}",
            "$(".repeat(3_000),
            ")".repeat(3_000)
        ),
        format!("[[ {}a ]]", "! ".repeat(20_000)),
        // Openers out of command position, case patterns that look like
        // closers, a `#` inside a word, prefixes with options.
        format!(
            "{}touch x{}",
            "function f { ".repeat(3_000),
            "; }".repeat(3_000)
        ),
        format!(
            "{}touch x{}",
            "case x in a) ;; fi) ;; y) ".repeat(3_000),
            " ;; esac".repeat(3_000)
        ),
        format!(
            "echo {}x{}",
            "$(true)#$(echo ".repeat(3_000),
            ")".repeat(3_000)
        ),
        format!(
            "{}touch x{}",
            "time -p { ".repeat(3_000),
            "; }".repeat(3_000)
        ),
        format!(
            "{}touch x{}",
            "coproc { ".repeat(3_000),
            "; }".repeat(3_000)
        ),
    ] {
        let run = line(&l, &[], &script);
        run.expect_code(125);
        assert!(
            run.stderr().starts_with("cordon: ") && run.stderr().lines().count() == 1,
            "{}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("cordon reads at most"),
            "{}",
            run.stderr()
        );
        assert_eq!(l.inside(), before);
    }
}

/// Attack: option words the shell reads one way and a naive reader
/// another (`-oo NAME NAME`: one value per `o`), so that a harmless word
/// is judged as the script while the shell runs `rm -rf`.
#[test]
fn a_shell_runs_the_script_it_was_judged_by_whatever_its_options() {
    let l = Layout::new();
    for shell in ["bash", "sh"] {
        let nested = format!("{shell} -c -oo pipefail errexit 'rm -rf src'");
        line(&l, &["--approver", "deny"], &nested).expect_code(126);
        let run = l
            .cordon()
            .args(["--engine", "native", "--approver", "deny", "--"])
            .args([shell, "-c", "-oo", "pipefail", "errexit", "rm -rf src"])
            .output();
        run.expect_code(126);
        assert!(l.at("src/main.rs").exists(), "{shell}: rm ran unjudged");
    }
}

/// Attack: a program of the project's own, or a link to another
/// interpreter, named like a shell: cordon must judge the program that
/// runs, not read its arguments as a shell line.
#[test]
fn a_program_named_like_a_shell_is_judged_as_the_program_it_is() {
    let l = Layout::new();
    let marker = l.at("ran.txt");
    std::fs::write(
        l.at("bash"),
        format!(
            "#!/usr/bin/python3\nopen({:?}, 'w')\n",
            marker.display().to_string()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        l.at("bash"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let untrusted = ["--approval", "untrusted", "--approver", "deny"];
    l.cordon()
        .args(untrusted)
        .args(["--", "./bash", "-c", "echo hi"])
        .output()
        .expect_code(126);
    line(&l, &untrusted, "./bash -c ls").expect_code(126);
    assert!(!marker.exists(), "the project's own program ran unasked");

    // A link to python3 named bash answers to the rules naming python.
    std::fs::remove_file(l.at("bash")).unwrap();
    let (python, rules) = forbidding_python(&l);
    std::os::unix::fs::symlink(&python, l.at("bash")).unwrap();
    let script = format!("open({:?}, 'w')", marker.display().to_string());
    l.cordon()
        .args(["--rules", rules.to_str().unwrap(), "--"])
        .args(["./bash", "-c", &script])
        .output()
        .expect_code(126);
    assert!(!marker.exists(), "python ran through a link named bash");
}

/// Attack: `-l` placed after an option's value, so the login shell (whose
/// profile, in a HOME commands may write, runs first) goes unseen.
#[test]
fn a_login_shell_is_seen_after_option_values() {
    let l = Layout::new();
    std::fs::write(l.at(".bash_profile"), "touch profile-ran\n").unwrap();
    let mut cordon = l.cordon();
    cordon.0.env("HOME", &l.root);
    let run = cordon
        .args(["--approval", "untrusted", "--approver", "deny", "-c"])
        .args(["bash -o pipefail -l -c 'echo hi'"])
        .output();
    run.expect_code(126);
    assert!(!l.at("profile-ran").exists(), "the profile ran unjudged");
}

/// Attack: a script of the project's own whose `#!` line is longer than
/// cordon read, or carries options: its commands are judged all the same
/// (here, asked about and denied) rather than run unread.
#[test]
fn a_script_whose_interpreter_line_cordon_cannot_follow_is_not_run_unread() {
    let l = Layout::new();
    let long = format!("#!/bin{}bash\nrm -rf src\n", "/".repeat(130));
    for (name, text) in [
        ("long.sh", long.as_str()),
        ("k.sh", "#!/bin/bash -k\nrm -rf src\n"),
    ] {
        std::fs::write(l.at(name), text).unwrap();
        std::fs::set_permissions(
            l.at(name),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        l.cordon()
            .args(["--approver", "deny", "--", &format!("./{name}")])
            .output()
            .expect_code(126);
        assert!(l.at("src/main.rs").exists(), "{name}: its rm ran unread");
    }
}

/// Attack: `env -C DIR` runs the wrapped program from another directory
/// than the one it is judged in, where a relative name means another
/// file: cordon cannot tell what runs, so it asks.
#[test]
fn a_command_moved_to_another_directory_by_env_is_asked_about() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--approver", "deny", "--", "env", "-C", "src", "./main.rs"])
        .output();
    run.expect_code(126);
    line(&l, &["--approver", "deny"], "env --chdir=src ls").expect_code(126);
}

/// Attack: `cd link/..` is the root to bash (a logical `cd`) but the
/// link's parent to a physical reading; a program named `./x` in each
/// is a different file. The line's `./x` must not be judged in one place
/// and run in the other.
#[test]
fn a_cd_through_a_link_is_not_judged_where_the_shell_does_not_go() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("a/b")).unwrap();
    std::os::unix::fs::symlink("a/b", l.at("link")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/true", l.at("a/x")).unwrap();
    let (python, rules) = forbidding_python(&l);
    std::os::unix::fs::symlink(&python, l.at("x")).unwrap();
    let marker = l.at("ran.txt");
    let script = format!(
        "cd link/..; ./x -c \"open('{}', 'w')\"; (true)",
        marker.display()
    );
    line(
        &l,
        &["--rules", rules.to_str().unwrap(), "--approver", "deny"],
        &script,
    )
    .expect_code(126);
    assert!(!marker.exists(), "python ran where true was judged");
}

/// Attack: a link judged as one program (`x -> true`) is retargeted by an
/// earlier command of the same line (`ln -sf python3 x`) before it runs:
/// the rules are asked again as it starts, of the file that runs.
#[test]
fn a_link_retargeted_by_an_earlier_command_answers_to_the_rules_as_it_starts() {
    let l = Layout::new();
    std::os::unix::fs::symlink("/usr/bin/true", l.at("x")).unwrap();
    let (python, rules) = forbidding_python(&l);
    let marker = l.at("ran.txt");
    let script = format!(
        "ln -sf {} x; ./x -c \"open('{}', 'w')\"",
        python.display(),
        marker.display()
    );
    line(
        &l,
        &["--rules", rules.to_str().unwrap(), "--approver", "deny"],
        &script,
    )
    .expect_code(126);
    assert!(!marker.exists(), "python ran through the retargeted link");
}

/// python3's real file, and a rules file forbidding it by that name.
fn forbidding_python(l: &Layout) -> (std::path::PathBuf, std::path::PathBuf) {
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let name = python.file_name().unwrap().to_str().unwrap();
    let rules = l.base.join("rules.toml");
    std::fs::write(
        &rules,
        format!("[[rule]]\nprefix = [\"{name}\"]\ndecision = \"forbid\"\n"),
    )
    .unwrap();
    (python, rules)
}

/// Attack: a redirection to or from a FIFO that no one opens at its other
/// end. Opening it would wait past any deadline or cancel, holding the
/// line (and a server's session) for ever: only regular files are
/// opened, and the line goes on at once.
#[test]
fn a_redirection_never_waits_on_a_fifo() {
    let l = Layout::new();
    let fifo = l.at("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // A deadline, so that a wait ends as a timeout (124), not a hang.
    let run_line = |line: &str| {
        let mut cordon = l.cordon().args(["--timeout", "60", "-c", line]);
        cordon.0.env("PATH", "");
        cordon.output()
    };
    // Writing: no reader, so the open fails at once, as a command's.
    let run = run_line("echo hi > pipe; echo after");
    assert_eq!(run.expect_code(0).stdout(), "after\n");
    // Reading: opened, found no regular file, refused.
    let run = run_line("cat < pipe; echo after");
    assert_ne!(run.code(), 124, "it waited");
    assert!(
        run.stderr().contains("not a regular file"),
        "{}",
        run.stderr()
    );
}
