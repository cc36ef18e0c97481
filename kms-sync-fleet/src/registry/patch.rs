//! What an update of a sync (or of its connection) changes, decided without a database, and
//! the ledger rows it drops when the destination it builds is another one.

use deadpool_postgres::GenericClient;
use kms_sync_core::Result;
use serde_json::Value;

use super::ids::SyncId;
use super::Shared;
use crate::error;

/// What a sync reads and whether it runs: the facts a patch is compared on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Written {
    pub environment: String,
    pub secret_path: String,
    pub sync_options: Value,
    pub enabled: bool,
    pub auto: bool,
}

/// What a patch calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PatchChanges {
    /// The sync now builds another destination: its ledger is dropped (the KMS rebuilds
    /// state after a destination change).
    pub new_destination: bool,
    /// The sync is triggered (cause `definition-changed`).
    pub trigger: bool,
}

impl PatchChanges {
    /// Compares the sync `before` and `after` a patch, `identity_changed` saying whether the
    /// destination it builds is another one (its built identity differs). The sync is
    /// triggered when it ends up enabled with auto-sync on and the patch changed what it
    /// writes (destination, source, options), enabled it, or turned auto-sync on.
    pub fn between(before: &Written, after: &Written, identity_changed: bool) -> PatchChanges {
        let changed = identity_changed
            || after.environment != before.environment
            || after.secret_path != before.secret_path
            || after.sync_options != before.sync_options
            || (after.enabled && !before.enabled)
            || (after.auto && !before.auto);
        PatchChanges {
            new_destination: identity_changed,
            trigger: after.enabled && after.auto && changed,
        }
    }
}

/// Drops the ledgers of `syncs` (their entries go with them), on `client` — the update's
/// own transaction.
pub(crate) async fn drop_ledgers<C: GenericClient>(
    shared: &Shared,
    client: &C,
    syncs: &[SyncId],
) -> Result<()> {
    if syncs.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = syncs.iter().map(ToString::to_string).collect();
    let forget = shared.sql("DELETE FROM {s}.ledgers WHERE sync_id = ANY($1::text[])");
    client
        .execute(&shared.prepared(client, &forget).await?, &[&ids])
        .await
        .map_err(|e| error::db("dropping the ledgers of a changed destination", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written() -> Written {
        Written {
            environment: "prod".into(),
            secret_path: "/".into(),
            sync_options: serde_json::json!({"autoSyncEnabled": true}),
            enabled: true,
            auto: true,
        }
    }

    #[test]
    fn another_destination_drops_the_ledger_and_triggers() {
        let w = written();
        let c = PatchChanges::between(&w, &w, true);
        assert_eq!(
            c,
            PatchChanges {
                new_destination: true,
                trigger: true
            }
        );
    }

    #[test]
    fn a_rename_changes_nothing_that_runs() {
        let w = written();
        assert_eq!(
            PatchChanges::between(&w, &w, false),
            PatchChanges {
                new_destination: false,
                trigger: false
            }
        );
    }

    #[test]
    fn another_source_or_options_trigger_but_keep_the_ledger() {
        let before = written();
        for after in [
            Written {
                secret_path: "/other".into(),
                ..written()
            },
            Written {
                environment: "dev".into(),
                ..written()
            },
            Written {
                sync_options: serde_json::json!({}),
                ..written()
            },
        ] {
            let c = PatchChanges::between(&before, &after, false);
            assert!(c.trigger && !c.new_destination, "{after:?}");
        }
    }

    #[test]
    fn enabling_triggers_and_a_disabled_or_manual_sync_never_does() {
        let off = Written {
            enabled: false,
            ..written()
        };
        assert!(PatchChanges::between(&off, &written(), false).trigger);
        let manual = Written {
            auto: false,
            ..written()
        };
        assert!(PatchChanges::between(&manual, &written(), false).trigger);
        assert!(!PatchChanges::between(&written(), &manual, true).trigger);
        assert!(!PatchChanges::between(&written(), &off, true).trigger);
        assert!(PatchChanges::between(&written(), &off, true).new_destination);
    }
}
