//! The record model every provider speaks: absolute lowercase names, record sets with
//! sorted canonical values, and the create/update/delete changes a plan is made of.
//!
//! Everything is normalised on construction so that two record sets that mean the same
//! thing compare equal, whatever the provider's spelling: that is what makes a plan
//! after an apply come out empty.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A record type. The types dnsteer steers are named; every other type a zone holds is
/// carried through as `Other` so it can be read (and left alone).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    A,
    Aaaa,
    Cname,
    Ns,
    Soa,
    Mx,
    Txt,
    Srv,
    Caa,
    Ptr,
    Other(String),
}

impl RecordType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Ns => "NS",
            Self::Soa => "SOA",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Srv => "SRV",
            Self::Caa => "CAA",
            Self::Ptr => "PTR",
            Self::Other(s) => s,
        }
    }
}

impl FromStr for RecordType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        Ok(match upper.as_str() {
            "A" => Self::A,
            "AAAA" => Self::Aaaa,
            "CNAME" => Self::Cname,
            "NS" => Self::Ns,
            "SOA" => Self::Soa,
            "MX" => Self::Mx,
            "TXT" => Self::Txt,
            "SRV" => Self::Srv,
            "CAA" => Self::Caa,
            "PTR" => Self::Ptr,
            _ => Self::Other(upper),
        })
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RecordType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RecordType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or_else(|never| match never {}))
    }
}

/// Why a name or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("invalid DNS name {0:?}: {1}")]
    Name(String, &'static str),
    #[error("{value:?} is not a valid {rtype} value")]
    Value { rtype: RecordType, value: String },
}

