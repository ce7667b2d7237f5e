//! Network grants: what a sandboxed command may reach, for WASI sockets and
//! for native commands through the host's proxy.
//!
//! `--network off` (the default) gives nothing; `on` shares the host's
//! network; `allow=HOST[:PORT],...` gives exactly those hosts, each
//! connection decided by a [`Gate`]: the name checked, the broker asked
//! (allowlist, network rules, session grants, a person), the name resolved
//! by the host, and loopback, private, link-local and metadata addresses
//! refused unless the list names that address itself.

mod address;
mod gate;
pub mod proxy;
mod resolver;
pub mod tls;

use std::sync::Arc;

pub use crate::allowlist::{Allowlist, Host};
pub use gate::{Decider, Gate, report_refusal};
pub use resolver::Resolver;

use crate::observe::Observer;
use crate::request::Request;

/// What `--network` chose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Network {
    #[default]
    /// No network.
    Off,
    /// The host's network, shared.
    On,
    /// Only these hosts (others are asked about).
    Allow(Allowlist),
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        match text {
            "off" => Ok(Network::Off),
            "on" => Ok(Network::On),
            _ => match text.strip_prefix("allow=") {
                Some(list) => Allowlist::parse(list).map(Network::Allow),
                None => Err(format!(
                    "expected off, on or allow=HOST[:PORT],..., got {text}"
                )),
            },
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Network::Off => f.write_str("off"),
            Network::On => f.write_str("on"),
            Network::Allow(list) => write!(f, "allow={}", list.describe()),
        }
    }
}

/// What one command may reach, as its backend enforces it.
#[derive(Clone, Default)]
pub enum NetAccess {
    #[default]
    /// No network.
    Off,
    /// The host's network, shared.
    On,
    /// Only what the grants decide, connection by connection.
    Gated(Grants),
}

impl NetAccess {
    /// The gate for the command `request` describes, when its network is
    /// gated.
    pub fn gate(&self, request: Request, notes: Arc<dyn Observer>) -> Option<Arc<Gate>> {
        match self {
            NetAccess::Gated(grants) => Some(Arc::new(grants.gate(request, notes))),
            _ => None,
        }
    }
}

impl std::fmt::Debug for NetAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetAccess::Off => f.write_str("Off"),
            NetAccess::On => f.write_str("On"),
            NetAccess::Gated(grants) => write!(f, "Gated({})", grants.allow.describe()),
        }
    }
}

/// The session's network grants: the allowlist, the resolver, and who
/// decides what the list does not (the broker).
#[derive(Clone)]
pub struct Grants {
    /// The hosts reachable without asking.
    pub allow: Allowlist,
    /// How names are resolved (with `--resolve` pins).
    pub resolver: Resolver,
    /// Who decides what the list does not.
    pub decider: Arc<dyn Decider>,
}

impl Grants {
    /// The gate for one command, whose request names it in questions and
    /// in the audit log; `notes` hears why a connection was refused.
    pub fn gate(&self, request: Request, notes: Arc<dyn Observer>) -> Gate {
        Gate::new(self.clone(), request, notes)
    }
}
