//! The broker against bash: generated shell lines run by bash with PATH
//! set to a directory of logging stubs, and judged by the broker with a
//! rule forbidding every stub. A line the broker judges runnable must make
//! bash run no stub at all: had the broker seen a stub's argv, the forbid
//! rule would have refused the line.
//!
//! The corpus (tests/corpus/shell-lines.txt) is replayed always, then
//! `CORDON_DIFF_LINES` (default 200) fresh lines from `CORDON_DIFF_SEED`
//! (default 1). `CORDON_DIFF_REPORT=FILE` writes every counterexample as
//! a JSON line. Regenerate the corpus with
//! `cargo test -p cordon --test shell_differential -- --ignored write_corpus`.
#![cfg(target_os = "linux")]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use cordon::broker::rules::Rules;
use cordon::broker::{ShellContext, Verdict, judge};
use cordon::request::{ApprovalPolicy, Request};
use cordon::shell::Env;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Programs replaced by logging stubs; the broker forbids each.
const STUBS: &[&str] = &[
    "touch", "rm", "curl", "git", "python3", "wget", "stuba", "stubb",
];

/// Real programs put next to the stubs, so that wrappers and nested shells
/// run (and look stubs up on the same PATH).
const REAL: &[&str] = &[
    "bash", "sh", "env", "xargs", "nice", "timeout", "cat", "echo", "printf", "find", "nohup",
    "true", "stdbuf", "ln", "chmod", "mkdir", "sleep", "taskset", "cp", "setarch", "logsave",
];

/// How long a line may run, background jobs included.
const LINE_TIMEOUT: Duration = Duration::from_secs(2);

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/corpus/shell-lines.txt"
);
const CORPUS_SEED: u64 = 20_260_501;
const CORPUS_LINES: usize = 2_000;

/// Lines written by hand, first in the corpus: one for each way the broker
/// was found to misjudge a line, so each stays fixed.
const HAND_WRITTEN: &[&str] = &[
    ": <<E\nE\\\n\ntouch y\nE",
    "cat <<EOF\nx\nEO\\\nF\ntouch y\nEOF",
    "cat <<'E\\OF'\nE\\OF\ntouch y\nEOF",
    "cat <<\"E\\OF\"\nE\\OF\ntouch y\nEOF",
    "cat <<$'EOF'\nEOF\ntouch y\n$EOF",
    "echo <(true)#;touch y",
    "a=(x)#;touch y",
    "echo \"`echo \\\"'\\\"; touch y; echo \\\"'\\\"`\"",
    "cat <<\\$'\\'; touch y #'\n$\\\n$'; touch y #",
    "! \"git\" -ߛx d/ev",
    "x='b[$(touch)]'; : {a[x]}>/dev/null",
    "RANDOM='a[$(touch)]'",
    "for OPTIND in 'a[$(touch)]'; do :; done",
    "setarch x86_64 touch x",
    "logsave /dev/null touch x",
    "echo 'touch x' > x; bash -kc 'bash -c : BASH_ENV=./x'",
    "x=1; /proc/self/exe -c 'touch x'",
    "find \"$PATH/touch\" -exec {} x \\;",
    "echo 'touch x' | xargs -I{} nice sh -c {}",
    ": > touch; [z-at]ouch x; x=1",
    "time -- touch x",
    "sh -c \"x=1; echo \\$'\\\\'; touch x; echo \\\\'' #'\"",
    "cp \"$PATH/touch\" xyz; env -i bash -c 'xyz x'",
    "echo ${a[$(touch)]}",
    "x='b[$(touch)]'; echo ${a[x]}",
    "cat <<EOF\n$\\\n(touch)\nEOF",
    "echo `echo \"\\$(touch)\"`",
    "echo $(true)$(touch)",
    "x=1; {\"touch\",x}",
    "BASH_CMDS[t]=\"$PATH/touch\"; t x",
    "PS4[0]='$(touch)'; set -x; :",
    "x=1; printf -v\"a[\\$(touch)]\" %s x",
    "f=i; declare -$f x; x='a[$(touch)]'",
    "o=C; mapfile -c 1 -$o touch a <<< x",
    "jobs -xr touch x",
    "hash -rp \"$PATH/touch\" h; h x",
    "printf 'touch x\\n' > x; set -k; bash -c : BASH_ENV=./x",
    "command touch x -- -v",
    "env -u -Secho touch x",
    "env -S'\"touch\" x'",
    "T=touch env -S'${T} x'",
    "find . -maxdepth 0 -exec env -u + touch x \\;",
    "taskset 1 touch x",
    "ln -s \"$PATH/touch\" t && ./t x",
    "printf '#!/bin/sh\\ntouch x\\n' > s; chmod +x s; ./s",
    "mkdir d && printf '#!/bin/sh\\ntouch x\\n' > d/ls && chmod +x d/ls && cd d && ./ls",
    "x=$'\\x74ouch'; $x y",
    "$'\\x74ouch' y",
    "echo $$; ./$$",
    "stuba 'a b'",
    "echo hi | cat",
    "declare -i i; i='a[$(touch)]'",
    "hash -p \"$PATH/stubb\" h; h x",
    ": > wget; wge? x",
    "PS4='$(git)'; set -x; :",
    "B=git bash -c '$B x'",
    "export B=stubb; sh -c '$B x'",
    "env B=touch bash -c '\"$B\" x'",
    "HOME=\"$PATH/rm\" sh -c '~ x'",
    "shopt -s expand_aliases\nBASH_ALIASES[a]='touch x'\na x",
    "mapfile -C 'curl' -c 1 < <(echo x)",
    "let 'a[$(wget)]=1'",
    "printf -v 'a[$(wget)]' %s x",
    "test -v 'a[$(touch)]'",
    "[[ 'a[$(git)]' -eq 0 ]]",
    "printf %d 'a[$(touch)]'",
    "env - touch x",
    "for f in *.none; do wc -l \"$f\"; done",
    "cat <<EOF > note.txt\nhello $HOME\nEOF",
    "a[$(touch)]=1 echo",
    "read 'a[$(touch)]' <<< 1",
    "PS4='$(touch)' bash -xc :",
    "SHELLOPTS=xtrace PS4='$(touch)' bash -c :",
    "BASH_ENV=<(echo touch) bash -c :",
    "ENV=<(echo touch) sh -ic :",
    "echo touch | xargs -I{} {} x",
    "echo wget | xargs -I{} {} x | [[ \"\" ]] 2>/dev/null",
    "sh -c 'alias a=touch\na x'",
    "x='$(touch)'; echo \"${x@P}\"",
    "trap touch EXIT",
    "complete -C touch x",
    "unset 'a[$(touch)]'",
    "x='a[$(touch)]'; echo $(( x ))",
];

