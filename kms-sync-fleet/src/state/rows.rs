//! Ledgers as rows and back: what a save or an update writes, and reading the rows of one
//! sync into a [`Ledger`] — where a row that cannot be read is an error, never a reset.

use std::collections::BTreeMap;

use kms_sync_core::{
    DestinationIdentity, Error, Fingerprint, Ledger, LedgerEntry, LedgerUpdate, Result,
};
use tokio_postgres::Row;

use crate::error;

/// Entry rows to upsert, as parallel columns for `unnest`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Records {
    pub keys: Vec<String>,
    pub ids: Vec<Option<String>>,
    pub fingerprints: Vec<Option<String>>,
}

impl Records {
    fn push(&mut self, key: &str, entry: &LedgerEntry) {
        self.keys.push(key.to_owned());
        self.ids.push(entry.id.clone());
        self.fingerprints
            .push(entry.fingerprint.as_ref().map(Fingerprint::to_hex));
    }
}

/// One write to a sync's rows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Mark the ledger settled.
    pub settle: bool,
    /// Keys whose rows to delete.
    pub forget: Vec<String>,
    /// Rows to insert or replace.
    pub record: Records,
    /// The destination identity to bind the ledger to (`None`: an update keeps the one
    /// recorded; a save records none).
    pub destination: Option<String>,
}

impl Batch {
    /// The net effect of `updates` applied in order: the last update of a key wins.
    pub fn of_updates(updates: &[LedgerUpdate]) -> Batch {
        let mut settle = false;
        let mut destination = None;
        let mut last: BTreeMap<&str, Option<&LedgerEntry>> = BTreeMap::new();
        for update in updates {
            match update {
                LedgerUpdate::Record { key, entry } => {
                    last.insert(key, Some(entry));
                }
                LedgerUpdate::Forget { key } => {
                    last.insert(key, None);
                }
                LedgerUpdate::Settle => settle = true,
                LedgerUpdate::Bind { destination: to } => destination = Some(to.to_string()),
            }
        }
        let mut batch = Batch {
            settle,
            destination,
            ..Batch::default()
        };
        for (key, entry) in last {
            match entry {
                Some(entry) => batch.record.push(key, entry),
                None => batch.forget.push(key.to_owned()),
            }
        }
        batch
    }

    /// Every entry of `ledger`, for a save that replaces the sync's rows.
    pub fn of_ledger(ledger: &Ledger) -> Batch {
        let mut keys: Vec<&str> = ledger.keys().collect();
        keys.sort_unstable();
        let mut batch = Batch {
            settle: ledger.is_settled(),
            destination: ledger.destination().map(ToString::to_string),
            ..Batch::default()
        };
        for key in keys {
            if let Some(entry) = ledger.get(key) {
                batch.record.push(key, entry);
            }
        }
        batch
    }
}

/// The ledger of `sync_id` from its rows (`settled, key, entry_id, fingerprint, destination`, one row
/// with a NULL key for a ledger without entries); `None` when there are no rows.
pub(crate) fn ledger(schema: &str, sync_id: &str, rows: &[Row]) -> Result<Option<Ledger>> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let unreadable = |e| error::db(&format!("reading the ledger of sync `{sync_id}`"), e);
    let mut ledger = Ledger::default();
    if first.try_get::<_, bool>(0).map_err(unreadable)? {
        ledger.apply(&LedgerUpdate::Settle);
    }
    if let Some(text) = first.try_get::<_, Option<String>>(4).map_err(unreadable)? {
        let destination = text
            .parse::<DestinationIdentity>()
            .map_err(|_| unbound(schema, sync_id))?;
        ledger.apply(&LedgerUpdate::Bind { destination });
    }
    for row in rows {
        let Some(key) = row.try_get::<_, Option<String>>(1).map_err(unreadable)? else {
            continue;
        };
        let id = row.try_get::<_, Option<String>>(2).map_err(unreadable)?;
        let text = row.try_get::<_, Option<String>>(3).map_err(unreadable)?;
        let fingerprint = match text.as_deref().map(Fingerprint::from_hex) {
            None => None,
            Some(Some(fingerprint)) => Some(fingerprint),
            Some(None) => return Err(corrupt(schema, sync_id, &key)),
        };
        let entry = LedgerEntry { id, fingerprint };
        ledger.apply(&LedgerUpdate::Record { key, entry });
    }
    Ok(Some(ledger))
}

/// A ledger row whose destination identity cannot be read. Its content is not echoed.
fn unbound(schema: &str, sync_id: &str) -> Error {
    Error::unexpected(format!(
        "the ledger of sync `{sync_id}` has a destination identity that cannot be read \
         (PostgreSQL table {schema}.ledgers, column destination). Nothing was reset: repair \
         that row, or set the column to NULL to bind it again on the next sync"
    ))
}

/// A row whose fingerprint cannot be read. Its content is not echoed.
fn corrupt(schema: &str, sync_id: &str, key: &str) -> Error {
    Error::unexpected(format!(
        "the ledger of sync `{sync_id}` has an unreadable row for key `{key}` (PostgreSQL \
         table {schema}.ledger_entries): its fingerprint is not 64 hex digits. Nothing was \
         reset: repair or delete that row"
    ))
    .with_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_sync_core::{Fingerprinter, SecretValue};

    fn entry(id: &str, value: &str) -> Result<LedgerEntry> {
        let fp = Fingerprinter::new(vec![3; 32])?;
        Ok(LedgerEntry {
            id: Some(id.to_owned()),
            fingerprint: Some(fp.fingerprint("K", &SecretValue::new(value))),
        })
    }

    #[test]
    fn updates_collapse_to_the_last_per_key() -> Result<()> {
        let (a, b) = (entry("a", "1")?, entry("b", "2")?);
        let record = |key: &str, entry: &LedgerEntry| LedgerUpdate::Record {
            key: key.to_owned(),
            entry: entry.clone(),
        };
        let forget = |key: &str| LedgerUpdate::Forget {
            key: key.to_owned(),
        };
        let batch = Batch::of_updates(&[
            record("X", &a),
            forget("X"),
            forget("Y"),
            record("Y", &b),
            record("Z", &a),
            LedgerUpdate::Settle,
            record("Z", &b),
        ]);
        assert!(batch.settle);
        assert_eq!(batch.forget, ["X"]);
        assert_eq!(batch.record.keys, ["Y", "Z"]);
        assert_eq!(batch.record.ids, [Some("b".into()), Some("b".into())]);
        let hex = b.fingerprint.as_ref().map(Fingerprint::to_hex);
        assert_eq!(batch.record.fingerprints, [hex.clone(), hex]);
        Ok(())
    }

    #[test]
    fn a_ledger_becomes_every_entry_in_key_order() -> Result<()> {
        let mut ledger = Ledger::default();
        for key in ["B", "A"] {
            ledger.apply(&LedgerUpdate::Record {
                key: key.to_owned(),
                entry: entry(key, "v")?,
            });
        }
        let unconfirmed = LedgerEntry {
            id: None,
            fingerprint: None,
        };
        ledger.apply(&LedgerUpdate::Record {
            key: "C".to_owned(),
            entry: unconfirmed,
        });
        let batch = Batch::of_ledger(&ledger);
        assert!(!batch.settle && batch.forget.is_empty());
        assert_eq!(batch.record.keys, ["A", "B", "C"]);
        assert_eq!(batch.record.ids[2], None);
        assert_eq!(batch.record.fingerprints[2], None);
        Ok(())
    }
}
