//! The built-in tools: listed with their origin, confined to the root, and
//! apply_patch/patch all-or-nothing.

use crate::support::{Layout, allow_rm_rules, cordon};

#[test]
fn cordon_tools_lists_every_tool_with_crate_and_version() {
    let out = cordon().arg("tools").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for (tool, krate) in [
        ("ls", "uu_ls"),
        ("grep", "cordon-guest-tools"),
        ("find", "cordon-guest-tools"),
        ("sed", "sed"),
        ("diff", "diffutils"),
        ("apply_patch", "cordon-guest-tools"),
        ("sha256sum", "uu_sha256sum"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(tool))
            .unwrap_or_else(|| panic!("{tool} missing from:\n{text}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1], krate, "{line}");
        assert!(
            fields[2].chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{line}"
        );
    }
    // Every listed tool is really there: the module's own list agrees.
    let l = Layout::new();
    let listed = l.cordon().args(["--", "true"]).output();
    listed.expect_code(0);
}

#[test]
fn tools_never_reach_outside_the_root() {
    let l = Layout::new();
    let before = l.outside();
    let run = l.cordon().args(["--", "cp", "/etc/passwd", "."]).output();
    assert_ne!(run.code(), 0);
    assert!(!l.at("passwd").exists());
    let run = l
        .cordon()
        .args(["--", "find", "/", "-name", "secret.txt"])
        .output();
    assert!(!run.stdout().contains("outside"), "{}", run.stdout());
    // A rule lets `rm -rf` past the broker, so the sandbox itself is tested.
    let run = l
        .cordon()
        .args(["--rules".as_ref(), allow_rm_rules().as_os_str()])
        .args(["--", "rm", "-rf", ".."])
        .output();
    run.expect_code(1);
    assert!(
        run.stderr().contains("refusing to remove"),
        "{}",
        run.stderr()
    );
    let run = l.cordon().args(["--", "mv", "a.txt", "../"]).output();
    assert_ne!(run.code(), 0);
    let outside = l.base.join("outside/secret.txt");
    let run = l
        .cordon()
        .args(["--", "cat", outside.to_str().unwrap()])
        .output();
    assert_ne!(run.code(), 0);
    let run = l
        .cordon()
        .args(["--", "grep", "-r", "secret", ".."])
        .output();
    assert!(!run.stdout().contains("outside secret"), "{}", run.stdout());
    let run = l
        .cordon()
        .args(["--", "sed", "-i", "s/x/y/", "../outside/secret.txt"])
        .output();
    assert_ne!(run.code(), 0);
    assert!(l.at("a.txt").exists());
    assert_eq!(l.outside(), before);
}

#[test]
fn dot_dot_inside_the_root_works_from_a_subdirectory() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--cwd", "src", "--", "cat", "../a.txt"])
        .output();
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    let run = l.cordon().args(["--cwd", "src", "--", "pwd"]).output();
    assert_eq!(
        run.expect_code(0).stdout(),
        format!("{}/src\n", l.root.display())
    );
}

#[test]
fn grep_follows_gnu_exit_codes() {
    let l = Layout::new();
    l.cordon()
        .args(["--", "grep", "alpha", "a.txt"])
        .output()
        .expect_code(0);
    l.cordon()
        .args(["--", "grep", "zzz", "a.txt"])
        .output()
        .expect_code(1);
    l.cordon()
        .args(["--", "grep", "x", "missing"])
        .output()
        .expect_code(2);
    l.cordon()
        .args(["--", "grep", "-q", "alpha", "a.txt", "missing"])
        .output()
        .expect_code(0);
    l.cordon()
        .args(["--", "grep", "(", "a.txt"])
        .output()
        .expect_code(1);
    l.cordon()
        .args(["--", "grep", "-E", "(", "a.txt"])
        .output()
        .expect_code(2);
}

const AGENT_PATCH: &str = "*** Begin Patch
*** Add File: docs/new.md
+# New
+text
*** Update File: src/main.rs
@@
-fn main() {}
+fn main() {
+    println!(\"hi\");
+}
*** Update File: a.txt
*** Move to: b.txt
@@
-alpha
+beta
*** Delete File: .gitignore
*** End Patch
";

#[test]
fn apply_patch_adds_updates_moves_and_deletes() {
    let l = Layout::new();
    std::fs::write(l.at(".gitignore"), "target\n").unwrap();
    let run = l.cordon().args(["--", "apply_patch", AGENT_PATCH]).output();
    run.expect_code(0);
    assert!(run.stdout().starts_with("Success."), "{}", run.stdout());
    assert_eq!(
        std::fs::read_to_string(l.at("docs/new.md")).unwrap(),
        "# New\ntext\n"
    );
    assert_eq!(
        std::fs::read_to_string(l.at("src/main.rs")).unwrap(),
        "fn main() {\n    println!(\"hi\");\n}\n"
    );
    assert!(!l.at("a.txt").exists());
    assert_eq!(std::fs::read_to_string(l.at("b.txt")).unwrap(), "beta\n");
    assert!(!l.at(".gitignore").exists());
}

#[test]
fn apply_patch_with_a_failing_hunk_changes_nothing() {
    let l = Layout::new();
    std::fs::write(l.at(".gitignore"), "target\n").unwrap();
    let broken = AGENT_PATCH.replace("-alpha", "-gamma");
    let before = l.inside();
    let run = l
        .cordon()
        .args(["--", "apply_patch"])
        .output_with_stdin(broken.as_bytes());
    run.expect_code(1);
    assert!(
        run.stderr().contains("a.txt: hunk 1 does not apply"),
        "{}",
        run.stderr()
    );
    assert_eq!(l.inside(), before);
}

#[test]
fn apply_patch_refuses_paths_that_leave_the_root() {
    let l = Layout::new();
    let before_inside = l.inside();
    let before_outside = l.outside();
    let outside = l.base.join("outside/planted.txt");
    for path in ["../outside/planted.txt", outside.to_str().unwrap()] {
        let patch = format!(
            "*** Begin Patch\n*** Add File: ok.txt\n+fine\n*** Add File: {path}\n+evil\n*** End Patch\n"
        );
        let run = l.cordon().args(["--", "apply_patch", &patch]).output();
        run.expect_code(1);
        assert!(
            run.stderr().starts_with("apply_patch: "),
            "{}",
            run.stderr()
        );
    }
    // A protected path fails the whole patch too.
    let patch = "*** Begin Patch\n*** Add File: ok.txt\n+fine\n*** Add File: .git/hooks/pre-commit\n+evil\n*** End Patch\n";
    l.cordon()
        .args(["--", "apply_patch", patch])
        .output()
        .expect_code(1);
    assert_eq!(l.inside(), before_inside);
    assert_eq!(l.outside(), before_outside);
}

/// Each way a patch can fail after it parsed leaves the tree exactly as it
/// was (names, contents, modes, times): a move onto a directory or onto a
/// secret (which once deleted the source), a file under a path that is a
/// file, a symlink as target, a protected path after a good change, a
/// deleted file that is missing.
#[test]
fn apply_patch_failing_any_way_leaves_the_tree_as_it_was() {
    let update_a = "*** Update File: a.txt\n@@\n-alpha\n+ALPHA\n";
    let cases = [
        (
            "move onto a directory",
            format!(
                "{update_a}*** Update File: README.md\n*** Move to: docs\n@@\n-readme\n+moved\n"
            ),
        ),
        (
            "move onto a secret",
            "*** Update File: README.md\n*** Move to: .env\n@@\n-readme\n+moved\n".to_string(),
        ),
        (
            "a file under a file",
            format!("{update_a}*** Add File: a.txt/inner.txt\n+x\n"),
        ),
        (
            "a symlink as target",
            format!("{update_a}*** Update File: link.txt\n@@\n-readme\n+changed\n"),
        ),
        (
            "a protected path",
            format!("{update_a}*** Add File: .git/hooks/pre-commit\n+evil\n"),
        ),
        (
            "a missing file deleted",
            format!("{update_a}*** Delete File: gone.txt\n"),
        ),
    ];
    for (kind, body) in cases {
        let l = Layout::new();
        // Files and a directory with the names a patch's temporary files
        // once took (and then removed on the way back).
        std::fs::write(l.at(".a.txt.cordon-new"), "mine\n").unwrap();
        std::fs::write(l.at(".a.txt.cordon-old"), "mine too\n").unwrap();
        std::fs::create_dir(l.at(".README.md.cordon-old")).unwrap();
        std::fs::write(l.at("README.md"), "readme\n").unwrap();
        std::fs::write(l.at(".env"), "TOKEN=1\n").unwrap();
        std::fs::create_dir(l.at("docs")).unwrap();
        std::fs::write(l.at("docs/index.md"), "docs\n").unwrap();
        std::os::unix::fs::symlink("README.md", l.at("link.txt")).unwrap();
        let before = l.inside();
        let patch = format!("*** Begin Patch\n{body}*** End Patch\n");
        let run = l.cordon().args(["--", "apply_patch", &patch]).output();
        run.expect_code(1);
        assert!(
            run.stderr().starts_with("apply_patch: "),
            "{kind}: {}",
            run.stderr()
        );
        assert_eq!(l.inside(), before, "{kind}: {}", run.stderr());
    }
}

/// A patch that adds a file named like a temporary file of another of
/// its changes gets both right.
#[test]
fn apply_patch_temporary_names_never_take_a_patch_or_user_name() {
    let l = Layout::new();
    let patch = "*** Begin Patch\n*** Add File: .a.txt.cordon-new-0\n+ADDED\n\
                 *** Update File: a.txt\n@@\n-alpha\n+ALPHA\n*** End Patch\n";
    l.cordon()
        .args(["--", "apply_patch", patch])
        .output()
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(l.at("a.txt")).unwrap(), "ALPHA\n");
    assert_eq!(
        std::fs::read_to_string(l.at(".a.txt.cordon-new-0")).unwrap(),
        "ADDED\n"
    );
}

const UNIFIED: &str = "--- a/a.txt
+++ b/a.txt
@@ -1 +1,2 @@
-alpha
+ALPHA
+omega
--- /dev/null
+++ b/src/new.rs
@@ -0,0 +1 @@
+// new
";

#[test]
fn patch_applies_unified_diffs_all_or_nothing() {
    let l = Layout::new();
    std::fs::write(l.at("change.diff"), UNIFIED).unwrap();
    let run = l
        .cordon()
        .args(["--", "patch", "-p1", "-i", "change.diff"])
        .output();
    run.expect_code(0);
    assert_eq!(
        run.stdout(),
        "patching file a.txt\npatching file src/new.rs\n"
    );
    assert_eq!(
        std::fs::read_to_string(l.at("a.txt")).unwrap(),
        "ALPHA\nomega\n"
    );
    assert_eq!(
        std::fs::read_to_string(l.at("src/new.rs")).unwrap(),
        "// new\n"
    );
    // Applying it again fails on the first hunk and changes nothing.
    let before = l.inside();
    let run = l
        .cordon()
        .args(["--", "patch", "-p1", "-i", "change.diff"])
        .output();
    run.expect_code(1);
    assert!(run.stderr().contains("does not apply"), "{}", run.stderr());
    assert_eq!(l.inside(), before);
}

/// WASI paths are Unicode strings: a name that is not UTF-8 cannot be
/// passed to a guest. Listing such a directory fails with a message (the
/// documented known difference), and never crashes or hides the problem.
#[cfg(unix)]
#[test]
fn names_that_are_not_utf8_are_reported() {
    use std::os::unix::ffi::OsStrExt;
    let l = Layout::new();
    std::fs::create_dir(l.at("odd")).unwrap();
    std::fs::write(
        l.at("odd")
            .join(std::ffi::OsStr::from_bytes(b"bad-\xff.txt")),
        "x",
    )
    .unwrap();
    let run = l.cordon().args(["--", "ls", "odd"]).output();
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("ls:"), "{}", run.stderr());
    // Names with spaces and non-ASCII Unicode work.
    std::fs::write(l.at("a b ü.txt"), "ok\n").unwrap();
    let run = l.cordon().args(["--", "cat", "a b ü.txt"]).output();
    assert_eq!(run.expect_code(0).stdout(), "ok\n");
}

