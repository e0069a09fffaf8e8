//! Provider-side zone ids (Route 53 hosted zone ids, Cloudflare zone ids), looked up
//! by name once per adapter: a zone's id does not change while it exists.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use crate::error::ProviderError;
use crate::record::ZoneName;

/// A zone's id: the configured one, else looked up once and kept.
#[derive(Debug, Default)]
pub struct ZoneIds {
    configured: Option<String>,
    found: Mutex<HashMap<ZoneName, String>>,
}

impl ZoneIds {
    /// `configured` is the id the configuration gives (for every zone), if it does.
    pub fn new(configured: Option<String>) -> Self {
        Self {
            configured: configured.map(|id| id.trim().to_string()),
            found: Mutex::default(),
        }
    }

    /// The id of `zone`: configured, kept from an earlier lookup, or `lookup`'s.
    pub async fn get<F, Fut>(&self, zone: &ZoneName, lookup: F) -> Result<String, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, ProviderError>>,
    {
        if let Some(id) = &self.configured {
            return Ok(id.clone());
        }
        if let Some(id) = self.found.lock().expect("lock poisoned").get(zone) {
            return Ok(id.clone());
        }
        let id = lookup().await?;
        self.found
            .lock()
            .expect("lock poisoned")
            .insert(zone.clone(), id.clone());
        Ok(id)
    }

    pub fn configured(&self) -> Option<&str> {
        self.configured.as_deref()
    }
}
