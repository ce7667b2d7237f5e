//! What a scenario may do is what the person running `cordon test` allows,
//! never what the scenario file says: a scenario from a cloned repository
//! is someone else's code. By default it can only tighten: no run without
//! a sandbox, no native command, no network beyond its own loopback
//! servers, and no path outside its own directory. Each of the first three
//! takes a flag on the command line, which the report names; what a step
//! could still be granted as it runs (an on-failure retry, a connection
//! asked about) is refused by its `cordon run` without asking
//! (`--no-grant`), whatever the scenario's scripted answers say.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::spec::Scenario;
use crate::net::{Allowlist, Host};

/// The flags `cordon test` was given.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Allowed {
    /// `--allow-unsandboxed`: full-access, `unsandboxed`, `writable=DIR`.
    pub unsandboxed: bool,
    /// `--allow-native`: native commands.
    pub native: bool,
    /// `--allow-network`: the network beyond the scenario's own servers.
    pub network: bool,
}

impl Allowed {
    /// The flags given, as typed.
    pub fn flags(&self) -> Vec<&'static str> {
        [
            (self.unsandboxed, "--allow-unsandboxed"),
            (self.native, "--allow-native"),
            (self.network, "--allow-network"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// `network` as a step runs it: without `--allow-network`, a loopback
    /// address on an allow list stands for the scenario's own servers
    /// (`127.0.0.1:PORT` for each of `servers`), and a server's name for
    /// that server's port, not for every service this machine runs.
    pub fn confine_network(&self, network: &str, servers: &[(&str, u16)]) -> String {
        let Some(list) = network.strip_prefix("allow=").filter(|_| !self.network) else {
            return network.to_string();
        };
        let mut entries = Vec::new();
        for item in list.split(',').filter(|item| !item.is_empty()) {
            let host = match item.strip_prefix('[') {
                Some(rest) => rest.split(']').next().unwrap_or_default(),
                None => item.split(':').next().unwrap_or_default(),
            };
            match Host::parse(host) {
                Ok(Host::Ip(ip)) if ip.is_loopback() => {
                    entries.extend(servers.iter().map(|(_, port)| format!("127.0.0.1:{port}")));
                }
                Ok(Host::Name(name)) => match servers.iter().find(|(server, _)| *server == name) {
                    Some((server, port)) => entries.push(format!("{server}:{port}")),
                    None => entries.push(item.to_string()),
                },
                _ => entries.push(item.to_string()),
            }
        }
        match entries.is_empty() {
            true => "off".to_string(),
            false => format!("allow={}", entries.join(",")),
        }
    }

    /// The `--no-grant` kinds every step runs with.
    pub fn no_grant(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if !self.unsandboxed {
            kinds.extend(["unsandboxed", "writable"]);
        }
        if !self.network {
            kinds.push("network");
        }
        kinds
    }

    /// Refuses `scenario` (in `dir`) if it asks for more than allowed.
    ///
    /// # Errors
    ///
    /// One line: what it asks for and the flag that would allow it.
    pub fn check(&self, scenario: &Scenario, dir: &Path) -> Result<(), String> {
        let policy = &scenario.policy;
        let needs =
            |flag: &str, what: &str| Err(format!("{what}: needs {flag} on the command line"));
        if !self.unsandboxed && policy.sandbox == "full-access" {
            return needs("--allow-unsandboxed", "sandbox = \"full-access\"");
        }
        if !self.native && (policy.allow_native || !policy.deterministic) {
            return needs(
                "--allow-native",
                "native commands (allow_native, deterministic = false)",
            );
        }
        let servers: Vec<&str> = scenario.servers.iter().map(|s| s.name.as_str()).collect();
        for step in &scenario.steps {
            match step.escalate.as_deref() {
                Some(grant @ ("unsandboxed" | "writable")) if !self.unsandboxed => {
                    return needs("--allow-unsandboxed", &format!("escalate = {grant:?}"));
                }
                Some(grant) if grant.starts_with("writable=") && !self.unsandboxed => {
                    return needs("--allow-unsandboxed", &format!("escalate = {grant:?}"));
                }
                Some(grant) if grant.starts_with("network") && !self.network => {
                    return needs("--allow-network", &format!("escalate = {grant:?}"));
                }
                _ => {}
            }
            let network = step.network.as_deref().unwrap_or(&policy.network);
            if !self.network && !local_network(network, &servers) {
                return needs(
                    "--allow-network",
                    &format!("network = {network:?} (beyond the scenario's own servers)"),
                );
            }
        }
        let far_pin = policy.resolve.iter().find(|pin| !loopback_pin(pin));
        if let (false, Some(pin)) = (self.network, far_pin) {
            return needs(
                "--allow-network",
                &format!("resolve = {pin:?} (not a loopback address)"),
            );
        }
        // A name pinned to this machine reaches every service it runs;
        // the scenario's servers are pinned to theirs already.
        if let (false, Some(pin)) = (self.network, policy.resolve.first()) {
            return needs(
                "--allow-network",
                &format!(
                    "resolve = {pin:?} (a name pinned to this machine reaches its every service)"
                ),
            );
        }
        let paths = policy
            .rules
            .iter()
            .chain(&scenario.fixture.dir)
            .chain(scenario.servers.iter().map(|s| &s.dir));
        for path in paths {
            inside(dir, path)?;
        }
        Ok(())
    }
}

/// `path` (relative to `dir`) as it resolves, if that is inside `dir`.
///
/// # Errors
///
/// One line naming the path, when it is elsewhere or missing.
pub fn inside(dir: &Path, path: &Path) -> Result<PathBuf, String> {
    let base = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let real = base
        .join(path)
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if real.starts_with(&base) {
        Ok(real)
    } else {
        Err(format!(
            "{}: outside the scenario's directory {}; a scenario reads only its own files",
            path.display(),
            base.display()
        ))
    }
}

/// Whether `network` (a `--network` value) reaches only the scenario's
/// servers and loopback addresses.
fn local_network(network: &str, servers: &[&str]) -> bool {
    match network.strip_prefix("allow=") {
        _ if network == "off" => true,
        Some(list) => Allowlist::parse(list).is_ok_and(|list| {
            list.only_hosts(|host| match host {
                Host::Ip(ip) => ip.is_loopback(),
                Host::Name(name) => servers.contains(&name.as_str()),
            })
        }),
        None => false,
    }
}

/// Whether a `--resolve NAME=ADDRESS` pin points at this machine.
fn loopback_pin(pin: &str) -> bool {
    pin.split_once('=').is_some_and(|(_, address)| {
        address
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    })
}
