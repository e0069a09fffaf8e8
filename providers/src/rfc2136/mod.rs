//! Any server that takes RFC 2136 dynamic updates signed with TSIG (BIND, Knot, ...):
//! reads a zone by AXFR, writes a batch as one compare-and-set UPDATE.
//!
//! # Tested servers
//!
//! BIND 9.18.49 and Knot DNS 3.2.6 (Debian 12 packages), TSIG `hmac-sha256`, over TCP
//! on loopback, by `providers/tests/provider_rfc2136.rs`.
//!
//! # Credentials and least privilege
//!
//! One TSIG key (name, algorithm, base64 secret), allowed to transfer the zone (reads)
//! and to update the sets dnsteer manages (writes), and nothing else:
//!
//! - BIND: `allow-transfer { key steer-key; };` and `update-policy { grant steer-key
//!   zonesub ANY; };`, or narrower, e.g. `grant steer-key subdomain lb.example.test. A
//!   AAAA;` or `grant steer-key name www.example.test. A AAAA;`.
//! - Knot: an ACL `{ key: steer-key, action: [update, transfer] }` on the zone,
//!   narrowed with `update-owner: name`, `update-owner-name: [lb]`, `update-type: [A,
//!   AAAA]`.
//!
//! # What a call does
//!
//! `records` transfers the zone (AXFR, signed) and groups it into record sets; the SOA
//! stays one set, the transfer's closing SOA is dropped. `apply` sends ONE UPDATE, so the
//! server applies all of it or none of it, with a prerequisite per change that makes it
//! compare-and-set (RFC 2136 §2.4): a create needs the set absent, an update or a delete
//! needs the set to hold exactly the values read (TTL ignored). When another writer got
//! there first the server applies nothing and `apply` returns `Conflict`, naming the
//! sets that changed (read again to say so). Every call opens its own TCP connection
//! and ends within the configured timeout, diagnosis included.
//!
//! # Errors
//!
//! | the server or network says | error |
//! | --- | --- |
//! | NXRRSET, YXRRSET, NXDOMAIN, YXDOMAIN to an UPDATE (a prerequisite failed) | `Conflict` |
//! | REFUSED or NOTAUTH to an unsigned request | `Auth` |
//! | BADSIG, BADKEY (unsigned, so the answer fails TSIG verification: hickory 0.26.3 says "truncated HMACs"), BADTIME | `Auth` |
//! | a signed UPDATE refused (BIND REFUSED, Knot NOTAUTH + TSIG error) while the key is valid and may write every set in it | `Rejected`: the content was refused (BIND: an MX target in the zone without address) |
//! | the same, but the key may not write some set | `Auth`: widen the grant |
//! | any of the refusals above, when an unsigned SOA query shows the server does not serve the zone | `ZoneNotFound` |
//! | NOTZONE | `ZoneNotFound` (names are checked against the zone before sending) |
//! | connection refused or reset, no complete answer within the timeout | `Transient` |
//! | SERVFAIL | `Transient` |
//! | FORMERR, NOTIMP or another code to an UPDATE | `Rejected` |
//! | a change this adapter will not send: SOA, a type outside `capabilities`, deleting the apex NS set, a name outside the zone, too many changes or bytes | `Unsupported` / `Rejected`, nothing sent |
//! | a malformed answer, an unexpected code to a transfer | `Protocol` |
//!
//! Which refusal it was is found with UPDATEs that change nothing, sent only after a
//! refusal: an empty one (does the server take the key?), then one whose prerequisites
//! are the batch's and whose updates delete, per set, one record those prerequisites
//! prove absent (may the key write these names and types?).
//!
//! SERVFAIL is `Transient` because both servers use it for their own trouble, not for
//! the request's content: Knot answers SERVFAIL when it cannot write its journal, BIND
//! when the zone is not loaded or its journal fails. Content a server will not take
//! comes back as FORMERR or REFUSED, or is silently ignored (below). The shared retry
//! limit keeps a SERVFAIL that does not pass from being retried for long.
//!
//! # Quirks
//!
//! - RFC 2136 §3.4.2 makes a server ignore some updates and still answer NOERROR: a
//!   CNAME added beside other data, other data added beside a CNAME, deleting the SOA,
//!   deleting the apex NS set. BIND and Knot both do. So a plan must delete a name's
//!   other sets before it creates a CNAME there (in the same batch is fine: updates are
//!   applied in order); an update of the apex NS set here adds the new values first and
//!   deletes the dropped ones one by one; the SOA, and deleting the apex NS set, are
//!   refused as `Unsupported`.
//! - BIND refuses (REFUSED) an MX whose target is inside the zone and has no A/AAAA
//!   (check-integrity); adding the address in the same batch is enough. Knot takes it.
//! - An unsigned UPDATE or transfer: BIND answers REFUSED, Knot NOTAUTH. A wrong
//!   secret or unknown key: both answer an unsigned BADSIG/BADKEY. An UPDATE the ACL
//!   denies: BIND REFUSED (signed), Knot NOTAUTH with an unsigned TSIG error.
//! - A signed transfer of a zone the server does not serve: BIND answers NOTAUTH,
//!   signed; Knot NOTAUTH, unsigned. Both answer an SOA query for it REFUSED.
//! - Knot needs its `storage` database folder to exist (without it every UPDATE is
//!   SERVFAIL: "failed to write zone-in-journal"), and with `zonefile-sync: -1` plus
//!   `zonefile-load: difference*` a restart rolls the zone back to the zone file,
//!   losing every update: use `zonefile-sync: 0` (or `zonefile-load: none` once loaded).
//! - TXT values are read and written as quoted character-strings (`"a" "b"`), so
//!   `normalize` rewrites desired values (TXT and every other type) into the form a
//!   read gives back.
//!
//! # Limits
//!
//! At most `max_batch` (500) changes and 64 KiB once encoded (one TCP DNS message); a
//! larger batch is refused before sending. 500 single-value creates took ~55 ms on
//! either server here. hickory queues at most 8 transfer messages ahead of the reader,
//! so zones of several hundred KiB may not transfer whole; a 110 KB zone (900 sets)
//! transfers in ~35 ms.

