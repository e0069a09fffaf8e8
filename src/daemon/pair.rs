//! The I/O around the pair's lease machine (`peer::LeaseMachine`): the HTTP link to the
//! peer, the witness's lease record read and written through a provider's API, and the
//! driver that wakes the machine, saves what it must before anything leaves, and
//! carries observations and operator state in every sync.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dnsteer_providers::{Change, Provider, ProviderError, ZoneName};
use serde::Serialize;

use super::Shared;
use crate::config::{self, Config};
use crate::connect::Providers;
use crate::peer::witness::{self, WitnessRecord};
use crate::peer::{
    Durable, LeaseMachine, PeerError, SyncRequest, SyncResponse, Transmit, VoteRequest, VoteResponse, WitnessError,
};

/// Where the pair's lease record lives, and the adapter that reads and writes it.
pub struct Witness {
    pub provider: String,
    pub zone: ZoneName,
    /// The lease record's owner name.
    pub name: String,
    adapter: Arc<dyn Provider>,
}

impl Witness {
    /// The configured (or chosen) witness; `None` for a lone daemon or when no
    /// provider can be one (`check` warns).
    pub fn from_config(config: &Config, providers: &Providers) -> anyhow::Result<Option<Self>> {
        let Some((provider, zone)) = config::pair_witness(&config.agent, &config.providers, config.zones.iter()) else {
            if !config.agent.peers.is_empty() {
                tracing::warn!("no witness for the pair's lease: a cut link between the two can make two writers");
            }
            return Ok(None);
        };
        let adapter = providers
            .get(&provider)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the pair's witness {provider} is not a configured provider"))?;
        if !adapter.capabilities().compare_and_set {
            anyhow::bail!("the pair's witness {provider} has no compare-and-set");
        }
        let first = config
            .zones
            .first()
            .and_then(|z| ZoneName::new(&z.name).ok())
            .unwrap_or_else(|| zone.clone());
        Ok(Some(Self {
            name: witness::record_name(&zone, &first),
            provider,
            zone,
            adapter,
        }))
    }

    async fn read(&self) -> Result<Option<WitnessRecord>, WitnessError> {
        let sets = self
            .adapter
            .records(&self.zone)
            .await
            .map_err(|e| WitnessError::Unavailable(e.to_string()))?;
        Ok(WitnessRecord::read(&self.name, &sets))
    }

    async fn write(&self, before: Option<&WitnessRecord>, after: &WitnessRecord) -> Result<(), WitnessError> {
        let after = after.record_set(&self.name);
        let change = match before {
            None => Change::Create { after },
            Some(b) => Change::Update {
                before: b.record_set(&self.name),
                after,
            },
        };
        match self.adapter.apply(&self.zone, &[change]).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Conflict { .. }) => Err(WitnessError::Conflict),
            Err(e) => Err(WitnessError::Unavailable(e.to_string())),
        }
    }
}

/// The HTTP link to the peer daemon's `/v1/peer/` endpoints.
pub struct HttpPeerLink {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl HttpPeerLink {
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        dnsteer_providers::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            client,
        })
    }

    async fn post<Q: Serialize + Sync, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &Q,
    ) -> Result<R, PeerError> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| PeerError::Unreachable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(PeerError::Refused(format!("{path} answered HTTP {}", resp.status())));
        }
        resp.json()
            .await
            .map_err(|e| PeerError::Refused(format!("{path}: unreadable reply: {e}")))
    }

    async fn sync(&self, request: &SyncRequest) -> Result<SyncResponse, PeerError> {
        self.post("/v1/peer/sync", request).await
    }

    async fn vote(&self, request: &VoteRequest) -> Result<VoteResponse, PeerError> {
        self.post("/v1/peer/vote", request).await
    }
}

