//! The one place a sandboxed connection is decided, for WASI sockets and
//! the native commands' proxy alike: the name is checked, the broker
//! decides (the allowlist, network rules, session grants, a person), the
//! host resolves it, and the addresses are checked. The caller connects
//! only to the addresses returned, so a name cannot be re-resolved to
//! somewhere else between the check and the connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use super::Grants;
use super::address;
use crate::allowlist::Host;
use crate::observe::Observer;
use crate::request::Request;

/// Tells the person running cordon why a connection was refused: the
/// command itself may only say that it failed.
pub fn report_refusal(notes: &dyn Observer, why: &str) {
    notes.note(&format!("connection refused: {why}"));
}

/// Decides connections the allowlist alone cannot: the broker.
pub trait Decider: Send + Sync {
    /// Whether `request`'s command may connect to `host:port` (`port` 0:
    /// a name lookup, any port); `listed` when the allowlist names it.
    ///
    /// # Errors
    ///
    /// Why not, in one line.
    /// On success, the ports a rule limited the grant to (`None`: any, or
    /// not limited by the decider: the allowlist's own ports apply).
    fn decide(
        &self,
        request: &Request,
        host: &Host,
        port: u16,
        listed: bool,
    ) -> Result<Option<Vec<u16>>, String>;

    /// Records a connection refused after the decision (where the name led).
    fn refused(&self, request: &Request, host: &Host, port: u16, why: &str);
}

/// The network of one command run: what it may reach and who decides.
pub struct Gate {
    grants: Grants,
    request: Request,
    /// Addresses handed out for granted names, and the ports each may use.
    vetted: Mutex<Vec<(IpAddr, Ports)>>,
    notes: Arc<dyn Observer>,
}

impl Gate {
    /// The gate of the command `request` describes; `notes` hears why a
    /// connection was refused.
    pub fn new(grants: Grants, request: Request, notes: Arc<dyn Observer>) -> Gate {
        Gate {
            grants,
            request,
            vetted: Mutex::new(Vec::new()),
            notes,
        }
    }

    /// `result`, its refusal told to the person.
    fn said<T>(&self, result: Result<T, String>) -> Result<T, String> {
        if let Err(why) = &result {
            report_refusal(self.notes.as_ref(), why);
        }
        result
    }

    /// Where a connection to `host:port` may go: decided, resolved and
    /// checked.
    ///
    /// # Errors
    ///
    /// Why the connection is refused, in one line.
    pub fn connect_targets(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        self.said(Host::parse(host).and_then(|host| {
            let listed = self.grants.allow.allows(&host, port);
            self.grants
                .decider
                .decide(&self.request, &host, port, listed)?;
            let addrs = self.checked_addresses(&host, Some(port), None)?;
            Ok(addrs
                .into_iter()
                .map(|(ip, _)| SocketAddr::new(ip, port))
                .collect())
        }))
    }

    /// A guest's name lookup: the name is decided as a connection to any
    /// port the allowlist gives it, and the addresses returned are the only
    /// ones a later connect may use (with those ports).
    ///
    /// # Errors
    ///
    /// As [`Gate::connect_targets`].
    pub fn lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        self.said(self.vetted_lookup(name))
    }

    fn vetted_lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let host = Host::parse(name)?;
        let listed = self.grants.allow.ports_for(&host);
        let granted = self
            .grants
            .decider
            .decide(&self.request, &host, 0, listed.is_some())?;
        // The list's ports, else a rule's; listed without a port, or
        // approved by a person: any port.
        let ports = match listed {
            Some(listed) => Some(listed).filter(|p| !p.is_empty()),
            None => granted,
        };
        let addrs = self.checked_addresses(&host, None, ports)?;
        let handed_out = addrs.iter().map(|(ip, _)| *ip).collect();
        self.vetted.lock().expect("gate lock").extend(addrs);
        Ok(handed_out)
    }

    /// Whether a guest may connect to `addr`: an address a lookup handed
    /// out (on its ports), or else decided as a connection to the address
    /// itself.
    pub fn may_connect(&self, addr: SocketAddr) -> bool {
        self.handed_out(addr)
            || self
                .connect_targets(&addr.ip().to_canonical().to_string(), addr.port())
                .is_ok_and(|targets| !targets.is_empty())
    }

    /// Whether a lookup handed out `addr`'s address for its port.
    pub fn handed_out(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        self.vetted
            .lock()
            .expect("gate lock")
            .iter()
            .any(|(vetted, ports)| *vetted == ip && admits(ports, addr.port()))
    }

    /// The addresses of `host` a connection may use, each with its ports:
    /// for a name, those that are not loopback, private, link-local or
    /// metadata, unless the allowlist names that address itself (then on
    /// the ports it names there). `port`: the one connection's port;
    /// `name_ports`: the ports the name was granted on.
    fn checked_addresses(
        &self,
        host: &Host,
        port: Option<u16>,
        name_ports: Ports,
    ) -> Result<Vec<(IpAddr, Ports)>, String> {
        let shown_port = port.unwrap_or(0);
        let refuse = |why: String| {
            self.grants
                .decider
                .refused(&self.request, host, shown_port, &why);
            Err(why)
        };
        let found = match self.grants.resolver.resolve(host) {
            Ok(found) => found,
            Err(why) => return refuse(why),
        };
        if let Host::Ip(_) = host {
            // Decided as itself: naming the address was the explicit part.
            return Ok(found
                .into_iter()
                .map(|ip| (ip, name_ports.clone()))
                .collect());
        }
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for ip in found {
            let ports = match address::special(ip) {
                None => name_ports.clone(),
                Some(kind) => {
                    let named = self.grants.allow.ports_for(&Host::Ip(ip));
                    match named.map(|p| intersect(&name_ports, p)) {
                        Some(ports)
                            if ports.as_ref().is_none_or(|p| !p.is_empty())
                                && port.is_none_or(|p| admits(&ports, p)) =>
                        {
                            ports
                        }
                        _ => {
                            dropped.push(format!("{ip} ({kind})"));
                            continue;
                        }
                    }
                }
            };
            kept.push((ip, ports));
        }
        if kept.is_empty() {
            return refuse(format!(
                "{host} resolves only to {}, refused unless that address is allowed itself",
                dropped.join(", ")
            ));
        }
        Ok(kept)
    }
}

