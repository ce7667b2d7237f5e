//! The approval broker: decides, for every command, whether it runs, asks a
//! person, or is refused.
//!
//! Order: a matching [`rules`] rule decides (strictest first); without one,
//! commands that always ask ([`safety::always_asks`]) ask, and under
//! `untrusted` everything that is not [`safety::known_safe`] asks. No
//! approver is wired in yet, so a command that would ask a person is refused
//! (fail closed).

pub mod rules;
pub mod safety;

use rules::{Decision, Rules};

/// When a person is asked, independent of the sandbox mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalPolicy {
    /// Only known-safe read-only commands run unasked.
    Untrusted,
    /// Everything runs sandboxed; a failure caused by the sandbox may ask
    /// to retry with more (not yet: failures are reported as they are).
    OnFailure,
    /// Runs sandboxed; asks when the request asks for more or a rule says so.
    #[default]
    OnRequest,
    /// Nobody is asked: what would ask is refused.
    Never,
}

/// What the broker decided for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run it, sandboxed.
    Run,
    /// Refused; the text says what and how to grant it.
    Refused(String),
}

/// Refusal of a command that would ask a person, with nobody to ask.
fn unanswered(command: &str, reason: &str, grant: &str) -> Verdict {
    Verdict::Refused(format!(
        "{command}: needs approval ({reason}), and no approver is available, so it is denied; {grant}"
    ))
}

/// Judges `argv` against `rules` under `policy`.
pub fn judge(rules: &Rules, policy: ApprovalPolicy, argv: &[String]) -> Verdict {
    let command = argv.join(" ");
    let Some(rule) = rules.evaluate(argv) else {
        let allow_rule = "an allow rule for it lets it run unasked";
        if let Some(reason) = safety::always_asks(argv) {
            return unanswered(&command, reason, allow_rule);
        }
        if policy == ApprovalPolicy::Untrusted && !safety::known_safe(argv) {
            return unanswered(
                &command,
                "not known to be read-only under --approval untrusted",
                allow_rule,
            );
        }
        return Verdict::Run;
    };
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
        Decision::Prompt => unanswered(
            &command,
            &format!("by {}{why}", rule.origin()),
            "set that rule's decision to allow to run it unasked",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn argv(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    /// Each policy against each kind of command, with and without a rule.
    #[test]
    fn approval_matrix() {
        let mut allow_rm = Rules::default();
        allow_rm
            .add(
                "[[rule]]\nprefix = [\"rm\"]\ndecision = \"allow\"\n",
                Path::new("r.toml"),
            )
            .unwrap();
        let none = Rules::default();
        use ApprovalPolicy::*;
        let cases: &[(&Rules, ApprovalPolicy, &str, bool)] = &[
            (&none, Untrusted, "grep -rn x .", true),
            (&none, Untrusted, "sort -o out x", false),
            (&none, Untrusted, "touch x", false),
            (&none, OnRequest, "touch x", true),
            (&none, OnFailure, "touch x", true),
            (&none, Never, "touch x", true),
            (&none, OnRequest, "rm -rf build", false),
            (&none, Never, "rm -rf build", false),
            (&allow_rm, OnRequest, "rm -rf build", true),
            (&allow_rm, Untrusted, "rm -rf build", true),
        ];
        for (rules, policy, line, runs) in cases {
            let verdict = judge(rules, *policy, &argv(line));
            assert_eq!(
                verdict == Verdict::Run,
                *runs,
                "{policy:?} {line}: {verdict:?}"
            );
        }
    }
}
