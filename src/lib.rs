//! dnsteer: a multi-provider DNS health-steering agent. The binary's command line lives
//! in `cli`; each stage of the pipeline (probe → health → steer → plan → apply) owns a
//! module of its own.

pub mod alert;
pub mod cli;
pub mod config;
pub mod connect;
pub mod daemon;
pub mod decide;
pub mod demo;
pub mod fleet;
pub mod health;
pub mod peer;
pub mod plan;
pub mod probe;
pub mod reconcile;
pub mod steer;
