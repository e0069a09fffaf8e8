//! Wire structs of the Route 53 API (2013-04-01, REST-XML), only the fields we use, and
//! the hand-written XML of a change batch.

use quick_xml::escape::escape;
use serde::Deserialize;

/// The API's XML namespace, on every request body.
pub const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListHostedZonesByNameResponse {
    #[serde(default)]
    pub hosted_zones: HostedZones,
}

#[derive(Debug, Default, Deserialize)]
pub struct HostedZones {
    #[serde(rename = "HostedZone", default)]
    pub items: Vec<HostedZone>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedZone {
    /// `/hostedzone/Z123...`
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub config: Option<HostedZoneConfig>,
}

/// GetHostedZone: the zone and the delegation set Route 53 assigned it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetHostedZoneResponse {
    #[serde(default)]
    pub delegation_set: Option<DelegationSet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DelegationSet {
    #[serde(default)]
    pub name_servers: NameServers,
}

#[derive(Debug, Default, Deserialize)]
pub struct NameServers {
    #[serde(rename = "NameServer", default)]
    pub items: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostedZoneConfig {
    #[serde(default)]
    pub private_zone: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceRecordSetsResponse {
    #[serde(default)]
    pub resource_record_sets: ResourceRecordSets,
    #[serde(default)]
    pub is_truncated: bool,
    #[serde(default)]
    pub next_record_name: Option<String>,
    #[serde(default)]
    pub next_record_type: Option<String>,
    #[serde(default)]
    pub next_record_identifier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResourceRecordSets {
    #[serde(rename = "ResourceRecordSet", default)]
    pub items: Vec<ResourceRecordSet>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRecordSet {
    pub name: String,
    #[serde(rename = "Type")]
    pub rtype: String,
    #[serde(rename = "TTL", default)]
    pub ttl: Option<u32>,
    #[serde(default)]
    pub set_identifier: Option<String>,
    /// Present on the sets of a weighted record only (the other routing policies carry
    /// Region, GeoLocation, Failover... instead).
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub resource_records: Option<ResourceRecords>,
    #[serde(default)]
    pub alias_target: Option<AliasTarget>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ResourceRecords {
    #[serde(rename = "ResourceRecord", default)]
    pub items: Vec<ResourceRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRecord {
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasTarget {
    pub hosted_zone_id: String,
    #[serde(rename = "DNSName")]
    pub dns_name: String,
    #[serde(default)]
    pub evaluate_target_health: bool,
}

/// The answer to ChangeResourceRecordSets and GetChange.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeInfoResponse {
    pub change_info: ChangeInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeInfo {
    /// `/change/C123...`
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

/// One `<Change>` of a batch: CREATE, DELETE or UPSERT of a record set, with its
/// SetIdentifier and Weight for a set of a weighted record. An alias is only ever
/// deleted (replaced by the plain set configured at its name), with its AliasTarget
/// exactly as read: dnsteer writes no alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireChange {
    pub action: &'static str,
    pub name: String,
    pub rtype: String,
    pub ttl: u32,
    pub values: Vec<String>,
    pub set_id: Option<String>,
    pub weight: Option<u32>,
    pub alias: Option<Alias>,
}

impl WireChange {
    /// ResourceRecord elements, as Route 53 counts them against its 1,000 limit (an
    /// UPSERT counts twice; an alias as one).
    pub fn record_count(&self) -> usize {
        let records = if self.alias.is_some() { 1 } else { self.values.len() };
        records * if self.action == "UPSERT" { 2 } else { 1 }
    }

    /// Characters of Value elements, as Route 53 counts them against its 32,000 limit.
    pub fn value_chars(&self) -> usize {
        let chars: usize = match &self.alias {
            Some(alias) => alias.dns_name.chars().count(),
            None => self.values.iter().map(|v| v.chars().count()).sum(),
        };
        chars * if self.action == "UPSERT" { 2 } else { 1 }
    }
}

/// An alias record set's target, as Route 53 holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub hosted_zone_id: String,
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

const ALIAS_PREFIX: &str = "ALIAS ";
const EVALUATES: &str = ", evaluate-target-health";

impl Alias {
    /// The one value an alias set is read with, for plans and people:
    /// `ALIAS dualstack.elb.example. (Z35SXDOTRQ7X7K)`, with `, evaluate-target-health`
    /// inside the parentheses when Route 53 evaluates the target's health. Never a
    /// valid value of any type, so it is never taken for one (nor written as one).
    pub fn value(&self) -> String {
        format!(
            "{ALIAS_PREFIX}{} ({}{})",
            self.dns_name,
            self.hosted_zone_id,
            if self.evaluate_target_health { EVALUATES } else { "" }
        )
    }

    /// The alias a value made by [`Alias::value`] stands for.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix(ALIAS_PREFIX)?;
        let (dns_name, inside) = rest.split_once(" (")?;
        let inside = inside.strip_suffix(')')?;
        let (hosted_zone_id, evaluate_target_health) = match inside.strip_suffix(EVALUATES) {
            Some(id) => (id, true),
            None => (inside, false),
        };
        Some(Self {
            hosted_zone_id: hosted_zone_id.to_string(),
            dns_name: dns_name.to_string(),
            evaluate_target_health,
        })
    }
}

/// The ChangeResourceRecordSets request body. Elements of a ResourceRecordSet go in
/// the order of the API's schema: Name, Type, SetIdentifier, Weight, TTL,
/// ResourceRecords, AliasTarget.
pub fn change_batch_xml(comment: &str, changes: &[WireChange]) -> String {
    let mut xml = String::with_capacity(256 + changes.len() * 256);
    xml.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml.push_str(&format!(
        r#"<ChangeResourceRecordSetsRequest xmlns="{XMLNS}"><ChangeBatch>"#
    ));
    xml.push_str(&format!("<Comment>{}</Comment><Changes>", escape(comment)));
    for c in changes {
        xml.push_str(&format!(
            "<Change><Action>{}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type>",
            c.action,
            escape(c.name.as_str()),
            escape(c.rtype.as_str()),
        ));
        if let Some(id) = &c.set_id {
            xml.push_str(&format!("<SetIdentifier>{}</SetIdentifier>", escape(id.as_str())));
        }
        if let Some(weight) = c.weight {
            xml.push_str(&format!("<Weight>{weight}</Weight>"));
        }
        match &c.alias {
            Some(alias) => xml.push_str(&format!(
                "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}</DNSName><EvaluateTargetHealth>{}</EvaluateTargetHealth></AliasTarget>",
                escape(alias.hosted_zone_id.as_str()),
                escape(alias.dns_name.as_str()),
                alias.evaluate_target_health
            )),
            None => {
                xml.push_str(&format!("<TTL>{}</TTL><ResourceRecords>", c.ttl));
                for v in &c.values {
                    xml.push_str(&format!(
                        "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                        escape(v.as_str())
                    ));
                }
                xml.push_str("</ResourceRecords>");
            }
        }
        xml.push_str("</ResourceRecordSet></Change>");
    }
    xml.push_str("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
    xml
}

/// What an error body says: its code and every message in it. Route 53 wraps most
/// errors as `<ErrorResponse><Error><Code>..</Code><Message>..</Message></Error>`, but
/// sends InvalidChangeBatch as `<InvalidChangeBatch><Messages><Message>..`; both (and
/// anything close) are read by looking for the elements, not the shape.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApiError {
    pub code: Option<String>,
    pub messages: Vec<String>,
}

impl ApiError {
    pub fn parse(body: &[u8]) -> Self {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_reader(body);
        let mut out = ApiError::default();
        let mut root: Option<String> = None;
        let mut current: Option<String> = None;
        let mut text = String::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    root.get_or_insert_with(|| name.clone());
                    current = Some(name);
                    text.clear();
                }
                Ok(Event::Text(t)) => text.push_str(&t.decode().unwrap_or_default()),
                Ok(Event::GeneralRef(r)) => {
                    // An entity inside a message (`&apos;`): keep it as its character.
                    let entity = format!("&{};", String::from_utf8_lossy(&r));
                    text.push_str(
                        &quick_xml::escape::unescape(&entity)
                            .map(|s| s.into_owned())
                            .unwrap_or(entity),
                    );
                }
                Ok(Event::End(_)) => {
                    let value = text.trim().to_string();
                    match current.take().as_deref() {
                        Some("Code") if out.code.is_none() => out.code = Some(value),
                        Some("Message" | "message") if !value.is_empty() => out.messages.push(value),
                        _ => {}
                    }
                    text.clear();
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
            buf.clear();
        }
        if out.code.is_none() && root.as_deref() == Some("InvalidChangeBatch") {
            out.code = root;
        }
        out
    }

    pub fn message(&self) -> String {
        self.messages.join("; ")
    }
}

/// Route 53 returns names with every character other than letters, digits, `-` and `_`
/// (and the dots) as a `\ddd` octal escape: `\052.example.com.` is `*.example.com.`.
pub fn unescape_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let code =
                (bytes[i + 1] - b'0') as u32 * 64 + (bytes[i + 2] - b'0') as u32 * 8 + (bytes[i + 3] - b'0') as u32;
            if let Ok(b) = u8::try_from(code) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_record_sets_with_alias_and_pagination() {
        let xml = r#"<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ResourceRecordSets>
    <ResourceRecordSet><Name>\052.example.com.</Name><Type>TXT</Type><TTL>60</TTL>
      <ResourceRecords><ResourceRecord><Value>"a &quot;b&quot;"</Value></ResourceRecord><ResourceRecord><Value>"c"</Value></ResourceRecord></ResourceRecords>
    </ResourceRecordSet>
    <ResourceRecordSet><Name>www.example.com.</Name><Type>A</Type>
      <AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d1.cloudfront.net.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>
    </ResourceRecordSet>
  </ResourceRecordSets>
  <IsTruncated>true</IsTruncated><NextRecordName>z.example.com.</NextRecordName><NextRecordType>A</NextRecordType><MaxItems>2</MaxItems>
</ListResourceRecordSetsResponse>"#;
        let r: ListResourceRecordSetsResponse = quick_xml::de::from_str(xml).unwrap();
        assert!(r.is_truncated);
        assert_eq!(r.next_record_name.as_deref(), Some("z.example.com."));
        let sets = &r.resource_record_sets.items;
        assert_eq!(unescape_name(&sets[0].name), "*.example.com.");
        let values: Vec<_> = sets[0]
            .resource_records
            .as_ref()
            .unwrap()
            .items
            .iter()
            .map(|r| r.value.as_str())
            .collect();
        assert_eq!(values, vec![r#""a "b"""#, r#""c""#]);
        assert_eq!(sets[1].alias_target.as_ref().unwrap().dns_name, "d1.cloudfront.net.");
        assert_eq!(sets[1].ttl, None);
    }

    #[test]
    fn reads_both_error_shapes() {
        let wrapped = br#"<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        assert_eq!(
            ApiError::parse(wrapped),
            ApiError {
                code: Some("Throttling".into()),
                messages: vec!["Rate exceeded".into()]
            }
        );
        let batch = br#"<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete resource record set [name=&apos;www.example.com.&apos;, type=&apos;A&apos;] but the values provided do not match the current values</Message></Messages><RequestId>2</RequestId></InvalidChangeBatch>"#;
        let e = ApiError::parse(batch);
        assert_eq!(e.code.as_deref(), Some("InvalidChangeBatch"));
        assert_eq!(
            e.message(),
            "Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values"
        );
    }

    #[test]
    fn change_batch_is_escaped() {
        let xml = change_batch_xml(
            "dnsteer",
            &[WireChange {
                action: "CREATE",
                name: "t.example.com.".into(),
                rtype: "TXT".into(),
                ttl: 60,
                values: vec!["\"a<b&c\"".into()],
                set_id: None,
                weight: None,
                alias: None,
            }],
        );
        assert!(xml.contains("<Value>&quot;a&lt;b&amp;c&quot;</Value>"), "{xml}");
        assert!(xml.contains("<Action>CREATE</Action>"));
        assert!(!xml.contains("SetIdentifier") && !xml.contains("Weight"), "{xml}");
    }

    #[test]
    fn weighted_sets_and_alias_deletes_are_written_in_schema_order() {
        let alias = Alias {
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            dns_name: "dualstack.elb.example.".into(),
            evaluate_target_health: true,
        };
        let xml = change_batch_xml(
            "dnsteer",
            &[
                WireChange {
                    action: "DELETE",
                    name: "www.example.com.".into(),
                    rtype: "A".into(),
                    ttl: 0,
                    values: vec![alias.value()],
                    set_id: None,
                    weight: None,
                    alias: Some(alias.clone()),
                },
                WireChange {
                    action: "CREATE",
                    name: "www.example.com.".into(),
                    rtype: "A".into(),
                    ttl: 30,
                    values: vec!["192.0.2.1".into()],
                    set_id: Some("us-east".into()),
                    weight: Some(3),
                    alias: None,
                },
            ],
        );
        assert!(
            xml.contains("<Type>A</Type><AliasTarget><HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId><DNSName>dualstack.elb.example.</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>"),
            "{xml}"
        );
        assert!(
            xml.contains("<Type>A</Type><SetIdentifier>us-east</SetIdentifier><Weight>3</Weight><TTL>30</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value>"),
            "{xml}"
        );
    }

    #[test]
    fn an_alias_value_reads_back_as_its_target() {
        for evaluate_target_health in [false, true] {
            let alias = Alias {
                hosted_zone_id: "Z2FDTNDATAQYW2".into(),
                dns_name: "d1.cloudfront.net.".into(),
                evaluate_target_health,
            };
            assert_eq!(Alias::parse(&alias.value()), Some(alias));
        }
        assert_eq!(
            Alias {
                hosted_zone_id: "Z1".into(),
                dns_name: "x.example.".into(),
                evaluate_target_health: false
            }
            .value(),
            "ALIAS x.example. (Z1)"
        );
        assert_eq!(Alias::parse("192.0.2.1"), None);
    }
}
