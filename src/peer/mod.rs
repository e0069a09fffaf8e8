//! The pair: a leader lease between the two daemons and the exchange of observations
//! so each decides on both vantage points.
//!
//! The lease is embedded: no coordination service, only the two daemons. Each tick
//! (a third of the lease) every daemon posts a `sync` to its peer with its term, its
//! role and the observations it made since the last sync. The leader's sync is its
//! heartbeat. A standby that hears no leader for a whole lease (plus jitter) campaigns:
//! it raises the term and asks the peer for its vote; a peer that is unreachable is
//! taken for dead. Terms only grow (they are persisted). A leader whose lease was not
//! renewed in time (a stalled process, a blocked loop) writes nothing until it has
//! renewed. What two daemons alone cannot tell apart, a dead peer from a partition, is
//! covered by fencing at the providers (see `docs/pair.md`).
//!
//! `Lease` is a small trait so that a coordination service can back it later.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::health::Observation;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Leader,
    Standby,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Standby => "standby",
        })
    }
}

/// What a daemon knows of the lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    pub role: Role,
    pub term: u64,
    pub leader: Option<String>,
}

/// A leadership change worth telling on-call about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleChange {
    pub from: Role,
    pub to: Role,
    pub term: u64,
    pub reason: String,
}

/// A target observation as exchanged between the pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerObservation {
    pub target: String,
    pub observation: Observation,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncRequest {
    pub from: String,
    pub term: u64,
    pub role: Role,
    #[serde(default)]
    pub observations: Vec<PeerObservation>,
    /// The sender, leader until now, is shutting down: campaign at once.
    #[serde(default)]
    pub resigning: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncResponse {
    pub from: String,
    pub term: u64,
    pub role: Role,
    /// Whether the receiver accepts the sender as leader for `term`.
    pub accepted: bool,
    #[serde(default)]
    pub observations: Vec<PeerObservation>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VoteRequest {
    pub from: String,
    pub term: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VoteResponse {
    pub from: String,
    pub term: u64,
    pub granted: bool,
}

/// Why a request to the peer got no usable reply.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No answer (connection refused, timed out): the peer may be dead.
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    /// The peer answered but refused or garbled the request (a wrong `api_token`, an
    /// error status): it is alive, so it must not be taken for dead.
    #[error("peer refused the request: {0}")]
    Refused(String),
}

/// How the daemon reaches its peer (HTTP in the daemon, scripted in tests).
#[async_trait]
pub trait PeerLink: Send + Sync {
    async fn sync(&self, request: &SyncRequest) -> Result<SyncResponse, PeerError>;
    async fn vote(&self, request: &VoteRequest) -> Result<VoteResponse, PeerError>;
}

/// The leader lease as the daemon uses it.
#[async_trait]
pub trait Lease: Send + Sync {
    /// One round: renew, campaign, exchange observations. Returns the peer's
    /// observations and any role change. Called every `tick_interval()`.
    async fn tick(&self, outgoing: Vec<PeerObservation>) -> (Vec<PeerObservation>, Option<RoleChange>);
    /// The term under which a write may start now; `None` unless this daemon is the
    /// leader with a lease renewed within its duration.
    fn write_term(&self) -> Option<u64>;
    fn view(&self) -> LeaseView;
    /// Gives up leadership (a provider showed a newer term in its fence record).
    fn step_down(&self, newer_term: u64, reason: &str) -> Option<RoleChange>;
    fn tick_interval(&self) -> Duration;
    /// Gives the lease up for good (the daemon is stopping) and tells the peer, so it
    /// takes over at its next round instead of waiting the lease out.
    async fn resign(&self);
    /// Serves the peer's sync.
    fn handle_sync(&self, request: &SyncRequest, outgoing: Vec<PeerObservation>) -> (SyncResponse, Option<RoleChange>);
    /// Serves the peer's vote request.
    fn handle_vote(&self, request: &VoteRequest) -> (VoteResponse, Option<RoleChange>);
}

struct Inner {
    role: Role,
    term: u64,
    leader: Option<String>,
    voted_for: Option<(u64, String)>,
    /// Leader: until when its lease holds (last renewal + duration). Standby: until
    /// when it respects the leader it last heard from (or waits at start).
    until: Instant,
}

/// The embedded two-daemon lease. With no peer it leads at once.
pub struct PeerLease<L: PeerLink> {
    id: String,
    duration: Duration,
    link: Option<L>,
    inner: Mutex<Inner>,
}

impl<L: PeerLink> PeerLease<L> {
    /// `term` is the highest term seen before (from the state file). With a peer, a
    /// daemon starts as standby and waits one lease for a leader to show up.
    pub fn new(id: &str, duration: Duration, term: u64, link: Option<L>, now: Instant) -> Self {
        let (role, term, leader) = match link {
            None => (Role::Leader, term + 1, Some(id.to_string())),
            Some(_) => (Role::Standby, term, None),
        };
        let until = match role {
            Role::Leader => now + Duration::from_secs(3600 * 24 * 365),
            Role::Standby => now + duration,
        };
        Self {
            id: id.to_string(),
            duration,
            link,
            inner: Mutex::new(Inner {
                role,
                term,
                leader,
                voted_for: None,
                until,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn change(inner: &mut Inner, to: Role, reason: String) -> Option<RoleChange> {
        if inner.role == to {
            return None;
        }
        let from = inner.role;
        inner.role = to;
        Some(RoleChange {
            from,
            to,
            term: inner.term,
            reason,
        })
    }

    /// A random share of a lease, so that two standbys do not campaign in step.
    fn jitter(&self) -> Duration {
        self.duration.mul_f64(rand::random::<f64>() * 0.5)
    }
}

#[async_trait]
impl<L: PeerLink> Lease for PeerLease<L> {
    async fn tick(&self, outgoing: Vec<PeerObservation>) -> (Vec<PeerObservation>, Option<RoleChange>) {
        let Some(link) = &self.link else {
            // Alone: lead again once a step-down's wait is over.
            let mut inner = self.lock();
            if inner.role == Role::Standby && Instant::now() >= inner.until {
                inner.term += 1;
                inner.leader = Some(self.id.clone());
                inner.until = Instant::now() + Duration::from_secs(3600 * 24 * 365);
                let change = Self::change(&mut inner, Role::Leader, "no peer: leading".into());
                return (Vec::new(), change);
            }
            return (Vec::new(), None);
        };
        let started = Instant::now();
        let request = {
            let inner = self.lock();
            SyncRequest {
                from: self.id.clone(),
                term: inner.term,
                role: inner.role,
                observations: outgoing,
                resigning: false,
            }
        };
        let reply = link.sync(&request).await;
        let mut change = None;
        let mut incoming = Vec::new();
        {
            let mut inner = self.lock();
            match &reply {
                Ok(resp) => {
                    incoming = resp.observations.clone();
                    if resp.role == Role::Leader && resp.term == inner.term && inner.role == Role::Standby {
                        // Hearing the leader in its reply counts as hearing its heartbeat:
                        // a link that works one way only must not start a campaign.
                        inner.leader = Some(resp.from.clone());
                        inner.until = started + self.duration;
                    }
                    if resp.term > inner.term {
                        inner.term = resp.term;
                        inner.leader = (resp.role == Role::Leader).then(|| resp.from.clone());
                        if resp.role == Role::Leader {
                            inner.until = started + self.duration;
                        }
                        change = Self::change(
                            &mut inner,
                            Role::Standby,
                            format!("{} holds term {}", resp.from, resp.term),
                        );
                    } else if inner.role == Role::Leader && request.term == inner.term {
                        if resp.accepted {
                            inner.until = started + self.duration;
                        } else {
                            change =
                                Self::change(&mut inner, Role::Standby, format!("{} refused our lease", resp.from));
                        }
                    }
                }
                Err(e) => {
                    // A peer that cannot take over (dead, or refusing us) leaves the
                    // leader its lease; fencing at the providers guards a partition.
                    if inner.role == Role::Leader && request.term == inner.term {
                        inner.until = started + self.duration;
                    }
                    match e {
                        PeerError::Unreachable(_) => tracing::debug!("peer sync failed: {e}"),
                        PeerError::Refused(_) => tracing::error!("{e} (do both daemons share agent.api_token?)"),
                    }
                }
            }
        }
        if change.is_some() {
            return (incoming, change);
        }
        // A standby that has heard no leader for a whole lease campaigns.
        let campaign = {
            let inner = self.lock();
            inner.role == Role::Standby && Instant::now() >= inner.until
        };
        if campaign {
            let vote = {
                let mut inner = self.lock();
                inner.term += 1;
                inner.voted_for = Some((inner.term, self.id.clone()));
                VoteRequest {
                    from: self.id.clone(),
                    term: inner.term,
                }
            };
            let reply = link.vote(&vote).await;
            let mut inner = self.lock();
            if inner.term != vote.term || inner.role != Role::Standby {
                return (incoming, None); // something newer happened meanwhile
            }
            match reply {
                Ok(r) if r.granted => {
                    inner.leader = Some(self.id.clone());
                    inner.until = Instant::now() + self.duration;
                    change = Self::change(
                        &mut inner,
                        Role::Leader,
                        format!("{} granted term {}", r.from, vote.term),
                    );
                }
                Ok(r) => {
                    inner.term = inner.term.max(r.term);
                    inner.until = Instant::now() + self.duration + self.jitter();
                }
                Err(PeerError::Unreachable(e)) => {
                    inner.leader = Some(self.id.clone());
                    inner.until = Instant::now() + self.duration;
                    change = Self::change(
                        &mut inner,
                        Role::Leader,
                        format!("peer unreachable ({e}): taking term {}", vote.term),
                    );
                }
                Err(e @ PeerError::Refused(_)) => {
                    // Alive but refusing: taking the lease would make two leaders.
                    tracing::error!("{e}: not taking the lease (do both daemons share agent.api_token?)");
                    inner.until = Instant::now() + self.duration + self.jitter();
                }
            }
        }
        (incoming, change)
    }

    fn write_term(&self) -> Option<u64> {
        let inner = self.lock();
        (inner.role == Role::Leader && Instant::now() < inner.until).then_some(inner.term)
    }

    fn view(&self) -> LeaseView {
        let inner = self.lock();
        LeaseView {
            role: inner.role,
            term: inner.term,
            leader: inner.leader.clone(),
        }
    }

    fn step_down(&self, newer_term: u64, reason: &str) -> Option<RoleChange> {
        let mut inner = self.lock();
        inner.term = inner.term.max(newer_term);
        inner.leader = None;
        inner.until = Instant::now() + self.duration + self.jitter();
        Self::change(&mut inner, Role::Standby, reason.to_string())
    }

    fn tick_interval(&self) -> Duration {
        self.duration / 3
    }

    async fn resign(&self) {
        let request = {
            let mut inner = self.lock();
            let was_leader = inner.role == Role::Leader;
            inner.role = Role::Standby;
            inner.leader = None;
            // Never campaign again in this process.
            inner.until = Instant::now() + Duration::from_secs(3600 * 24 * 365);
            if !was_leader {
                return;
            }
            SyncRequest {
                from: self.id.clone(),
                term: inner.term,
                role: Role::Standby,
                observations: Vec::new(),
                resigning: true,
            }
        };
        if let Some(link) = &self.link {
            if let Err(e) = link.sync(&request).await {
                tracing::debug!("could not tell the peer we resign: {e}");
            }
        }
    }

    fn handle_sync(&self, request: &SyncRequest, outgoing: Vec<PeerObservation>) -> (SyncResponse, Option<RoleChange>) {
        let mut inner = self.lock();
        let mut change = None;
        let mut accepted = false;
        if request.term > inner.term {
            inner.term = request.term;
            inner.leader = None;
            change = Self::change(
                &mut inner,
                Role::Standby,
                format!("{} holds newer term {}", request.from, request.term),
            );
        }
        if request.resigning && inner.leader.as_deref() == Some(request.from.as_str()) {
            inner.leader = None;
            inner.until = Instant::now();
        }
        if request.role == Role::Leader && request.term == inner.term {
            if inner.role == Role::Leader {
                // Two leaders in one term (after a partition healed): the lower id keeps it.
                if request.from < self.id {
                    change = Self::change(
                        &mut inner,
                        Role::Standby,
                        format!("{} also leads term {}: lower id wins", request.from, request.term),
                    );
                }
            }
            if inner.role == Role::Standby {
                inner.leader = Some(request.from.clone());
                inner.until = Instant::now() + self.duration;
                accepted = true;
            }
        }
        let response = SyncResponse {
            from: self.id.clone(),
            term: inner.term,
            role: inner.role,
            accepted,
            observations: outgoing,
        };
        (response, change)
    }

    fn handle_vote(&self, request: &VoteRequest) -> (VoteResponse, Option<RoleChange>) {
        let mut inner = self.lock();
        let leading = inner.role == Role::Leader && Instant::now() < inner.until;
        let already_voted = matches!(&inner.voted_for, Some((t, who)) if *t == request.term && who != &request.from);
        let granted = request.term > inner.term && !leading && !already_voted;
        let mut change = None;
        if request.term > inner.term && !leading {
            inner.term = request.term;
            change = Self::change(
                &mut inner,
                Role::Standby,
                format!("{} campaigns for term {}", request.from, request.term),
            );
        }
        if granted {
            inner.voted_for = Some((request.term, request.from.clone()));
            inner.leader = Some(request.from.clone());
            inner.until = Instant::now() + self.duration;
        }
        (
            VoteResponse {
                from: self.id.clone(),
                term: inner.term,
                granted,
            },
            change,
        )
    }
}

/// The HTTP link to the peer daemon's `/v1/peer/` endpoints.
pub struct HttpPeerLink {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl HttpPeerLink {
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        dnsteer_providers::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            client,
        })
    }

    async fn post<Q: Serialize + Sync, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<R, PeerError> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| PeerError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(PeerError::Refused(format!("{path} answered HTTP {}", resp.status())));
        }
        resp.json()
            .await
            .map_err(|e| PeerError::Refused(format!("{path}: unreadable reply: {e}")))
    }
}

#[async_trait]
impl PeerLink for HttpPeerLink {
    async fn sync(&self, request: &SyncRequest) -> Result<SyncResponse, PeerError> {
        self.post("/v1/peer/sync", request).await
    }

    async fn vote(&self, request: &VoteRequest) -> Result<VoteResponse, PeerError> {
        self.post("/v1/peer/vote", request).await
    }
}

#[cfg(test)]
mod tests;
