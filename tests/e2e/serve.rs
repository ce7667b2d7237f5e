//! `cordon serve --stdio`, driven as an agent drives it: JSON-RPC requests
//! in, responses and notifications out, one per line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Layout, cache_dir, cordon, processes_with, snapshot};

/// A running server and what it said.
struct Server {
    child: Child,
    input: Option<ChildStdin>,
    said: Receiver<Value>,
    kept: Vec<Value>,
}

/// An `--approver` value that answers `answers`, one line each.
fn scripted_approver(l: &Layout, answers: &str) -> String {
    let script = l.base.join("answers");
    std::fs::write(&script, answers).unwrap();
    format!("script={}", script.display())
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        Server::with_settings(extra, None)
    }

    /// A server whose user settings file holds `settings`.
    fn with_settings(extra: &[&str], settings: Option<(&Layout, &str)>) -> Server {
        let mut command = cordon();
        if let Some((l, text)) = settings {
            let config = l.base.join("xdg");
            std::fs::create_dir_all(config.join("cordon")).unwrap();
            std::fs::write(config.join("cordon/config.toml"), text).unwrap();
            command.env("XDG_CONFIG_HOME", &config);
        }
        Server::spawn(command, extra)
    }

    /// A server whose config directory (XDG_CONFIG_HOME) is `config`.
    fn with_config_home(extra: &[&str], config: &std::path::Path) -> Server {
        let mut command = cordon();
        command.env("XDG_CONFIG_HOME", config);
        Server::spawn(command, extra)
    }

    fn spawn(mut command: std::process::Command, extra: &[&str]) -> Server {
        command
            .args(["serve", "--stdio", "--log-level", "error", "--cache-dir"])
            .arg(cache_dir());
        // Where the tests' projects are, unless a test names its own.
        if !extra.contains(&"--allow-root") {
            command.arg("--allow-root").arg(std::env::temp_dir());
        }
        let mut child = command
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let output = child.stdout.take().unwrap();
        let (sender, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let line = line.unwrap();
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not JSON from the server ({e}): {line}"));
                if sender.send(value).is_err() {
                    return;
                }
            }
        });
        Server {
            input: child.stdin.take(),
            child,
            said,
            kept: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let input = self.input.as_mut().unwrap();
        input.write_all(bytes).unwrap();
        input.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        self.send_raw(format!("{message}\n").as_bytes());
    }

    /// The next message the server says that `wanted` accepts; the others
    /// are kept for later.
    fn next(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.kept.iter().position(&wanted) {
            return self.kept.remove(at);
        }
        loop {
            match self.said.recv_timeout(Duration::from_secs(60)) {
                Ok(message) if wanted(&message) => return message,
                Ok(message) => self.kept.push(message),
                Err(RecvTimeoutError::Timeout) => {
                    panic!("nothing wanted said; kept {:?}", self.kept)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server ended; kept {:?}", self.kept)
                }
            }
        }
    }

    /// Calls `method` and returns its response.
    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.next(|m| m["id"] == json!(id))
    }

    fn open(&mut self, id: u64, params: Value) -> u64 {
        let response = self.call(id, "session/open", params);
        response["result"]["session"]
            .as_u64()
            .unwrap_or_else(|| panic!("{response}"))
    }

    /// Runs a command; its output and its `command/exit` params.
    fn run(&mut self, id: u64, params: Value) -> (String, Value) {
        let response = self.call(id, "command/run", params);
        let run = response["result"]["run"].clone();
        assert!(run.is_u64(), "{response}");
        let exit = self.next(|m| m["method"] == "command/exit" && m["params"]["run"] == run);
        let mut stdout = String::new();
        while let Some(at) = self.kept.iter().position(|m| {
            m["method"] == "command/output"
                && m["params"]["run"] == run
                && m["params"]["stream"] == "stdout"
        }) {
            stdout.push_str(self.kept.remove(at)["params"]["text"].as_str().unwrap());
        }
        (stdout, exit["params"].clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_session_runs_wasi_tools_native_commands_and_lines_and_streams_their_output() {
    let l = Layout::new();
    std::fs::write(l.at("notes.txt"), "one\ntwo\n").unwrap();
    let mut server = Server::start(&[]);
    let session = server.open(1, json!({"root": l.root}));
    let (stdout, exit) = server.run(2, json!({"session": session, "argv": ["cat", "notes.txt"]}));
    assert_eq!(stdout, "one\ntwo\n");
    assert_eq!(
        (exit["status"].as_str(), exit["engine"].as_str()),
        (Some("exited"), Some("wasi")),
        "{exit}"
    );
    assert_eq!(exit["stdout"]["bytes"], 8, "{exit}");
    let (stdout, exit) = server.run(
        3,
        json!({"session": session, "argv": ["sh", "-c", "echo native"], "stdin": ""}),
    );
    assert_eq!(stdout, "native\n", "{exit}");
    let (stdout, exit) = server.run(
        4,
        json!({"session": session, "line": "wc -l < notes.txt", "cwd": "."}),
    );
    assert_eq!(
        (stdout.trim(), exit["engine"].as_str()),
        ("2", Some("shell")),
        "{exit}"
    );
    let (stdout, _) = server.run(
        5,
        json!({"session": session, "argv": ["cat"], "stdin": "given\n"}),
    );
    assert_eq!(stdout, "given\n");
}

/// What cordon says of a command (here: not found) names that command's
/// run, so an agent running several at once knows which it is about.
#[test]
fn a_note_names_the_run_it_is_said_of() {
    let l = Layout::new();
    let mut server = Server::start(&[]);
    let session = server.open(1, json!({"root": l.root}));
    let (_, exit) = server.run(
        2,
        json!({"session": session, "argv": ["no-such-program-4711"]}),
    );
    let run = exit["run"].clone();
    let note = server.next(|m| m["method"] == "session/note");
    assert_eq!(note["params"]["run"], run, "{note}");
    let line = note["params"]["line"].as_str().unwrap();
    assert!(line.contains("no-such-program-4711"), "{note}");
}

/// What the broker says while deciding a command (here: an approval for
/// always that no rule can hold) names that command's run too.
#[test]
fn a_note_from_the_approval_names_its_run() {
    let l = Layout::new();
    let approver = scripted_approver(&l, "always\n");
    let settings = "sandbox = \"full-access\"\n";
    let mut server = Server::with_settings(&["--approver", &approver], Some((&l, settings)));
    let session = server.open(1, json!({"root": l.root}));
    // A native command: full-access asks for unsandboxed.
    let (_, exit) = server.run(
        2,
        json!({"session": session, "argv": ["sh", "-c", "exit 0"]}),
    );
    assert_eq!(exit["exit_code"], 0, "{exit}");
    let note = server.next(|m| {
        m["method"] == "session/note"
            && m["params"]["line"]
                .as_str()
                .is_some_and(|line| line.contains("a rule cannot grant"))
    });
    assert_eq!(note["params"]["run"], exit["run"], "{note}");
}

#[test]
fn bad_input_gets_its_json_rpc_code_and_the_server_goes_on() {
    let l = Layout::new();
    let mut server = Server::start(&[]);
    server.send_raw(b"{not json\n");
    let parse = server.next(|m| m["error"]["code"] == -32700);
    assert_eq!(parse["id"], Value::Null);
    let unknown = server.call(1, "session/frobnicate", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let wrong = server.call(
        2,
        "session/open",
        json!({"root": l.root, "timeout_ms": "soon"}),
    );
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms"),
        "{wrong}"
    );
    let missing = server.call(3, "session/open", json!({}));
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("root"),
        "{missing}"
    );
    // Over 8 MiB: refused as it streams by, and the next line is served.
    let mut huge = vec![b' '; (8 << 20) + 1];
    huge.push(b'\n');
    server.send_raw(&huge);
    let refused = server.next(|m| m["error"]["code"] == -32600);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over"),
        "{refused}"
    );
    assert!(server.open(4, json!({"root": l.root})) > 0);
}