/// Constructs the corpus must hold, each by a piece of text that shows it.
const CONSTRUCTS: &[(&str, &str)] = &[
    ("single quotes", "'"),
    ("double quotes", "\""),
    ("ANSI-C quotes", "$'"),
    ("backslash escape", "\\"),
    ("parameter expansion", "${V:-"),
    ("command substitution", "$("),
    ("backquotes", "`"),
    ("input process substitution", "<("),
    ("output process substitution", ">("),
    ("brace group", "{ "),
    ("subshell", "( "),
    ("if", "if "),
    ("while", "while "),
    ("until", "until "),
    ("for", "for v in"),
    ("case", "case "),
    ("[[ ]]", "[[ "),
    ("function", "() {"),
    ("function keyword", "function "),
    ("redirection", "> out"),
    ("redirection of a compound", "} > out"),
    ("here-document", "<<"),
    ("here-string", "<<< "),
    ("alias", "alias "),
    ("expand_aliases", "shopt -s expand_aliases"),
    ("eval", "eval "),
    ("source", "source "),
    ("pipeline", " | "),
    ("and", " && "),
    ("or", " || "),
    ("background", " & "),
    ("env", "env "),
    ("nice", "nice "),
    ("timeout", "timeout "),
    ("xargs", "xargs "),
    ("command", "command "),
    ("exec", "exec "),
    ("builtin", "builtin "),
    ("bash -c", "bash -c"),
    ("sh -c", "sh -c"),
    ("a line fed to sh", "| sh"),
    ("a line fed to bash", "| bash"),
];

/// A counterexample: bash ran stubs for a line the broker let run.
struct Failure {
    line: String,
    verdict: Verdict,
    ran: Vec<Vec<String>>,
}

/// What checking a set of lines found.
#[derive(Default)]
struct Tally {
    failures: Vec<(usize, Failure)>,
    /// Lines for which bash ran a stub.
    ran_stubs: usize,
    /// Lines the broker judged runnable.
    judged_run: usize,
    timed_out: usize,
}

/// A directory of stubs logging into a directory of their own, and the
/// broker's rules and context to match. One per worker thread.
struct Lab {
    dir: tempfile::TempDir,
    rules: Rules,
    bash: PathBuf,
}

