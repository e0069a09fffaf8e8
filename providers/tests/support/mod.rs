//! What the adapters are tested against: real servers and in-process fakes on loopback,
//! and the conformance suite every kind passes. The servers and fakes are shared with
//! the root crate's end-to-end tests, so they live in its `tests/support/` and are
//! included from there; nothing in those files may use the root crate.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod conformance;

#[path = "../../../tests/support/azure_fake.rs"]
pub mod azure_fake;
#[path = "../../../tests/support/bind.rs"]
pub mod bind;
#[path = "../../../tests/support/cloudflare_fake.rs"]
pub mod cloudflare_fake;
#[path = "../../../tests/support/google_fake.rs"]
pub mod google_fake;
#[path = "../../../tests/support/http_fake.rs"]
pub mod http_fake;
#[path = "../../../tests/support/knot.rs"]
pub mod knot;
#[path = "../../../tests/support/moto.rs"]
pub mod moto;
#[path = "../../../tests/support/ns1_fake.rs"]
pub mod ns1_fake;
#[path = "../../../tests/support/pdns.rs"]
pub mod pdns;
#[path = "../../../tests/support/process.rs"]
mod process;
#[path = "../../../tests/support/route53_fake.rs"]
pub mod route53_fake;

pub use process::*;