/// Normalises a DNS name: lowercase, absolute (trailing dot), checked for length and
/// label syntax (letters, digits, `-`, `_`, and a leading `*` label).
pub fn normalize_name(name: &str) -> Result<String, RecordError> {
    let err = |why| RecordError::Name(name.to_string(), why);
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(err("empty"));
    }
    if trimmed == "." {
        return Ok(".".to_string());
    }
    let body = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if body.len() > 253 {
        return Err(err("longer than 253 characters"));
    }
    for (i, label) in body.split('.').enumerate() {
        if label.is_empty() {
            return Err(err("empty label"));
        }
        if label.len() > 63 {
            return Err(err("label longer than 63 characters"));
        }
        if label == "*" && i == 0 {
            continue;
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(err("labels may hold only letters, digits, '-' and '_'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err("a label may not start or end with '-'"));
        }
    }
    Ok(format!("{}.", body.to_ascii_lowercase()))
}

/// A zone's name: absolute and lowercase, e.g. `example.test.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZoneName(String);

impl ZoneName {
    pub fn new(name: &str) -> Result<Self, RecordError> {
        normalize_name(name).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The absolute name of `relative` in this zone: `@` is the apex, a name ending in
    /// a dot is taken as already absolute.
    pub fn absolute(&self, relative: &str) -> Result<String, RecordError> {
        let relative = relative.trim();
        if relative == "@" || relative.is_empty() {
            return Ok(self.0.clone());
        }
        if relative.ends_with('.') {
            return normalize_name(relative);
        }
        normalize_name(&format!("{}.{}", relative, self.0))
    }

    /// Whether an absolute, normalised name is this zone's apex or below it.
    pub fn contains(&self, absolute: &str) -> bool {
        self.0 == "." || absolute == self.0 || absolute.ends_with(&format!(".{}", self.0))
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ZoneName {
    type Error = RecordError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<ZoneName> for String {
    fn from(z: ZoneName) -> String {
        z.0
    }
}

/// Canonical presentation of one value of `rtype`: addresses in their shortest form,
/// names lowercase and absolute. Types dnsteer does not steer are only trimmed.
pub fn normalize_value(rtype: &RecordType, value: &str) -> Result<String, RecordError> {
    let bad = || RecordError::Value {
        rtype: rtype.clone(),
        value: value.to_string(),
    };
    let v = value.trim();
    match rtype {
        RecordType::A => v.parse::<Ipv4Addr>().map(|a| a.to_string()).map_err(|_| bad()),
        RecordType::Aaaa => v.parse::<Ipv6Addr>().map(|a| a.to_string()).map_err(|_| bad()),
        RecordType::Cname | RecordType::Ns | RecordType::Ptr => normalize_name(v).map_err(|_| bad()),
        RecordType::Mx => {
            let (pref, host) = v.split_once(char::is_whitespace).ok_or_else(bad)?;
            let pref: u16 = pref.parse().map_err(|_| bad())?;
            let host = normalize_name(host.trim()).map_err(|_| bad())?;
            Ok(format!("{pref} {host}"))
        }
        _ if v.is_empty() => Err(bad()),
        // Spaces inside a TXT string are data; only the ends are trimmed.
        RecordType::Txt => Ok(v.to_string()),
        _ => Ok(v.split_whitespace().collect::<Vec<_>>().join(" ")),
    }
}

/// All records of one name and type: the unit every provider reads and writes. A
/// weighted record (Route 53's way) is several sets of one name and type, each with its
/// own `set_id` and `weight`; every other set has neither.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordSet {
    /// Absolute, lowercase owner name.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: RecordType,
    pub ttl: u32,
    /// Canonical values, sorted and without duplicates.
    pub values: Vec<String>,
    /// Which set of a weighted record this is (Route 53's SetIdentifier; dnsteer uses
    /// the pool's name). Absent from JSON when `None`, so an unweighted set (and a
    /// plan's checksum over it) reads as it always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    /// The set's share of answers against the other sets of its name and type; 0 takes
    /// it out of the answers without deleting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

impl RecordSet {
    /// Builds a normalised record set, refusing names and values that are not valid.
    pub fn new<I, S>(name: &str, rtype: RecordType, ttl: u32, values: I) -> Result<Self, RecordError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let name = normalize_name(name)?;
        let mut values = values
            .into_iter()
            .map(|v| normalize_value(&rtype, v.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        values.sort();
        values.dedup();
        Ok(Self {
            name,
            rtype,
            ttl,
            values,
            set_id: None,
            weight: None,
        })
    }

    /// This set as the set `set_id` of a weighted record, with `weight`.
    pub fn weighted(self, set_id: &str, weight: u32) -> Self {
        Self {
            set_id: Some(set_id.to_string()),
            weight: Some(weight),
            ..self
        }
    }

    /// The identity of a record set within a zone: its name, type and, for one set of
    /// a weighted record, its set identifier.
    pub fn key(&self) -> (&str, &RecordType, Option<&str>) {
        (&self.name, &self.rtype, self.set_id.as_deref())
    }

    /// `us-east weight 3` for a set of a weighted record; `None` for any other.
    pub fn routing_label(&self) -> Option<String> {
        let set = self.set_id.as_deref()?;
        Some(match self.weight {
            Some(w) => format!("{set} weight {w}"),
            None => set.to_string(),
        })
    }
}

impl fmt::Display for RecordSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.ttl, self.rtype)?;
        if let Some(label) = self.routing_label() {
            write!(f, " ({label})")?;
        }
        write!(f, " [{}]", self.values.join(", "))
    }
}

/// One step of a plan. `before` is what was read from the provider; adapters that can
/// compare-and-set use it to refuse a write over a set someone else changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Change {
    Create { after: RecordSet },
    Update { before: RecordSet, after: RecordSet },
    Delete { before: RecordSet },
}

impl Change {
    pub fn action(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Update { .. } => "update",
            Self::Delete { .. } => "delete",
        }
    }

    pub fn before(&self) -> Option<&RecordSet> {
        match self {
            Self::Create { .. } => None,
            Self::Update { before, .. } | Self::Delete { before } => Some(before),
        }
    }

    pub fn after(&self) -> Option<&RecordSet> {
        match self {
            Self::Create { after } | Self::Update { after, .. } => Some(after),
            Self::Delete { .. } => None,
        }
    }

    /// The record set this change is about (its name, type and set).
    pub fn subject(&self) -> &RecordSet {
        self.after()
            .or(self.before())
            .expect("every change has a before or an after")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { after } => write!(f, "create {after}"),
            Self::Update { before, after } => write!(f, "update {before} -> {after}"),
            Self::Delete { before } => write!(f, "delete {before}"),
        }
    }
}

