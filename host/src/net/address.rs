//! Addresses a granted name must not lead to unless the user named them:
//! the machine itself, the private networks around it, and the cloud
//! metadata endpoints that hand out credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not an ordinary public address, or `None` when it is.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        (169, 254, _) => "link-local (cloud metadata)",
        // Alibaba Cloud's metadata service.
        (100, 100, 100) => "cloud metadata",
        // Azure's WireServer, which hands a VM its configuration and
        // certificates; a public address, so named here.
        _ if ip == Ipv4Addr::new(168, 63, 129, 16) => "cloud metadata (Azure WireServer)",
        _ if ip.is_private() => "private",
        (100, 64..=127, _) => "shared address space",
        (192, 0, 0) => "IETF protocol assignments",
        (198, 18..=19, _) => "benchmarking",
        _ if ip.is_multicast() || a >= 240 => "multicast or reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    Some(match segments[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // AWS's metadata service over IPv6, fd00:ec2::254, is in here too.
        0xfc00..=0xfdff => "private (unique local)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        // 6to4 and NAT64 embed an IPv4 address that may be private.
        0x2002 => return special_v4(Ipv4Addr::from_bits((ip.to_bits() >> 80) as u32)),
        0x0064 if segments[1] == 0xff9b => {
            return special_v4(Ipv4Addr::from_bits(ip.to_bits() as u32));
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "168.63.129.16",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "2002:7f00:1::",
            "64:ff9b::a00:1",
        ] {
            assert!(special(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "168.63.129.17",
            "2606:4700::1111",
            "2002:5db8:d822::",
        ] {
            assert_eq!(special(ip.parse().unwrap()), None, "{ip}");
        }
    }
}
