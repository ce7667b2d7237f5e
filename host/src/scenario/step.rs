//! Running one step in a session of its own, as `cordon run` runs a
//! command (in this process), and observing it:
//! its exit code and output, what the broker decided and asked (from the
//! audit log), what the sandbox refused, what reached the servers, and
//! what changed in the root and the home.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Allowed;
use super::server::Server;
use super::spec::{Policy, Step};
use crate::broker::approver::ApproverSpec;
use crate::digest::hex;
use crate::io::Buffer;
use crate::net::Network;
use crate::observe::Observer;
use crate::policy::{Determinism, SandboxMode};
use crate::request::{Escalation, GrantKind};
use crate::session::{
    ApproverChoice, CacheChoice, Command, EngineChoice, Engines, RunOutcome, Session, SessionConfig,
};
use crate::settings::{Overrides, Settings};

/// Where a scenario runs: a fresh temporary directory holding the root,
/// the home, an empty config, and each step's answers and audit log.
pub struct Sandbox {
    pub base: PathBuf,
    pub root: PathBuf,
    /// HOME of every step; its paths read `~/PATH` in the transcript.
    pub home: PathBuf,
    /// Named by `--resolve` pins and `{{url:NAME}}`.
    pub servers: Vec<Server>,
}

/// What one step did, as the transcript records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Observed {
    pub command: String,
    /// The `--network` it ran with.
    pub network: String,
    pub decision: String,
    pub asked: Vec<Asked>,
    pub exit: i32,
    /// Null for a step that ran a native command (not deterministic).
    pub stdout_sha256: Option<String>,
    pub stderr_sha256: Option<String>,
    pub created: BTreeMap<String, String>,
    pub modified: BTreeMap<String, String>,
    pub removed: Vec<String>,
    pub violations: Vec<String>,
    /// Requests each server answered during the step.
    pub requests: BTreeMap<String, usize>,
    pub deterministic: bool,
    /// The output itself, for expectations; not in the transcript.
    #[serde(skip)]
    pub stdout: String,
    #[serde(skip)]
    pub stderr: String,
    /// The root's files after the step, path -> sha256.
    #[serde(skip)]
    pub files: BTreeMap<String, String>,
}

/// One question the person was asked, as the audit log carries it: the
/// exact argv (never a joined string) or a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Asked {
    Command {
        argv: Vec<String>,
        /// The escalation asked for, if any.
        escalation: Option<String>,
    },
    Connect {
        /// `HOST:PORT`, or `HOST` for a name lookup.
        connect: String,
    },
}

impl Asked {
    /// As a scenario's `expect.asked` writes it: the command quoted as bash
    /// reads it back, with ` [ESCALATION]`; or `connect HOST[:PORT]`.
    pub fn shown(&self) -> String {
        match self {
            Asked::Command {
                argv,
                escalation: None,
            } => crate::display::command(argv),
            Asked::Command {
                argv,
                escalation: Some(escalation),
            } => format!("{} [{escalation}]", crate::display::command(argv)),
            Asked::Connect { connect } => format!("connect {connect}"),
        }
    }

    /// With ports and paths made stable as output is.
    fn stable(self, sandbox: &Sandbox) -> Asked {
        let stable = |text: &str| sandbox.stable(text.as_bytes());
        match self {
            Asked::Command { argv, escalation } => Asked::Command {
                argv: argv.iter().map(|word| stable(word)).collect(),
                escalation: escalation.as_deref().map(stable),
            },
            Asked::Connect { connect } => Asked::Connect {
                connect: stable(&connect),
            },
        }
    }
}

