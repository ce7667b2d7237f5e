//! One session running the same built-in tool 100 times in a row, in
//! process, side by side with what an agent pays without a session: a
//! `cordon run` process per command. The session compiles the tool once,
//! before timing (the first run).
//!
//! `cargo bench -p cordon --bench session`

use std::process::Command as Process;
use std::time::{Duration, Instant};

use cordon::session::{Command, RunStatus, Session, SessionConfig};

const RUNS: usize = 100;
const PROCESS_RUNS: usize = 20;

fn summary(what: &str, mut times: Vec<Duration>) -> f64 {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{what:<34} median {:7.3} ms   p90 {:7.3} ms   ({} runs)",
        at(50),
        at(90),
        times.len()
    );
    at(50)
}

fn main() {
    cordon::native::become_helper_if_asked();
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("notes.txt"), "one\ntwo\nthree\n").unwrap();
    let session = Session::new(SessionConfig::new(root.path()).expect("config")).expect("session");
    let run = |argv: &[&str]| {
        let command = Command::argv(argv.iter().copied()).output(std::io::sink(), std::io::sink());
        let started = Instant::now();
        let outcome = session.run(command);
        assert_eq!(outcome.status, RunStatus::Exited, "{outcome:?}");
        started.elapsed()
    };
    for argv in [&["true"][..], &["wc", "-l", "notes.txt"]] {
        let compile = run(argv);
        let times = (0..RUNS).map(|_| run(argv)).collect();
        let shown = argv.join(" ");
        let in_session = summary(&format!("session.run({shown})"), times);
        let cordon = env!("CARGO_BIN_EXE_cordon");
        let times = (0..PROCESS_RUNS)
            .map(|_| {
                let started = Instant::now();
                let status = Process::new(cordon)
                    .args(["run", "--root"])
                    .arg(root.path())
                    .arg("--")
                    .args(argv)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("cordon run");
                assert!(status.success());
                started.elapsed()
            })
            .collect();
        let process = summary(&format!("cordon run -- {shown} (a process)"), times);
        println!(
            "  first run (compile or cache load) {:.1} ms; a process per command is {:.0}x a \
             session run",
            compile.as_secs_f64() * 1e3,
            process / in_session
        );
    }
}
