//! Between dnsteer's record model and DNS wire records: zone transfer answers become
//! `RecordSet`s, and a batch of `Change`s becomes one compare-and-set UPDATE message.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hickory_proto::op::{Message, OpCode, Query};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType};

use crate::record::{Change, RecordSet, RecordType};

/// The wire type of one of our record types, for the types this adapter writes or
/// reads by name.
pub(crate) fn wire_type(rtype: &RecordType) -> Option<WireType> {
    Some(match rtype {
        RecordType::A => WireType::A,
        RecordType::Aaaa => WireType::AAAA,
        RecordType::Cname => WireType::CNAME,
        RecordType::Ns => WireType::NS,
        RecordType::Soa => WireType::SOA,
        RecordType::Mx => WireType::MX,
        RecordType::Txt => WireType::TXT,
        RecordType::Srv => WireType::SRV,
        RecordType::Caa => WireType::CAA,
        RecordType::Ptr => WireType::PTR,
        RecordType::Other(_) => return None,
    })
}

/// Our name for a wire type; types without a mnemonic get RFC 3597's `TYPEnnn`.
fn record_type(wire: WireType) -> RecordType {
    match wire {
        WireType::Unknown(code) => RecordType::Other(format!("TYPE{code}")),
        known => known.to_string().parse().unwrap_or_else(|never| match never {}),
    }
}

