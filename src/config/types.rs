//! The configuration's shape (SPEC "Configuration (YAML)"), as serde reads it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use dnsteer_providers::{RecordType, ZoneName};
use serde::{Deserialize, Serialize};

use super::{Duration, Secret};
use crate::health::Quorum;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub agent: AgentConfig,
    #[serde(default)]
    pub defaults: DefaultsConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub zones: Vec<ZoneConfig>,
    #[serde(default)]
    pub checks: BTreeMap<String, CheckConfig>,
    #[serde(default)]
    pub alerts: Vec<AlertConfig>,
    /// Nameservers read from each provider at start (`connect::discover_nameservers`)
    /// where its configuration lists none, by provider, then zone (as `ZoneName`
    /// writes it). Never written in YAML.
    #[serde(skip)]
    pub discovered_nameservers: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

impl Config {
    /// The NS names `provider` serves `zone` from: its configured `nameservers`, else
    /// those read from it at start. Every user of a provider's nameservers (probes, the
    /// delegation, safety limits) asks here, so they agree.
    pub fn nameservers_of(&self, provider: &str, zone: &ZoneName) -> &[String] {
        match self.providers.get(provider) {
            Some(c) if !c.nameservers().is_empty() => c.nameservers(),
            Some(_) => self
                .discovered_nameservers
                .get(provider)
                .and_then(|zones| zones.get(zone.as_str()))
                .map_or(&[], Vec::as_slice),
            None => &[],
        }
    }

    /// The providers, each with the nameservers it serves `zone` from in place of its
    /// configured ones (see [`Config::nameservers_of`]), for steering that zone.
    pub fn providers_for_zone(&self, zone: &ZoneName) -> BTreeMap<String, ProviderConfig> {
        self.providers
            .iter()
            .map(|(name, c)| {
                let mut c = c.clone();
                c.set_nameservers(self.nameservers_of(name, zone).to_vec());
                (name.clone(), c)
            })
            .collect()
    }

    /// A check's interval, timeout and health settings, its overrides applied over
    /// `defaults`. A name that is not a check gets the defaults.
    pub fn check_settings(&self, name: &str) -> (Duration, Duration, HealthConfig) {
        let d = &self.defaults;
        match self.checks.get(name) {
            Some(check) => (
                check.interval().unwrap_or(d.interval),
                check.timeout().unwrap_or(d.timeout),
                d.health.with(check.health()),
            ),
            None => self.provider_health_settings(),
        }
    }

    /// The interval, timeout and health settings of every provider's health target:
    /// providers use `defaults`.
    pub fn provider_health_settings(&self) -> (Duration, Duration, HealthConfig) {
        let d = &self.defaults;
        (d.interval, d.timeout, d.health.clone())
    }

    /// The health settings of a target named `check:NAME` or `provider:NAME`.
    pub fn target_health(&self, target: &str) -> HealthConfig {
        match target.strip_prefix("check:") {
            Some(check) => self.check_settings(check).2,
            None => self.provider_health_settings().2,
        }
    }
}

/// `agent:` — this daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Unique within the pair.
    pub id: String,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Health and hysteresis state, kept across restarts.
    pub state_file: PathBuf,
    /// Bearer token for mutating and peer endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_token: Option<Secret>,
    /// Base URLs of the other daemon(s) of the pair.
    pub peers: Vec<String>,
    pub lease: LeaseConfig,
    /// Instead of `peers`: a fleet of any size coordinated through etcd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordination: Option<CoordinationConfig>,
    /// Decide and plan, never write.
    pub dry_run: bool,
}

/// `agent.coordination:` — the service a fleet coordinates through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum CoordinationConfig {
    Etcd(EtcdConfig),
}

/// `kind: etcd` — etcd v3, reached through its HTTP gateway (`http` or `https`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    /// Every key dnsteer writes lives under it.
    #[serde(default = "default_etcd_prefix")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

