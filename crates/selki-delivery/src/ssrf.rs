//! Server-side request forgery guard: webhooks may only reach global
//! addresses, unless an operator allows internal ranges by CIDR, for every
//! organization or granted to one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use selki_domain::OrganizationId;

/// Why an address may not be contacted. The text goes into the recorded
/// call, so it says what the customer can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is {what}: webhooks may only reach public addresses")]
pub struct Blocked {
    pub address: IpAddr,
    pub what: &'static str,
}

/// A configured allowlist entry is not a CIDR (or a grant not `ORG:CIDR`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error("`{0}` is not a CIDR such as 10.0.0.0/8 or fd00::/8")]
    Cidr(String),
    #[error("`{0}` is not ORG:CIDR such as acme:10.0.0.0/8")]
    Grant(String),
}

/// Which addresses deliveries may go to: public ones, ranges allowed for
/// every organization, and ranges granted to one.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    allow: Vec<IpNet>,
    grants: BTreeMap<OrganizationId, Vec<IpNet>>,
}

/// Cloud instance-metadata endpoints: blocked even inside an allowed range,
/// unless listed on their own (a /32 or /128).
const METADATA: [IpAddr; 3] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

impl Destinations {
    /// Public addresses only, plus the allowed CIDRs (for everyone).
    pub fn new(allow: &[String]) -> Result<Self, AllowlistError> {
        let allow = allow
            .iter()
            .map(|cidr| parse_cidr(cidr))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow,
            grants: BTreeMap::new(),
        })
    }

    /// Adds ranges granted to one organization each, written `ORG:CIDR`.
    pub fn with_grants(mut self, entries: &[String]) -> Result<Self, AllowlistError> {
        for entry in entries {
            let grant = || AllowlistError::Grant(entry.clone());
            let (org, cidr) = entry.trim().split_once(':').ok_or_else(grant)?;
            let org = OrganizationId::parse(org).map_err(|_| grant())?;
            let net = cidr.parse::<IpNet>().map_err(|_| grant())?;
            self.grants.entry(org).or_default().push(net);
        }
        Ok(self)
    }

    /// Whether some internal range is open to every organization.
    pub fn allows_internal_for_everyone(&self) -> bool {
        !self.allow.is_empty()
    }

    /// The organizations granted ranges of their own.
    pub fn granted(&self) -> impl Iterator<Item = &OrganizationId> {
        self.grants.keys()
    }

    /// May a delivery of any organization connect to `address`?
    pub fn check(&self, address: IpAddr) -> Result<(), Blocked> {
        self.check_for(None, address)
    }

    /// May a delivery of `organization` connect to `address`? (`None`: of
    /// an organization without grants.)
    pub fn check_for(
        &self,
        organization: Option<&OrganizationId>,
        address: IpAddr,
    ) -> Result<(), Blocked> {
        let address = canonical(address);
        let granted = organization.and_then(|org| self.grants.get(org));
        let listed = |exact: bool| {
            self.allow
                .iter()
                .chain(granted.into_iter().flatten())
                .any(|net| {
                    net.contains(&address) && (!exact || net.prefix_len() == net.max_prefix_len())
                })
        };
        if METADATA.contains(&address) {
            return if listed(true) {
                Ok(())
            } else {
                Err(Blocked {
                    address,
                    what: "a cloud metadata address",
                })
            };
        }
        match classify(address) {
            None => Ok(()),
            Some(_) if listed(false) => Ok(()),
            Some(what) => Err(Blocked { address, what }),
        }
    }
}

/// Whether `address` is public: reachable without any allowlist.
pub(crate) fn is_public(address: IpAddr) -> bool {
    let address = canonical(address);
    !METADATA.contains(&address) && classify(address).is_none()
}

fn parse_cidr(cidr: &str) -> Result<IpNet, AllowlistError> {
    cidr.trim()
        .parse::<IpNet>()
        .map_err(|_| AllowlistError::Cidr(cidr.to_owned()))
}

/// IPv4 written as IPv6 (mapped, compatible, 6to4, NAT64) is judged as
/// the IPv4 address it carries.
fn canonical(address: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = address else {
        return address;
    };
    let s = v6.segments();
    let embedded =
        |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo]
            if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) =>
        {
            embedded(hi, lo)
        }
        // 64:ff9b::a.b.c.d (NAT64, RFC 6052)
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 2002:aabb:ccdd::/48 (6to4)
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        _ => address,
    }
}

/// What kind of non-global address this is, or `None` for a global one.
fn classify(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => "in 0.0.0.0/8 (this network)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10, carrier-grade NAT)",
        (127, ..) => "loopback",
        (169, 254, _) => "link-local",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "reserved for IETF protocols (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "reserved for documentation",
        (192, 88, 99) => "a 6to4 relay address",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "reserved for benchmarking",
        (224..=239, ..) => "multicast",
        (240..=255, ..) => "reserved or broadcast",
        _ => return None,
    })
}

/// Only global unicast (2000::/3) is public, less its special ranges,
/// the way the IPv4 side lists its own.
fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if s[0] & 0xe000 != 0x2000 {
        return Some(match s {
            [0, 0, 0, 0, 0, 0, 0, 0] => "the unspecified address",
            [0, 0, 0, 0, 0, 0, 0, 1] => "loopback",
            [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
            [0x100, 0, 0, 0, ..] => "a discard-only address (100::/64)",
            [x, ..] if x & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
            [x, ..] if x & 0xffc0 == 0xfe80 => "link-local",
            [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (deprecated)",
            [x, ..] if x & 0xff00 == 0xff00 => "multicast",
            _ => "outside global unicast (2000::/3)",
        });
    }
    Some(match s {
        [0x2001, 0xdb8, ..] => "reserved for documentation",
        [0x3fff, x, ..] if x < 0x1000 => "reserved for documentation (3fff::/20)",
        [0x2001, 0..=0x1ff, ..] => "reserved for IETF protocols (2001::/23, Teredo included)",
        _ => return None,
    })
}
