//! Prefix rules: which commands run, which ask a person, which are refused.
//!
//! A rules file is TOML with one `[[rule]]` table per rule:
//!
//! ```toml
//! [[rule]]
//! prefix = ["git", ["push", "fetch"]]   # argv prefix; a list is alternatives
//! decision = "prompt"                     # allow | prompt | forbid
//! justification = "talks to a remote"    # shown when the rule applies
//! match = [["git", "push", "origin"]]     # must match (checked on load)
//! not_match = [["git", "status"]]         # must not match (checked on load)
//! ```
//!
//! and one `[[network]]` table per host rule:
//!
//! ```toml
//! [[network]]
//! host = "*.npmjs.org:443"                # as in --network allow=
//! decision = "allow"                      # allow | prompt | forbid
//! justification = "the package registry"
//! ```
//!
//! Either kind may name a WASI program by its bytes instead of (or as well
//! as) by its name: `tool = "sha256:HEX"`. Such a rule applies only to a
//! command whose program has exactly those bytes, whatever it is called,
//! so a grant follows the bytes a person checked and a changed program
//! loses it. A `[[rule]]` with `tool` needs no prefix; one that allows is
//! the only way a rule allows a program of the project's own.
//!
//! The first word is compared by file name, so `/usr/bin/git` is `git`.
//! When several rules match, the strictest wins: forbid, then prompt, then
//! allow. An empty prefix is refused: it would match every command.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config_file::line_of;
use crate::net::{Allowlist, Host};

/// What a rule decides, ordered from the most permissive to the strictest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Runs unasked.
    Allow,
    /// A person is asked.
    Prompt,
    /// Refused, whatever is asked.
    Forbid,
}

/// One word of a prefix: a word, or a list of alternatives.
#[derive(Deserialize)]
#[serde(untagged)]
enum Word {
    One(String),
    AnyOf(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default)]
    prefix: Vec<Word>,
    #[serde(default)]
    tool: Option<String>,
    decision: Decision,
    #[serde(default)]
    justification: Option<String>,
    #[serde(default, rename = "match")]
    must_match: Vec<Vec<String>>,
    #[serde(default)]
    not_match: Vec<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkRuleSpec {
    host: String,
    #[serde(default)]
    tool: Option<String>,
    decision: Decision,
    #[serde(default)]
    justification: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default, rename = "rule")]
    rules: Vec<Spanned<RuleSpec>>,
    #[serde(default, rename = "network")]
    network: Vec<Spanned<NetworkRuleSpec>>,
}

/// A loaded network rule and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRule {
    /// The host (or `*.` pattern, with or without a port), as one entry.
    pub host: Allowlist,
    /// Only for the program with these bytes (sha256, lowercase hex).
    pub tool: Option<String>,
    /// What the rule decides.
    pub decision: Decision,
    /// Why, shown when the rule applies.
    pub justification: Option<String>,
    /// The rules file it is in.
    pub file: PathBuf,
    /// The line its table starts on (1-based).
    pub line: usize,
}

impl NetworkRule {
    /// `file:line`, for messages.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// A loaded rule and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Each position's accepted words.
    pub prefix: Vec<Vec<String>>,
    /// Only for the program with these bytes (sha256, lowercase hex).
    pub tool: Option<String>,
    /// What the rule decides.
    pub decision: Decision,
    /// Why, shown when the rule applies.
    pub justification: Option<String>,
    /// The rules file it is in.
    pub file: PathBuf,
    /// The line its table starts on (1-based).
    pub line: usize,
}

/// How a rule's prefix meets a command whose words are known only up to
/// a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// It matches whatever the unknown words turn out to be.
    Always,
    /// It matches for some values of the unknown words.
    Maybe,
    /// It matches for no value of the unknown words.
    Never,
}

impl Rule {
    /// Whether `argv` starts with this rule's prefix.
    pub fn matches(&self, argv: &[String]) -> bool {
        self.fit(argv, argv.len()) == Fit::Always
    }

