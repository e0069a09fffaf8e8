//! The I/O around a fleet's election (`fleet::election::FleetElection`): etcd requests
//! for what the machine asks, and, every round, this daemon's windows published under
//! its lease, the other vantage points' windows read into the health engine (a daemon
//! whose key vanished with its lease stops counting at once), and the operator state
//! kept in etcd for the whole fleet.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::Shared;
use crate::config::EtcdConfig;
use crate::fleet::election::{FleetElection, FleetTransmit, LeaderKey};
use crate::fleet::etcd::{Compare, CompareOp, EtcdClient, EtcdError, Txn, TxnOp};
use crate::fleet::vantage::VantageReport;
use crate::peer::OperatorState;

const LEADER_KEY: &str = "leader";
const OPERATOR_KEY: &str = "operator";
const VANTAGE_PREFIX: &str = "vantage/";

pub fn client(config: &EtcdConfig, timeout: Duration) -> anyhow::Result<EtcdClient> {
    let credentials = match (&config.username, &config.password) {
        (Some(user), Some(password)) => Some((user.clone(), password.expose().to_string())),
        _ => None,
    };
    EtcdClient::new(config.endpoints.clone(), config.prefix.clone(), credentials, timeout)
        .map_err(|e| anyhow::anyhow!("agent.coordination: {e}"))
}

struct Io {
    id: String,
    etcd: EtcdClient,
    election: Arc<Mutex<FleetElection>>,
}

