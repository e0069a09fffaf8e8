//! The real `dnsteer` binary with `route53`, `route53domains` and `cloudflare`
//! providers (tests/fixtures/cloud.yaml): `check` passes, and `plan` / `apply --yes`
//! steer a zone served by moto's Route 53 and the fake Cloudflare API, with the
//! delegation at moto's Route 53 Domains, until a plan comes out empty.

mod support;

use std::process::Output;

use dnsteer_providers::route53::Route53Options;
use dnsteer_providers::route53domains::Route53DomainsOptions;
use dnsteer_providers::{
    Change, CloudflareProvider, Provider, RecordSet, RecordType, Route53DomainsProvider, Route53Provider, ZoneName,
};
use serde_json::json;
use support::cloudflare_fake::{FakeCloudflare, TOKEN};
use support::moto::{Moto, MotoRecordSet};

const ZONE: &str = "dnsteer-example.com.";
const US: &str = "192.0.2.10";
const EU: &str = "198.51.100.10";
const NS_CF: &str = "ada.ns.cloudflare.com.";
/// The name servers moto's registrar gives a new domain: the fixture names them as
/// Route 53's, so the domain starts delegated to Route 53 alone.
const NS_R53: [&str; 4] = [
    "ns-2048.awscdn-64.net.",
    "ns-2049.awscdn-65.net.",
    "ns-2050.awscdn-66.net.",
    "ns-2051.awscdn-67.net.",
];

struct World {
    moto: Moto,
    /// The hosted zone moto made for ZONE.
    zone_id: String,
    cf: FakeCloudflare,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let (moto, zone_id) = tokio::task::spawn_blocking(|| {
            let moto = Moto::start();
            let zone_id = moto.create_hosted_zone(ZONE);
            moto.register_domain(ZONE.trim_end_matches('.'));
            (moto, zone_id)
        })
        .await
        .unwrap();
        let cf = FakeCloudflare::start(ZONE.trim_end_matches('.'));
        let w = Self {
            moto,
            zone_id,
            cf,
            dir: tempfile::tempdir().unwrap(),
        };
        // Both providers answer www from us-east already; other records are unmanaged.
        let www = RecordSet::new("www.dnsteer-example.com.", RecordType::A, 60, [US]).unwrap();
        w.r53().apply(&zone(), &[Change::Create { after: www }]).await.unwrap();
        w.cf.insert(json!({"name": "www.dnsteer-example.com", "type": "A", "content": US, "ttl": 60}));
        w.cf.insert(json!({"name": "mail.dnsteer-example.com", "type": "A", "content": "192.0.2.25", "ttl": 300}));
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cloud.yaml")).unwrap();
        let config = template
            .replace("@MOTO@", &w.moto.url)
            .replace("@CLOUDFLARE@", &w.cf.url());
        std::fs::write(w.dir.path().join("dnsteer.yaml"), config).unwrap();
        w
    }

    fn r53(&self) -> Route53Provider {
        let options = Route53Options {
            endpoint: self.moto.url.clone(),
            ..Route53Options::default()
        };
        Route53Provider::new("r53", self.moto.credentials(), options).unwrap()
    }

    fn cloudflare(&self) -> CloudflareProvider {
        let options = dnsteer_providers::cloudflare::CloudflareOptions {
            endpoint: self.cf.url(),
            ..Default::default()
        };
        CloudflareProvider::new("cf", TOKEN, options).unwrap()
    }

    fn registrar(&self) -> Route53DomainsProvider {
        let options = Route53DomainsOptions {
            endpoint: self.moto.url.clone(),
            ..Route53DomainsOptions::default()
        };
        Route53DomainsProvider::new("registrar", self.moto.credentials(), options).unwrap()
    }

    async fn dnsteer(&self, args: &[&str]) -> Output {
        // In the test's own folder: the default state file (and its audit log) lands
        // there, not in the checkout.
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dnsteer"))
            .current_dir(self.dir.path())
            .arg("--config")
            .arg(self.dir.path().join("dnsteer.yaml"))
            .args(args)
            .env("TEST_AWS_ACCESS_KEY_ID", &self.moto.access_key_id)
            .env("TEST_AWS_SECRET_ACCESS_KEY", &self.moto.secret_access_key)
            .env("TEST_CLOUDFLARE_API_TOKEN", TOKEN)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap()
    }
}

