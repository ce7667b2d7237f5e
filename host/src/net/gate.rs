//! The one place a sandboxed connection is decided, for WASI sockets and
//! the native commands' proxy alike: the name is checked, the broker
//! decides (the allowlist, network rules, session grants, a person), the
//! host resolves it, and the addresses are checked. The caller connects
//! only to the addresses returned, so a name cannot be re-resolved to
//! somewhere else between the check and the connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use super::Grants;
use super::address;
use super::allowlist::Host;
use crate::broker::Request;

/// Tells the person running cordon why a connection was refused: the
/// command itself may only say that it failed.
fn said<T>(result: Result<T, String>) -> Result<T, String> {
    if let Err(why) = &result {
        eprintln!("cordon: connection refused: {why}");
    }
    result
}

/// Decides connections the allowlist alone cannot: the broker.
pub trait Decider: Send + Sync {
    /// Whether `request`'s command may connect to `host:port` (`port` 0:
    /// a name lookup, any port); `listed` when the allowlist names it.
    ///
    /// # Errors
    ///
    /// Why not, in one line.
    fn decide(&self, request: &Request, host: &Host, port: u16, listed: bool)
    -> Result<(), String>;

    /// Records a connection refused after the decision (where the name led).
    fn refused(&self, request: &Request, host: &Host, port: u16, why: &str);
}

/// The network of one command run: what it may reach and who decides.
pub struct Gate {
    grants: Grants,
    request: Request,
    /// Addresses handed out for granted names, and the port each may use
    /// (`None`: any).
    vetted: Mutex<Vec<(IpAddr, Option<u16>)>>,
}

impl Gate {
    pub fn new(grants: Grants, request: Request) -> Gate {
        Gate {
            grants,
            request,
            vetted: Mutex::new(Vec::new()),
        }
    }

    /// Where a connection to `host:port` may go: decided, resolved and
    /// checked.
    ///
    /// # Errors
    ///
    /// Why the connection is refused, in one line.
    pub fn connect_targets(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        said(Host::parse(host).and_then(|host| {
            let listed = self.grants.allow.allows(&host, port);
            self.grants
                .decider
                .decide(&self.request, &host, port, listed)?;
            let addrs = self.checked_addresses(&host, port)?;
            Ok(addrs
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
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
        said(self.vetted_lookup(name))
    }

    fn vetted_lookup(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let host = Host::parse(name)?;
        let ports = self.grants.allow.ports_for(&host);
        let listed = ports.is_some();
        self.grants
            .decider
            .decide(&self.request, &host, 0, listed)?;
        // Approved by a person or a rule without a listed port: any port.
        let ports = ports.unwrap_or_default();
        let addrs = self.checked_addresses(&host, ports.first().copied().unwrap_or(0))?;
        let mut vetted = self.vetted.lock().expect("gate lock");
        for ip in &addrs {
            if ports.is_empty() {
                vetted.push((*ip, None));
            }
            vetted.extend(ports.iter().map(|port| (*ip, Some(*port))));
        }
        Ok(addrs)
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
            .any(|(vetted, port)| *vetted == ip && port.is_none_or(|p| p == addr.port()))
    }

    /// The addresses of `host` a connection may use: for a name, those that
    /// are not loopback, private, link-local or metadata, unless the
    /// allowlist names that address itself.
    fn checked_addresses(&self, host: &Host, port: u16) -> Result<Vec<IpAddr>, String> {
        let refuse = |why: String| {
            self.grants.decider.refused(&self.request, host, port, &why);
            Err(why)
        };
        let found = match self.grants.resolver.resolve(host) {
            Ok(found) => found,
            Err(why) => return refuse(why),
        };
        if let Host::Ip(_) = host {
            // Decided as itself: naming the address was the explicit part.
            return Ok(found);
        }
        let mut kept = Vec::new();
        let mut dropped = Vec::new();
        for ip in found {
            match address::special(ip) {
                Some(kind) if !self.grants.allow.names_address(ip, port) => {
                    dropped.push(format!("{ip} ({kind})"));
                }
                _ => kept.push(ip),
            }
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