impl Lab {
    fn new(bash: &Path) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let (stubs, logs) = (dir.path().join("stubs"), dir.path().join("logs"));
        std::fs::create_dir(&stubs).unwrap();
        std::fs::create_dir(&logs).unwrap();
        let mut toml = String::new();
        for name in STUBS {
            // The log's path is in the script: `env -i` or `unset` cannot
            // lose it. One file per process, named by its pid.
            let script = format!(
                "#!/bin/sh\nprintf '%s\\0' {name} \"$@\" >> '{}'/$$\n",
                logs.display()
            );
            let path = stubs.join(name);
            std::fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            toml += &format!("[[rule]]\nprefix = [\"{name}\"]\ndecision = \"forbid\"\n");
        }
        for name in REAL {
            if let Some(real) = on_path(name) {
                std::os::unix::fs::symlink(real, stubs.join(name)).unwrap();
            }
        }
        let rules_file = dir.path().join("rules.toml");
        std::fs::write(&rules_file, toml).unwrap();
        let mut rules = Rules::default();
        rules.load(&rules_file).unwrap();
        Lab {
            dir,
            rules,
            bash: bash.to_path_buf(),
        }
    }

    /// The environment bash starts with, and the broker reads `$NAME` from.
    fn env(&self, root: &Path) -> Vec<(String, String)> {
        let root = root.display().to_string();
        let stubs = self.dir.path().join("stubs").display().to_string();
        [
            ("PATH", stubs.as_str()),
            ("HOME", &root),
            ("PWD", &root),
            ("T", "touch"),
            ("B", "true"),
            // bash's bound on calls within calls: no line recurses forever.
            ("FUNCNEST", "50"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into()
    }

    /// Judges `line`, then runs it, in a fresh root each.
    fn check(&self, line: &str, tally: &mut Tally, index: usize) {
        let root = tempfile::tempdir_in(self.dir.path()).unwrap();
        let root = root.path().canonicalize().unwrap();
        let env = self.env(&root);
        // Judged before bash runs: globs see the root the line starts with.
        let verdicts = [ApprovalPolicy::OnRequest, ApprovalPolicy::Never].map(|policy| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.judge(line, &root, &env, policy)
            }))
            .unwrap_or_else(|_| Verdict::Refused("the broker panicked".into()))
        });
        let (ran, timed_out) = self.bash(line, &root, &env);
        std::fs::remove_dir_all(&root).unwrap();
        tally.ran_stubs += usize::from(!ran.is_empty());
        tally.timed_out += usize::from(timed_out);
        if timed_out {
            eprintln!("shell_differential: timed out: {line:?}");
        }
        let run = verdicts.iter().find(|v| matches!(v, Verdict::Run { .. }));
        tally.judged_run += usize::from(run.is_some());
        if let Some(verdict) = run.filter(|_| !ran.is_empty()) {
            let failure = Failure {
                line: line.to_string(),
                verdict: verdict.clone(),
                ran,
            };
            tally.failures.push((index, failure));
        }
    }

    fn judge(
        &self,
        line: &str,
        root: &Path,
        env: &[(String, String)],
        policy: ApprovalPolicy,
    ) -> Verdict {
        let request = Request {
            argv: vec!["bash".into(), "-c".into(), line.into()],
            cwd: root.to_path_buf(),
            engine: "native",
            sandbox: "workspace-write",
            escalation: None,
            justification: None,
            program_sha256: None,
            env: Vec::new(),
        };
        let context = ShellContext {
            env: Env::new(env.to_vec()),
            root: root.to_path_buf(),
            own_places: vec![root.to_path_buf(), std::env::temp_dir()],
        };
        judge(&self.rules, policy, &request, Some(&context))
    }

    /// Runs `line` with `bash -c` and waits for every process it started
    /// (background jobs too); returns the stubs' argvs and whether the
    /// line had to be killed.
    fn bash(&self, line: &str, root: &Path, env: &[(String, String)]) -> (Vec<Vec<String>>, bool) {
        use std::os::unix::process::CommandExt;
        become_subreaper();
        // Every process of the line inherits the write end of this pipe:
        // the read end sees EOF once the last of them has exited, whatever
        // process group it moved to (`timeout` makes its own).
        let (alive, held) = pipe();
        let held_fd = held.as_raw_fd();
        let mut command = Command::new(&self.bash);
        command
            .arg("-c")
            .arg(line)
            .current_dir(root)
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid and dup2 are async-signal-safe.
        unsafe {
            command.pre_exec(move || {
                // A session of its own, without a terminal for `sh -i` to
                // take; and the pipe's end, open across exec.
                if libc::setsid() == -1 || libc::dup2(held_fd, HELD_FD) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        #[expect(
            clippy::zombie_processes,
            reason = "wait_for_line reaps the line's whole session, this child included"
        )]
        let child = command.spawn().unwrap();
        drop(held);
        let timed_out = wait_for_line(&alive, child.id() as i32);
        let logs = self.dir.path().join("logs");
        let mut ran = Vec::new();
        for entry in std::fs::read_dir(&logs).unwrap() {
            let path = entry.unwrap().path();
            let record = std::fs::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            let text = String::from_utf8_lossy(&record);
            let argv = text.strip_suffix('\0').unwrap_or(&text);
            ran.push(argv.split('\0').map(str::to_string).collect());
        }
        ran.sort();
        (ran, timed_out)
    }
}

/// Orphans of a line (a background job outliving bash) become this
/// process's children, so they can be waited for by process group.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain prctl.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
            0
        );
    });
}

/// Where the processes of a line hold the pipe [`wait_for_line`] reads.
const HELD_FD: i32 = 99;