/// Attack: the agent, through the protocol, asks for a wider sandbox or
/// the host's network than the settings give: that is a person's grant.
#[test]
fn a_session_cannot_widen_its_own_sandbox_or_network() {
    let l = Layout::new();
    let mut server = Server::start(&[]);
    for (id, widened) in [
        (1, json!({"network": "on"})),
        (2, json!({"network": "allow=evil.example"})),
        (3, json!({"sandbox": "full-access"})),
    ] {
        let mut params = widened.clone();
        params["root"] = json!(l.root);
        let response = server.call(id, "session/open", params);
        assert_eq!(response["error"]["code"], -32602, "{widened}: {response}");
    }
    let session = server.open(
        4,
        json!({"root": l.root, "sandbox": "read-only", "network": "off"}),
    );
    let (_, exit) = server.run(5, json!({"session": session, "argv": ["touch", "new.txt"]}));
    assert_ne!(exit["exit_code"], 0, "{exit}");
    assert!(!l.at("new.txt").exists(), "read-only, as asked");
}

/// A grant made for one session holds for its later commands, shows in
/// session/grants, is not another session's, and once revoked asks again.
#[test]
fn session_grants_are_listed_revoked_and_never_shared() {
    let l = Layout::new();
    let approver = scripted_approver(&l, "session\n");
    let mut server = Server::start(&["--approver", &approver]);
    let first = server.open(1, json!({"root": l.root}));
    let second = server.open(2, json!({"root": l.root}));
    let rm = |session| json!({"session": session, "argv": ["rm", "-f", "gone.txt"]});
    for id in [3, 4] {
        std::fs::write(l.at("gone.txt"), "x").unwrap();
        let (_, exit) = server.run(id, rm(first));
        assert_eq!(exit["exit_code"], 0, "{exit}");
        assert!(!l.at("gone.txt").exists());
    }
    let grants = server.call(5, "session/grants", json!({"session": first}));
    let listed = grants["result"]["grants"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{grants}");
    assert_eq!(listed[0]["words"], json!(["rm", "-f", "gone.txt"]));
    let others = server.call(6, "session/grants", json!({"session": second}));
    assert_eq!(others["result"]["grants"], json!([]), "{others}");
    let revoked = server.call(
        7,
        "session/revoke",
        json!({"session": first, "grant": listed[0]["id"]}),
    );
    assert_eq!(revoked["result"]["revoked"], true, "{revoked}");
    std::fs::write(l.at("gone.txt"), "x").unwrap();
    // Asked again: the script has no answer left, so it is denied.
    let (_, exit) = server.run(8, rm(first));
    assert_eq!(exit["status"], "refused", "{exit}");
    assert!(
        l.at("gone.txt").exists(),
        "the revoked grant still allowed rm"
    );
}

fn wait_for(path: &std::path::Path) {
    for _ in 0..3000 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never appeared", path.display());
}

/// command/cancel kills the command's whole tree and says so in its exit;
/// a client that goes away leaves nothing of its sessions running.
#[test]
fn cancel_and_a_dropped_connection_leave_nothing_running() {
    let l = Layout::new();
    let mut server = Server::start(&[]);
    let session = server.open(1, json!({"root": l.root}));
    let marker = "876.543";
    let line = format!("sleep {marker} & touch started; sleep {marker}");
    let response = server.call(2, "command/run", json!({"session": session, "line": line}));
    let run = response["result"]["run"].clone();
    wait_for(&l.at("started"));
    let cancelled = server.call(3, "command/cancel", json!({"run": run}));
    assert_eq!(cancelled["result"], json!({}), "{cancelled}");
    let exit = server.next(|m| m["method"] == "command/exit" && m["params"]["run"] == run);
    assert_eq!(exit["params"]["status"], "cancelled", "{exit}");
    assert!(processes_with(marker).is_empty(), "left after cancel");

    std::fs::remove_file(l.at("started")).unwrap();
    let line = format!("sleep {marker} & touch started; sleep {marker}");
    server.call(4, "command/run", json!({"session": session, "line": line}));
    wait_for(&l.at("started"));
    drop(server.input.take());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        processes_with(marker).is_empty(),
        "left after the client went"
    );
}

