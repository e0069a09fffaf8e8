//! The stand-ins' zone store: zones of record sets held in memory, changed only by whole
//! batches (a PowerDNS `PATCH`, validated in full before anything is applied) and read
//! both by the API and, at once, by the authoritative DNS server.

use std::collections::BTreeMap;
use std::sync::RwLock;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde::{Deserialize, Serialize};

/// Zones by lower-case absolute name (`example.test.`).
#[derive(Debug, Default)]
pub struct ZoneStore {
    zones: RwLock<BTreeMap<String, Zone>>,
}

/// One zone: record sets by (lower-case owner name, type mnemonic).
#[derive(Debug, Clone)]
struct Zone {
    name: String,
    rrsets: BTreeMap<(String, String), RrSet>,
}

#[derive(Debug, Clone)]
struct RrSet {
    owner: Name,
    rtype: RecordType,
    ttl: u32,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    content: String,
    disabled: bool,
    data: RData,
}

/// A record set as the PowerDNS API writes it (`GET` zone, `PATCH` rrsets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRrSet {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changetype: Option<String>,
    #[serde(default)]
    pub records: Vec<WireRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRecord {
    pub content: String,
    #[serde(default)]
    pub disabled: bool,
}

/// Why a batch was refused; nothing of it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The zone is not held here (HTTP 404).
    NoSuchZone(String),
    /// The batch is invalid (HTTP 422), with PowerDNS-like wording.
    Invalid(String),
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSuchZone(zone) => write!(f, "Could not find domain '{zone}'"),
            Self::Invalid(message) => f.write_str(message),
        }
    }
}

/// What the authoritative server answers for one question.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// Not a zone held here: REFUSED.
    NotAuthoritative,
    /// Authoritative answer (AA) with these records.
    Answer(Vec<Record>),
    /// A delegation below the zone: the child's NS set in the authority section, AA clear.
    Referral(Vec<Record>),
    /// The name exists without records of this type: NOERROR, the SOA in authority.
    NoData(Vec<Record>),
    /// The name does not exist: NXDOMAIN, the SOA in authority.
    NxDomain(Vec<Record>),
}

