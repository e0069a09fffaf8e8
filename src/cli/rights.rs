//! What `check --online` says about a provider's rights: which sets dnsteer writes in
//! a zone there, the write-access line, and what to fix when a read fails.

use std::collections::BTreeSet;

use dnsteer_providers::{FenceMark, ProviderError, RecordType, SetKey, WriteAccess, ZoneName};

use crate::config::{self, Config, ProviderConfig};
use crate::decide::delegation_zone;
use crate::peer::witness;

/// How a write-access answer is shown: the `check --online` line's status and text.
pub enum Verdict {
    Ok(String),
    Failed(String),
    Warning(String),
}

/// The sets (absolute name, type) dnsteer may write in `zone` at `provider`: the zone's
/// steered records, the delegation's NS set where the provider holds it, the pair's
/// fence record, and the pair's lease record at its witness.
pub fn steered(config: &Config, zone: &ZoneName, provider: &str) -> Vec<SetKey> {
    let mut sets = BTreeSet::new();
    let paired = !config.agent.peers.is_empty() || config.agent.coordination.is_some();
    for z in &config.zones {
        let Ok(name) = z.zone_name() else { continue };
        if &name == zone && z.providers.iter().any(|p| p == provider) {
            for record in &z.records {
                if let Ok(absolute) = name.absolute(&record.name) {
                    sets.insert((absolute, record.rtype.clone()));
                }
            }
            if paired {
                sets.insert((FenceMark::name(zone), RecordType::Txt));
            }
        }
        if delegation_zone(z).is_some_and(|(at, p)| &at == zone && p == provider) {
            sets.insert((name.to_string(), RecordType::Ns));
        }
    }
    if let Some((witness, at)) = config::pair_witness(&config.agent, &config.providers, config.zones.iter()) {
        let first = config.zones.first().and_then(|z| z.zone_name().ok());
        if witness == provider && &at == zone {
            let lease = witness::record_name(&at, first.as_ref().unwrap_or(&at));
            sets.insert((lease, RecordType::Txt));
        }
    }
    sets.into_iter().collect()
}

/// The line for a `write_access` answer.
pub fn verdict(provider: &str, kind: &str, zone: &ZoneName, answer: Result<WriteAccess, ProviderError>) -> Verdict {
    match answer {
        Ok(WriteAccess::Granted(how)) => Verdict::Ok(format!("{provider}: may write {zone} ({how})")),
        Ok(WriteAccess::Denied(which)) => Verdict::Failed(format!(
            "{provider}: may not write {zone}: {which} (least privilege: docs/providers/{kind}.md)"
        )),
        Ok(WriteAccess::Unverifiable(why)) => Verdict::Warning(format!(
            "{provider}: write access to {zone} not verified: {why} (docs/providers/{kind}.md)"
        )),
        Err(e) => Verdict::Failed(format!(
            "{provider}: write access to {zone} not checked: {e}{}",
            fix(provider, kind, zone, &e)
        )),
    }
}

