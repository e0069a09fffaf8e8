//! moto's server (PyPI `moto[server]`) on loopback, as the Route 53 and Route 53 Domains
//! emulator. `Moto::start_with_auth` turns moto's IAM authentication on
//! (`INITIAL_NO_AUTH_ACTION_COUNT`): the first three actions create an IAM user, its
//! access key and a policy, and from then on moto checks each request's key and SigV4
//! signature (recomputed with botocore). moto 5.2 recomputes it wrongly for GET requests
//! (botocore's own GETs fail there too), so only POSTs can be checked that way.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use dnsteer_providers::route53::sigv4::Signer;
use dnsteer_providers::AwsCredentials;

use super::{free_port, ServerProcess};

/// A program of the virtualenv `scripts/install-test-deps.sh` creates.
pub fn venv_bin(name: &str) -> PathBuf {
    // The venv is the workspace's: the root crate's tests and the providers crate's
    // (which include this file) find the same one.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let venv = root
        .ancestors()
        .map(|dir| dir.join(".venv-test"))
        .find(|venv| venv.exists())
        .unwrap_or_else(|| root.join(".venv-test"));
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/install-test-deps.sh (it creates .venv-test with moto[server] and the cloudflare SDK)",
        path.display()
    );
    path
}

pub struct Moto {
    pub url: String,
    /// A key pair moto accepts (with auth on: IAM user `dnsteer`'s).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub process: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// moto without authentication: any key is accepted (the scope still routes).
    pub fn start() -> Self {
        let (url, dir, process) = spawn(None);
        Self {
            url,
            access_key_id: "AKIDMOTO".into(),
            secret_access_key: "moto".into(),
            process,
            _dir: dir,
        }
    }

    /// moto checking keys and signatures (see the module's note).
    pub fn start_with_auth() -> Self {
        let (url, dir, process) = spawn(Some(3));
        let bootstrap = AwsCredentials::new("AKIDBOOTSTRAP", "bootstrap", None);
        iam(
            &url,
            &bootstrap,
            "Action=CreateUser&UserName=dnsteer&Version=2010-05-08",
        );
        let key = iam(
            &url,
            &bootstrap,
            "Action=CreateAccessKey&UserName=dnsteer&Version=2010-05-08",
        );
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["route53:*","route53domains:*"],"Resource":"*"}]}"#;
        let put = format!(
            "Action=PutUserPolicy&UserName=dnsteer&PolicyName=dnsteer&PolicyDocument={}&Version=2010-05-08",
            encode(policy)
        );
        iam(&url, &bootstrap, &put);
        let access_key_id = between(&key, "<AccessKeyId>", "</AccessKeyId>");
        let secret_access_key = between(&key, "<SecretAccessKey>", "</SecretAccessKey>");
        Self {
            url,
            access_key_id,
            secret_access_key,
            process,
            _dir: dir,
        }
    }

    pub fn credentials(&self) -> AwsCredentials {
        AwsCredentials::new(&self.access_key_id, &self.secret_access_key, None)
    }

    /// Creates a public hosted zone and returns its id.
    pub fn create_hosted_zone(&self, name: &str) -> String {
        self.try_create_hosted_zone(name, &self.credentials())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// CreateHostedZone signed with `credentials`: the hosted zone id, or the error.
    pub fn try_create_hosted_zone(&self, name: &str, credentials: &AwsCredentials) -> Result<String, String> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>{name}</Name><CallerReference>{nanos}</CallerReference></CreateHostedZoneRequest>"#
        );
        let url = format!("{}/2013-04-01/hostedzone", self.url);
        let reply = signed(credentials, "route53", &url, "application/xml", &[], body.as_bytes())?;
        Ok(between(&reply, "<Id>", "</Id>")
            .trim_start_matches("/hostedzone/")
            .to_string())
    }

    /// Sends a raw ChangeResourceRecordSets batch (`<Change>` elements), for what the
    /// adapter never writes (alias records).
    pub fn change_raw(&self, zone_id: &str, changes: &str) {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>{changes}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#
        );
        let url = format!("{}/2013-04-01/hostedzone/{zone_id}/rrset/", self.url);
        signed(
            &self.credentials(),
            "route53",
            &url,
            "application/xml",
            &[],
            body.as_bytes(),
        )
        .unwrap();
    }

    /// Every record set of a hosted zone as moto's ListResourceRecordSets returns it
    /// (one page of up to 300), read without dnsteer's adapter: what a test checks a
    /// write against.
    pub fn record_sets(&self, zone_id: &str) -> Vec<MotoRecordSet> {
        let url = format!("{}/2013-04-01/hostedzone/{zone_id}/rrset", self.url);
        let xml = send_signed(&self.credentials(), "route53", "GET", &url, &[], &[]).unwrap_or_else(|e| panic!("{e}"));
        xml.split("<ResourceRecordSet>")
            .skip(1)
            .map(|chunk| {
                let chunk = &chunk[..chunk.find("</ResourceRecordSet>").unwrap_or(chunk.len())];
                let field = |tag: &str| {
                    let (start, end) = (format!("<{tag}>"), format!("</{tag}>"));
                    chunk.contains(&start).then(|| between(chunk, &start, &end))
                };
                MotoRecordSet {
                    name: field("Name").unwrap_or_default(),
                    rtype: field("Type").unwrap_or_default(),
                    set_identifier: field("SetIdentifier"),
                    weight: field("Weight").map(|w| w.parse().unwrap()),
                    values: chunk
                        .split("<Value>")
                        .skip(1)
                        .map(|v| v[..v.find("</Value>").unwrap()].to_string())
                        .collect(),
                    alias_dns_name: field("DNSName"),
                }
            })
            .collect()
    }

    /// Registers a domain at moto's Route 53 Domains (two years, as moto requires).
    pub fn register_domain(&self, domain: &str) {
        let contact = serde_json::json!({
            "FirstName": "Dns", "LastName": "Steer", "ContactType": "PERSON", "AddressLine1": "1 Test Street",
            "City": "Testville", "CountryCode": "US", "ZipCode": "12345", "PhoneNumber": "+1.5555555555",
            "Email": "ops@example.test", "State": "WA"
        });
        let body = serde_json::json!({
            "DomainName": domain, "DurationInYears": 2, "AutoRenew": false,
            "AdminContact": contact, "RegistrantContact": contact, "TechContact": contact,
            "PrivacyProtectAdminContact": true, "PrivacyProtectRegistrantContact": true, "PrivacyProtectTechContact": true
        });
        let reply = self.domains("RegisterDomain", &body).unwrap();
        assert!(reply.contains("OperationId"), "RegisterDomain failed: {reply}");
    }

    /// One Route 53 Domains action (JSON 1.1), signed with the accepted key.
    pub fn domains(&self, action: &str, body: &serde_json::Value) -> Result<String, String> {
        let target = format!("Route53Domains_v20140515.{action}");
        let url = format!("{}/", self.url);
        signed(
            &self.credentials(),
            "route53domains",
            &url,
            "application/x-amz-json-1.1",
            &[("x-amz-target", &target)],
            body.to_string().as_bytes(),
        )
    }
}

