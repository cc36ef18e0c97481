//! The state store's statements, with the configured schema spliced in once.

use crate::ident::SchemaName;

/// Every statement of the state store.
#[derive(Debug)]
pub(crate) struct Statements {
    /// `$1` sync id → `settled, key, entry_id, fingerprint, destination`; no row when the
    /// sync has no ledger.
    pub load: String,
    /// `$1` sync id, `$2` settle, `$3` destination identity (NULL: keep the one recorded):
    /// creates or locks the sync's row, settling and binding it if asked.
    pub touch_ledger: String,
    /// As `touch_ledger`, but `settled` and `destination` become exactly `$2` and `$3` (a save).
    pub replace_ledger: String,
    /// `$1` sync id, `$2` keys: deletes those entries.
    pub forget: String,
    /// `$1` sync id, `$2` keys: deletes every other entry (a save).
    pub delete_others: String,
    /// `$1` sync id, `$2` keys, `$3` ids, `$4` fingerprints: inserts or replaces entries.
    pub record: String,
}

impl Statements {
    pub fn new(schema: &SchemaName) -> Statements {
        let ledgers = schema.table("ledgers");
        let entries = schema.table("ledger_entries");
        let upsert = |settled: &str, destination: &str| {
            format!(
                "INSERT INTO {ledgers} AS l (sync_id, settled, destination) VALUES ($1, $2, $3) \
                 ON CONFLICT (sync_id) DO UPDATE SET settled = {settled}, \
                 destination = {destination}, updated_at = now()"
            )
        };
        Statements {
            load: format!(
                "SELECT l.settled, e.key, e.entry_id, e.fingerprint, l.destination FROM {ledgers} l \
                 LEFT JOIN {entries} e ON e.sync_id = l.sync_id WHERE l.sync_id = $1"
            ),
            touch_ledger: upsert(
                "l.settled OR EXCLUDED.settled",
                "COALESCE(EXCLUDED.destination, l.destination)",
            ),
            replace_ledger: upsert("EXCLUDED.settled", "EXCLUDED.destination"),
            forget: format!("DELETE FROM {entries} WHERE sync_id = $1 AND key = ANY($2::text[])"),
            delete_others: format!(
                "DELETE FROM {entries} WHERE sync_id = $1 AND NOT (key = ANY($2::text[]))"
            ),
            record: format!(
                "INSERT INTO {entries} (sync_id, key, entry_id, fingerprint) \
                 SELECT $1, r.key, r.entry_id, r.fingerprint \
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS r(key, entry_id, fingerprint) \
                 ON CONFLICT (sync_id, key) DO UPDATE \
                 SET entry_id = EXCLUDED.entry_id, fingerprint = EXCLUDED.fingerprint"
            ),
        }
    }
}