fn default_etcd_prefix() -> String {
    "/dnsteer/".to_string()
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            id: "dnsteer".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9310)),
            state_file: PathBuf::from("./dnsteer-state.json"),
            api_token: None,
            peers: Vec::new(),
            lease: LeaseConfig::default(),
            coordination: None,
            dry_run: false,
        }
    }
}

/// `agent.lease:` — the pair's leader lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseConfig {
    pub duration: Duration,
    /// The provider that holds the pair's lease record (it needs compare-and-set);
    /// omitted: chosen as `Config::pair_witness` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            witness: None,
        }
    }
}

/// `defaults:` — what every check (and every provider's health target) inherits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultsConfig {
    pub interval: Duration,
    pub timeout: Duration,
    pub health: HealthConfig,
    /// How often a steered record set may flip before its next flip waits for an
    /// operator; each zone may override it.
    pub flap_budget: FlapBudgetConfig,
    /// The longest a failover may take, from failure until resolvers answer the new
    /// value: `check` and `plan` warn about every record that cannot meet it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_budget: Option<Duration>,
}

impl Default for DefaultsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            health: HealthConfig::default(),
            flap_budget: FlapBudgetConfig::default(),
            failover_budget: None,
        }
    }
}

/// Flap damping: at most `changes` flips of one record set's values `within` a
/// sliding window; the flip past the budget is held until an operator approves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlapBudgetConfig {
    pub changes: u32,
    pub within: Duration,
}

/// The most flips a budget may allow: as many as dnsteer remembers per record set.
pub const MAX_FLAP_BUDGET: u32 = 100;

impl Default for FlapBudgetConfig {
    /// Three failovers and their failbacks an hour: more is a flapping check or a
    /// health setting too eager for its target, and worth a look before more moves.
    fn default() -> Self {
        Self {
            changes: 6,
            within: Duration::from_secs(3600),
        }
    }
}

/// The decision engine's settings for one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// The last N results per target.
    pub window: usize,
    /// Failure ratio over the window at or above which the target counts as failing.
    pub fail_ratio: f64,
    /// Failure ratio at or under which the target counts as passing.
    pub recover_ratio: f64,
    /// Consecutive failing evaluations before unhealthy.
    pub fall: u32,
    /// Consecutive passing evaluations before healthy.
    pub rise: u32,
    /// Least time in a state before leaving it.
    pub hold: Duration,
    /// Fresh vantage points (the pair, a fleet) that must see the target failing.
    pub quorum: Quorum,
    /// Re-probes sent at once when a target that was passing fails.
    pub confirm: ConfirmConfig,
}

impl Default for HealthConfig {
    /// Seven failures in a row decide (`window` 5 all failing, then `fall` 3): one
    /// failed probe and its six confirmations, 0.75 s apart, so detection takes about
    /// one interval less than without confirmations, while a 300 ms blip spans at most
    /// three of the seven and 20 % random loss has a 0.2^7 chance per failure. The
    /// arithmetic is in `docs/health.md`.
    fn default() -> Self {
        Self {
            window: 5,
            fail_ratio: 1.0,
            recover_ratio: 0.1,
            fall: 3,
            rise: 3,
            hold: Duration::from_secs(60),
            quorum: Quorum::Majority,
            confirm: ConfirmConfig::default(),
        }
    }
}

/// `health.confirm`: when a probe of a target whose previous result passed fails,
/// `probes` more are sent, `spacing` apart, stopping at the first that passes. Each is
/// a probe result (one evaluation each); `probes: 0` turns confirmation off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfirmConfig {
    pub probes: u32,
    pub spacing: Duration,
}

/// The most confirmations one failure may trigger.
pub const MAX_CONFIRM_PROBES: u32 = 20;

/// The shortest spacing of confirmations: the scheduler's floor between two probes.
pub const MIN_CONFIRM_SPACING: std::time::Duration = std::time::Duration::from_millis(10);

impl Default for ConfirmConfig {
    fn default() -> Self {
        Self {
            probes: 6,
            spacing: Duration::from_millis(125),
        }
    }
}

