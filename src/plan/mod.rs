//! The plan: `diff(live, desired)` per provider, ordered and explained, rendered as a
//! table or JSON, with a checksum so that `apply --checksum` applies exactly the plan
//! that was reviewed. Pure: no I/O, no clock.

mod render;

pub use render::{add_routing, render_json, render_table};

use std::collections::{BTreeMap, BTreeSet};

use dnsteer_providers::{Change, RecordSet, RecordType, ZoneName};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A record set dnsteer wants a provider to hold, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub set: RecordSet,
    pub reason: String,
}

/// One change for one provider of one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedChange {
    /// The configured zone this change steers: the zone it is written in, except for a
    /// delegation, written in the parent zone (or at the registrar) but owned by the
    /// child. Safety holds and approvals go by owner.
    pub owner: ZoneName,
    /// The zone the change is written in.
    pub zone: ZoneName,
    pub provider: String,
    pub change: Change,
    pub reason: String,
    /// How long after the write resolvers may still answer what it replaces (SPEC
    /// `stale_for_s`), from the live data; `None` when that data does not say (a
    /// create in a zone whose SOA was not read).
    pub stale_for_s: Option<u32>,
}

/// A provider whose live records could not be read: nothing is planned for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanError {
    pub zone: String,
    pub provider: String,
    pub error: String,
}

/// A provider's copy of a zone that was left out of the plan because it could not be
/// read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub zone: String,
    pub provider: String,
    /// `zone_missing` or `unreadable`.
    pub why: &'static str,
    /// Whether the provider's health is `unhealthy` (then its read error is not an
    /// error of the plan: its health already says why).
    pub unhealthy: bool,
    pub error: String,
}

/// A configured zone whose changes wait for an operator (`apply --force`, or
/// `POST /v1/approve` with `checksum`); other zones are written regardless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub zone: ZoneName,
    /// Why, one sentence each.
    pub reasons: Vec<String>,
    /// The checksum of this zone's changes alone.
    pub checksum: String,
}

/// Everything one run would change, across zones and providers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub changes: Vec<PlannedChange>,
    pub errors: Vec<PlanError>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// The largest `stale_for_s` of the changes: when every resolver will have
    /// followed the whole plan. 0 with no changes; `None` when a change's is unknown.
    pub stale_for_s: Option<u32>,
}

/// How long resolvers may go on answering what `change` replaces, from `live`, the
/// record sets of the zone it is written in as read from its provider:
///
/// - an update or a delete: the old set's TTL (a delegation is the NS set at the
///   parent, so this is the parent's NS TTL as the parent serves it);
/// - a create: the zone's negative-caching TTL, since resolvers may have cached that
///   the name or type did not exist (RFC 2308: the SOA minimum, capped by the SOA's
///   own TTL); `None` when `live` holds no SOA.
pub fn stale_for(change: &Change, live: &[RecordSet]) -> Option<u32> {
    match change {
        Change::Update { before, .. } | Change::Delete { before } => Some(before.ttl),
        Change::Create { .. } => negative_ttl(live),
    }
}

/// The negative-caching TTL of the zone whose record sets are `live`: the SOA's
/// `minimum` (its 7th field), capped by the SOA's TTL.
pub fn negative_ttl(live: &[RecordSet]) -> Option<u32> {
    let soa = live.iter().find(|s| s.rtype == RecordType::Soa)?;
    let minimum: u32 = soa.values.first()?.split_whitespace().nth(6)?.parse().ok()?;
    Some(minimum.min(soa.ttl))
}

