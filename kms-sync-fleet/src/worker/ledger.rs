//! A run's view of its sync's ledger: the ledger read beside the sync's definition (no
//! round trip of its own), the claims before any write written through at once, and the
//! run's last update kept for the transaction that records the run's end.

use std::sync::Mutex;

use kms_sync_core::{async_trait, Ledger, LedgerUpdate, Result, StateStore};

use crate::state::{Batch, PostgresStateStore, RunFence};

/// The ledger store of one run (see the module's documentation).
pub(crate) struct RunLedger {
    store: PostgresStateStore,
    /// The versions the run was built from.
    fence: RunFence,
    /// The ledger read with the sync, served to the run's first load.
    read: Mutex<Option<Option<Ledger>>>,
    /// Updates kept for the run's end, oldest first.
    kept: Mutex<Vec<LedgerUpdate>>,
}

impl RunLedger {
    /// A run's store over `store`, with the ledger `read` beside the sync, for a run built
    /// from the versions in `fence`.
    pub fn new(store: PostgresStateStore, read: Option<Ledger>, fence: RunFence) -> RunLedger {
        RunLedger {
            store,
            fence,
            read: Mutex::new(Some(read)),
            kept: Mutex::new(Vec::new()),
        }
    }

    /// The versions the run was built from.
    pub fn fence(&self) -> RunFence {
        self.fence
    }

    /// The kept updates as one batch (`None` when there are none), leaving them kept until
    /// [`written`](Self::written).
    pub fn pending(&self) -> Option<Batch> {
        let kept = lock(&self.kept);
        (!kept.is_empty()).then(|| Batch::of_updates(&kept))
    }

    /// The kept updates were written (with the run's end).
    pub fn written(&self) {
        lock(&self.kept).clear();
    }

    /// Writes what is still kept on its own (the run's end was not recorded): a run's own
    /// ledger update is kept whatever became of its lease, as every run's always was.
    pub async fn flush(&self, sync_id: &str) -> Result<()> {
        let updates: Vec<LedgerUpdate> = std::mem::take(&mut *lock(&self.kept));
        if updates.is_empty() {
            return Ok(());
        }
        self.store
            .update_for_run(sync_id, &updates, self.fence)
            .await
    }
}

/// Whether `updates` are the claims a run writes before any write — keys recorded without a
/// fingerprint, nothing settled or forgotten — which must be stored before the run goes on.
/// Anything else is the record of what was written, which may wait for the run's end.
pub(crate) fn is_intent(updates: &[LedgerUpdate]) -> bool {
    updates.iter().all(|u| match u {
        LedgerUpdate::Bind { .. } => true,
        LedgerUpdate::Record { entry, .. } => entry.fingerprint.is_none(),
        _ => false,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl StateStore for RunLedger {
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>> {
        let read = lock(&self.read).take();
        match read {
            Some(ledger) => Ok(ledger),
            None => self.store.load(sync_id).await,
        }
    }

    async fn save(&self, sync_id: &str, ledger: &Ledger) -> Result<()> {
        self.flush(sync_id).await?;
        self.store.save(sync_id, ledger).await
    }

    async fn update(&self, sync_id: &str, updates: &[LedgerUpdate]) -> Result<()> {
        if is_intent(updates) {
            self.flush(sync_id).await?;
            return self
                .store
                .update_for_run(sync_id, updates, self.fence)
                .await;
        }
        lock(&self.kept).extend_from_slice(updates);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_sync_core::{DestinationIdentity, Fingerprinter, LedgerEntry, SecretValue};

    fn record(key: &str, fingerprinted: bool) -> Result<LedgerUpdate> {
        let fp = Fingerprinter::new(vec![3; 32])?;
        Ok(LedgerUpdate::Record {
            key: key.to_owned(),
            entry: LedgerEntry {
                id: Some(key.to_owned()),
                fingerprint: fingerprinted.then(|| fp.fingerprint(key, &SecretValue::new("v"))),
            },
        })
    }

    #[test]
    fn only_unconfirmed_claims_are_intent() -> Result<()> {
        let bind = LedgerUpdate::Bind {
            destination: DestinationIdentity::new("memory"),
        };
        assert!(is_intent(&[bind.clone(), record("A", false)?]));
        assert!(!is_intent(&[bind.clone(), record("A", true)?]));
        assert!(!is_intent(&[bind.clone(), LedgerUpdate::Settle]));
        assert!(!is_intent(&[LedgerUpdate::Forget { key: "A".into() }]));
        Ok(())
    }
}
