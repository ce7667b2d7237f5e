//! Questions kept for a person who is not there yet. A server with no one
//! to ask (an agent's client that cannot show a form, and no approver
//! given) parks each question under an unguessable token: the command is
//! refused as "needs approval", with the token, and the person answers
//! later, out of band, with `cordon approve TOKEN` (which puts the
//! question to them on their terminal, or another approver). The same
//! question asked again in that session then gets their answer.
//!
//! The questions and answers are files in cordon's own config directory,
//! which no command can write (docs/SANDBOX.md): an agent cannot answer
//! its own question. An answer is taken only for the very question it
//! answers (a digest of everything the person was shown), once.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};

use super::approver::{Answer, Approver, Question, unguessable_id};
use crate::config_file::{CONFIG_LIMIT, read_text};
use crate::policy::SandboxMode;
use crate::request::{Escalation, Request};

/// The directory under cordon's config directory the questions wait in.
pub const PENDING_DIR: &str = "pending";

/// Questions one session may keep waiting at once; past them, a new
/// question is denied (an agent cannot fill the disk with them).
const MAX_WAITING: usize = 64;

/// A question as it waits: what the person will be shown, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParkedQuestion {
    /// The command.
    pub argv: Vec<String>,
    /// Where it would run.
    pub cwd: PathBuf,
    /// `wasi`, `native` or `shell`.
    pub engine: String,
    /// The sandbox mode it would run in.
    pub sandbox: String,
    /// What it asks beyond the sandbox, each grant in `--escalate`'s words.
    pub escalation: Vec<String>,
    /// Why the agent says it needs that.
    pub justification: Option<String>,
    /// Variables set for it (`KEY=VALUE`).
    pub env: Vec<String>,
    /// A WASI program's digest.
    pub program_sha256: Option<String>,
    /// Why cordon asks.
    pub reason: String,
}

impl ParkedQuestion {
    /// `question` in words.
    ///
    /// # Errors
    ///
    /// A directory whose name is not UTF-8: words would show the person
    /// another name than the one that runs.
    fn of(question: &Question) -> Result<ParkedQuestion, String> {
        let r = &question.request;
        let parts: Vec<&Escalation> = r.escalation.iter().flat_map(Escalation::parts).collect();
        let writable = parts.iter().filter_map(|part| match part {
            Escalation::Writable(dir) => Some(dir.as_path()),
            _ => None,
        });
        if let Some(odd) = std::iter::once(r.cwd.as_path())
            .chain(writable)
            .find(|dir| dir.to_str().is_none())
        {
            return Err(format!("{}: not a UTF-8 name", odd.display()));
        }
        Ok(ParkedQuestion {
            argv: r.argv.clone(),
            cwd: r.cwd.clone(),
            engine: r.engine.to_string(),
            sandbox: r.sandbox.to_string(),
            escalation: parts.iter().map(ToString::to_string).collect(),
            justification: r.justification.clone(),
            env: r.env.clone(),
            program_sha256: r.program_sha256.clone(),
            reason: question.reason.clone(),
        })
    }

    /// The question in a line, escaped, as `cordon approve` shows it.
    pub fn shown(&self) -> String {
        use crate::display;
        let words: Vec<String> = self.env.iter().chain(&self.argv).cloned().collect();
        let grants = match self.escalation.is_empty() {
            true => String::new(),
            false => format!(", asking for {}", self.escalation.join(" and ")),
        };
        format!(
            "{} in {}{}: {}",
            display::command(&words),
            display::path(&self.cwd),
            display::text(&grants),
            display::text(&self.reason)
        )
    }

    /// The digest an answer names: of everything the person is shown.
    fn fingerprint(&self) -> Result<String, String> {
        let json = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        Ok(crate::digest::sha256_hex(&json))
    }

    /// The question again, to put to an approver.
    ///
    /// # Errors
    ///
    /// A word that names no engine, sandbox mode or grant.
    pub fn question(&self) -> Result<Question, String> {
        let engine = ["wasi", "native", "shell"]
            .into_iter()
            .find(|e| *e == self.engine)
            .ok_or_else(|| format!("no engine {}", self.engine))?;
        let sandbox = SandboxMode::ALL
            .iter()
            .map(|mode| mode.as_str())
            .find(|mode| *mode == self.sandbox)
            .ok_or_else(|| format!("no sandbox mode {}", self.sandbox))?;
        let parts = self
            .escalation
            .iter()
            .map(|part| part.parse::<Escalation>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Question {
            request: Request {
                argv: self.argv.clone(),
                cwd: self.cwd.clone(),
                engine,
                sandbox,
                escalation: Escalation::combine(parts),
                justification: self.justification.clone(),
                program_sha256: self.program_sha256.clone(),
                env: self.env.clone(),
            },
            reason: self.reason.clone(),
        })
    }
}

