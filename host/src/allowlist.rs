//! Host names as cordon compares them, and the `--network allow=` list.
//!
//! A name is checked and normalized once, before anything matches it:
//! ASCII letters, digits, `-` and `_` in labels of 1 to 63 bytes, at most
//! 253 bytes, lower-cased, one trailing dot dropped (`example.com.` is the
//! same host as `example.com`). Anything else (a NUL byte, an empty label,
//! a space, non-ASCII) is refused rather than guessed at.

use std::fmt;
use std::net::IpAddr;

/// Where a connection goes: a checked host name or an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name (`*.NAME` for its subdomains).
    Name(String),
    /// An IP address.
    Ip(IpAddr),
}

impl Host {
    /// Parses what a client named: a host name, an IPv4 address, or an IPv6
    /// address with or without brackets.
    ///
    /// # Errors
    ///
    /// Why the text is not a host, for the refusal.
    pub fn parse(text: &str) -> Result<Host, String> {
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Host::Ip(ip.to_canonical()));
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        let shown = text.escape_default().to_string();
        if name.is_empty() || name.len() > 253 {
            return Err(format!("'{shown}': not a host name (length)"));
        }
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("'{shown}': not a host name (empty or long label)"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!("'{shown}': not a host name (character)"));
            }
        }
        // A name that reads as a number would be taken for an address by
        // some resolvers (`0x7f.1`, `2130706433`).
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()) || tld.starts_with("0x"))
        {
            return Err(format!("'{shown}': not a host name (numeric)"));
        }
        Ok(Host::Name(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Which hosts one entry of the list names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(Host),
    /// `*.SUFFIX`: any name with at least one more label before `.SUFFIX`.
    Subdomains(String),
}

/// One `HOST[:PORT]` of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    /// `None`: any port.
    port: Option<u16>,
}

/// The hosts `--network allow=` names. Empty allows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<Entry>,
}

impl Allowlist {
    /// Parses `HOST[:PORT],...`; HOST is a name, `*.NAME`, an IPv4 address
    /// or a bracketed IPv6 address (`[::1]:8080`).
    ///
    /// # Errors
    ///
    /// The first entry that is not one of those.
    pub fn parse(text: &str) -> Result<Allowlist, String> {
        let mut entries = Vec::new();
        for item in text.split(',').filter(|item| !item.is_empty()) {
            entries.push(parse_entry(item)?);
        }
        Ok(Allowlist { entries })
    }

    /// Whether `host:port` is on the list.
    pub fn allows(&self, host: &Host, port: u16) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.port.is_none_or(|p| p == port) && matches(&entry.pattern, host))
    }

    /// The ports the list gives `host`: `None` when it is not listed, an
    /// empty list when any port is.
    pub fn ports_for(&self, host: &Host) -> Option<Vec<u16>> {
        let mut ports = Vec::new();
        let mut listed = false;
        for entry in self.entries.iter().filter(|e| matches(&e.pattern, host)) {
            listed = true;
            match entry.port {
                None => return Some(Vec::new()),
                Some(port) => ports.push(port),
            }
        }
        listed.then_some(ports)
    }

    /// Whether every entry names one host (no `*.NAME`) that `within`
    /// accepts.
    pub fn only_hosts(&self, within: impl Fn(&Host) -> bool) -> bool {
        self.entries.iter().all(|entry| match &entry.pattern {
            Pattern::Exact(host) => within(host),
            Pattern::Subdomains(_) => false,
        })
    }

    /// This list cut down to what `outer` also allows: the entries kept,
    /// and those left out, as given.
    pub fn within(&self, outer: &Allowlist) -> (Allowlist, Vec<String>) {
        let (kept, left_out): (Vec<Entry>, Vec<Entry>) = self
            .entries
            .iter()
            .cloned()
            .partition(|entry| outer.entries.iter().any(|o| covers(o, entry)));
        let shown = left_out
            .into_iter()
            .map(|entry| {
                Allowlist {
                    entries: vec![entry],
                }
                .describe()
            })
            .collect();
        (Allowlist { entries: kept }, shown)
    }

    /// Adds `host` (on `port`, or any), granted for one command.
    pub fn add(&mut self, host: Host, port: Option<u16>) {
        self.entries.push(Entry {
            pattern: Pattern::Exact(host),
            port,
        });
    }

    /// Whether the list names `ip` itself (an address that would otherwise
    /// be refused as loopback, private or link-local).
    pub fn names_address(&self, ip: IpAddr, port: u16) -> bool {
        self.allows(&Host::Ip(ip.to_canonical()), port)
    }

    /// The entries, as given, for messages.
    pub fn describe(&self) -> String {
        let shown: Vec<String> = self
            .entries
            .iter()
            .map(|entry| {
                let host = match &entry.pattern {
                    Pattern::Exact(host) => host.to_string(),
                    Pattern::Subdomains(suffix) => format!("*.{suffix}"),
                };
                match entry.port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            })
            .collect();
        shown.join(",")
    }
}