/// A pipe, both ends closed on exec: (read, write).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: fills `fds` with two new descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are new and owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Waits until no process of the line holds `alive`'s other end, killing
/// the line's session after [`LINE_TIMEOUT`]; reaps what exited. Returns
/// whether it had to kill.
fn wait_for_line(alive: &OwnedFd, session: i32) -> bool {
    let deadline = Instant::now() + LINE_TIMEOUT;
    let mut killed = false;
    loop {
        let mut poll = libc::pollfd {
            fd: alive.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, valid for the call.
        if unsafe { libc::poll(&mut poll, 1, 50) } > 0 {
            break; // nobody writes: only EOF (POLLHUP) wakes it
        }
        if Instant::now() >= deadline {
            kill_session(session);
            killed = true;
        }
    }
    // The line's processes are this process's children or orphans it
    // adopted; no caller here waits for a child itself.
    // SAFETY: reaps exited children, never blocks.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    killed
}

/// Kills every process of `session`, by its entry in /proc.
fn kill_session(session: i32) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command's name: state, ppid, pgrp, session.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if fields.get(3) == Some(&session.to_string().as_str()) {
            // SAFETY: a process of the line's own session.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// `name` on this process's PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// bash, or `None` when it is missing outside CI (under CI=true a missing
/// bash fails the test, as a skip does in tests/e2e).
fn bash_or_skip() -> Option<PathBuf> {
    let bash = on_path("bash");
    if bash.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "no bash: the differential test cannot run under CI=true"
        );
        eprintln!("shell_differential: skipped, no bash");
    }
    bash
}

/// Checks `lines` on one worker per core.
fn check_all(bash: &Path, lines: &[String]) -> Tally {
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Tally::default());
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let lab = Lab::new(bash);
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(line) = lines.get(i) else { break };
                    lab.check(line, &mut tally, i);
                }
                let mut total = total.lock().unwrap();
                total.failures.append(&mut tally.failures);
                total.ran_stubs += tally.ran_stubs;
                total.judged_run += tally.judged_run;
                total.timed_out += tally.timed_out;
            });
        }
    });
    let mut tally = total.into_inner().unwrap();
    tally.failures.sort_by_key(|(i, _)| *i);
    tally
}

fn read_corpus() -> Vec<String> {
    let text = std::fs::read_to_string(CORPUS).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
    })
}

#[test]
fn the_broker_lets_no_line_run_that_runs_a_stub() {
    let Some(bash) = bash_or_skip() else { return };
    let seed = env_number("CORDON_DIFF_SEED", 1);
    let count = env_number("CORDON_DIFF_LINES", 200) as usize;
    let mut lines = read_corpus();
    let mut generator = Generator::new(seed);
    lines.extend((0..count).map(|_| generator.line()));
    let started = Instant::now();
    let tally = check_all(&bash, &lines);
    eprintln!(
        "shell_differential: {} lines (seed {seed}, {count} fresh) in {:.1?}: bash ran stubs \
         for {}, the broker let {} run, {} timed out, {} counterexamples",
        lines.len(),
        started.elapsed(),
        tally.ran_stubs,
        tally.judged_run,
        tally.timed_out,
        tally.failures.len()
    );
    if let Ok(path) = std::env::var("CORDON_DIFF_REPORT") {
        let report: String = tally
            .failures
            .iter()
            .map(|(_, f)| {
                let entry = serde_json::json!({
                    "line": f.line,
                    "verdict": format!("{:?}", f.verdict),
                    "ran": f.ran,
                });
                format!("{entry}\n")
            })
            .collect();
        std::fs::write(path, report).unwrap();
    }
    // The harness itself works: stubs log, and the broker lets lines run.
    assert!(tally.ran_stubs > 0, "no stub logged a run");
    assert!(tally.judged_run > 0, "the broker let no line run");
    let shown: Vec<String> = tally
        .failures
        .iter()
        .take(10)
        .map(|(_, f)| {
            format!(
                "  {:?}\n    judged {:?}\n    bash ran {:?}",
                f.line, f.verdict, f.ran
            )
        })
        .collect();
    assert!(
        tally.failures.is_empty(),
        "{} lines ran stubs the broker did not judge (first {}):\n{}",
        tally.failures.len(),
        shown.len(),
        shown.join("\n")
    );
}

/// The harness sees what bash runs, background jobs included, and the
/// broker refuses a stub it sees.
#[test]
fn the_harness_sees_every_stub_bash_runs() {
    let Some(bash) = bash_or_skip() else { return };
    let lab = Lab::new(&bash);
    let root = tempfile::tempdir_in(lab.dir.path()).unwrap();
    let env = lab.env(root.path());
    let argv = |words: &[&str]| words.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    let (ran, _) = lab.bash("stuba 'a b' & env stubb", root.path(), &env);
    assert_eq!(ran, [argv(&["stuba", "a b"]), argv(&["stubb"])]);
    assert_eq!(
        lab.bash("echo hi | cat", root.path(), &env).0,
        [] as [Vec<String>; 0]
    );
    let verdict = lab.judge("stuba x", root.path(), &env, ApprovalPolicy::OnRequest);
    assert!(matches!(verdict, Verdict::Refused(_)), "{verdict:?}");
    let verdict = lab.judge("echo hi", root.path(), &env, ApprovalPolicy::OnRequest);
    assert!(matches!(verdict, Verdict::Run { .. }), "{verdict:?}");
}

