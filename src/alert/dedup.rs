//! De-duplication of repeated events, timed by the events' own `at` (no clock reads),
//! so the window is exact and testable.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::event::{Event, EventKind};

/// Remembers when each (kind, zone, target, summary) was last let through.
#[derive(Debug)]
pub struct Dedup {
    window: TimeDelta,
    sent: HashMap<Key, DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: EventKind,
    zone: Option<String>,
    target: Option<String>,
    summary: String,
}

impl Dedup {
    /// A zero window lets everything through.
    pub fn new(window: std::time::Duration) -> Self {
        Self {
            window: TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX),
            sent: HashMap::new(),
        }
    }

    /// Whether `event` should go out: false when the same event went out less than a
    /// window ago (by the events' `at`) and nothing changed in between. An event of
    /// the other half of its family (`target_up` after `target_down`, ...) for the same
    /// zone and target is a change of state: it goes out and forgets the earlier half,
    /// so a new `target_down` after a `target_up` is never a duplicate.
    pub fn admit(&mut self, event: &Event) -> bool {
        if self.window <= TimeDelta::zero() {
            return true;
        }
        let window = self.window;
        let at = event.at;
        // Forget what the window has passed; this also bounds the map.
        self.sent.retain(|_, last| at.signed_duration_since(*last) < window);
        let family = event.event.family();
        self.sent.retain(|key, _| {
            !(key.kind != event.event
                && key.kind.family() == family
                && key.zone == event.zone
                && key.target == event.target)
        });
        let key = Key {
            kind: event.event,
            zone: event.zone.clone(),
            target: event.target.clone(),
            summary: event.summary.clone(),
        };
        match self.sent.get(&key) {
            // Still inside the window (an event stamped earlier than the one let
            // through counts as inside too).
            Some(_) => false,
            None => {
                self.sent.insert(key, at);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn down(at: i64) -> Event {
        Event::new(EventKind::TargetDown, "a", t(at), "web-us failing")
            .zone("example.test.")
            .target("check:web-us")
    }

    fn up(at: i64) -> Event {
        Event::new(EventKind::TargetUp, "a", t(at), "web-us passing")
            .zone("example.test.")
            .target("check:web-us")
    }

    #[test]
    fn same_event_inside_the_window_is_sent_once() {
        let mut d = Dedup::new(Duration::from_secs(600));
        assert!(d.admit(&down(0)));
        assert!(!d.admit(&down(1)));
        assert!(!d.admit(&down(599)));
        // The window runs from the event let through, not from the last duplicate.
        assert!(d.admit(&down(600)));
        assert!(!d.admit(&down(700)));
    }

    #[test]
    fn a_different_summary_target_zone_or_kind_is_not_a_duplicate() {
        let mut d = Dedup::new(Duration::from_secs(600));
        assert!(d.admit(&down(0)));
        let mut other = down(1);
        other.summary = "web-us timing out".into();
        assert!(d.admit(&other));
        assert!(d.admit(&down(2).target("check:web-eu")));
        assert!(d.admit(&down(3).zone("other.test.")));
        assert!(d.admit(
            &Event::new(EventKind::ApplyFailed, "a", t(4), "web-us failing")
                .zone("example.test.")
                .target("check:web-us")
        ));
    }

    #[test]
    fn a_change_of_state_is_never_a_duplicate() {
        let mut d = Dedup::new(Duration::from_secs(600));
        assert!(d.admit(&down(0)));
        assert!(d.admit(&up(10)));
        assert!(d.admit(&down(20)), "down after up is a new state");
        assert!(!d.admit(&down(30)));
        assert!(d.admit(&up(40)));
        assert!(!d.admit(&up(41)));
    }

    #[test]
    fn the_other_half_of_another_target_does_not_reset() {
        let mut d = Dedup::new(Duration::from_secs(600));
        assert!(d.admit(&down(0)));
        assert!(d.admit(&up(1).target("check:web-eu")));
        assert!(!d.admit(&down(2)));
    }

    #[test]
    fn out_of_order_events_count_as_inside_the_window() {
        let mut d = Dedup::new(Duration::from_secs(600));
        assert!(d.admit(&down(100)));
        assert!(!d.admit(&down(50)));
    }

    #[test]
    fn a_zero_window_admits_everything() {
        let mut d = Dedup::new(Duration::ZERO);
        assert!(d.admit(&down(0)));
        assert!(d.admit(&down(0)));
    }
}