    /// How the prefix meets `argv` when only its first `known` words are
    /// known: from there on any words may stand, any number of them (a
    /// variable the line sets, a glob the shell expands as it runs).
    pub fn fit(&self, argv: &[String], known: usize) -> Fit {
        for (i, words) in self.prefix.iter().enumerate() {
            if i >= known.min(argv.len()) {
                return if known < argv.len() {
                    Fit::Maybe
                } else {
                    Fit::Never
                };
            }
            let arg = if i == 0 {
                command_name(&argv[i])
            } else {
                argv[i].as_str()
            };
            if !words.iter().any(|w| w == arg) {
                return Fit::Never;
            }
        }
        Fit::Always
    }

    /// `file:line`, for messages.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// ` (justification)`, or nothing without one.
    pub fn because(&self) -> String {
        self.justification
            .as_deref()
            .map(|j| format!(" ({j})"))
            .unwrap_or_default()
    }
}

/// The file name of a command word (`/usr/bin/rm` is `rm`).
fn command_name(word: &str) -> &str {
    Path::new(word)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(word)
}

/// Why a rules file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file cannot be read.
    #[error("{}: {error}", file.display())]
    Read {
        /// The rules file.
        file: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// A rule in the file is not valid.
    #[error("{}:{line}: {message}", file.display())]
    Invalid {
        /// The rules file.
        file: PathBuf,
        /// The line at fault (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Every rule from the files given.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    rules: Vec<Rule>,
    network: Vec<NetworkRule>,
}

impl Rules {
    /// Loads and checks the rules in `file`, adding them to these.
    ///
    /// # Errors
    ///
    /// A [`RulesError`] naming the file, the line and the problem.
    pub fn load(&mut self, file: &Path) -> Result<(), RulesError> {
        let text = crate::config_file::read_text(file, crate::config_file::CONFIG_LIMIT).map_err(
            |error| RulesError::Read {
                file: file.to_path_buf(),
                error,
            },
        )?;
        self.add(&text, file)
    }

    /// Parses and checks `text` as if read from `file`.
    ///
    /// # Errors
    ///
    /// As [`Rules::load`].
    pub fn add(&mut self, text: &str, file: &Path) -> Result<(), RulesError> {
        let invalid = |offset: usize, message: String| RulesError::Invalid {
            file: file.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let parsed: RulesFile = toml::from_str(text).map_err(|err| {
            let offset = err.span().map_or(0, |span| span.start);
            invalid(offset, err.message().to_string())
        })?;
        for spanned in parsed.rules {
            let offset = spanned.span().start;
            let spec = spanned.into_inner();
            let tool = spec
                .tool
                .as_deref()
                .map(tool_digest)
                .transpose()
                .map_err(|why| invalid(offset, why))?;
            let rule = Rule {
                tool,
                prefix: spec
                    .prefix
                    .into_iter()
                    .map(|word| match word {
                        Word::One(word) => vec![word],
                        Word::AnyOf(words) => words,
                    })
                    .collect(),
                decision: spec.decision,
                justification: spec.justification,
                file: file.to_path_buf(),
                line: line_of(text, offset),
            };
            if rule.prefix.is_empty() && rule.tool.is_none() {
                return Err(invalid(
                    offset,
                    "empty prefix: it would match every command".into(),
                ));
            }
            if rule.prefix.iter().any(Vec::is_empty) {
                return Err(invalid(
                    offset,
                    "a prefix word lists no alternatives".into(),
                ));
            }
            for example in &spec.must_match {
                if !rule.matches(example) {
                    let message = format!("example {example:?} does not match the prefix");
                    return Err(invalid(offset, message));
                }
            }
            for example in &spec.not_match {
                if rule.matches(example) {
                    let message = format!("example {example:?} matches the prefix but should not");
                    return Err(invalid(offset, message));
                }
            }
            self.rules.push(rule);
        }
        for spanned in parsed.network {
            let offset = spanned.span().start;
            let spec = spanned.into_inner();
            if spec.host.contains(',') {
                return Err(invalid(offset, "one host per [[network]] rule".into()));
            }
            let host = Allowlist::parse(&spec.host)
                .map_err(|e| invalid(offset, e.replacen("allow=", "host ", 1)))?;
            let tool = spec
                .tool
                .as_deref()
                .map(tool_digest)
                .transpose()
                .map_err(|why| invalid(offset, why))?;
            self.network.push(NetworkRule {
                host,
                tool,
                decision: spec.decision,
                justification: spec.justification,
                file: file.to_path_buf(),
                line: line_of(text, offset),
            });
        }
        Ok(())
    }

    /// Adds `other`'s rules; with `tighten_only`, only those that prompt or
    /// forbid. Returns how many were left out.
    pub fn merge(&mut self, other: Rules, tighten_only: bool) -> usize {
        let offered = other.rules.len() + other.network.len();
        let kept: Vec<Rule> = other
            .rules
            .into_iter()
            .filter(|rule| !tighten_only || rule.decision != Decision::Allow)
            .collect();
        let kept_network: Vec<NetworkRule> = other
            .network
            .into_iter()
            .filter(|rule| !tighten_only || rule.decision != Decision::Allow)
            .collect();
        let left_out = offered - kept.len() - kept_network.len();
        self.rules.extend(kept);
        self.network.extend(kept_network);
        left_out
    }

    /// The strictest network rule matching `host:port` (`port` 0: any)
    /// for a program with the digest `tool` (`None`: not a WASI program
    /// cordon read).
    pub fn evaluate_network(
        &self,
        host: &Host,
        port: u16,
        tool: Option<&str>,
    ) -> Option<&NetworkRule> {
        strictest(
            self.network
                .iter()
                .filter(|rule| rule.tool.is_none() || rule.tool.as_deref() == tool)
                .filter(|rule| match port {
                    0 => rule.host.ports_for(host).is_some(),
                    port => rule.host.allows(host, port),
                }),
            |rule| rule.decision,
        )
    }

    /// The strictest rule matching `argv`, if any (the first written wins
    /// among equally strict ones). Rules naming a program by its bytes
    /// are not among them: see [`Rules::evaluate_tool`].
    pub fn evaluate(&self, argv: &[String]) -> Option<&Rule> {
        self.evaluate_partly_known(argv, argv.len())
    }

    /// The strictest rule naming the program with the digest `tool` that
    /// matches `argv` (one without a prefix matches any).
    pub fn evaluate_tool(&self, tool: &str, argv: &[String]) -> Option<&Rule> {
        strictest(
            self.rules.iter().filter(|rule| {
                rule.tool.as_deref() == Some(tool) && (rule.prefix.is_empty() || rule.matches(argv))
            }),
            |rule| rule.decision,
        )
    }

    /// [`Rules::evaluate`] for `argv` known only in its first `known`
    /// words ([`Rule::fit`]): a rule that forbids or asks applies if it
    /// could match; one that allows, only if it matches whatever the
    /// unknown words are.
    pub fn evaluate_partly_known(&self, argv: &[String], known: usize) -> Option<&Rule> {
        strictest(
            self.rules
                .iter()
                .filter(|rule| rule.tool.is_none())
                .filter(|rule| match rule.fit(argv, known) {
                    Fit::Always => true,
                    Fit::Maybe => rule.decision != Decision::Allow,
                    Fit::Never => false,
                }),
            |rule| rule.decision,
        )
    }
}

/// The digest a rule's `tool = "sha256:HEX"` names, as lowercase hex.
fn tool_digest(text: &str) -> Result<String, String> {
    text.strip_prefix("sha256:")
        .and_then(crate::digest::parse_sha256)
        .ok_or_else(|| format!("tool {text:?}: expected sha256: and 64 hex digits"))
}

/// The strictest of `rules`, the first written among equally strict ones.
fn strictest<'a, R>(
    rules: impl Iterator<Item = &'a R>,
    decision: impl Fn(&R) -> Decision,
) -> Option<&'a R> {
    rules.fold(None, |best: Option<&R>, rule| match best {
        Some(best) if decision(best) >= decision(rule) => Some(best),
        _ => Some(rule),
    })
}

