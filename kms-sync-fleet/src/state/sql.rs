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
        let syncs = schema.table("syncs");
        let connections = schema.table("connections");
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
            // An update never rebinds a ledger bound to another destination, nor (for a run,
            // `$4` and `$5` its sync's and connection's versions) starts a ledger the sync's
            // update dropped: it touches no row (the caller says so), and the statements
            // after it write nothing.
            touch_ledger: format!(
                "INSERT INTO {ledgers} AS l (sync_id, settled, destination) \
                 SELECT $1, $2, $3 WHERE $4::bigint IS NULL \
                     OR EXISTS (SELECT 1 FROM {ledgers} x WHERE x.sync_id = $1) \
                     OR EXISTS (SELECT 1 FROM {syncs} s JOIN {connections} c \
                         ON c.id = s.connection_id WHERE s.id::text = $1 \
                         AND s.version = $4::bigint AND c.version = $5::bigint) \
                 ON CONFLICT (sync_id) DO UPDATE SET settled = l.settled OR EXCLUDED.settled, \
                 destination = COALESCE(EXCLUDED.destination, l.destination), updated_at = now() \
                 WHERE l.destination IS NULL OR EXCLUDED.destination IS NULL \
                 OR l.destination = EXCLUDED.destination"
            ),
            replace_ledger: upsert("EXCLUDED.settled", "EXCLUDED.destination"),
            forget: format!(
                "DELETE FROM {entries} WHERE sync_id = $1 AND key = ANY($2::text[]) AND {}",
                bound_to(&ledgers, "$3")
            ),
            delete_others: format!(
                "DELETE FROM {entries} WHERE sync_id = $1 AND NOT (key = ANY($2::text[]))"
            ),
            record: format!(
                "INSERT INTO {entries} (sync_id, key, entry_id, fingerprint) \
                 SELECT $1, r.key, r.entry_id, r.fingerprint \
                 FROM unnest($2::text[], $3::text[], $4::text[]) AS r(key, entry_id, fingerprint) \
                 WHERE {} ON CONFLICT (sync_id, key) DO UPDATE \
                 SET entry_id = EXCLUDED.entry_id, fingerprint = EXCLUDED.fingerprint",
                bound_to(&ledgers, "$5")
            ),
        }
    }
}

/// The condition under which an entry statement of sync `$1` writes: its ledger is there
/// (the statement before made or kept it) and not bound to a destination other than `param`
/// (NULL: any).
fn bound_to(ledgers: &str, param: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM {ledgers} b WHERE b.sync_id = $1 AND (b.destination IS NULL \
         OR {param}::text IS NULL OR b.destination = {param}::text))"
    )
}
