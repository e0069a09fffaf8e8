//! The fleet: any number of daemons coordinated through etcd.

pub mod etcd;
