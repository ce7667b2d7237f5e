//! What is put to the broker: a [`Request`] to run a command, the
//! [`Escalation`] it may ask for, and the [`ApprovalPolicy`] that says when
//! a person is asked. The bottom layer: the broker, the audit log, the
//! network gate and the engines all speak these types, and this module
//! imports none of them.

use std::path::{Path, PathBuf};

use crate::allowlist::Host;

/// When a person is asked, independent of the sandbox mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Only known-safe read-only commands run unasked.
    Untrusted,
    /// Everything runs sandboxed; when it fails and the sandbox refused
    /// something, the person is asked whether to retry with that grant.
    OnFailure,
    /// Runs sandboxed; asks when the request asks for more or a rule says so.
    #[default]
    OnRequest,
    /// Nobody is asked: what would ask is refused.
    Never,
}

impl ApprovalPolicy {
    /// Every policy, the one asking most first.
    pub const ALL: &[ApprovalPolicy] = &[
        ApprovalPolicy::Untrusted,
        ApprovalPolicy::OnFailure,
        ApprovalPolicy::OnRequest,
        ApprovalPolicy::Never,
    ];

    /// When the policy asks, in a line.
    pub fn help(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "Only known-safe read-only commands run unasked",
            ApprovalPolicy::OnFailure => {
                "Everything runs sandboxed; when it fails and the sandbox refused something, \
                 the person is asked whether to retry with that grant"
            }
            ApprovalPolicy::OnRequest => {
                "Runs sandboxed; asks when the request asks for more or a rule says so"
            }
            ApprovalPolicy::Never => "Nobody is asked: what would ask is refused",
        }
    }

    /// The name as the flag and the settings file write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalPolicy::Untrusted => "untrusted",
            ApprovalPolicy::OnFailure => "on-failure",
            ApprovalPolicy::OnRequest => "on-request",
            ApprovalPolicy::Never => "never",
        }
    }
}

/// More than the sandbox gives, asked for by the request itself
/// (`--escalate`) or offered after a failure (`on-failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escalation {
    /// The host's network.
    Network,
    /// One host (any port when `None`): `--escalate network=HOST`, or a
    /// connection the network gate asks about.
    Host(Host, Option<u16>),
    /// One more writable directory.
    Writable(PathBuf),
    /// What a commit writes in the root's git directories (objects,
    /// refs, logs, the index, COMMIT_EDITMSG), kept once the command ends;
    /// hooks, config and the rest stay read-only (native commands with
    /// namespaces only).
    GitCommit,
    /// No sandbox at all (native commands only).
    Unsandboxed,
    /// Several of the above at once, never `Unsandboxed` (which covers
    /// them all) nor another `Several`: `--escalate` given more than once,
    /// or what on-failure offers when a run failed for more than one
    /// missing grant. Made by [`Escalation::combine`].
    Several(Vec<Escalation>),
}

/// A kind of escalation a session refuses without asking (`--no-grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// `unsandboxed`.
    Unsandboxed,
    /// `writable=DIR`.
    Writable,
    /// `git-commit`.
    GitCommit,
    /// `network`, and `network=HOST` or a connection to a host not on
    /// `--network allow=` (refused, not asked about), unless the host is a
    /// test server's name (see [`Broker::without_grants`]).
    Network,
}

impl std::str::FromStr for GrantKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "unsandboxed" => Ok(GrantKind::Unsandboxed),
            "writable" => Ok(GrantKind::Writable),
            "network" => Ok(GrantKind::Network),
            "git-commit" => Ok(GrantKind::GitCommit),
            _ => Err(format!(
                "expected unsandboxed, writable, git-commit or network, got {text}"
            )),
        }
    }
}

/// An escalation as `--escalate` writes it: `network`,
/// `network=HOST[:PORT]`, `writable=DIR` (named by its real path),
/// `git-commit`, `unsandboxed`.
impl std::str::FromStr for Escalation {
    type Err = String;

    fn from_str(text: &str) -> Result<Escalation, String> {
        match text.split_once('=') {
            None if text == "network" => Ok(Escalation::Network),
            None if text == "unsandboxed" => Ok(Escalation::Unsandboxed),
            None if text == "git-commit" => Ok(Escalation::GitCommit),
            Some(("writable", dir)) => Escalation::writable(Path::new(dir)),
            Some(("network", target)) => {
                let (host, port) = match Host::parse(target) {
                    Ok(host) => (host, None),
                    Err(why) => match target.rsplit_once(':') {
                        Some((host, port)) => (
                            Host::parse(host)?,
                            Some(
                                port.parse()
                                    .map_err(|_| format!("network={target}: bad port"))?,
                            ),
                        ),
                        None => return Err(why),
                    },
                };
                Ok(Escalation::Host(host, port))
            }
            _ => Err(format!(
                "expected network, network=HOST[:PORT], writable=DIR, git-commit or \
                 unsandboxed, got {text}"
            )),
        }
    }
}

