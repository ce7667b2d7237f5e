//! Addresses a granted name must not lead to unless the user named them:
//! the machine itself (loopback and every address of its own interfaces,
//! public or not), the private networks around it, and the cloud metadata
//! endpoints that hand out credentials.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is not an ordinary public address, or `None` when it is.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    let ip = ip.to_canonical();
    let by_range = match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    };
    by_range.or_else(|| this_machine(ip).then_some("an address of this machine"))
}

/// Whether `ip` is this machine's: assigned to one of its interfaces, or
/// in the network of an address on a loopback interface (Linux delivers
/// that whole network locally: `8.8.5.1/24` on `lo` makes `8.8.5.7`
/// local). Read afresh (addresses come and go). A machine whose
/// interfaces cannot be read counts every address as its own: refused,
/// never let through. Local routes made by other means (`ip route add
/// local ...` on another interface) are not seen.
#[cfg(unix)]
fn this_machine(ip: IpAddr) -> bool {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` on success; freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return true;
    }
    let mut found = false;
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: a node of the list getifaddrs made, alive until freed.
        let node = unsafe { &*entry };
        if let Some(addr) = interface_address(node.ifa_addr) {
            let loopback = node.ifa_flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
            found |= addr == ip
                || (loopback
                    && interface_address(node.ifa_netmask)
                        .is_some_and(|mask| same_network(addr, ip, mask)));
        }
        entry = node.ifa_next;
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// Whether `a` and `b` are in the same network under `mask`.
#[cfg(unix)]
fn same_network(a: IpAddr, b: IpAddr, mask: IpAddr) -> bool {
    match (a, b, mask) {
        (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(m)) => {
            a.to_bits() & m.to_bits() == b.to_bits() & m.to_bits()
        }
        (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(m)) => {
            a.to_bits() & m.to_bits() == b.to_bits() & m.to_bits()
        }
        _ => false,
    }
}

/// The IP address in a `sockaddr` of getifaddrs, if it holds one.
#[cfg(unix)]
fn interface_address(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: getifaddrs' sockaddrs are as long as their family says.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET => {
                let v4 = &*addr.cast::<libc::sockaddr_in>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
            }
            libc::AF_INET6 => {
                let v6 = &*addr.cast::<libc::sockaddr_in6>();
                Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// Without getifaddrs: the ranges above are all that is known.
#[cfg(not(unix))]
fn this_machine(_ip: IpAddr) -> bool {
    false
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
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation range",
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
        0x2001 if segments[1] == 0x0db8 => "documentation range",
        0x3fff if segments[1] < 0x1000 => "documentation range",
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

    #[cfg(unix)]
    #[test]
    fn every_address_of_this_machine_is_special() {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: as in this_machine.
        assert_eq!(unsafe { libc::getifaddrs(&mut list) }, 0);
        let mut entry = list;
        while !entry.is_null() {
            // SAFETY: as in this_machine.
            let node = unsafe { &*entry };
            if let Some(ip) = interface_address(node.ifa_addr) {
                assert!(this_machine(ip), "{ip}");
                assert!(special(ip).is_some(), "{ip}");
            }
            entry = node.ifa_next;
        }
        // SAFETY: as in this_machine.
        unsafe { libc::freeifaddrs(list) };
        assert!(!this_machine("93.184.216.34".parse().unwrap()));
    }

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
            "192.0.2.10",
            "203.0.113.7",
            "2001:db8::1",
            "3fff:abc::1",
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