fn parse_entry(item: &str) -> Result<Entry, String> {
    let bad = |why: &str| format!("allow={item}: {why}");
    // `[v6]:port`, `[v6]`, `name:port`, `name`, but a bare v6 (two colons
    // or more) is an address without a port.
    let (host, port) = if let Some(rest) = item.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        match after {
            "" => (format!("[{ip}]"), None),
            _ => (
                format!("[{ip}]"),
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected :PORT after ]"))?,
                ),
            ),
        }
    } else if item.matches(':').count() == 1 {
        let (host, port) = item.split_once(':').expect("one colon");
        (host.to_string(), Some(port))
    } else {
        (item.to_string(), None)
    };
    let port = port
        .map(|p| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("the port is not a number from 1 to 65535")),
            Ok(port) => Ok(port),
        })
        .transpose()?;
    let pattern = match host.strip_prefix("*.") {
        Some(suffix) => match Host::parse(suffix).map_err(|e| bad(&e))? {
            Host::Name(name) => Pattern::Subdomains(name),
            Host::Ip(_) => return Err(bad("a wildcard needs a name, not an address")),
        },
        None if host.contains('*') => return Err(bad("* is only allowed as a first label *.")),
        None => Pattern::Exact(Host::parse(&host).map_err(|e| bad(&e))?),
    };
    Ok(Entry { pattern, port })
}

/// Whether every host and port `inner` names, `outer` names too.
fn covers(outer: &Entry, inner: &Entry) -> bool {
    let ports = outer.port.is_none() || outer.port == inner.port;
    ports
        && match (&outer.pattern, &inner.pattern) {
            (pattern, Pattern::Exact(host)) => matches(pattern, host),
            (Pattern::Subdomains(outer), Pattern::Subdomains(inner)) => {
                inner == outer || inner.ends_with(&format!(".{outer}"))
            }
            (Pattern::Exact(_), Pattern::Subdomains(_)) => false,
        }
}

fn matches(pattern: &Pattern, host: &Host) -> bool {
    match (pattern, host) {
        (Pattern::Exact(want), host) => want == host,
        (Pattern::Subdomains(suffix), Host::Name(name)) => name
            .strip_suffix(suffix.as_str())
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        (Pattern::Subdomains(_), Host::Ip(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> Host {
        Host::parse(text).unwrap()
    }

    #[test]
    fn names_are_checked_and_normalized() {
        assert_eq!(host("Example.COM."), host("example.com"));
        assert_eq!(host("[::1]"), Host::Ip("::1".parse().unwrap()));
        assert_eq!(
            host("::ffff:127.0.0.1"),
            Host::Ip("127.0.0.1".parse().unwrap())
        );
        for bad in [
            "",
            ".",
            "a..b",
            "evil.com\0.good.com",
            "a b",
            "ex\u{e4}mple.com",
            "x.com..",
            "2130706433",
            "1.2.3.0x7f",
            &"a".repeat(64),
        ] {
            assert!(Host::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_need_a_label_before_the_suffix() {
        let list = Allowlist::parse("*.example.com").unwrap();
        assert!(list.allows(&host("a.example.com"), 443));
        assert!(list.allows(&host("a.b.example.com"), 443));
        for other in [
            "example.com",
            "example.com.evil",
            "badexample.com",
            "a.example.co",
        ] {
            assert!(!list.allows(&host(other), 443), "{other}");
        }
    }

    #[test]
    fn ports_and_addresses() {
        let list = Allowlist::parse("registry.test:443,10.0.0.1,[::1]:8080").unwrap();
        assert!(list.allows(&host("registry.test"), 443));
        assert!(!list.allows(&host("registry.test"), 80));
        assert!(list.names_address("10.0.0.1".parse().unwrap(), 22));
        assert!(list.names_address("::1".parse().unwrap(), 8080));
        assert!(!list.names_address("::1".parse().unwrap(), 80));
        assert_eq!(list.ports_for(&host("registry.test")), Some(vec![443]));
        assert_eq!(list.ports_for(&host("10.0.0.1")), Some(vec![]));
        assert_eq!(list.ports_for(&host("other.test")), None);
        assert_eq!(list.describe(), "registry.test:443,10.0.0.1,[::1]:8080");
    }

    #[test]
    fn empty_allows_nothing_and_bad_entries_are_refused() {
        let empty = Allowlist::parse("").unwrap();
        assert!(!empty.allows(&host("example.com"), 80));
        for bad in [
            "a.com:0",
            "a.com:x",
            "*",
            "*.",
            "a.*.com",
            "*.1.2.3.4",
            "[::1",
            "[::1]x",
        ] {
            assert!(Allowlist::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn within_keeps_only_what_the_outer_list_names() {
        let outer = Allowlist::parse("*.crates.io,github.com:443,10.0.0.1").unwrap();
        let inner = Allowlist::parse(
            "index.crates.io,*.static.crates.io,*.crates.io:443,github.com:443,github.com,\
             *.github.com,10.0.0.1:22,10.0.0.2,crates.io",
        )
        .unwrap();
        let (kept, left_out) = inner.within(&outer);
        assert_eq!(
            kept.describe(),
            "index.crates.io,*.static.crates.io,*.crates.io:443,github.com:443,10.0.0.1:22"
        );
        assert_eq!(
            left_out,
            ["github.com", "*.github.com", "10.0.0.2", "crates.io"]
        );
    }
}
