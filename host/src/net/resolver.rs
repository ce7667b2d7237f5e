//! Name lookup, done by the host for the sandbox: a guest or a native
//! command never queries DNS itself, so it cannot leak data through the
//! names it asks for. `--resolve NAME=ADDR` pins a name (tests map their
//! names to loopback servers this way; pinning grants nothing).

use std::collections::BTreeMap;
use std::net::{IpAddr, ToSocketAddrs};

use crate::allowlist::Host;

/// The host's resolver, with the user's pinned names first.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pinned: BTreeMap<String, Vec<IpAddr>>,
}

impl Resolver {
    /// The resolver with each of `pins` (`NAME=ADDRESS`) pinned.
    ///
    /// # Errors
    ///
    /// A pin that is not `NAME=ADDRESS`.
    pub fn pinned(pins: &[String]) -> Result<Resolver, String> {
        let mut resolver = Resolver::default();
        for pin in pins {
            resolver.pin(pin)?;
        }
        Ok(resolver)
    }

    /// Pins `NAME=ADDR` (repeat a name for several addresses).
    ///
    /// # Errors
    ///
    /// When the text is not a host name, `=`, and an address.
    pub fn pin(&mut self, text: &str) -> Result<(), String> {
        let (name, addr) = text
            .split_once('=')
            .ok_or_else(|| format!("--resolve {text}: expected NAME=ADDRESS"))?;
        let Host::Name(name) = Host::parse(name)? else {
            return Err(format!("--resolve {text}: {name} is already an address"));
        };
        let addr = Host::parse(addr)
            .ok()
            .and_then(|host| match host {
                Host::Ip(ip) => Some(ip),
                Host::Name(_) => None,
            })
            .ok_or_else(|| format!("--resolve {text}: {addr} is not an IP address"))?;
        self.pinned.entry(name).or_default().push(addr);
        Ok(())
    }

    /// Whether `host` is a name pinned to loopback addresses only (a test
    /// server of this machine's). An address itself is not: any service
    /// of this machine listens there.
    pub fn pinned_to_loopback(&self, host: &Host) -> bool {
        match host {
            Host::Ip(_) => false,
            Host::Name(name) => self
                .pinned
                .get(name)
                .is_some_and(|addrs| addrs.iter().all(IpAddr::is_loopback)),
        }
    }

    /// The addresses of `host`, in the resolver's order, IPv4-mapped IPv6
    /// addresses written as IPv4.
    ///
    /// # Errors
    ///
    /// When the name does not resolve.
    pub fn resolve(&self, host: &Host) -> Result<Vec<IpAddr>, String> {
        let name = match host {
            Host::Ip(ip) => return Ok(vec![*ip]),
            Host::Name(name) => name,
        };
        if let Some(pinned) = self.pinned.get(name) {
            return Ok(pinned.clone());
        }
        let mut found: Vec<IpAddr> = (name.as_str(), 0)
            .to_socket_addrs()
            .map_err(|e| format!("{name}: does not resolve ({e})"))?
            .map(|addr| addr.ip().to_canonical())
            .collect();
        found.dedup();
        if found.is_empty() {
            return Err(format!("{name}: does not resolve"));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_names_come_first() {
        let mut resolver = Resolver::default();
        resolver.pin("Registry.Test=127.0.0.1").unwrap();
        resolver.pin("registry.test=::1").unwrap();
        let host = Host::parse("registry.test.").unwrap();
        assert_eq!(
            resolver.resolve(&host).unwrap(),
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        for bad in ["x", "x=y", "1.2.3.4=1.2.3.4", "a\0b=1.2.3.4"] {
            assert!(resolver.pin(bad).is_err(), "{bad}");
        }
    }
}