/// Attack: through the protocol, the agent loosens what the person's
/// settings say: an approval policy that asks less, higher limits for the
/// session or for one command. Each is refused, naming what.
#[test]
fn a_session_cannot_loosen_its_approval_or_raise_its_limits() {
    let l = Layout::new();
    let settings = "approval = \"untrusted\"\n[limits]\ntimeout = 5\nmax-output = 1000\n";
    let mut server = Server::with_settings(&[], Some((&l, settings)));
    for (id, loosened) in [
        (1, json!({"approval": "on-request"})),
        (2, json!({"timeout_ms": 60_000})),
        (3, json!({"max_output": 1_000_000})),
        (4, json!({"memory_mib": 1_000_000_000u64})),
    ] {
        let mut params = loosened.clone();
        params["root"] = json!(l.root);
        let response = server.call(id, "session/open", params);
        assert_eq!(response["error"]["code"], -32602, "{loosened}: {response}");
    }
    let session = server.open(5, json!({"root": l.root, "timeout_ms": 2000}));
    for (id, raised) in [
        (6, json!({"timeout_ms": 3000})),
        (7, json!({"max_output": 5000})),
    ] {
        let mut params = raised.clone();
        params["session"] = json!(session);
        params["argv"] = json!(["true"]);
        let response = server.call(id, "command/run", params);
        assert_eq!(response["error"]["code"], -32602, "{raised}: {response}");
    }
}

