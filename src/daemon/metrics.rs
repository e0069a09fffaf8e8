//! Prometheus metrics of the daemon (`GET /metrics`), all named `dnsteer_*`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::health::State;
use crate::peer::Role;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabel {
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub target: String,
    /// `ok` or the failure class.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub target: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecordLabels {
    pub zone: String,
    pub provider: String,
    pub name: String,
    pub record_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderCallLabels {
    pub provider: String,
    /// `read` or `apply`.
    pub operation: String,
    /// `ok` or `error`.
    pub result: String,
}

pub struct Metrics {
    registry: Registry,
    pub probes: Family<ProbeLabels, Counter>,
    pub probe_duration: Family<TargetLabel, Histogram>,
    pub target_state: Family<StateLabels, Gauge>,
    pub target_degraded: Family<TargetLabel, Gauge>,
    pub followed_by: Family<RecordLabels, Gauge<f64, AtomicU64>>,
    pub transitions: Family<StateLabels, Counter>,
    pub plans: Counter,
    pub plan_changes: Gauge,
    pub applied_changes: Family<ProviderLabels, Counter>,
    pub provider_calls: Family<ProviderCallLabels, Counter>,
    pub provider_call_duration: Family<ProviderLabels, Histogram>,
    pub leader: Gauge,
    pub term: Gauge,
    pub last_apply_success: Gauge<f64, AtomicU64>,
    pub alerts_sent: Gauge,
    pub alerts_failed: Gauge,
    pub alerts_dropped: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            probes: Family::default(),
            probe_duration: Family::new_with_constructor(latency_histogram),
            target_state: Family::default(),
            target_degraded: Family::default(),
            followed_by: Family::default(),
            transitions: Family::default(),
            plans: Counter::default(),
            plan_changes: Gauge::default(),
            applied_changes: Family::default(),
            provider_calls: Family::default(),
            provider_call_duration: Family::new_with_constructor(latency_histogram),
            leader: Gauge::default(),
            term: Gauge::default(),
            last_apply_success: Gauge::default(),
            alerts_sent: Gauge::default(),
            alerts_failed: Gauge::default(),
            alerts_dropped: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "dnsteer_probes",
            "Probe results by target and result class",
            m.probes.clone(),
        );
        registry.register(
            "dnsteer_probe_duration_seconds",
            "Probe latency",
            m.probe_duration.clone(),
        );
        registry.register(
            "dnsteer_target_state",
            "1 for each target's current effective state",
            m.target_state.clone(),
        );
        registry.register(
            "dnsteer_target_degraded",
            "1 while a target's newest round passed with some of its addresses failing (a provider's dead nameserver)",
            m.target_degraded.clone(),
        );
        registry.register(
            "dnsteer_record_followed_by_timestamp_seconds",
            "Unix time by which resolvers follow a record set's last write (the write plus its stale_for_s)",
            m.followed_by.clone(),
        );
        registry.register(
            "dnsteer_transitions",
            "Health transitions by target and new state",
            m.transitions.clone(),
        );
        registry.register("dnsteer_plans", "Plans computed", m.plans.clone());
        registry.register(
            "dnsteer_plan_changes",
            "Changes in the latest plan",
            m.plan_changes.clone(),
        );
        registry.register(
            "dnsteer_applied_changes",
            "Changes applied per provider",
            m.applied_changes.clone(),
        );
        registry.register(
            "dnsteer_provider_calls",
            "Provider API calls (reads and apply batches)",
            m.provider_calls.clone(),
        );
        registry.register(
            "dnsteer_provider_call_duration_seconds",
            "Provider API call latency",
            m.provider_call_duration.clone(),
        );
        registry.register(
            "dnsteer_leader",
            "1 while this daemon holds the lease",
            m.leader.clone(),
        );
        registry.register("dnsteer_lease_term", "The lease term this daemon knows", m.term.clone());
        registry.register(
            "dnsteer_last_successful_apply_timestamp_seconds",
            "Unix time of the last apply that succeeded everywhere",
            m.last_apply_success.clone(),
        );
        registry.register("dnsteer_alerts_sent", "Alerts delivered", m.alerts_sent.clone());
        registry.register(
            "dnsteer_alerts_failed",
            "Alerts given up after retries",
            m.alerts_failed.clone(),
        );
        registry.register(
            "dnsteer_alerts_dropped",
            "Alerts dropped from a full queue",
            m.alerts_dropped.clone(),
        );
        Self { registry, ..m }
    }

    pub fn set_state(&self, target: &str, state: State) {
        for s in [State::Unknown, State::Healthy, State::Unhealthy] {
            let labels = StateLabels {
                target: target.to_string(),
                state: s.to_string(),
            };
            self.target_state.get_or_create(&labels).set(i64::from(s == state));
        }
    }

    pub fn set_role(&self, role: Role, term: u64) {
        self.leader.set(i64::from(role == Role::Leader));
        self.term.set(term as i64);
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
