//! A fleet on etcd: any number of daemons, one leader elected through etcd
//! (`election`, a state machine), every daemon a vantage point publishing its windows
//! (`vantage`), over a small client of etcd's HTTP gateway (`etcd`). The daemon drives
//! them (`daemon/fleet.rs`).

pub mod election;
pub mod etcd;
pub mod vantage;