#[test]
fn the_corpus_holds_every_construct() {
    let corpus = read_corpus();
    assert!(corpus.len() >= CORPUS_LINES, "{} lines", corpus.len());
    for (what, text) in CONSTRUCTS {
        assert!(
            corpus.iter().any(|line| line.contains(text)),
            "no {what} ({text:?}) in {CORPUS}"
        );
    }
    for line in HAND_WRITTEN {
        assert!(corpus.iter().any(|l| l == line), "{line:?} not in {CORPUS}");
    }
}

#[test]
#[ignore = "rewrites tests/corpus/shell-lines.txt"]
fn write_corpus() {
    let mut generator = Generator::new(CORPUS_SEED);
    let mut text = format!(
        "# Shell lines the differential test (host/tests/shell_differential.rs) replays:\n\
         # the hand-written ones, then {CORPUS_LINES} generated from seed {CORPUS_SEED}.\n\
         # One JSON string per line.\n"
    );
    let generated = (0..CORPUS_LINES).map(|_| generator.line());
    for line in HAND_WRITTEN.iter().map(|l| l.to_string()).chain(generated) {
        text += &serde_json::to_string(&line).unwrap();
        text.push('\n');
    }
    std::fs::create_dir_all(Path::new(CORPUS).parent().unwrap()).unwrap();
    std::fs::write(CORPUS, text).unwrap();
}

/// How deep commands nest inside commands.
const MAX_DEPTH: usize = 3;

/// Arguments that expand to nothing surprising.
const WORDS: &[&str] = &[
    "x",
    "'a b'",
    "-f",
    "\"$HOME\"",
    "$B",
    "--",
    "y.txt",
    "*.none",
    "\"\"",
];

/// Builtins a generated function may override.
const OVERRIDABLE: &[&str] = &["echo", "true", "cd"];