/// Runs step `n` of a scenario under `policy` (paths relative to `dir`),
/// in a session of its own, as `cordon run` would run it.
pub fn run(
    sandbox: &Sandbox,
    dir: &Path,
    policy: &Policy,
    allowed: Allowed,
    engines: &Arc<Engines>,
    step: &Step,
    n: usize,
) -> std::io::Result<Observed> {
    let answers = sandbox.base.join(format!("answers-{n}.txt"));
    std::fs::write(&answers, step.answers.join("\n") + "\n")?;
    let audit = sandbox.base.join(format!("audit-{n}.jsonl"));
    let before = sandbox.snapshot();
    let served_before = sandbox.requests();

    let network = step.network.as_deref().unwrap_or(&policy.network);
    // As written: the transcript must not depend on a server's port.
    let (shown, command) = match (&step.run, &step.argv) {
        (Some(line), _) => (line.clone(), Command::line(sandbox.expand(line))),
        (None, Some(argv)) => (
            crate::display::command(argv),
            Command::argv(argv.iter().map(|a| sandbox.expand(a))),
        ),
        (None, None) => unreachable!("checked when loading"),
    };
    let stdout = Buffer::default();
    let stderr = Buffer::default();
    let mut command = command.output(stdout.clone(), stderr.clone());
    command.cwd = step.cwd.as_ref().map(PathBuf::from);
    // What a child process given `.output()` reads: nothing.
    command.stdin = Some(std::fs::File::open(NULL_DEVICE)?);
    let setup = StepSetup {
        sandbox,
        dir,
        policy,
        allowed,
        network,
        answers: &answers,
        audit: &audit,
        engines: engines.clone(),
    };
    let outcome = match setup.config(&stderr).and_then(|config| {
        command.escalate = setup.escalation(step)?;
        Session::new(config).map_err(|e| format!("{e:#}"))
    }) {
        Ok(session) => session.run(command),
        Err(why) => RunOutcome::failed(why),
    };
    if let Some(error) = &outcome.error {
        stderr.note(error);
    }
    let after = sandbox.snapshot();
    let requests = sandbox
        .requests()
        .into_iter()
        .map(|(name, count)| {
            let earlier = served_before.get(&name).copied().unwrap_or(0);
            (name, count - earlier)
        })
        .collect();
    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let deterministic = !lines
        .iter()
        .any(|l| l["event"] == "run" && l["engine"] != "wasi");
    let stdout = sandbox.stable(&stdout.bytes());
    let stderr = sandbox.stable(&stderr.bytes());
    let digest = |text: &str| deterministic.then(|| hex(&Sha256::digest(text.as_bytes())));
    let mut observed = Observed {
        command: shown,
        network: network.to_string(),
        decision: decision(&lines),
        asked: asked(&lines)
            .into_iter()
            .map(|question| question.stable(sandbox))
            .collect(),
        exit: outcome.exit_code.into(),
        stdout_sha256: digest(&stdout),
        stderr_sha256: digest(&stderr),
        created: BTreeMap::new(),
        modified: BTreeMap::new(),
        removed: Vec::new(),
        violations: lines
            .iter()
            .filter(|l| l["event"] == "violation")
            .filter_map(|l| l["denied"].as_str().map(str::to_string))
            .collect(),
        requests,
        deterministic,
        stdout,
        stderr,
        files: BTreeMap::new(),
    };
    for (path, hash) in &after {
        match before.get(path) {
            None => {
                observed.created.insert(path.clone(), hash.clone());
            }
            Some(old) if old != hash => {
                observed.modified.insert(path.clone(), hash.clone());
            }
            _ => {}
        }
    }
    observed.removed = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .cloned()
        .collect();
    observed.files = after;
    Ok(observed)
}

impl Sandbox {
    /// The scenario's servers: each name and the port it listens on
    /// (127.0.0.1).
    fn served(&self) -> Vec<(&str, u16)> {
        let servers = self.servers.iter();
        servers
            .map(|server| (server.name.as_str(), server.port))
            .collect()
    }

    /// `{{url:NAME}}` in a step becomes the server's `http://NAME:PORT`.
    fn expand(&self, text: &str) -> String {
        self.servers.iter().fold(text.to_string(), |text, server| {
            let Server { name, port, .. } = server;
            text.replace(
                &format!("{{{{url:{name}}}}}"),
                &format!("http://{name}:{port}"),
            )
        })
    }

    /// Requests each server has answered so far.
    fn requests(&self) -> BTreeMap<String, usize> {
        self.servers
            .iter()
            .map(|server| (server.name.clone(), server.requests()))
            .collect()
    }