/// Attack: variables given with the command (`env`) change what a
/// harmless-looking command runs (git's config from the environment runs
/// a hook): they are judged with it, as a line's assignments are, and
/// under untrusted a person is asked.
#[test]
fn variables_given_with_a_command_are_judged_with_it() {
    let l = Layout::new();
    let mut server = Server::with_settings(&[], Some((&l, "approval = \"untrusted\"\n")));
    let session = server.open(1, json!({"root": l.root}));
    let (_, plain) = server.run(2, json!({"session": session, "argv": ["true"]}));
    assert_eq!(plain["status"], "exited", "{plain}");
    let hook = json!({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor",
                      "GIT_CONFIG_VALUE_0": "touch hooked; false"});
    let (_, exit) = server.run(
        3,
        json!({"session": session, "argv": ["true"], "env": hook}),
    );
    // No one at a terminal and no approver given: the question waits.
    assert_eq!(exit["status"], "needs-approval", "{exit}");
    assert!(!l.at("hooked").exists());
}

/// Attack: a session rooted in the server's own /proc entry would read
/// its environment (the person's credentials) and write its control files.
#[test]
fn a_session_cannot_be_rooted_in_the_kernels_views() {
    let mut server = Server::start(&["--allow-root", "/"]);
    for (id, root) in [
        (1, "/proc/self"),
        (2, "/proc"),
        (3, "/sys/kernel"),
        (4, "/dev"),
    ] {
        let response = server.call(id, "session/open", json!({"root": root}));
        assert_eq!(response["error"]["code"], -32602, "{root}: {response}");
    }
}

/// SIGTERM drains: every command still running is cancelled (its tree
/// killed), then the server exits 0.
#[test]
fn sigterm_cancels_what_runs_and_exits() {
    let l = Layout::new();
    let mut server = Server::start(&[]);
    let session = server.open(1, json!({"root": l.root}));
    let marker = "654.321";
    let line = format!("sleep {marker} & touch started; sleep {marker}");
    server.call(2, "command/run", json!({"session": session, "line": line}));
    wait_for(&l.at("started"));
    // SAFETY: a signal to the server this test started.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(processes_with(marker).is_empty(), "left after SIGTERM");
}

