//! The state file: health (windows, streaks, states), the lease term and the last
//! apply survive a restart. Written atomically (temporary file, fsync, rename) so a
//! crash mid-write leaves the previous state, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decide::FlapHistory;
use crate::health::EngineState;
use crate::peer::{Durable, OperatorState};

const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LastApply {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub changes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    pub version: u32,
    pub agent: String,
    pub health: EngineState,
    /// The highest lease term this daemon has seen and its vote in it: terms only
    /// grow, across restarts, and one daemon votes once per term.
    #[serde(default)]
    pub lease: Durable,
    /// Where earlier versions kept the term: read so that terms keep growing across
    /// the upgrade.
    #[serde(default, rename = "term", skip_serializing)]
    pub legacy_term: u64,
    pub last_apply: Option<LastApply>,
    /// Pause and overrides, as the pair last agreed on them: they survive a restart.
    #[serde(default)]
    pub operator: OperatorState,
    #[serde(default)]
    pub flaps: FlapHistory,
}

/// Where the state lives.
#[derive(Clone, Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `Ok(None)` when there is none yet. A file that cannot be read
    /// or understood is an error: the caller reports it and starts from `unknown`.
    pub fn load(&self) -> anyhow::Result<Option<PersistedState>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => anyhow::bail!("cannot read state file {}: {e}", self.path.display()),
        };
        let state: PersistedState = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("state file {} is corrupt ({e})", self.path.display()))?;
        let mut state = state;
        state.lease.term = state.lease.term.max(state.legacy_term);
        if state.version != VERSION {
            anyhow::bail!(
                "state file {} has version {}, this build reads {VERSION}",
                self.path.display(),
                state.version
            );
        }
        Ok(Some(state))
    }

    /// Writes the state atomically: a temporary file beside it, fsync, rename, and an
    /// fsync of the folder so the rename itself survives a crash.
    pub fn save(&self, state: &PersistedState) -> anyhow::Result<()> {
        let mut state = state.clone();
        state.version = VERSION;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let tmp = self.path.with_extension(format!("tmp.{}", std::process::id()));
        let body = serde_json::to_vec_pretty(&state)?;
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::anyhow!("cannot write state file {}: {e}", self.path.display())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join("sub/state.json"));
        assert!(file.load().unwrap().is_none());
        let state = PersistedState {
            agent: "a".into(),
            lease: Durable {
                term: 7,
                voted_for: Some("b".into()),
            },
            ..Default::default()
        };
        file.save(&state).unwrap();
        let loaded = file.load().unwrap().unwrap();
        assert_eq!(loaded.lease, state.lease);
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::write(file.path(), "{ not json").unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("corrupt"), "{err}");
    }

    #[test]
    fn a_term_saved_by_an_earlier_version_keeps_growing() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(&dir.path().join("state.json"));
        std::fs::write(
            file.path(),
            r#"{"version":1,"agent":"a","health":{"targets":{}},"term":9,"last_apply":null,"paused":false}"#,
        )
        .unwrap();
        assert_eq!(file.load().unwrap().unwrap().lease.term, 9);
    }
}
