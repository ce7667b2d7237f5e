//! Who answers the broker's questions: a person at the terminal (`tty`), a
//! program on a JSON-lines channel (`jsonl=FD|SOCKET`), a script of answers
//! (`script=FILE`, for tests), or nobody (`deny`). Whatever goes wrong on
//! the way (a closed channel, a malformed reply, answers run out) is a
//! denial, never an approval.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Request;

/// What the broker asks.
#[derive(Debug, Clone)]
pub struct Question {
    pub request: Request,
    /// Why it needs a person (a rule, the policy, an escalation).
    pub reason: String,
}

/// What the person decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Run it this once.
    Once,
    /// Run it, and anything starting with `prefix` (default: this exact
    /// command) with the same escalation, for the rest of the session.
    Session { prefix: Option<Vec<String>> },
    /// As `Session`, and from now on: an allow rule for `prefix` (or the
    /// host asked about) is written to the user's rules file.
    Always { prefix: Option<Vec<String>> },
    /// Do not run it; why, in the approver's words.
    Deny(String),
    /// Run this command instead (judged again from the start).
    Edit(Vec<String>),
    /// Stop the session.
    Abort,
}

/// Anything that can answer a [`Question`].
pub trait Approver {
    /// A short name for the audit log (`tty`, `jsonl`, `script`, `deny`).
    fn name(&self) -> &'static str;
    fn ask(&mut self, question: &Question) -> Answer;
}

/// Which approver `--approver` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproverSpec {
    Tty,
    Deny,
    Script(PathBuf),
    /// A descriptor open for reading and writing (a socket).
    JsonlFd(i32),
    /// A unix socket to connect to.
    JsonlSocket(PathBuf),
}

impl std::str::FromStr for ApproverSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            None if text == "tty" => Ok(ApproverSpec::Tty),
            None if text == "deny" => Ok(ApproverSpec::Deny),
            Some(("script", file)) if !file.is_empty() => Ok(ApproverSpec::Script(file.into())),
            Some(("jsonl", target)) if !target.is_empty() => Ok(match target.parse::<i32>() {
                Ok(fd) if fd >= 0 => ApproverSpec::JsonlFd(fd),
                _ => ApproverSpec::JsonlSocket(target.into()),
            }),
            _ => Err(format!(
                "expected tty, deny, script=FILE or jsonl=FD|SOCKET, got {text}"
            )),
        }
    }
}

/// Builds the approver `spec` names.
///
/// # Errors
///
/// A one-line reason when the script, descriptor, socket or terminal
/// cannot be opened.
/// A question unanswered for `timeout` is denied (the command, or a guest
/// waiting on a connection, waits that long at most).
pub fn open(spec: &ApproverSpec, timeout: Duration) -> Result<Box<dyn Approver + Send>, String> {
    Ok(match spec {
        ApproverSpec::Deny => Box::new(Nobody),
        ApproverSpec::Script(file) => Box::new(Script::load(file)?),
        ApproverSpec::Tty => Box::new(Terminal::open(timeout)?),
        ApproverSpec::JsonlFd(fd) => Box::new(Jsonl::from_fd(*fd, timeout)?),
        ApproverSpec::JsonlSocket(path) => Box::new(Jsonl::connect(path, timeout)?),
    })
}

/// The default: a person at the terminal when there is one, else nobody.
pub fn default_spec() -> ApproverSpec {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        ApproverSpec::Tty
    } else {
        ApproverSpec::Deny
    }
}

/// Nobody to ask: every question is denied.
pub struct Nobody;

impl Approver for Nobody {
    fn name(&self) -> &'static str {
        "deny"
    }

    fn ask(&mut self, _: &Question) -> Answer {
        Answer::Deny("no approver (the default when not interactive; see --approver)".into())
    }
}

/// Parses one answer word and its arguments (script lines, terminal input).
fn parse_answer(line: &str) -> Option<Answer> {
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let rest: Vec<String> = words.map(str::to_string).collect();
    match (first, rest.is_empty()) {
        ("once" | "y", true) => Some(Answer::Once),
        ("session" | "s", true) => Some(Answer::Session { prefix: None }),
        ("session" | "p", false) => Some(Answer::Session { prefix: Some(rest) }),
        ("always" | "r", true) => Some(Answer::Always { prefix: None }),
        ("always" | "r", false) => Some(Answer::Always { prefix: Some(rest) }),
        ("deny" | "n", _) => Some(Answer::Deny(if rest.is_empty() {
            "denied".into()
        } else {
            rest.join(" ")
        })),
        ("edit" | "e", false) => Some(Answer::Edit(rest)),
        ("abort" | "a", true) => Some(Answer::Abort),
        _ => None,
    }
}