/// Attack: a NUL byte inside a word. The broker would judge
/// `--recursive\0x` as no flag at all while the tool, reading up to the
/// NUL, takes `--recursive`: such a command is refused before anything.
#[test]
fn a_word_holding_a_nul_byte_is_refused() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build/sub")).unwrap();
    let mut server = Server::start(&[]);
    let session = server.open(1, json!({"root": l.root}));
    let (_, exit) = server.run(
        2,
        json!({"session": session, "argv": ["rm", "--recursive\0x", "build"]}),
    );
    assert_eq!(exit["status"], "error", "{exit}");
    let (_, exit) = server.run(
        3,
        json!({"session": session, "line": "rm --recursive\0 build"}),
    );
    assert_ne!(exit["status"], "exited", "{exit}");
    assert!(l.at("build/sub").exists(), "rm ran");
}

/// No one to ask (no terminal, no --approver): a question waits for a
/// person under an unguessable token, and the command reports
/// needs-approval with it. Attack: the agent answers its own question,
/// with `cordon approve` run in the sandbox or by writing the answer's
/// file, the config directory lying inside the root. Neither lands; the
/// person's answer, given out of band, lets the resumed command run once.
#[test]
fn a_question_waits_for_a_person_and_the_agent_cannot_answer_it() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("build/sub")).unwrap();
    let config = l.at(".xdg");
    let pending = config.join("cordon/pending");
    let mut server = Server::with_config_home(&[], &config);
    let session = server.open(1, json!({"root": l.root}));
    let (_, exit) = server.run(2, json!({"session": session, "line": "rm -rf build"}));
    assert_eq!(exit["status"], "needs-approval", "{exit}");
    let token = exit["resume"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32, "{exit}");
    assert!(l.at("build/sub").exists());

    std::fs::write(l.at("yes"), "once\n").unwrap();
    let own_approve = json!([
        env!("CARGO_BIN_EXE_cordon"),
        "approve",
        token,
        "--approver",
        format!("script={}", l.at("yes").display())
    ]);
    let (_, exit) = server.run(3, json!({"session": session, "argv": own_approve}));
    assert_ne!(exit["exit_code"], 0, "{exit}");
    let forged = format!(
        "printf '{{\"fingerprint\":\"x\",\"answer\":\"once\"}}' > {}/{token}.answer.json",
        pending.display()
    );
    let (_, exit) = server.run(4, json!({"session": session, "line": forged}));
    assert_ne!(exit["exit_code"], 0, "{exit}");
    assert!(!pending.join(format!("{token}.answer.json")).exists());
    let (_, exit) = server.run(5, json!({"session": session, "resume": token}));
    assert_eq!(exit["status"], "needs-approval", "{exit}");
    assert_eq!(exit["resume"], json!(token), "{exit}");
    assert!(l.at("build/sub").exists(), "rm ran unanswered");

    let waiting = || {
        let listed = cordon()
            .env("XDG_CONFIG_HOME", &config)
            .arg("approve")
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout).into_owned()
            + &String::from_utf8_lossy(&listed.stderr)
    };
    let listed = waiting();
    assert!(listed.contains(&token), "{listed}");
    let script = l.base.join("person");
    std::fs::write(&script, "once\n").unwrap();
    let answered = cordon()
        .env("XDG_CONFIG_HOME", &config)
        .args(["approve", &token, "--approver"])
        .arg(format!("script={}", script.display()))
        .output()
        .unwrap();
    assert!(answered.status.success(), "{answered:?}");
    let resumed = server.call(
        6,
        "command/run",
        json!({"session": session, "resume": token, "line": "rm -rf src"}),
    );
    assert_eq!(resumed["error"]["code"], -32602, "{resumed}");
    let (_, exit) = server.run(7, json!({"session": session, "resume": token}));
    assert_eq!(exit["status"], "exited", "{exit}");
    assert!(!l.at("build").exists(), "the approved rm did not run");
    // Once: the same command asks again.
    std::fs::create_dir_all(l.at("build")).unwrap();
    let (_, exit) = server.run(8, json!({"session": session, "line": "rm -rf build"}));
    assert_eq!(exit["status"], "needs-approval", "{exit}");
    assert_ne!(exit["resume"], json!(token), "{exit}");
    // Its session closed, nothing waits.
    server.call(9, "session/close", json!({"session": session}));
    let listed = waiting();
    assert!(listed.contains("no question waits"), "{listed}");
}

