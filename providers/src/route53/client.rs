//! The Route 53 wire: signed requests through the shared HTTP layer, and the reading of
//! Route 53's answers as ok / retry / fail.

use std::time::SystemTime;

use reqwest::Method;

use crate::error::ProviderError;
use crate::http::{classify_status_as, rate_limited, HttpClient, HttpResponse, Idempotency, Verdict};

use super::sigv4::Signer;
use super::types::{
    change_batch_xml, ApiError, ChangeInfo, ChangeInfoResponse, GetHostedZoneResponse, HostedZone,
    ListHostedZonesByNameResponse, ListResourceRecordSetsResponse, WireChange,
};

const API: &str = "2013-04-01";

/// Error codes Route 53 sends (with HTTP 400) when it wants us to slow down; the
/// request was not acted on, so it is retried with jitter.
const SLOW_DOWN: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "RequestThrottled",
];

/// Error codes that mean the credentials or the signature were refused.
const AUTH: &[&str] = &[
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "AccessDeniedException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "UnrecognizedClientException",
    "InvalidSignatureException",
];

/// Where a page of ListResourceRecordSets starts.
#[derive(Clone, Debug, Default)]
pub struct PageStart {
    pub name: Option<String>,
    pub rtype: Option<String>,
    pub identifier: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Route53Client {
    name: String,
    endpoint: String,
    signer: Signer,
    http: HttpClient,
}

impl Route53Client {
    pub fn new(name: &str, endpoint: &str, signer: Signer, http: HttpClient) -> Self {
        Self {
            name: name.to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            signer,
            http,
        }
    }

    /// Hosted zones whose name is exactly `dns_name` (public and private).
    pub async fn hosted_zones_named(&self, dns_name: &str) -> Result<Vec<HostedZone>, ProviderError> {
        let url = self.url(
            &format!("/{API}/hostedzonesbyname"),
            &[("dnsname", dns_name), ("maxitems", "100")],
        )?;
        let resp = self
            .send(Method::GET, url, Vec::new(), Idempotency::Idempotent, None)
            .await?;
        let list: ListHostedZonesByNameResponse = self.xml(&resp)?;
        let wanted = dns_name.trim_end_matches('.').to_ascii_lowercase();
        Ok(list
            .hosted_zones
            .items
            .into_iter()
            .filter(|z| {
                super::types::unescape_name(&z.name)
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
                    == wanted
            })
            .collect())
    }

    /// The nameservers of a hosted zone's delegation set (none for a private zone).
    pub async fn delegation_set(&self, zone_id: &str) -> Result<Vec<String>, ProviderError> {
        let url = self.url(&format!("/{API}/hostedzone/{zone_id}"), &[])?;
        let resp = self
            .send(Method::GET, url, Vec::new(), Idempotency::Idempotent, Some(zone_id))
            .await?;
        let zone: GetHostedZoneResponse = self.xml(&resp)?;
        Ok(zone.delegation_set.map(|d| d.name_servers.items).unwrap_or_default())
    }

    /// One page of a hosted zone's record sets.
    pub async fn record_sets_page(
        &self,
        zone_id: &str,
        start: &PageStart,
        max_items: Option<u32>,
    ) -> Result<ListResourceRecordSetsResponse, ProviderError> {
        let max = max_items.map(|m| m.to_string());
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(n) = &start.name {
            query.push(("name", n));
        }
        if let Some(t) = &start.rtype {
            query.push(("type", t));
        }
        if let Some(i) = &start.identifier {
            query.push(("identifier", i));
        }
        if let Some(m) = &max {
            query.push(("maxitems", m));
        }
        let url = self.url(&format!("/{API}/hostedzone/{zone_id}/rrset"), &query)?;
        let resp = self
            .send(Method::GET, url, Vec::new(), Idempotency::Idempotent, Some(zone_id))
            .await?;
        self.xml(&resp)
    }

