//! The hosts a configuration names (check URLs, addresses and servers, provider `probe`
//! addresses): how an entry splits into host and port, and their resolution at load, so
//! that a name that does not resolve is a configuration error with its path and line
//! (and `check` refuses what `probe`, `plan` and `run` would refuse at start), never a
//! failover.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use super::lines::{join_index, join_key};
use super::parse::Parsed;
use super::types::CheckConfig;
use super::Report;

/// The port of a DNS server or nameserver written without one.
pub const DNS_PORT: u16 = 53;

/// An entry split for resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPort {
    /// An address written as such: nothing to resolve.
    Address(SocketAddr),
    /// A name (without its final dot: the hosts file does not know `localhost.`) and a port.
    Name(String, u16),
}

/// Splits `host:port`, `host` (with `default_port`), an address or an `address:port`.
pub fn split(entry: &str, default_port: Option<u16>) -> Result<HostPort, String> {
    if let Ok(address) = entry.parse::<SocketAddr>() {
        return Ok(HostPort::Address(address));
    }
    if let Ok(ip) = entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        let port = default_port.ok_or_else(|| format!("{entry:?} has no port (write address:port)"))?;
        return Ok(HostPort::Address(SocketAddr::new(ip, port)));
    }
    let with_port = entry
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let (host, port) = match (with_port, default_port) {
        (Some(split), _) => split,
        (None, Some(port)) => (entry, port),
        (None, None) => return Err(format!("{entry:?} has no port (write host:port)")),
    };
    Ok(HostPort::Name(host.strip_suffix('.').unwrap_or(host).to_string(), port))
}

/// Whether `host` is under `invalid.`, which RFC 6761 (section 6.4) reserves for names
/// that never resolve and asks resolver libraries to refuse at once: it is not sent to
/// the system's resolver, so nothing leaves the machine for it.
pub fn never_resolves(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

/// Resolves every check's host and every provider `probe` address, reporting each that
/// does not resolve at its path. Provider nameservers are left to start: those the
/// configuration omits are only known once the provider is asked.
pub(crate) fn resolve_hosts(p: &Parsed, r: &mut Report) {
    for (name, check) in &p.checks {
        let base = join_key("checks", name);
        let (field, entry, default_port) = match check {
            CheckConfig::Http(c) => {
                let Some((host, port)) = url_host(&c.url) else { continue };
                ("url", format!("{host}:{port}"), None)
            }
            CheckConfig::Tcp(c) => ("address", c.address.clone(), None),
            CheckConfig::Dns(c) => ("server", c.server.clone(), Some(DNS_PORT)),
        };
        if let Err(why) = lookup(&entry, default_port) {
            r.error(join_key(&base, field), why);
        }
    }
    for (name, provider) in &p.providers {
        let base = join_key(&join_key("providers", name), "probe");
        for (i, entry) in provider.probe().iter().enumerate() {
            if let Err(why) = lookup(entry, Some(DNS_PORT)) {
                r.error(join_index(&base, i), why);
            }
        }
    }
}

/// The host and port of an HTTP(S) URL; `None` when it does not parse (validation
/// says so) or names an address.
pub fn url_host(url: &str) -> Option<(String, u16)> {
    let url = url::Url::parse(url).ok()?;
    let port = url.port_or_known_default()?;
    match url.host()? {
        url::Host::Domain(host) => Some((host.to_string(), port)),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => None,
    }
}

/// Resolves one entry with the system resolver; a syntax problem is validation's to
/// report, so it passes here.
fn lookup(entry: &str, default_port: Option<u16>) -> Result<(), String> {
    let Ok(HostPort::Name(host, port)) = split(entry, default_port) else {
        return Ok(());
    };
    if never_resolves(&host) {
        return Err(format!("{host} does not resolve (a name under .invalid never does)"));
    }
    match (host.as_str(), port).to_socket_addrs() {
        Ok(found) if found.len() > 0 => Ok(()),
        Ok(_) => Err(format!("{host} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {host}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_into_addresses_and_names() {
        assert_eq!(
            split("127.0.0.1:5301", None),
            Ok(HostPort::Address("127.0.0.1:5301".parse().unwrap()))
        );
        assert_eq!(
            split("::1", Some(53)),
            Ok(HostPort::Address("[::1]:53".parse().unwrap()))
        );
        assert_eq!(
            split("localhost.", Some(5300)),
            Ok(HostPort::Name("localhost".into(), 5300))
        );
        assert_eq!(split("ns1.test:53", None), Ok(HostPort::Name("ns1.test".into(), 53)));
        assert!(split("127.0.0.1", None).is_err());
        assert!(split("ns1.test", None).is_err());
    }

    #[test]
    fn invalid_names_never_resolve_and_are_not_asked() {
        assert!(never_resolves("east.shop.invalid"));
        assert!(never_resolves("EAST.SHOP.INVALID."));
        assert!(!never_resolves("invalid.example"));
        assert!(lookup("east.shop.invalid:38080", None)
            .unwrap_err()
            .contains(".invalid"));
        assert_eq!(lookup("localhost:1", None), Ok(()));
        assert_eq!(lookup("not a host", None), Ok(()), "syntax is validation's");
    }
}
