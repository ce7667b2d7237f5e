//! The broker end to end: approvers, escalations, on-failure retries,
//! project rules and trust, and the audit log.

use std::io::{BufRead, BufReader, Write};

use crate::support::{Layout, Run, audit_lines, events, script, skip_without};

#[test]
fn a_scripted_person_approves_denies_edits_and_aborts() {
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let run = |answers: &str| {
        l.cordon()
            .args(["--approver", &script(answers)])
            .args(["--audit", audit.to_str().unwrap()])
            .args(["--", "rm", "-rf", "src"])
            .env_secret()
            .output()
    };
    // Deny: nothing changes, 126, the reason names who denied.
    let denied = run("deny not today\n");
    denied.expect_code(126);
    assert!(
        denied.stderr().contains("denied by script: not today"),
        "{}",
        denied.stderr()
    );
    assert!(l.at("src").exists());
    // Edit: the replacement is judged again and runs.
    let edited = run("edit cat a.txt\n");
    assert_eq!(edited.expect_code(0).stdout(), "alpha\n");
    assert!(l.at("src").exists());
    // Abort stops everything.
    let aborted = run("abort\n");
    aborted.expect_code(126);
    assert!(aborted.stderr().contains("aborted"), "{}", aborted.stderr());
    // Once: it runs.
    run("once\n").expect_code(0);
    assert!(!l.at("src").exists());

    let lines = audit_lines(&audit);
    let decisions: Vec<&str> = events(&lines, "decision")
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["denied", "edited", "run", "aborted", "approved"]
    );
    let runs = events(&lines, "run");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["argv"], serde_json::json!(["cat", "a.txt"]));
    assert_eq!(runs[0]["stdout"]["bytes"], 6);
    // sha256("alpha\n")
    assert_eq!(
        runs[0]["stdout"]["sha256"],
        "b6a98d9ce9a2d9149288fa3df42d377c3e42737afdcdaf714e33c0a100b51060"
    );
    for line in &lines {
        assert_eq!(line["v"], 1);
        assert!(
            !line.to_string().contains("hunter2"),
            "an env value leaked: {line}"
        );
    }
}

/// Sets a secret-looking variable that must reach neither the command nor
/// the audit log.
trait EnvSecret {
    fn env_secret(self) -> Self;
}

impl EnvSecret for crate::support::Cordon {
    fn env_secret(mut self) -> Self {
        self.0.env("DB_PASSWORD", "hunter2");
        self
    }
}

#[test]
fn without_an_approver_asking_is_denying_and_never_asks_nobody() {
    let l = Layout::new();
    let run = l.cordon().args(["--", "rm", "-rf", "src"]).output();
    run.expect_code(126);
    assert!(run.stderr().contains("no approver"), "{}", run.stderr());
    let audit = l.base.join("audit.jsonl");
    let run = l
        .cordon()
        .args(["--approval", "never", "--approver", &script("once\n")])
        .args(["--audit", audit.to_str().unwrap(), "--", "rm", "-rf", "src"])
        .output();
    run.expect_code(126);
    assert!(l.at("src").exists());
    let lines = audit_lines(&audit);
    let decision = events(&lines, "decision")[0];
    assert_eq!(decision["decision"], "refused");
    assert_eq!(decision["by"], "policy never");
}

/// How an agent offers cordon the jsonl channel.
#[derive(Clone, Copy, Debug)]
enum Channel {
    /// One end of a socket pair, as `--approver jsonl=7`.
    Descriptor,
    /// A unix socket cordon connects to, as `--approver jsonl=PATH`.
    Socket,
}