fn zone() -> ZoneName {
    ZoneName::new(ZONE).unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn find<'a>(sets: &'a [RecordSet], name: &str, rtype: RecordType) -> Option<&'a RecordSet> {
    sets.iter().find(|s| s.name == name && s.rtype == rtype)
}

/// Every target decided by hand.
fn assume(r53: &str, cf: &str, us: &str, eu: &str) -> Vec<String> {
    [
        ("provider:r53", r53),
        ("provider:cf", cf),
        ("check:web-us", us),
        ("check:web-eu", eu),
    ]
    .iter()
    .flat_map(|(t, s)| ["--assume".to_string(), format!("{t}={s}")])
    .collect()
}

fn args<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    head.iter().copied().chain(tail.iter().map(String::as_str)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_plan_and_apply_against_route53_cloudflare_and_the_registrar() {
    let w = World::start().await;
    let out = w.dnsteer(&["check"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let both: Vec<&str> = std::iter::once(NS_CF).chain(NS_R53).collect();

    // Everything healthy, Cloudflare in sync: it joins the delegation at the registrar,
    // and both apexes list both providers.
    let healthy = assume("up", "up", "up", "up");
    let out = w.dnsteer(&args(&["plan", "--format", "json"], &healthy)).await;
    assert_eq!(code(&out), 2, "changes pending: {}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["provider"] == "registrar" && c["after"] == json!(both)),
        "{plan:#}"
    );
    let out = w.dnsteer(&args(&["apply", "--yes"], &healthy)).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let delegation = w.registrar().records(&zone()).await.unwrap();
    assert_eq!(delegation[0].values, both, "{}", show(&out));
    for (name, sets) in [
        ("r53", w.r53().records(&zone()).await.unwrap()),
        ("cf", w.cloudflare().records(&zone()).await.unwrap()),
    ] {
        let apex = find(&sets, ZONE, RecordType::Ns).unwrap_or_else(|| panic!("{name}: no apex NS"));
        assert_eq!(apex.values, both, "{name}");
        assert_eq!(apex.ttl, 300, "{name}: the delegation's TTL");
    }
    let out = w.dnsteer(&args(&["plan"], &healthy)).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));

    // us-east fails: www moves to eu-west at both providers.
    let failover = assume("up", "up", "down", "up");
    let out = w.dnsteer(&args(&["plan", "--format", "json"], &failover)).await;
    assert_eq!(code(&out), 2, "changes pending: {}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{plan:#}");
    for c in changes {
        assert_eq!(
            (c["name"].as_str(), c["type"].as_str()),
            (Some("www.dnsteer-example.com."), Some("A")),
            "{c}"
        );
        assert_eq!(c["after"], json!([EU]), "{c}");
    }
    let out = w.dnsteer(&args(&["apply", "--yes"], &failover)).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let r53 = w.r53().records(&zone()).await.unwrap();
    let cf = w.cloudflare().records(&zone()).await.unwrap();
    for (name, sets) in [("r53", &r53), ("cf", &cf)] {
        let www = find(sets, "www.dnsteer-example.com.", RecordType::A).unwrap_or_else(|| panic!("{name}: no www"));
        assert_eq!(www.values, vec![EU], "{name}");
    }
    assert!(
        find(&cf, "mail.dnsteer-example.com.", RecordType::A).is_some(),
        "unmanaged records stay"
    );
    let out = w.dnsteer(&args(&["plan"], &failover)).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));

    // Cloudflare's name servers fail: the plan takes it out of the delegation. (Only
    // planned: moto's registrar takes one UpdateDomainNameservers per domain, ever.)
    let cf_down = assume("up", "down", "down", "up");
    let out = w.dnsteer(&args(&["plan", "--format", "json"], &cf_down)).await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let registrar: Vec<_> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["provider"] == "registrar")
        .collect();
    assert_eq!(registrar.len(), 1, "{plan:#}");
    assert_eq!(registrar[0]["after"], json!(NS_R53));
    // Changes go to every provider whose API takes them, healthy or not (resolvers
    // that cached its NS set still ask it): cf's apex NS set follows the delegation.
    let cf_changes: Vec<_> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["provider"] == "cf")
        .collect();
    assert_eq!(cf_changes.len(), 1, "{plan:#}");
    assert_eq!(cf_changes[0]["type"], "NS");
    assert_eq!(cf_changes[0]["after"], json!(NS_R53));
}