impl Escalation {
    /// The grant making `dir` writable, named by its real path (so a
    /// symlink cannot make a person grant one directory and the sandbox
    /// open another).
    ///
    /// # Errors
    ///
    /// `dir` is not an existing directory.
    pub fn writable(dir: &Path) -> Result<Escalation, String> {
        dir.canonicalize()
            .ok()
            .filter(|d| d.is_dir())
            .map(Escalation::Writable)
            .ok_or_else(|| format!("writable={}: not a directory", dir.display()))
    }

    /// `grants` as one escalation: none, the one, or several. Running
    /// unsandboxed covers every other grant, the host's network every
    /// host, and a writable directory those inside it: those covered go,
    /// and so do repeats.
    pub fn combine(grants: impl IntoIterator<Item = Escalation>) -> Option<Escalation> {
        let mut parts: Vec<Escalation> = Vec::new();
        for grant in grants.into_iter().flat_map(|g| g.parts().to_vec()) {
            if grant == Escalation::Unsandboxed {
                return Some(grant);
            }
            if parts.iter().any(|kept| kept.covers(&grant)) {
                continue;
            }
            parts.retain(|kept| !grant.covers(kept));
            parts.push(grant);
        }
        match parts.len() {
            0 => None,
            1 => parts.pop(),
            _ => Some(Escalation::Several(parts)),
        }
    }

    /// The single grants this one is made of.
    pub fn parts(&self) -> &[Escalation] {
        match self {
            Escalation::Several(parts) => parts,
            one => std::slice::from_ref(one),
        }
    }

    /// Whether `self` (a single grant) grants all that `other` does.
    fn covers(&self, other: &Escalation) -> bool {
        match (self, other) {
            (Escalation::Network, Escalation::Host(..)) => true,
            (Escalation::Host(host, None), Escalation::Host(other, _)) => host == other,
            (Escalation::Writable(dir), Escalation::Writable(other)) => other.starts_with(dir),
            _ => self == other,
        }
    }

    /// Which kinds of grant this is.
    pub fn kinds(&self) -> impl Iterator<Item = GrantKind> + '_ {
        self.parts().iter().map(|part| match part {
            Escalation::Network | Escalation::Host(..) => GrantKind::Network,
            Escalation::Writable(_) => GrantKind::Writable,
            Escalation::GitCommit => GrantKind::GitCommit,
            Escalation::Unsandboxed | Escalation::Several(_) => GrantKind::Unsandboxed,
        })
    }

    /// Whether it grants any network.
    pub fn network(&self) -> bool {
        self.kinds().any(|kind| kind == GrantKind::Network)
    }

    /// The single grants, each as `--escalate` takes it.
    pub fn as_flags(&self) -> String {
        let flags: Vec<String> = self
            .parts()
            .iter()
            .map(|part| format!("--escalate {part}"))
            .collect();
        flags.join(" ")
    }
}

impl std::fmt::Display for Escalation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Escalation::Network => write!(f, "network"),
            Escalation::Host(host, None) => write!(f, "network={host}"),
            Escalation::Host(host, Some(port)) => write!(f, "network={host}:{port}"),
            Escalation::Writable(dir) => write!(f, "writable={}", dir.display()),
            Escalation::GitCommit => write!(f, "git-commit"),
            Escalation::Unsandboxed => write!(f, "unsandboxed"),
            Escalation::Several(parts) => {
                let shown: Vec<String> = parts.iter().map(ToString::to_string).collect();
                f.write_str(&shown.join(" and "))
            }
        }
    }
}

/// One command put to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command as it would run.
    pub argv: Vec<String>,
    /// Where it runs, for the person asked.
    pub cwd: PathBuf,
    /// `wasi` or `native`.
    pub engine: &'static str,
    /// The sandbox mode, as the user named it.
    pub sandbox: &'static str,
    /// What it asks for beyond the sandbox, if anything.
    pub escalation: Option<Escalation>,
    /// Why the request needs the escalation, in the requester's words.
    pub justification: Option<String>,
    /// The sha256 (lowercase hex) of the WASI program cordon read to run
    /// it, for rules that name a program by its bytes; `None` for a
    /// built-in tool or a native program.
    pub program_sha256: Option<String>,
    /// Variables the command is given beyond its session's (`KEY=VALUE`,
    /// as `--env` or a protocol's `env` sets them): judged with it, shown
    /// to the person asked, and part of what a session grant covers.
    pub env: Vec<String>,
}