/// A seeded generator of shell lines. Lines meant for `sh` (dash) keep to
/// POSIX syntax, so that they run rather than fail to parse.
struct Generator {
    rng: StdRng,
    depth: usize,
    posix: bool,
    /// Here-document delimiters used so far in the line.
    delimiters: usize,
    /// Functions named so far in the line.
    functions: usize,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            depth: 0,
            posix: false,
            delimiters: 0,
            functions: 0,
        }
    }

    fn line(&mut self) -> String {
        self.delimiters = 0;
        self.functions = 0;
        let mut line = self.list();
        if self.chance(0.05) {
            // A here-document not wrapped in braces, ending the line.
            line.push('\n');
            line += &self.here_doc();
        }
        line
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `produce` one level deeper, for a shell of the `posix` grammar.
    fn nested(&mut self, posix: bool, produce: impl FnOnce(&mut Self) -> String) -> String {
        let saved = self.posix;
        self.posix = posix;
        self.depth += 1;
        let text = produce(self);
        self.depth -= 1;
        self.posix = saved;
        text
    }

    /// Commands for the shell reading this level.
    fn body(&mut self) -> String {
        self.nested(self.posix, Self::list)
    }

    /// A shell's name, and whether its grammar is POSIX.
    fn shell(&mut self) -> (&'static str, bool) {
        if self.chance(0.5) {
            ("sh", true)
        } else {
            ("bash", false)
        }
    }

    fn list(&mut self) -> String {
        // Short lists: one misread command among many seen stubs would
        // be refused anyway.
        let length = if self.chance(if self.depth == 0 { 0.4 } else { 0.15 }) {
            2
        } else {
            1
        };
        let mut text = self.pipeline();
        for _ in 1..length {
            text += self.pick(&["; ", " && ", " || ", " & ", "\n"]);
            text += &self.pipeline();
        }
        text
    }

    fn pipeline(&mut self) -> String {
        let mut text = String::new();
        if self.chance(0.1) {
            text += "! ";
        }
        text += &self.command();
        if self.chance(0.2) {
            text += " | ";
            text += &self.command();
        }
        text
    }

    fn command(&mut self) -> String {
        if self.depth >= MAX_DEPTH {
            return self.simple();
        }
        match self.below(12) {
            0..=2 => self.simple(),
            3 | 4 => self.compound(),
            5 => self.function(),
            6 => self.wrapped(),
            7 => self.nested_shell(),
            8 => self.evaluated(),
            9 => self.variable(),
            10 => format!("{{ {}\n}}", self.here_doc()),
            _ => self.trick(),
        }
    }

    fn stub(&mut self) -> &'static str {
        self.pick(STUBS)
    }

    /// A stub's name, spelled one of the ways the shell reads as that name.
    fn name(&mut self, name: &str) -> String {
        let mid = name.len() / 2;
        let (head, tail) = name.split_at(1);
        let (left, right) = name.split_at(mid);
        let forms = if self.posix { 14 } else { 19 };
        match self.below(forms) {
            0 => name.to_string(),
            1 => format!("'{left}''{right}'"),
            2 => format!("\"{name}\""),
            3 => format!("\\{name}"),
            4 => format!("'{left}'\"{right}\""),
            5 => format!(
                "{head}\"{}\"{}",
                &tail[..tail.len() - 1],
                &name[name.len() - 1..]
            ),
            6 => format!("${{V:-{name}}}"),
            7 => format!("${{V-{name}}}"),
            8 => format!("\"${{V:-{name}}}\""),
            9 => format!("$(echo {name})"),
            10 => format!("`echo {name}`"),
            11 => format!("$(printf %s {name})"),
            12 => format!("\"$(echo {name})\""),
            13 => format!("{left}\\\n{right}"),
            14 => format!("$'\\x{:02x}{tail}'", head.as_bytes()[0]),
            15 => format!("$'\\{:03o}'{tail}", head.as_bytes()[0]),
            16 => format!("{{{name},}}"),
            17 => format!("{head}$'{tail}'"),
            _ if name == "touch" => "$T".into(),
            _ => format!("${{T:+}}{name}"),
        }
    }

    /// A stub run with at most one plain argument.
    fn stub_command(&mut self) -> String {
        let stub = self.stub();
        let name = self.name(stub);
        if self.chance(0.5) {
            format!("{name} {}", self.pick(WORDS))
        } else {
            name
        }
    }

    fn simple(&mut self) -> String {
        let mut text = String::new();
        if self.chance(0.1) {
            text += "A=1 ";
        }
        if self.chance(0.5) {
            let stub = self.stub();
            text += &self.name(stub);
        } else {
            text += self.pick(&["echo", "printf %s", "true", ":", "test -n"]);
        }
        for _ in 0..self.below(3) {
            text.push(' ');
            text += &self.argument();
        }
        if self.chance(0.15) {
            text.push(' ');
            text += &self.redirect();
        }
        text
    }

    fn argument(&mut self) -> String {
        if self.depth >= MAX_DEPTH || self.chance(0.6) {
            return self.pick(WORDS).to_string();
        }
        let forms = if self.posix { 5 } else { 7 };
        match self.below(forms) {
            0 => format!("$({})", self.body()),
            1 => format!("\"$({})\"", self.body()),
            2 => {
                let command = self.nested(self.posix, Self::stub_command);
                // Backquotes inside backquotes need escapes: not here.
                format!("`{}`", command.replace('`', ""))
            }
            3 => format!("${{V:-$({})}}", self.body()),
            4 => "$((1 + 2))".into(),
            5 => format!("<({})", self.body()),
            _ => format!(">({})", self.body()),
        }
    }

    fn redirect(&mut self) -> String {
        let forms = if self.posix { 7 } else { 10 };
        match self.below(forms) {
            0 => "> out".into(),
            1 => "2>/dev/null".into(),
            2 => ">> out".into(),
            3 => "< /dev/null".into(),
            4 => "2>&1".into(),
            5 => "> \"$(echo out)\"".into(),
            6 => format!("> \"$({})\"", self.body()),
            7 => format!("> >({})", self.body()),
            8 => format!("< <({})", self.body()),
            _ => "&> out".into(),
        }
    }

    fn compound(&mut self) -> String {
        let forms = if self.posix { 9 } else { 13 };
        let text = match self.below(forms) {
            0 => format!("{{ {}; }}", self.body()),
            1 => format!("( {} )", self.body()),
            2 => format!("if {}; then {}; fi", self.body(), self.body()),
            3 => format!(
                "if {}; then {}; else {}; fi",
                self.body(),
                self.body(),
                self.body()
            ),
            4 => format!("while {}; do {}; break; done", self.body(), self.body()),
            5 => format!("until {}; do {}; break; done", self.body(), self.body()),
            6 => format!(
                "for v in {} {}; do {}; done",
                self.argument(),
                self.argument(),
                self.body()
            ),
            7 => format!(
                "case {} in x) {};; *) {};; esac",
                self.argument(),
                self.body(),
                self.body()
            ),
            8 => format!("case x in $({})) {};; esac", self.body(), self.body()),
            9 => format!("[[ {} ]]", self.argument()),
            10 => format!(
                "[[ -n {} && {} == {} ]]",
                self.argument(),
                self.argument(),
                self.argument()
            ),
            11 => format!("for ((i = 0; i < 1; i++)); do {}; done", self.body()),
            _ => format!("(( {} ))", self.argument()),
        };
        if self.chance(0.2) {
            format!("{text} {}", self.redirect())
        } else {
            text
        }
    }

    fn function(&mut self) -> String {
        let body = self.body();
        // A function that calls itself, or another that calls it back,
        // never ends (in a subshell body: forks without end). A builtin
        // is overridden only by a body that calls no overridable builtin.
        let name = match self.pick(&["f", "echo", "true", "cd"]) {
            "f" => self.function_name(),
            _ if OVERRIDABLE.iter().any(|b| body.contains(b)) => self.function_name(),
            builtin => builtin.to_string(),
        };
        let forms = if self.posix { 2 } else { 4 };
        let definition = match self.below(forms) {
            0 => format!("{name}() {{ {body}; }}"),
            1 => format!("{name}() ( {body} )"),
            2 => format!("function {name} {{ {body}; }}"),
            _ => format!("function {name}() {{ {body}; }} > out"),
        };
        if self.chance(0.8) {
            format!("{definition}; {name} {}", self.argument())
        } else {
            definition
        }
    }

    /// A name no other function of the line has.
    fn function_name(&mut self) -> String {
        self.functions += 1;
        format!("f{}", self.functions)
    }

    fn wrapped(&mut self) -> String {
        let inner = if self.chance(0.5) {
            self.nested(self.posix, Self::stub_command)
        } else {
            self.nested(self.posix, Self::simple)
        };
        let stub = self.stub();
        let forms = if self.posix { 15 } else { 17 };
        match self.below(forms) {
            0 => format!("env {inner}"),
            1 => format!("env A=1 {inner}"),
            2 => format!("env -u B {inner}"),
            3 => format!("nice -n 1 {inner}"),
            4 => format!("timeout 5 {inner}"),
            5 => format!("command {inner}"),
            6 => format!("(exec {inner})"),
            7 => format!("exec {inner}"),
            8 => format!("echo x | xargs {inner}"),
            9 => format!("xargs -n 1 {inner} < /dev/null"),
            10 => format!("nohup {inner}"),
            11 => format!("find . -maxdepth 0 -exec {inner} {{}} \\;"),
            12 => format!("stdbuf -o0 {inner}"),
            13 => format!("echo {stub} | xargs -I{{}} {{}} x"),
            14 => format!("echo {stub} | xargs -I{{}} sh -c '{{}} x'"),
            15 => format!("builtin command {inner}"),
            _ => format!("builtin eval {}", single(&inner)),
        }
    }

    fn nested_shell(&mut self) -> String {
        let (shell, posix) = self.shell();
        let script = self.nested(posix, Self::list);
        let forms = if self.posix { 12 } else { 16 };
        match self.below(forms) {
            0 | 1 => format!("{shell} -c {}", single(&script)),
            2 => format!("{shell} -c {}", double(&script)),
            3 => format!("{shell} -c {} _ x", single(&script)),
            4 => format!("{shell} -ec {}", single(&script)),
            5 => format!("{shell} -o errexit -c {}", single(&script)),
            6 => format!("printf '%s\\n' {} | {shell}", single(&script)),
            7 => format!("echo {} | {shell}", single(&script)),
            8 => {
                let delimiter = self.delimiter();
                format!("{{ {shell} <<'{delimiter}'\n{script}\n{delimiter}\n}}")
            }
            9 => format!("{shell} -c \"$(printf '%s' {})\"", single(&script)),
            10 => format!("timeout 5 {shell} -c {}", single(&script)),
            11 => format!("env {shell} -c {}", single(&script)),
            12 => format!("{shell} -c {}", ansi(&script)),
            13 => format!("{shell} <<< {}", single(&script)),
            14 => format!("{shell} -s < <(printf '%s\\n' {})", single(&script)),
            _ => format!("\"$BASH\" -c {}", single(&script)),
        }
    }

    /// `eval`, aliases and `source`: text the shell reads as it runs.
    fn evaluated(&mut self) -> String {
        let script = self.body();
        let alias = single(&self.nested(self.posix, Self::stub_command));
        let forms = if self.posix { 7 } else { 13 };
        match self.below(forms) {
            0 => format!("eval {}", single(&script)),
            1 => format!("eval {}", double(&script)),
            2 => format!("eval \"$(printf '%s' {})\"", single(&script)),
            3 => format!("alias a={alias}; a x"),
            4 => format!("alias a={alias}\na x"),
            5 => format!("alias a={alias}\neval 'a x'"),
            6 => format!("printf '%s\\n' {} > s; . ./s", single(&script)),
            7 => format!("shopt -s expand_aliases\nalias a={alias}\na x"),
            8 => format!("shopt -s expand_aliases; alias a={alias}; a x"),
            9 => format!("shopt -s expand_aliases\nalias w='env ' a={alias}\nw a x"),
            10 => format!("shopt -s expand_aliases\nBASH_ALIASES[a]={alias}\na x"),
            11 => format!("shopt -s expand_aliases\nalias a={alias}\nf() {{ a x; }}; f"),
            _ => format!("source <(printf '%s\\n' {})", single(&script)),
        }
    }

    /// A stub's name carried by a variable, a parameter or an array.
    fn variable(&mut self) -> String {
        let stub = self.stub();
        let (shell, _) = self.shell();
        let forms = if self.posix { 14 } else { 22 };
        match self.below(forms) {
            0 => format!("v={stub}; $v x"),
            1 => format!("v={stub}\n$v x"),
            2 => format!("B={stub}; $B x"),
            3 => format!("export B={stub}; {shell} -c '$B x'"),
            4 => format!("B={stub} {shell} -c '$B x'"),
            5 => format!("env B={stub} {shell} -c '\"$B\" x'"),
            6 => format!("set -- {stub} x; \"$@\""),
            7 => format!("set {stub}; $1 x"),
            8 => format!("f() {{ \"$@\"; }}; f {stub} x"),
            9 => format!("for v in {stub}; do $v x; done"),
            10 => format!(": {stub}; $_ x"),
            11 => format!("{shell} -c '$0 x' {stub}"),
            12 => format!("IFS=,; v={stub},x; $v"),
            13 => format!("HOME=\"$PATH/{stub}\" {shell} -c '~ x'"),
            14 => format!("read v < <(echo {stub}); $v x"),
            15 => format!("printf -v v %s {stub}; $v x"),
            16 => format!("a=({stub} x); \"${{a[@]}}\""),
            17 => format!("T={stub}; r=T; ${{!r}} x"),
            18 => format!("declare -n r=v; v={stub}; $r x"),
            19 => format!("mapfile -t a < <(echo {stub}); \"${{a[@]}}\" x"),
            20 => format!("declare v={stub}; $v x"),
            _ => format!("v={stub} eval '$v x'"),
        }
    }

    fn delimiter(&mut self) -> String {
        self.delimiters += 1;
        format!("EOF{}", self.delimiters)
    }

    /// A command reading a here-document, and the document (the line must
    /// go on after a newline).
    fn here_doc(&mut self) -> String {
        let delimiter = self.delimiter();
        let (shell, posix) = self.shell();
        let (reader, body) = match self.below(4) {
            0 => ("cat".to_string(), format!("$({})", self.body())),
            1 => {
                let command = self.nested(self.posix, Self::stub_command);
                ("cat".into(), format!("`{}`", command.replace('`', "")))
            }
            2 => (shell.to_string(), self.nested(posix, Self::list)),
            _ => (format!("{shell} -s"), self.nested(posix, Self::list)),
        };
        let quoted = if self.chance(0.5) {
            format!("'{delimiter}'")
        } else {
            delimiter.clone()
        };
        if self.posix || self.chance(0.7) {
            format!("{reader} <<{quoted}\n{body}\n{delimiter}")
        } else {
            format!("{reader} <<< {}", double(&body))
        }
    }

    /// Other ways bash runs a command: hashed paths, start-up files, the
    /// trace prompt, callbacks, arithmetic on array subscripts, globs
    /// over files the line makes, traps.
    fn trick(&mut self) -> String {
        if self.posix {
            return self.variable();
        }
        let stub = self.stub();
        let command = self.nested(false, Self::stub_command);
        let substituted = single(&format!("$({command})"));
        let subscript = single(&format!("a[$({command})]"));
        let glob = format!("{}?", &stub[..stub.len() - 1]);
        match self.below(27) {
            0 => format!("hash -p \"$PATH/{stub}\" h; h x"),
            1 => format!("BASH_ENV=<(echo {}) bash -c :", single(&command)),
            2 => format!(
                "printf '%s\\n' {} > e; BASH_ENV=e bash -c :",
                single(&command)
            ),
            3 => format!("ENV=<(echo {}) sh -ic :", single(&command)),
            4 => format!("PS4={substituted}; set -x; :"),
            5 => format!("PS4={substituted} bash -xc :"),
            6 => format!("SHELLOPTS=xtrace PS4={substituted} bash -c :"),
            7 => format!("mapfile -C {} -c 1 < <(echo x)", single(&command)),
            8 => format!("let {}", single(&format!("a[$({command})]=1"))),
            9 => format!("[[ {subscript} -eq 0 ]]"),
            10 => format!("declare -i i; i={subscript}"),
            11 => format!("printf -v {subscript} %s x"),
            12 => format!("a[$({command})]=1"),
            13 => format!("test -v {subscript}"),
            14 => format!("x={subscript}; echo $(( x ))"),
            15 => format!("x={substituted}; echo \"${{x@P}}\""),
            16 => format!(": > {stub}; {glob} x"),
            17 => format!("> {stub}; {glob} x"),
            18 => format!("trap {} EXIT", single(&command)),
            19 => format!("coproc {command}"),
            20 => format!("time {command}"),
            21 => format!("exec 3< <({command})"),
            22 => format!("x=${{V:-$({command})}}"),
            23 => format!("read {subscript} <<< 1"),
            24 => format!("unset {subscript}"),
            25 => format!("cd() {{ {command}; }}; cd ."),
            // Its body only runs a stub: anything unknown in it would call
            // it again, in a new subshell each time.
            _ => format!("command_not_found_handle() {{ {command} \"$@\"; }}; nosuch x"),
        }
    }
}

/// `text` in single quotes.
fn single(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `text` in double quotes.
fn double(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted + "\""
}

/// `text` in ANSI-C quotes.
fn ansi(text: &str) -> String {
    let mut quoted = String::from("$'");
    for c in text.chars() {
        match c {
            '\\' | '\'' => {
                quoted.push('\\');
                quoted.push(c);
            }
            '\n' => quoted += "\\n",
            '\t' => quoted += "\\t",
            _ => quoted.push(c),
        }
    }
    quoted + "'"
}
