//! The approval broker: decides, for every command, whether it runs, asks a
//! person, or is refused.
//!
//! Today it holds the prefix [`rules`]. No approver is wired in yet, so a
//! command that would ask a person is refused (fail closed).

pub mod rules;

use rules::{Decision, Rules};

/// What the broker decided for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it, sandboxed.
    Run,
    /// Refused; the text says what and how to grant it.
    Refused(String),
}

/// Judges `argv` against `rules`.
pub fn judge(rules: &Rules, argv: &[String]) -> Verdict {
    let Some(rule) = rules.evaluate(argv) else {
        return Verdict::Run;
    };
    let command = argv.join(" ");
    let why = rule
        .justification
        .as_deref()
        .map(|j| format!(" ({j})"))
        .unwrap_or_default();
    match rule.decision {
        Decision::Allow => Verdict::Run,
        Decision::Forbid => Verdict::Refused(format!(
            "{command}: forbidden by {}{why}; change that rule's decision to run it",
            rule.origin()
        )),
        Decision::Prompt => Verdict::Refused(format!(
            "{command}: needs approval by {}{why}, and no approver is available, so it is \
             denied; set that rule's decision to allow to run it unasked",
            rule.origin()
        )),
    }
}