/// The presentation form of one value, in the spelling `RecordSet::new` normalises:
/// names in ASCII (never IDNA-decoded) and absolute, TXT as quoted strings.
pub(crate) fn present(rdata: &RData) -> Option<String> {
    Some(match rdata {
        RData::A(a) => a.to_string(),
        RData::AAAA(a) => a.to_string(),
        RData::CNAME(name) => name.0.to_ascii(),
        RData::NS(name) => name.0.to_ascii(),
        RData::PTR(name) => name.0.to_ascii(),
        RData::MX(mx) => format!("{} {}", mx.preference, mx.exchange.to_ascii()),
        RData::SRV(srv) => format!("{} {} {} {}", srv.priority, srv.weight, srv.port, srv.target.to_ascii()),
        RData::SOA(soa) => format!(
            "{} {} {} {} {} {} {}",
            soa.mname.to_ascii(),
            soa.rname.to_ascii(),
            soa.serial,
            soa.refresh,
            soa.retry,
            soa.expire,
            soa.minimum
        ),
        RData::TXT(txt) => present_txt(&txt.txt_data),
        RData::Unknown { rdata, .. } => {
            let mut out = format!("\\# {}", rdata.anything.len());
            if !rdata.anything.is_empty() {
                out.push(' ');
                for byte in &rdata.anything {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            out
        }
        other => {
            // Some rdata (OPT) has no presentation form; such records never come in a
            // zone transfer's answers, and are skipped if they do.
            let mut out = String::new();
            write!(out, "{other}").ok()?;
            out
        }
    })
}

/// TXT character-strings, each quoted, `"` and `\` escaped, bytes outside printable
/// ASCII as `\DDD` (the form BIND and Knot print).
fn present_txt(strings: &[Box<[u8]>]) -> String {
    let mut out = String::new();
    for (i, s) in strings.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in s.iter() {
            match b {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
        out.push('"');
    }
    out
}

/// Parses TXT presentation form: quoted or bare character-strings separated by blanks,
/// with `\X` and `\DDD` escapes.
fn parse_txt(value: &str) -> Result<TXT, String> {
    let bytes = value.as_bytes();
    let mut strings: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = bytes[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut current = Vec::new();
        let mut closed = !quoted;
        while i < bytes.len() {
            let b = bytes[i];
            if quoted && b == b'"' {
                i += 1;
                closed = true;
                break;
            }
            if !quoted && b.is_ascii_whitespace() {
                break;
            }
            if b == b'\\' {
                let digits = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let code = d.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    let code = u8::try_from(code).map_err(|_| format!("escape \\{} is not a byte", code))?;
                    current.push(code);
                    i += 4;
                } else {
                    let escaped = *bytes.get(i + 1).ok_or("a TXT value ends with a lone backslash")?;
                    current.push(escaped);
                    i += 2;
                }
                continue;
            }
            current.push(b);
            i += 1;
        }
        if !closed {
            return Err("unterminated quoted string".to_string());
        }
        if current.len() > 255 {
            return Err(format!(
                "a TXT character-string holds at most 255 bytes, this one {}",
                current.len()
            ));
        }
        strings.push(current);
    }
    if strings.is_empty() {
        return Err("empty TXT value".to_string());
    }
    Ok(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
}

/// The wire form of one value of `rtype`.
pub(crate) fn parse_value(rtype: &RecordType, value: &str) -> Result<RData, String> {
    match rtype {
        RecordType::Txt => parse_txt(value).map(RData::TXT),
        other => {
            let wire = wire_type(other).ok_or_else(|| format!("{other} records are not supported"))?;
            RData::try_from_str(wire, value).map_err(|e| e.to_string())
        }
    }
}

/// The value as this adapter would read it back after writing it, or the value as it
/// was when it cannot be written (apply refuses it then).
pub(crate) fn canonical_value(rtype: &RecordType, value: &str) -> String {
    parse_value(rtype, value)
        .ok()
        .and_then(|rdata| present(&rdata))
        .unwrap_or_else(|| value.to_string())
}

/// What a zone transfer held, as record sets: grouped by name and type, sorted, with the
/// transfer's closing SOA dropped. Records our model refuses (a name with characters it
/// does not allow) are left out with a warning: nothing can plan changes to them, so
/// they stay untouched.
pub(crate) fn record_sets(mut records: Vec<Record>, provider: &str) -> Vec<RecordSet> {
    if records.len() > 1 && records.last().is_some_and(|r| r.record_type() == WireType::SOA) {
        records.pop();
    }
    let mut groups: BTreeMap<(String, RecordType), (u32, Vec<String>)> = BTreeMap::new();
    for record in &records {
        let Some(value) = present(&record.data) else {
            tracing::warn!(provider, name = %record.name, rtype = %record.record_type(), "record without a presentation form skipped");
            continue;
        };
        let key = (
            record.name.to_ascii().to_ascii_lowercase(),
            record_type(record.record_type()),
        );
        let entry = groups.entry(key).or_insert((record.ttl, Vec::new()));
        // RFC 2181 §5.2: one TTL per set; should a server hold several, report the lowest.
        entry.0 = entry.0.min(record.ttl);
        entry.1.push(value);
    }
    let mut sets: Vec<RecordSet> = groups
        .into_iter()
        .filter_map(
            |((name, rtype), (ttl, values))| match RecordSet::new(&name, rtype.clone(), ttl, &values) {
                Ok(set) => Some(set),
                Err(error) => {
                    tracing::warn!(provider, %name, %rtype, %error, "record set the model cannot hold skipped");
                    None
                }
            },
        )
        .collect();
    sets.sort();
    sets
}

/// Parses a set's values into wire records of class IN with `ttl`.
fn records(set: &RecordSet, owner: &Name, ttl: u32) -> Result<Vec<Record>, String> {
    set.values
        .iter()
        .map(|value| {
            parse_value(&set.rtype, value)
                .map(|rdata| Record::from_rdata(owner.clone(), ttl, rdata))
                .map_err(|why| format!("{} {} value {value:?}: {why}", set.name, set.rtype))
        })
        .collect()
}

/// An empty record of `class` naming a set: `NONE` means "must not exist" as a
/// prerequisite, `ANY` means "delete the set" as an update (RFC 2136 §2.4.3, §2.5.2).
fn empty(owner: &Name, rtype: WireType, class: DNSClass) -> Record {
    let mut record = Record::update0(owner.clone(), 0, rtype);
    record.dns_class = class;
    record
}

/// An UPDATE message for `zone` with an empty body: sent alone, it changes nothing and
/// only shows whether the server takes the key.
pub(crate) fn update_for(zone: &Name) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut zone_section = Query::new();
    zone_section
        .set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(WireType::SOA);
    message.add_query(zone_section);
    message
}

/// The owner name and wire type of the set a change is about.
fn subject(change: &Change) -> Result<(Name, WireType), String> {
    let subject = change.subject();
    let owner = Name::from_ascii(&subject.name).map_err(|e| format!("{}: {e}", subject.name))?;
    let rtype = wire_type(&subject.rtype).ok_or_else(|| format!("{} records are not supported", subject.rtype))?;
    Ok((owner, rtype))
}

/// The prerequisite that makes a change compare-and-set: a create needs the set absent
/// (§2.4.3), an update or delete needs exactly the values read (§2.4.2, TTL ignored).
fn prerequisite(change: &Change, owner: &Name, rtype: WireType) -> Result<Vec<Record>, String> {
    match change.before() {
        None => Ok(vec![empty(owner, rtype, DNSClass::NONE)]),
        Some(before) => records(before, owner, 0),
    }
}

/// Builds the UPDATE for `changes`, prerequisites first (RFC 2136 §3.2), updates in the
/// order given (the server applies them in that order, §3.4.2):
///
/// - create: the set must not exist, then its records are added;
/// - update: the set must hold exactly `before`'s values, then it is deleted and
///   `after` added. At the apex NS set a server ignores a whole-set delete (§3.4.2.3),
///   so there `after` is added first and the values it drops are deleted one by one,
///   never leaving the zone without NS;
/// - delete: the set must hold exactly `before`'s values, then it is deleted.
///
/// The caller has checked that every name is in `zone` and every type writable.
pub(crate) fn update_message(zone: &Name, apex: &str, changes: &[Change]) -> Result<Message, String> {
    let mut prerequisites = Vec::new();
    let mut updates = Vec::new();
    for change in changes {
        let (owner, rtype) = subject(change)?;
        prerequisites.extend(prerequisite(change, &owner, rtype)?);
        match change {
            Change::Create { after } => updates.extend(records(after, &owner, after.ttl)?),
            Change::Update { before, after } if after.rtype == RecordType::Ns && after.name == apex => {
                updates.extend(records(after, &owner, after.ttl)?);
                for mut gone in records(before, &owner, 0)? {
                    if !after.values.contains(&present(&gone.data).unwrap_or_default()) {
                        gone.dns_class = DNSClass::NONE;
                        updates.push(gone);
                    }
                }
            }
            Change::Update { after, .. } => {
                updates.push(empty(&owner, rtype, DNSClass::ANY));
                updates.extend(records(after, &owner, after.ttl)?);
            }
            Change::Delete { .. } => updates.push(empty(&owner, rtype, DNSClass::ANY)),
        }
    }
    let mut message = update_for(zone);
    message.add_answers(prerequisites);
    message.add_authorities(updates);
    Ok(message)
}

/// An UPDATE that asks the server's permission for every set `changes` touch and
/// changes nothing: the same prerequisites, then per set the delete of one record that
/// the prerequisite guarantees is not there (a no-op, §3.4.2.4). A server that checks
/// permissions by name and type (BIND's update-policy, Knot's ACL) answers it REFUSED
/// or NOTAUTH exactly when the key may not write one of those sets. `None` when a set
/// holds every stand-in value.
pub(crate) fn permission_probe(zone: &Name, changes: &[Change]) -> Result<Option<Message>, String> {
    let mut prerequisites = Vec::new();
    let mut updates = Vec::new();
    for change in changes {
        let (owner, rtype) = subject(change)?;
        prerequisites.extend(prerequisite(change, &owner, rtype)?);
        let subject = change.subject();
        let held = change.before().map(|b| b.values.as_slice()).unwrap_or_default();
        let Some(absent) = crate::access::stand_in_values(&subject.rtype)
            .iter()
            .find(|c| !held.contains(&canonical_value(&subject.rtype, c)))
        else {
            return Ok(None);
        };
        let mut delete = Record::from_rdata(owner, 0, parse_value(&subject.rtype, absent)?);
        delete.dns_class = DNSClass::NONE;
        updates.push(delete);
    }
    let mut message = update_for(zone);
    message.add_answers(prerequisites);
    message.add_authorities(updates);
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(rtype: RecordType, value: &str) -> String {
        let rdata = parse_value(&rtype, value).unwrap_or_else(|e| panic!("{rtype} {value:?}: {e}"));
        present(&rdata).unwrap()
    }

    #[test]
    fn values_survive_the_wire_unchanged() {
        for (rtype, value) in [
            (RecordType::A, "192.0.2.1"),
            (RecordType::Aaaa, "2001:db8::1"),
            (RecordType::Cname, "target.example.test."),
            (RecordType::Ns, "ns1.example.test."),
            (RecordType::Ptr, "host.example.test."),
            (RecordType::Mx, "10 mail.example.test."),
            (RecordType::Srv, "10 20 443 svc.example.test."),
            (RecordType::Caa, "0 issue \"ca.example.net\""),
            (RecordType::Txt, "\"keep me\""),
            (RecordType::Txt, "\"v=spf1 -all\" \"second string\""),
            (RecordType::Txt, "\"quote \\\" and backslash \\\\\""),
            (RecordType::Txt, "\"caf\\195\\169\""),
        ] {
            assert_eq!(round_trip(rtype.clone(), value), value, "{rtype}");
        }
    }

    #[test]
    fn txt_bare_words_become_quoted_strings() {
        assert_eq!(canonical_value(&RecordType::Txt, "hello world"), "\"hello\" \"world\"");
        assert_eq!(canonical_value(&RecordType::Txt, "\"a\\065b\""), "\"aAb\"");
        assert!(parse_txt("\"open").is_err());
        assert!(parse_txt("").is_err());
        assert!(parse_txt(&format!("\"{}\"", "x".repeat(256))).is_err());
    }

    #[test]
    fn unknown_types_use_rfc3597() {
        let rdata = RData::Unknown {
            code: WireType::Unknown(65280),
            rdata: hickory_proto::rr::rdata::NULL::with(vec![1, 0xab]),
        };
        assert_eq!(present(&rdata).unwrap(), "\\# 2 01ab");
        assert_eq!(
            record_type(WireType::Unknown(65280)),
            RecordType::Other("TYPE65280".into())
        );
        assert_eq!(record_type(WireType::HINFO), RecordType::Other("HINFO".into()));
    }

    #[test]
    fn one_update_holds_prerequisites_then_updates_in_order() {
        let zone = Name::from_ascii("example.test.").unwrap();
        let set = |name: &str, rtype, values: &[&str]| RecordSet::new(name, rtype, 60, values.iter().copied()).unwrap();
        let a1 = set("www.example.test.", RecordType::A, &["192.0.2.1"]);
        let a2 = set("www.example.test.", RecordType::A, &["192.0.2.2", "192.0.2.3"]);
        let txt = set("t.example.test.", RecordType::Txt, &["\"x\""]);
        let changes = [
            Change::Delete { before: txt.clone() },
            Change::Update { before: a1, after: a2 },
            Change::Create { after: txt },
        ];
        let message = update_message(&zone, "example.test.", &changes).unwrap();
        assert_eq!(message.metadata.op_code, OpCode::Update);
        let classes: Vec<_> = message.answers.iter().map(|r| (r.dns_class, r.record_type())).collect();
        assert_eq!(
            classes,
            [
                (DNSClass::IN, WireType::TXT),
                (DNSClass::IN, WireType::A),
                (DNSClass::NONE, WireType::TXT)
            ]
        );
        let updates: Vec<_> = message
            .authorities
            .iter()
            .map(|r| (r.dns_class, r.record_type()))
            .collect();
        assert_eq!(
            updates,
            [
                (DNSClass::ANY, WireType::TXT),
                (DNSClass::ANY, WireType::A),
                (DNSClass::IN, WireType::A),
                (DNSClass::IN, WireType::A),
                (DNSClass::IN, WireType::TXT),
            ]
        );
        assert!(message.answers.iter().all(|r| r.ttl == 0), "prerequisites carry TTL 0");
    }

    #[test]
    fn the_permission_probe_deletes_only_what_is_not_there() {
        let zone = Name::from_ascii("example.test.").unwrap();
        let a = RecordSet::new("www.example.test.", RecordType::A, 60, ["0.0.0.0", "192.0.2.1"]).unwrap();
        let create = RecordSet::new("new.example.test.", RecordType::Txt, 60, ["\"x\""]).unwrap();
        let changes = [Change::Delete { before: a }, Change::Create { after: create }];
        let probe = permission_probe(&zone, &changes).unwrap().unwrap();
        assert_eq!(probe.answers.len(), 3, "the batch's own prerequisites");
        let updates: Vec<_> = probe
            .authorities
            .iter()
            .map(|r| (r.dns_class, r.ttl, r.data.to_string()))
            .collect();
        assert_eq!(
            updates,
            [
                (DNSClass::NONE, 0, "0.0.0.1".to_string()),
                (DNSClass::NONE, 0, "dnsteer permission probe".to_string())
            ]
        );
    }

    #[test]
    fn apex_ns_update_adds_before_it_deletes() {
        let zone = Name::from_ascii("example.test.").unwrap();
        let ns = |values: &[&str]| RecordSet::new("example.test.", RecordType::Ns, 60, values.iter().copied()).unwrap();
        let changes = [Change::Update {
            before: ns(&["a.ns.test.", "b.ns.test."]),
            after: ns(&["b.ns.test.", "c.ns.test."]),
        }];
        let message = update_message(&zone, "example.test.", &changes).unwrap();
        let updates: Vec<_> = message
            .authorities
            .iter()
            .map(|r| (r.dns_class, r.data.to_string()))
            .collect();
        assert_eq!(
            updates,
            [
                (DNSClass::IN, "b.ns.test.".to_string()),
                (DNSClass::IN, "c.ns.test.".to_string()),
                (DNSClass::NONE, "a.ns.test.".to_string()),
            ]
        );
    }
}