/// A question's file: `TOKEN.question.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionFile {
    token: String,
    /// When it was parked (seconds since 1970).
    parked: u64,
    /// The process that keeps the session: a question whose server is
    /// gone is no longer listed (and is removed).
    server: u32,
    question: ParkedQuestion,
}

/// An answer's file: `TOKEN.answer.json`, written by `cordon approve`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    /// The question it answers ([`ParkedQuestion::fingerprint`]).
    fingerprint: String,
    /// When the person answered (seconds since 1970): an answer older
    /// than the session's approval timeout is not taken.
    answered: u64,
    answer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl AnswerFile {
    fn of(fingerprint: String, answer: &Answer) -> AnswerFile {
        let (prefix, argv, reason) = match answer {
            Answer::Session { prefix } | Answer::Always { prefix } => (prefix.clone(), None, None),
            Answer::Deny(why) => (None, None, Some(why.clone())),
            Answer::Edit(argv) => (None, Some(argv.clone()), None),
            Answer::Once | Answer::Abort | Answer::Pending(_) => (None, None, None),
        };
        AnswerFile {
            fingerprint,
            answered: now().as_secs(),
            answer: answer.word().into(),
            prefix,
            argv,
            reason,
        }
    }

    fn answer(self) -> Answer {
        match (self.answer.as_str(), self.prefix, self.argv) {
            ("once", None, None) => Answer::Once,
            ("session", prefix, None) => Answer::Session { prefix },
            ("always", prefix, None) => Answer::Always { prefix },
            ("edit", None, Some(argv)) if !argv.is_empty() => Answer::Edit(argv),
            ("abort", None, None) => Answer::Abort,
            ("deny", None, None) => Answer::Deny(self.reason.unwrap_or_else(|| "denied".into())),
            (other, ..) => Answer::Deny(format!("a malformed answer ({other:?})")),
        }
    }
}

fn question_path(dir: &Path, token: &str) -> PathBuf {
    dir.join(format!("{token}.question.json"))
}

fn answer_path(dir: &Path, token: &str) -> PathBuf {
    dir.join(format!("{token}.answer.json"))
}

/// Whether `token` can be a token: what [`unguessable_id`] makes, and so
/// never a path.
fn is_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Now, as seconds since 1970 count it.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A question parked and not yet answered, as this session keeps it.
struct Waiting {
    token: String,
    fingerprint: String,
}

/// The approver that parks questions (`--approver pending`, the server's
/// default when no one is at a terminal). Its questions are removed when
/// the session ends.
pub struct Parked {
    dir: PathBuf,
    /// How long an answer holds once given.
    timeout: Duration,
    random: SystemRandom,
    waiting: Vec<Waiting>,
}

impl Parked {
    /// Parks questions in `dir` (cordon's config directory's
    /// [`PENDING_DIR`]; made, mode 0700, at the first question). An
    /// answer is taken within `timeout` of being given: a person's yes is
    /// not the agent's to keep for later.
    pub fn new(dir: PathBuf, timeout: Duration) -> Parked {
        Parked {
            dir,
            timeout,
            random: SystemRandom::new(),
            waiting: Vec::new(),
        }
    }