fn lower_fqdn(name: &str) -> String {
    let mut name = name.to_ascii_lowercase();
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

/// Whether `name` is `zone` or below it (both lower-case, absolute).
fn in_zone(name: &str, zone: &str) -> bool {
    zone == "." || name == zone || name.ends_with(&format!(".{zone}"))
}

impl ZoneStore {
    /// Adds (or replaces) a zone with these record sets; the same validation as a PATCH.
    pub fn create_zone(&self, zone: &str, rrsets: &[WireRrSet]) -> Result<(), PatchError> {
        let name = lower_fqdn(zone);
        let mut fresh = Zone {
            name: name.clone(),
            rrsets: BTreeMap::new(),
        };
        let replace: Vec<WireRrSet> = rrsets
            .iter()
            .map(|s| WireRrSet {
                changetype: Some("REPLACE".into()),
                ..s.clone()
            })
            .collect();
        fresh.patch(&replace)?;
        self.zones
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, fresh);
        Ok(())
    }

    /// Every record set of `zone`, as `GET /api/v1/servers/{server}/zones/{zone}` lists them.
    pub fn rrsets(&self, zone: &str) -> Option<Vec<WireRrSet>> {
        let zones = self.zones.read().unwrap_or_else(|e| e.into_inner());
        let zone = zones.get(&lower_fqdn(zone))?;
        Some(
            zone.rrsets
                .values()
                .map(|s| WireRrSet {
                    name: s.owner.to_ascii(),
                    rtype: s.rtype.to_string(),
                    ttl: Some(s.ttl),
                    changetype: None,
                    records: s
                        .entries
                        .iter()
                        .map(|e| WireRecord {
                            content: e.content.clone(),
                            disabled: e.disabled,
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    /// The zone's SOA serial (0 without an SOA).
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let zones = self.zones.read().unwrap_or_else(|e| e.into_inner());
        Some(zones.get(&lower_fqdn(zone))?.serial())
    }

    /// Applies a PATCH batch atomically: every rrset is checked and applied to a copy of
    /// the zone, which replaces the live one only if all of them were valid.
    pub fn patch(&self, zone: &str, rrsets: &[WireRrSet]) -> Result<(), PatchError> {
        let mut zones = self.zones.write().unwrap_or_else(|e| e.into_inner());
        let live = zones
            .get_mut(&lower_fqdn(zone))
            .ok_or_else(|| PatchError::NoSuchZone(zone.to_string()))?;
        let mut next = live.clone();
        next.patch(rrsets)?;
        if !rrsets.iter().any(|s| s.rtype.eq_ignore_ascii_case("SOA")) {
            next.bump_serial();
        }
        *live = next;
        Ok(())
    }

    /// What an authoritative server holding these zones answers for `qname`/`qtype`.
    pub fn lookup(&self, qname: &Name, qtype: RecordType) -> Lookup {
        let qname = lower_fqdn(&qname.to_ascii());
        let zones = self.zones.read().unwrap_or_else(|e| e.into_inner());
        let Some(zone) = zones
            .values()
            .filter(|z| in_zone(&qname, &z.name))
            .max_by_key(|z| z.name.len())
        else {
            return Lookup::NotAuthoritative;
        };
        zone.lookup(&qname, qtype)
    }
}

impl Zone {
    fn soa(&self) -> Option<&RrSet> {
        self.rrsets.get(&(self.name.clone(), "SOA".to_string()))
    }

    fn serial(&self) -> u32 {
        self.soa()
            .and_then(|s| s.entries.first())
            .and_then(|e| match &e.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// PowerDNS's SOA-EDIT-API: every change through the API increases the serial.
    fn bump_serial(&mut self) {
        let key = (self.name.clone(), "SOA".to_string());
        if let Some(entry) = self.rrsets.get_mut(&key).and_then(|s| s.entries.first_mut()) {
            if let RData::SOA(soa) = &mut entry.data {
                soa.serial = soa.serial.wrapping_add(1);
                entry.content = soa.to_string();
            }
        }
    }

    fn patch(&mut self, rrsets: &[WireRrSet]) -> Result<(), PatchError> {
        let invalid = |m: String| Err(PatchError::Invalid(m));
        let mut seen = std::collections::BTreeSet::new();
        for set in rrsets {
            if !set.name.ends_with('.') {
                return invalid(format!("Not in expected format (parsed as '{}.')", set.name));
            }
            let owner_key = lower_fqdn(&set.name);
            if !in_zone(&owner_key, &self.name) {
                return invalid(format!("RRset {} IN {}: Name is out of zone", set.name, set.rtype));
            }
            let owner = Name::from_ascii(&set.name).map_err(|e| PatchError::Invalid(format!("{}: {e}", set.name)))?;
            let rtype: RecordType = set
                .rtype
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| PatchError::Invalid(format!("Unknown RR type '{}'", set.rtype)))?;
            if matches!(
                rtype,
                RecordType::Unknown(_) | RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT
            ) {
                return invalid(format!("Unknown RR type '{}'", set.rtype));
            }
            let key = (owner_key.clone(), rtype.to_string());
            if !seen.insert(key.clone()) {
                return invalid(format!(
                    "Duplicate RRset {} IN {} with changetype: {}",
                    set.name,
                    set.rtype,
                    set.changetype.as_deref().unwrap_or("")
                ));
            }
            match set.changetype.as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("DELETE") => {
                    self.rrsets.remove(&key);
                }
                Some("REPLACE") if set.records.is_empty() => {
                    self.rrsets.remove(&key);
                }
                Some("REPLACE") => {
                    let Some(ttl) = set.ttl else {
                        return invalid(format!("RRset {} IN {}: TTL is not set", set.name, set.rtype));
                    };
                    let mut entries = Vec::with_capacity(set.records.len());
                    for r in &set.records {
                        let data = RData::try_from_str(rtype, &r.content).map_err(|e| {
                            PatchError::Invalid(format!(
                                "Record {}/{} '{}': Parsing record content: {e}",
                                set.name, set.rtype, r.content
                            ))
                        })?;
                        if entries.iter().any(|e: &Entry| e.data == data) {
                            return invalid(format!(
                                "RRset {} IN {} has duplicate record '{}'",
                                set.name, set.rtype, r.content
                            ));
                        }
                        entries.push(Entry {
                            content: r.content.clone(),
                            disabled: r.disabled,
                            data,
                        });
                    }
                    if rtype == RecordType::SOA && (owner_key != self.name || entries.len() != 1) {
                        return invalid(format!("RRset {} IN SOA: one SOA, at the apex only", set.name));
                    }
                    self.rrsets.insert(
                        key,
                        RrSet {
                            owner: owner.to_lowercase(),
                            rtype,
                            ttl,
                            entries,
                        },
                    );
                }
                other => {
                    return invalid(format!(
                        "Changetype '{}' is not supported (REPLACE or DELETE)",
                        other.unwrap_or("")
                    ));
                }
            }
        }
        // CNAME and other data cannot share a name (RFC 1034 section 3.6.2).
        let mut types_at: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, rtype) in self.rrsets.keys() {
            types_at.entry(name.as_str()).or_default().push(rtype.as_str());
        }
        if let Some((name, _)) = types_at
            .iter()
            .find(|(_, types)| types.len() > 1 && types.contains(&"CNAME"))
        {
            return invalid(format!("RRset {name} IN CNAME: Conflicts with pre-existing RRset"));
        }
        Ok(())
    }

    fn records(&self, set: &RrSet) -> Vec<Record> {
        set.entries
            .iter()
            .filter(|e| !e.disabled)
            .map(|e| Record::from_rdata(set.owner.clone(), set.ttl, e.data.clone()))
            .collect()
    }

    fn soa_records(&self) -> Vec<Record> {
        self.soa().map(|s| self.records(s)).unwrap_or_default()
    }

    fn served(&self, name: &str, rtype: &str) -> Option<Vec<Record>> {
        let set = self.rrsets.get(&(name.to_string(), rtype.to_string()))?;
        let records = self.records(set);
        (!records.is_empty()).then_some(records)
    }

    fn lookup(&self, qname: &str, qtype: RecordType) -> Lookup {
        // A zone cut between the apex and the name (the name itself included): refer.
        let below_apex = &qname[..qname.len() - self.name.len()];
        let labels: Vec<&str> = below_apex
            .trim_end_matches('.')
            .split('.')
            .filter(|l| !l.is_empty())
            .collect();
        for depth in 1..=labels.len() {
            let cut = format!("{}.{}", labels[labels.len() - depth..].join("."), self.name);
            if let Some(ns) = self.served(&cut, "NS") {
                return Lookup::Referral(ns);
            }
        }
        if qtype == RecordType::ANY {
            let all: Vec<Record> = self
                .rrsets
                .iter()
                .filter(|((name, _), _)| name == qname)
                .flat_map(|(_, set)| self.records(set))
                .collect();
            if !all.is_empty() {
                return Lookup::Answer(all);
            }
        } else if let Some(records) = self.served(qname, &qtype.to_string()) {
            return Lookup::Answer(records);
        } else if let Some(cname) = self.served(qname, "CNAME") {
            return Lookup::Answer(cname);
        }
        let exists = self
            .rrsets
            .keys()
            .any(|(name, _)| name == qname || name.ends_with(&format!(".{qname}")));
        if exists {
            Lookup::NoData(self.soa_records())
        } else {
            Lookup::NxDomain(self.soa_records())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, rtype: &str, ttl: u32, contents: &[&str]) -> WireRrSet {
        WireRrSet {
            name: name.into(),
            rtype: rtype.into(),
            ttl: Some(ttl),
            changetype: Some("REPLACE".into()),
            records: contents
                .iter()
                .map(|c| WireRecord {
                    content: c.to_string(),
                    disabled: false,
                })
                .collect(),
        }
    }

    fn store() -> ZoneStore {
        let store = ZoneStore::default();
        store
            .create_zone(
                "example.test.",
                &[
                    set(
                        "example.test.",
                        "SOA",
                        300,
                        &["ns1.provider-a.test. hostmaster.example.test. 1 3600 600 86400 60"],
                    ),
                    set(
                        "example.test.",
                        "NS",
                        300,
                        &["ns1.provider-a.test.", "ns1.provider-b.test."],
                    ),
                    set("www.example.test.", "A", 30, &["192.0.2.10"]),
                    set("sub.example.test.", "NS", 300, &["ns.elsewhere.test."]),
                ],
            )
            .unwrap();
        store
    }

    fn values(lookup: Lookup) -> Vec<String> {
        match lookup {
            Lookup::Answer(r) | Lookup::Referral(r) => r.iter().map(|r| r.data.to_string()).collect(),
            other => panic!("no records: {other:?}"),
        }
    }

    #[test]
    fn a_batch_with_one_bad_rrset_changes_nothing() {
        let store = store();
        let before = store.rrsets("example.test.").unwrap();
        let err = store
            .patch(
                "example.test.",
                &[
                    set("www.example.test.", "A", 30, &["198.51.100.10"]),
                    set("api.example.test.", "A", 30, &["not-an-address"]),
                ],
            )
            .unwrap_err();
        assert!(matches!(err, PatchError::Invalid(_)), "{err:?}");
        assert_eq!(store.rrsets("example.test.").unwrap(), before);
        assert_eq!(store.serial("example.test."), Some(1));
    }

    #[test]
    fn a_valid_batch_is_applied_whole_and_bumps_the_serial() {
        let store = store();
        store
            .patch(
                "example.test.",
                &[
                    set("www.example.test.", "A", 30, &["198.51.100.10"]),
                    WireRrSet {
                        changetype: Some("DELETE".into()),
                        records: vec![],
                        ttl: None,
                        ..set("sub.example.test.", "NS", 0, &[])
                    },
                ],
            )
            .unwrap();
        let www = Name::from_ascii("www.example.test.").unwrap();
        assert_eq!(values(store.lookup(&www, RecordType::A)), ["198.51.100.10"]);
        assert_eq!(store.serial("example.test."), Some(2));
        let sub = Name::from_ascii("host.sub.example.test.").unwrap();
        assert!(matches!(store.lookup(&sub, RecordType::A), Lookup::NxDomain(_)));
    }

    #[test]
    fn out_of_zone_names_unknown_types_and_cname_conflicts_are_refused() {
        let store = store();
        for bad in [
            set("www.other.test.", "A", 30, &["192.0.2.1"]),
            set("www.example.test.", "BOGUS", 30, &["x"]),
            set("www.example.test.", "CNAME", 30, &["elsewhere.test."]),
            set("www.example.test", "A", 30, &["192.0.2.1"]),
            WireRrSet {
                ttl: None,
                ..set("new.example.test.", "A", 0, &["192.0.2.1"])
            },
        ] {
            assert!(
                matches!(
                    store.patch("example.test.", std::slice::from_ref(&bad)),
                    Err(PatchError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            store.patch("other.test.", &[]),
            Err(PatchError::NoSuchZone(_))
        ));
    }

    #[test]
    fn lookups_answer_refer_and_deny() {
        let store = store();
        let name = |n: &str| Name::from_ascii(n).unwrap();
        assert_eq!(
            values(store.lookup(&name("example.test."), RecordType::NS)),
            ["ns1.provider-a.test.", "ns1.provider-b.test."]
        );
        assert!(matches!(
            store.lookup(&name("Example.TEST."), RecordType::SOA),
            Lookup::Answer(_)
        ));
        assert_eq!(
            values(store.lookup(&name("sub.example.test."), RecordType::NS)),
            ["ns.elsewhere.test."]
        );
        assert!(matches!(
            store.lookup(&name("a.sub.example.test."), RecordType::A),
            Lookup::Referral(_)
        ));
        assert!(matches!(
            store.lookup(&name("www.example.test."), RecordType::AAAA),
            Lookup::NoData(_)
        ));
        assert!(matches!(
            store.lookup(&name("nope.example.test."), RecordType::A),
            Lookup::NxDomain(_)
        ));
        assert_eq!(
            store.lookup(&name("www.example.org."), RecordType::A),
            Lookup::NotAuthoritative
        );
    }
}
