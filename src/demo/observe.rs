//! What the world answers, seen the way a resolver sees it: one real, non-recursive DNS
//! query over UDP to each stand-in for each question of the timeline.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;

/// How long one observation query waits for its reply.
const QUERY_TIMEOUT: Duration = Duration::from_millis(300);

/// One question's outcome: the values of the records of the asked type (sorted), from
/// the answer section or, for a referral, the authority section; or why there are none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Records(Vec<String>),
    Failed(String),
}

impl Answer {
    pub fn is(&self, values: &[&str]) -> bool {
        matches!(self, Self::Records(v) if v.iter().map(String::as_str).eq(values.iter().copied()))
    }
}

/// Asks `server` for `name`/`rtype` once.
pub async fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Answer {
    match tokio::time::timeout(QUERY_TIMEOUT, exchange(server, name, rtype)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => Answer::Failed(e),
        Err(_) => Answer::Failed("timeout".into()),
    }
}

async fn exchange(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Answer, String> {
    let qname = Name::from_ascii(name).map_err(|e| e.to_string())?;
    let id: u16 = rand::random();
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(qname.clone(), rtype));
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    socket.send(&bytes).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if reply.metadata.id != id || reply.metadata.message_type != MessageType::Response {
            continue;
        }
        if reply.metadata.response_code != ResponseCode::NoError {
            let code = match reply.metadata.response_code {
                ResponseCode::Refused => "REFUSED".to_string(),
                ResponseCode::NXDomain => "NXDOMAIN".to_string(),
                ResponseCode::ServFail => "SERVFAIL".to_string(),
                other => format!("rcode {}", u16::from(other)),
            };
            return Ok(Answer::Failed(code));
        }
        let pick = |records: &[hickory_proto::rr::Record]| -> Vec<String> {
            let mut values: Vec<String> = records
                .iter()
                .filter(|r| r.record_type() == rtype && r.name == qname)
                .map(|r| r.data.to_string())
                .collect();
            values.sort();
            values
        };
        let mut values = pick(&reply.answers);
        if values.is_empty() {
            values = pick(&reply.authorities);
        }
        return Ok(if values.is_empty() {
            Answer::Failed("no answer".into())
        } else {
            Answer::Records(values)
        });
    }
}
