//! The scenario file format (docs/SCENARIOS.md has a commented example).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One scenario, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in the report; the file's stem by default.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub fixture: Fixture,
    #[serde(default)]
    pub policy: Policy,
    /// Loopback HTTP servers the steps may reach (by name, through
    /// `--network allow=`).
    #[serde(default, rename = "server")]
    pub servers: Vec<Server>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// What the project root holds before the first step.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// A directory copied as the root, relative to the scenario file.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Files written over it: path in the root -> content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Files written in the home (HOME of every step): path -> content.
    #[serde(default)]
    pub home: BTreeMap<String, String>,
}

/// The `cordon run` options every step gets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default = "Policy::default_sandbox")]
    pub sandbox: String,
    #[serde(default = "Policy::default_approval")]
    pub approval: String,
    #[serde(default = "Policy::default_network")]
    pub network: String,
    /// Rules files, relative to the scenario file.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// `--resolve NAME=ADDRESS` pins.
    #[serde(default)]
    pub resolve: Vec<String>,
    /// `--allow-secret` globs.
    #[serde(default)]
    pub allow_secret: Vec<String>,
    /// WASI tools run deterministically (the default); native commands
    /// then need `allow_native`, and are marked non-deterministic.
    #[serde(default = "Policy::yes")]
    pub deterministic: bool,
    #[serde(default)]
    pub allow_native: bool,
    /// Seconds each step may take [default: 60].
    #[serde(default)]
    pub timeout: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            sandbox: Policy::default_sandbox(),
            approval: Policy::default_approval(),
            network: Policy::default_network(),
            rules: Vec::new(),
            resolve: Vec::new(),
            allow_secret: Vec::new(),
            deterministic: true,
            allow_native: false,
            timeout: None,
        }
    }
}

impl Policy {
    fn default_sandbox() -> String {
        "workspace-write".into()
    }
    fn default_approval() -> String {
        "on-request".into()
    }
    fn default_network() -> String {
        "off".into()
    }
    fn yes() -> bool {
        true
    }
}

/// A static HTTP server on loopback, for the steps that download.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// The host name it answers to (pinned to 127.0.0.1 for every step).
    pub name: String,
    /// The directory it serves, relative to the scenario file. `{{origin}}`
    /// in a served file becomes `http://NAME:PORT`.
    pub dir: PathBuf,
}

/// One agent action and what must come of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A shell line (`cordon run -c LINE`)...
    #[serde(default)]
    pub run: Option<String>,
    /// ...or an argv (`cordon run -- ARGV`).
    #[serde(default)]
    pub argv: Option<Vec<String>>,
    /// Working directory inside the root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Escalation asked for (`--escalate`).
    #[serde(default)]
    pub escalate: Option<String>,
    /// The policy's network, for this step only.
    #[serde(default)]
    pub network: Option<String>,
    /// The scripted approver's answers, in order (`once`, `session`,
    /// `always`, `deny WHY`, `edit COMMAND`, `abort`); none left is a denial.
    #[serde(default)]
    pub answers: Vec<String>,
    #[serde(default)]
    pub expect: Expect,
}

/// What a step must show; anything left out is not checked (the golden
/// transcript, once blessed, checks everything).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub exit: Option<i32>,
    /// The broker's final decision: run, approved, approved-for-session,
    /// approved-always, refused, denied, aborted.
    pub decision: Option<String>,
    /// What the person was asked about, in order: a command line, or
    /// `connect HOST[:PORT]`.
    pub asked: Option<Vec<String>>,
    /// stdout: exactly this, matching this regex, or with this sha256.
    pub stdout: Option<String>,
    pub stdout_regex: Option<String>,
    pub stdout_sha256: Option<String>,
    /// stderr, the same ways.
    pub stderr: Option<String>,
    pub stderr_regex: Option<String>,
    pub stderr_sha256: Option<String>,
    /// Paths created, modified, removed in the root and (as `~/PATH`) the
    /// home, exactly these.
    pub created: Option<Vec<String>>,
    pub modified: Option<Vec<String>>,
    pub removed: Option<Vec<String>>,
    /// Files' contents after the step, by sha256.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// What the sandbox was seen refusing: write, read, network.
    pub violations: Option<Vec<String>>,
    /// Requests a server answered during the step, by its name.
    #[serde(default)]
    pub requests: BTreeMap<String, usize>,
}

/// Loads `file`.
///
/// # Errors
///
/// `FILE:LINE: problem`, in one line.
pub fn load(file: &Path) -> Result<Scenario, String> {
    let text = crate::config_file::read_text(file, crate::config_file::CONFIG_LIMIT)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let at = |offset: usize, message: &str| {
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        format!("{}:{line}: {message}", file.display())
    };
    let scenario: Scenario = toml::from_str(&text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        at(offset, err.message().trim())
    })?;
    for (n, step) in scenario.steps.iter().enumerate() {
        if step.run.is_some() == step.argv.is_some() {
            let offset = nth_step_offset(&text, n);
            return Err(at(offset, "a step needs exactly one of run or argv"));
        }
    }
    if scenario.steps.is_empty() {
        return Err(at(0, "no [[step]]"));
    }
    Ok(scenario)
}

/// Where the `n`th `[[step]]` table starts, for messages.
fn nth_step_offset(text: &str, n: usize) -> usize {
    text.match_indices("[[step]]").nth(n).map_or(0, |(i, _)| i)
}