    fn park(&mut self, question: &Question) -> Result<Answer, String> {
        let parked = ParkedQuestion::of(question)?;
        let fingerprint = parked.fingerprint()?;
        if let Some(at) = self
            .waiting
            .iter()
            .position(|w| w.fingerprint == fingerprint)
        {
            let token = self.waiting[at].token.clone();
            return Ok(match self.answered(&token, &fingerprint)? {
                Some(answer) => {
                    let _ = std::fs::remove_file(question_path(&self.dir, &token));
                    self.waiting.remove(at);
                    answer
                }
                None => Answer::Pending(token),
            });
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(format!(
                "{MAX_WAITING} questions already wait for a person in this session"
            ));
        }
        let token = unguessable_id(&self.random)?;
        let file = QuestionFile {
            token: token.clone(),
            parked: now().as_secs(),
            server: std::process::id(),
            question: parked,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        // What cannot be read back can never be answered.
        if json.len() as u64 > CONFIG_LIMIT {
            return Err(format!("over {CONFIG_LIMIT} bytes to show"));
        }
        make_private_dir(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        crate::atomic::write(&question_path(&self.dir, &token), &json)
            .map_err(|e| format!("parking the question: {e}"))?;
        self.waiting.push(Waiting {
            token: token.clone(),
            fingerprint,
        });
        Ok(Answer::Pending(token))
    }

    /// The person's answer to `token`, taken (its file removed), if they
    /// gave one within the timeout; an answer to another question is a
    /// denial.
    fn answered(&self, token: &str, fingerprint: &str) -> Result<Option<Answer>, String> {
        let path = answer_path(&self.dir, token);
        let text = match read_text(&path, CONFIG_LIMIT) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let _ = std::fs::remove_file(&path);
        let file: AnswerFile =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if file.fingerprint != fingerprint {
            return Ok(Some(Answer::Deny(
                "the answer given was to another question".into(),
            )));
        }
        if now().saturating_sub(Duration::from_secs(file.answered)) > self.timeout {
            // Stale: the question waits for a fresh answer.
            return Ok(None);
        }
        Ok(Some(file.answer()))
    }
}

impl Approver for Parked {
    fn name(&self) -> &'static str {
        "pending"
    }

    fn ask(&mut self, question: &Question) -> Answer {
        self.park(question)
            .unwrap_or_else(|why| Answer::Deny(format!("the question cannot wait: {why}")))
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        for waiting in &self.waiting {
            let _ = std::fs::remove_file(question_path(&self.dir, &waiting.token));
            let _ = std::fs::remove_file(answer_path(&self.dir, &waiting.token));
        }
    }
}

/// Makes `dir` (and its parents), the last readable by its owner only.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A question waiting for a person, as `cordon approve` lists it.
#[derive(Debug)]
pub struct Pending {
    /// What answers it.
    pub token: String,
    /// How long it has waited.
    pub waited: Duration,
    /// What the person will be asked.
    pub question: ParkedQuestion,
}

/// The questions waiting in `dir`, oldest first. Files that are not
/// questions are passed over.
///
/// # Errors
///
/// The directory cannot be read (none at all is no question).
pub fn waiting(dir: &Path) -> std::io::Result<Vec<Pending>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let now = now();
    let mut found: Vec<Pending> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let token = name.strip_suffix(".question.json")?;
            let file = read_question(dir, token).ok()?;
            if !crate::process::alive(file.server) {
                // Its server ended without removing it (killed).
                let _ = std::fs::remove_file(question_path(dir, token));
                let _ = std::fs::remove_file(answer_path(dir, token));
                return None;
            }
            Some(Pending {
                token: file.token,
                waited: now.saturating_sub(Duration::from_secs(file.parked)),
                question: file.question,
            })
        })
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.waited));
    Ok(found)
}

fn read_question(dir: &Path, token: &str) -> Result<QuestionFile, String> {
    if !is_token(token) {
        return Err(format!("{token}: not a question's token (32 hex digits)"));
    }
    let text = read_text(&question_path(dir, token), CONFIG_LIMIT).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("{token}: no question waits under it (answered, or its session ended)")
        }
        _ => format!("{token}: {e}"),
    })?;
    let file: QuestionFile =
        serde_json::from_str(&text).map_err(|e| format!("{token}: a malformed question: {e}"))?;
    if file.token != token {
        return Err(format!("{token}: the question's file names another token"));
    }
    Ok(file)
}