mod access;
mod client;
mod message;

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, TSigner};
use tokio::time::{timeout_at, Instant};

use self::client::{rcode_name, tsig_error_name, Connection, WireError};
use crate::error::ProviderError;
use crate::provider::{Applied, Capabilities, Provider, SetKey, WriteAccess};
use crate::record::{Change, RecordSet, RecordType, ZoneName};

/// The most changes one UPDATE carries: a few records per change keeps a full batch of
/// small sets well inside a 64 KiB TCP message.
const MAX_BATCH: usize = 500;

/// Room left in a message for its TSIG record (key and algorithm names, a 64-byte MAC).
const TSIG_ROOM: usize = 512;

/// Allowed clock difference between us and the server for TSIG, in seconds (RFC 8945
/// recommends 300).
const TSIG_FUDGE: u16 = 300;

/// A TSIG algorithm this adapter signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TsigAlgorithmName {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithmName {
    /// The name BIND, Knot and RFC 8945 use, e.g. `hmac-sha256`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn wire(self) -> TsigAlgorithm {
        match self {
            Self::HmacSha256 => TsigAlgorithm::HmacSha256,
            Self::HmacSha384 => TsigAlgorithm::HmacSha384,
            Self::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }
}

impl fmt::Display for TsigAlgorithmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TSIG algorithm name that is not one of `hmac-sha256`, `hmac-sha384`, `hmac-sha512`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported TSIG algorithm {0:?}: use hmac-sha256, hmac-sha384 or hmac-sha512")]
pub struct UnknownTsigAlgorithm(pub String);

impl FromStr for TsigAlgorithmName {
    type Err = UnknownTsigAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Ok(Self::HmacSha256),
            "hmac-sha384" => Ok(Self::HmacSha384),
            "hmac-sha512" => Ok(Self::HmacSha512),
            _ => Err(UnknownTsigAlgorithm(s.to_string())),
        }
    }
}

/// A TSIG key: its name as the server knows it, its algorithm and its secret. Debug
/// output never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    name: String,
    algorithm: TsigAlgorithmName,
    secret: Vec<u8>,
}

