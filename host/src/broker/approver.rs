//! Who answers the broker's questions: a person at the terminal (`tty`), a
//! program on a JSON-lines channel (`jsonl=FD|SOCKET`), a script of answers
//! (`script=FILE`, for tests), or nobody (`deny`). Whatever goes wrong on
//! the way (a closed channel, a malformed reply, answers run out) is a
//! denial, never an approval.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::prompt;
use crate::display;
use crate::request::Request;

/// What the broker asks.
#[derive(Debug, Clone)]
pub struct Question {
    /// The request to decide on.
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
    Session {
        /// What the grant covers; `None`: this exact command.
        prefix: Option<Vec<String>>,
    },
    /// As `Session`, and from now on: an allow rule for `prefix` (or the
    /// host asked about) is written to the user's rules file.
    Always {
        /// The prefix the rule allows; `None`: this command.
        prefix: Option<Vec<String>>,
    },
    /// Do not run it; why, in the approver's words.
    Deny(String),
    /// Run this command instead (judged again from the start).
    Edit(Vec<String>),
    /// Stop the session.
    Abort,
    /// No one has answered yet: the question waits under this token for
    /// a person ([`super::parked`]); the command is refused meanwhile.
    Pending(String),
}

impl Answer {
    /// The answer's word (`once`, `session`, ...), as a script writes it.
    pub fn word(&self) -> &'static str {
        match self {
            Answer::Once => "once",
            Answer::Session { .. } => "session",
            Answer::Always { .. } => "always",
            Answer::Deny(_) => "deny",
            Answer::Edit(_) => "edit",
            Answer::Abort => "abort",
            Answer::Pending(_) => "pending",
        }
    }
}

/// Anything that can answer a [`Question`].
pub trait Approver {
    /// A short name for the audit log (`tty`, `jsonl`, `script`, `deny`).
    fn name(&self) -> &'static str;
    /// Puts `question` and waits for the answer. Whatever goes wrong is a
    /// denial.
    fn ask(&mut self, question: &Question) -> Answer;
    /// What the channel carried since the last call that was not taken
    /// as an answer (stale, forged or malformed), for the audit log.
    fn take_discarded(&mut self) -> Vec<Discarded> {
        Vec::new()
    }
}

/// A line on an approver's channel that was not taken as an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discarded {
    /// Why not, in a few words.
    pub why: &'static str,
    /// The line's first [`DISCARDED_LINE_BYTES`] bytes (lossy UTF-8).
    pub line: String,
}

/// How much of a discarded line is kept.
pub const DISCARDED_LINE_BYTES: usize = 200;

/// How many discarded lines are kept between two `take_discarded` calls;
/// the rest are counted, so a flood cannot grow memory.
const MAX_DISCARDED: usize = 100;

/// The longest answer line read; longer ones are discarded.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Which approver `--approver` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproverSpec {
    /// A person at the terminal (`tty`).
    Tty,
    /// Nobody: every question is denied (`deny`).
    Deny,
    /// Answers read from a file (`script=FILE`).
    Script(PathBuf),
    /// A descriptor open for reading and writing (a socket).
    JsonlFd(i32),
    /// A unix socket to connect to.
    JsonlSocket(PathBuf),
    /// Nobody now: each question waits for a person to answer it out of
    /// band (`pending`, a server's; see [`super::parked`]).
    Pending,
}