/// One record set as moto's API returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MotoRecordSet {
    pub name: String,
    pub rtype: String,
    pub set_identifier: Option<String>,
    pub weight: Option<u32>,
    pub values: Vec<String>,
    pub alias_dns_name: Option<String>,
}

fn spawn(no_auth_actions: Option<u32>) -> (String, tempfile::TempDir, ServerProcess) {
    let bin = venv_bin("moto_server");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let auth = no_auth_actions.map_or("inf".to_string(), |n| n.to_string());
    let process = ServerProcess::start(
        "moto",
        vec![
            "env".into(),
            format!("INITIAL_NO_AUTH_ACTION_COUNT={auth}"),
            bin.display().to_string(),
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        dir.path(),
        format!("127.0.0.1:{port}").parse().unwrap(),
    );
    (format!("http://127.0.0.1:{port}"), dir, process)
}

fn iam(url: &str, creds: &AwsCredentials, form: &str) -> String {
    let url = format!("{url}/");
    signed(
        creds,
        "iam",
        &url,
        "application/x-www-form-urlencoded",
        &[],
        form.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A POST signed by dnsteer's signer, sent blocking on a throwaway runtime (the helpers
/// run from both sync and async tests): the body, or the error status and body.
fn signed(
    creds: &AwsCredentials,
    service: &'static str,
    url: &str,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Result<String, String> {
    let mut to_sign = vec![("content-type", content_type)];
    to_sign.extend_from_slice(extra);
    send_signed(creds, service, "POST", url, &to_sign, body)
}

/// A request of `method` signed by dnsteer's signer over `to_sign` and the body, sent
/// blocking on a throwaway runtime.
fn send_signed(
    creds: &AwsCredentials,
    service: &'static str,
    method: &'static str,
    url: &str,
    to_sign: &[(&str, &str)],
    body: &[u8],
) -> Result<String, String> {
    let signature = Signer::new(creds.clone(), service)
        .headers("test", method, url, to_sign, body, SystemTime::now())
        .unwrap();
    let headers: Vec<(String, String)> = to_sign
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(signature)
        .collect();
    let (url, body) = (url.to_string(), body.to_vec());
    std::thread::spawn(move || {
        dnsteer_providers::http::install_crypto_provider();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut req = client
                .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), &url)
                .body(body);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let resp = req.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            if status.is_success() {
                Ok(text)
            } else {
                Err(format!("{method} {url}: HTTP {status}: {text}"))
            }
        })
    })
    .join()
    .unwrap()
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap_or_else(|| panic!("{start} not in {text}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].to_string()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