/// Lines said on a socket connection, as JSON.
fn said_on(
    stream: &std::os::unix::net::UnixStream,
) -> std::io::Lines<BufReader<std::os::unix::net::UnixStream>> {
    BufReader::new(stream.try_clone().unwrap()).lines()
}

/// `--socket`: made 0600, a connection per client, each with its own
/// sessions. A connection that subscribed to the audit hears every
/// session's events, another connection's too, as they happen; one that
/// did not hears none.
#[test]
fn over_a_socket_a_subscribed_connection_hears_every_sessions_audit() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    let l = Layout::new();
    std::fs::write(l.at("a.txt"), "alpha\n").unwrap();
    let path = l.base.join("cordon.sock");
    let mut child = cordon()
        .args(["serve", "--log-level", "error", "--socket"])
        .arg(&path)
        .arg("--allow-root")
        .arg(&l.root)
        .arg("--cache-dir")
        .arg(cache_dir())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&path);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let send = |mut stream: &UnixStream, message: Value| {
        writeln!(stream, "{message}").unwrap();
    };
    let watcher = UnixStream::connect(&path).unwrap();
    let agent = UnixStream::connect(&path).unwrap();
    let (mut heard, mut answers) = (said_on(&watcher), said_on(&agent));
    let next = |lines: &mut std::io::Lines<_>| -> Value {
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
    };
    send(
        &watcher,
        json!({"jsonrpc": "2.0", "id": 1, "method": "audit/subscribe"}),
    );
    assert_eq!(next(&mut heard)["result"], json!({}));
    send(
        &agent,
        json!({"jsonrpc": "2.0", "id": 1, "method": "session/open",
                        "params": {"root": l.root}}),
    );
    let session = next(&mut answers)["result"]["session"].clone();
    assert!(session.is_u64());
    send(
        &agent,
        json!({"jsonrpc": "2.0", "id": 2, "method": "command/run",
                        "params": {"session": session, "argv": ["cat", "a.txt"]}}),
    );
    loop {
        let said = next(&mut answers);
        assert_ne!(said["method"], "audit/event", "not subscribed: {said}");
        if said["method"] == "command/exit" {
            assert_eq!(said["params"]["exit_code"], 0, "{said}");
            break;
        }
    }
    let mut events = Vec::new();
    while !events.contains(&"run".to_string()) {
        let said = next(&mut heard);
        assert_eq!(said["method"], "audit/event", "{said}");
        assert_eq!(said["params"]["session"], session, "{said}");
        events.push(
            said["params"]["event"]["event"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(events[..2], ["request", "decision"], "{events:?}");
    let _ = child.kill();
    let _ = child.wait();
}

/// Attack: the agent opens its session with rules that allow what the
/// person's rules ask about: refused (-32602), as an allow rule is a
/// person's to write. Rules that forbid apply to the session's commands.
#[test]
fn a_sessions_own_rules_only_prompt_or_forbid() {
    let l = Layout::new();
    std::fs::write(l.at("a.txt"), "alpha\n").unwrap();
    let mut server = Server::start(&["--approver", "deny"]);
    let allow = "[[rule]]\nprefix = [\"rm\", \"-rf\"]\ndecision = \"allow\"\n";
    let refused = server.call(1, "session/open", json!({"root": l.root, "rules": allow}));
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.rules"),
        "{refused}"
    );
    let forbid = "[[rule]]\nprefix = [\"cat\"]\ndecision = \"forbid\"\n";
    let session = server.open(2, json!({"root": l.root, "rules": forbid}));
    let (stdout, exit) = server.run(3, json!({"session": session, "argv": ["cat", "a.txt"]}));
    assert_eq!(exit["status"], "refused", "{exit}");
    assert_eq!(stdout, "");
    let plain = server.open(4, json!({"root": l.root}));
    let (stdout, _) = server.run(5, json!({"session": plain, "argv": ["cat", "a.txt"]}));
    assert_eq!(stdout, "alpha\n", "another session got the rules");
}

/// Attack: the agent opens a second session rooted inside what commands
/// may never write, to write there as that session's project: cordon's
/// own config directory (where parked questions wait for their answers:
/// it would answer its own) or a repository's git directory (hooks).
/// Each is refused, for `cordon run` too; a root that is a git directory
/// is read-only whole; nothing there changed.
#[test]
fn a_session_cannot_be_rooted_inside_cordons_own_or_a_git_directory() {
    let l = Layout::new();
    for dir in [".git/objects", ".git/refs"] {
        std::fs::create_dir_all(l.at(dir)).unwrap();
    }
    let config = l.base.join("xdg");
    let pending = config.join("cordon/pending");
    std::fs::create_dir_all(&pending).unwrap();
    let (before_config, before_git) = (snapshot(&config), snapshot(&l.at(".git")));
    let mut server = Server::with_config_home(&[], &config);
    let roots = [config.join("cordon"), pending.clone(), l.at(".git/hooks")];
    for (id, root) in (1..).zip(&roots) {
        let response = server.call(id, "session/open", json!({"root": root}));
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("inside"), "{}: {response}", root.display());
    }
    let run_in = |root: &std::path::Path, line: &str| {
        cordon()
            .env("XDG_CONFIG_HOME", &config)
            .args(["run", "--root"])
            .arg(root)
            .args(["--", "sh", "-c", line])
            .output()
            .unwrap()
    };
    let run = run_in(&l.at(".git/hooks"), "echo planted > pre-commit");
    assert_eq!(run.status.code(), Some(125), "{run:?}");
    // A root that is a git directory itself is protected whole.
    let run = run_in(&l.at(".git"), "echo planted > hooks/pre-commit");
    assert_ne!(run.status.code(), Some(0), "{run:?}");
    assert_eq!(snapshot(&config), before_config);
    assert_eq!(snapshot(&l.at(".git")), before_git);
}