impl std::str::FromStr for ApproverSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once('=') {
            None if text == "tty" => Ok(ApproverSpec::Tty),
            None if text == "deny" => Ok(ApproverSpec::Deny),
            None if text == "pending" => Ok(ApproverSpec::Pending),
            Some(("script", file)) if !file.is_empty() => Ok(ApproverSpec::Script(file.into())),
            Some(("jsonl", target)) if !target.is_empty() => Ok(match target.parse::<i32>() {
                Ok(fd) if fd >= 0 => ApproverSpec::JsonlFd(fd),
                _ => ApproverSpec::JsonlSocket(target.into()),
            }),
            _ => Err(format!(
                "expected tty, deny, pending, script=FILE or jsonl=FD|SOCKET, got {text}"
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
        ApproverSpec::Pending => {
            return Err("pending: only a session a server keeps can park a question".into());
        }
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

/// A server's default: a person at the terminal when there is one, else
/// each question waits for a person to answer it out of band (`pending`).
pub fn server_default_spec() -> ApproverSpec {
    match default_spec() {
        ApproverSpec::Deny => ApproverSpec::Pending,
        spec => spec,
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

/// Parses one answer word and its arguments (a script's lines).
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
    /// Reads the answers in `file`.
    ///
    /// # Errors
    ///
    /// A file that cannot be read, or a line that is not an answer, with its
    /// line number.
    pub fn load(file: &Path) -> Result<Self, String> {
        let text = crate::config_file::read_text(file, crate::config_file::CONFIG_LIMIT)
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
/// stdout, so the prompt goes through /dev/tty. While it is up the
/// command's output waits ([`crate::screen`]); input typed or sent before
/// it was drawn (a terminal's replies to a command's queries among it) is
/// dropped, and an answer is a letter on a line of its own, then Enter.
pub struct Terminal {
    tty: BufReader<File>,
    timeout: Duration,
}

/// How long replies to terminal queries a command sent before the
/// question may take to arrive; they are dropped after it.
const QUERY_REPLIES: Duration = Duration::from_millis(60);

impl Terminal {
    /// Opens /dev/tty. A question unanswered for `timeout` is denied.
    ///
    /// # Errors
    ///
    /// /dev/tty cannot be opened.
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

    fn say(&mut self, text: &str) -> Result<(), String> {
        let tty = self.tty.get_mut();
        tty.write_all(text.as_bytes())
            .and_then(|()| tty.flush())
            .map_err(|_| "the terminal went away".to_string())
    }

    /// One line the person typed, without its end.
    fn read_line(&mut self) -> Result<String, String> {
        if self.tty.buffer().is_empty() && !readable_within(self.tty.get_ref(), self.timeout) {
            return Err(no_answer(self.timeout));
        }
        let mut line = Vec::new();
        match self.tty.read_until(b'\n', &mut line) {
            Ok(n) if n > 0 => Ok(String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string()),
            _ => Err("the terminal closed".into()),
        }
    }

    /// Asks `prompt` and reads a line, as words.
    fn read_words(&mut self, prompt: &str) -> Result<Vec<String>, String> {
        self.say(prompt)?;
        Ok(self
            .read_line()?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    /// Drops what was typed or sent before now: a late answer to the last
    /// question, keys pressed before this one was drawn, replies to a
    /// command's terminal queries.
    fn drop_pending_input(&mut self) {
        let pending = self.tty.buffer().len();
        self.tty.consume(pending);
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flushes the input queue of a terminal we hold open.
            unsafe { libc::tcflush(self.tty.get_ref().as_raw_fd(), libc::TCIFLUSH) };
        }
    }

    /// The answer a line gives, asking for the rest of it where needed;
    /// `None` for a line that is not exactly one of the letters.
    fn answer(&mut self, line: &str) -> Result<Option<Answer>, String> {
        Ok(match line.trim() {
            "y" => Some(Answer::Once),
            "s" => Some(Answer::Session { prefix: None }),
            "p" => {
                let prefix = self.read_words("  prefix for the session: ")?;
                (!prefix.is_empty()).then_some(Answer::Session {
                    prefix: Some(prefix),
                })
            }
            "r" => {
                let prefix = self.read_words("  prefix for the rule (Enter: this command): ")?;
                Some(Answer::Always {
                    prefix: (!prefix.is_empty()).then_some(prefix),
                })
            }
            "n" => {
                let why = self.read_words("  why (Enter to skip): ")?;
                Some(Answer::Deny(if why.is_empty() {
                    "denied".into()
                } else {
                    why.join(" ")
                }))
            }
            "e" => {
                let argv = self.read_words("  command: ")?;
                (!argv.is_empty()).then_some(Answer::Edit(argv))
            }
            "a" => Some(Answer::Abort),
            _ => None,
        })
    }

    fn converse(&mut self, question: &Question) -> Result<Answer, String> {
        let _lines = LineMode::enter(self.tty.get_ref());
        self.drop_pending_input();
        let size = screen_size(self.tty.get_ref());
        let drawn = match prompt::render(question, size) {
            Ok(drawn) => drawn,
            Err(why) => {
                self.say(&format!("\ncordon: {why}; denied\n"))?;
                return Err(why);
            }
        };
        self.say(&drawn.text)?;
        std::thread::sleep(QUERY_REPLIES);
        self.drop_pending_input();
        loop {
            let line = self.read_line()?;
            if drawn.cut && line.trim() == "v" {
                self.say(&prompt::whole(question))?;
                self.say("  (press Enter to see the question again)")?;
                self.read_line()?;
                self.say(&drawn.text)?;
                continue;
            }
            if let Some(answer) = self.answer(&line)? {
                return Ok(answer);
            }
            self.say(&format!(
                "  {} is not an answer: y, s, p, r, n, e or a{}, then Enter\n{}",
                display::bounded(&display::text(&line), 20).0,
                if drawn.cut { ", v to view all" } else { "" },
                prompt::ANSWER
            ))?;
        }
    }
}

/// The terminal's size, or [`prompt::Size::DEFAULT`] if it does not say
/// (a screen too small is refused by [`prompt::render`], not guessed).
fn screen_size(tty: &File) -> prompt::Size {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: TIOCGWINSZ fills a winsize; a zeroed one is valid.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let asked = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        if asked == 0 && size.ws_col > 0 && size.ws_row > 0 {
            return prompt::Size {
                cols: usize::from(size.ws_col),
                rows: usize::from(size.ws_row),
            };
        }
    }
    #[cfg(not(unix))]
    let _ = tty;
    prompt::Size::DEFAULT
}

impl Approver for Terminal {
    fn name(&self) -> &'static str {
        "person (tty)"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        // Nothing the command writes reaches the terminal until answered.
        let _floor = crate::screen::question();
        self.converse(question).unwrap_or_else(Answer::Deny)
    }
}

/// The terminal reading whole lines, echoed, while alive (a command may
/// have left it in raw mode); the settings it found are put back on drop.
struct LineMode {
    #[cfg(unix)]
    saved: Option<(i32, libc::termios)>,
}

impl LineMode {
    fn enter(tty: &File) -> LineMode {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = tty.as_raw_fd();
            // SAFETY: tcgetattr fills the termios given; a zeroed one is valid.
            let mut termios: libc::termios = unsafe { std::mem::zeroed() };
            if unsafe { libc::tcgetattr(fd, &mut termios) } != 0 {
                return LineMode { saved: None };
            }
            let saved = termios;
            termios.c_lflag |= libc::ICANON | libc::ECHO;
            termios.c_iflag |= libc::ICRNL;
            termios.c_oflag |= libc::OPOST | libc::ONLCR;
            // SAFETY: sets the terminal of a descriptor we hold.
            if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &termios) } != 0 {
                return LineMode { saved: None };
            }
            LineMode {
                saved: Some((fd, saved)),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tty;
            LineMode {}
        }
    }
}

impl Drop for LineMode {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some((fd, saved)) = &self.saved {
            // SAFETY: restores what tcgetattr read from the same descriptor.
            unsafe { libc::tcsetattr(*fd, libc::TCSANOW, saved) };
        }
    }
}

/// Whether `file` has something to read within `timeout` (zero: now).
#[cfg(unix)]
fn readable_within(file: &File, timeout: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // Rounded up: a wait of less than a millisecond is not a poll of none.
    let millis = i32::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX);
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
pub const PROTOCOL_VERSION: u32 = 2;

#[derive(Serialize)]
struct WireQuestion<'a> {
    v: u32,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    argv: &'a [String],
    cwd: &'a Path,
    engine: &'a str,
    sandbox: &'a str,
    reason: &'a str,
    escalation: Option<String>,
    justification: Option<&'a str>,
    /// Variables set for the command beyond the session's (`KEY=VALUE`).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env: &'a [String],
}

/// Just enough of a reply to tell which question it answers.
#[derive(Deserialize)]
struct WireAddress {
    v: serde_json::Value,
    id: serde_json::Value,
}

/// `v` and `id` are checked by `addressed_to`; named here so they are not
/// unknown fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireAnswer {
    #[serde(rename = "v")]
    _v: u32,
    #[serde(rename = "id")]
    _id: String,
    answer: String,
    #[serde(default)]
    prefix: Option<Vec<String>>,
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    reason: Option<String>,
}

