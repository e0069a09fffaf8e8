//! The wire formats, as pure functions: the signed generic webhook, Slack's incoming
//! webhook, and PagerDuty's Events API v2.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::event::{Event, Severity};

/// The header carrying `sha256=<hex HMAC-SHA256 of the raw body>`.
pub const SIGNATURE_HEADER: &str = "X-Dnsteer-Signature";
/// The header repeating the body's `timestamp` (unix seconds), for receivers that
/// check freshness before parsing.
pub const TIMESTAMP_HEADER: &str = "X-Dnsteer-Timestamp";
/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// PagerDuty caps `payload.summary` at 1024 characters.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// The generic webhook body: the event's fields plus `timestamp` (unix seconds, when
/// the body was made) and `id` (unique per alert, the same on every retry), both inside
/// the signed bytes so a receiver can refuse replays.
pub fn webhook_body(event: &Event, timestamp: i64, id: &str) -> Vec<u8> {
    let mut body = match serde_json::to_value(event) {
        Ok(Value::Object(map)) => map,
        // An Event always serializes to an object.
        _ => Map::new(),
    };
    body.insert("timestamp".into(), json!(timestamp));
    body.insert("id".into(), json!(id));
    serde_json::to_vec(&Value::Object(body)).expect("a JSON value serializes")
}

/// `sha256=<hex>`: HMAC-SHA256 of exactly `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🚨",
        Severity::Warning => "⚠️",
        Severity::Info => "✅",
    }
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; nothing else.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack incoming-webhook message: a one-line `text` (what notifications and
/// clients without blocks show) and blocks with the same facts laid out.
pub fn slack_body(event: &Event) -> Value {
    let icon = emoji(event.severity);
    let summary = slack_escape(&event.summary);
    let mut text = format!(
        "{icon} [{}] {}: {summary}",
        event.severity.as_str().to_uppercase(),
        event.event
    );
    let mut facts = Vec::new();
    if let Some(zone) = &event.zone {
        text.push_str(&format!(" (zone {})", slack_escape(zone)));
        facts.push(format!("*zone* `{}`", slack_escape(zone)));
    }
    if let Some(target) = &event.target {
        text.push_str(&format!(" (target {})", slack_escape(target)));
        facts.push(format!("*target* `{}`", slack_escape(target)));
    }
    let mut section = format!("{icon} *{}* ({}): {summary}", event.event, event.severity);
    if !facts.is_empty() {
        section.push('\n');
        section.push_str(&facts.join("   "));
    }
    let context = format!(
        "agent `{}` · {}",
        slack_escape(&event.agent),
        event.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    json!({
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": section } },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": context } ] },
        ],
    })
}

/// What a PagerDuty event does to the incident under its `dedup_key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagerDutyAction {
    Trigger,
    Resolve,
}

impl PagerDutyAction {
    /// Recoveries (`target_up`, `failback`) resolve; everything else triggers.
    pub fn for_event(event: &Event) -> Self {
        if event.event.is_recovery() {
            Self::Resolve
        } else {
            Self::Trigger
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trigger => "trigger",
            Self::Resolve => "resolve",
        }
    }
}

