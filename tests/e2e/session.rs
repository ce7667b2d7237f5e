//! The library's front door, `cordon::session`: what a session keeps
//! between commands (grants, the root it found), and the embedding
//! example, run as a user would run it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cordon::broker::approver::{Answer, Approver, Question};
use cordon::session::{ApproverChoice, Command, Session, SessionConfig};

use crate::support::{Layout, audit_lines, cache_dir, command, cordon, events};

/// Answers every question with `answer`, counting them.
struct Counting {
    asked: Arc<AtomicUsize>,
    answer: Answer,
}

impl Approver for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn ask(&mut self, _: &Question) -> Answer {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.answer.clone()
    }
}

fn session(root: &Path, asked: &Arc<AtomicUsize>, answer: Answer) -> Session {
    let mut config = SessionConfig::new(root).unwrap();
    config.cache.dir = Some(cache_dir().to_path_buf());
    // This test binary cannot be the native sandbox's helper; cordon can.
    config.native_helper = Some(env!("CARGO_BIN_EXE_cordon").into());
    config.approver = ApproverChoice::Custom(Box::new(Counting {
        asked: asked.clone(),
        answer,
    }));
    Session::new(config).unwrap()
}

/// Runs `command` with its output kept; the outcome and stdout.
fn run(session: &Session, command: Command) -> (cordon::session::RunOutcome, String) {
    let out = Arc::new(Mutex::new(Vec::new()));
    let outcome = session.run(command.output(Sink(out.clone()), std::io::sink()));
    let stdout = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    (outcome, stdout)
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_grant_for_the_session_holds_for_its_later_commands_and_no_other_session() {
    let l = Layout::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let first = session(&l.root, &asked, Answer::Session { prefix: None });
    for n in 0..3 {
        std::fs::write(l.at("scratch.txt"), "x").unwrap();
        let (outcome, _) = run(&first, Command::argv(["rm", "-f", "scratch.txt"]));
        assert_eq!(outcome.exit_code, 0, "run {n}: {outcome:?}");
        assert!(!l.at("scratch.txt").exists());
    }
    assert_eq!(asked.load(Ordering::Relaxed), 1, "asked once, for the session");

    let other = session(&l.root, &asked, Answer::Deny("no".into()));
    std::fs::write(l.at("scratch.txt"), "x").unwrap();
    let (outcome, _) = run(&other, Command::argv(["rm", "-f", "scratch.txt"]));
    assert_eq!(outcome.exit_code, 126, "{outcome:?}");
    assert_eq!(asked.load(Ordering::Relaxed), 2, "another session asks again");
    assert!(l.at("scratch.txt").exists(), "the refused rm removed nothing");
}

/// Attack: the root is named through a symlink that lies inside it; one
/// command points that symlink elsewhere, hoping the session's next
/// command takes the new target for its root.
#[test]
fn a_command_cannot_move_the_session_root_by_retargeting_the_link_it_was_named_through() {
    if crate::support::skip_without(&["ln"]) {
        return;
    }
    let l = Layout::new();
    std::os::unix::fs::symlink(".", l.at("self")).unwrap();
    std::fs::write(l.at("f"), "root's\n").unwrap();
    std::fs::create_dir(l.at("sub2")).unwrap();
    std::fs::write(l.at("sub2/f"), "other\n").unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let session = session(&l.at("self"), &asked, Answer::Deny("no".into()));

    let (outcome, _) = run(&session, Command::argv(["ln", "-sfn", "sub2", "self"]));
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    let (outcome, stdout) = run(&session, Command::argv(["cat", "f"]));
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    assert_eq!(stdout, "root's\n", "the second command ran in the root the session found");
    let (_, listed) = run(&session, Command::argv(["ls"]));
    assert!(listed.contains("sub2"), "{listed}");
    assert_eq!(asked.load(Ordering::Relaxed), 0);
}

/// The layers a run was confined by reach the audit log and the outcome,
/// for both engines.
#[test]
fn every_run_records_the_layers_it_ran_under() {
    if crate::support::skip_without(&["uname"]) {
        return;
    }
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    for argv in [["wc", "a.txt"], ["uname", "-s"]] {
        cordon()
            .args(["run", "--root"])
            .arg(&l.root)
            .arg("--audit")
            .arg(&audit)
            .arg("--")
            .args(argv)
            .output()
            .unwrap();
    }
    let lines = audit_lines(&audit);
    let runs = events(&lines, "run");
    assert_eq!(runs.len(), 2, "{lines:?}");
    for (run, engine, layer) in [(runs[0], "wasi", "wasmtime"), (runs[1], "native", "seccomp")] {
        assert_eq!(run["engine"], engine);
        let layers = run["layers"].as_array().unwrap();
        assert!(
            layers.iter().any(|l| l.as_str().unwrap().starts_with(layer)),
            "{engine}: {layers:?}"
        );
    }
}

/// host/examples/embed.rs, as a user runs it: a WASI tool, a native
/// command, and a line whose question the example's approver answers.
#[test]
fn the_embedding_example_runs_each_engine_and_answers_its_question() {
    let exe = Path::new(env!("CARGO_BIN_EXE_cordon"))
        .parent()
        .unwrap()
        .join("examples/embed");
    assert!(
        exe.exists(),
        "{} is missing: `cargo test --workspace` builds it (or `cargo build --example embed`)",
        exe.display()
    );
    let l = Layout::new();
    let out = command(&exe).arg(&l.root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| 3 notes.txt"), "{stdout}");
    assert!(stdout.contains("exited (exit 0) on wasi"), "{stdout}");
    assert!(stdout.contains("exited (exit 0) on native"), "{stdout}");
    assert!(stdout.contains("exited (exit 0) on shell, decided by example"), "{stdout}");
    assert!(stdout.contains("the approver was asked"), "{stdout}");
    assert!(l.at("notes.txt").exists() && !l.at("draft.txt").exists());
}
