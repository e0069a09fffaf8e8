//! The pair's lease record at the witness: a TXT record the leader renews with
//! compare-and-set, so that a daemon cut off from its peer can prove its lease, and a
//! challenger can see that it is no longer renewed.

use dnsteer_providers::{RecordSet, RecordType, ZoneName};

/// The lease record's TTL: it is never meant to be resolved.
pub const WITNESS_TTL: u32 = 60;

/// What the lease record holds. `holder: None` is a lease given up on purpose (a clean
/// shutdown): the other daemon may take it at once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WitnessRecord {
    pub holder: Option<String>,
    pub term: u64,
    /// Bumped by every renewal: a record that does not change is not being renewed.
    pub seq: u64,
}

impl WitnessRecord {
    pub fn value(&self) -> String {
        format!(
            "\"holder={} term={} seq={}\"",
            self.holder.as_deref().unwrap_or("-"),
            self.term,
            self.seq
        )
    }

    pub fn parse(value: &str) -> Option<Self> {
        let (mut holder, mut term, mut seq) = (None, None, None);
        for field in value.trim_matches('"').split_whitespace() {
            let (key, v) = field.split_once('=')?;
            match key {
                "holder" => holder = Some((v != "-").then(|| v.to_string())),
                "term" => term = v.parse().ok(),
                "seq" => seq = v.parse().ok(),
                _ => {}
            }
        }
        Some(Self {
            holder: holder?,
            term: term?,
            seq: seq?,
        })
    }

    pub fn record_set(&self, name: &str) -> RecordSet {
        RecordSet {
            name: name.to_string(),
            rtype: RecordType::Txt,
            ttl: WITNESS_TTL,
            values: vec![self.value()],
            set_id: None,
            weight: None,
        }
    }

    /// The record held in a zone as read, if any (`None` also for one not understood,
    /// which a take then replaces).
    pub fn read(name: &str, sets: &[RecordSet]) -> Option<Self> {
        let set = sets.iter().find(|s| s.name == name && s.rtype == RecordType::Txt)?;
        set.values.iter().find_map(|v| Self::parse(v))
    }
}

/// Where the lease record lives: `_dnsteer-lease[-LABELS].<witness zone>`, where
/// LABELS is the pair's first zone relative to the witness zone (dots made dashes), so
/// that pairs sharing a parent zone keep separate records and none sits below a
/// delegation point, where it would be occluded.
pub fn record_name(witness_zone: &ZoneName, pair_zone: &ZoneName) -> String {
    let relative = pair_zone
        .as_str()
        .strip_suffix(witness_zone.as_str())
        .unwrap_or("")
        .trim_end_matches('.')
        .replace('.', "-");
    if relative.is_empty() {
        format!("_dnsteer-lease.{}", witness_zone.as_str())
    } else {
        format!("_dnsteer-lease-{relative}.{}", witness_zone.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips() {
        for r in [
            WitnessRecord {
                holder: Some("steer-a".into()),
                term: 7,
                seq: 12,
            },
            WitnessRecord {
                holder: None,
                term: 8,
                seq: 0,
            },
        ] {
            assert_eq!(WitnessRecord::parse(&r.value()), Some(r.clone()));
            let set = r.record_set("_dnsteer-lease.test.");
            assert_eq!(WitnessRecord::read("_dnsteer-lease.test.", &[set]), Some(r));
        }
        assert_eq!(WitnessRecord::parse("\"v=spf1 -all\""), None);
    }

    #[test]
    fn the_name_sits_beside_the_delegation_not_below_it() {
        let parent = ZoneName::new("test.").unwrap();
        let zone = ZoneName::new("example.test.").unwrap();
        assert_eq!(record_name(&parent, &zone), "_dnsteer-lease-example.test.");
        assert_eq!(record_name(&zone, &zone), "_dnsteer-lease.example.test.");
        let deep = ZoneName::new("a.b.test.").unwrap();
        assert_eq!(record_name(&parent, &deep), "_dnsteer-lease-a-b.test.");
    }
}
