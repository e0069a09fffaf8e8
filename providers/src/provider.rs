//! The `Provider` trait: what the agent needs from any place that serves or delegates a
//! zone. Adapters declare what they can do as data (`Capabilities`) so the plan can be
//! shaped to fit before anything is sent.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::ProviderError;
use crate::fence::Fence;
use crate::record::{Change, RecordSet, RecordType, ZoneName};

/// What a provider can store and how it takes changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Record types this adapter can write.
    pub record_types: Vec<RecordType>,
    /// The lowest TTL the provider stores; desired TTLs below it are raised to it.
    pub min_ttl: u32,
    /// The most changes one `apply` call may carry.
    pub max_batch: usize,
    /// Whether one `apply` call is all-or-nothing at the provider.
    pub atomic: bool,
    /// Whether the provider itself refuses a batch whose `before` values are no longer
    /// live (RFC 2136 prerequisites, Route 53 change batches): what the pair's witness
    /// and an atomic fence need. Without it the adapter re-reads just before writing.
    pub compare_and_set: bool,
    /// Whether the provider stores weighted records natively: several sets of one name
    /// and type, each with a set identifier and a weight (Route 53 weighted record
    /// sets). Only such a provider is given `policy: weighted` records.
    pub native_weights: bool,
    /// Whether the zone can hold records beside the steered ones (the pair's fence
    /// record). A registrar holds only the delegation.
    pub extra_records: bool,
}

impl Capabilities {
    /// The record types a DNS server stores and most DNS APIs write: what an adapter
    /// declares unless its provider says otherwise.
    pub fn common_record_types() -> Vec<RecordType> {
        vec![
            RecordType::A,
            RecordType::Aaaa,
            RecordType::Cname,
            RecordType::Ns,
            RecordType::Txt,
            RecordType::Mx,
            RecordType::Srv,
            RecordType::Caa,
            RecordType::Ptr,
        ]
    }
}

/// Whether the credentials may write a zone, as far as the provider lets us see
/// without changing anything (`dnsteer check --online`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteAccess {
    /// The provider confirmed it, by a dry run or a read of the granted rights; says how.
    Granted(String),
    /// The provider said no; says which right is missing.
    Denied(String),
    /// The API has no call that tells without writing; says why.
    Unverifiable(String),
}

/// A record set's absolute name and type: what a right to write is granted on.
pub type SetKey = (String, RecordType);

/// What an `apply` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// How many changes the provider accepted.
    pub changes: usize,
}

#[async_trait]
pub trait Provider: Send + Sync + Debug {
    /// The provider's configured name, used in every message about it.
    fn name(&self) -> &str;

    fn capabilities(&self) -> &Capabilities;

    /// Every record set the provider holds for `zone`, normalised.
    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError>;

    /// The names of the nameservers this provider serves `zone` from, for a
    /// configuration that does not list them. The default reads the zone's apex NS set,
    /// which is what a server answers with; an adapter whose API knows better (Route 53's
    /// delegation set, Cloudflare's assigned nameservers) overrides it, because in a
    /// zone with several providers the apex NS set names them all.
    async fn nameservers(&self, zone: &ZoneName) -> Result<Vec<String>, ProviderError> {
        let records = self.records(zone).await?;
        let names: Vec<String> = records
            .into_iter()
            .find(|rs| rs.rtype == RecordType::Ns && rs.name == zone.as_str())
            .map(|rs| rs.values)
            .unwrap_or_default();
        crate::shared::nameservers(self.name(), zone, names)
    }

    /// Checks, without changing anything, that the credentials may write the sets
    /// dnsteer steers in `zone` (`steered`: absolute name and type of each): a dry-run
    /// or rights-reading call where the API has one. The sets are given because some
    /// providers grant rights per name and type (RFC 2136 update policies, IAM
    /// conditions on Route 53 record names). An error is a failure to ask
    /// (unreachable, bad key, no such zone), not a refusal, which is
    /// `WriteAccess::Denied`.
    async fn write_access(&self, zone: &ZoneName, steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        let _ = (zone, steered);
        Ok(WriteAccess::Unverifiable(
            "the API has no call that tells without writing".into(),
        ))
    }

    /// Shapes desired record sets into what this provider would store, so that diffing
    /// them against `records` converges. The default raises TTLs to `min_ttl`.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        let floor = self.capabilities().min_ttl;
        desired
            .into_iter()
            .map(|mut rs| {
                rs.ttl = rs.ttl.max(floor);
                rs
            })
            .collect()
    }

    /// `normalize` for a zone whose live sets at this provider are `live` (what
    /// `records` returned): for a provider that stores a set by what it already is
    /// (Cloudflare keeps TTL "automatic" on proxied sets). The plan diffs with this.
    fn normalize_for(&self, desired: Vec<RecordSet>, live: &[RecordSet]) -> Vec<RecordSet> {
        let _ = live;
        self.normalize(desired)
    }

    /// Applies `changes` to `zone` as one batch (at most `max_batch` changes). Where the
    /// provider is atomic, an error means nothing of the batch was applied.
    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError>;

    /// Applies `changes` as `apply` does, with the pair's fence record checked and set
    /// in the same batch. The default puts the fence change first in the batch: a
    /// compare-and-set where the adapter has one, a re-read check where it does not.
    /// An adapter that splits a batch into several requests overrides this so that
    /// every request carries the fence.
    async fn apply_fenced(&self, zone: &ZoneName, fence: &Fence, changes: &[Change]) -> Result<Applied, ProviderError> {
        let mut batch = Vec::with_capacity(changes.len() + 1);
        batch.push(fence.change());
        batch.extend_from_slice(changes);
        let applied = self.apply(zone, &batch).await?;
        Ok(Applied {
            changes: applied.changes.saturating_sub(1),
        })
    }
}

pub use crate::shared::fresh::still_applies;