/// A program on the other end of a socket: one JSON question per line out,
/// one JSON answer per line back. Only a line that arrives after the
/// question and carries its unguessable id answers it; every other line is
/// discarded (and kept for the audit log).
pub struct Jsonl {
    reader: BufReader<File>,
    writer: File,
    random: SystemRandom,
    timeout: Duration,
    discarded: Vec<Discarded>,
    /// Discarded lines past `MAX_DISCARDED`, only counted.
    unkept: usize,
}

impl Jsonl {
    /// Talks over a duplicate of the descriptor `fd` (the caller keeps the
    /// original). A question unanswered for `timeout` is denied.
    ///
    /// # Errors
    ///
    /// The descriptor cannot be duplicated, or this is not a unix system.
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

    /// Connects to the unix socket at `path`. A question unanswered for
    /// `timeout` is denied.
    ///
    /// # Errors
    ///
    /// The socket cannot be connected to, or this is not a unix system.
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
        // Every read follows a poll that found data, but another holder of
        // the socket may take it first: each read waits at most the timeout
        // (a socket option, shared by every descriptor of the socket; not a
        // socket: poll alone).
        if let Ok(clone) = file.try_clone() {
            let stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(clone));
            let _ = stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        }
        Ok(Jsonl {
            reader: BufReader::new(file),
            writer,
            random: SystemRandom::new(),
            timeout,
            discarded: Vec::new(),
            unkept: 0,
        })
    }

    fn exchange(&mut self, question: &Question) -> Result<Answer, String> {
        let deadline = Instant::now() + self.timeout;
        let id = unguessable_id(&self.random)?;
        self.discard_unasked(deadline)?;
        let r = &question.request;
        let wire = WireQuestion {
            v: PROTOCOL_VERSION,
            id: &id,
            kind: "question",
            argv: &r.argv,
            cwd: &r.cwd,
            engine: r.engine,
            sandbox: r.sandbox,
            reason: &question.reason,
            escalation: r.escalation.as_ref().map(ToString::to_string),
            justification: r.justification.as_deref(),
            env: &r.env,
        };
        let mut line = serde_json::to_string(&wire).map_err(|e| e.to_string())?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("writing the question: {e}"))?;
        loop {
            let reply = self.read_line(deadline)?;
            match addressed_to(&reply, &id) {
                Ok(()) => return parse_wire_answer(&reply),
                Err(why) => self.discard(why, &reply),
            }
        }
    }

    /// Discards what the channel holds before a question is asked: nothing
    /// written before the question answers it. A flood is cut off by the
    /// question's deadline.
    fn discard_unasked(&mut self, deadline: Instant) -> Result<(), String> {
        let mut line = Vec::new();
        while !self.reader.buffer().is_empty()
            || readable_within(self.reader.get_ref(), Duration::ZERO)
        {
            if Instant::now() >= deadline {
                return Err(no_answer(self.timeout));
            }
            if take_line_part(&mut self.reader, &mut line)? {
                self.discard("arrived before the question", &line);
                line.clear();
            }
        }
        // The start of a line: what follows the question ends it, and is
        // read as a line of its own (it cannot carry the new id either).
        if !line.is_empty() {
            self.discard("arrived before the question", &line);
        }
        Ok(())
    }

    /// The next whole line (without its newline), read by `deadline`.
    fn read_line(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        let mut line = Vec::new();
        loop {
            if self.reader.buffer().is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !readable_within(self.reader.get_ref(), left) {
                    return Err(no_answer(self.timeout));
                }
            }
            if take_line_part(&mut self.reader, &mut line)? {
                return Ok(line);
            }
        }
    }

    fn discard(&mut self, why: &'static str, line: &[u8]) {
        if self.discarded.len() < MAX_DISCARDED {
            let kept = &line[..line.len().min(DISCARDED_LINE_BYTES)];
            self.discarded.push(Discarded {
                why,
                line: String::from_utf8_lossy(kept).into_owned(),
            });
        } else {
            self.unkept += 1;
        }
    }
}