/// A directory cordon lists for a WASIp1 tool comes in name order,
/// whatever order the file system keeps (the same listing in every run).
#[cfg(unix)]
#[test]
fn directory_listings_come_in_name_order() {
    use crate::support::Wasi;
    let l = Layout::new();
    let names: Vec<String> = (0..40).map(|i| format!("n{:02}", (i * 17) % 40)).collect();
    std::fs::create_dir(l.at("order")).unwrap();
    for name in &names {
        std::fs::write(l.at("order").join(name), "").unwrap();
    }
    let run = l.cordon().probe(Wasi::P1, &["ls-unsorted", "order"]);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(run.expect_code(0).stdout(), sorted.join("\n") + "\n");
}

/// cordon lists directories for WASIp1 tools itself: a listing longer than
/// the guest's buffer continues where it stopped, every entry once, each
/// with its type, the same as wasmtime-wasi's listing of the root.
#[cfg(unix)]
#[test]
fn long_directory_listings_are_complete_and_typed() {
    let l = Layout::new();
    let many = l.at("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..600 {
        std::fs::write(
            many.join(format!("{i:04}-a-rather-long-file-name-to-fill-buffers")),
            "",
        )
        .unwrap();
    }
    for i in 0..5 {
        std::fs::create_dir(many.join(format!("dir{i}"))).unwrap();
    }
    std::os::unix::fs::symlink(
        "0000-a-rather-long-file-name-to-fill-buffers",
        many.join("link"),
    )
    .unwrap();
    let count = |args: &[&str]| {
        let run = l.cordon().args(["--"]).args(args).output();
        run.expect_code(0).stdout().lines().count()
    };
    assert_eq!(count(&["find", "many", "-type", "f"]), 600);
    assert_eq!(count(&["find", "many", "-type", "d"]), 6);
    assert_eq!(count(&["find", "many", "-type", "l"]), 1);
    assert_eq!(count(&["ls", "-a", "many"]), 608);
    // Listed from a subdirectory opened by path, and from the root itself.
    let run = l
        .cordon()
        .args(["--", "ls", "-p", "many/dir0", "."])
        .output();
    let listed = run.expect_code(0).stdout();
    assert!(
        listed.contains("many/\n") && listed.contains("src/\n"),
        "{listed}"
    );
}

