//! What an operator set through either daemon's API (pause, overrides), replicated
//! through the pair's syncs so both honour it. Last writer wins by a version that every
//! change raises past the highest seen, so the two converge once they talk again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::health::State;

/// A target's forced health and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub state: State,
    pub until: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorState {
    /// Raised by every change; with `by`, orders two states.
    pub version: u64,
    /// The daemon that made the newest change.
    #[serde(default)]
    pub by: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub overrides: BTreeMap<String, Override>,
    /// Checksums of held plans an operator approved (a held zone's, or a whole plan's).
    #[serde(default)]
    pub approved: BTreeSet<String>,
}

impl OperatorState {
    /// Makes a change here: the version moves past every version seen.
    pub fn change(&mut self, by: &str, edit: impl FnOnce(&mut Self)) {
        edit(self);
        self.version += 1;
        self.by = by.to_string();
    }

    /// Takes the peer's state when it is newer; returns whether it was taken.
    pub fn merge(&mut self, theirs: &OperatorState) -> bool {
        if (theirs.version, &theirs.by) > (self.version, &self.by) {
            *self = theirs.clone();
            true
        } else {
            false
        }
    }

    /// Overrides whose time is up are dropped (every daemon drops them alike, so no
    /// version is needed).
    pub fn expire(&mut self, now: DateTime<Utc>) -> bool {
        let before = self.overrides.len();
        self.overrides.retain(|_, o| o.until > now);
        before != self.overrides.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_change_wins_on_both_sides() {
        let (mut a, mut b) = (OperatorState::default(), OperatorState::default());
        a.change("a", |s| s.paused = true);
        assert!(b.merge(&a));
        assert!(b.paused);
        b.change("b", |s| s.paused = false);
        assert!(!b.merge(&a), "an older state is not taken");
        assert!(a.merge(&b));
        assert_eq!(a, b);
        assert!(!a.paused);
    }
}