/// The nameservers moto gives every hosted zone's delegation set.
const NS_R53_DELEGATION_SET: [&str; 4] = [
    "ns-2048.awsdns-64.com.",
    "ns-2049.awsdns-65.net.",
    "ns-2050.awsdns-66.org.",
    "ns-2051.awsdns-67.co.uk.",
];

/// Issue 11's example: a Route 53 provider with neither `nameservers` nor `probe`.
/// `check` accepts it, so `plan` and `apply` do too: the nameservers are read from the
/// hosted zone's delegation set, and the delegation at the registrar is made of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_without_nameservers_plans_and_applies_with_its_delegation_set() {
    let w = World::start().await;
    let records = format!(
        "      - name: www\n        type: A\n        ttl: 60\n        policy: failover\n        pools:\n          \
         - {{ name: us-east, priority: 1, values: [ {US} ], check: web-us }}\n          \
         - {{ name: eu-west, priority: 2, values: [ {EU} ], check: web-eu }}\n"
    );
    let config = route53_config(&w.moto.url, Some("registrar"), 9, 9, &records);
    std::fs::write(w.dir.path().join("dnsteer.yaml"), config).unwrap();
    let out = w.dnsteer(&["check"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));

    // The delegation set's names are Internet names: health is assumed, so nothing is
    // resolved and nothing leaves the machine. www is already in sync at Route 53, so
    // it may take the delegation, made of the delegation set's names.
    let assume = |us: &str| -> Vec<String> {
        [("provider:r53", "up"), ("check:web-us", us), ("check:web-eu", "up")]
            .iter()
            .flat_map(|(t, s)| ["--assume".to_string(), format!("{t}={s}")])
            .collect()
    };
    let healthy = assume("up");
    let out = w.dnsteer(&args(&["plan", "--format", "json"], &healthy)).await;
    assert_eq!(code(&out), 2, "changes pending: {}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    // The delegation, and Route 53's apex NS set taking the delegation's TTL.
    assert_eq!(changes.len(), 2, "{plan:#}");
    for c in changes {
        assert_eq!(c["after"], json!(NS_R53_DELEGATION_SET), "{plan:#}");
    }
    assert!(changes.iter().any(|c| c["provider"] == "registrar"), "{plan:#}");
    assert_eq!(plan["left_out"], json!([]), "{plan:#}");
    let out = w.dnsteer(&args(&["apply", "--yes"], &healthy)).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let delegation = w.registrar().records(&zone()).await.unwrap();
    assert_eq!(delegation[0].values, NS_R53_DELEGATION_SET, "{}", show(&out));
    let out = w.dnsteer(&args(&["plan"], &healthy)).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );

    // us-east fails: www moves, the delegation (Route 53's own names) stays.
    let failover = assume("down");
    let out = w
        .dnsteer(&args(&["apply", "--yes", "--format", "json"], &failover))
        .await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(
        (&changes[0]["provider"], &changes[0]["name"], &changes[0]["after"]),
        (&json!("r53"), &json!("www.dnsteer-example.com."), &json!([EU])),
        "{plan:#}"
    );
    let sets = w.r53().records(&zone()).await.unwrap();
    assert_eq!(
        find(&sets, "www.dnsteer-example.com.", RecordType::A).map(|s| s.values.clone()),
        Some(vec![EU.to_string()])
    );
    let out = w.dnsteer(&args(&["plan"], &failover)).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
}