    /// Output with what differs between runs written the same way: the
    /// scenario's directory as `/scenario`, the root as `/project`, a
    /// server's port as `PORT`.
    fn stable(&self, bytes: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(bytes)
            .replace(&self.root.display().to_string(), "/project")
            .replace(&self.base.display().to_string(), "/scenario");
        for server in &self.servers {
            text = text.replace(&format!(":{}", server.port), ":PORT");
        }
        text
    }
}

/// The broker's last decision on the step's command (after an edit or a
/// retry, the last one made).
fn decision(lines: &[Value]) -> String {
    lines
        .iter()
        .rev()
        .filter(|l| l["event"] == "decision")
        .filter_map(|l| l["decision"].as_str())
        .find(|d| *d != "edited")
        .unwrap_or("none")
        .to_string()
}

/// What the person was asked, in order: the argv of each question the
/// approver answered, and connections.
fn asked(lines: &[Value]) -> Vec<Asked> {
    let mut asked = Vec::new();
    let mut last_request = None;
    let by_person = |l: &Value| l["by"] == "script";
    for line in lines {
        match line["event"].as_str() {
            Some("request") => {
                last_request = Some(Asked::Command {
                    argv: serde_json::from_value(line["argv"].clone()).unwrap_or_default(),
                    escalation: line["escalation"].as_str().map(str::to_string),
                });
            }
            Some("decision") if by_person(line) => asked.extend(last_request.clone()),
            Some("connect") if by_person(line) => {
                let host = line["host"].as_str().unwrap_or_default();
                asked.push(Asked::Connect {
                    connect: match line["port"].as_u64() {
                        Some(port) => format!("{host}:{port}"),
                        None => host.to_string(),
                    },
                });
            }
            _ => {}
        }
    }
    asked
}

impl Sandbox {
    /// Every file under the root and the home (relative path, `~/PATH`
    /// in the home -> sha256 of its content, text made stable as the
    /// output is), directories as `dir`, symlinks as `-> TARGET`.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut seen = BTreeMap::new();
        let stable = |bytes| self.stable_bytes(bytes);
        walk(&self.root, &self.root, "", &stable, &mut seen);
        walk(&self.home, &self.home, "~/", &stable, &mut seen);
        seen
    }

    /// `bytes` made stable as output is, when they are text.
    fn stable_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        match String::from_utf8(bytes) {
            Ok(text) => self.stable(text.as_bytes()).into_bytes(),
            Err(raw) => raw.into_bytes(),
        }
    }
}

/// Adds what lies under `dir` to `seen`, named `PREFIX` and the path
/// relative to `top`.
fn walk(
    top: &Path,
    dir: &Path,
    prefix: &str,
    stable: &dyn Fn(Vec<u8>) -> Vec<u8>,
    seen: &mut BTreeMap<String, String>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path
            .strip_prefix(top)
            .map(|p| format!("{prefix}{}", p.to_string_lossy()))
            .unwrap_or_default();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let what = if meta.is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            format!("-> {}", target.display())
        } else if meta.is_dir() {
            walk(top, &path, prefix, stable, seen);
            "dir".to_string()
        } else if !meta.is_file() {
            // A FIFO or a socket: opening it could block.
            "special".to_string()
        } else {
            std::fs::read(&path).map_or_else(
                |e| format!("unreadable: {e}"),
                |b| hex(&Sha256::digest(stable(b))),
            )
        };
        seen.insert(relative, what);
    }
}

#[cfg(unix)]
const NULL_DEVICE: &str = "/dev/null";
#[cfg(windows)]
const NULL_DEVICE: &str = "NUL";

/// What a step's session is made of.
struct StepSetup<'a> {
    sandbox: &'a Sandbox,
    dir: &'a Path,
    policy: &'a Policy,
    allowed: Allowed,
    /// The step's network, before it is confined to what is allowed.
    network: &'a str,
    answers: &'a Path,
    audit: &'a Path,
    /// Shared by every step of every scenario of the run.
    engines: Arc<Engines>,
}