impl TsigKey {
    /// A key from its raw secret. The name must be a valid DNS name, the secret not empty.
    pub fn new(name: &str, algorithm: TsigAlgorithmName, secret: Vec<u8>) -> Result<Self, ProviderError> {
        let invalid = |why: String| ProviderError::Auth {
            provider: "rfc2136".into(),
            message: format!("TSIG key {name:?}: {why}"),
        };
        Name::from_ascii(name).map_err(|e| invalid(format!("not a valid key name: {e}")))?;
        if secret.is_empty() {
            return Err(invalid("the secret is empty".into()));
        }
        Ok(Self {
            name: name.trim_end_matches('.').to_string(),
            algorithm,
            secret,
        })
    }

    /// A key from the base64 secret that `tsig-keygen` and `keymgr` print (blanks inside
    /// it, as in a wrapped key file, are ignored). The error never quotes the secret.
    pub fn from_base64(name: &str, algorithm: TsigAlgorithmName, secret_base64: &str) -> Result<Self, ProviderError> {
        let compact: String = secret_base64.split_whitespace().collect();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| ProviderError::Auth {
                provider: "rfc2136".into(),
                message: format!("TSIG key {name:?}: the secret is not valid base64"),
            })?;
        Self::new(name, algorithm, secret)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn algorithm(&self) -> TsigAlgorithmName {
        self.algorithm
    }

    fn signer(&self) -> Result<TSigner, String> {
        let name = Name::from_ascii(&self.name).map_err(|e| e.to_string())?;
        TSigner::new(self.secret.clone(), self.algorithm.wire(), name, TSIG_FUDGE).map_err(|e| e.to_string())
    }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A zone on an RFC 2136 server, read by AXFR and written by UPDATE over TCP.
pub struct Rfc2136Provider {
    name: String,
    server: SocketAddr,
    tsig: Option<TsigKey>,
    timeout: Duration,
    capabilities: Capabilities,
}

impl fmt::Debug for Rfc2136Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc2136Provider")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("tsig", &self.tsig)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// What was being done when a failure came, for messages.
#[derive(Clone, Copy)]
enum Operation {
    Transfer,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "zone transfer",
            Self::Update => "update",
        }
    }
}

/// Settings of one RFC 2136 adapter.
#[derive(Clone, Debug)]
pub struct Rfc2136Options {
    /// The server's address (TCP, for transfers and updates).
    pub server: SocketAddr,
    /// How long one call may take, diagnosis included.
    pub timeout: Duration,
}

/// What an RFC 2136 server can do, whichever it is.
pub fn capabilities() -> Capabilities {
    Capabilities {
        record_types: Capabilities::common_record_types(),
        min_ttl: 0,
        max_batch: MAX_BATCH,
        atomic: true,
        compare_and_set: true,
        native_weights: false,
        extra_records: true,
    }
}

impl Rfc2136Provider {
    /// A provider named `name` (used in every message about it) for the server in
    /// `options`. Without a key nothing is signed, which servers normally refuse.
    pub fn new(name: &str, tsig: Option<TsigKey>, options: Rfc2136Options) -> Result<Self, ProviderError> {
        Ok(Self {
            name: name.to_string(),
            server: options.server,
            tsig,
            timeout: options.timeout,
            capabilities: capabilities(),
        })
    }

    fn signer(&self) -> Result<Option<TSigner>, ProviderError> {
        self.tsig
            .as_ref()
            .map(|key| {
                key.signer()
                    .map_err(|why| self.auth(format!("TSIG key {}: {why}", key.name)))
            })
            .transpose()
    }

    fn origin(&self, zone: &ZoneName) -> Result<Name, ProviderError> {
        Name::from_ascii(zone.as_str()).map_err(|e| self.rejected(format!("zone {zone}: {e}")))
    }

    fn auth(&self, message: String) -> ProviderError {
        ProviderError::Auth {
            provider: self.name.clone(),
            message,
        }
    }

    fn rejected(&self, message: String) -> ProviderError {
        ProviderError::Rejected {
            provider: self.name.clone(),
            message,
        }
    }