    /// Submits one change batch. Route 53 applies a batch atomically.
    ///
    /// Sent as idempotent although it is a POST: every change in it is a CREATE (fails
    /// if the set exists) or a DELETE of exact values (fails if they differ), so a batch
    /// that did land the first time is refused whole the second time, never applied
    /// twice. The adapter then finds the batch already live and reports it applied.
    pub async fn change(&self, zone_id: &str, changes: &[WireChange]) -> Result<ChangeInfo, ProviderError> {
        let url = self.url(&format!("/{API}/hostedzone/{zone_id}/rrset/"), &[])?;
        let body = change_batch_xml("dnsteer", changes).into_bytes();
        let resp = self
            .send(Method::POST, url, body, Idempotency::Idempotent, Some(zone_id))
            .await?;
        Ok(self.xml::<ChangeInfoResponse>(&resp)?.change_info)
    }

    /// The status of a submitted change (`PENDING` or `INSYNC`).
    pub async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ProviderError> {
        let id = change_id.rsplit('/').next().unwrap_or(change_id);
        let url = self.url(&format!("/{API}/change/{id}"), &[])?;
        let resp = self
            .send(Method::GET, url, Vec::new(), Idempotency::Idempotent, None)
            .await?;
        Ok(self.xml::<ChangeInfoResponse>(&resp)?.change_info)
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<String, ProviderError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.endpoint)).map_err(|e| ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("bad endpoint {:?}: {e}", self.endpoint),
        })?;
        if !query.is_empty() {
            // Encoded strictly (RFC 3986 unreserved characters only), as SigV4's
            // canonical query string is: what is signed is then exactly what is sent.
            let encoded: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", strict_encode(k), strict_encode(v)))
                .collect();
            url.set_query(Some(&encoded.join("&")));
        }
        Ok(url.to_string())
    }

    async fn send(
        &self,
        method: Method,
        url: String,
        body: Vec<u8>,
        idempotency: Idempotency,
        zone_id: Option<&str>,
    ) -> Result<HttpResponse, ProviderError> {
        let content_type = if body.is_empty() { None } else { Some("application/xml") };
        let signed_headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
        // Signed once up front so that a signing problem is an error, not a panic; each
        // attempt signs afresh (its own time) and falls back to this one.
        let first = self.signer.headers(
            &self.name,
            method.as_str(),
            &url,
            &signed_headers,
            &body,
            SystemTime::now(),
        )?;
        self.http
            .send(
                idempotency,
                |client| {
                    let headers = self
                        .signer
                        .headers(
                            &self.name,
                            method.as_str(),
                            &url,
                            &signed_headers,
                            &body,
                            SystemTime::now(),
                        )
                        .unwrap_or_else(|_| first.clone());
                    let mut req = client.request(method.clone(), &url);
                    for (k, v) in signed_headers.iter().copied() {
                        req = req.header(k, v);
                    }
                    for (k, v) in &headers {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    if !body.is_empty() {
                        req = req.body(body.clone());
                    }
                    req
                },
                |resp| classify(&self.name, resp, zone_id),
            )
            .await
    }

    fn xml<T: serde::de::DeserializeOwned>(&self, resp: &HttpResponse) -> Result<T, ProviderError> {
        let text = std::str::from_utf8(&resp.body).map_err(|e| ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("response is not UTF-8: {e}"),
        })?;
        quick_xml::de::from_str(text).map_err(|e| ProviderError::Protocol {
            provider: self.name.clone(),
            message: format!("unreadable XML ({e}): {}", crate::http::snippet(&resp.body)),
        })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn strict_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An AWS error's code (without its namespace) and message, from a REST-XML body
/// (Route 53) or a JSON-protocol one (`__type`: Route 53 Domains).
pub(crate) fn error_code(body: &[u8]) -> (String, String, ApiError) {
    let error = ApiError::parse(body);
    match error.code.clone().filter(|c| !c.is_empty()) {
        Some(code) => {
            let message = error.message();
            (code, message, error)
        }
        None => {
            let (code, message) = json_error(body).unwrap_or((String::new(), crate::http::snippet(body)));
            (code, message, error)
        }
    }
}

/// Reads a Route 53 (or Route 53 Domains) answer by its error code: throttling is
/// retried, refused credentials are `Auth`, a missing zone is `ZoneNotFound`, and a
/// change batch refused because a set is not as the plan read it is `Conflict`. The
/// status alone is read by `classify_status`.
pub(crate) fn classify(provider: &str, resp: &HttpResponse, zone_id: Option<&str>) -> Verdict {
    if resp.status.is_success() {
        return Verdict::Ok;
    }
    let (code, message, error) = error_code(&resp.body);
    let described = || format!("{code}: {message} (HTTP {})", resp.status.as_u16());
    let provider_s = provider.to_string();
    if SLOW_DOWN.contains(&code.as_str()) {
        return rate_limited(provider, resp);
    }
    if AUTH.contains(&code.as_str()) {
        return Verdict::Fail(ProviderError::Auth {
            provider: provider_s,
            message: described(),
        });
    }
    match code.as_str() {
        "NoSuchHostedZone" => Verdict::Fail(ProviderError::ZoneNotFound {
            provider: provider_s,
            zone: zone_id.unwrap_or("(unknown hosted zone)").to_string(),
        }),
        // Route 53 gives one code for a batch that does not match the live sets and for
        // one it will not take at all; only its messages tell them apart.
        "InvalidChangeBatch" => {
            let concurrent = error.messages.iter().any(|m| {
                let m = m.to_ascii_lowercase();
                m.contains("not found") || m.contains("already exists") || m.contains("do not match")
            });
            Verdict::Fail(if concurrent {
                ProviderError::Conflict {
                    provider: provider_s,
                    message: format!("a record set changed concurrently (Route 53 refused the batch: {message})"),
                }
            } else {
                ProviderError::Rejected {
                    provider: provider_s,
                    message: described(),
                }
            })
        }
        _ => classify_status_as(provider, resp, described),
    }
}

fn json_error(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = v.get("__type")?.as_str()?;
    let code = code.rsplit('#').next().unwrap_or(code).to_string();
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_string();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;
    use reqwest::StatusCode;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn err(code: &str, message: &str) -> String {
        format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>")
    }

    #[test]
    fn classifies_route53_errors() {
        assert!(matches!(
            classify("r", &resp(400, &err("Throttling", "Rate exceeded")), None),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify("r", &resp(400, &err("PriorRequestNotComplete", "wait")), None),
            Verdict::Retry { .. }
        ));
        assert!(matches!(
            classify("r", &resp(403, &err("SignatureDoesNotMatch", "no")), None),
            Verdict::Fail(ProviderError::Auth { .. })
        ));
        assert!(matches!(
            classify(
                "r",
                &resp(404, &err("NoSuchHostedZone", "No hosted zone found with ID: Z1")),
                Some("Z1")
            ),
            Verdict::Fail(ProviderError::ZoneNotFound { .. })
        ));
        let stale = "<InvalidChangeBatch><Messages><Message>Tried to delete resource record set [name='a.', type='A'] but the values provided do not match the current values</Message></Messages></InvalidChangeBatch>";
        match classify("r", &resp(400, stale), None) {
            Verdict::Fail(e @ ProviderError::Conflict { .. }) => {
                assert!(e.to_string().contains("changed concurrently"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let bad = "<InvalidChangeBatch><Messages><Message>RRSet of type CNAME with DNS name a. is not permitted at apex</Message></Messages></InvalidChangeBatch>";
        assert!(matches!(
            classify("r", &resp(400, bad), None),
            Verdict::Fail(ProviderError::Rejected { .. })
        ));
        assert!(matches!(classify("r", &resp(503, "oops"), None), Verdict::Retry { .. }));
        let json = r#"{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}"#;
        assert!(matches!(classify("r", &resp(400, json), None), Verdict::Retry { .. }));
        let json = r#"{"__type":"UnrecognizedClientException","message":"bad"}"#;
        assert!(matches!(
            classify("r", &resp(400, json), None),
            Verdict::Fail(ProviderError::Auth { .. })
        ));
    }

    #[test]
    fn query_is_strictly_encoded() {
        assert_eq!(strict_encode("*.a-b_c.~/ x"), "%2A.a-b_c.~%2F%20x");
    }
}
