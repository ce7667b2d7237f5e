//! A shell line, read in both grammars and judged by the broker: no input
//! may panic, hang or exhaust the stack; past the bounds it is an error.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use cordon::broker::rules::Rules;
use cordon::broker::{ApprovalPolicy, Request, ShellContext, judge};
use cordon::shell::{Dialect, Env, parse};
use libfuzzer_sys::fuzz_target;

/// A root with a few files for globs to match.
static ROOT: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    for file in ["a.rs", "b.rs", ".hidden", "x.txt"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let root = dir.path().canonicalize().unwrap();
    (dir, root)
});

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    let mut rules = Rules::default();
    let text = "[[rule]]\nprefix = [\"touch\"]\ndecision = \"forbid\"\n\
                [[rule]]\nprefix = [\"git\", \"status\"]\ndecision = \"allow\"\n";
    rules.add(text, "fuzz.toml".as_ref()).unwrap();
    rules
});

fuzz_target!(|text: &str| {
    let root = &ROOT.1;
    let env = Env::new([
        ("HOME".to_string(), "/home/u".to_string()),
        ("PATH".to_string(), "/usr/bin:/bin".to_string()),
        ("X".to_string(), "a b".to_string()),
    ]);
    for dialect in [Dialect::Bash, Dialect::Posix] {
        let _ = parse(text, dialect, &env, root, root);
    }
    let context = ShellContext {
        env,
        root: root.clone(),
        own_places: vec![root.clone()],
    };
    let request = Request {
        argv: vec!["bash".into(), "-c".into(), text.into()],
        cwd: root.clone(),
        engine: "native",
        sandbox: "workspace-write",
        escalation: None,
        justification: None,
    };
    let _ = judge(&RULES, ApprovalPolicy::OnRequest, &request, Some(&context));
});
