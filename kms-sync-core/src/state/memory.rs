//! A state store in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Ledger, LedgerUpdate, StateStore};
use crate::error::{Error, Result};

/// Keeps ledgers in memory for the life of the process (tests, long-running services that
/// accept one full rewrite after a restart).
///
/// ```
/// use kms_sync_core::{Ledger, MemoryStateStore, StateStore};
/// # futures::executor::block_on(async {
/// let store = MemoryStateStore::default();
/// assert!(store.load("sync-1").await?.is_none());
/// store.save("sync-1", &Ledger::default()).await?;
/// assert!(store.load("sync-1").await?.is_some());
/// # Ok::<(), kms_sync_core::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    ledgers: Mutex<HashMap<String, Ledger>>,
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>> {
        let ledgers = self
            .ledgers
            .lock()
            .map_err(|_| Error::unexpected("state store lock poisoned"))?;
        Ok(ledgers.get(sync_id).cloned())
    }

    async fn save(&self, sync_id: &str, ledger: &Ledger) -> Result<()> {
        let mut ledgers = self
            .ledgers
            .lock()
            .map_err(|_| Error::unexpected("state store lock poisoned"))?;
        ledgers.insert(sync_id.to_owned(), ledger.clone());
        Ok(())
    }

    async fn update(&self, sync_id: &str, updates: &[LedgerUpdate]) -> Result<()> {
        let mut ledgers = self
            .ledgers
            .lock()
            .map_err(|_| Error::unexpected("state store lock poisoned"))?;
        let ledger = ledgers.entry(sync_id.to_owned()).or_default();
        for update in updates {
            ledger.apply(update);
        }
        Ok(())
    }
}
