//! The sync's ledger: which destination entries a sync wrote, with an HMAC fingerprint of the
//! value last written, so that hidden values (secured, secret, sensitive) need not be
//! rewritten on every run. Optional: without it everything works, with more writes.

mod file;
mod fingerprint;
mod memory;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::destination::DestinationIdentity;
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
    /// HMAC-SHA256 of the key and value last written and confirmed; `None` when the last
    /// write was not confirmed (the next run rewrites the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
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
    /// Whether a sync has completed without failures since the ledger began: until then
    /// every sync is the initial one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    settled: bool,
    /// The destination this ledger describes; `None` in a ledger written before ledgers were
    /// bound (it is bound by its next update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination: Option<DestinationIdentity>,
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

    /// Records a confirmed write.
    pub fn record(&mut self, key: impl Into<String>, id: Option<String>, fingerprint: Fingerprint) {
        self.entries.insert(
            key.into(),
            LedgerEntry {
                id,
                fingerprint: Some(fingerprint),
            },
        );
    }

    /// Applies one update.
    pub fn apply(&mut self, update: &LedgerUpdate) {
        match update {
            LedgerUpdate::Record { key, entry } => {
                self.entries.insert(key.clone(), entry.clone());
            }
            LedgerUpdate::Forget { key } => {
                self.entries.remove(key);
            }
            LedgerUpdate::Settle => self.settled = true,
            LedgerUpdate::Bind { destination } => self.destination = Some(destination.clone()),
        }
    }

    /// The destination this ledger describes, once bound.
    ///
    /// ```
    /// use kms_sync_core::{DestinationIdentity, Ledger, LedgerUpdate};
    /// let mut ledger = Ledger::default();
    /// assert!(ledger.destination().is_none());
    /// let destination = DestinationIdentity::new("memory").with("name", "a");
    /// ledger.apply(&LedgerUpdate::Bind { destination: destination.clone() });
    /// assert_eq!(ledger.destination(), Some(&destination));
    /// ```
    pub fn destination(&self) -> Option<&DestinationIdentity> {
        self.destination.as_ref()
    }

    /// Whether a sync completed without failures since the ledger began (after that, a
    /// sync is no longer the initial one).
    pub fn is_settled(&self) -> bool {
        self.settled
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

/// One change to a sync's ledger, as the engine records the outcome of an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerUpdate {
    /// The sync wrote this key (with a fingerprint when the service confirmed the value).
    Record {
        /// The destination key.
        key: String,
        /// What to remember.
        entry: LedgerEntry,
    },
    /// The sync deleted this key.
    Forget {
        /// The destination key.
        key: String,
    },
    /// A sync completed without failures: later syncs are not the initial one.
    Settle,
    /// The ledger describes this destination. The engine sends it with every update of a
    /// run, and refuses a ledger bound to another destination before any write.
    Bind {
        /// The destination's identity.
        destination: DestinationIdentity,
    },
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

    /// Applies `updates` to a sync's ledger, creating it (empty) if it has none, so a sync
    /// that ran once is known to have run. Concurrent updates of one sync's ledger must not
    /// lose each other's entries: the default reads, applies and saves, which is enough for
    /// a store that serializes itself; a shared store overrides it.
    async fn update(&self, sync_id: &str, updates: &[LedgerUpdate]) -> Result<()> {
        let mut ledger = self.load(sync_id).await?.unwrap_or_default();
        for update in updates {
            ledger.apply(update);
        }
        self.save(sync_id, &ledger).await
    }
}