/// Attack: the agent roots a session wherever it likes (the person's home,
/// a global hooks directory): a session may be rooted only in or below
/// the directories the person started the server for.
#[test]
fn sessions_are_rooted_only_where_the_server_allows() {
    let l = Layout::new();
    let root = l.root.to_str().unwrap().to_string();
    let mut server = Server::start(&["--allow-root", &root]);
    assert!(server.open(1, json!({"root": l.at("src")})) > 0);
    for (id, outside) in [(2, l.base.join("outside")), (3, l.base.clone())] {
        let response = server.call(id, "session/open", json!({"root": outside}));
        let message = response["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("--allow-root"), "{response}");
    }
}

/// A session rooted in a project, and another rooted in its `x`.
fn nested_sessions() -> (Layout, Server, u64, u64) {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("x")).unwrap();
    let mut server = Server::start(&[]);
    let outer = server.open(1, json!({"root": l.root}));
    let inner = server.open(2, json!({"root": l.at("x")}));
    (l, server, outer, inner)
}

/// In the outer session, `x` moved aside and a symlink to the directory
/// outside the project put in its place.
fn move_aside(server: &mut Server, id: u64, outer: u64) {
    let swap = "mv x x.old && ln -s ../outside x";
    let (_, exit) = server.run(id, json!({"session": outer, "line": swap}));
    assert_eq!(exit["exit_code"], 0, "{exit}");
}

