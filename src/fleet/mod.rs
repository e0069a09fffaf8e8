//! A fleet on etcd: any number of daemons, one leader elected through etcd (`election`),
//! every daemon a vantage point.

pub mod election;
