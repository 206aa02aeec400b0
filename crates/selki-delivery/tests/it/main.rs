//! Which addresses a webhook may reach, the retry schedule, and the
//! destination formats.

mod formats;
mod reference;
mod retries;
mod sending;

use std::net::IpAddr;

use selki_delivery::Destinations;

fn check(guard: &Destinations, address: &str, allowed: bool) {
    let ip: IpAddr = address.parse().expect("an address");
    let verdict = guard.check(ip);
    assert_eq!(verdict.is_ok(), allowed, "{address}: {verdict:?}");
    if let Err(blocked) = verdict {
        assert!(
            blocked.to_string().contains("public addresses"),
            "{blocked}"
        );
    }
}

#[test]
fn only_global_addresses_are_reachable_by_default() {
    let guard = Destinations::default();
    for (address, allowed) in [
        ("93.184.216.34", true),
        ("8.8.8.8", true),
        ("1.1.1.1", true),
        ("2606:4700:4700::1111", true),
        ("2a00:1450:4001:82a::200e", true),
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("127.0.0.1", false),
        ("127.255.255.254", false),
        ("10.0.0.1", false),
        ("172.16.0.1", false),
        ("172.31.255.255", false),
        ("172.32.0.1", true),
        ("192.168.1.1", false),
        ("100.64.0.1", false),
        ("100.127.255.255", false),
        ("100.128.0.1", true),
        ("169.254.169.254", false),
        ("169.254.1.1", false),
        ("192.0.0.8", false),
        ("192.0.2.10", false),
        ("198.51.100.7", false),
        ("203.0.113.9", false),
        ("198.18.0.1", false),
        ("224.0.0.251", false),
        ("239.255.255.250", false),
        ("255.255.255.255", false),
        ("240.0.0.1", false),
        ("::", false),
        ("::1", false),
        ("fe80::1", false),
        ("fc00::1", false),
        ("fd12:3456::1", false),
        ("ff02::1", false),
        ("fec0::1", false),
        ("2001:db8::1", false),
        ("2001::1", false),
        ("100::1", false),
        ("::ffff:127.0.0.1", false),
        ("::ffff:10.1.2.3", false),
        ("::ffff:169.254.169.254", false),
        ("::ffff:93.184.216.34", true),
        ("::127.0.0.1", false),
        ("64:ff9b::10.0.0.1", false),
        ("64:ff9b::93.184.216.34", true),
        ("64:ff9b:1::1", false),
        ("2002:7f00:1::1", false),
        ("2002:c0a8:101::1", false),
        ("2002:5db8:d822::1", true),
        ("fd00:ec2::254", false),
        ("100.100.100.200", false),
        // Only global unicast (2000::/3) is public IPv6.
        ("2620:fe::fe", true),
        ("2000::1", true),
        ("4000::1", false),
        ("8000::1", false),
        ("e000::1", false),
        ("5f00::1", false),
        ("3fff::1", false),
        ("3fff:fff::1", false),
        ("3fff:1000::1", true),
    ] {
        check(&guard, address, allowed);
    }
}

#[test]
fn an_allowlist_opens_internal_ranges_but_not_cloud_metadata() {
    let guard = Destinations::new(&[
        "127.0.0.0/8".into(),
        "10.0.0.0/8".into(),
        "169.254.0.0/16".into(),
        "::1/128".into(),
    ])
    .expect("cidrs");
    check(&guard, "127.0.0.1", true);
    check(&guard, "::ffff:127.0.0.1", true);
    check(&guard, "10.20.30.40", true);
    check(&guard, "::1", true);
    check(&guard, "169.254.1.1", true);
    check(&guard, "169.254.169.254", false);
    check(&guard, "192.168.1.1", false);
    let explicit = Destinations::new(&["169.254.169.254/32".into()]).expect("cidr");
    check(&explicit, "169.254.169.254", true);
}

#[test]
fn a_malformed_allowlist_entry_is_refused_by_name() {
    let err =
        Destinations::new(&["10.0.0.0/8".into(), "ten dot zero".into()]).expect_err("malformed");
    assert!(err.to_string().contains("ten dot zero"), "{err}");
}
