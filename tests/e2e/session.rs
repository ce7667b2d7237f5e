//! The library's front door, `cordon::session`: what a session keeps
//! between commands (grants, the root it found), and the embedding
//! example, run as a user would run it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cordon::broker::approver::{Answer, Approver, Question};
use cordon::io::{Buffer, Cancel};
use cordon::session::{ApproverChoice, Command, RunStatus, Session, SessionConfig};

use cordon::request::{ApprovalPolicy, Escalation};
use cordon::settings::Sourced;

use crate::support::{
    BOTH, Layout, Wasi, audit_lines, cache_dir, command, cordon, events, probe, processes_with,
};

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
    let out = Buffer::default();
    let outcome = session.run(command.output(out.clone(), std::io::sink()));
    (outcome, String::from_utf8(out.bytes()).unwrap())
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
    assert_eq!(
        asked.load(Ordering::Relaxed),
        1,
        "asked once, for the session"
    );

    let other = session(&l.root, &asked, Answer::Deny("no".into()));
    std::fs::write(l.at("scratch.txt"), "x").unwrap();
    let (outcome, _) = run(&other, Command::argv(["rm", "-f", "scratch.txt"]));
    assert_eq!(outcome.exit_code, 126, "{outcome:?}");
    assert_eq!(
        asked.load(Ordering::Relaxed),
        2,
        "another session asks again"
    );
    assert!(
        l.at("scratch.txt").exists(),
        "the refused rm removed nothing"
    );
}

/// Attack: a person approves a project tool for the session; the agent
/// then rewrites the tool's bytes (or puts a program of another kind in
/// its place) and runs the same command, hoping the grant covers it.
#[test]
fn a_session_grant_does_not_cover_a_program_rewritten_since() {
    let l = Layout::new();
    std::fs::copy(probe(Wasi::P1), l.at("tool.wasm")).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let mut config = SessionConfig::new(&l.root).unwrap();
    config.cache.dir = Some(cache_dir().to_path_buf());
    config.settings.approval = Sourced::flag(ApprovalPolicy::Untrusted, "--approval");
    config.tools = vec![("tool".into(), l.at("tool.wasm"))];
    config.approver = ApproverChoice::Custom(Box::new(Counting {
        asked: asked.clone(),
        answer: Answer::Session { prefix: None },
    }));
    let session = Session::new(config).unwrap();
    let tool = || Command::argv(["tool", "write", "out.txt", "ran"]);
    for wasi in BOTH {
        std::fs::copy(probe(wasi), l.at("tool.wasm")).unwrap();
        let (outcome, _) = run(&session, tool());
        assert_eq!(outcome.exit_code, 0, "{wasi:?}: {outcome:?}");
        let (outcome, _) = run(&session, tool());
        assert_eq!(outcome.exit_code, 0, "{wasi:?}: {outcome:?}");
    }
    assert_eq!(
        asked.load(Ordering::Relaxed),
        2,
        "asked once for each program's bytes, not once for the name"
    );
}

/// Answers once, after making a file the line's glob would match: the
/// line changing under the question.
struct PlantsWhileAsked(std::path::PathBuf);

impl Approver for PlantsWhileAsked {
    fn name(&self) -> &'static str {
        "plants-while-asked"
    }

    fn ask(&mut self, _: &Question) -> Answer {
        std::fs::write(&self.0, "planted").unwrap();
        Answer::Once
    }
}

/// Attack: a line's glob is expanded when the person is asked; while they
/// read the question, a file that matches it appears (written by a
/// command running alongside). What runs is the line as it was read and
/// judged, once, not a second reading that takes the new file in.
#[test]
fn a_line_runs_as_it_was_judged_not_as_read_again_after_the_question() {
    let l = Layout::new();
    std::fs::write(l.at("old.tmp"), "x").unwrap();
    let mut config = SessionConfig::new(&l.root).unwrap();
    config.cache.dir = Some(cache_dir().to_path_buf());
    config.approver = ApproverChoice::Custom(Box::new(PlantsWhileAsked(l.at("late.tmp"))));
    let session = Session::new(config).unwrap();
    let (outcome, _) = run(&session, Command::line("rm -f *.tmp"));
    assert_eq!(outcome.exit_code, 0, "{outcome:?}");
    assert_eq!(outcome.engine, Some("shell"), "{outcome:?}");
    assert!(!l.at("old.tmp").exists(), "the judged file was removed");
    assert_eq!(
        std::fs::read_to_string(l.at("late.tmp")).unwrap(),
        "planted",
        "a file nobody was asked about was removed"
    );
}

/// A person who aborts the session stops it: no later command runs, even
/// one that would not ask.
#[test]
fn an_abort_ends_the_session() {
    let l = Layout::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let session = session(&l.root, &asked, Answer::Abort);
    let (outcome, _) = run(&session, Command::argv(["rm", "-f", "a.txt"]));
    assert_eq!(outcome.exit_code, 126, "{outcome:?}");
    let (outcome, _) = run(&session, Command::argv(["touch", "later.txt"]));
    assert_eq!(outcome.exit_code, 126, "{outcome:?}");
    assert!(l.at("a.txt").exists() && !l.at("later.txt").exists());
    assert_eq!(asked.load(Ordering::Relaxed), 1);
}