/// `ls -l` shows each file's real permission bits, owner and group, as
/// GNU ls does (`-n`: the numbers), and `ls -F` marks executables; WASI
/// itself has neither, cordon's host tells its own tools. A deterministic
/// run shows every file as root's.
#[cfg(unix)]
#[test]
fn ls_long_shows_real_modes_and_owners() {
    use std::os::unix::fs::PermissionsExt;
    let l = Layout::new();
    for (name, mode) in [
        ("run.sh", 0o755),
        ("private.txt", 0o600),
        ("group.txt", 0o640),
    ] {
        std::fs::write(l.at(name), "x\n").unwrap();
        std::fs::set_permissions(l.at(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::symlink("run.sh", l.at("link")).unwrap();
    // Permission bits, link count aside, owner, group and the name.
    let columns = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with("total"))
            .map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                format!(
                    "{} {} {} {}",
                    words[0],
                    words[2],
                    words[3],
                    words[8..].join(" ")
                )
            })
            .collect()
    };
    for flags in ["-l", "-ln", "-lL"] {
        let ours = l.cordon().args(["--", "ls", flags]).output();
        let gnu = crate::support::command("ls")
            .args([flags])
            .current_dir(&l.root)
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert_eq!(
            columns(&ours.expect_code(0).stdout()),
            columns(&String::from_utf8_lossy(&gnu.stdout)),
            "ls {flags}"
        );
    }
    let run = l.cordon().args(["--", "ls", "-F"]).output();
    assert!(
        run.expect_code(0).stdout().contains("run.sh*\n"),
        "{}",
        run.stdout()
    );
    assert!(run.stdout().contains("private.txt\n"), "{}", run.stdout());
    let run = l
        .cordon()
        .args(["--deterministic", "--", "ls", "-ln", "private.txt"])
        .output();
    assert!(
        run.expect_code(0).stdout().starts_with("-rw------- 1 0 0 "),
        "{}",
        run.stdout()
    );
}

