//! The status page at `GET /` (SPEC "HTTP API"): what it needs that `/v1/status` does
//! not keep (each target's last hour, each provider's last answers for the steered
//! names), held here in bounded memory, and the page itself (`render.rs`).

mod render;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use dnsteer_providers::RecordSet;

use super::Shared;
use crate::config::Config;
use crate::health::{State, TargetStatus, Transition};
use crate::reconcile::Live;

pub use render::{render, Inputs};

/// How far back a target's timeline goes.
const HISTORY: TimeDelta = TimeDelta::hours(1);
/// How often a target's failure ratio is sampled into its timeline.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(15);
/// The most points one target keeps: an hour of samples, plus state changes (a flapping
/// target must not grow its timeline without end).
const MAX_POINTS: usize = 3600 / 15 + 60;

/// One point of a target's timeline.
#[derive(Clone, Debug)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub state: State,
    pub failure_ratio: Option<f64>,
    /// Set on a state change: why.
    pub change: Option<String>,
}

/// A steered record, as the configuration names it (no check URLs: nothing secret).
#[derive(Clone, Debug)]
pub struct Steered {
    /// Absolute, lowercase owner name.
    pub name: String,
    pub rtype: String,
    pub ttl: u32,
    pub policy: String,
    /// (pool, values, check target) in priority order.
    pub pools: Vec<(String, Vec<String>, Option<String>)>,
}

#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub providers: Vec<String>,
    /// (provider, parent zone) where the delegation is written.
    pub delegation: Option<(String, String)>,
    pub min_providers: usize,
    pub records: Vec<Steered>,
}

#[derive(Default)]
struct Book {
    history: BTreeMap<String, VecDeque<Point>>,
    /// (zone, provider) → the steered sets (and apex NS) as last read, and when.
    answers: BTreeMap<(String, String), (DateTime<Utc>, Vec<RecordSet>)>,
    /// zone → the parent's NS set for it as last read, and when.
    delegation: BTreeMap<String, (DateTime<Utc>, Vec<String>)>,
}

/// What the page shows beyond `/v1/status`, kept by the daemon.
pub struct Recorder {
    /// The configured zones, replaced when the configuration is reloaded.
    zones: RwLock<Arc<Vec<Zone>>>,
    book: Mutex<Book>,
}

impl Recorder {
    pub fn new(config: &Config) -> Self {
        Self {
            zones: RwLock::new(Arc::new(Self::zones_of(config))),
            book: Mutex::new(Book::default()),
        }
    }

