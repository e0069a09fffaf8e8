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