/// `ls -l` reports the very file the guest reads: under a second spelling
/// of the root (reached through a symlink inside it that a command then
/// turns elsewhere), mode and owner come from the same file as contents.
#[cfg(target_os = "linux")]
#[test]
fn ls_long_describes_the_file_the_guest_reads() {
    use std::os::unix::fs::PermissionsExt;
    if crate::support::skip_without(&["ln"]) {
        return;
    }
    let l = Layout::new();
    std::os::unix::fs::symlink(".", l.at("self")).unwrap();
    std::fs::write(l.at("f"), "root's\n").unwrap();
    std::fs::set_permissions(l.at("f"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir(l.at("sub2")).unwrap();
    std::fs::write(l.at("sub2/f"), "other\n").unwrap();
    std::fs::set_permissions(l.at("sub2/f"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let spelled = l.at("self");
    let f = spelled.join("f");
    let line = format!("ln -sfn sub2 self; ls -l {0}; cat {0}", f.display());
    let run = cordon()
        .args(["run", "--root"])
        .arg(&spelled)
        .args(["--cache-dir"])
        .arg(crate::support::cache_dir())
        .args(["-c", &line])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.starts_with("-rw-r--r--"), "{out}");
    assert!(out.ends_with("root's\n"), "{out}");
}

/// The built-in xargs runs cordon's own tools only: another command is
/// refused with a line saying how to run it natively, and does not run.
#[test]
fn xargs_runs_only_built_in_tools() {
    let l = Layout::new();
    let run = l
        .cordon()
        .args(["--", "xargs", "touch-not-a-tool"])
        .output_with_stdin(b"made.txt\n");
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("not one of cordon's tools"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("--engine native"), "{}", run.stderr());
    assert!(!l.at("made.txt").exists());
    let run = l
        .cordon()
        .args(["--", "xargs", "touch"])
        .output_with_stdin(b"made.txt\n");
    run.expect_code(0);
    assert!(l.at("made.txt").exists());
}

/// tree is not installed on the test machine: its output is checked
/// against tree 2.x's format, written out.
#[test]
fn tree_draws_the_directory_as_tree_does() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("src/util")).unwrap();
    std::fs::write(l.at("src/util/mod.rs"), "").unwrap();
    std::fs::write(l.at(".hidden"), "").unwrap();
    std::fs::write(l.at("run.sh"), "").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(l.at("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src", l.at("src-link")).unwrap();
    let out = l.cordon().args(["--", "tree"]).output();
    out.expect_code(0);
    assert_eq!(
        out.stdout(),
        ".\n├── a.txt\n├── run.sh\n├── src\n│   ├── main.rs\n│   └── util\n│       └── mod.rs\n└── src-link -> src\n\n3 directories, 4 files\n"
    );
    let out = l
        .cordon()
        .args([
            "--",
            "tree",
            "-a",
            "-F",
            "-L",
            "1",
            "-I",
            ".git",
            "--noreport",
        ])
        .output();
    out.expect_code(0);
    assert_eq!(
        out.stdout(),
        ".\n├── .hidden\n├── a.txt\n├── run.sh*\n├── src/\n└── src-link -> src/\n"
    );
    let out = l.cordon().args(["--", "tree", "-d", "src"]).output();
    assert_eq!(out.stdout(), "src\n└── util\n\n1 directory\n");
    let out = l.cordon().args(["--", "tree", "missing"]).output();
    out.expect_code(2);
    assert_eq!(
        out.stdout(),
        "missing  [error opening dir]\n\n0 directories, 0 files\n"
    );
}

/// ripgrep's rule: with no path, rg searches standard input when it is a
/// file or a pipe, and the working directory when it is a terminal or
/// /dev/null, which WASI cannot tell apart without cordon's host.
#[test]
fn rg_without_a_path_searches_stdin_only_when_it_is_a_file_or_pipe() {
    let l = Layout::new();
    std::fs::write(l.at("notes.txt"), "needle in the root\n").unwrap();
    // Command::output gives /dev/null.
    let out = l.cordon().args(["--", "rg", "needle"]).output();
    out.expect_code(0);
    assert_eq!(out.stdout(), "notes.txt:needle in the root\n");
    let out = l
        .cordon()
        .args(["--", "rg", "needle"])
        .output_with_stdin(b"a needle on stdin\n");
    out.expect_code(0);
    assert_eq!(out.stdout(), "a needle on stdin\n");
    let input = l.base.join("input.txt");
    std::fs::write(&input, "needle from a file\n").unwrap();
    let mut cmd = l.cordon().args(["--", "rg", "needle"]);
    cmd.0.stdin(std::fs::File::open(&input).unwrap());
    let out = cmd.output();
    assert_eq!(out.stdout(), "needle from a file\n");
}