/// A PagerDuty Events API v2 event. A trigger carries the payload; a resolve needs
/// only the `dedup_key` of the incident it closes (PagerDuty ignores a payload there).
pub fn pagerduty_body(event: &Event, routing_key: &str) -> Value {
    let action = PagerDutyAction::for_event(event);
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": action.as_str(),
        "dedup_key": event.dedup_key(),
    });
    if action == PagerDutyAction::Trigger {
        let summary: String = format!("{}: {}", event.event, event.summary)
            .chars()
            .take(PAGERDUTY_SUMMARY_MAX)
            .collect();
        let mut payload = json!({
            "summary": summary,
            "source": event.agent,
            "severity": event.severity.as_str(),
            "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "class": event.event.as_str(),
            "custom_details": {
                "event": event.event.as_str(),
                "summary": event.summary,
                "details": event.details,
            },
        });
        if let Some(target) = &event.target {
            payload["component"] = json!(target);
        }
        if let Some(zone) = &event.zone {
            payload["group"] = json!(zone);
        }
        body["payload"] = payload;
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::event::EventKind;
    use chrono::{DateTime, Utc};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T12:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn down() -> Event {
        Event::new(EventKind::TargetDown, "agent-a", at(), "check web-us failing (3/3)")
            .zone("example.test.")
            .target("check:web-us")
    }

    #[test]
    fn signature_matches_the_rfc_4231_vector() {
        // RFC 4231, test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_body_has_the_contract_fields_and_replay_protection() {
        let body = webhook_body(&down(), 1_714_564_800, "abc123");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["event"], "target_down");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["agent"], "agent-a");
        assert_eq!(v["at"], "2024-05-01T12:00:00.250Z");
        assert_eq!(v["zone"], "example.test.");
        assert_eq!(v["target"], "check:web-us");
        assert_eq!(v["summary"], "check web-us failing (3/3)");
        assert_eq!(v["timestamp"], 1_714_564_800);
        assert_eq!(v["id"], "abc123");
        assert!(v.get("details").is_none(), "null details are left out");
        // The signature covers exactly these bytes.
        let sig = signature(b"s3cret", &body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
    }

    #[test]
    fn webhook_body_leaves_out_what_does_not_apply() {
        let e = Event::new(EventKind::LeaderChanged, "agent-b", at(), "agent-b leads (term 7)")
            .details(json!({ "term": 7 }));
        let v: Value = serde_json::from_slice(&webhook_body(&e, 1, "x")).unwrap();
        assert!(v.get("zone").is_none());
        assert!(v.get("target").is_none());
        assert_eq!(v["details"]["term"], 7);
        assert_eq!(v["severity"], "warning");
    }

    #[test]
    fn default_severities_follow_the_kind() {
        use EventKind::*;
        for (kind, sev) in [
            (TargetDown, "critical"),
            (ApplyFailed, "critical"),
            (AllPoolsDown, "critical"),
            (Failover, "warning"),
            (ProviderDrift, "warning"),
            (LeaderChanged, "warning"),
            (TargetUp, "info"),
            (Failback, "info"),
        ] {
            let e = Event::new(kind, "a", at(), "s");
            assert_eq!(serde_json::to_value(e.severity).unwrap(), sev, "{kind}");
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            Event::new(TargetUp, "a", at(), "s")
                .severity(Severity::Warning)
                .severity,
            Severity::Warning
        );
    }

    #[test]
    fn slack_body_is_readable_text_with_emoji() {
        let v = slack_body(&down().summary_for_test("<b> & co"));
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with("🚨 [CRITICAL] target_down: &lt;b&gt; &amp; co"),
            "{text}"
        );
        assert!(text.contains("check:web-us") && text.contains("example.test."));
        assert_eq!(v["blocks"][0]["type"], "section");
        assert_eq!(v["blocks"][0]["text"]["type"], "mrkdwn");
        assert!(v["blocks"][1]["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("agent-a"));
        let up = Event::new(EventKind::TargetUp, "a", at(), "back");
        assert!(slack_body(&up)["text"].as_str().unwrap().starts_with("✅"));
        let fo = Event::new(EventKind::Failover, "a", at(), "moved");
        assert!(slack_body(&fo)["text"].as_str().unwrap().starts_with("⚠️"));
    }

    #[test]
    fn pagerduty_trigger_has_the_events_v2_shape() {
        let v = pagerduty_body(&down().details(json!({ "ratio": 1.0 })), "R0UTINGKEY");
        assert_eq!(v["routing_key"], "R0UTINGKEY");
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["dedup_key"], "dnsteer:example.test.:check:web-us:target");
        let p = &v["payload"];
        assert_eq!(p["summary"], "target_down: check web-us failing (3/3)");
        assert_eq!(p["source"], "agent-a");
        assert_eq!(p["severity"], "critical");
        assert_eq!(p["timestamp"], "2024-05-01T12:00:00.250Z");
        assert_eq!(p["component"], "check:web-us");
        assert_eq!(p["group"], "example.test.");
        assert_eq!(p["custom_details"]["details"]["ratio"], 1.0);
    }

    #[test]
    fn pagerduty_resolve_shares_the_trigger_dedup_key() {
        let trigger = pagerduty_body(&down(), "k");
        let up = Event::new(EventKind::TargetUp, "agent-b", at(), "passing again")
            .zone("example.test.")
            .target("check:web-us");
        let resolve = pagerduty_body(&up, "k");
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
        assert!(resolve.get("payload").is_none());

        let over = Event::new(EventKind::Failover, "a", at(), "www leaves us-east")
            .zone("z.")
            .target("www A");
        let back = Event::new(EventKind::Failback, "a", at(), "www back on us-east")
            .zone("z.")
            .target("www A");
        assert_eq!(over.dedup_key(), back.dedup_key());
        assert_eq!(pagerduty_body(&over, "k")["event_action"], "trigger");
        assert_eq!(pagerduty_body(&back, "k")["event_action"], "resolve");
        assert_ne!(over.dedup_key(), down().dedup_key());
    }

    #[test]
    fn dedup_key_is_stable() {
        assert_eq!(down().dedup_key(), down().dedup_key());
        assert_eq!(down().dedup_key(), "dnsteer:example.test.:check:web-us:target");
        let e = Event::new(EventKind::LeaderChanged, "a", at(), "x");
        assert_eq!(e.dedup_key(), "dnsteer:-:-:leader_changed");
    }

    #[test]
    fn pagerduty_summary_is_capped() {
        let e = Event::new(EventKind::ApplyFailed, "a", at(), "x".repeat(5000));
        let v = pagerduty_body(&e, "k");
        assert_eq!(v["payload"]["summary"].as_str().unwrap().chars().count(), 1024);
    }

    impl Event {
        fn summary_for_test(mut self, s: &str) -> Self {
            self.summary = s.into();
            self
        }
    }
}