/// Moves what `reader` has, up to the end of the line, onto `line`
/// (keeping at most one byte past `MAX_ANSWER_BYTES`); whether the line
/// ended. Reads at most once: call it when there is something to read.
fn take_line_part(reader: &mut BufReader<File>, line: &mut Vec<u8>) -> Result<bool, String> {
    let chunk = loop {
        match reader.fill_buf() {
            Ok(chunk) => break chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    };
    if chunk.is_empty() {
        return Err("the channel closed".into());
    }
    let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
        Some(end) => (&chunk[..end], true),
        None => (chunk, false),
    };
    let room = (MAX_ANSWER_BYTES + 1).saturating_sub(line.len());
    line.extend_from_slice(&part[..part.len().min(room)]);
    let used = part.len() + usize::from(ended);
    reader.consume(used);
    Ok(ended)
}

/// A question id no one can guess: 128 bits from the OS, in lowercase hex.
pub(crate) fn unguessable_id(random: &SystemRandom) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    random
        .fill(&mut bytes)
        .map_err(|_| "no random question id from the system (not asked)".to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `reply` is addressed to question `id`, or why it is discarded.
fn addressed_to(reply: &[u8], id: &str) -> Result<(), &'static str> {
    if reply.len() > MAX_ANSWER_BYTES {
        return Err("too long");
    }
    let address: WireAddress = serde_json::from_slice(reply).map_err(|_| "malformed")?;
    if address.v != PROTOCOL_VERSION {
        return Err("another protocol version");
    }
    if address.id.as_str() != Some(id) {
        return Err("answers another id");
    }
    Ok(())
}