    fn unsupported(&self, message: String) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.name.clone(),
            message,
        }
    }

    fn transient(&self, message: String) -> ProviderError {
        ProviderError::Transient {
            provider: self.name.clone(),
            message,
        }
    }

    fn timed_out(&self, operation: Operation, zone: &ZoneName) -> ProviderError {
        self.transient(format!(
            "no complete answer to the {} of {zone} from {} within {:?}",
            operation.as_str(),
            self.server,
            self.timeout
        ))
    }

    /// Every record of the zone, with the transfer's closing SOA.
    async fn transfer(&self, zone: &ZoneName) -> Result<Vec<hickory_proto::rr::Record>, WireError> {
        let origin = Name::from_ascii(zone.as_str()).map_err(|e| WireError::Protocol(e.to_string()))?;
        let signer = self.signer().map_err(|e| WireError::Protocol(e.to_string()))?;
        let mut connection = Connection::open(self.server, signer, self.timeout).await?;
        connection.transfer(origin).await
    }

    /// Refuses, before anything is sent, the changes this adapter will not send.
    fn check_batch(&self, zone: &ZoneName, changes: &[Change]) -> Result<(), ProviderError> {
        if changes.len() > MAX_BATCH {
            return Err(self.rejected(format!(
                "{} changes in one batch, more than the {MAX_BATCH} one UPDATE carries: split it",
                changes.len()
            )));
        }
        let mut seen = HashSet::new();
        for change in changes {
            let subject = change.subject();
            if let Change::Update { before, after } = change {
                if before.key() != after.key() {
                    return Err(self.rejected(format!("an update may not change a set's name or type: {change}")));
                }
            }
            if !zone.contains(&subject.name) {
                return Err(self.rejected(format!("{} is not in zone {zone}", subject.name)));
            }
            if subject.rtype == RecordType::Soa {
                return Err(self.unsupported(format!(
                    "{} SOA: the server keeps the SOA (its serial rises with every update)",
                    subject.name
                )));
            }
            if !self.capabilities.record_types.contains(&subject.rtype) {
                return Err(self.unsupported(format!(
                    "{} {}: {} records are not written",
                    subject.name, subject.rtype, subject.rtype
                )));
            }
            if matches!(change, Change::Delete { .. })
                && subject.rtype == RecordType::Ns
                && subject.name == zone.as_str()
            {
                return Err(self.unsupported(format!(
                    "deleting the apex NS set of {zone}: servers ignore it (RFC 2136 §3.4.2.3)"
                )));
            }
            if !seen.insert(subject.key()) {
                return Err(self.rejected(format!("{} {} appears twice in one batch", subject.name, subject.rtype)));
            }
        }
        Ok(())
    }

    /// What a failed exchange means for the caller.
    async fn failure(
        &self,
        zone: &ZoneName,
        operation: Operation,
        error: WireError,
        deadline: Instant,
    ) -> ProviderError {
        let op = operation.as_str();
        let server = self.server;
        match error {
            WireError::Net(e) => self.transient(format!("{op} of {zone} at {server}: {e}")),
            WireError::Protocol(message) => ProviderError::Protocol {
                provider: self.name.clone(),
                message: format!("{op} of {zone} at {server}: {message}"),
            },
            WireError::Unverified(why) => {
                tracing::debug!(provider = %self.name, %why, "TSIG verification of the answer failed");
                let key = self.tsig.as_ref().map(|k| k.name.as_str()).unwrap_or_default();
                let message = format!(
                    "{server} did not take TSIG key {key} for the {op} of {zone}: its answer carries no valid \
                     signature, which is how BIND and Knot answer a wrong secret, key name or algorithm (or clocks \
                     more than 5 minutes apart)"
                );
                self.auth_unless_zone_missing(zone, message, deadline).await
            }
            WireError::Rcode {
                rcode,
                tsig: Some(tsig),
            } => {
                let hint = if tsig == TsigError::BadTime {
                    ": clocks differ by more than 5 minutes"
                } else {
                    ""
                };
                self.auth(format!(
                    "{server} refused the TSIG signature of the {op} of {zone} ({}, {}){hint}",
                    rcode_name(rcode),
                    tsig_error_name(&tsig)
                ))
            }
            WireError::Rcode {
                rcode: rcode @ (ResponseCode::Refused | ResponseCode::NotAuth),
                tsig: None,
            } => {
                let message = match &self.tsig {
                    None => format!(
                        "{server} refused the unsigned {op} of {zone} ({}): configure a TSIG key",
                        rcode_name(rcode)
                    ),
                    Some(key) => format!(
                        "{server} refused the {op} of {zone} signed with TSIG key {} ({}): {}",
                        key.name,
                        rcode_name(rcode),
                        match operation {
                            Operation::Transfer => "the key may not transfer the zone (BIND allow-transfer, Knot acl action transfer)",
                            Operation::Update => "the key may not write these names or types (BIND update-policy, Knot acl action update)",
                        }
                    ),
                };
                self.auth_unless_zone_missing(zone, message, deadline).await
            }
            WireError::Rcode {
                rcode: ResponseCode::NotZone,
                ..
            } => ProviderError::ZoneNotFound {
                provider: self.name.clone(),
                zone: zone.to_string(),
            },
            WireError::Rcode {
                rcode: ResponseCode::ServFail,
                ..
            } => self.transient(format!(
                "{server} failed the {op} of {zone} (SERVFAIL); nothing was applied"
            )),
            WireError::Rcode { rcode, .. } => match operation {
                Operation::Update => self.rejected(format!(
                    "{server} refused the update of {zone} ({}); nothing was applied",
                    rcode_name(rcode)
                )),
                Operation::Transfer => ProviderError::Protocol {
                    provider: self.name.clone(),
                    message: format!(
                        "{server} answered the zone transfer of {zone} with {}",
                        rcode_name(rcode)
                    ),
                },
            },
        }
    }

    /// A signed UPDATE refused (BIND: REFUSED; Knot: NOTAUTH with an unsigned TSIG
    /// error, which does not verify). The key may be wrong, may lack the permission for
    /// these sets, or the server refused the content (BIND answers REFUSED to an MX
    /// target inside the zone without address). Two UPDATEs that change nothing tell
    /// which: an empty one (does the server take the key?) and one that asks permission
    /// for the same sets (`message::permission_probe`).
    async fn refused_update(
        &self,
        zone: &ZoneName,
        origin: &Name,
        changes: &[Change],
        refusal: WireError,
        deadline: Instant,
    ) -> ProviderError {
        let Ok(signer) = self.signer() else {
            return self.failure(zone, Operation::Update, refusal, deadline).await;
        };
        let send = |update: hickory_proto::op::Message| {
            let signer = signer.clone();
            let remaining = deadline.saturating_duration_since(Instant::now());
            timeout_at(deadline, async move {
                let connection = Connection::open(self.server, signer, remaining).await?;
                connection.update(update).await
            })
        };
        if !matches!(send(message::update_for(origin)).await, Ok(Ok(()))) {
            return self.failure(zone, Operation::Update, refusal, deadline).await;
        }
        let permitted = match message::permission_probe(origin, changes) {
            Ok(Some(probe)) => matches!(send(probe).await, Ok(Ok(()))),
            _ => false,
        };
        let rcode = match &refusal {
            WireError::Rcode { rcode, .. } => rcode_name(*rcode),
            _ => "an unsigned TSIG error".to_string(),
        };
        let key = self.tsig.as_ref().map(|k| k.name.as_str()).unwrap_or_default();
        if permitted {
            self.rejected(format!(
                "{} refused the content of the update of {zone} ({rcode}) though key {key} may write every set in it; \
                 BIND does so for an MX target inside the zone without A/AAAA records, and its log says why; \
                 nothing was applied",
                self.server
            ))
        } else {
            self.auth(format!(
                "{} refused the update of {zone} ({rcode}): TSIG key {key} is valid but may not write these names or \
                 types (BIND update-policy, Knot acl update-owner/update-type); nothing was applied",
                self.server
            ))
        }
    }

    /// `Auth` with `message`, unless an unsigned SOA query shows the server does not
    /// serve the zone at all: refusals look the same for both.
    async fn auth_unless_zone_missing(&self, zone: &ZoneName, message: String, deadline: Instant) -> ProviderError {
        let probe = async {
            let origin = Name::from_ascii(zone.as_str()).ok()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut connection = Connection::open(self.server, None, remaining).await.ok()?;
            connection.serves(origin).await
        };
        match timeout_at(deadline, probe).await {
            Ok(Some(false)) => ProviderError::ZoneNotFound {
                provider: self.name.clone(),
                zone: zone.to_string(),
            },
            _ => self.auth(message),
        }
    }

    /// The `Conflict` for a batch whose prerequisites failed, naming the sets that no
    /// longer hold what was read (found by reading the zone again, within the deadline).
    async fn conflict(
        &self,
        zone: &ZoneName,
        changes: &[Change],
        rcode: ResponseCode,
        deadline: Instant,
    ) -> ProviderError {
        let live = match timeout_at(deadline, self.transfer(zone)).await {
            Ok(Ok(records)) => Some(message::record_sets(records, &self.name)),
            _ => None,
        };
        // The prerequisites compare values, not TTLs.
        let stale: Vec<String> = live
            .iter()
            .flat_map(|live| {
                changes.iter().filter_map(|change| {
                    let found = crate::shared::fresh::find(live, change.subject());
                    let same = match (change.before(), found) {
                        (None, None) => true,
                        (Some(expected), Some(found)) => expected.values == found.values,
                        _ => false,
                    };
                    (!same).then(|| crate::shared::fresh::stale(change, found))
                })
            })
            .collect();
        let stale = if stale.is_empty() {
            let names: Vec<String> = changes
                .iter()
                .map(|c| format!("{} {}", c.subject().name, c.subject().rtype))
                .collect();
            vec![format!("one of {} changed since it was read", names.join(", "))]
        } else {
            stale
        };
        let refusal = format!("the server refused it: {}", rcode_name(rcode));
        crate::shared::fresh::conflict(&self.name, &stale, Some(&refusal))
    }
}

