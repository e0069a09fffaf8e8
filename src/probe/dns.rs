//! The DNS prober: one non-recursive query straight to one authoritative address, no
//! retries, over a connected UDP socket so that an ICMP port unreachable comes back as
//! `ECONNREFUSED` (`refused`) instead of a silent `timeout`. A truncated answer is asked
//! again over TCP, as any resolver would.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio::time::timeout_at;

use super::{Outcome, ProbeError, ProbeResult, Prober};

/// The EDNS payload size advertised (the DNS flag day 2020 value): SOA and health
/// answers fit, and larger ones come back truncated and are asked again over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// Asks one authoritative address one question and checks the answer: rcode NOERROR,
/// AA set, at least one record of the asked type and, if `expect` is given, exactly
/// those values.
#[derive(Debug)]
pub struct DnsProber {
    target: String,
    server: SocketAddr,
    query: Query,
    timeout: Duration,
    /// Normalised expected values (see [`normalize`]); empty: any answer will do.
    expect: BTreeSet<String>,
    /// One socket reused for every probe, connected to `server`; replies are matched
    /// by message id and question, so a late reply to an earlier probe is ignored.
    /// The lock also keeps two probes of this prober from sharing the socket at once.
    socket: Mutex<Option<UdpSocket>>,
}

/// Why an exchange produced no usable reply.
struct Failure {
    class: Outcome,
    reason: String,
}

impl Failure {
    fn new(class: Outcome, reason: impl Into<String>) -> Self {
        Self {
            class,
            reason: reason.into(),
        }
    }
}

impl DnsProber {
    pub fn new(
        target: &str,
        server: SocketAddr,
        query_name: &str,
        query_type: RecordType,
        timeout: Duration,
        expect: Vec<String>,
    ) -> Result<Self, ProbeError> {
        let mut name = Name::from_ascii(query_name).map_err(|e| ProbeError::Name {
            target: target.to_string(),
            name: query_name.to_string(),
            message: e.to_string(),
        })?;
        // Names in the configuration are absolute whether or not they end with a dot.
        name.set_fqdn(true);
        Ok(Self {
            target: target.to_string(),
            server,
            query: Query::query(name, query_type),
            timeout,
            expect: expect.iter().map(|v| normalize(v)).collect(),
            socket: Mutex::new(None),
        })
    }

    /// A provider's health probe: the SOA of `zone` at one of its addresses, recording
    /// the serial so a provider lagging behind the others shows.
    pub fn for_provider(target: &str, server: SocketAddr, zone: &str, timeout: Duration) -> Result<Self, ProbeError> {
        Self::new(target, server, zone, RecordType::SOA, timeout, Vec::new())
    }