/// Ordered answers from a file, one per line (`#` comments):
/// `once`, `session [PREFIX...]`, `always [PREFIX...]`, `deny [WHY]`,
/// `edit COMMAND...`, `abort`. When they run out, every answer is a denial.
pub struct Script {
    answers: std::vec::IntoIter<Answer>,
}

impl Script {
    pub fn load(file: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("--approver script={}: {e}", file.display()))?;
        let mut answers = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let answer = parse_answer(line).ok_or_else(|| {
                format!(
                    "{}:{}: not an answer: {line} (once, session [PREFIX...], \
                     always [PREFIX...], deny [WHY], edit COMMAND..., abort)",
                    file.display(),
                    n + 1
                )
            })?;
            answers.push(answer);
        }
        Ok(Script {
            answers: answers.into_iter(),
        })
    }
}

impl Approver for Script {
    fn name(&self) -> &'static str {
        "script"
    }

    fn ask(&mut self, _: &Question) -> Answer {
        self.answers
            .next()
            .unwrap_or_else(|| Answer::Deny("the script has no answers left".into()))
    }
}

/// A person at the controlling terminal. The command owns stdin and
/// stdout, so the prompt goes through /dev/tty; each choice is one key.
pub struct Terminal {
    tty: BufReader<File>,
    timeout: Duration,
}

impl Terminal {
    pub fn open(timeout: Duration) -> Result<Self, String> {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|e| format!("--approver tty: /dev/tty: {e}"))?;
        Ok(Terminal {
            tty: BufReader::new(tty),
            timeout,
        })
    }

    fn say(&mut self, text: &str) -> std::io::Result<()> {
        let tty = self.tty.get_mut();
        tty.write_all(text.as_bytes())?;
        tty.flush()
    }

    /// One key, without waiting for Enter (where the terminal allows).
    fn read_key(&mut self) -> Result<u8, String> {
        let _raw = RawMode::enter(self.tty.get_ref());
        self.wait()?;
        let mut key = [0u8; 1];
        match std::io::Read::read(&mut self.tty, &mut key) {
            Ok(1) => Ok(key[0]),
            _ => Err("the terminal closed".into()),
        }
    }

    /// Asks `prompt` and reads a line, as words.
    fn read_words(&mut self, prompt: &str) -> Result<Vec<String>, String> {
        self.say(prompt).map_err(|_| "the terminal went away")?;
        self.wait()?;
        let mut line = String::new();
        match self.tty.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line.split_whitespace().map(str::to_string).collect()),
            _ => Err("the terminal closed".into()),
        }
    }

    /// Drops keys typed before this question: a late answer to the last one
    /// (denied on timeout) must not answer this one.
    fn discard_typed_ahead(&mut self) {
        let pending = self.tty.buffer().len();
        self.tty.consume(pending);
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flushes the input queue of a terminal we hold open.
            unsafe { libc::tcflush(self.tty.get_ref().as_raw_fd(), libc::TCIFLUSH) };
        }
    }

    fn wait(&mut self) -> Result<(), String> {
        if self.tty.buffer().is_empty() && !readable_within(self.tty.get_ref(), self.timeout) {
            return Err(no_answer(self.timeout));
        }
        Ok(())
    }

    /// The answer for `key`, asking for the rest of it where needed;
    /// `None` for a key that means nothing.
    fn answer(&mut self, key: u8) -> Result<Option<Answer>, String> {
        let words = |this: &mut Self, prompt: &str| this.read_words(prompt);
        Ok(match key {
            b'y' => Some(Answer::Once),
            b's' => Some(Answer::Session { prefix: None }),
            b'p' => {
                let prefix = words(self, "\n  prefix for the session: ")?;
                (!prefix.is_empty()).then_some(Answer::Session {
                    prefix: Some(prefix),
                })
            }
            b'r' => {
                let prefix = words(self, "\n  prefix for the rule (Enter: this command): ")?;
                Some(Answer::Always {
                    prefix: (!prefix.is_empty()).then_some(prefix),
                })
            }
            b'n' => {
                let why = words(self, "\n  why (Enter to skip): ")?;
                Some(Answer::Deny(if why.is_empty() {
                    "denied".into()
                } else {
                    why.join(" ")
                }))
            }
            b'e' => {
                let argv = words(self, "\n  command: ")?;
                (!argv.is_empty()).then_some(Answer::Edit(argv))
            }
            b'a' => Some(Answer::Abort),
            _ => None,
        })
    }
}

