//! How a command run by a [`super::Session`] went.

use std::time::Duration;

use serde_json::{Value, json};

use crate::audit::StreamRecord;
use crate::broker::{self, Decided, Remedy};
use crate::exit;
use crate::policy::SandboxPolicy;
use crate::violations::Violation;

/// The result of [`super::Session::run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// cordon's exit code: the command's own, or one of [`crate::exit`]'s.
    pub exit_code: u8,
    /// How it ended, as a word.
    pub status: RunStatus,
    /// How cordon itself failed, when [`RunStatus::Error`] came of it.
    pub error: Option<String>,
    /// The command as it ran last (an approver's edit or a retry may have
    /// changed it).
    pub argv: Vec<String>,
    /// `wasi`, `native` or `shell` (a line cordon ran stage by stage);
    /// `None` when nothing ran.
    pub engine: Option<&'static str>,
    /// The broker's last decision, and who made it.
    pub decision: Option<Decided>,
    /// Whether the command was run again with a grant (on-failure).
    pub retried: bool,
    /// What the sandbox refused the command, with what would allow each.
    pub violations: Vec<Refusal>,
    /// Refusals past the kept ones, counted only.
    pub violations_not_kept: u64,
    /// The sandbox layers a native command ran under, or a WASI tool's.
    pub layers: Vec<String>,
    /// How long it ran (the last execution).
    pub duration: Duration,
    /// Size and SHA-256 of each stream (when digests were kept).
    pub stdout: Option<StreamRecord>,
    /// Size and SHA-256 of stderr (when digests were kept).
    pub stderr: Option<StreamRecord>,
    /// Host variables left out of a native command's environment (names).
    pub env_dropped: Vec<String>,
    /// [`RunStatus::NeedsApproval`]: the token its question waits under
    /// (`cordon approve TOKEN`); the same command asked again once a
    /// person answered gets their answer.
    pub resume: Option<String>,
}

impl RunOutcome {
    /// The outcome of a command not yet looked at.
    pub(crate) fn empty() -> RunOutcome {
        RunOutcome {
            exit_code: 0,
            status: RunStatus::Exited,
            error: None,
            argv: Vec::new(),
            engine: None,
            decision: None,
            retried: false,
            violations: Vec::new(),
            violations_not_kept: 0,
            layers: Vec::new(),
            duration: Duration::ZERO,
            stdout: None,
            stderr: None,
            env_dropped: Vec::new(),
            resume: None,
        }
    }
}

impl RunOutcome {
    /// One JSON object saying how the run went (the report `cordon run
    /// --json` writes; its fields are listed in docs/AUDIT.md).
    pub fn report(&self) -> Value {
        let size = |stream: &Option<StreamRecord>| stream.as_ref().map(|s| s.bytes);
        let decision = self.decision.as_ref();
        json!({
            "argv": self.argv,
            "engine": self.engine,
            "decision": decision.map(|d| d.decision.as_str()),
            "decided_by": decision.map(|d| d.by.as_str()),
            "status": self.status.as_str(),
            "exit_code": self.exit_code,
            "error": self.error,
            "retried": self.retried,
            "violations": self.violations.iter().map(violation_json).collect::<Vec<_>>(),
            "violations_not_kept": self.violations_not_kept,
            "layers": self.layers,
            "duration_ms": self.duration.as_millis(),
            "stdout_bytes": size(&self.stdout),
            "stderr_bytes": size(&self.stderr),
            "env_dropped": self.env_dropped,
            "resume": self.resume,
        })
    }

    /// The outcome of a command cordon failed to set up for.
    pub fn failed(error: String) -> RunOutcome {
        RunOutcome {
            exit_code: exit::HOST_ERROR,
            status: RunStatus::Error,
            error: Some(error),
            ..RunOutcome::empty()
        }
    }
}

/// How the run ended, as a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// The command ran and exited with [`RunOutcome::exit_code`].
    Exited,
    /// Refused by policy, a rule or a person; nothing ran.
    Refused,
    /// No program by that name.
    NotFound,
    /// The deadline passed or the fuel ran out.
    TimedOut,
    /// The WASI tool trapped.
    Trapped,
    /// Cancelled from outside while it ran ([`crate::io::Cancel`]).
    Cancelled,
    /// Nothing ran: its question waits for a person, under
    /// [`RunOutcome::resume`].
    NeedsApproval,
    /// cordon itself failed (see [`RunOutcome::error`]).
    Error,
}

impl RunStatus {
    /// The word the `--json` report and the protocol use.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Exited => "exited",
            RunStatus::Refused => "refused",
            RunStatus::NotFound => "not-found",
            RunStatus::TimedOut => "timed-out",
            RunStatus::Trapped => "trapped",
            RunStatus::Cancelled => "cancelled",
            RunStatus::NeedsApproval => "needs-approval",
            RunStatus::Error => "error",
        }
    }

    /// The status of a run that ended with `code`, after `ran` executions.
    pub(crate) fn of(code: u8, ran: bool) -> RunStatus {
        match (ran, code) {
            (false, exit::NOT_FOUND) => RunStatus::NotFound,
            (false, exit::HOST_ERROR) => RunStatus::Error,
            (false, _) => RunStatus::Refused,
            (true, exit::TIMED_OUT) => RunStatus::TimedOut,
            (true, exit::TRAPPED) => RunStatus::Trapped,
            (true, _) => RunStatus::Exited,
        }
    }
}

/// One refusal, and the grant or flag that would have allowed it.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// What was refused.
    pub violation: Violation,
    /// As flags: `--escalate writable=/x`, `--allow-secret .env`.
    pub allowed_by: String,
}

impl Refusal {
    /// `violation`, refused to a command under `policy`.
    pub(crate) fn of(violation: &Violation, policy: &SandboxPolicy) -> Refusal {
        let allowed_by = match broker::remedy(violation, policy) {
            Remedy::Escalation(grant) => grant.as_flags(),
            Remedy::Flag(flag) => flag,
        };
        Refusal {
            violation: violation.clone(),
            allowed_by,
        }
    }
}

/// A refusal, with what would have allowed it.
fn violation_json(refusal: &Refusal) -> Value {
    let violation = &refusal.violation;
    json!({
        "denied": violation.denied,
        "target": violation.target,
        "line": violation.line,
        "times": violation.times,
        "from_stderr": violation.from_stderr,
        "allowed_by": refusal.allowed_by,
    })
}