/// The changes that turn `live` into `desired`, for the record sets `desired` names
/// only: a set dnsteer does not manage is never touched. Both sides must already be
/// normalised for the provider. Changes come in plan order.
///
/// A name and type that `desired` holds as a weighted record (sets with set
/// identifiers) is dnsteer's whole: a live set of that name and type that `desired`
/// does not hold (a removed pool's, or the plain set the record had before it was
/// weighted) is deleted, and so is a weighted set where `desired` holds a plain one.
/// Where no weighted set is live or desired, this is the plain diff it always was.
pub fn diff(live: &[RecordSet], desired: &[Desired]) -> Vec<(Change, String)> {
    type Key<'a> = (&'a str, &'a RecordType, Option<&'a str>);
    let live_by_key: BTreeMap<Key, &RecordSet> = live.iter().map(|s| (s.key(), s)).collect();
    let mut changes: Vec<(Change, String)> = desired
        .iter()
        .filter_map(|d| match live_by_key.get(&d.set.key()) {
            None => Some((Change::Create { after: d.set.clone() }, d.reason.clone())),
            Some(current) if **current != d.set => Some((
                Change::Update {
                    before: (*current).clone(),
                    after: d.set.clone(),
                },
                d.reason.clone(),
            )),
            Some(_) => None,
        })
        .collect();
    let wanted: BTreeSet<Key> = desired.iter().map(|d| d.set.key()).collect();
    let named: BTreeSet<(&str, &RecordType)> = wanted.iter().map(|(n, t, _)| (*n, *t)).collect();
    let weighted_here = |name: &str, rtype: &RecordType| {
        desired
            .iter()
            .map(|d| &d.set)
            .chain(live)
            .any(|s| s.set_id.is_some() && s.name == name && &s.rtype == rtype)
    };
    for set in live {
        let (name, rtype, _) = set.key();
        if named.contains(&(name, rtype)) && !wanted.contains(&set.key()) && weighted_here(name, rtype) {
            let reason = match desired.iter().find(|d| d.set.name == name && &d.set.rtype == rtype) {
                Some(d) if d.set.set_id.is_some() => format!(
                    "{name} {rtype} is a weighted record of the configured pools only: this set is none of them"
                ),
                _ => format!("{name} {rtype} is configured unweighted: its weighted sets give way to the plain set"),
            };
            changes.push((Change::Delete { before: set.clone() }, reason));
        }
    }
    changes.sort_by(|a, b| order_key(&a.0).cmp(&order_key(&b.0)));
    changes
}

/// Deletes first (they free names a create may need), then creates, then updates;
/// within each, by name, type and set so plans read and hash the same every time.
fn order_key(change: &Change) -> (u8, &str, &str, Option<&str>) {
    let rank = match change {
        Change::Delete { .. } => 0,
        Change::Create { .. } => 1,
        Change::Update { .. } => 2,
    };
    let subject = change.subject();
    (rank, &subject.name, subject.rtype.as_str(), subject.set_id.as_deref())
}

impl Plan {
    /// Adds one provider's changes for one zone, steering the configured zone `owner`;
    /// `live` is what that provider holds in `zone`, for [`stale_for`].
    pub fn extend(
        &mut self,
        owner: &ZoneName,
        zone: &ZoneName,
        provider: &str,
        changes: Vec<(Change, String)>,
        live: &[RecordSet],
    ) {
        self.changes
            .extend(changes.into_iter().map(|(change, reason)| PlannedChange {
                owner: owner.clone(),
                zone: zone.clone(),
                provider: provider.to_string(),
                stale_for_s: stale_for(&change, live),
                change,
                reason,
            }));
    }

    /// Puts the changes in their canonical order: by zone, provider, then plan order.
    pub fn sort(&mut self) {
        self.changes.sort_by(|a, b| {
            (a.zone.as_str(), a.provider.as_str(), order_key(&a.change)).cmp(&(
                b.zone.as_str(),
                b.provider.as_str(),
                order_key(&b.change),
            ))
        });
        self.errors
            .sort_by(|a, b| (&a.zone, &a.provider).cmp(&(&b.zone, &b.provider)));
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let start = Summary {
            stale_for_s: Some(0),
            ..Summary::default()
        };
        self.changes.iter().fold(start, |mut s, c| {
            match c.change {
                Change::Create { .. } => s.create += 1,
                Change::Update { .. } => s.update += 1,
                Change::Delete { .. } => s.delete += 1,
            }
            s.stale_for_s = s.stale_for_s.zip(c.stale_for_s).map(|(a, b)| a.max(b));
            s
        })
    }

