use std::collections::BTreeMap;

use chrono::TimeZone;
use dnsteer_providers::RecordType;

use super::*;
use crate::plan::{Hold, Plan};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn zone() -> ZoneName {
    ZoneName::new("example.test.").unwrap()
}

fn over(record: &str, pool: &str) -> (ZoneName, Note) {
    (
        zone(),
        Note::FailedOver {
            record: format!("{record}.example.test."),
            rtype: RecordType::A,
            pool: pool.into(),
        },
    )
}

fn decision(notes: Vec<(ZoneName, Note)>) -> Decision {
    Decision {
        plan: Plan::default(),
        notes,
        held: Vec::new(),
        delegated: BTreeMap::from([(zone(), vec!["pdns-a".to_string()])]),
        ..Decision::default()
    }
}

fn drain(s: &mut Supervisor) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

const ALWAYS: &dyn Fn(&ZoneName) -> bool = &|_| true;

#[test]
fn one_region_failing_is_one_failover_event_naming_every_record() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let notes = (0..12).map(|i| over(&format!("r{i}"), "eu-west")).collect();
    s.handle_decision(&decision(notes), ALWAYS, true, at(0));
    let events = drain(&mut s);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, EventKind::Failover);
    assert_eq!(events[0].records.len(), 12);
    // The same situation next cycle is no news; its end is one failback.
    let notes = (0..12).map(|i| over(&format!("r{i}"), "eu-west")).collect();
    s.handle_decision(&decision(notes), ALWAYS, true, at(1));
    assert!(drain(&mut s).is_empty());
    s.handle_decision(&decision(Vec::new()), ALWAYS, true, at(2));
    let events = drain(&mut s);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, EventKind::Failback);
    assert_eq!(events[0].records.len(), 12);
    assert_eq!(
        events[0].dedup_key(),
        Event::new(EventKind::Failover, "a", at(0), "")
            .zone("example.test.")
            .dedup_key()
    );
}

#[test]
fn every_pool_down_is_no_failback() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    s.handle_decision(&decision(vec![over("www", "eu-west")]), ALWAYS, true, at(0));
    drain(&mut s);
    let all_down = (
        zone(),
        Note::AllPoolsDown {
            record: "www.example.test.".into(),
            rtype: RecordType::A,
        },
    );
    s.handle_decision(&decision(vec![all_down]), ALWAYS, true, at(1));
    let events = drain(&mut s);
    assert_eq!(
        events.iter().map(|e| e.event).collect::<Vec<_>>(),
        vec![EventKind::AllPoolsDown]
    );
}

#[test]
fn an_undecided_delegation_is_no_failback() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let out = (
        zone(),
        Note::ProviderOut {
            provider: "pdns-b".into(),
            reason: "provider:pdns-b is unhealthy".into(),
        },
    );
    s.handle_decision(&decision(vec![out]), ALWAYS, true, at(0));
    assert_eq!(drain(&mut s).len(), 1);
    // The parent could not be read: no NS notes, and no delegation decided.
    let mut unread = decision(Vec::new());
    unread.delegated.insert(zone(), Vec::new());
    s.handle_decision(&unread, ALWAYS, true, at(1));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn movement_that_cannot_happen_waits() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let never: &dyn Fn(&ZoneName) -> bool = &|_| false;
    s.handle_decision(&decision(vec![over("www", "eu-west")]), never, true, at(0));
    assert!(drain(&mut s).is_empty(), "paused or held: no failover yet");
    s.handle_decision(&decision(vec![over("www", "eu-west")]), ALWAYS, true, at(1));
    assert_eq!(drain(&mut s).len(), 1);
}

#[test]
fn backoff_follows_the_kind_of_error() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let z = zone();
    let transient = ProviderError::Transient {
        provider: "p".into(),
        message: "503".into(),
    };
    assert_eq!(
        s.handle_apply(&z, "p", &[], Some(&transient), at(0)),
        AfterFailure::Wait
    );
    assert!(!s.may_write("p", at(0)));
    assert!(s.may_write("p", at(1)), "the first wait is a second");
    s.handle_apply(&z, "p", &[], Some(&transient), at(1));
    assert!(!s.may_write("p", at(2)) && s.may_write("p", at(3)), "then two");
    let alerts = drain(&mut s);
    assert_eq!(alerts.len(), 1, "one apply_failed per outage: {alerts:?}");
    assert_eq!(alerts[0].event, EventKind::ApplyFailed);

    let limited = ProviderError::RateLimited {
        provider: "q".into(),
        retry_after: Some(Duration::from_secs(30)),
    };
    s.handle_apply(&z, "q", &[], Some(&limited), at(0));
    assert!(
        !s.may_write("q", at(29)) && s.may_write("q", at(30)),
        "Retry-After is honoured"
    );

    let auth = ProviderError::Auth {
        provider: "r".into(),
        message: "401".into(),
    };
    s.handle_apply(&z, "r", &[], Some(&auth), at(0));
    assert!(!s.may_write("r", at(299)), "refused credentials wait long");

    let conflict = ProviderError::Conflict {
        provider: "c".into(),
        message: "changed".into(),
    };
    assert_eq!(
        s.handle_apply(&z, "c", &[], Some(&conflict), at(0)),
        AfterFailure::Replan
    );
    assert!(s.may_write("c", at(0)), "a conflict re-reads at once");

    s.handle_apply(&z, "p", &[], None, at(5));
    assert!(s.may_write("p", at(5)));
    assert!(!s.write_outages().contains_key("p"), "a success ends the outage");
}

#[test]
fn a_held_plan_is_approved_by_its_checksum_only_while_held() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let mut d = decision(Vec::new());
    d.held.push(Hold {
        zone: zone(),
        reasons: vec!["a delete".into()],
        checksum: "abc".into(),
    });
    s.handle_decision(&d, ALWAYS, true, at(0));
    let events = drain(&mut s);
    assert!(
        events[0].summary.contains("abc"),
        "the alert gives the checksum to approve"
    );
    assert!(approvable("nope", Some(&d)).is_err());
    assert_eq!(approvable("abc", Some(&d)).unwrap(), vec![zone()]);
    let approved = BTreeSet::from(["abc".to_string(), "old".to_string()]);
    assert_eq!(live_approvals(&approved, &d), BTreeSet::from(["abc".to_string()]));
    // Once the plan changes, the approval no longer applies to anything.
    assert!(live_approvals(&approved, &decision(Vec::new())).is_empty());
}

#[test]
fn reads_failing_are_one_read_failed_per_outage() {
    let mut s = Supervisor::new("a", FlapHistory::default());
    let z = zone();
    let e = ProviderError::Auth {
        provider: "p".into(),
        message: "401".into(),
    };
    for t in 0..3 {
        s.handle_reads([(&z, "p", Some(&e))], true, at(t));
    }
    let events = drain(&mut s);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, EventKind::ReadFailed);
    s.handle_reads([(&z, "p", None)], true, at(4));
    assert!(s.read_outages().is_empty());
}