/// A configuration of one Route 53 provider serving ZONE with `records`, delegated at
/// moto's registrar under the name `registrar` when given, with health checks on two
/// loopback TCP ports.
fn route53_config(moto: &str, registrar: Option<&str>, us_port: u16, eu_port: u16, records: &str) -> String {
    let (registrar_provider, delegation) = match registrar {
        Some(name) => (
            format!(
                "  {name}:\n    kind: route53domains\n    access_key_id: {{ env: TEST_AWS_ACCESS_KEY_ID }}\n    \
                 secret_access_key: {{ env: TEST_AWS_SECRET_ACCESS_KEY }}\n    endpoint: {moto}\n"
            ),
            format!("    delegation: {{ provider: {name}, min_providers: 1, ttl: 300 }}\n"),
        ),
        None => (String::new(), String::new()),
    };
    format!(
        r#"agent: {{ id: r53-alone }}
providers:
  r53:
    kind: route53
    access_key_id: {{ env: TEST_AWS_ACCESS_KEY_ID }}
    secret_access_key: {{ env: TEST_AWS_SECRET_ACCESS_KEY }}
    endpoint: {moto}
{registrar_provider}zones:
  - name: {ZONE}
    providers: [ r53 ]
{delegation}    records:
{records}
checks:
  web-us: {{ kind: tcp, address: "127.0.0.1:{us_port}" }}
  web-eu: {{ kind: tcp, address: "127.0.0.1:{eu_port}" }}
"#
    )
}

