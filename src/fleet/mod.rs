//! A fleet on etcd: any number of daemons, one leader elected through etcd (`election`),
//! every daemon a vantage point; `etcd` is the client they talk to it with.

pub mod election;
pub mod etcd;