impl HealthConfig {
    /// The decision engine's view of these settings.
    pub fn params(&self) -> crate::health::HealthParams {
        crate::health::HealthParams {
            window: self.window,
            fail_ratio: self.fail_ratio,
            recover_ratio: self.recover_ratio,
            fall: self.fall,
            rise: self.rise,
            hold: self.hold.get(),
            quorum: self.quorum,
        }
    }

    /// These settings with `o`'s fields put over them.
    pub fn with(&self, o: &HealthOverride) -> HealthConfig {
        HealthConfig {
            window: o.window.unwrap_or(self.window),
            fail_ratio: o.fail_ratio.unwrap_or(self.fail_ratio),
            recover_ratio: o.recover_ratio.unwrap_or(self.recover_ratio),
            fall: o.fall.unwrap_or(self.fall),
            rise: o.rise.unwrap_or(self.rise),
            hold: o.hold.unwrap_or(self.hold),
            quorum: o.quorum.unwrap_or(self.quorum),
            confirm: o.confirm.unwrap_or(self.confirm),
        }
    }
}

/// A check's `health:`: any subset of [`HealthConfig`]'s fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<Quorum>,
    pub confirm: Option<ConfirmConfig>,
}

impl HealthOverride {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

// ---------------------------------------------------------------------------------
// Providers

/// `providers.NAME:` — one adapter, picked by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ProviderConfig {
    Powerdns(PowerDnsConfig),
    Rfc2136(Rfc2136Config),
    Route53(Route53Config),
    Route53domains(Route53DomainsConfig),
    Cloudflare(CloudflareConfig),
    Ns1(Ns1Config),
    Azure(AzureConfig),
    Google(GoogleConfig),
}

impl ProviderConfig {
    /// Every `kind` value, as written in the configuration.
    pub const KINDS: &'static [&'static str] = &[
        "powerdns",
        "rfc2136",
        "route53",
        "route53domains",
        "cloudflare",
        "ns1",
        "azure",
        "google",
    ];

    /// What the kind's adapter can do (record types, atomic batches, compare-and-set,
    /// the largest batch), as the adapter declares it.
    pub fn capabilities(&self) -> dnsteer_providers::Capabilities {
        dnsteer_providers::capabilities_of(self.kind()).expect("every configured kind has an adapter")
    }

    /// Whether the kind's adapter writes weighted records natively (its
    /// `Capabilities::native_weights`): only those may serve `policy: weighted`.
    pub fn has_native_weights(&self) -> bool {
        self.capabilities().native_weights
    }

    /// Whether the kind's API refuses a write whose expected values are no longer
    /// live (what the pair's witness needs).
    pub fn has_compare_and_set(&self) -> bool {
        self.capabilities().compare_and_set
    }

    /// The kinds whose capabilities have `what`, for messages ("rfc2136, route53").
    pub fn kinds_with(what: impl Fn(&dnsteer_providers::Capabilities) -> bool) -> String {
        let kinds: Vec<&str> = Self::KINDS
            .iter()
            .copied()
            .filter(|k| dnsteer_providers::capabilities_of(k).is_some_and(|c| what(&c)))
            .collect();
        kinds.join(", ")
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Powerdns(_) => "powerdns",
            Self::Rfc2136(_) => "rfc2136",
            Self::Route53(_) => "route53",
            Self::Azure(_) => "azure",
            Self::Route53domains(_) => "route53domains",
            Self::Cloudflare(_) => "cloudflare",
            Self::Ns1(_) => "ns1",
            Self::Google(_) => "google",
        }
    }

    /// The NS names this provider serves zones from (empty for a registrar).
    pub fn nameservers(&self) -> &[String] {
        match self {
            Self::Powerdns(p) => &p.nameservers,
            Self::Rfc2136(p) => &p.nameservers,
            Self::Azure(p) => &p.nameservers,
            Self::Route53(p) => &p.nameservers,
            Self::Route53domains(_) => &[],
            Self::Cloudflare(p) => &p.nameservers,
            Self::Ns1(p) => &p.nameservers,
            Self::Google(p) => &p.nameservers,
        }
    }

    fn set_nameservers(&mut self, names: Vec<String>) {
        match self {
            Self::Powerdns(p) => p.nameservers = names,
            Self::Azure(p) => p.nameservers = names,
            Self::Rfc2136(p) => p.nameservers = names,
            Self::Route53(p) => p.nameservers = names,
            Self::Route53domains(_) => {}
            Self::Cloudflare(p) => p.nameservers = names,
            Self::Ns1(p) => p.nameservers = names,
            Self::Google(p) => p.nameservers = names,
        }
    }

    /// The `host:port` addresses probed for this provider's health (empty: the
    /// nameserver names, resolved at start).
    pub fn probe(&self) -> &[String] {
        match self {
            Self::Azure(p) => &p.probe,
            Self::Powerdns(p) => &p.probe,
            Self::Rfc2136(p) => &p.probe,
            Self::Route53(p) => &p.probe,
            Self::Route53domains(_) => &[],
            Self::Cloudflare(p) => &p.probe,
            Self::Ns1(p) => &p.probe,
            Self::Google(p) => &p.probe,
        }
    }

    /// Whether this kind can host a zone (a registrar can only delegate).
    pub fn serves_zones(&self) -> bool {
        !matches!(self, Self::Route53domains(_))
    }
}

