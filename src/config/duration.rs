//! `Duration`: a std duration written the human way (`500ms`, `2s`, `1m`, `1h`).

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from and written back to the configuration as `500ms`, `2s`, `1m`,
/// `1h` (any combination humantime understands, e.g. `1m 30s`). A bare number is
/// refused: without a unit it is ambiguous.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self(std::time::Duration::from_millis(millis))
    }

    /// The std duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl Deref for Duration {
    type Target = std::time::Duration;
    fn deref(&self) -> &std::time::Duration {
        &self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {why} (write it like 500ms, 2s, 1m or 1h)")]
pub struct DurationError {
    text: String,
    why: String,
}

impl FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why: String| DurationError {
            text: s.to_string(),
            why,
        };
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(err("empty".to_string()));
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(err("a unit is required".to_string()));
        }
        humantime::parse_duration(trimmed)
            .map(Self)
            .map_err(|e| err(e.to_string()))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            // humantime writes `0s`, which is what we want too; say it explicitly.
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration like 500ms, 2s, 1m or 1h")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is required (write it like 500ms, 2s, 1m or 1h)"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is required (write it like 500ms, 2s, 1m or 1h)"
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<std::time::Duration, DurationError> {
        s.parse::<Duration>().map(Duration::get)
    }

    #[test]
    fn parses_the_spec_units() {
        assert_eq!(parse("500ms").unwrap(), std::time::Duration::from_millis(500));
        assert_eq!(parse("2s").unwrap(), std::time::Duration::from_secs(2));
        assert_eq!(parse("1m").unwrap(), std::time::Duration::from_secs(60));
        assert_eq!(parse("1h").unwrap(), std::time::Duration::from_secs(3600));
        assert_eq!(parse(" 1m 30s ").unwrap(), std::time::Duration::from_secs(90));
        assert_eq!(parse("0s").unwrap(), std::time::Duration::ZERO);
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", " ", "5", "1.5", "-1s", "2 parsecs", "s", "1s2", "ms500"] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let msg = parse("soon").unwrap_err().to_string();
        assert!(msg.contains("\"soon\"") && msg.contains("500ms"), "{msg}");
    }

    #[test]
    fn writes_back_what_it_reads() {
        for text in ["500ms", "2s", "1m", "1h", "1m 30s", "0s"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            let yaml = serde_yaml_ng::to_string(&d).unwrap();
            let back: Duration = serde_yaml_ng::from_str(&yaml).unwrap();
            assert_eq!(back, d);
        }
    }

    #[test]
    fn deserializes_from_yaml() {
        let d: Duration = serde_yaml_ng::from_str("250ms").unwrap();
        assert_eq!(d.get(), std::time::Duration::from_millis(250));
        let err = serde_yaml_ng::from_str::<Duration>("5").unwrap_err().to_string();
        assert!(err.contains("unit is required"), "{err}");
        assert!(serde_yaml_ng::from_str::<Duration>("[1]").is_err());
    }
}