impl Approver for Terminal {
    fn name(&self) -> &'static str {
        "person (tty)"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        let r = &question.request;
        // Control characters in a command could redraw the prompt.
        let shown = |text: &str| -> String {
            text.chars()
                .flat_map(|c| {
                    let escaped: Vec<char> = if c.is_control() {
                        c.escape_default().collect()
                    } else {
                        vec![c]
                    };
                    escaped
                })
                .collect()
        };
        let mut text = format!(
            "\ncordon: approval needed\n  command: {}\n  cwd:     {}\n  sandbox: {} ({})\n  why:     {}\n",
            shown(&r.argv.join(" ")),
            shown(&r.cwd.display().to_string()),
            r.sandbox,
            r.engine,
            shown(&question.reason)
        );
        if let Some(escalation) = &r.escalation {
            text.push_str(&format!("  needs:   {}\n", shown(&escalation.to_string())));
        }
        if let Some(justification) = &r.justification {
            text.push_str(&format!("  because: {}\n", shown(justification)));
        }
        text.push_str(
            "  [y] once  [s] this for the session  [p] a prefix for the session\n  \
             [r] always (write a rule)  [n] deny  [e] edit  [a] abort\n> ",
        );
        self.discard_typed_ahead();
        loop {
            if self.say(&text).is_err() {
                return Answer::Deny("the terminal went away".into());
            }
            let answer = self.read_key().and_then(|key| self.answer(key));
            match answer {
                Ok(Some(answer)) => {
                    let _ = self.say("\n");
                    return answer;
                }
                Ok(None) => text = "\n  press y, s, p, r, n, e or a\n> ".into(),
                Err(why) => return Answer::Deny(why),
            }
        }
    }
}

/// The terminal in non-canonical mode (keys arrive one by one, still
/// echoed) while alive; the settings it found are put back on drop.
struct RawMode {
    #[cfg(unix)]
    saved: Option<(i32, libc::termios)>,
}

impl RawMode {
    fn enter(tty: &File) -> RawMode {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = tty.as_raw_fd();
            // SAFETY: tcgetattr fills the termios given; a zeroed one is valid.
            let mut termios: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut termios) } != 0 {
                return RawMode { saved: None };
            }
            let saved = termios;
            termios.c_lflag &= !libc::ICANON;
            termios.c_cc[libc::VMIN] = 1;
            termios.c_cc[libc::VTIME] = 0;
            // SAFETY: sets the terminal of a descriptor we hold.
            if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) } != 0 {
                return RawMode { saved: None };
            }
            RawMode {
                saved: Some((fd, saved)),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tty;
            RawMode {}
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some((fd, saved)) = &self.saved {
            // SAFETY: restores what tcgetattr read from the same descriptor.
            unsafe { libc::tcsetattr(*fd, libc::TCSANOW, saved) };
        }
    }
}

/// Whether `file` has something to read within `timeout`.
#[cfg(unix)]
fn readable_within(file: &File, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    loop {
        // SAFETY: one pollfd, owned here.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return ready > 0;
        }
    }
}

#[cfg(not(unix))]
fn readable_within(_file: &File, _timeout: Duration) -> bool {
    true
}

fn no_answer(timeout: Duration) -> String {
    format!(
        "no answer within {}s (--approval-timeout)",
        timeout.as_secs()
    )
}