impl Io {
    fn machine(&self) -> MutexGuard<'_, FleetElection> {
        self.election.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the election and the vantage exchange until `stop`, then resigns.
pub(super) async fn drive(
    shared: Arc<Shared>,
    election: Arc<Mutex<FleetElection>>,
    etcd: EtcdClient,
    publish_every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let io = Arc::new(Io {
        id: shared.agent_id.clone(),
        etcd,
        election,
    });
    let exchange = tokio::spawn(exchange_loop(shared.clone(), io.clone(), publish_every, stop.clone()));
    loop {
        let wake_at = {
            let mut m = io.machine();
            m.handle_timeout(Instant::now());
            m.poll_timeout()
        };
        shared.on_lease_events();
        let transmits: Vec<_> = std::iter::from_fn(|| io.machine().poll_transmit()).collect();
        for t in transmits {
            tokio::spawn(send(shared.clone(), io.clone(), t));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => {}
            _ = shared.pair_wake.notified() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    let _ = exchange.await;
    io.machine().resign(Instant::now());
    shared.on_lease_events();
    let last: Vec<_> = std::iter::from_fn(|| io.machine().poll_transmit()).collect();
    let resigning = async {
        for t in last {
            send(shared.clone(), io.clone(), t).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), resigning).await.is_err() {
        tracing::warn!("could not give the leader key back to etcd in time");
    }
}

async fn send(shared: Arc<Shared>, io: Arc<Io>, transmit: FleetTransmit) {
    let sent = Instant::now();
    let text = |e: EtcdError| e.to_string();
    match transmit {
        FleetTransmit::Grant => {
            let ttl = io.machine().tick_interval() * 3;
            let result = io.etcd.lease_grant(ttl).await.map(|(id, _)| id).map_err(text);
            io.machine().handle_grant(result, Instant::now());
        }
        FleetTransmit::KeepAlive { lease } => {
            let result = match io.etcd.lease_keep_alive(lease).await {
                Ok(left) => Ok(left.as_secs().max(u64::from(!left.is_zero())) as i64),
                Err(EtcdError::LeaseNotFound) => Ok(0),
                Err(e) => Err(e.to_string()),
            };
            io.machine().handle_keep_alive(sent, result, Instant::now());
        }
        FleetTransmit::Campaign { lease } => {
            let txn = Txn::new()
                .when([Compare::create_revision(LEADER_KEY, CompareOp::Equal, 0)])
                .and_then([TxnOp::put(LEADER_KEY, io.id.as_bytes().to_vec(), Some(lease))])
                .or_else([TxnOp::get(LEADER_KEY)]);
            let result = match io.etcd.txn(&txn).await {
                Ok(r) if r.succeeded => Ok(LeaderKey {
                    holder: io.id.clone(),
                    create_revision: r.revision as u64,
                }),
                Ok(r) => match r.ranges.into_iter().flatten().next() {
                    // Our id on another lease: the key of an earlier life of this daemon
                    // (killed and restarted within the lease). Leading on it would
                    // last only until that lease expires and another daemon takes
                    // over: remove it and campaign again.
                    Some(kv) if kv.value == io.id.as_bytes() && kv.lease != Some(lease) => {
                        let stale = Txn::new()
                            .when([Compare::create_revision(
                                LEADER_KEY,
                                CompareOp::Equal,
                                kv.create_revision,
                            )])
                            .and_then([TxnOp::delete(LEADER_KEY)]);
                        match io.etcd.txn(&stale).await {
                            Ok(_) => Err("removed the leader key of an earlier run of this daemon".to_string()),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Some(kv) => Ok(LeaderKey {
                        holder: String::from_utf8_lossy(&kv.value).into_owned(),
                        create_revision: kv.create_revision as u64,
                    }),
                    None => Err("the leader key vanished during the campaign".to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            io.machine().handle_campaign(sent, result, Instant::now());
        }
        FleetTransmit::Confirm { term } => {
            // The key is ours only if it is the one we created, holds our id and lives
            // on our current lease.
            let lease = io.machine().lease();
            let result = io
                .etcd
                .get(LEADER_KEY)
                .await
                .map(|kv| {
                    kv.is_some_and(|kv| {
                        kv.create_revision as u64 == term && kv.value == io.id.as_bytes() && kv.lease == lease
                    })
                })
                .map_err(text);
            io.machine().handle_confirm(sent, result, Instant::now());
        }
        FleetTransmit::ReadLeader => {
            let result = io
                .etcd
                .get(LEADER_KEY)
                .await
                .map(|kv| {
                    kv.map(|kv| LeaderKey {
                        holder: String::from_utf8_lossy(&kv.value).into_owned(),
                        create_revision: kv.create_revision as u64,
                    })
                })
                .map_err(text);
            io.machine().handle_read_leader(result, Instant::now());
        }
        FleetTransmit::Resign { term, lease } => {
            if term > 0 {
                let txn = Txn::new()
                    .when([Compare::create_revision(LEADER_KEY, CompareOp::Equal, term as i64)])
                    .and_then([TxnOp::delete(LEADER_KEY)]);
                if let Err(e) = io.etcd.txn(&txn).await {
                    tracing::warn!("could not delete the leader key: {e}");
                }
            }
            if let Err(e) = io.etcd.lease_revoke(lease).await {
                tracing::warn!("could not revoke our etcd lease: {e}");
            }
        }
    }
    shared.on_lease_events();
    // An answer may have given the machine something new to send.
    shared.pair_wake.notify_one();
}

/// Every `every`: publish our windows, read everyone else's, and share the operator
/// state through etcd. etcd out of reach only delays this; nothing is erased.
async fn exchange_loop(
    shared: Arc<Shared>,
    io: Arc<Io>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = exchange(&shared, &io, &mut known).await {
            tracing::debug!("fleet exchange with etcd failed: {e}");
        }
    }
}

async fn exchange(shared: &Shared, io: &Io, known: &mut BTreeSet<String>) -> Result<(), EtcdError> {
    let lease = io.machine().lease();
    if let Some(lease) = lease {
        let report = VantageReport::new(&io.id, shared.inner().engine.local_windows());
        let body = serde_json::to_vec(&report).unwrap_or_default();
        io.etcd
            .put(&format!("{VANTAGE_PREFIX}{}", io.id), &body, Some(lease))
            .await?;
    }
    let published = io.etcd.get_prefix(VANTAGE_PREFIX).await?;
    let now = Utc::now();
    let mut seen = BTreeSet::new();
    {
        let mut inner = shared.inner();
        for kv in &published {
            let Ok(report) = serde_json::from_slice::<VantageReport>(&kv.value) else {
                tracing::warn!(key = %kv.key, "a vantage report that cannot be read: ignored");
                continue;
            };
            if report.id == io.id {
                continue;
            }
            for (target, results, last_error) in report.windows() {
                let _ = inner
                    .engine
                    .handle_vantage_window(target, &report.id, &results, last_error, now);
            }
            seen.insert(report.id);
        }
        for gone in known.difference(&seen) {
            tracing::warn!(vantage = %gone, "a vantage point left the fleet (its etcd lease ended): it stops counting");
            inner.engine.forget_vantage(gone);
        }
    }
    *known = seen;

    let theirs = match io.etcd.get(OPERATOR_KEY).await? {
        Some(kv) => serde_json::from_slice::<OperatorState>(&kv.value).ok(),
        None => None,
    };
    if let Some(theirs) = &theirs {
        shared.take_from_peer(&[], Some(theirs));
    }
    let ours = shared.inner().operator.clone();
    let newer = theirs.is_none_or(|t| (ours.version, &ours.by) > (t.version, &t.by));
    if newer && ours.version > 0 {
        io.etcd
            .put(OPERATOR_KEY, &serde_json::to_vec(&ours).unwrap_or_default(), None)
            .await?;
    }
    Ok(())
}