/// Runs the lease until `stop`, then resigns it.
pub(super) async fn drive(
    shared: Arc<Shared>,
    lease: Arc<Mutex<LeaseMachine>>,
    link: Option<HttpPeerLink>,
    witness: Option<Arc<Witness>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let io = Arc::new(Io { link, witness, lease });
    let mut saved = io.machine().durable().clone();
    loop {
        let wake_at = {
            let mut m = io.machine();
            m.handle_timeout(Instant::now());
            m.poll_timeout()
        };
        shared.on_lease_events();
        for t in pending(&shared, &io, &mut saved).await {
            tokio::spawn(send(shared.clone(), io.clone(), t));
        }
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => {}
            _ = shared.pair_wake.notified() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    // The writes are over (the steering loop has stopped): give the lease up, so the
    // peer takes over at once instead of waiting the lease out.
    io.machine().resign(Instant::now());
    shared.on_lease_events();
    let last = pending(&shared, &io, &mut saved).await;
    let resigning = async {
        for t in last {
            send(shared.clone(), io.clone(), t).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), resigning).await.is_err() {
        tracing::warn!("could not tell the peer and the witness that we resign in time");
    }
}

/// What the machine wants sent, once what it must have saved is on disk.
async fn pending(shared: &Shared, io: &Io, saved: &mut Durable) -> Vec<Transmit> {
    let (transmits, durable) = {
        let mut m = io.machine();
        let transmits: Vec<Transmit> = std::iter::from_fn(|| m.poll_transmit()).collect();
        (transmits, m.durable().clone())
    };
    if !transmits.is_empty() && durable != *saved {
        if !shared.flush().await {
            // A term or vote not on disk must not leave: nothing is sent, and the
            // machine hears of each message as lost.
            let now = Instant::now();
            let lost = || PeerError::Unreachable("not sent: the state file could not be saved".into());
            let mut m = io.machine();
            for t in transmits {
                match t {
                    Transmit::Sync(req) => m.handle_sync_response(&req, now, Err(&lost()), now),
                    Transmit::Vote(req) => m.handle_vote_response(&req, now, Err(&lost()), now),
                    Transmit::WitnessRead => {
                        m.handle_witness_read(Err(WitnessError::Unavailable("not sent".into())), now)
                    }
                    Transmit::WitnessWrite { before, after } => m.handle_witness_write(
                        before.as_ref(),
                        &after,
                        now,
                        Err(WitnessError::Unavailable("not sent".into())),
                        now,
                    ),
                }
            }
            return Vec::new();
        }
        *saved = durable;
    }
    transmits
}

struct Io {
    link: Option<HttpPeerLink>,
    witness: Option<Arc<Witness>>,
    lease: Arc<Mutex<LeaseMachine>>,
}

impl Io {
    fn machine(&self) -> MutexGuard<'_, LeaseMachine> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn send(shared: Arc<Shared>, io: Arc<Io>, transmit: Transmit) {
    let sent = Instant::now();
    match transmit {
        Transmit::Sync(mut req) => {
            let Some(link) = &io.link else { return };
            req.observations = shared.take_outbox();
            req.operator = Some(shared.inner().operator.clone());
            let reply = link.sync(&req).await;
            if let Ok(resp) = &reply {
                shared.take_from_peer(&resp.observations, resp.operator.as_ref());
            }
            if let Err(e @ PeerError::Refused(_)) = &reply {
                tracing::error!("{e} (do both daemons share agent.api_token?)");
            }
            io.machine()
                .handle_sync_response(&req, sent, reply.as_ref(), Instant::now());
        }
        Transmit::Vote(req) => {
            let Some(link) = &io.link else { return };
            let reply = link.vote(&req).await;
            io.machine()
                .handle_vote_response(&req, sent, reply.as_ref(), Instant::now());
        }
        Transmit::WitnessRead => {
            let result = match &io.witness {
                Some(w) => w.read().await,
                None => Err(WitnessError::Unavailable("no witness".into())),
            };
            if let Err(WitnessError::Unavailable(e)) = &result {
                tracing::debug!("witness read failed: {e}");
            }
            io.machine().handle_witness_read(result, Instant::now());
        }
        Transmit::WitnessWrite { before, after } => {
            let result = match &io.witness {
                Some(w) => w.write(before.as_ref(), &after).await,
                None => Err(WitnessError::Unavailable("no witness".into())),
            };
            if let Err(e) = &result {
                tracing::debug!(?e, "witness write failed");
            }
            io.machine()
                .handle_witness_write(before.as_ref(), &after, sent, result, Instant::now());
        }
    }
    shared.on_lease_events();
    // Replies may have given the machine something new to send.
    shared.pair_wake.notify_one();
}

impl Shared {
    /// Serves the peer's sync: its observations and operator state in, ours out. The
    /// reply leaves only once a term it carries is saved.
    pub(super) async fn handle_peer_sync(&self, req: SyncRequest) -> SyncResponse {
        self.take_from_peer(&req.observations, req.operator.as_ref());
        let Some(pair) = &self.pair else {
            return SyncResponse::not_in_a_pair(&self.agent_id);
        };
        let (mut resp, changed) = {
            let mut m = pair.lock().unwrap_or_else(|e| e.into_inner());
            let before = m.durable().clone();
            let resp = m.handle_sync_request(&req, Instant::now());
            (resp, *m.durable() != before)
        };
        self.on_lease_events();
        if changed && !self.flush().await {
            tracing::error!("the state file could not be saved: the sync is answered as refused");
            return SyncResponse::not_in_a_pair(&self.agent_id);
        }
        resp.observations = self.take_outbox();
        resp.operator = Some(self.inner().operator.clone());
        self.pair_wake.notify_one();
        resp
    }

    /// Serves the peer's vote request; a vote is saved before it is given.
    pub(super) async fn handle_peer_vote(&self, req: VoteRequest) -> VoteResponse {
        let Some(pair) = &self.pair else {
            return VoteResponse {
                from: self.agent_id.clone(),
                term: 0,
                granted: false,
            };
        };
        let (resp, changed) = {
            let mut m = pair.lock().unwrap_or_else(|e| e.into_inner());
            let before = m.durable().clone();
            let resp = m.handle_vote_request(&req, Instant::now());
            (resp, *m.durable() != before)
        };
        self.on_lease_events();
        if changed && !self.flush().await {
            // A vote not on disk is a vote that a restart could give again.
            tracing::error!("the state file could not be saved: the vote is refused");
            return VoteResponse { granted: false, ..resp };
        }
        self.pair_wake.notify_one();
        resp
    }
}
