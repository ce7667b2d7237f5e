//! `cordon serve --stdio` driven as an agent drives it, side by side with
//! `cordon run` as a process per command:
//!
//! - the round trip of `cat` of a small file in an open session, from the
//!   request's first byte to its `command/exit`;
//! - 64 sessions with 8 commands running at once in each: how long they
//!   take, and the throughput;
//! - the server's resident memory with 1 and with 64 sessions open, idle.
//!
//! `cargo bench -p cordon --bench serve`

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ROUND_TRIPS: usize = 200;
const PROCESS_RUNS: usize = 20;
const SESSIONS: usize = 64;
const CONCURRENT: usize = 8;

struct Server {
    child: Child,
    input: ChildStdin,
    said: Receiver<Value>,
    next_id: u64,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(["serve", "--stdio", "--allow-root"])
            .arg(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cordon serve");
        let output = child.stdout.take().unwrap();
        let (sender, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { return };
                if sender.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        Server {
            input: child.stdin.take().unwrap(),
            child,
            said,
            next_id: 0,
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let message =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params});
        self.input
            .write_all(format!("{message}\n").as_bytes())
            .unwrap();
        self.input.flush().unwrap();
        self.next_id
    }

    /// Waits for the response to `id`.
    fn response(&self, id: u64) -> Value {
        loop {
            let message = self.said.recv().expect("the server ended");
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    fn open(&mut self, root: &std::path::Path) -> u64 {
        let id = self.send("session/open", json!({"root": root}));
        self.response(id)["result"]["session"].as_u64().unwrap()
    }

    /// Runs `cat notes.txt` in `session` and waits for its exit.
    fn cat(&mut self, session: u64) -> Duration {
        let started = Instant::now();
        self.send(
            "command/run",
            json!({"session": session, "argv": ["cat", "notes.txt"]}),
        );
        loop {
            let message = self.said.recv().expect("the server ended");
            if message["method"] == "command/exit" {
                assert_eq!(message["params"]["status"], "exited", "{message}");
                return started.elapsed();
            }
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

fn median_ms(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)].as_secs_f64() * 1e3;
    (at(50), at(90))
}

fn main() {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("notes.txt"), "one\ntwo\nthree\n").unwrap();
    let mut server = Server::start();

    let session = server.open(root.path());
    server.cat(session); // compiles the tool, once
    let times = (0..ROUND_TRIPS).map(|_| server.cat(session)).collect();
    let (median, p90) = median_ms(times);
    println!(
        "serve: cat in an open session       median {median:7.3} ms   p90 {p90:7.3} ms   ({ROUND_TRIPS} round trips)"
    );
    let times = (0..PROCESS_RUNS)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_cordon"))
                .args(["run", "--root"])
                .arg(root.path())
                .args(["--", "cat", "notes.txt"])
                .stdout(Stdio::null())
                .status()
                .expect("cordon run");
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    let (process, p90) = median_ms(times);
    println!(
        "cordon run cat (a process each)     median {process:7.3} ms   p90 {p90:7.3} ms   ({PROCESS_RUNS} runs)"
    );
    println!("ratio: {:.1}x", process / median);
    println!("server RSS, 1 session open:  {} KiB", server.rss_kib());

    let sessions: Vec<u64> = (1..SESSIONS).map(|_| server.open(root.path())).collect();
    let all: Vec<u64> = std::iter::once(session).chain(sessions).collect();
    std::thread::sleep(Duration::from_millis(200));
    let with_64 = server.rss_kib();
    println!("server RSS, {SESSIONS} sessions open: {with_64} KiB");

    let started = Instant::now();
    let mut running = HashMap::new();
    for session in &all {
        for _ in 0..CONCURRENT {
            let id = server.send(
                "command/run",
                json!({"session": session, "argv": ["cat", "notes.txt"]}),
            );
            running.insert(id, ());
        }
    }
    let mut exited = 0;
    while exited < all.len() * CONCURRENT {
        let message = server.said.recv().expect("the server ended");
        if message["method"] == "command/exit" {
            assert_eq!(message["params"]["status"], "exited", "{message}");
            exited += 1;
        } else if message.get("error").is_some() {
            panic!("{message}");
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{SESSIONS} sessions x {CONCURRENT} concurrent cat: {} commands in {:.3} s, {:.0} commands/s, no error",
        exited,
        elapsed.as_secs_f64(),
        exited as f64 / elapsed.as_secs_f64()
    );
    drop(server.input);
    let _ = server.child.wait();
}