/// `kind: powerdns` — the PowerDNS Authoritative HTTP API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerDnsConfig {
    pub url: String,
    pub api_key: Secret,
    #[serde(default = "default_server_id")]
    pub server_id: String,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

fn default_server_id() -> String {
    "localhost".to_string()
}

/// `kind: rfc2136` — any server taking TSIG-signed RFC 2136 updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rfc2136Config {
    /// `host:port` of the primary taking updates (and answering AXFR).
    pub server: String,
    pub tsig: TsigConfig,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsigConfig {
    /// The key's name, a DNS name.
    pub name: String,
    pub algorithm: TsigAlgorithm,
    pub secret: Secret,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

/// `kind: route53` — Amazon Route 53 hosted zones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// How long `apply` waits for a change to be INSYNC (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_timeout: Option<Duration>,
    /// The pause between GetChange polls while waiting (default 1.5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<Duration>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

/// `kind: route53domains` — delegation at the Route 53 registrar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53DomainsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// `kind: cloudflare` — the Cloudflare v4 API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    pub api_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

/// `kind: ns1` — the NS1 (IBM NS1 Connect) REST API v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ns1Config {
    pub api_key: Secret,
    /// The API base, `/v1` included (default `https://api.nsone.net/v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

/// `kind: azure` — Azure DNS through Azure Resource Manager, as a service principal
/// with a client secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The Microsoft Entra tenant (directory) the service principal belongs to.
    pub tenant_id: String,
    /// The service principal's application (client) id.
    pub client_id: String,
    pub client_secret: Secret,
    pub subscription_id: String,
    /// The resource group that holds the DNS zones.
    pub resource_group: String,
    /// Azure Resource Manager's URL (default https://management.azure.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The identity platform's URL (default https://login.microsoftonline.com).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

/// `kind: google` — Google Cloud DNS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    /// A service-account JSON key.
    pub credentials: Secret,
    /// The project holding the zone (default: the key's `project_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub probe: Vec<String>,
}

// ---------------------------------------------------------------------------------
// Zones

/// `zones[]:` — one zone served by one or more providers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    pub providers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationConfig>,
    #[serde(default)]
    pub records: Vec<RecordConfig>,
    /// Share (0..1) of the managed record sets one apply may change without `--force`,
    /// counting only changes health did not decide (configuration edits, drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_change_ratio: Option<f64>,
    /// This zone's flap budget, over `defaults.flap_budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flap_budget: Option<FlapBudgetConfig>,
}

impl ZoneConfig {
    /// The zone's normalised name (validated at load).
    pub fn zone_name(&self) -> Result<dnsteer_providers::ZoneName, dnsteer_providers::record::RecordError> {
        dnsteer_providers::ZoneName::new(&self.name)
    }
}