/// What to do about a failed read or check, for the line that reports it ("" when
/// the error says it all).
pub fn fix(provider: &str, kind: &str, zone: &ZoneName, error: &ProviderError) -> String {
    let at = format!("providers.{provider}");
    let hint = match (error, kind) {
        (ProviderError::Auth { .. }, "powerdns") => {
            format!("set {at}.api_key to the server's api-key, from an address in its webserver-allow-from")
        }
        (ProviderError::Auth { .. }, "rfc2136") => format!(
            "check {at}.tsig (name, algorithm, secret) against the server's key, and that the key may transfer \
             {zone} (BIND allow-transfer, Knot acl action transfer)"
        ),
        (ProviderError::Auth { .. }, "route53" | "route53domains") => format!(
            "check the AWS credentials of {at} and that their IAM policy allows the calls in docs/providers/{kind}.md"
        ),
        (ProviderError::Auth { .. }, "cloudflare") => {
            format!("set {at}.api_token to an active token with Zone: Zone: Read and Zone: DNS: Edit for {zone}")
        }
        (ProviderError::Auth { .. }, _) => format!("check the credentials of {at} (docs/providers/{kind}.md)"),
        (ProviderError::ZoneNotFound { .. }, "route53") => format!(
            "create the hosted zone {zone}, or set {at}.hosted_zone_id, or take {provider} off the zone's providers"
        ),
        (ProviderError::ZoneNotFound { .. }, "cloudflare") => format!(
            "add {zone} to the account (or set {at}.zone_id), let the token see it, or take {provider} off the \
             zone's providers"
        ),
        (ProviderError::ZoneNotFound { .. }, _) => {
            format!("create {zone} at {provider}, or fix the zone's name, or take {provider} off the zone's providers")
        }
        (ProviderError::Transient { .. } | ProviderError::RateLimited { .. }, _) => {
            format!("check that {at} points at a server that is up and reachable from here")
        }
        _ => return String::new(),
    };
    format!("; to fix: {hint}")
}

/// The configured kind of `provider`, for the hints.
pub fn kind(config: &Config, provider: &str) -> &'static str {
    config.providers.get(provider).map_or("unknown", ProviderConfig::kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(agent: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "c2VjcmV0\n").unwrap();
        let text = format!(
            "{agent}
providers:
  pdns: {{ kind: powerdns, url: \"http://127.0.0.1:8081\", api_key: {{ file: secret }}, nameservers: [ ns1.example.test. ] }}
  parent: {{ kind: rfc2136, server: \"127.0.0.1:53\", tsig: {{ name: k, algorithm: hmac-sha256, secret: {{ file: secret }} }} }}
zones:
  - name: example.test.
    providers: [ pdns ]
    delegation: {{ provider: parent, parent: test., min_providers: 1 }}
    records:
      - {{ name: www, type: A, pools: [ {{ name: a, priority: 1, values: [ 192.0.2.1 ], check: c }} ] }}
      - {{ name: \"@\", type: AAAA, pools: [ {{ name: a, priority: 1, values: [ \"2001:db8::1\" ], check: c }} ] }}
checks:
  c: {{ kind: tcp, address: \"127.0.0.1:1\" }}
"
        );
        crate::config::load_str(&text, dir.path()).unwrap().config
    }

    fn key(name: &str, rtype: RecordType) -> SetKey {
        (name.to_string(), rtype)
    }

    /// The sets asked about are the ones dnsteer writes at that provider: the steered
    /// records where the zone is served, the delegation's NS set at the parent, and for
    /// a pair the fence record and, at the witness, the lease record.
    #[test]
    fn steered_sets_are_the_ones_written_there() {
        let zone = ZoneName::new("example.test.").unwrap();
        let parent = ZoneName::new("test.").unwrap();
        let lone = config("");
        assert_eq!(
            steered(&lone, &zone, "pdns"),
            [
                key("example.test.", RecordType::Aaaa),
                key("www.example.test.", RecordType::A)
            ]
        );
        assert_eq!(
            steered(&lone, &parent, "parent"),
            [key("example.test.", RecordType::Ns)]
        );
        assert!(steered(&lone, &zone, "parent").is_empty());

        let pair = config("agent:\n  api_token: { file: secret }\n  peers: [ \"http://127.0.0.1:9311\" ]\n");
        assert_eq!(
            steered(&pair, &zone, "pdns"),
            [
                key("_dnsteer-fence.example.test.", RecordType::Txt),
                key("example.test.", RecordType::Aaaa),
                key("www.example.test.", RecordType::A)
            ]
        );
        assert_eq!(
            steered(&pair, &parent, "parent"),
            [
                key("_dnsteer-lease-example.test.", RecordType::Txt),
                key("example.test.", RecordType::Ns)
            ]
        );
    }
}