#[async_trait]
impl Provider for Rfc2136Provider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    async fn records(&self, zone: &ZoneName) -> Result<Vec<RecordSet>, ProviderError> {
        let deadline = Instant::now() + self.timeout;
        match timeout_at(deadline, self.transfer(zone)).await {
            Err(_) => Err(self.timed_out(Operation::Transfer, zone)),
            Ok(Ok(records)) => Ok(message::record_sets(records, &self.name)),
            Ok(Err(error)) => Err(self.failure(zone, Operation::Transfer, error, deadline).await),
        }
    }

    /// Raises TTLs to the floor (none here) and writes every value the way a read gives
    /// it back, e.g. TXT `hello world` as `"hello" "world"`.
    fn normalize(&self, desired: Vec<RecordSet>) -> Vec<RecordSet> {
        desired
            .into_iter()
            .map(|set| {
                let values: Vec<String> = set
                    .values
                    .iter()
                    .map(|v| message::canonical_value(&set.rtype, v))
                    .collect();
                let ttl = set.ttl.max(self.capabilities.min_ttl);
                RecordSet::new(&set.name, set.rtype.clone(), ttl, &values).unwrap_or(RecordSet { ttl, ..set })
            })
            .collect()
    }

    async fn write_access(&self, zone: &ZoneName, steered: &[SetKey]) -> Result<WriteAccess, ProviderError> {
        access::write_access(self, zone, steered).await
    }

    async fn apply(&self, zone: &ZoneName, changes: &[Change]) -> Result<Applied, ProviderError> {
        if changes.is_empty() {
            return Ok(Applied { changes: 0 });
        }
        self.check_batch(zone, changes)?;
        let origin = self.origin(zone)?;
        let update = message::update_message(&origin, zone.as_str(), changes).map_err(|why| self.rejected(why))?;
        let size = update
            .to_vec()
            .map_err(|e| self.rejected(format!("the update cannot be encoded: {e}")))?
            .len();
        if size + TSIG_ROOM > usize::from(u16::MAX) {
            return Err(self.rejected(format!(
                "the update of {} changes takes {size} bytes, more than one DNS message holds: split the batch",
                changes.len()
            )));
        }
        let signer = self.signer()?;
        crate::guard::check(&self.name)?;
        let deadline = Instant::now() + self.timeout;
        let exchange = async {
            let connection = Connection::open(self.server, signer, self.timeout).await?;
            connection.update(update).await
        };
        match timeout_at(deadline, exchange).await {
            Err(_) => Err(self.timed_out(Operation::Update, zone)),
            Ok(Ok(())) => Ok(Applied { changes: changes.len() }),
            Ok(Err(WireError::Rcode {
                rcode:
                    rcode
                    @ (ResponseCode::NXRRSet | ResponseCode::YXRRSet | ResponseCode::NXDomain | ResponseCode::YXDomain),
                tsig: None,
            })) => Err(self.conflict(zone, changes, rcode, deadline).await),
            Ok(Err(
                refusal @ (WireError::Unverified(_)
                | WireError::Rcode {
                    rcode: ResponseCode::Refused | ResponseCode::NotAuth,
                    tsig: None,
                }),
            )) if self.tsig.is_some() => Err(self.refused_update(zone, &origin, changes, refusal, deadline).await),
            Ok(Err(error)) => Err(self.failure(zone, Operation::Update, error, deadline).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let key = TsigKey::from_base64(
            "steer-key",
            TsigAlgorithmName::HmacSha256,
            "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        )
        .unwrap();
        let options = Rfc2136Options {
            server: "127.0.0.1:53".parse().unwrap(),
            timeout: Duration::from_secs(1),
        };
        let provider = Rfc2136Provider::new("bind", Some(key.clone()), options).unwrap();
        for shown in [format!("{key:?}"), format!("{provider:?}"), format!("{provider:#?}")] {
            assert!(!shown.contains("c2VjcmV0"), "{shown}");
            assert!(!shown.contains("secret-secret"), "{shown}");
            assert!(shown.contains("steer-key") && shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(TsigKey::from_base64("k", TsigAlgorithmName::HmacSha256, "not base64!").is_err());
        assert!(TsigKey::from_base64("k", TsigAlgorithmName::HmacSha256, "").is_err());
        assert!(TsigKey::from_base64("bad key", TsigAlgorithmName::HmacSha256, "AAAA").is_err());
        let wrapped = TsigKey::from_base64("k.", TsigAlgorithmName::HmacSha512, "AAAA\n AAAA").unwrap();
        assert_eq!(wrapped.name(), "k");
        assert_eq!(
            "HMAC-SHA384.".parse::<TsigAlgorithmName>(),
            Ok(TsigAlgorithmName::HmacSha384)
        );
        assert!("hmac-md5".parse::<TsigAlgorithmName>().is_err());
    }

    fn provider() -> Rfc2136Provider {
        let options = Rfc2136Options {
            server: "127.0.0.1:9".parse().unwrap(),
            timeout: Duration::from_secs(1),
        };
        Rfc2136Provider::new("p", None, options).unwrap()
    }

    fn set(name: &str, rtype: RecordType, values: &[&str]) -> RecordSet {
        RecordSet::new(name, rtype, 60, values.iter().copied()).unwrap()
    }

    #[test]
    fn batches_it_will_not_send_are_refused_before_sending() {
        let p = provider();
        let zone = ZoneName::new("example.test").unwrap();
        let a = set("www.example.test", RecordType::A, &["192.0.2.1"]);
        let check = |changes: &[Change]| p.check_batch(&zone, changes);
        assert!(matches!(
            check(&[Change::Create {
                after: set("www.other.test", RecordType::A, &["192.0.2.1"])
            }]),
            Err(ProviderError::Rejected { .. })
        ));
        assert!(matches!(
            check(&[
                Change::Create { after: a.clone() },
                Change::Delete { before: a.clone() }
            ]),
            Err(ProviderError::Rejected { .. })
        ));
        assert!(matches!(
            check(&[Change::Delete {
                before: set("example.test", RecordType::Ns, &["ns1.example.test."])
            }]),
            Err(ProviderError::Unsupported { .. })
        ));
        assert!(matches!(
            check(&[Change::Create {
                after: set("www.example.test", RecordType::Other("HINFO".into()), &["a b"])
            }]),
            Err(ProviderError::Unsupported { .. })
        ));
        let many: Vec<Change> = (0..=MAX_BATCH)
            .map(|i| Change::Create {
                after: set(&format!("h{i}.example.test"), RecordType::A, &["192.0.2.1"]),
            })
            .collect();
        assert!(matches!(check(&many), Err(ProviderError::Rejected { .. })));
        assert!(check(&many[..MAX_BATCH]).is_ok());
    }

    #[test]
    fn normalize_writes_values_as_read() {
        let txt = set("t.example.test", RecordType::Txt, &["hello world"]);
        assert_eq!(provider().normalize(vec![txt])[0].values, ["\"hello\" \"world\""]);
    }
}