/// A rule a person asked for at a prompt ("always").
pub enum NewRule<'a> {
    /// Allow commands starting with this prefix.
    Command(&'a [String]),
    /// Allow connections to this host (on this port, or any).
    Host(&'a Host, Option<u16>),
}

impl NewRule<'_> {
    /// The rule as TOML, first word of a prefix by file name as rules
    /// compare it.
    fn text(&self) -> String {
        let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
        match self {
            NewRule::Command(prefix) => {
                let words: Vec<String> = prefix
                    .iter()
                    .enumerate()
                    .map(|(i, w)| quoted(if i == 0 { command_name(w) } else { w }))
                    .collect();
                format!(
                    "[[rule]]\nprefix = [{}]\ndecision = \"allow\"\n\
                     justification = \"approved always at a cordon prompt\"\n",
                    words.join(", ")
                )
            }
            NewRule::Host(host, port) => {
                let host = match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                };
                format!(
                    "[[network]]\nhost = {}\ndecision = \"allow\"\n\
                     justification = \"approved always at a cordon prompt\"\n",
                    quoted(&host)
                )
            }
        }
    }
}

impl Rules {
    /// Appends `rule` to `file` (creating it and its directory), and to
    /// these rules. The file is written whole beside itself and renamed
    /// over, and only if it still loads with the new rule: an error leaves
    /// it as it was.
    ///
    /// # Errors
    ///
    /// A [`RulesError`] naming the file and the problem.
    pub fn append(&mut self, file: &Path, rule: &NewRule) -> Result<(), RulesError> {
        let io = |error: std::io::Error| RulesError::Read {
            file: file.to_path_buf(),
            error,
        };
        let old = match crate::config_file::read_text(file, crate::config_file::CONFIG_LIMIT) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(e)),
        };
        let separator = if old.is_empty() || old.ends_with("\n\n") {
            ""
        } else if old.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        let text = format!("{old}{separator}{}", rule.text());
        let mut checked = Rules::default();
        checked.add(&text, file)?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        crate::atomic::write(file, text.as_bytes()).map_err(io)?;
        // The new rule is the last of its kind in the file.
        match rule {
            NewRule::Command(_) => self.rules.extend(checked.rules.pop()),
            NewRule::Host(..) => self.network.extend(checked.network.pop()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    fn rules(text: &str) -> Result<Rules, RulesError> {
        let mut rules = Rules::default();
        rules.add(text, Path::new("rules.toml"))?;
        Ok(rules)
    }

    const SAMPLE: &str = r#"
[[rule]]
prefix = ["git"]
decision = "allow"

[[rule]]
prefix = ["git", ["push", "fetch"]]
decision = "prompt"
justification = "talks to a remote"
match = [["git", "push", "origin"], ["/usr/bin/git", "fetch"]]
not_match = [["git", "status"], ["gitx", "push"]]

[[rule]]
prefix = ["git", "push", "--force"]
decision = "forbid"
"#;

    #[test]
    fn unknown_words_meet_forbid_and_prompt_but_not_allow() {
        let rules = rules(SAMPLE).unwrap();
        let decide = |words: &[&str], known| {
            rules
                .evaluate_partly_known(&argv(words), known)
                .map(|r| r.decision)
        };
        // `git $X`: $X may be `push --force`.
        assert_eq!(decide(&["git", "$X"], 1), Some(Decision::Forbid));
        // `git push $X`: likewise, and more words may follow the prefix.
        assert_eq!(decide(&["git", "push", "$X"], 2), Some(Decision::Forbid));
        // `git status $X`: only the allow rule fits, and it fits every value.
        assert_eq!(decide(&["git", "status", "$X"], 2), Some(Decision::Allow));
        // `$X push --force`: the command itself is unknown; no rule
        // allows it, every rule that refuses could.
        assert_eq!(decide(&["$X", "push"], 0), Some(Decision::Forbid));
        let allow_status = rules_text_allow("[\"git\", \"status\"]");
        assert_eq!(
            allow_status
                .evaluate_partly_known(&argv(&["git", "$X"]), 1)
                .map(|r| r.decision),
            None
        );
    }

    fn rules_text_allow(prefix: &str) -> Rules {
        rules(&format!(
            "[[rule]]\nprefix = {prefix}\ndecision = \"allow\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn strictest_matching_rule_wins() {
        let rules = rules(SAMPLE).unwrap();
        let decide = |words: &[&str]| rules.evaluate(&argv(words)).map(|r| (r.decision, r.line));
        assert_eq!(decide(&["git", "status"]), Some((Decision::Allow, 2)));
        assert_eq!(decide(&["git", "fetch"]), Some((Decision::Prompt, 6)));
        assert_eq!(
            decide(&["git", "push", "--force", "x"]),
            Some((Decision::Forbid, 13))
        );
        assert_eq!(
            decide(&["/usr/bin/git", "push", "--force"]),
            Some((Decision::Forbid, 13))
        );
        assert_eq!(decide(&["ls"]), None);
    }

    #[test]
    fn examples_are_checked_when_loading() {
        let err = rules(
            "[[rule]]\nprefix = [\"rm\"]\ndecision = \"forbid\"\nmatch = [[\"rmdir\", \"x\"]]\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rules.toml:1: example [\"rmdir\", \"x\"] does not match the prefix"
        );
        let err = rules(
            "\n[[rule]]\nprefix = [\"rm\"]\ndecision = \"forbid\"\nnot_match = [[\"rm\", \"-r\"]]\n",
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("rules.toml:2: example"),
            "{err}"
        );
    }

    #[test]
    fn network_rules() {
        let rules = rules(
            "[[network]]\nhost = \"*.npmjs.org\"\ndecision = \"allow\"\n\n\
             [[network]]\nhost = \"evil.npmjs.org\"\ndecision = \"forbid\"\n",
        )
        .unwrap();
        let decide = |host: &str| {
            rules
                .evaluate_network(&Host::parse(host).unwrap(), 443, None)
                .map(|r| (r.decision, r.line))
        };
        assert_eq!(decide("registry.npmjs.org"), Some((Decision::Allow, 1)));
        assert_eq!(decide("evil.npmjs.org"), Some((Decision::Forbid, 5)));
        assert_eq!(decide("npmjs.org"), None);
        let err = self::rules("[[network]]\nhost = \"a b\"\ndecision = \"allow\"\n").unwrap_err();
        assert!(
            err.to_string().starts_with("rules.toml:1: host a b: "),
            "{err}"
        );
    }

    #[test]
    fn bad_files_name_the_line_and_the_problem() {
        let err = rules("[[rule]]\nprefix = []\ndecision = \"allow\"\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "rules.toml:1: empty prefix: it would match every command"
        );
        let err = rules("[[rule]]\nprefix = [\"a\"]\ndecision = \"maybe\"\n").unwrap_err();
        assert!(
            err.to_string().starts_with("rules.toml:3: unknown variant"),
            "{err}"
        );
        let err =
            rules("[[rule]]\nprefix = [\"a\"]\ndecision = \"allow\"\nextra = 1\n").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = rules("[[rule]\n").unwrap_err();
        assert!(err.to_string().starts_with("rules.toml:1: "), "{err}");
        assert_eq!(err.to_string().lines().count(), 1);
    }
}