    /// The changes `keep` accepts, in the same order; errors are kept whole.
    pub fn filtered(&self, keep: impl Fn(&PlannedChange) -> bool) -> Plan {
        Plan {
            changes: self.changes.iter().filter(|c| keep(c)).cloned().collect(),
            errors: self.errors.clone(),
        }
    }

    /// A short digest of exactly what would be written (zone, provider, action, name,
    /// type, TTL, values before and after); reasons, owners and errors do not count, so
    /// the same writes always give the same checksum.
    pub fn checksum(&self) -> String {
        let mut hasher = Sha256::new();
        for c in &self.changes {
            let line = serde_json::to_string(&(c.zone.as_str(), &c.provider, &c.change)).expect("a change serialises");
            hasher.update(line.as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(&hasher.finalize()[..8])
    }

    /// The changes for one provider of one zone, in plan order.
    pub fn for_provider<'a>(
        &'a self,
        zone: &'a ZoneName,
        provider: &'a str,
    ) -> impl Iterator<Item = &'a PlannedChange> + 'a {
        self.changes
            .iter()
            .filter(move |c| &c.zone == zone && c.provider == provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: &str, ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet::new(name, RecordType::A, ttl, values.iter().copied()).unwrap()
    }

    fn want(set: RecordSet) -> Desired {
        Desired {
            set,
            reason: "test".into(),
        }
    }

    #[test]
    fn in_sync_gives_no_changes() {
        let live = vec![a("www.example.test.", 30, &["192.0.2.1"])];
        assert!(diff(&live, &[want(live[0].clone())]).is_empty());
    }

    #[test]
    fn unmanaged_sets_are_never_touched() {
        let live = vec![
            a("www.example.test.", 30, &["192.0.2.1"]),
            a("other.example.test.", 30, &["192.0.2.9"]),
        ];
        let changes = diff(&live, &[want(a("www.example.test.", 30, &["192.0.2.2"]))]);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0.subject().name, "www.example.test.");
    }

    #[test]
    fn values_and_ttl_changes_are_updates_and_missing_sets_creates() {
        let live = vec![
            a("www.example.test.", 30, &["192.0.2.1"]),
            a("api.example.test.", 30, &["192.0.2.1"]),
        ];
        let changes = diff(
            &live,
            &[
                want(a("www.example.test.", 30, &["192.0.2.2"])),
                want(a("api.example.test.", 60, &["192.0.2.1"])),
                want(a("new.example.test.", 30, &["192.0.2.3"])),
            ],
        );
        let actions: Vec<_> = changes
            .iter()
            .map(|(c, _)| (c.action(), c.subject().name.as_str()))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("create", "new.example.test."),
                ("update", "api.example.test."),
                ("update", "www.example.test.")
            ]
        );
    }

    #[test]
    fn checksum_depends_on_writes_not_reasons() {
        let zone = ZoneName::new("example.test.").unwrap();
        let mut p1 = Plan::default();
        p1.extend(
            &zone,
            &zone,
            "pdns-a",
            vec![(
                Change::Create {
                    after: a("www.example.test.", 30, &["192.0.2.1"]),
                },
                "one".into(),
            )],
            &[],
        );
        let mut p2 = Plan::default();
        p2.extend(
            &zone,
            &zone,
            "pdns-a",
            vec![(
                Change::Create {
                    after: a("www.example.test.", 30, &["192.0.2.1"]),
                },
                "two".into(),
            )],
            &[],
        );
        assert_eq!(p1.checksum(), p2.checksum());
        let mut p3 = Plan::default();
        p3.extend(
            &zone,
            &zone,
            "pdns-a",
            vec![(
                Change::Create {
                    after: a("www.example.test.", 30, &["192.0.2.2"]),
                },
                "one".into(),
            )],
            &[],
        );
        assert_ne!(p1.checksum(), p3.checksum());
        assert_eq!(p1.checksum().len(), 16);
    }

    fn soa(ttl: u32, minimum: u32) -> RecordSet {
        let value = format!("ns1.example.test. hostmaster.example.test. 7 3600 600 604800 {minimum}");
        RecordSet::new("example.test.", RecordType::Soa, ttl, [value.as_str()]).unwrap()
    }

    #[test]
    fn stale_for_is_the_old_ttl_of_an_update_or_delete_and_the_negative_ttl_of_a_create() {
        let old = a("www.example.test.", 300, &["192.0.2.1"]);
        let live = vec![soa(3600, 60), old.clone()];
        let update = Change::Update {
            before: old.clone(),
            after: a("www.example.test.", 30, &["192.0.2.2"]),
        };
        // Resolvers cached the old set for its own TTL, whatever the new one is.
        assert_eq!(stale_for(&update, &live), Some(300));
        assert_eq!(stale_for(&Change::Delete { before: old }, &live), Some(300));
        let create = Change::Create {
            after: a("new.example.test.", 30, &["192.0.2.3"]),
        };
        assert_eq!(stale_for(&create, &live), Some(60));
        // The SOA's own TTL caps its minimum (RFC 2308).
        assert_eq!(stale_for(&create, &[soa(45, 3600)]), Some(45));
        // No SOA read: unknown, not zero.
        assert_eq!(stale_for(&create, &[]), None);
    }

    #[test]
    fn the_summary_says_when_every_resolver_has_followed() {
        let zone = ZoneName::new("example.test.").unwrap();
        let live = vec![soa(3600, 60), a("www.example.test.", 300, &["192.0.2.1"])];
        let mut plan = Plan::default();
        assert_eq!(plan.summary().stale_for_s, Some(0));
        let changes = diff(
            &live,
            &[
                want(a("www.example.test.", 30, &["192.0.2.2"])),
                want(a("new.example.test.", 30, &["192.0.2.3"])),
            ],
        );
        plan.extend(&zone, &zone, "pdns-a", changes, &live);
        let stale: Vec<Option<u32>> = plan.changes.iter().map(|c| c.stale_for_s).collect();
        assert_eq!(stale, [Some(60), Some(300)]);
        assert_eq!(plan.summary().stale_for_s, Some(300));
        // One unknown makes the whole unknown.
        plan.extend(
            &zone,
            &zone,
            "other",
            vec![(
                Change::Create {
                    after: a("x.example.test.", 30, &["192.0.2.4"]),
                },
                "t".into(),
            )],
            &[],
        );
        assert_eq!(plan.summary().stale_for_s, None);
    }

    #[test]
    fn a_weight_change_is_an_update_of_its_set_alone() {
        let us = a("www.example.test.", 30, &["192.0.2.10"]).weighted("us-east", 3);
        let eu = a("www.example.test.", 30, &["198.51.100.10"]).weighted("eu-west", 1);
        let live = vec![us.clone(), eu.clone()];
        assert!(diff(&live, &[want(us.clone()), want(eu.clone())]).is_empty());
        let down = us.clone().weighted("us-east", 0);
        let changes = diff(&live, &[want(down.clone()), want(eu)]);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].0,
            Change::Update {
                before: us,
                after: down
            }
        );
    }

    #[test]
    fn a_weighted_record_owns_every_set_of_its_name_and_type() {
        let plain = a("www.example.test.", 30, &["192.0.2.1"]);
        let gone = a("www.example.test.", 30, &["203.0.113.9"]).weighted("old-pool", 1);
        let other = a("api.example.test.", 30, &["192.0.2.1"]).weighted("x", 1);
        let us = a("www.example.test.", 30, &["192.0.2.10"]).weighted("us-east", 3);
        let live = vec![plain.clone(), gone.clone(), other];
        let changes = diff(&live, &[want(us.clone())]);
        let got: Vec<_> = changes.iter().map(|(c, _)| c.clone()).collect();
        // The plain set it replaces and a removed pool's set are deleted (first, so the
        // batch frees the name); another name's sets are not touched.
        assert_eq!(
            got,
            vec![
                Change::Delete { before: plain.clone() },
                Change::Delete { before: gone.clone() },
                Change::Create { after: us.clone() },
            ]
        );
        // Back to unweighted: the weighted sets give way to the plain one.
        let changes = diff(&[us.clone(), gone.clone()], &[want(plain.clone())]);
        let actions: Vec<_> = changes.iter().map(|(c, _)| c.action()).collect();
        assert_eq!(actions, ["delete", "delete", "create"]);
    }
}