/// The answer in `reply`, a line addressed to the question; any fault in
/// it is a denial.
fn parse_wire_answer(reply: &[u8]) -> Result<Answer, String> {
    let answer: WireAnswer =
        serde_json::from_slice(reply).map_err(|e| format!("malformed answer: {e}"))?;
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

impl Approver for Jsonl {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        self.exchange(question)
            .unwrap_or_else(|why| Answer::Deny(format!("approver channel: {why}")))
    }

    fn take_discarded(&mut self) -> Vec<Discarded> {
        let mut discarded = std::mem::take(&mut self.discarded);
        if self.unkept > 0 {
            discarded.push(Discarded {
                why: "too many discarded lines to keep",
                line: format!("{} more lines", std::mem::take(&mut self.unkept)),
            });
        }
        discarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn channel() -> (Jsonl, std::os::unix::net::UnixStream) {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(ours));
        let jsonl = Jsonl::from_file(file, "test", Duration::from_secs(10)).unwrap();
        (jsonl, theirs)
    }

    fn question() -> Question {
        Question {
            request: Request {
                argv: vec!["rm".into(), "-rf".into(), "src".into()],
                cwd: "/p".into(),
                engine: "wasi",
                sandbox: "workspace-write",
                escalation: None,
                justification: None,
                program_sha256: None,
                env: Vec::new(),
            },
            reason: "recursive or forced rm".into(),
        }
    }

    /// Reads one question on `peer` and writes `replies`, with `ID` replaced
    /// by the question's id; returns the id.
    #[cfg(unix)]
    fn answer_one(
        peer: &std::os::unix::net::UnixStream,
        replies: &'static [&'static str],
    ) -> std::thread::JoinHandle<String> {
        let peer = peer.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut asked = String::new();
            BufReader::new(&peer).read_line(&mut asked).unwrap();
            let asked: serde_json::Value = serde_json::from_str(&asked).unwrap();
            let id = asked["id"].as_str().unwrap().to_string();
            for reply in replies {
                writeln!(&peer, "{}", reply.replace("ID", &id)).unwrap();
            }
            id
        })
    }

    #[cfg(unix)]
    #[test]
    fn two_questions_get_different_unguessable_ids() {
        let (mut jsonl, peer) = channel();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let answerer = answer_one(&peer, &[r#"{"v":2,"id":"ID","answer":"once"}"#]);
            assert_eq!(jsonl.ask(&question()), Answer::Once);
            ids.push(answerer.join().unwrap());
        }
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[cfg(unix)]
    #[test]
    fn only_the_pending_id_after_the_question_answers_and_the_rest_is_kept_bounded() {
        let (mut jsonl, peer) = channel();
        // Written before the question: a guess and a copy of the format.
        let forged = [
            r#"{"v":2,"id":"1","answer":"once"}"#,
            r#"{"v":2,"id":"0123456789abcdef0123456789abcdef","answer":"once"}"#,
        ];
        for line in forged {
            writeln!(&peer, "{line}").unwrap();
        }
        let answerer = answer_one(
            &peer,
            &[
                r#"{"v":2,"id":"1","answer":"once"}"#,
                "not json",
                r#"{"v":1,"id":"ID","answer":"once"}"#,
                r#"{"v":2,"id":"ID","answer":"deny","reason":"mine"}"#,
            ],
        );
        assert_eq!(jsonl.ask(&question()), Answer::Deny("mine".into()));
        answerer.join().unwrap();
        let whys: Vec<&str> = jsonl.take_discarded().iter().map(|d| d.why).collect();
        assert_eq!(
            whys,
            [
                "arrived before the question",
                "arrived before the question",
                "answers another id",
                "malformed",
                "another protocol version",
            ]
        );
        assert!(jsonl.take_discarded().is_empty());

        // A flood before the question: 100 lines kept, the rest counted.
        let long = format!(
            r#"{{"v":2,"id":"1","answer":"once","x":"{}"}}"#,
            "a".repeat(500)
        );
        // One write: many small ones would fill the socket's send buffer.
        (&peer)
            .write_all(format!("{long}\n").repeat(150).as_bytes())
            .unwrap();
        let answerer = answer_one(&peer, &[r#"{"v":2,"id":"ID","answer":"once"}"#]);
        assert_eq!(jsonl.ask(&question()), Answer::Once);
        answerer.join().unwrap();
        let discarded = jsonl.take_discarded();
        assert_eq!(discarded.len(), MAX_DISCARDED + 1);
        assert!(discarded[..MAX_DISCARDED].iter().all(|d| {
            d.why == "arrived before the question" && d.line.len() == DISCARDED_LINE_BYTES
        }));
        assert_eq!(discarded[MAX_DISCARDED].line, "50 more lines");
    }

    #[cfg(unix)]
    #[test]
    fn a_closed_channel_or_a_bad_answer_to_the_id_is_a_denial() {
        let (mut jsonl, peer) = channel();
        let answerer = answer_one(&peer, &[r#"{"v":2,"id":"ID","answer":"yes"}"#]);
        assert!(matches!(jsonl.ask(&question()), Answer::Deny(why) if why.contains("malformed")));
        answerer.join().unwrap();
        drop(peer);
        assert!(matches!(jsonl.ask(&question()), Answer::Deny(why) if why.contains("closed")));
    }

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
