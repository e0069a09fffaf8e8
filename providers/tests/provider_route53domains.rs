//! The Route 53 Domains adapter (the delegation at the registrar) against moto's server
//! on loopback: a domain registered there, its name servers read as the apex NS set,
//! replaced through UpdateDomainNameservers and the operation followed to SUCCESSFUL.

mod support;

use std::time::Duration;

use dnsteer_providers::http::HttpConfig;
use dnsteer_providers::route53domains::{Route53DomainsOptions, DELEGATION_TTL};
use dnsteer_providers::{
    AwsCredentials, Change, Provider, ProviderError, RecordSet, RecordType, Route53DomainsProvider, ZoneName,
};
use support::moto::Moto;

const DOMAIN: &str = "dnsteer-example.com.";

fn options(moto: &Moto) -> Route53DomainsOptions {
    Route53DomainsOptions {
        endpoint: moto.url.clone(),
        requests_per_second: std::num::NonZeroU32::new(50).unwrap(),
        poll_interval: Duration::from_millis(50),
        operation_timeout: Duration::from_secs(5),
        http: HttpConfig {
            timeout: Duration::from_secs(3),
            ..HttpConfig::default()
        },
    }
}

async fn moto_with_domain() -> (Moto, Route53DomainsProvider) {
    let moto = tokio::task::spawn_blocking(|| {
        let moto = Moto::start();
        moto.register_domain(DOMAIN.trim_end_matches('.'));
        moto
    })
    .await
    .unwrap();
    let p = Route53DomainsProvider::new("registrar", moto.credentials(), options(&moto)).unwrap();
    (moto, p)
}

fn zone() -> ZoneName {
    ZoneName::new(DOMAIN).unwrap()
}

fn ns(values: &[&str], ttl: u32) -> RecordSet {
    RecordSet::new(DOMAIN, RecordType::Ns, ttl, values.iter().copied()).unwrap()
}

#[tokio::test]
async fn reads_updates_and_follows_the_operation() {
    let (moto, p) = moto_with_domain().await;
    let live = p.records(&zone()).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    let before = live[0].clone();
    assert_eq!(
        (before.name.as_str(), &before.rtype, before.ttl),
        (DOMAIN, &RecordType::Ns, DELEGATION_TTL)
    );
    assert!(
        !before.values.is_empty(),
        "moto registers a domain with its default name servers"
    );

    // The configured delegation TTL (300) is the registry's business: normalised away.
    let desired = ns(&["ns1.provider-a.test.", "ns1.provider-b.test."], 300);
    let desired = p.normalize(vec![desired]).remove(0);
    assert_eq!(desired.ttl, DELEGATION_TTL);
    let applied = p
        .apply(
            &zone(),
            &[Change::Update {
                before,
                after: desired.clone(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(applied.changes, 1);
    assert_eq!(
        p.records(&zone()).await.unwrap(),
        vec![desired.clone()],
        "a plan after the apply is empty"
    );

    // The operation moto recorded for it ended SUCCESSFUL.
    let ops = tokio::task::spawn_blocking(move || moto.domains("ListOperations", &serde_json::json!({})).unwrap())
        .await
        .unwrap();
    let ops: serde_json::Value = serde_json::from_str(&ops).unwrap();
    let update = ops["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["Type"] == "UPDATE_NAMESERVER")
        .unwrap();
    assert_eq!(update["Status"], "SUCCESSFUL");
}

#[tokio::test]
async fn only_the_apex_ns_set_can_be_written() {
    let (_moto, p) = moto_with_domain().await;
    let live = p.records(&zone()).await.unwrap().remove(0);
    let err = p
        .apply(&zone(), &[Change::Delete { before: live.clone() }])
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    let a = RecordSet::new("www.dnsteer-example.com.", RecordType::A, 60, ["192.0.2.1"]).unwrap();
    let err = p.apply(&zone(), &[Change::Create { after: a }]).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    assert_eq!(p.records(&zone()).await.unwrap(), vec![live], "nothing changed");
}

#[tokio::test]
async fn an_unregistered_domain_is_zone_not_found() {
    let (_moto, p) = moto_with_domain().await;
    let err = p.records(&ZoneName::new("not-mine.com.").unwrap()).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_stopped_registrar_api_is_transient() {
    let (mut moto, p) = moto_with_domain().await;
    moto.process.stop();
    let err = p.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Transient { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_key_is_an_auth_error() {
    // moto with IAM authentication on refuses a key its IAM does not know.
    let moto = tokio::task::spawn_blocking(Moto::start_with_auth).await.unwrap();
    let p = Route53DomainsProvider::new(
        "registrar",
        AwsCredentials::new("AKIDUNKNOWN", "x", None),
        options(&moto),
    )
    .unwrap();
    let err = p.records(&zone()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn every_call_passes_motos_signature_check() {
    // Route 53 Domains is all POSTs, which moto (with IAM authentication on) re-signs
    // with botocore and compares: reads, the update and the operation polls all pass.
    let moto = tokio::task::spawn_blocking(|| {
        let moto = Moto::start_with_auth();
        moto.register_domain(DOMAIN.trim_end_matches('.'));
        moto
    })
    .await
    .unwrap();
    let p = Route53DomainsProvider::new("registrar", moto.credentials(), options(&moto)).unwrap();
    let before = p.records(&zone()).await.unwrap().remove(0);
    let after = ns(&["ns1.signed.test."], DELEGATION_TTL);
    p.apply(
        &zone(),
        &[Change::Update {
            before,
            after: after.clone(),
        }],
    )
    .await
    .unwrap();
    assert_eq!(p.records(&zone()).await.unwrap(), vec![after]);
    let forged = Route53DomainsProvider::new(
        "registrar",
        AwsCredentials::new(&moto.access_key_id, "not-the-secret", None),
        options(&moto),
    )
    .unwrap();
    let err = forged.records(&zone()).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { .. }) && err.to_string().contains("SignatureDoesNotMatch"),
        "{err}"
    );
}
