//! Real servers on loopback for the tests: each is a child process with its own
//! temporary folder and ports, killed when dropped. Nothing here binds beyond 127.0.0.1.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod azure_fake;
pub mod bind;
pub mod cloudflare_fake;
pub mod daemon;
pub mod endpoint;
pub mod etcd;
pub mod google_fake;
pub mod http_fake;
pub mod knot;
pub mod moto;
pub mod ns1_fake;
pub mod pdns;
mod process;
pub mod proxy;
pub mod receiver;
pub mod route53_fake;
pub mod unbound;
pub mod webdriver;
pub mod world;

pub use process::*;
