//! What each daemon of a fleet publishes as a vantage point: its own window per target,
//! compact (a string of `1` for a passing result and `0` for a failing one, oldest
//! first, and the newest failure), under its etcd lease so that a dead daemon's views
//! vanish with it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One target's window as published.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowReport {
    /// `1` passing, `0` failing, oldest first.
    pub r: String,
    /// The newest failure still in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A daemon's windows, by target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VantageReport {
    pub id: String,
    pub windows: BTreeMap<String, WindowReport>,
}

impl VantageReport {
    pub fn new(id: &str, windows: BTreeMap<String, (Vec<bool>, Option<String>)>) -> Self {
        Self {
            id: id.to_string(),
            windows: windows
                .into_iter()
                .filter(|(_, (results, _))| !results.is_empty())
                .map(|(target, (results, e))| {
                    let r = results.iter().map(|ok| if *ok { '1' } else { '0' }).collect();
                    (target, WindowReport { r, e })
                })
                .collect(),
        }
    }

    /// Each target's results (oldest first) and newest failure.
    pub fn windows(&self) -> impl Iterator<Item = (&str, Vec<bool>, Option<&str>)> {
        self.windows
            .iter()
            .map(|(target, w)| (target.as_str(), w.r.chars().map(|c| c == '1').collect(), w.e.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_json() {
        let windows = BTreeMap::from([
            (
                "check:web".to_string(),
                (vec![true, false, true], Some("timeout".to_string())),
            ),
            ("check:idle".to_string(), (Vec::new(), None)),
        ]);
        let report = VantageReport::new("d1", windows);
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains(r#""r":"101""#), "{json}");
        let back: VantageReport = serde_json::from_str(&json).unwrap();
        let got: Vec<_> = back.windows().collect();
        assert_eq!(
            got,
            vec![("check:web", vec![true, false, true], Some("timeout"))],
            "empty windows are left out"
        );
    }
}