/// Puts the question waiting under `token` in `dir` to `approver` (a
/// person), and leaves the answer for the session that asked; the answer,
/// for the person to see.
///
/// # Errors
///
/// No such question, one that cannot be read back, or an answer that
/// cannot be written.
pub fn answer(dir: &Path, token: &str, approver: &mut dyn Approver) -> Result<Answer, String> {
    let file = read_question(dir, token)?;
    let question = file
        .question
        .question()
        .map_err(|e| format!("{token}: the question cannot be read back: {e}"))?;
    // Digested as put to the person, not as the file words it: what they
    // answer is what they saw.
    let fingerprint = ParkedQuestion::of(&question)?.fingerprint()?;
    let answer = approver.ask(&question);
    if let Answer::Pending(_) = answer {
        return Err("a question is answered by a person, not parked again".into());
    }
    let json =
        serde_json::to_vec(&AnswerFile::of(fingerprint, &answer)).map_err(|e| e.to_string())?;
    crate::atomic::write(&answer_path(dir, token), &json)
        .map_err(|e| format!("{token}: writing the answer: {e}"))?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::approver::Script;

    fn question(argv: &[&str]) -> Question {
        Question {
            request: Request {
                argv: argv.iter().map(|w| w.to_string()).collect(),
                cwd: "/p".into(),
                engine: "native",
                sandbox: "workspace-write",
                escalation: Some(Escalation::Network),
                justification: Some("to fetch".into()),
                program_sha256: None,
                env: vec!["A=1".into()],
            },
            reason: "asks for the network".into(),
        }
    }

    fn script(dir: &Path, answers: &str) -> Script {
        let file = dir.join("answers");
        std::fs::write(&file, answers).unwrap();
        Script::load(&file).unwrap()
    }

    /// A parker in `home`, and the token of the question it parked.
    fn parked_one(home: &Path, asked: &Question) -> (PathBuf, Parked, String) {
        let dir = home.join(PENDING_DIR);
        let mut parked = Parked::new(dir.clone(), Duration::from_secs(300));
        let Answer::Pending(token) = parked.ask(asked) else {
            panic!("not parked")
        };
        (dir, parked, token)
    }

    #[test]
    fn a_parked_question_gets_the_answer_given_out_of_band_once_and_only_to_itself() {
        let home = tempfile::tempdir().unwrap();
        let asked = question(&["curl", "example.com"]);
        let (dir, mut parked, token) = parked_one(home.path(), &asked);
        assert!(is_token(&token), "{token}");
        // Asked again before anyone answered: the same token.
        assert_eq!(parked.ask(&asked), Answer::Pending(token.clone()));
        // Another question: another token, and no answer of the first's.
        let other = question(&["curl", "evil.example"]);
        let Answer::Pending(other_token) = parked.ask(&other) else {
            panic!("not parked")
        };
        assert_ne!(token, other_token);
        assert_eq!(waiting(&dir).unwrap().len(), 2);

        let mut person = script(home.path(), "session\n");
        assert_eq!(
            answer(&dir, &token, &mut person).unwrap(),
            Answer::Session { prefix: None }
        );
        assert_eq!(parked.ask(&other), Answer::Pending(other_token));
        assert_eq!(parked.ask(&asked), Answer::Session { prefix: None });
        // Taken once: asked again, it waits anew.
        assert!(matches!(parked.ask(&asked), Answer::Pending(t) if t != token));
        drop(parked);
        assert!(waiting(&dir).unwrap().is_empty(), "left behind");
    }

    #[test]
    fn an_answer_for_another_question_is_a_denial_and_tokens_are_never_paths() {
        let home = tempfile::tempdir().unwrap();
        let asked = question(&["curl", "example.com"]);
        let (dir, mut parked, token) = parked_one(home.path(), &asked);
        let forged = AnswerFile::of("0".repeat(64), &Answer::Once);
        std::fs::write(
            answer_path(&dir, &token),
            serde_json::to_vec(&forged).unwrap(),
        )
        .unwrap();
        assert!(matches!(parked.ask(&asked), Answer::Deny(why) if why.contains("another")));

        // An answer given longer ago than the timeout is not taken.
        let Answer::Pending(waits) = parked.ask(&asked) else {
            panic!("not parked again")
        };
        let fingerprint = ParkedQuestion::of(&asked).unwrap().fingerprint().unwrap();
        let mut stale = AnswerFile::of(fingerprint, &Answer::Once);
        stale.answered -= 301;
        std::fs::write(
            answer_path(&dir, &waits),
            serde_json::to_vec(&stale).unwrap(),
        )
        .unwrap();
        assert_eq!(parked.ask(&asked), Answer::Pending(waits.clone()));

        let mut person = script(home.path(), "once\n");
        assert_eq!(answer(&dir, &waits, &mut person).unwrap(), Answer::Once);
        assert_eq!(parked.ask(&asked), Answer::Once);
        let err = answer(&dir, "../../etc/passwd", &mut person).unwrap_err();
        assert!(err.contains("not a question's token"), "{err}");
    }
}
