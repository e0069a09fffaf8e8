//! Secrets: always a reference (`{ env: NAME }` or `{ file: PATH }`), resolved at load
//! time into a value that never prints.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The message for anything that is not a reference. It must never echo the value: a
/// literal here is most likely the secret itself.
pub const LITERAL_MESSAGE: &str = "a secret must be a reference ({ env: NAME } or { file: PATH }), not a literal";

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable's name.
    Env(String),
    /// A file path, relative to the configuration file's folder unless absolute.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env {name}"),
            Self::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A resolved secret value. Its `Debug` and `Display` print `<redacted>`; the value is
/// reachable only through [`SecretValue::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A secret as the configuration names it, plus its value once loading resolved it.
/// Equality compares the reference only.
#[derive(Clone)]
pub struct Secret {
    source: SecretSource,
    value: Option<SecretValue>,
}

impl Secret {
    pub fn env(name: impl Into<String>) -> Self {
        Self {
            source: SecretSource::Env(name.into()),
            value: None,
        }
    }

    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            source: SecretSource::File(path.into()),
            value: None,
        }
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    pub fn is_resolved(&self) -> bool {
        self.value.is_some()
    }

    /// The secret's value; empty until the configuration's loading resolved it (a
    /// loaded configuration has every secret resolved).
    pub fn expose(&self) -> &str {
        self.value.as_ref().map_or("", SecretValue::expose)
    }

    /// Reads the value: an environment variable that must be set and non-empty, or a
    /// file (relative to `base_dir`) with one trailing newline trimmed. On success
    /// returns an optional warning (a file readable by group or others).
    pub fn resolve(&mut self, base_dir: &Path) -> Result<Option<String>, String> {
        let (value, warning) = match &self.source {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => (v, None),
                Ok(_) => return Err(format!("environment variable {name} is empty")),
                Err(std::env::VarError::NotPresent) => return Err(format!("environment variable {name} is not set")),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("environment variable {name} is not valid UTF-8"))
                }
            },
            SecretSource::File(rel) => {
                let path = base_dir.join(rel);
                let shown = path.display();
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("cannot read secret file {shown}: {e}"))?;
                let text = text
                    .strip_suffix("\r\n")
                    .or_else(|| text.strip_suffix('\n'))
                    .unwrap_or(&text);
                if text.is_empty() {
                    return Err(format!("secret file {shown} is empty"));
                }
                (text.to_string(), loose_permissions(&path))
            }
        };
        self.value = Some(SecretValue(value));
        Ok(warning)
    }
}

#[cfg(unix)]
fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "secret file {} is readable by group or others (mode {mode:04o}); chmod 600 it",
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn loose_permissions(_path: &Path) -> Option<String> {
    None
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.value.is_some() {
            "<redacted>"
        } else {
            "<unresolved>"
        };
        write!(f, "Secret({}: {state})", self.source)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Writes the reference back (`{ env: NAME }` / `{ file: PATH }`), never the value.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        match &self.source {
            SecretSource::Env(name) => map.serialize_entry("env", name)?,
            SecretSource::File(path) => map.serialize_entry("file", path)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

// Every non-mapping input gets the same message, which never includes the input.
macro_rules! refuse_literal {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _v: $ty) -> Result<Secret, E> {
            Err(E::custom(LITERAL_MESSAGE))
        })*
    };
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a secret reference ({ env: NAME } or { file: PATH })")
    }

    refuse_literal!(
        visit_str: &str, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_i128: i128, visit_u128: u128, visit_bytes: &[u8], visit_char: char
    );

    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Err(E::custom(LITERAL_MESSAGE))
    }

    fn visit_none<E: de::Error>(self) -> Result<Secret, E> {
        Err(E::custom(LITERAL_MESSAGE))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<Secret, A::Error> {
        Err(de::Error::custom(LITERAL_MESSAGE))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _data: A) -> Result<Secret, A::Error> {
        Err(de::Error::custom(LITERAL_MESSAGE))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut found: Option<Secret> = None;
        while let Some(key) = map.next_key::<String>()? {
            let secret = match key.as_str() {
                "env" => Secret::env(map.next_value::<String>()?),
                "file" => Secret::file(map.next_value::<PathBuf>()?),
                // The value is skipped unread: it may be the secret itself.
                _ => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{key}` in a secret reference; write {{ env: NAME }} or {{ file: PATH }}"
                    )))
                }
            };
            if found.is_some() {
                return Err(de::Error::custom(
                    "a secret reference has exactly one key, `env` or `file`",
                ));
            }
            found = Some(secret);
        }
        let secret = found.ok_or_else(|| de::Error::custom("a secret reference needs `env` or `file`"))?;
        match &secret.source {
            SecretSource::Env(name) if name.trim().is_empty() => {
                Err(de::Error::custom("a secret's `env` names no variable"))
            }
            SecretSource::File(path) if path.as_os_str().is_empty() => {
                Err(de::Error::custom("a secret's `file` names no path"))
            }
            _ => Ok(secret),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_references_deserialize() {
        let s: Secret = serde_yaml_ng::from_str("{ env: TOKEN }").unwrap();
        assert_eq!(s.source(), &SecretSource::Env("TOKEN".into()));
        let s: Secret = serde_yaml_ng::from_str("{ file: ./key }").unwrap();
        assert_eq!(s.source(), &SecretSource::File("./key".into()));
        for bad in ["hunter2-literal", "12345", "true", "[hunter2-literal]", "~"] {
            let err = serde_yaml_ng::from_str::<Secret>(bad).unwrap_err().to_string();
            assert!(err.contains("not a literal"), "{bad}: {err}");
            assert!(!err.contains("hunter2") && !err.contains("12345"), "{err}");
        }
        for bad in ["{ env: A, file: b }", "{}", "{ value: hunter2-literal }", "{ env: '' }"] {
            let err = serde_yaml_ng::from_str::<Secret>(bad).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn resolved_values_never_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "file-secret-value\n").unwrap();
        let mut s = Secret::file("key");
        s.resolve(dir.path()).unwrap();
        assert_eq!(s.expose(), "file-secret-value");
        for shown in [format!("{s:?}"), s.to_string(), serde_yaml_ng::to_string(&s).unwrap()] {
            assert!(!shown.contains("file-secret-value"), "{shown}");
        }
    }

    #[test]
    fn file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "v\r\n\n").unwrap();
        let mut s = Secret::file("k");
        s.resolve(dir.path()).unwrap();
        assert_eq!(s.expose(), "v\r\n", "only one trailing newline is trimmed");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::file("k").resolve(dir.path()).unwrap_err().contains("empty"));
        assert!(Secret::file("missing").resolve(dir.path()).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&path, "v").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(Secret::file("k").resolve(dir.path()).unwrap(), None);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
            assert!(Secret::file("k").resolve(dir.path()).unwrap().is_some());
        }
    }
}