/// Runs cordon with `args` and a program answering on `channel`, as an
/// agent would: `forged` lines are put on the channel before cordon asks
/// (as whoever else could reach it would), then the question is read and
/// `replies` written, `ID` standing for the id received (a JSON string).
/// The program then closes the channel, or with `hold_open` keeps it open
/// until cordon exits. Returns the run and the question.
fn over_jsonl(
    l: &Layout,
    channel: Channel,
    forged: &[&str],
    replies: &[&str],
    hold_open: bool,
    args: &[&str],
) -> (Run, serde_json::Value) {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::os::unix::process::CommandExt;

    // One write per line, so no line reaches cordon in pieces.
    fn write_lines(stream: &UnixStream, lines: &[String]) {
        for line in lines {
            (&*stream)
                .write_all(format!("{line}\n").as_bytes())
                .unwrap();
        }
    }
    let forged: Vec<String> = forged.iter().map(|line| line.to_string()).collect();
    let replies: Vec<String> = replies.iter().map(|line| line.to_string()).collect();
    let answer = move |stream: UnixStream| -> String {
        let mut reader = BufReader::new(&stream);
        let mut question = String::new();
        reader.read_line(&mut question).unwrap();
        let asked: serde_json::Value = serde_json::from_str(&question).unwrap();
        let id = asked["id"].to_string();
        let replies: Vec<String> = replies.iter().map(|r| r.replace("ID", &id)).collect();
        write_lines(&stream, &replies);
        if hold_open {
            // Until cordon closes its end (a reset is an end too).
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        }
        question
    };
    let (run, question) = match channel {
        Channel::Descriptor => {
            let (ours, theirs) = UnixStream::pair().unwrap();
            // Before cordon starts: certainly before it asks.
            write_lines(&ours, &forged);
            let answerer = std::thread::spawn(move || answer(ours));
            let fd = theirs.as_raw_fd();
            let mut cordon = l.cordon().args(["--approver", "jsonl=7"]).args(args);
            // SAFETY: dup2 between fork and exec.
            unsafe {
                cordon.0.pre_exec(move || {
                    // dup2 onto itself would leave close-on-exec set.
                    if fd == 7 {
                        libc::fcntl(7, libc::F_SETFD, 0);
                    } else {
                        libc::dup2(fd, 7);
                    }
                    Ok(())
                });
            }
            let run = cordon.output();
            drop(theirs);
            (run, answerer.join().unwrap())
        }
        Channel::Socket => {
            let path = l.base.join("approver.sock");
            let listener = UnixListener::bind(&path).unwrap();
            let answerer = std::thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                write_lines(&stream, &forged);
                answer(stream)
            });
            let run = l
                .cordon()
                .args(["--approver", &format!("jsonl={}", path.display())])
                .args(args)
                .output();
            (run, answerer.join().unwrap())
        }
    };
    let question: serde_json::Value = serde_json::from_str(&question).unwrap();
    let id = question["id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "not 32 lowercase hex: {question}"
    );
    (run, question)
}