    /// Follows a reloaded configuration; the timelines and answers seen are kept.
    pub fn reconfigure(&self, config: &Config) {
        *self.zones.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Self::zones_of(config));
    }

    fn zones_of(config: &Config) -> Vec<Zone> {
        config
            .zones
            .iter()
            .map(|z| {
                let zone = z.name.to_ascii_lowercase();
                Zone {
                    name: zone.clone(),
                    providers: z.providers.clone(),
                    delegation: z.delegation.as_ref().map(|d| {
                        let at = d.parent.clone().unwrap_or_else(|| zone.clone());
                        (d.provider.clone(), at.to_ascii_lowercase())
                    }),
                    min_providers: z.delegation.as_ref().map_or(0, |d| d.min_providers),
                    records: z
                        .records
                        .iter()
                        .map(|r| Steered {
                            name: absolute(&r.name, &zone),
                            rtype: r.rtype.as_str().to_string(),
                            ttl: r.ttl,
                            policy: format!("{:?}", r.policy).to_ascii_lowercase(),
                            pools: r
                                .pools
                                .iter()
                                .map(|p| {
                                    (
                                        p.name.clone(),
                                        p.values.clone(),
                                        p.check.as_ref().map(|c| format!("check:{c}")),
                                    )
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn zones(&self) -> Arc<Vec<Zone>> {
        self.zones.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A target changed state (effective layer).
    pub fn transition(&self, t: &Transition) {
        let mut book = self.book();
        push(
            book.history.entry(t.target.clone()).or_default(),
            Point {
                at: t.at,
                state: t.to,
                failure_ratio: None,
                change: Some(t.reason.clone()),
            },
        );
    }

    /// Samples every target's state and failure ratio.
    pub fn sample(&self, targets: &[TargetStatus], now: DateTime<Utc>) {
        let mut book = self.book();
        for t in targets {
            push(
                book.history.entry(t.name.clone()).or_default(),
                Point {
                    at: now,
                    state: t.state,
                    failure_ratio: Some(t.failure_ratio),
                    change: None,
                },
            );
        }
    }

    /// Keeps what each provider answered for the steered names (and the apex NS), and
    /// the parent's delegation, from one pass's reads.
    pub fn saw_live(&self, live: &Live, now: DateTime<Utc>) {
        let mut book = self.book();
        for zone in self.zones().iter() {
            let names: BTreeSet<(&str, &str)> = zone
                .records
                .iter()
                .map(|r| (r.name.as_str(), r.rtype.as_str()))
                .chain([(zone.name.as_str(), "NS")])
                .collect();
            for provider in &zone.providers {
                let Some(sets) = live.records.iter().find_map(|((z, p), sets)| {
                    (z.as_str().eq_ignore_ascii_case(&zone.name) && p == provider).then_some(sets)
                }) else {
                    continue;
                };
                let kept = sets
                    .iter()
                    .filter(|s| names.contains(&(s.name.as_str(), s.rtype.as_str())))
                    .cloned()
                    .collect();
                book.answers.insert((zone.name.clone(), provider.clone()), (now, kept));
            }
            if let Some((provider, at)) = &zone.delegation {
                let sets = live
                    .records
                    .iter()
                    .find_map(|((z, p), sets)| (z.as_str().eq_ignore_ascii_case(at) && p == provider).then_some(sets));
                if let Some(sets) = sets {
                    let ns = sets
                        .iter()
                        .find(|s| s.name == zone.name && s.rtype.as_str() == "NS")
                        .map(|s| s.values.clone())
                        .unwrap_or_default();
                    book.delegation.insert(zone.name.clone(), (now, ns));
                }
            }
        }
    }

    /// Whether some zone has no provider whose copy can be read (`read_failing` names
    /// the providers whose last read failed).
    pub fn unreadable_zone(&self, read_failing: &BTreeSet<&str>) -> Option<String> {
        self.zones()
            .iter()
            .find(|z| !z.providers.is_empty() && z.providers.iter().all(|p| read_failing.contains(p.as_str())))
            .map(|z| z.name.clone())
    }
}

/// Appends a point, dropping what is older than an hour or past the size bound.
fn push(points: &mut VecDeque<Point>, point: Point) {
    let oldest = point.at - HISTORY;
    while points.front().is_some_and(|p| p.at < oldest) || points.len() >= MAX_POINTS {
        points.pop_front();
    }
    points.push_back(point);
}

fn absolute(name: &str, zone: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name == "@" {
        zone.to_string()
    } else if name.ends_with('.') {
        name
    } else {
        format!("{name}.{zone}")
    }
}

/// Samples every target into its timeline until the daemon stops.
pub async fn sample_every(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let now = Utc::now();
        let snapshot = shared.inner().engine.snapshot(now);
        shared.page.sample(&snapshot, now);
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// A copy of what the page shows from the recorder, taken under its lock.
pub struct View {
    pub history: BTreeMap<String, Vec<Point>>,
    pub answers: BTreeMap<(String, String), (DateTime<Utc>, Vec<RecordSet>)>,
    pub delegation: BTreeMap<String, (DateTime<Utc>, Vec<String>)>,
}

impl Recorder {
    pub fn view(&self) -> View {
        let book = self.book();
        View {
            history: book
                .history
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                .collect(),
            answers: book.answers.clone(),
            delegation: book.delegation.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_keeps_an_hour_and_a_bounded_number_of_points() {
        let mut points = VecDeque::new();
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc();
        for i in 0..10_000 {
            push(
                &mut points,
                Point {
                    at: start + TimeDelta::seconds(i),
                    state: State::Healthy,
                    failure_ratio: Some(0.0),
                    change: None,
                },
            );
        }
        assert_eq!(points.len(), MAX_POINTS);
        let last = start + TimeDelta::seconds(9_999);
        push(
            &mut points,
            Point {
                at: last + TimeDelta::hours(2),
                state: State::Unhealthy,
                failure_ratio: None,
                change: Some("down".into()),
            },
        );
        assert_eq!(points.len(), 1, "what is older than an hour goes");
    }
}