impl StepSetup<'_> {
    /// The session of a step: the scenario's policy, confined to what the
    /// command line allowed; nothing of the user's (an empty config,
    /// nothing trusted, a home of the scenario's own).
    fn config(&self, stderr: &Buffer) -> Result<SessionConfig, String> {
        let (sandbox, policy) = (self.sandbox, self.policy);
        let user_config = sandbox.base.join("config").join("cordon");
        let mut settings = Settings::load(&sandbox.root, Some(&user_config), Some(&sandbox.home))?;
        let network = self
            .allowed
            .confine_network(self.network, &sandbox.served());
        let given = Overrides {
            sandbox: Some(named::<SandboxMode>(&policy.sandbox)?),
            approval: Some(named(&policy.approval)?),
            network: Some(network.parse::<Network>()?),
            timeout: Some(crate::settings::seconds(policy.timeout.unwrap_or(60.0))?),
            ..Overrides::default()
        };
        settings.override_with(given, &sandbox.root)?;
        let mut host_env: Vec<(String, String)> = std::env::vars()
            .filter(|(key, _)| key != "HOME" && key != "XDG_CONFIG_HOME")
            .collect();
        host_env.push(("HOME".into(), sandbox.home.display().to_string()));
        let config_home = sandbox.base.join("config");
        host_env.push(("XDG_CONFIG_HOME".into(), config_home.display().to_string()));
        let servers = sandbox
            .servers
            .iter()
            .map(|server| format!("{}=127.0.0.1", server.name));
        Ok(SessionConfig {
            root: sandbox.root.clone(),
            settings,
            approver: ApproverChoice::Spec {
                spec: ApproverSpec::Script(self.answers.to_path_buf()),
                timeout: std::time::Duration::from_secs(300),
            },
            audit: Some(self.audit.to_path_buf()),
            rules: policy.rules.iter().map(|r| self.dir.join(r)).collect(),
            narrowing_rules: Default::default(),
            audit_watcher: None,
            no_grant: self
                .allowed
                .no_grant()
                .into_iter()
                .map(str::parse::<GrantKind>)
                .collect::<Result<_, _>>()?,
            tools: Vec::new(),
            determinism: policy.deterministic.then(Determinism::default),
            allow_native: policy.allow_native,
            engine: EngineChoice::Auto,
            resolve: policy.resolve.iter().cloned().chain(servers).collect(),
            test_servers: Some(
                sandbox
                    .servers
                    .iter()
                    .map(|server| (server.name.clone(), server.port))
                    .collect(),
            ),
            allow_secret: policy.allow_secret.clone(),
            no_namespaces: false,
            // The compile cache stays where it was, out of the scenario's
            // home.
            cache: CacheChoice {
                dir: crate::wasi::CompileCache::default_dir(),
                off: false,
            },
            native_helper: None,
            engines: self.engines.clone(),
            output_digests: false,
            // A step stuck in a host call ends the run, as a stuck
            // `cordon run` would; it must not hang it.
            exit_when_stuck: true,
            observer: Arc::new(stderr.clone()),
            host_env,
            user_config: Some(user_config),
        })
    }

    /// The step's `escalate`, a directory in it named from the root.
    fn escalation(&self, step: &Step) -> Result<Vec<Escalation>, String> {
        let Some(text) = &step.escalate else {
            return Ok(Vec::new());
        };
        let text = match text.strip_prefix("writable=") {
            Some(dir) => format!("writable={}", self.sandbox.root.join(dir).display()),
            None => text.clone(),
        };
        Ok(vec![text.parse::<Escalation>()?])
    }
}

/// A policy word (`workspace-write`, `on-request` ...) as the type it names.
fn named<T: serde::de::DeserializeOwned>(word: &str) -> Result<T, String> {
    use serde::de::IntoDeserializer;
    let deserializer: serde::de::value::StrDeserializer<serde::de::value::Error> =
        word.into_deserializer();
    T::deserialize(deserializer).map_err(|e| format!("{word}: {e}"))
}
