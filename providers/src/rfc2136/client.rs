//! The wire: one TCP connection per call, TSIG-signed when the provider has a key, over
//! which a zone transfer, an UPDATE or an SOA probe is exchanged. Failures are returned
//! as found; what they mean for the caller is the adapter's decision.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::xfer::FirstAnswer;
use hickory_net::{DnsHandle, DnsMultiplexer, NetError};
use hickory_proto::op::{DnsRequest, DnsResponse, Message, ResponseCode};
use hickory_proto::rr::rdata::tsig::TsigError;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType, TSigner};
use tokio::task::JoinHandle;

/// How an exchange failed.
#[derive(Debug)]
pub(crate) enum WireError {
    /// No usable answer: connection refused or reset, nothing within the timeout.
    Net(NetError),
    /// The answer to a signed request did not verify with our key. BIND and Knot answer
    /// a wrong secret or an unknown key name with an unsigned TSIG error (BADSIG,
    /// BADKEY), and Knot answers a signed request for a zone it does not serve without
    /// any TSIG: hickory reports all of them as this.
    Unverified(String),
    /// The server answered with an error code (and maybe a TSIG error).
    Rcode {
        rcode: ResponseCode,
        tsig: Option<TsigError>,
    },
    /// An answer that breaks the protocol, e.g. a zone transfer not framed by SOAs.
    Protocol(String),
}

/// A TCP connection to the server with its background task, ended when dropped.
pub(crate) struct Connection {
    client: Client<TokioRuntimeProvider>,
    background: JoinHandle<()>,
    signed: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.background.abort();
    }
}

impl Connection {
    /// Connects to `server`; every request that needs signing (UPDATE, AXFR) is signed
    /// with `signer` and its answer verified.
    pub(crate) async fn open(
        server: SocketAddr,
        signer: Option<TSigner>,
        timeout: Duration,
    ) -> Result<Self, WireError> {
        let (connect, handle) = TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::new());
        let stream = connect.await.map_err(WireError::Net)?;
        let mut multiplexer = DnsMultiplexer::new(stream, handle).with_timeout(timeout);
        let signed = signer.is_some();
        if let Some(signer) = signer {
            multiplexer = multiplexer.with_signer(signer);
        }
        let (client, background) = Client::<TokioRuntimeProvider>::from_sender(multiplexer);
        Ok(Self {
            client,
            background: tokio::spawn(background),
            signed,
        })
    }

    /// Sends one UPDATE and checks its answer.
    pub(crate) async fn update(&self, message: Message) -> Result<(), WireError> {
        let response = self
            .client
            .send(DnsRequest::from(message))
            .first_answer()
            .await
            .map_err(|e| self.failure(e))?;
        check(&response)
    }

    /// Every record of `zone` by AXFR, in transfer order, closing SOA included.
    pub(crate) async fn transfer(&mut self, zone: Name) -> Result<Vec<Record>, WireError> {
        let mut stream = self.client.zone_transfer(zone, None);
        let mut records: Vec<Record> = Vec::new();
        loop {
            // Never poll the transfer past its end: hickory reports an ended stream as a
            // timeout, so the end is found here, by the closing SOA.
            let response = (&mut stream).first_answer().await.map_err(|e| self.failure(e))?;
            check(&response)?;
            let answers = response.into_message().answers;
            if answers.is_empty() {
                return Err(WireError::Protocol("a zone transfer message without records".into()));
            }
            records.extend(answers);
            if records[0].record_type() != RecordType::SOA {
                return Err(WireError::Protocol(
                    "the zone transfer did not start with the SOA".into(),
                ));
            }
            if records.len() > 1 && records.last().is_some_and(|r| r.record_type() == RecordType::SOA) {
                return Ok(records);
            }
        }
    }

    /// Whether the server answers authoritatively for `zone` (asked unsigned): `None`
    /// when it cannot be told.
    pub(crate) async fn serves(&mut self, zone: Name) -> Option<bool> {
        let response = self
            .client
            .query(zone.clone(), DNSClass::IN, RecordType::SOA)
            .await
            .ok()?;
        match response.metadata.response_code {
            ResponseCode::NoError => Some(
                response.metadata.authoritative
                    && response
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::SOA && r.name == zone),
            ),
            ResponseCode::Refused | ResponseCode::NotAuth | ResponseCode::NXDomain => Some(false),
            _ => None,
        }
    }

    fn failure(&self, error: NetError) -> WireError {
        match error {
            // With a signer, the only protocol errors the multiplexer passes on come from
            // verifying the answer's TSIG (hickory 0.26.3: "... truncated HMACs" for an
            // unsigned BADSIG). Messages are encoded and sized before they get here.
            NetError::Proto(e) if self.signed => WireError::Unverified(e.to_string()),
            NetError::Proto(e) => WireError::Protocol(e.to_string()),
            NetError::Message(m) => WireError::Protocol(m.to_string()),
            NetError::Msg(m) => WireError::Protocol(m),
            other => WireError::Net(other),
        }
    }
}

fn check(response: &DnsResponse) -> Result<(), WireError> {
    let rcode = response.metadata.response_code;
    let tsig = response.signature().and_then(|s| s.data.error);
    if rcode == ResponseCode::NoError && tsig.is_none() {
        Ok(())
    } else {
        Err(WireError::Rcode { rcode, tsig })
    }
}

/// The mnemonic of an rcode, as dig and the RFCs spell it.
pub(crate) fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The mnemonic of a TSIG error.
pub(crate) fn tsig_error_name(error: &TsigError) -> String {
    match error {
        TsigError::BadSig => "BADSIG".into(),
        TsigError::BadKey => "BADKEY".into(),
        TsigError::BadTime => "BADTIME".into(),
        TsigError::BadTrunc => "BADTRUNC".into(),
        TsigError::Unknown(code) => format!("TSIG error {code}"),
    }
}