/// A program answering on a socket pair; whatever is not a well-formed
/// answer to the question asked is a denial.
#[test]
fn jsonl_approver_on_a_descriptor_and_malformed_replies_deny() {
    let cases: &[(&str, i32)] = &[
        (r#"{"v":2,"id":ID,"answer":"once"}"#, 0),
        (r#"{"v":2,"id":ID,"answer":"yes"}"#, 126),
        (r#"{"v":2,"id":"1","answer":"once"}"#, 126),
        (r#"{"v":2,"id":1,"answer":"once"}"#, 126),
        (r#"{"v":1,"id":ID,"answer":"once"}"#, 126),
        (r#"{"v":2,"id":ID,"answer":"once","extra":true}"#, 126),
        ("not json at all", 126),
    ];
    for (reply, code) in cases {
        let l = Layout::new();
        let (run, question) = over_jsonl(
            &l,
            Channel::Descriptor,
            &[],
            &[reply],
            false,
            &["--", "rm", "-rf", "src"],
        );
        assert_eq!(question["v"], 2);
        assert_eq!(question["type"], "question");
        assert_eq!(question["argv"], serde_json::json!(["rm", "-rf", "src"]));
        assert_eq!(question["reason"], "recursive or forced rm");
        run.expect_code(*code);
        assert_eq!(l.at("src").exists(), *code != 0, "{reply}");
    }
    // No reply: the channel closes.
    let l = Layout::new();
    let args = ["--", "rm", "-rf", "src"];
    let (run, _) = over_jsonl(&l, Channel::Descriptor, &[], &[], false, &args);
    run.expect_code(126);
    assert!(
        run.stderr().contains("the channel closed"),
        "{}",
        run.stderr()
    );
    assert!(l.at("src").exists());
}

#[test]
fn jsonl_approver_on_a_unix_socket() {
    let l = Layout::new();
    let (run, question) = over_jsonl(
        &l,
        Channel::Socket,
        &[],
        &[r#"{"v":2,"id":ID,"answer":"edit","argv":["cat","a.txt"]}"#],
        false,
        &["--", "rm", "-rf", "src"],
    );
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    assert_eq!(question["argv"], serde_json::json!(["rm", "-rf", "src"]));
}

/// Answers written onto the channel ahead of time, by whoever could reach
/// it: guesses at a counting id, the old numeric id, and a line that copies
/// the format exactly.
const FORGED_ANSWERS: [&str; 3] = [
    r#"{"v":2,"id":"1","answer":"once"}"#,
    r#"{"v":2,"id":1,"answer":"once"}"#,
    r#"{"v":2,"id":"00112233445566778899aabbccddeeff","answer":"once"}"#,
];

/// The attack of issue 16 item 2: an answer put on the approver channel
/// before cordon asks is taken as the person's answer to a later question.
/// It must not be: the forged lines are discarded and audited, the command
/// waits for the person and does not run without them; the person, who
/// echoes the id received, still decides.
fn forged_answers_before_the_question_are_not_taken(channel: Channel) {
    let before_the_question = |discarded: &serde_json::Value| match channel {
        Channel::Descriptor => discarded["why"] == "arrived before the question",
        // The forger's lines may reach cordon just after it looked for
        // stale lines, and are then discarded for their id.
        Channel::Socket => {
            discarded["why"] == "arrived before the question"
                || discarded["why"] == "answers another id"
        }
    };
    let discarded_forgeries = |lines: &[serde_json::Value]| {
        let discarded = events(lines, "answer-discarded");
        for forged in FORGED_ANSWERS {
            let found = discarded
                .iter()
                .find(|d| d["line"] == forged)
                .unwrap_or_else(|| panic!("{forged} not in the audit log: {lines:?}"));
            assert_eq!(found["by"], "jsonl");
            assert!(before_the_question(found), "{found}");
        }
    };

    // Nobody answers: a guess after the question is not taken either, and
    // the question is denied when its time is up.
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let guess = r#"{"v":2,"id":"2","answer":"once"}"#;
    let (run, _) = over_jsonl(
        &l,
        channel,
        &FORGED_ANSWERS,
        &[guess],
        true,
        &[
            "--approval-timeout",
            "1",
            "--audit",
            audit.to_str().unwrap(),
            "--",
            "rm",
            "-rf",
            "src",
        ],
    );
    run.expect_code(126);
    assert!(
        run.stderr().contains("no answer within"),
        "{}",
        run.stderr()
    );
    assert!(l.at("src").exists(), "the forged answer was taken");
    let lines = audit_lines(&audit);
    discarded_forgeries(&lines);
    let discarded = events(&lines, "answer-discarded");
    assert!(
        discarded
            .iter()
            .any(|d| d["line"] == guess && d["why"] == "answers another id"),
        "{lines:?}"
    );
    let decision = events(&lines, "decision")[0];
    assert_eq!(decision["decision"], "denied");
    assert_eq!(decision["by"], "jsonl");

    // The person answers, echoing the id: that answer counts.
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let (run, _) = over_jsonl(
        &l,
        channel,
        &FORGED_ANSWERS,
        &[r#"{"v":2,"id":ID,"answer":"once"}"#],
        true,
        &["--audit", audit.to_str().unwrap(), "--", "rm", "-rf", "src"],
    );
    run.expect_code(0);
    assert!(!l.at("src").exists());
    let lines = audit_lines(&audit);
    discarded_forgeries(&lines);
    let decision = events(&lines, "decision")[0];
    assert_eq!(decision["decision"], "approved");
    assert_eq!(decision["by"], "jsonl");
}

#[test]
fn forged_answers_before_the_question_are_not_taken_on_a_descriptor() {
    forged_answers_before_the_question_are_not_taken(Channel::Descriptor);
}

#[test]
fn forged_answers_before_the_question_are_not_taken_on_a_unix_socket() {
    forged_answers_before_the_question_are_not_taken(Channel::Socket);
}

/// "always" writes an allow rule to the user's rules file (whole, beside
/// it, keeping what was there); the next session runs unasked.
#[test]
fn always_writes_a_rule_later_sessions_use() {
    let l = Layout::new();
    let config = l.base.join("config");
    let rules = config.join("cordon/rules.toml");
    std::fs::create_dir_all(rules.parent().unwrap()).unwrap();
    let mine = "# my rules\n[[rule]]\nprefix = [\"git\", \"status\"]\ndecision = \"allow\"\n";
    std::fs::write(&rules, mine).unwrap();
    let cordon = |answers: &str| {
        let mut c = l.cordon().args(["--approver", &script(answers)]);
        c.0.env("XDG_CONFIG_HOME", &config);
        c
    };
    std::fs::create_dir_all(l.at("build/a")).unwrap();
    cordon("always rm -rf\n")
        .args(["--", "rm", "-rf", "build/a"])
        .output()
        .expect_code(0);
    let written = std::fs::read_to_string(&rules).unwrap();
    assert!(written.starts_with(mine), "{written}");
    assert!(written.contains("prefix = [\"rm\", \"-rf\"]"), "{written}");
    // A new session, nobody to ask: the rule decides.
    cordon("deny\n")
        .args(["--", "rm", "-rf", "build"])
        .output()
        .expect_code(0);
    assert!(!l.at("build").exists());
    // An escalation is never written as a rule: this session only.
    let run = cordon("always\n")
        .args([
            "--escalate",
            "unsandboxed",
            "--engine",
            "native",
            "--",
            "true",
        ])
        .output();
    assert!(
        run.stderr().contains("a rule cannot grant unsandboxed"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), written);
}

/// A question nobody answers is denied after --approval-timeout.
#[test]
fn an_unanswered_question_is_denied_in_time() {
    use std::os::unix::net::UnixStream;
    let l = Layout::new();
    let path = l.base.join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let silent = std::thread::spawn(move || {
        let (stream, _): (UnixStream, _) = listener.accept().unwrap();
        // Holds the channel open, reading, never answering.
        let mut line = String::new();
        let _ = BufReader::new(&stream).read_line(&mut line);
        let _ = BufReader::new(&stream).read_line(&mut line);
    });
    let run = l
        .cordon()
        .args(["--approver", &format!("jsonl={}", path.display())])
        .args(["--approval-timeout", "0.3", "--", "rm", "-rf", "src"])
        .output();
    run.expect_code(126);
    assert!(
        run.stderr().contains("no answer within"),
        "{}",
        run.stderr()
    );
    assert!(l.at("src").exists());
    silent.join().unwrap();
}

/// The terminal prompt takes a letter and Enter per choice (a
/// pseudo-terminal from script(1) stands in for the person).
#[cfg(target_os = "linux")]
#[test]
fn a_person_at_the_terminal_answers_with_a_letter_and_enter() {
    use std::process::Stdio;
    if skip_without(&["script"]) {
        return;
    }
    let cordon = env!("CARGO_BIN_EXE_cordon");
    for (keys, removed) in [("n\n\n", false), ("y\n", true)] {
        let l = Layout::new();
        let line = format!(
            "{cordon} run --root {} --approver tty -- rm -rf src",
            l.root.display()
        );
        let mut child = crate::support::command("script")
            .args(["-qec", &line, "/dev/null"])
            .env("XDG_CONFIG_HOME", l.base.join("config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Keys typed before the question are dropped: wait for the prompt.
        let mut stdout = child.stdout.take().unwrap();
        let mut shown = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&shown).contains("then Enter: ") {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&shown));
            shown.extend_from_slice(&buf[..n]);
        }
        // What arrives in the moment after the question is drawn is
        // dropped with the replies to terminal queries.
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(keys.as_bytes())
            .unwrap();
        std::io::Read::read_to_end(&mut stdout, &mut shown).unwrap();
        child.wait().unwrap();
        let shown = String::from_utf8_lossy(&shown);
        assert!(shown.contains("[r] always (a rule"), "{shown}");
        assert_eq!(!l.at("src").exists(), removed, "{keys}: {shown}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn escalations_need_a_person_and_give_exactly_the_grant() {
    let l = Layout::new();
    let outside = l.base.join("outside");
    let write_outside = format!("echo x > {}/granted.txt", outside.display());
    let escalate = |answers: &str, extra: &[&str]| {
        l.cordon()
            .args(["--approver", &script(answers)])
            .args(["--escalate", &format!("writable={}", outside.display())])
            .args(["--justification", "writes the build output there"])
            .args(extra)
            .args(["--", "sh", "-c", &write_outside])
            .output()
    };
    let before = l.outside();
    escalate("deny\n", &[]).expect_code(126);
    escalate("once\n", &["--approval", "never"]).expect_code(126);
    assert_eq!(l.outside(), before);
    escalate("once\n", &[]).expect_code(0);
    assert!(outside.join("granted.txt").exists());
    // The grant is that directory, nothing more.
    let run = l
        .cordon()
        .args(["--approver", &script("once\n")])
        .args(["--escalate", &format!("writable={}", outside.display())])
        .args(["--", "sh", "-c", "echo x > ../proj-evil/x"])
        .output();
    assert_ne!(run.code(), 0);
    assert!(!l.base.join("proj-evil/x").exists());
    // WASI tools only ever see the root: no writable or unsandboxed grant.
    for grant in ["unsandboxed", &format!("writable={}", outside.display())] {
        l.cordon()
            .args(["--approver", &script("once\n"), "--escalate", grant])
            .args(["--", "cat", "a.txt"])
            .output()
            .expect_code(126);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn full_access_runs_unsandboxed_only_when_approved() {
    let l = Layout::new();
    let target = l.base.join("outside/free.txt");
    let run = |answers: &str| {
        l.cordon()
            .args(["--sandbox", "full-access", "--approver", &script(answers)])
            .args(["--", "sh", "-c", &format!("echo x > {}", target.display())])
            .output()
    };
    run("deny\n").expect_code(126);
    assert!(!target.exists());
    let ran = run("once\n");
    ran.expect_code(0);
    assert!(
        ran.stderr().contains("without a sandbox"),
        "{}",
        ran.stderr()
    );
    assert!(target.exists());
}

/// What an approved unsandboxed command starts in a session of its own
/// (`setsid`, out of its process group) ends with it, as a sandboxed
/// command's tree ends with its pid namespace.
#[cfg(target_os = "linux")]
#[test]
fn nothing_an_unsandboxed_command_starts_outlives_it() {
    let l = Layout::new();
    let marker = "912.345";
    let started = l.base.join("started");
    // The line ends only once its child has left for a session of its
    // own: the process group's kill at the end cannot reach it then.
    let line = format!(
        "setsid sh -c 'echo $$ > {0}; exec sleep {marker}' & \
         while [ ! -s {0} ]; do sleep 0.01; done",
        started.display()
    );
    let ran = unsandboxed(&l, &line).output();
    ran.expect_code(0);
    assert!(started.exists(), "{}", ran.stderr());
    let left = crate::support::processes_with(marker);
    if ran.stderr().contains("its process group only") {
        crate::support::skip("no control group can be made here");
        return;
    }
    assert!(left.is_empty(), "left running: {left:?}\n{}", ran.stderr());
}

/// `cordon run` in `l` of `line`, approved once to run unsandboxed, saying
/// its layers.
#[cfg(target_os = "linux")]
fn unsandboxed(l: &Layout, line: &str) -> crate::support::Cordon {
    l.cordon()
        .args([
            "--sandbox",
            "full-access",
            "--approver",
            &script("once\n"),
            "-v",
        ])
        .args(["--", "sh", "-c", line])
}

/// Waits up to `seconds` for `child` to end; whether it did.
#[cfg(target_os = "linux")]
fn ends_within(child: &mut std::process::Child, seconds: u64) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Waits up to five seconds for no process to hold `marker`; those left.
#[cfg(target_os = "linux")]
fn gone(marker: &str) -> Vec<String> {
    for _ in 0..250 {
        if crate::support::processes_with(marker).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    crate::support::processes_with(marker)
}

/// cordon killed while an approved unsandboxed command runs (SIGKILL, as
/// a closed terminal or an OOM kill would): the command and what it
/// started with setsid go with it.
#[cfg(target_os = "linux")]
#[test]
fn an_unsandboxed_command_ends_when_cordon_is_killed() {
    let l = Layout::new();
    let started = l.base.join("started");
    let line = format!(
        "setsid sh -c 'echo $$ > {0}; exec sleep 913.1' & exec sleep 913.2",
        started.display()
    );
    let mut cordon = unsandboxed(&l, &line)
        .0
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..1500 {
        if started.exists() && !crate::support::processes_with("913.2").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(started.exists(), "the command never started");
    cordon.kill().unwrap();
    cordon.wait().unwrap();
    let left = gone("913.");
    assert!(
        left.is_empty(),
        "left running after cordon was killed: {left:?}"
    );
}

/// An unsandboxed command that runs cordon again, unsandboxed: the inner
/// run's control group lies below the outer one's, and what the inner
/// command started ends with the outer run.
#[cfg(target_os = "linux")]
#[test]
fn a_nested_unsandboxed_run_ends_with_the_outer_one() {
    let l = Layout::new();
    let answers = script("once\n");
    let inner = format!(
        "{} run --root {} --sandbox full-access --approver {answers} -- sh -c \
         'setsid sleep 915.1 & exec sleep 915.2'",
        env!("CARGO_BIN_EXE_cordon"),
        l.root.display()
    );
    let line = format!("{inner} & sleep 2; exit 0");
    let ran = l
        .cordon()
        .args(["--sandbox", "full-access", "--approver", &answers])
        .args(["--", "sh", "-c", &line])
        .output();
    ran.expect_code(0);
    let left = gone("915.");
    assert!(left.is_empty(), "left running: {left:?}\n{}", ran.stderr());
}

/// The run's control group renamed from inside, or its name taken by a
/// group an earlier process of the same pid left: the tree still ends
/// with the run, and no group of it is left.
#[cfg(target_os = "linux")]
#[test]
fn an_unsandboxed_tree_ends_though_its_group_is_renamed_or_its_name_taken() {
    let l = Layout::new();
    let pids = std::path::Path::new("/sys/fs/cgroup/pids");
    if !pids.join("cgroup.procs").exists() {
        crate::support::skip("no cgroup v1 pids hierarchy");
        return;
    }
    let renamed = format!("cordon-test-renamed-{}", std::process::id());
    let rename = format!(
        "g=$(grep :pids: /proc/self/cgroup | cut -d: -f3); \
         mv /sys/fs/cgroup/pids$g /sys/fs/cgroup/pids/{renamed}; setsid sleep 916.1 & exit 0"
    );
    // The shell's pid is the one cordon runs with: its first group's name.
    let shell_pid = l.base.join("shell-pid");
    let taken = format!(
        "mkdir /sys/fs/cgroup/pids/cordon-$$-0; echo $$ > {}; exec {} run --root {} \
         --sandbox full-access --approver {} -v -- sh -c 'setsid sleep 916.2 & exit 0'",
        shell_pid.display(),
        env!("CARGO_BIN_EXE_cordon"),
        l.root.display(),
        script("once\n")
    );
    let ran = unsandboxed(&l, &rename).output();
    ran.expect_code(0);
    let ran_taken = crate::support::command("sh")
        .args(["-c", &taken])
        .output()
        .unwrap();
    let left = gone("916.");
    let pid = std::fs::read_to_string(&shell_pid).unwrap();
    let _ = std::fs::remove_dir(pids.join(format!("cordon-{}-0", pid.trim())));
    let stderr = String::from_utf8_lossy(&ran_taken.stderr);
    assert!(
        left.is_empty(),
        "left running: {left:?}\n{}\n{stderr}",
        ran.stderr()
    );
    assert!(!pids.join(&renamed).exists(), "the renamed group is left");
    assert!(stderr.contains("killed with the run"), "{stderr}");
}

/// A command that leaves its process group (setpgid into cordon's own)
/// and starts a child with setsid still ends at its timeout, whole.
#[cfg(target_os = "linux")]
#[test]
fn an_unsandboxed_command_that_leaves_its_group_ends_at_its_timeout() {
    let l = Layout::new();
    let program = "import os, subprocess, time\n\
                   subprocess.Popen(['setsid', 'sleep', '914.1'])\n\
                   os.setpgid(0, os.getpgid(os.getppid()))\n\
                   time.sleep(914.2)\n";
    let mut cordon = l
        .cordon()
        .args(["--sandbox", "full-access", "--approver", &script("once\n")])
        .args(["--timeout", "2", "--", "python3", "-c", program])
        .0
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ended = ends_within(&mut cordon, 30);
    let left = gone("914.");
    assert!(ended, "cordon did not end at the command's timeout");
    assert!(left.is_empty(), "left running after the timeout: {left:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn on_failure_retries_once_with_the_missing_grant_if_approved() {
    let l = Layout::new();
    let audit = l.base.join("audit.jsonl");
    let target = l.base.join("outside/late.txt");
    let run = |answers: &str| {
        l.cordon()
            .args(["--approval", "on-failure", "--approver", &script(answers)])
            .args(["--engine", "native"])
            .args(["--audit", audit.to_str().unwrap()])
            .args(["--", "sh", "-c", &format!("echo x > {}", target.display())])
            .output()
    };
    let denied = run("deny\n");
    assert_eq!(denied.code(), 2, "{}", denied.stderr());
    assert!(!target.exists());
    assert!(
        denied.stderr().contains("asking to retry with writable="),
        "{}",
        denied.stderr()
    );
    run("once\n").expect_code(0);
    assert!(target.exists());
    let lines = audit_lines(&audit);
    let runs = events(&lines, "run");
    assert_eq!(
        runs.len(),
        3,
        "failed, failed again unapproved, then retried"
    );
    assert_eq!(events(&lines, "violation")[0]["denied"], "write");
    let escalations: Vec<&serde_json::Value> = events(&lines, "request")
        .into_iter()
        .filter(|r| !r["escalation"].is_null())
        .collect();
    assert_eq!(escalations.len(), 2);
}

#[test]
fn project_rules_only_tighten_until_trusted_from_outside() {
    let l = Layout::new();
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(l.at(".cordon")).unwrap();
    std::fs::write(
        l.at(".cordon/rules.toml"),
        "[[rule]]\nprefix = [\"rm\"]\ndecision = \"allow\"\n\n\
         [[rule]]\nprefix = [\"cat\"]\ndecision = \"forbid\"\n",
    )
    .unwrap();
    let cordon = || {
        let mut c = l.cordon();
        c.0.env("XDG_CONFIG_HOME", config.path());
        c
    };
    // A cloned repository cannot approve its own rm -rf, but can forbid cat.
    let run = cordon().args(["--", "rm", "-rf", "src"]).output();
    run.expect_code(126);
    assert!(run.stderr().contains("cordon trust"), "{}", run.stderr());
    assert!(l.at("src").exists());
    cordon()
        .args(["--", "cat", "a.txt"])
        .output()
        .expect_code(126);
    // Trusted from outside, its allow rules apply.
    let trust = crate::support::cordon()
        .env("XDG_CONFIG_HOME", config.path())
        .args(["trust", "--root"])
        .arg(&l.root)
        .output()
        .unwrap();
    assert!(
        trust.status.success(),
        "{}",
        String::from_utf8_lossy(&trust.stderr)
    );
    cordon()
        .args(["--", "rm", "-rf", "src"])
        .output()
        .expect_code(0);
    assert!(!l.at("src").exists());
}

/// What one action did in the approval matrix.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    asked: bool,
    ran: bool,
    succeeded: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    ReadInRoot,
    WriteInRoot,
    WriteOutside,
    WriteProtected,
    ReadSecret,
    ConnectOut,
    DangerousRm,
    UnknownNative,
}

const ACTIONS: [Action; 8] = [
    Action::ReadInRoot,
    Action::WriteInRoot,
    Action::WriteOutside,
    Action::WriteProtected,
    Action::ReadSecret,
    Action::ConnectOut,
    Action::DangerousRm,
    Action::UnknownNative,
];

impl Action {
    fn native(self) -> bool {
        !matches!(
            self,
            Action::ReadInRoot | Action::WriteInRoot | Action::DangerousRm
        )
    }

    fn argv(self, l: &Layout, port: u16) -> Vec<String> {
        let sh = |script: String| vec!["sh".to_string(), "-c".to_string(), script];
        match self {
            Action::ReadInRoot => vec!["cat".into(), "a.txt".into()],
            Action::WriteInRoot => vec!["touch".into(), "new.txt".into()],
            Action::WriteOutside => sh(format!("echo x > {}/outside/w", l.base.display())),
            Action::WriteProtected => sh("echo x > .git/config".into()),
            Action::ReadSecret => sh("cat .env".into()),
            Action::ConnectOut => vec![
                "bash".into(),
                "-c".into(),
                format!("exec 3<>/dev/tcp/127.0.0.1/{port}"),
            ],
            Action::DangerousRm => vec!["rm".into(), "-rf".into(), "src".into()],
            Action::UnknownNative => vec!["python3".into(), "-c".into(), "print('native')".into()],
        }
    }

    /// Whether the action took effect, from the files and the output.
    fn took_effect(self, l: &Layout, run: &Run) -> bool {
        match self {
            Action::ReadInRoot => run.stdout() == "alpha\n",
            Action::WriteInRoot => l.at("new.txt").exists(),
            Action::WriteOutside => l.base.join("outside/w").exists(),
            Action::WriteProtected => {
                std::fs::read_to_string(l.at(".git/config")).is_ok_and(|c| c == "x\n")
            }
            Action::ReadSecret => run.stdout().contains("sk-xyz"),
            Action::ConnectOut => run.code() == 0,
            Action::DangerousRm => !l.at("src").exists(),
            Action::UnknownNative => run.stdout() == "native\n",
        }
    }
}

/// The expected outcome: the policy's answer to "does it ask", `never`
/// refusing instead, the sandbox deciding what succeeds, and `on-failure`
/// asking once more (approved) when a native run failed on a refusal.
fn expected(sandbox: &str, approval: &str, network: &str, action: Action) -> Observed {
    let unsandboxed = sandbox == "full-access" && action.native();
    let asks = action == Action::DangerousRm
        // Reading is read-only (the sandbox, not the broker, hides the secret).
        || (approval == "untrusted" && !matches!(action, Action::ReadInRoot | Action::ReadSecret))
        || unsandboxed;
    if asks && approval == "never" {
        return Observed {
            asked: false,
            ran: false,
            succeeded: false,
        };
    }
    let sandbox_allows = match action {
        Action::ReadInRoot | Action::UnknownNative => true,
        Action::WriteInRoot | Action::DangerousRm => sandbox != "read-only",
        Action::WriteOutside | Action::WriteProtected | Action::ReadSecret => unsandboxed,
        Action::ConnectOut => network == "on" || unsandboxed,
    };
    let retried = !sandbox_allows && approval == "on-failure" && action.native();
    Observed {
        asked: asks || retried,
        ran: true,
        succeeded: sandbox_allows || retried,
    }
}

fn approval_matrix_for(sandbox: &str) {
    if skip_without(&["bash"]) {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut failures = Vec::new();
    for approval in ["untrusted", "on-failure", "on-request", "never"] {
        // allow=: a host the direct connection below does not use; only
        // the proxy leads out, so it fails as with the network off.
        for network in ["off", "on", "allow=registry.test"] {
            for action in ACTIONS {
                let l = Layout::new();
                std::fs::write(l.at(".env"), "TOKEN=sk-xyz\n").unwrap();
                std::fs::write(l.at(".git/config"), "[core]\n").unwrap();
                let audit = l.base.join("audit.jsonl");
                let run = l
                    .cordon()
                    .args([
                        "--sandbox",
                        sandbox,
                        "--approval",
                        approval,
                        "--network",
                        network,
                    ])
                    .args(["--approver", &script("once\nonce\n")])
                    .args(if action.native() {
                        &["--engine", "native"][..]
                    } else {
                        &[]
                    })
                    .args(["--audit", audit.to_str().unwrap(), "--"])
                    .args(action.argv(&l, port))
                    .output();
                let lines = audit_lines(&audit);
                let observed = Observed {
                    asked: events(&lines, "decision")
                        .iter()
                        .any(|d| d["decision"] == "approved"),
                    ran: !events(&lines, "run").is_empty(),
                    succeeded: action.took_effect(&l, &run),
                };
                let want = expected(sandbox, approval, network, action);
                let code_ok = match (want.ran, want.succeeded) {
                    (false, _) => run.code() == 126,
                    (true, true) => run.code() == 0,
                    (true, false) => run.code() != 0 && run.code() != 126,
                };
                if observed != want || !code_ok {
                    failures.push(format!(
                        "{sandbox} {approval} network={network} {action:?}: want {want:?}, \
                         got {observed:?} exit {}: {}",
                        run.code(),
                        run.stderr().trim()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[cfg(target_os = "linux")]
#[test]
fn approval_matrix_read_only() {
    approval_matrix_for("read-only");
}

#[cfg(target_os = "linux")]
#[test]
fn approval_matrix_workspace_write() {
    approval_matrix_for("workspace-write");
}

#[cfg(target_os = "linux")]
#[test]
fn approval_matrix_full_access() {
    approval_matrix_for("full-access");
}

/// Every refusal line names what would have allowed it (or says nothing
/// would), in both engines, and every refusal, a built-in tool's too, is
/// a `violation` in the audit; a line is recorded as the shell's
/// throughout.
#[test]
fn every_refusal_names_its_grant_and_reaches_the_audit() {
    let l = Layout::new();
    std::fs::write(l.at(".env"), "TOKEN=x\n").unwrap();
    let audit = l.base.join("outside/audit.jsonl");
    let audit_flag = format!("--audit={}", audit.display());
    let run = |args: &[&str]| l.cordon().args([audit_flag.as_str()]).args(args).output();
    let stderr = run(&["--", "cat", ".env"]).stderr();
    assert!(
        stderr.contains(
            "sandbox refused a read: .env: a secret file; --allow-secret .env would allow it"
        ),
        "{stderr}"
    );
    let stderr = run(&["--", "tee", ".git/config"]).stderr();
    assert!(
        stderr.contains(".git/config: a git directory, cordon's own, or a name that would make one; --sandbox full-access would allow it"),
        "{stderr}"
    );
    let lines = audit_lines(&audit);
    let violations = events(&lines, "violation");
    assert_eq!(violations.len(), 2, "{lines:?}");
    assert_eq!(violations[0]["denied"], "read");
    assert_eq!(violations[0]["target"], l.at(".env").display().to_string());
    assert_eq!(violations[0]["from_stderr"], false);
    assert_eq!(violations[1]["denied"], "write");
    let outside = l.base.join("outside");
    for (flags, script, grant) in [
        (
            &[][..],
            format!("echo x > {}/x", outside.display()),
            format!("--escalate writable={} would allow it", outside.display()),
        ),
        (
            &["--sandbox", "read-only"][..],
            "echo x > src/x".to_string(),
            format!(
                "--escalate writable={} would allow it",
                l.at("src").display()
            ),
        ),
    ] {
        let stderr =
            run(&[flags, &["--engine", "native", "--", "sh", "-c", &script]].concat()).stderr();
        assert!(
            stderr.contains("cordon: sandbox refused a write") && stderr.contains(&grant),
            "{script}: {stderr}"
        );
    }
    std::fs::remove_file(&audit).unwrap();
    run(&["--", "sh", "-c", "cat a.txt | cat"]).expect_code(0);
    let lines = audit_lines(&audit);
    for kind in ["request", "run"] {
        assert_eq!(events(&lines, kind)[0]["engine"], "shell", "{lines:?}");
    }
}