/// Attack: an escalation names a writable directory through a symlink
/// into the git directory; the person is asked about the harmless-looking
/// name, and the sandbox would open what it leads to.
#[test]
fn a_writable_grant_is_judged_by_the_directory_it_really_names() {
    if crate::support::skip_without(&["sh"]) {
        return;
    }
    let l = Layout::new();
    std::os::unix::fs::symlink(".git", l.at("docs")).unwrap();
    let git_before = crate::support::snapshot(&l.at(".git"));
    let asked = Arc::new(AtomicUsize::new(0));
    let mut config = SessionConfig::new(&l.root).unwrap();
    config.cache.dir = Some(cache_dir().to_path_buf());
    config.native_helper = Some(env!("CARGO_BIN_EXE_cordon").into());
    config.settings.sandbox = Sourced::flag(cordon::policy::SandboxMode::ReadOnly, "--sandbox");
    config.approver = ApproverChoice::Custom(Box::new(Counting {
        asked: asked.clone(),
        answer: Answer::Once,
    }));
    let session = Session::new(config).unwrap();
    let command = Command::argv(["sh", "-c", "echo planted > docs/hooks/pre-commit"])
        .escalate(Escalation::Writable(l.at("docs")), None);
    let (outcome, _) = run(&session, command);
    assert_eq!(outcome.exit_code, 126, "{outcome:?}");
    assert_eq!(
        asked.load(Ordering::Relaxed),
        0,
        "refused before anyone was asked"
    );
    assert_eq!(crate::support::snapshot(&l.at(".git")), git_before);
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
    assert_eq!(
        stdout, "root's\n",
        "the second command ran in the root the session found"
    );
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
    for (run, engine, layer) in [
        (runs[0], "wasi", "wasmtime"),
        (runs[1], "native", "seccomp"),
    ] {
        assert_eq!(run["engine"], engine);
        let layers = run["layers"].as_array().unwrap();
        assert!(
            layers
                .iter()
                .any(|l| l.as_str().unwrap().starts_with(layer)),
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
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| 3 notes.txt"), "{stdout}");
    assert!(stdout.contains("exited (exit 0) on wasi"), "{stdout}");
    assert!(stdout.contains("exited (exit 0) on native"), "{stdout}");
    assert!(
        stdout.contains("exited (exit 0) on shell, decided by example"),
        "{stdout}"
    );
    assert!(stdout.contains("the approver was asked"), "{stdout}");
    assert!(l.at("notes.txt").exists() && !l.at("draft.txt").exists());
}

/// Runs `command` in `session` on a thread, waits for `started` to appear
/// in the root, cancels, and returns the outcome (a run that is not
/// stopped fails the test after a minute rather than hang it).
fn cancelled_once_started(
    session: Arc<Session>,
    l: &Layout,
    command: Command,
) -> cordon::session::RunOutcome {
    let cancel = Cancel::default();
    let (sender, ended) = std::sync::mpsc::channel();
    let running = command.cancel(cancel.clone());
    std::thread::spawn(move || {
        let outcome = session.run(running.output(std::io::sink(), std::io::sink()));
        let _ = sender.send(outcome);
    });
    while !l.at("started").exists() {
        if let Ok(outcome) = ended.try_recv() {
            panic!("ended before it started: {outcome:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    cancel.cancel();
    ended
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("a cancelled command still ran a minute later")
}

/// A native command cancelled while it runs: its whole tree is killed, a
/// child it put in the background included, and the outcome says
/// cancelled.
#[test]
fn a_cancelled_native_command_leaves_nothing_running() {
    let l = Layout::new();
    let asked = Arc::new(AtomicUsize::new(0));
    let session = Arc::new(session(&l.root, &asked, Answer::Once));
    let marker = "987.654";
    let line = format!("sleep {marker} & touch started; sleep {marker}");
    let outcome = cancelled_once_started(session, &l, Command::line(line));
    assert_eq!(outcome.status, RunStatus::Cancelled, "{outcome:?}");
    assert_eq!(outcome.exit_code, 130, "{outcome:?}");
    let left = processes_with(marker);
    assert!(left.is_empty(), "still running: {left:?}");
}

/// A WASI tool cancelled while it computes without calling the host, and
/// while it is blocked in a host call: both stop.
#[test]
fn a_cancelled_wasi_tool_stops_computing_or_waiting() {
    for wasi in BOTH {
        for action in ["spin", "sleep 600"] {
            let l = Layout::new();
            let mut config = SessionConfig::new(&l.root).unwrap();
            config.cache.dir = Some(cache_dir().to_path_buf());
            config.tools = vec![("probe".into(), probe(wasi))];
            let session = Arc::new(Session::new(config).unwrap());
            let line = format!("probe write started x && probe {action}");
            let outcome = cancelled_once_started(session, &l, Command::line(line));
            assert_eq!(
                outcome.status,
                RunStatus::Cancelled,
                "{wasi:?} {action}: {outcome:?}"
            );
        }
    }
}