/// `zones[].delegation:` — where the zone's NS set is written at the parent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationConfig {
    pub provider: String,
    /// The parent zone; omitted for a registrar kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default = "default_min_providers")]
    pub min_providers: usize,
    #[serde(default = "default_delegation_ttl")]
    pub ttl: u32,
}

fn default_min_providers() -> usize {
    1
}

fn default_delegation_ttl() -> u32 {
    300
}

/// `zones[].records[]:` — one steered record set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Relative to the zone; `@` is the apex; a name ending in `.` is absolute.
    pub name: String,
    /// A, AAAA or CNAME.
    #[serde(rename = "type")]
    pub rtype: RecordType,
    #[serde(default = "default_record_ttl")]
    pub ttl: u32,
    #[serde(default)]
    pub policy: RecordPolicy,
    pub pools: Vec<PoolConfig>,
}

fn default_record_ttl() -> u32 {
    60
}

/// How a record's pools become its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordPolicy {
    /// The healthy pool with the best (lowest) priority.
    #[default]
    Failover,
    /// Every healthy pool's values.
    AllHealthy,
    /// Healthy pools by weight.
    Weighted,
}

/// `zones[].records[].pools[]:` — values that stand or fall together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    /// Lower is preferred.
    #[serde(default = "default_one")]
    pub priority: u32,
    #[serde(default = "default_one")]
    pub weight: u32,
    pub values: Vec<String>,
    /// The check whose health this pool follows; without one the pool is always up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

fn default_one() -> u32 {
    1
}

// ---------------------------------------------------------------------------------
// Checks

/// `checks.NAME:` — a regional endpoint's health check, picked by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CheckConfig {
    Http(HttpCheckConfig),
    Tcp(TcpCheckConfig),
    Dns(DnsCheckConfig),
}

impl CheckConfig {
    pub const KINDS: &'static [&'static str] = &["http", "tcp", "dns"];

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Dns(_) => "dns",
        }
    }

    /// The check's own interval, if it overrides `defaults.interval`.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Self::Http(c) => c.interval,
            Self::Tcp(c) => c.interval,
            Self::Dns(c) => c.interval,
        }
    }

    /// The check's own timeout, if it overrides `defaults.timeout`.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Self::Http(c) => c.timeout,
            Self::Tcp(c) => c.timeout,
            Self::Dns(c) => c.timeout,
        }
    }

    /// The check's overrides of `defaults.health`.
    pub fn health(&self) -> &HealthOverride {
        match self {
            Self::Http(c) => &c.health,
            Self::Tcp(c) => &c.health,
            Self::Dns(c) => &c.health,
        }
    }
}

/// `kind: http` — a GET that must answer one of `expect_status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckConfig {
    pub url: String,
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// A substring the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Host header (and TLS server name) instead of the URL's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub follow_redirects: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "HealthOverride::is_empty")]
    pub health: HealthOverride,
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

/// `kind: tcp` — a TCP connect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpCheckConfig {
    /// `host:port`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "HealthOverride::is_empty")]
    pub health: HealthOverride,
}

/// `kind: dns` — a query to one server that must answer (with `expect`, if given).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheckConfig {
    /// `host:port` of the server asked.
    pub server: String,
    pub query: DnsQueryConfig,
    /// Values the answer must hold (any order); empty: any answer will do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "HealthOverride::is_empty")]
    pub health: HealthOverride,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsQueryConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: RecordType,
}

// ---------------------------------------------------------------------------------
// Alerts

/// `alerts[]:` — where events are sent, picked by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AlertConfig {
    /// A JSON POST signed with `X-Dnsteer-Signature` when `secret` is set.
    Webhook(WebhookAlertConfig),
    /// A Slack incoming webhook; its URL is a secret.
    Slack(SlackAlertConfig),
    /// PagerDuty Events API v2.
    Pagerduty(PagerDutyAlertConfig),
}

impl AlertConfig {
    pub const KINDS: &'static [&'static str] = &["webhook", "slack", "pagerduty"];

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::Slack(_) => "slack",
            Self::Pagerduty(_) => "pagerduty",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAlertConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAlertConfig {
    pub url: Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyAlertConfig {
    pub routing_key: Secret,
}
