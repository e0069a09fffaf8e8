//! The pair: the leader lease between two daemons, its witness record, and what the
//! pair exchanges (observations, operator state).
//!
//! `lease` is a sans-I/O state machine (see its module doc for the rules); the daemon
//! drives it over HTTP and a provider API (`daemon/pair.rs`), and the simulation in
//! `tests/pair_simulation.rs` drives two of them over a simulated network and witness.
//! The guarantees and their limits are in `docs/pair.md`.

mod lease;
mod operator;
pub mod witness;

pub use lease::{Durable, LeaseConfig, LeaseEvent, LeaseMachine, Transmit, WitnessError};
pub use operator::{OperatorState, Override};
pub use witness::WitnessRecord;

use std::time::Instant;

use dnsteer_providers::FenceMark;
use serde::{Deserialize, Serialize};

use crate::health::Observation;

/// What the daemon asks of its coordination, whichever backs it (the pair's lease, a
/// fleet on etcd). Each is a state machine with no I/O; its own driver feeds it.
pub trait Coordination: Send {
    /// The fence this daemon may write under now, if it may write at all.
    fn may_write(&self, now: Instant) -> Option<FenceMark>;
    fn role(&self) -> Role;
    fn term(&self) -> u64;
    fn leader(&self) -> Option<&str>;
    fn poll_event(&mut self) -> Option<LeaseEvent>;
    /// A provider's fence record, as read: a newer one ends this daemon's lease.
    fn handle_fence_seen(&mut self, mark: &FenceMark, now: Instant);
    /// The pair's lease record as this leader holds it (the fence of a write to the
    /// witness's own zone).
    fn witness_held(&self, _now: Instant) -> Option<WitnessRecord> {
        None
    }
    /// What must be on disk before anything the machine says leaves (the pair's term
    /// and vote); etcd keeps its own.
    fn durable_state(&self) -> Option<Durable> {
        None
    }
}

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub from: String,
    pub term: u64,
    pub role: Role,
    #[serde(default)]
    pub observations: Vec<PeerObservation>,
    /// The sender, leader until now, is shutting down: campaign at once.
    #[serde(default)]
    pub resigning: bool,
    /// The sender's operator state (pause, overrides), so both daemons honour it.
    #[serde(default)]
    pub operator: Option<OperatorState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncResponse {
    pub from: String,
    pub term: u64,
    pub role: Role,
    /// Whether the receiver accepts the sender as leader for `term`.
    pub accepted: bool,
    #[serde(default)]
    pub observations: Vec<PeerObservation>,
    #[serde(default)]
    pub operator: Option<OperatorState>,
}

impl SyncResponse {
    /// The answer of a daemon that is not in a pair (a fleet member, a lone daemon
    /// misnamed as a peer): it accepts no lease.
    pub fn not_in_a_pair(id: &str) -> Self {
        Self {
            from: id.to_string(),
            term: 0,
            role: Role::Standby,
            accepted: false,
            observations: Vec::new(),
            operator: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRequest {
    pub from: String,
    pub term: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests;