    /// Sends the query and waits for its reply until `deadline`.
    async fn exchange(&self, deadline: tokio::time::Instant) -> Result<Message, Failure> {
        let id: u16 = rand::random();
        let request = self.request(id)?;
        let mut guard = self.socket.lock().await;
        if guard.is_none() {
            *guard = Some(
                self.connect()
                    .await
                    .map_err(|e| self.io_failure("cannot open a UDP socket", &e))?,
            );
        }
        let socket = guard.as_ref().expect("the socket is open");
        if let Err(e) = socket.send(&request).await {
            // A refusal of an earlier datagram can surface here too: the address
            // refuses either way.
            return Err(self.io_failure("send", &e));
        }
        // A server may not send more than the payload size the query advertises (RFC
        // 6891); a larger datagram would be cut and fail to parse, which is reported.
        let mut buf = vec![0u8; usize::from(EDNS_PAYLOAD)];
        loop {
            let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => {
                    return Err(Failure::new(
                        Outcome::Timeout,
                        format!("{}: no reply within {} ms", self.server, self.timeout.as_millis()),
                    ))
                }
                Ok(Err(e)) => return Err(self.io_failure("receive", &e)),
                Ok(Ok(n)) => n,
            };
            match self.accept(id, &buf[..n])? {
                Some(reply) if reply.metadata.truncation => {
                    drop(guard);
                    return self.exchange_tcp(&request, id, deadline).await;
                }
                Some(reply) => return Ok(reply),
                None => continue,
            }
        }
    }

    /// The same question over TCP, after a truncated UDP answer.
    async fn exchange_tcp(&self, request: &[u8], id: u16, deadline: tokio::time::Instant) -> Result<Message, Failure> {
        let timed_out = || {
            Failure::new(
                Outcome::Timeout,
                format!(
                    "{} (TCP after a truncated answer): no reply within {} ms",
                    self.server,
                    self.timeout.as_millis()
                ),
            )
        };
        let exchange = async {
            let mut stream = TcpStream::connect(self.server).await?;
            let len = u16::try_from(request.len()).map_err(|_| io::Error::other("query too long"))?;
            let mut framed = Vec::with_capacity(request.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(request);
            stream.write_all(&framed).await?;
            let len = stream.read_u16().await?;
            let mut reply = vec![0u8; usize::from(len)];
            stream.read_exact(&mut reply).await?;
            Ok::<_, io::Error>(reply)
        };
        match timeout_at(deadline, exchange).await {
            Err(_) => Err(timed_out()),
            Ok(Err(e)) => Err(self.io_failure("TCP", &e)),
            Ok(Ok(reply)) => self
                .accept(id, &reply)?
                .ok_or_else(|| Failure::new(Outcome::Io, format!("{} (TCP): reply to another question", self.server))),
        }
    }

    fn request(&self, id: u16) -> Result<Vec<u8>, Failure> {
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = false;
        message.add_query(self.query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        message
            .to_vec()
            .map_err(|e| Failure::new(Outcome::Io, format!("cannot encode the query: {e}")))
    }

    async fn connect(&self) -> io::Result<UdpSocket> {
        let local: SocketAddr = match self.server.ip() {
            IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(self.server).await?;
        Ok(socket)
    }

    /// The reply to this probe's query, `None` for a datagram that answers something
    /// else (a late reply to an earlier probe), an error for a malformed reply.
    fn accept(&self, id: u16, datagram: &[u8]) -> Result<Option<Message>, Failure> {
        if datagram.len() < 2 || u16::from_be_bytes([datagram[0], datagram[1]]) != id {
            return Ok(None);
        }
        let reply = Message::from_vec(datagram)
            .map_err(|e| Failure::new(Outcome::Io, format!("{}: malformed reply: {e}", self.server)))?;
        let same_question = reply.queries.len() == 1
            && reply.queries[0].name() == self.query.name()
            && reply.queries[0].query_type() == self.query.query_type();
        if reply.metadata.message_type != MessageType::Response || !same_question {
            return Ok(None);
        }
        Ok(Some(reply))
    }

    fn io_failure(&self, what: &str, e: &io::Error) -> Failure {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            Failure::new(Outcome::Refused, format!("{}: refused (port unreachable)", self.server))
        } else {
            Failure::new(Outcome::Io, format!("{}: {what}: {e}", self.server))
        }
    }

    /// Checks a reply to this probe's query; the serial is kept even when a later
    /// check fails.
    fn check(&self, reply: &Message) -> (Option<u32>, Result<(), Failure>) {
        let (name, rtype) = (self.query.name(), self.query.query_type());
        let server = self.server;
        match reply.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            ResponseCode::ServFail => {
                return (
                    None,
                    Err(Failure::new(Outcome::Servfail, format!("{server}: SERVFAIL"))),
                )
            }
            ResponseCode::Refused => {
                return (
                    None,
                    Err(Failure::new(
                        Outcome::DnsRefused,
                        format!("{server}: REFUSED for {name} {rtype}"),
                    )),
                )
            }
            other => {
                return (
                    None,
                    Err(Failure::new(Outcome::Servfail, format!("{server}: rcode {other}"))),
                )
            }
        }
        if !reply.metadata.authoritative {
            return (
                None,
                Err(Failure::new(
                    Outcome::NotAuthoritative,
                    format!("{server}: answer for {name} without AA"),
                )),
            );
        }
        if reply.metadata.response_code == ResponseCode::NXDomain {
            return (
                None,
                Err(Failure::new(
                    Outcome::NoAnswer,
                    format!("{server}: NXDOMAIN for {name}"),
                )),
            );
        }
        let records: Vec<&RData> = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| &r.data)
            .collect();
        let serial = records.iter().find_map(|data| match data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        });
        if records.is_empty() {
            return (
                serial,
                Err(Failure::new(
                    Outcome::NoAnswer,
                    format!("{server}: no {rtype} record for {name}"),
                )),
            );
        }
        if !self.expect.is_empty() {
            let got: BTreeSet<String> = records.iter().map(|data| normalize(&data.to_string())).collect();
            if got != self.expect {
                let reason = format!(
                    "{server}: {name} {rtype} is [{}], expected [{}]",
                    got.into_iter().collect::<Vec<_>>().join(", "),
                    self.expect.iter().cloned().collect::<Vec<_>>().join(", ")
                );
                return (serial, Err(Failure::new(Outcome::WrongAnswer, reason)));
            }
        }
        (serial, Ok(()))
    }
}

#[async_trait]
impl Prober for DnsProber {
    async fn probe(&self) -> ProbeResult {
        let start = Instant::now();
        let deadline = tokio::time::Instant::from_std(start + self.timeout);
        let (serial, verdict) = match self.exchange(deadline).await {
            Ok(reply) => self.check(&reply),
            Err(failure) => (None, Err(failure)),
        };
        let latency = start.elapsed();
        let mut result = match verdict {
            Ok(()) => ProbeResult::success(&self.target, latency),
            Err(Failure { class, reason }) => ProbeResult::failure(&self.target, class, reason, latency),
        };
        result.serial = serial;
        result
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A record value as compared with `expect`: case and a final dot do not matter, TXT
/// quotes are dropped and addresses are compared as addresses.
fn normalize(value: &str) -> String {
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    if let Ok(ip) = value.parse::<IpAddr>() {
        return ip.to_string();
    }
    value.strip_suffix('.').unwrap_or(value).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_ignores_case_final_dot_quotes_and_address_spelling() {
        assert_eq!(normalize("Target.Example.TEST."), "target.example.test");
        assert_eq!(normalize("2001:0DB8::0001"), "2001:db8::1");
        assert_eq!(normalize("\"v=spf1 -all\""), "v=spf1 -all");
        assert_eq!(normalize(" 192.0.2.10 "), "192.0.2.10");
    }
}
