//! What follows the configuration file: loading it as a start does (`prepare`), the
//! tasks built from it (`Generation`), and SIGHUP (`reload`), which replaces those
//! tasks only when the new file passes everything a start would check.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{observe, pair, steering, Shared};
use crate::alert::Alerter;
use crate::config;
use crate::connect;
use crate::probe::{self, ProbeResult, ScheduledTarget, Scheduler};

/// A configuration loaded, checked and connected as the daemon needs it. A start and a
/// reload both go through `prepare`, so a reload accepts exactly what a start does.
pub(super) struct Prepared {
    pub config: Arc<config::Config>,
    pub providers: Arc<connect::Providers>,
    pub targets: Vec<probe::Target>,
}

pub(super) async fn prepare(config_path: &Path) -> anyhow::Result<Prepared> {
    let loaded = config::load(config_path)
        .map_err(|e| anyhow::anyhow!("invalid configuration {}:\n{e}", config_path.display()))?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut config = loaded.config;
    let providers = connect::providers(&config)?;
    connect::discover_nameservers(&mut config, &providers).await?;
    let targets = probe::targets_from_config(&config).await?;
    Ok(Prepared {
        config: Arc::new(config),
        providers: Arc::new(providers),
        targets,
    })
}

/// The tasks that follow the configuration (probing, the health engine's feed, the
/// steering loop), replaced as a whole when a reload succeeds. Coordination, the API
/// and the state file outlive them.
pub(super) struct Generation {
    prepared: Prepared,
    pub scheduler: probe::SchedulerHandle,
    pub observer: tokio::task::JoinHandle<()>,
    pub steering: tokio::task::JoinHandle<()>,
    pub stop: tokio::sync::watch::Sender<bool>,
}

impl Generation {
    pub(super) fn start(shared: &Arc<Shared>, prepared: Prepared, witness: Option<Arc<pair::Witness>>) -> Self {
        let (tx, rx) = mpsc::channel::<ProbeResult>(4096);
        let scheduled: Vec<ScheduledTarget> = prepared.targets.iter().flat_map(|t| t.scheduled()).collect();
        let scheduler = Scheduler::spawn(scheduled, 64, tx);
        let observer = tokio::spawn(observe(shared.clone(), rx));
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let steering = tokio::spawn(steering::run(
            shared.clone(),
            prepared.config.clone(),
            prepared.providers.clone(),
            witness,
            stop_rx,
        ));
        Self {
            prepared,
            scheduler,
            observer,
            steering,
            stop,
        }
    }
}

/// SIGHUP: loads and checks the configuration as a start would; a configuration that
/// fails, or that changes what only a restart can change, is refused and logged, and
/// the running one goes on untouched. Otherwise the steering loop stops after its
/// writes in flight (they finish under the configuration they were planned with), and
/// probing and steering start again on the new one, with every target's health kept.
pub(super) async fn reload(
    shared: &Arc<Shared>,
    config_path: &Path,
    current: Generation,
    witness: Option<Arc<pair::Witness>>,
) -> Generation {
    tracing::info!("SIGHUP: reloading the configuration from {}", config_path.display());
    let next = match prepare(config_path).await.and_then(|next| {
        restart_needed(&current.prepared.config, &next.config)?;
        let alerter = (next.config.alerts != current.prepared.config.alerts)
            .then(|| Alerter::new(&next.config.alerts, &shared.agent_id))
            .transpose()?;
        Ok((next, alerter))
    }) {
        Ok(next) => next,
        Err(e) => {
            tracing::error!("configuration reload refused; still running the previous configuration: {e:#}");
            return current;
        }
    };
    let (next, alerter) = next;
    let _ = current.stop.send(true);
    shared.steer_now.notify_one();
    let _ = current.steering.await;
    current.scheduler.shutdown().await;
    let _ = current.observer.await;
    shared.reconfigure(&next, alerter);
    tracing::info!(
        targets = next.targets.len(),
        zones = next.config.zones.len(),
        "configuration reloaded"
    );
    let generation = Generation::start(shared, next, witness);
    shared.steer_now.notify_one();
    generation
}

/// What a reload cannot change under a running daemon: its identity, address, state
/// file and coordination (the lease, its peers, etcd) and the pair's witness, which
/// the lease was taken at.
fn restart_needed(running: &config::Config, next: &config::Config) -> anyhow::Result<()> {
    if running.agent != next.agent {
        anyhow::bail!("the `agent` section changed: restart dnsteer to apply it");
    }
    let witness = |c: &config::Config| {
        config::pair_witness(&c.agent, &c.providers, c.zones.iter())
            .map(|(provider, zone)| (c.providers.get(&provider).cloned(), provider, zone))
    };
    if witness(running) != witness(next) {
        anyhow::bail!("the pair's witness (its provider or zone) changed: restart dnsteer to apply it");
    }
    Ok(())
}

impl Shared {
    /// Follows a reloaded configuration: targets added start `unknown`, kept ones keep
    /// their health (with the new settings), removed ones are forgotten.
    fn reconfigure(&self, next: &Prepared, alerter: Option<Alerter>) {
        let names: Vec<String> = next.targets.iter().map(|t| t.name.clone()).collect();
        let keep: BTreeSet<String> = names.iter().cloned().collect();
        {
            let mut inner = self.inner();
            inner.engine.retain(&keep);
            for name in &names {
                if let Err(e) = inner.engine.register(name, next.config.target_health(name).params()) {
                    tracing::error!("target {name}: {e}");
                }
            }
            inner.probed.retain(|t| keep.contains(t));
            inner.degraded.retain(|t, _| keep.contains(t));
        }
        *self.targets.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(names);
        self.page.reconfigure(&next.config);
        if let Some(alerter) = alerter {
            let mut current = self.alerter.write().unwrap_or_else(|e| e.into_inner());
            alerter.carry_recent_from(&current);
            *current = alerter;
        }
        self.persist();
    }
}