/// SRV `priority weight port target` with an absolute target; CAA `flags tag "value"`
/// with the value quoted. Anything else, or a value that does not fit, is left as is.
pub(crate) fn canonical(rtype: &RecordType, value: &str) -> String {
    match rtype {
        RecordType::Srv => match srv_parts(value) {
            Some((p, w, port, target)) => {
                let target = normalize_name(target).unwrap_or_else(|_| target.to_string());
                format!("{p} {w} {port} {target}")
            }
            None => value.to_string(),
        },
        RecordType::Caa => match caa_parts(value) {
            Some((flags, tag, v)) => format!("{flags} {tag} \"{v}\""),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// An SRV value's priority, weight, port and target.
pub(crate) fn srv_parts(value: &str) -> Option<(u16, u16, u16, &str)> {
    let mut it = value.split_whitespace();
    let parts = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?,
    );
    it.next().is_none().then_some(parts)
}

/// A CAA value's flags, tag and value (its quotes taken off).
pub(crate) fn caa_parts(value: &str) -> Option<(u8, &str, &str)> {
    let (flags, rest) = value.trim().split_once(char::is_whitespace)?;
    let (tag, v) = rest.trim_start().split_once(char::is_whitespace)?;
    let v = v.trim();
    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
    Some((flags.parse().ok()?, tag, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_and_absolute() {
        assert_eq!(normalize_name("WWW.Example.Test").unwrap(), "www.example.test.");
        assert_eq!(normalize_name("*.example.test.").unwrap(), "*.example.test.");
        assert!(normalize_name("a..b").is_err());
        assert!(normalize_name("-a.test").is_err());
        assert!(normalize_name("a b.test").is_err());
        assert!(normalize_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn zone_relative_names() {
        let z = ZoneName::new("Example.Test").unwrap();
        assert_eq!(z.absolute("@").unwrap(), "example.test.");
        assert_eq!(z.absolute("WWW").unwrap(), "www.example.test.");
        assert_eq!(z.absolute("other.test.").unwrap(), "other.test.");
        assert!(z.contains("www.example.test."));
        assert!(!z.contains("wwwexample.test."));
    }

    #[test]
    fn values_are_canonical_sorted_and_unique() {
        let rs = RecordSet::new(
            "www.example.test",
            RecordType::Aaaa,
            30,
            ["2001:DB8:0::1", "2001:db8::1", "::2"],
        )
        .unwrap();
        assert_eq!(rs.values, vec!["2001:db8::1", "::2"]);
        let ns = RecordSet::new("example.test.", RecordType::Ns, 300, ["NS2.P.test", "ns1.p.test."]).unwrap();
        assert_eq!(ns.values, vec!["ns1.p.test.", "ns2.p.test."]);
        assert!(RecordSet::new("www.example.test", RecordType::A, 30, ["300.1.1.1"]).is_err());
        assert!(RecordSet::new("www.example.test", RecordType::A, 30, ["2001:db8::1"]).is_err());
    }

    #[test]
    fn change_json_is_tagged_by_action() {
        let after = RecordSet::new("www.example.test", RecordType::A, 30, ["192.0.2.1"]).unwrap();
        let json = serde_json::to_value(Change::Create { after }).unwrap();
        assert_eq!(json["action"], "create");
        assert_eq!(json["after"]["type"], "A");
        // No routing fields on an unweighted set: its JSON (and checksums) as before.
        assert!(json["after"].get("set_id").is_none() && json["after"].get("weight").is_none());
    }

    #[test]
    fn each_set_of_a_weighted_record_has_its_own_key() {
        let plain = RecordSet::new("www.example.test", RecordType::A, 30, ["192.0.2.1"]).unwrap();
        let east = plain.clone().weighted("us-east", 3);
        let west = plain.clone().weighted("eu-west", 1);
        assert_ne!(plain.key(), east.key());
        assert_ne!(east.key(), west.key());
        assert_eq!(east.key(), ("www.example.test.", &RecordType::A, Some("us-east")));
        assert_eq!(
            east.to_string(),
            "www.example.test. 30 A (us-east weight 3) [192.0.2.1]"
        );
        let json = serde_json::to_value(&east).unwrap();
        assert_eq!(json["set_id"], "us-east");
        assert_eq!(json["weight"], 3);
        assert_eq!(serde_json::from_value::<RecordSet>(json).unwrap(), east);
    }
}
