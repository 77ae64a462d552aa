//! IPv4 address ranges as JD's vpc service takes them: a VPC's or subnet's `addressPrefix`
//! must lie in one of the private blocks (10/8, 172.16/12, 192.168/16); a VPC's prefix
//! length is 16–28 and a subnet's 16–28 as well, and a subnet lies inside its VPC without
//! overlapping another subnet of it. In a subnet the network address, the first two hosts
//! (gateway and DHCP, as JD reserves them) and the broadcast address are never handed out.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The private blocks JD accepts.
const PRIVATE_BLOCKS: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Shortest and longest prefix of a VPC or subnet.
pub const PREFIX_LENGTHS: std::ops::RangeInclusive<u8> = 16..=28;

/// Addresses of a subnet that are never handed out: network, gateway, DHCP, broadcast.
const RESERVED: u32 = 4;

/// Parses `a.b.c.d/n` in canonical form (no host bits set, as JD requires) within the
/// private blocks and the allowed lengths; `None` otherwise.
pub fn parse_private(prefix: &str) -> Option<Ipv4Net> {
    let net: Ipv4Net = prefix.trim().parse().ok()?;
    if net.trunc() != net || !PREFIX_LENGTHS.contains(&net.prefix_len()) {
        return None;
    }
    let private = PRIVATE_BLOCKS
        .iter()
        .map(|b| b.parse::<Ipv4Net>().expect("static block"))
        .any(|b| b.contains(&net));
    private.then_some(net)
}

/// Whether two ranges share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// How many addresses of the subnet can be handed out.
pub fn usable_count(net: &Ipv4Net) -> u32 {
    (1u32 << (32 - net.prefix_len())).saturating_sub(RESERVED)
}

/// The `n`th address handed out in the subnet (0-based), after the reserved ones; `None`
/// past the last usable one.
pub fn nth_usable(net: &Ipv4Net, n: u32) -> Option<Ipv4Addr> {
    if n >= usable_count(net) {
        return None;
    }
    Some(Ipv4Addr::from(u32::from(net.network()) + 3 + n))
}

/// The first and last address handed out (JD's `startIp` / `endIp`).
pub fn usable_range(net: &Ipv4Net) -> (Ipv4Addr, Ipv4Addr) {
    let first = u32::from(net.network()) + 3;
    let last = u32::from(net.broadcast()) - 1;
    (Ipv4Addr::from(first), Ipv4Addr::from(last))
}

/// Whether `ip` is one the subnet may hand out.
pub fn is_usable(net: &Ipv4Net, ip: Ipv4Addr) -> bool {
    let (first, last) = usable_range(net);
    net.contains(&ip) && ip >= first && ip <= last
}

/// A security-group rule's address: one IPv4 address or a canonical range (`0.0.0.0/0`).
pub fn is_ipv4_or_range(s: &str) -> bool {
    if s.contains('/') {
        s.parse::<Ipv4Net>().is_ok_and(|n| n.trunc() == n)
    } else {
        s.parse::<Ipv4Addr>().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_canonical_private_prefixes_of_the_allowed_lengths() {
        assert!(parse_private("10.0.0.0/16").is_some());
        assert!(parse_private("172.16.0.0/20").is_some());
        assert!(parse_private("192.168.0.0/28").is_some());
        for bad in [
            "8.8.8.0/24",
            "10.0.0.1/24",
            "10.0.0.0/8",
            "192.168.0.0/29",
            "172.32.0.0/16",
            "10.0.0.0",
            "10.0.0.0/33",
            "",
            "garbage",
        ] {
            assert!(parse_private(bad).is_none(), "{bad} accepted");
        }
    }

    #[test]
    fn reserved_addresses_are_never_handed_out() {
        let net: Ipv4Net = "192.168.0.0/28".parse().unwrap();
        assert_eq!(usable_count(&net), 12);
        assert_eq!(nth_usable(&net, 0), Some("192.168.0.3".parse().unwrap()));
        assert_eq!(nth_usable(&net, 11), Some("192.168.0.14".parse().unwrap()));
        assert_eq!(nth_usable(&net, 12), None);
        assert!(!is_usable(&net, "192.168.0.1".parse().unwrap()));
        assert!(!is_usable(&net, "192.168.0.15".parse().unwrap()));
        assert!(!is_usable(&net, "192.168.1.5".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,40}") {
            let _ = parse_private(&s);
            let _ = is_ipv4_or_range(&s);
        }

        #[test]
        fn overlap_is_symmetric_and_matches_a_shared_address(
            a in 0u32..4096, la in 16u8..=28, b in 0u32..4096, lb in 16u8..=28,
        ) {
            let net = |x: u32, l: u8| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (x << 8)), l).unwrap().trunc();
            let (x, y) = (net(a, la), net(b, lb));
            prop_assert_eq!(overlaps(&x, &y), overlaps(&y, &x));
            let shared = x.contains(&y.network()) || x.contains(&y.broadcast())
                || y.contains(&x.network());
            prop_assert_eq!(overlaps(&x, &y), shared);
        }

        #[test]
        fn every_handed_out_address_is_usable_and_distinct(l in 20u8..=28, n in 0u32..5000) {
            let net: Ipv4Net = Ipv4Net::new(Ipv4Addr::new(10, 1, 0, 0), l).unwrap().trunc();
            match nth_usable(&net, n) {
                Some(ip) => {
                    prop_assert!(is_usable(&net, ip));
                    if n > 0 {
                        prop_assert_ne!(nth_usable(&net, n - 1), Some(ip));
                    }
                }
                None => prop_assert!(n >= usable_count(&net)),
            }
        }
    }
}
