//! Saving the state file without holding anything up: a save is requested (cheaply,
//! from any task) and a background task writes the newest snapshot off the async
//! threads, at most every `SAVE_EVERY`, so a burst of 5,000 health transitions costs a
//! few writes, not 5,000. What must be on disk before a message leaves (a lease term,
//! a vote) waits for it with `flush`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::state::{PersistedState, StateFile};

/// The shortest time between two saves of a burst.
const SAVE_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Persister {
    requested: Arc<watch::Sender<u64>>,
    /// The newest generation a save was attempted for, and whether it reached the disk.
    saved: watch::Receiver<(u64, bool)>,
    wake: Arc<Notify>,
}

impl Persister {
    /// Starts the saving task; `snapshot` builds the state to write (under the
    /// daemon's lock, briefly).
    pub fn spawn(file: StateFile, snapshot: impl Fn() -> PersistedState + Send + Sync + 'static) -> Self {
        let (requested, mut wanted) = watch::channel(0u64);
        let (done, saved) = watch::channel((0u64, true));
        let wake = Arc::new(Notify::new());
        let file = Arc::new(file);
        let snapshot = Arc::new(snapshot);
        let urgent = wake.clone();
        tokio::spawn(async move {
            loop {
                if wanted.changed().await.is_err() {
                    return;
                }
                let generation = *wanted.borrow_and_update();
                let state = snapshot();
                let file = file.clone();
                let ok = match tokio::task::spawn_blocking(move || file.save(&state)).await {
                    Ok(Err(e)) => {
                        tracing::error!("{e:#}");
                        false
                    }
                    Err(e) => {
                        tracing::error!("saving the state file failed: {e}");
                        false
                    }
                    Ok(Ok(())) => true,
                };
                let _ = done.send((generation, ok));
                // Coalesce a burst, unless somebody waits for the next save.
                tokio::select! {
                    _ = tokio::time::sleep(SAVE_EVERY) => {}
                    _ = urgent.notified() => {}
                }
            }
        });
        Self {
            requested: Arc::new(requested),
            saved,
            wake,
        }
    }

    /// Asks for a save soon.
    pub fn request(&self) -> u64 {
        let mut generation = 0;
        self.requested.send_modify(|g| {
            *g += 1;
            generation = *g;
        });
        generation
    }

    /// Saves now and waits until a snapshot taken after this call was written; false
    /// when that write failed (what had to be on disk is not).
    pub async fn flush(&self) -> bool {
        let generation = self.request();
        self.wake.notify_one();
        let mut saved = self.saved.clone();
        let ok = match saved.wait_for(|(g, _)| *g >= generation).await {
            Ok(result) => result.1,
            Err(_) => false,
        };
        ok
    }
}