/// Attack: one session puts a symlink where another session's root lies,
/// so that the other's next command is rooted elsewhere (here outside the
/// project; it could be cordon's own config). The moved root is refused,
/// for WASI tools and native commands alike, and nothing lands there.
#[test]
fn a_root_moved_by_another_session_is_refused() {
    let (l, mut server, outer, inner) = nested_sessions();
    let before = l.outside();
    let (_, exit) = server.run(3, json!({"session": inner, "argv": ["touch", "first"]}));
    assert_eq!(exit["exit_code"], 0, "{exit}");
    move_aside(&mut server, 4, outer);
    for (id, argv) in [
        (5, json!(["touch", "planted"])),
        (6, json!(["sh", "-c", "echo > planted"])),
    ] {
        let (_, exit) = server.run(id, json!({"session": inner, "argv": argv}));
        assert_ne!(exit["exit_code"], 0, "{exit}");
    }
    assert_eq!(l.outside(), before);
}

/// Attack: cordon's own binary lies inside the root (as target/debug does
/// in cordon's repository). A command replaces the file, and names the
/// replacement as `/proc/self/exe` reads once the original is unlinked:
/// the next native command's sandbox helper is still cordon, and the
/// replacement never runs.
#[test]
fn a_replaced_cordon_binary_never_starts_as_the_sandbox_helper() {
    let l = Layout::new();
    std::fs::create_dir_all(l.at("bin")).unwrap();
    let binary = l.at("bin/cordon");
    std::fs::copy(env!("CARGO_BIN_EXE_cordon"), &binary).unwrap();
    let pwned = l.base.join("outside/pwned");
    let mut command = crate::support::command(&binary);
    command.env("XDG_CONFIG_HOME", l.base.join("xdg"));
    let mut server = Server::spawn(command, &[]);
    let session = server.open(1, json!({"root": l.root}));
    let (_, exit) = server.run(
        2,
        json!({"session": session, "argv": ["sh", "-c", "echo one"]}),
    );
    assert_eq!(exit["exit_code"], 0, "{exit}");
    let replace = format!(
        "rm bin/cordon && printf '#!/bin/sh\\ntouch {}\\n' > 'bin/cordon (deleted)' && \
         cp 'bin/cordon (deleted)' bin/cordon && chmod +x bin/*",
        pwned.display()
    );
    let (_, exit) = server.run(3, json!({"session": session, "line": replace}));
    assert_eq!(exit["exit_code"], 0, "{exit}");
    let (stdout, exit) = server.run(
        4,
        json!({"session": session, "argv": ["sh", "-c", "echo two"]}),
    );
    assert_eq!(exit["exit_code"], 0, "{exit}");
    assert_eq!(stdout, "two\n");
    assert!(!pwned.exists(), "the replacement ran as the helper");
}

/// Attack: as above, but while a line of the other session runs: its next
/// stage starts after the swap, and is refused before anything of it
/// runs in the directory the symlink leads to.
#[test]
fn a_root_moved_while_a_line_runs_is_refused_at_the_next_stage() {
    let (l, mut server, outer, inner) = nested_sessions();
    let before = l.outside();
    let line = "sleep 3; sh -c 'echo planted > planted'";
    let started = server.call(3, "command/run", json!({"session": inner, "line": line}));
    let run = started["result"]["run"].clone();
    move_aside(&mut server, 4, outer);
    let exit = server.next(|m| m["method"] == "command/exit" && m["params"]["run"] == run);
    assert_ne!(exit["params"]["exit_code"], 0, "{exit}");
    assert_eq!(l.outside(), before);
}

/// A server started in the home directory, with no --allow-root, would
/// let an agent root a session there (every dotfile a project's file):
/// it says to name where sessions may be rooted, and does not start.
#[test]
fn a_server_started_in_the_home_directory_asks_where_sessions_may_be_rooted() {
    let output = cordon()
        .current_dir(crate::support::home())
        .args(["serve", "--stdio"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--allow-root"), "{said}");
}
