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

/// One `<Change>` of a batch: CREATE or DELETE of a plain (non-alias) record set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireChange {
    pub action: &'static str,
    pub name: String,
    pub rtype: String,
    pub ttl: u32,
    pub values: Vec<String>,
}

impl WireChange {
    /// ResourceRecord elements, as Route 53 counts them against its 1,000 limit (an
    /// UPSERT would count twice; dnsteer sends none).
    pub fn record_count(&self) -> usize {
        self.values.len() * if self.action == "UPSERT" { 2 } else { 1 }
    }

    /// Characters of Value elements, as Route 53 counts them against its 32,000 limit.
    pub fn value_chars(&self) -> usize {
        let chars: usize = self.values.iter().map(|v| v.chars().count()).sum();
        chars * if self.action == "UPSERT" { 2 } else { 1 }
    }
}

/// The ChangeResourceRecordSets request body.
pub fn change_batch_xml(comment: &str, changes: &[WireChange]) -> String {
    let mut xml = String::with_capacity(256 + changes.len() * 256);
    xml.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml.push_str(&format!(
        r#"<ChangeResourceRecordSetsRequest xmlns="{XMLNS}"><ChangeBatch>"#
    ));
    xml.push_str(&format!("<Comment>{}</Comment><Changes>", escape(comment)));
    for c in changes {
        xml.push_str(&format!(
            "<Change><Action>{}</Action><ResourceRecordSet><Name>{}</Name><Type>{}</Type><TTL>{}</TTL><ResourceRecords>",
            c.action,
            escape(c.name.as_str()),
            escape(c.rtype.as_str()),
            c.ttl
        ));
        for v in &c.values {
            xml.push_str(&format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                escape(v.as_str())
            ));
        }
        xml.push_str("</ResourceRecords></ResourceRecordSet></Change>");
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
            }],
        );
        assert!(xml.contains("<Value>&quot;a&lt;b&amp;c&quot;</Value>"), "{xml}");
        assert!(xml.contains("<Action>CREATE</Action>"));
    }
}