/// Runs `dnsteer` with `args`, the plan as JSON and Route 53 assumed up, expecting
/// `expected` as its exit code: the plan's changes.
async fn changes_of(w: &World, args: &[&str], expected: i32) -> (serde_json::Value, Vec<serde_json::Value>) {
    let out = w
        .dnsteer(&[args, &["--format", "json", "--assume", "provider:r53=up"]].concat())
        .await;
    assert_eq!(code(&out), expected, "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = plan["changes"].as_array().unwrap().clone();
    (plan, changes)
}

/// `shop`'s weighted sets as moto holds them: (set identifier, weight, values).
fn weighted_at_moto(w: &World) -> Vec<(String, u32, Vec<String>)> {
    let sets: Vec<MotoRecordSet> = tokio::task::block_in_place(|| w.moto.record_sets(&w.zone_id));
    let mut shop: Vec<_> = sets
        .into_iter()
        .filter(|s| s.name == "shop.dnsteer-example.com." && s.rtype == "A")
        .map(|s| {
            (
                s.set_identifier.expect("a weighted set has a SetIdentifier"),
                s.weight.expect("a weighted set has a Weight"),
                s.values,
            )
        })
        .collect();
    shop.sort();
    shop
}

/// Issue 11: `policy: weighted` against Route 53 writes one weighted record set per
/// pool with its configured weight (read back through moto's own API), and a pool
/// whose check fails has its weight set to 0 by the next apply, its set kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_writes_route53_weighted_sets_and_a_failing_pool_goes_to_weight_zero() {
    let w = World::start().await;
    let us = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let eu = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let records = format!(
        "      - name: shop\n        type: A\n        ttl: 60\n        policy: weighted\n        pools:\n          \
         - {{ name: us-east, weight: 3, values: [ {US} ], check: web-us }}\n          \
         - {{ name: eu-west, weight: 1, values: [ {EU} ], check: web-eu }}\n"
    );
    let config = route53_config(
        &w.moto.url,
        None,
        us.local_addr().unwrap().port(),
        eu.local_addr().unwrap().port(),
        &records,
    );
    std::fs::write(w.dir.path().join("dnsteer.yaml"), config).unwrap();
    let out = w.dnsteer(&["check"]).await;
    assert_eq!(code(&out), 0, "{}", show(&out));

    // The checks are measured for real; Route 53's nameservers are Internet names, so
    // only its health is assumed.
    let r53_up = ["--assume", "provider:r53=up"];
    let (plan, changes) = changes_of(&w, &["plan"], 2).await;
    let mut created: Vec<_> = changes
        .iter()
        .map(|c| {
            (
                c["action"].clone(),
                c["set"].clone(),
                c["weight"].clone(),
                c["after"].clone(),
            )
        })
        .collect();
    created.sort_by_key(|c| c.1.to_string());
    assert_eq!(
        created,
        vec![
            (json!("create"), json!("eu-west"), json!(1), json!([EU])),
            (json!("create"), json!("us-east"), json!(3), json!([US])),
        ],
        "{plan:#}"
    );

    let out = w.dnsteer(&[&["apply", "--yes"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(
        weighted_at_moto(&w),
        vec![
            ("eu-west".to_string(), 1, vec![EU.to_string()]),
            ("us-east".to_string(), 3, vec![US.to_string()]),
        ]
    );
    let out = w.dnsteer(&[&["plan"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        show(&out)
    );

    // eu-west's check starts failing (its port closes): the plan takes its weight to
    // 0, an update of its set, never a delete.
    drop(eu);
    let out = w.dnsteer(&[&["plan"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 2, "{}", show(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("update  shop.dnsteer-example.com. A [eu-west weight 1 -> 0]"),
        "{}",
        show(&out)
    );
    let (plan, changes) = changes_of(&w, &["apply", "--yes"], 0).await;
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(
        (
            &changes[0]["action"],
            &changes[0]["set"],
            &changes[0]["before_weight"],
            &changes[0]["weight"]
        ),
        (&json!("update"), &json!("eu-west"), &json!(1), &json!(0)),
        "{plan:#}"
    );
    assert_eq!(plan["held"], json!([]), "a failover by health is never held: {plan:#}");
    assert_eq!(
        weighted_at_moto(&w),
        vec![
            ("eu-west".to_string(), 0, vec![EU.to_string()]),
            ("us-east".to_string(), 3, vec![US.to_string()]),
        ]
    );
    let out = w.dnsteer(&[&["plan"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
    drop(us);
}

/// Route 53 alias record sets: one at a steered name is shown in the plan with its
/// target and replaced by the configured set (deleted with its AliasTarget as read,
/// never sent back as a plain value); an alias dnsteer does not steer is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route53_alias_at_a_steered_name_shows_its_target_and_others_are_left_alone() {
    let w = World::start().await;
    let alias = |name: &str, target: &str| {
        format!(
            "<Change><Action>CREATE</Action><ResourceRecordSet><Name>{name}</Name><Type>A</Type><AliasTarget>\
             <HostedZoneId>Z35SXDOTRQ7X7K</HostedZoneId><DNSName>{target}</DNSName>\
             <EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change>"
        )
    };
    let batch = alias("cdn.dnsteer-example.com.", "dualstack.elb-1.example.")
        + &alias("static.dnsteer-example.com.", "dualstack.elb-2.example.");
    tokio::task::block_in_place(|| w.moto.change_raw(&w.zone_id, &batch));
    let us = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = us.local_addr().unwrap().port();
    let records = format!(
        "      - name: cdn\n        type: A\n        ttl: 60\n        pools:\n          \
         - {{ name: us-east, values: [ {US} ], check: web-us }}\n"
    );
    std::fs::write(
        w.dir.path().join("dnsteer.yaml"),
        route53_config(&w.moto.url, None, port, port, &records),
    )
    .unwrap();
    let r53_up = ["--assume", "provider:r53=up"];
    let (plan, changes) = changes_of(&w, &["plan"], 2).await;
    assert_eq!(changes.len(), 1, "only the steered name: {plan:#}");
    assert_eq!(
        (
            &changes[0]["action"],
            &changes[0]["name"],
            &changes[0]["before"],
            &changes[0]["after"]
        ),
        (
            &json!("update"),
            &json!("cdn.dnsteer-example.com."),
            &json!(["ALIAS dualstack.elb-1.example. (Z35SXDOTRQ7X7K)"]),
            &json!([US])
        ),
        "{plan:#}"
    );
    let out = w.dnsteer(&[&["plan"][..], &r53_up].concat()).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "cdn.dnsteer-example.com. A  0 [ALIAS dualstack.elb-1.example. (Z35SXDOTRQ7X7K)] -> 60 [192.0.2.10]"
        ),
        "{}",
        show(&out)
    );

    let out = w.dnsteer(&[&["apply", "--yes"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let sets = tokio::task::block_in_place(|| w.moto.record_sets(&w.zone_id));
    let at = |name: &str| sets.iter().find(|s| s.name == name && s.rtype == "A").cloned();
    let cdn = at("cdn.dnsteer-example.com.").unwrap();
    assert_eq!((cdn.values, cdn.alias_dns_name), (vec![US.to_string()], None));
    let untouched = at("static.dnsteer-example.com.").unwrap();
    assert_eq!(untouched.alias_dns_name.as_deref(), Some("dualstack.elb-2.example."));
    let out = w.dnsteer(&[&["plan"][..], &r53_up].concat()).await;
    assert_eq!(code(&out), 0, "converged: {}", show(&out));
}

/// A plain record turned weighted in the configuration: the plan deletes the plain set
/// and creates the pools' sets; the delete waits for approval, and with it the zone,
/// and once approved Route 53 takes all of it in one atomic request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_record_turned_weighted_is_replaced_once_approved() {
    let w = World::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = port.local_addr().unwrap().port();
    let records = format!(
        "      - name: www\n        type: A\n        ttl: 60\n        policy: weighted\n        pools:\n          \
         - {{ name: us-east, weight: 3, values: [ {US} ], check: web-us }}\n          \
         - {{ name: eu-west, weight: 1, values: [ {EU} ], check: web-eu }}\n"
    );
    std::fs::write(
        w.dir.path().join("dnsteer.yaml"),
        route53_config(&w.moto.url, None, p, p, &records),
    )
    .unwrap();
    let (plan, changes) = changes_of(&w, &["apply", "--yes"], 1).await;
    let mut actions: Vec<_> = changes
        .iter()
        .map(|c| (c["action"].as_str().unwrap(), c["set"].as_str().unwrap_or("-")))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [("create", "eu-west"), ("create", "us-east"), ("delete", "-")],
        "{plan:#}"
    );
    assert_eq!(plan["held"][0]["zone"], json!(ZONE), "{plan:#}");
    let before = tokio::task::block_in_place(|| w.moto.record_sets(&w.zone_id));
    let www: Vec<_> = before.iter().filter(|s| s.name == "www.dnsteer-example.com.").collect();
    assert_eq!(www.len(), 1, "held: nothing written: {www:?}");

    let out = w
        .dnsteer(&["apply", "--yes", "--force", "--assume", "provider:r53=up"])
        .await;
    assert_eq!(code(&out), 0, "{}", show(&out));
    let after = tokio::task::block_in_place(|| w.moto.record_sets(&w.zone_id));
    let mut www: Vec<_> = after
        .iter()
        .filter(|s| s.name == "www.dnsteer-example.com.")
        .map(|s| (s.set_identifier.clone(), s.weight, s.values.clone()))
        .collect();
    www.sort();
    assert_eq!(
        www,
        vec![
            (Some("eu-west".to_string()), Some(1), vec![EU.to_string()]),
            (Some("us-east".to_string()), Some(3), vec![US.to_string()]),
        ]
    );
    drop(port);
}
