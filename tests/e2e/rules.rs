//! `--rules`: prefix rules refuse commands before anything runs.

use crate::support::Layout;

const RULES: &str = r#"
[[rule]]
prefix = ["rm"]
decision = "forbid"
justification = "deletes files"
match = [["rm", "-rf", "build"]]

[[rule]]
prefix = ["sed", "-i"]
decision = "prompt"
not_match = [["sed", "-n", "1p"]]

[[rule]]
prefix = ["cat"]
decision = "allow"
"#;

#[test]
fn forbidden_and_unapproved_commands_are_refused_before_running() {
    let l = Layout::new();
    std::fs::write(l.base.join("rules.toml"), RULES).unwrap();
    let rules = l.base.join("rules.toml");
    let with_rules = || l.cordon().args(["--rules", rules.to_str().unwrap()]);
    let before = l.inside();

    let run = with_rules().args(["--", "rm", "-f", "a.txt"]).output();
    run.expect_code(126);
    let line = run.stderr();
    assert!(
        line.starts_with("cordon: rm -f a.txt: forbidden by "),
        "{line}"
    );
    assert!(line.contains("rules.toml:2 (deletes files)"), "{line}");
    assert_eq!(line.lines().count(), 1);

    let run = with_rules()
        .args(["--", "sed", "-i", "s/a/b/", "a.txt"])
        .output();
    run.expect_code(126);
    assert!(
        run.stderr().contains("needs approval (rule ") && run.stderr().contains("denied by deny"),
        "{}",
        run.stderr()
    );
    assert_eq!(l.inside(), before, "a refused command changed files");

    let run = with_rules().args(["--", "cat", "a.txt"]).output();
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    with_rules()
        .args(["--", "sed", "-n", "1p", "a.txt"])
        .output()
        .expect_code(0);
}

#[test]
fn a_bad_rules_file_is_a_one_line_host_error() {
    let l = Layout::new();
    let rules = l.base.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nprefix = [\"rm\"]\ndecision = \"forbid\"\nmatch = [[\"ls\"]]\n",
    )
    .unwrap();
    let run = l
        .cordon()
        .args(["--rules", rules.to_str().unwrap(), "--", "true"])
        .output();
    run.expect_code(125);
    let line = run.stderr();
    assert!(
        line.starts_with("cordon: ") && line.contains("rules.toml:1: example"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
    let run = l
        .cordon()
        .args(["--rules", "/no/such/rules.toml", "--", "true"])
        .output();
    run.expect_code(125);
}

#[test]
fn approval_policy_decides_what_asks() {
    let l = Layout::new();
    let before = l.inside();
    // Under untrusted, only known-safe read-only commands run unasked.
    let untrusted = || l.cordon().args(["--approval", "untrusted"]);
    let run = untrusted().args(["--", "touch", "new.txt"]).output();
    run.expect_code(126);
    assert!(
        run.stderr().contains("--approval untrusted"),
        "{}",
        run.stderr()
    );
    untrusted()
        .args(["--", "sort", "-o", "sorted", "a.txt"])
        .output()
        .expect_code(126);
    assert_eq!(
        untrusted()
            .args(["--", "cat", "a.txt"])
            .output()
            .expect_code(0)
            .stdout(),
        "alpha\n"
    );
    // Recursive or forced rm asks under every policy unless a rule allows it.
    let run = l.cordon().args(["--", "rm", "-rf", "src"]).output();
    run.expect_code(126);
    assert!(
        run.stderr().contains("recursive or forced rm"),
        "{}",
        run.stderr()
    );
    assert_eq!(l.inside(), before);
    l.cordon()
        .args(["--approval", "never", "--", "touch", "new.txt"])
        .output()
        .expect_code(0);
    assert!(l.at("new.txt").exists());
}
