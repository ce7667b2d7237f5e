//! cordon as a library: one session runs a built-in WASI tool, a native
//! command under the OS sandbox, and a shell line that asks a question,
//! answered by the approver written below.
//!
//! `cargo run -p cordon --example embed [ROOT]` (default: a new temporary
//! directory). It prints what each command wrote and how it ended.

use std::sync::{Arc, Mutex};

use cordon::broker::approver::{Answer, Approver, Question};
use cordon::io::Buffer;
use cordon::session::{ApproverChoice, Command, Observer, RunOutcome, Session, SessionConfig};

/// Says yes once to each question, and keeps what it was asked. A real
/// one shows the question to a person (`question.request` is the command,
/// `question.reason` why it asks) and waits for their answer.
struct Yes {
    asked: Arc<Mutex<Vec<String>>>,
}

impl Approver for Yes {
    fn name(&self) -> &'static str {
        "example"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        let argv = &question.request.argv;
        self.asked
            .lock()
            .unwrap()
            .push(format!("{:?}, because {}", argv, question.reason));
        Answer::Once
    }
}

/// Shows cordon's notes (refusals, limits) as they come.
struct Notes;

impl Observer for Notes {
    fn note(&self, line: &str) {
        println!("  note: {line}");
    }
}

fn main() -> anyhow::Result<()> {
    // Native commands start this binary again as their sandbox helper.
    cordon::native::become_helper_if_asked();
    let kept;
    let root = match std::env::args_os().nth(1) {
        Some(root) => std::path::PathBuf::from(root),
        None => {
            kept = tempfile::tempdir()?;
            kept.path().to_path_buf()
        }
    };
    std::fs::write(root.join("notes.txt"), "one\ntwo\nthree\n")?;

    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut config = SessionConfig::new(&root)?;
    config.approver = ApproverChoice::Custom(Box::new(Yes {
        asked: asked.clone(),
    }));
    config.observer = Arc::new(Notes);
    let session = Session::new(config)?;

    let commands = [
        // A built-in tool: WASI, in the session's warm engine.
        Command::argv(["wc", "-l", "notes.txt"]),
        // A native program, under Landlock, seccomp and namespaces.
        Command::argv(["uname", "-s"]),
        // A line read command by command: `rm -f` asks the approver.
        Command::line("cp notes.txt draft.txt && rm -f draft.txt && ls"),
    ];
    for command in commands {
        let shown = format!("{:?}", command.what);
        let stdout = Buffer::default();
        let outcome = session.run(command.output(stdout.clone(), std::io::sink()));
        print(&shown, &stdout.bytes(), &outcome);
    }
    for question in asked.lock().unwrap().iter() {
        println!("the approver was asked: {question}");
    }
    Ok(())
}

fn print(shown: &str, stdout: &[u8], outcome: &RunOutcome) {
    println!("{shown}");
    for line in String::from_utf8_lossy(stdout).lines() {
        println!("  | {line}");
    }
    println!(
        "  -> {} (exit {}) on {}, decided by {}, layers: {}",
        outcome.status.as_str(),
        outcome.exit_code,
        outcome.engine.unwrap_or("-"),
        outcome.decision.as_ref().map_or("-", |d| d.by.as_str()),
        outcome.layers.join("; ")
    );
    if let Some(error) = &outcome.error {
        println!("  error: {error}");
    }
}