/// Version of the JSON-lines approval protocol (docs/APPROVALS.md).
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Serialize)]
struct WireQuestion<'a> {
    v: u32,
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    argv: &'a [String],
    cwd: &'a Path,
    engine: &'a str,
    sandbox: &'a str,
    reason: &'a str,
    escalation: Option<String>,
    justification: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAnswer {
    v: u32,
    id: u64,
    answer: String,
    #[serde(default)]
    prefix: Option<Vec<String>>,
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

/// A program on the other end of a socket: one JSON question per line out,
/// one JSON answer per line back.
pub struct Jsonl {
    reader: BufReader<File>,
    writer: File,
    next_id: u64,
    timeout: Duration,
}

impl Jsonl {
    pub fn from_fd(fd: i32, timeout: Duration) -> Result<Self, String> {
        #[cfg(unix)]
        {
            use std::os::fd::{BorrowedFd, OwnedFd};
            // SAFETY: the descriptor is only borrowed to duplicate it; the
            // duplicate is owned here, the caller keeps the original.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let owned: OwnedFd = borrowed
                .try_clone_to_owned()
                .map_err(|e| format!("--approver jsonl={fd}: {e}"))?;
            Self::from_file(File::from(owned), &fd.to_string(), timeout)
        }
        #[cfg(not(unix))]
        {
            let _ = timeout;
            Err(format!(
                "--approver jsonl={fd}: descriptors need a unix system"
            ))
        }
    }

    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, String> {
        #[cfg(unix)]
        {
            let stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| format!("--approver jsonl={}: {e}", path.display()))?;
            let owned = std::os::fd::OwnedFd::from(stream);
            Self::from_file(File::from(owned), &path.display().to_string(), timeout)
        }
        #[cfg(not(unix))]
        let _ = timeout;
        #[cfg(not(unix))]
        Err(format!(
            "--approver jsonl={}: needs a unix system",
            path.display()
        ))
    }

    #[cfg(unix)]
    fn from_file(file: File, what: &str, timeout: Duration) -> Result<Self, String> {
        let writer = file
            .try_clone()
            .map_err(|e| format!("--approver jsonl={what}: {e}"))?;
        // Each read waits at most the timeout, so a peer that starts a line
        // and never ends it cannot hold the broker (a socket option, shared
        // by every descriptor of the socket; not a socket: poll alone).
        if let Ok(clone) = file.try_clone() {
            let stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(clone));
            let _ = stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        }
        Ok(Jsonl {
            reader: BufReader::new(file),
            writer,
            next_id: 1,
            timeout,
        })
    }

    fn exchange(&mut self, question: &Question) -> Result<Answer, String> {
        let id = self.next_id;
        self.next_id += 1;
        let r = &question.request;
        let wire = WireQuestion {
            v: PROTOCOL_VERSION,
            id,
            kind: "question",
            argv: &r.argv,
            cwd: &r.cwd,
            engine: r.engine,
            sandbox: r.sandbox,
            reason: &question.reason,
            escalation: r.escalation.as_ref().map(ToString::to_string),
            justification: r.justification.as_deref(),
        };
        let mut line = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("writing the question: {e}"))?;
        if self.reader.buffer().is_empty() && !readable_within(self.reader.get_ref(), self.timeout)
        {
            return Err(no_answer(self.timeout));
        }
        let answer = loop {
            let mut reply = String::new();
            match self.reader.read_line(&mut reply) {
                Ok(0) => return Err("the channel closed".into()),
                Err(e) => return Err(format!("reading the answer: {e}")),
                Ok(_) => {}
            }
            let answer: WireAnswer =
                serde_json::from_str(&reply).map_err(|e| format!("malformed answer: {e}"))?;
            // A late answer to a question already denied (timed out).
            if answer.v == PROTOCOL_VERSION && answer.id < id {
                continue;
            }
            break answer;
        };
        if answer.v != PROTOCOL_VERSION || answer.id != id {
            return Err(format!(
                "answer for v{} id {} to question v{PROTOCOL_VERSION} id {id}",
                answer.v, answer.id
            ));
        }
        match (answer.answer.as_str(), answer.prefix, answer.argv) {
            ("once", None, None) => Ok(Answer::Once),
            ("session", prefix, None) if prefix.as_ref().is_none_or(|p| !p.is_empty()) => {
                Ok(Answer::Session { prefix })
            }
            ("always", prefix, None) if prefix.as_ref().is_none_or(|p| !p.is_empty()) => {
                Ok(Answer::Always { prefix })
            }
            ("deny", None, None) => Ok(Answer::Deny(
                answer.reason.unwrap_or_else(|| "denied".into()),
            )),
            ("edit", None, Some(argv)) if !argv.is_empty() => Ok(Answer::Edit(argv)),
            ("abort", None, None) => Ok(Answer::Abort),
            (other, ..) => Err(format!("malformed answer: {other:?} with these fields")),
        }
    }
}

impl Approver for Jsonl {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        self.exchange(question)
            .unwrap_or_else(|why| Answer::Deny(format!("approver channel: {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_what_is_expected() {
        assert_eq!("tty".parse(), Ok(ApproverSpec::Tty));
        assert_eq!("jsonl=3".parse(), Ok(ApproverSpec::JsonlFd(3)));
        assert_eq!(
            "jsonl=/run/a.sock".parse(),
            Ok(ApproverSpec::JsonlSocket("/run/a.sock".into()))
        );
        assert!("script=".parse::<ApproverSpec>().is_err());
        assert!(
            "yes"
                .parse::<ApproverSpec>()
                .unwrap_err()
                .contains("expected")
        );
    }

    #[test]
    fn answers_parse_from_words() {
        assert_eq!(parse_answer("once"), Some(Answer::Once));
        assert_eq!(
            parse_answer("session git push"),
            Some(Answer::Session {
                prefix: Some(vec!["git".into(), "push".into()])
            })
        );
        assert_eq!(
            parse_answer("edit ls -l"),
            Some(Answer::Edit(vec!["ls".into(), "-l".into()]))
        );
        assert_eq!(
            parse_answer("always"),
            Some(Answer::Always { prefix: None })
        );
        assert_eq!(
            parse_answer("always git"),
            Some(Answer::Always {
                prefix: Some(vec!["git".into()])
            })
        );
        assert_eq!(parse_answer("edit"), None);
        assert_eq!(parse_answer("yes please"), None);
    }
}
