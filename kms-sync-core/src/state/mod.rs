//! The sync's ledger: which destination entries a sync wrote, with an HMAC fingerprint of the
//! value last written, so that hidden values (secured, secret, sensitive) need not be
//! rewritten on every run. Optional: without it everything works, with more writes.

mod file;
mod fingerprint;
mod memory;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

pub use file::JsonFileStateStore;
pub use fingerprint::{Fingerprint, Fingerprinter, MIN_HMAC_KEY_LEN};
pub use memory::MemoryStateStore;

/// What the ledger remembers of one destination entry this sync wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerEntry {
    /// The destination's id of the entry when it was written.
    pub id: Option<String>,
    /// HMAC-SHA256 of the key and value written.
    pub fingerprint: Fingerprint,
}

/// The entries one sync wrote, by destination key.
///
/// ```
/// use kms_sync_core::{Fingerprinter, Ledger, LedgerEntry, SecretValue};
/// let fp = Fingerprinter::new(b"a key the caller keeps elsewhere".to_vec())?;
/// let mut ledger = Ledger::default();
/// ledger.record("API_KEY", Some("id-1".into()), fp.fingerprint("API_KEY", &SecretValue::new("v")));
/// assert_eq!(ledger.get("API_KEY").and_then(|e| e.id.as_deref()), Some("id-1"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ledger {
    #[serde(serialize_with = "sorted")]
    entries: HashMap<String, LedgerEntry, foldhash::fast::RandomState>,
}

fn sorted<S: serde::Serializer>(
    entries: &HashMap<String, LedgerEntry, foldhash::fast::RandomState>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let ordered: BTreeMap<&String, &LedgerEntry> = entries.iter().collect();
    ordered.serialize(s)
}

impl Ledger {
    /// The entry of a destination key.
    pub fn get(&self, key: &str) -> Option<&LedgerEntry> {
        self.entries.get(key)
    }

    /// Records a write.
    pub fn record(&mut self, key: impl Into<String>, id: Option<String>, fingerprint: Fingerprint) {
        self.entries
            .insert(key.into(), LedgerEntry { id, fingerprint });
    }

    /// Forgets a key (after a delete).
    pub fn forget(&mut self, key: &str) -> Option<LedgerEntry> {
        self.entries.remove(key)
    }

    /// The keys this sync wrote, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Where ledgers are kept, keyed by sync id.
///
/// Two implementations ship: [`MemoryStateStore`] and [`JsonFileStateStore`]. An
/// implementation must never silently reset: a store it cannot read is an error.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The ledger of a sync, `None` if the sync has none yet.
    async fn load(&self, sync_id: &str) -> Result<Option<Ledger>>;
    /// Saves the ledger of a sync, replacing the previous one.
    async fn save(&self, sync_id: &str, ledger: &Ledger) -> Result<()>;
}