/// Ports an address may be used on; `None`: any.
type Ports = Option<Vec<u16>>;

fn admits(ports: &Ports, port: u16) -> bool {
    ports.as_ref().is_none_or(|p| p.contains(&port))
}

/// The ports both allow (`named` empty: any).
fn intersect(ports: &Ports, named: Vec<u16>) -> Ports {
    match (ports, named.is_empty()) {
        (None, true) => None,
        (None, false) => Some(named),
        (Some(ports), true) => Some(ports.clone()),
        (Some(ports), false) => Some(
            ports
                .iter()
                .copied()
                .filter(|p| named.contains(p))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{Allowlist, Resolver};
    use std::sync::Arc;

    /// Allows names (on the ports given), refuses addresses.
    struct NamesOnly(Option<Vec<u16>>);

    impl Decider for NamesOnly {
        fn decide(
            &self,
            _: &Request,
            host: &Host,
            _: u16,
            _: bool,
        ) -> Result<Option<Vec<u16>>, String> {
            match host {
                Host::Name(_) => Ok(self.0.clone()),
                Host::Ip(_) => Err("an address".into()),
            }
        }
        fn refused(&self, _: &Request, _: &Host, _: u16, _: &str) {}
    }

    fn gate(list: &str, decider: NamesOnly) -> Gate {
        let mut resolver = Resolver::default();
        resolver.pin("api.test=93.184.216.34").unwrap();
        resolver.pin("inside.test=10.0.0.7").unwrap();
        let grants = Grants {
            allow: Allowlist::parse(list).unwrap(),
            resolver,
            decider: Arc::new(decider),
        };
        let request = Request {
            argv: vec!["probe".into()],
            cwd: "/p".into(),
            engine: "wasi",
            sandbox: "workspace-write",
            escalation: None,
            justification: None,
            program_sha256: None,
            env: Vec::new(),
        };
        Gate::new(grants, request, Arc::new(crate::observe::Quiet))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    /// A lookup granted for one port (a rule `api.test:443`) hands the
    /// address out for that port only.
    #[test]
    fn a_lookup_keeps_the_ports_it_was_granted() {
        let g = gate("", NamesOnly(Some(vec![443])));
        assert_eq!(
            g.lookup("api.test").unwrap(),
            vec!["93.184.216.34".parse::<IpAddr>().unwrap()]
        );
        assert!(g.may_connect(addr("93.184.216.34:443")));
        assert!(!g.may_connect(addr("93.184.216.34:25")));
        // Listed with a port: the list's port.
        let g = gate("api.test:8443", NamesOnly(None));
        g.lookup("api.test").unwrap();
        assert!(g.handed_out(addr("93.184.216.34:8443")));
        assert!(!g.handed_out(addr("93.184.216.34:443")));
        // Granted without a port: any.
        let g = gate("", NamesOnly(None));
        g.lookup("api.test").unwrap();
        assert!(g.handed_out(addr("93.184.216.34:25")));
    }

    /// A granted name leading to a private address is refused, and nothing
    /// is handed out.
    #[test]
    fn private_addresses_stay_closed_behind_a_granted_name() {
        let g = gate("inside.test", NamesOnly(None));
        let err = g.lookup("inside.test").unwrap_err();
        assert!(err.contains("10.0.0.7 (private)"), "{err}");
        assert!(!g.may_connect(addr("10.0.0.7:80")));
        let targets = g.connect_targets("api.test", 443).unwrap();
        assert_eq!(targets, vec![addr("93.184.216.34:443")]);
    }
}
