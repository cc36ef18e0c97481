//! Two workers (separate pools) updating one sync's ledger at once lose nothing.

use kms_sync_core::*;
use kms_sync_fleet::PostgresStateStore;

use crate::support::fingerprinter;

const UPDATES: usize = 100;

async fn record_many(store: &PostgresStateStore, side: &str) -> Result<()> {
    let fp = fingerprinter()?;
    for i in 0..UPDATES {
        let key = format!("{side}_{i}");
        let mut updates = vec![LedgerUpdate::Record {
            entry: LedgerEntry {
                id: Some(format!("id-{key}")),
                fingerprint: Some(fp.fingerprint(&key, &SecretValue::new("v"))),
            },
            key,
        }];
        if i % 10 == 9 {
            // Forget one recorded earlier, and settle: both workers touch the sync's row.
            updates.push(LedgerUpdate::Forget {
                key: format!("{side}_{}", i - 9),
            });
            updates.push(LedgerUpdate::Settle);
        }
        store.update("shared-sync", &updates).await?;
        if i % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_updating_one_ledger_at_once_lose_nothing() -> Result<()> {
    let db = db!("concurrency::two_workers_updating_one_ledger_at_once_lose_nothing");
    let left = PostgresStateStore::new(db.pool().await?);
    let right = PostgresStateStore::new(db.pool().await?);
    let (l, r) = tokio::join!(
        tokio::spawn(async move { record_many(&left, "left").await }),
        tokio::spawn(async move { record_many(&right, "right").await }),
    );
    l.map_err(crate::support::fail)??;
    r.map_err(crate::support::fail)??;
    let ledger = PostgresStateStore::new(db.pool().await?)
        .load("shared-sync")
        .await?
        .ok_or_else(|| Error::unexpected("no ledger"))?;
    let fp = fingerprinter()?;
    let forgotten = UPDATES / 10;
    assert_eq!(ledger.len(), 2 * (UPDATES - forgotten), "entries lost");
    for side in ["left", "right"] {
        for i in 0..UPDATES {
            let key = format!("{side}_{i}");
            let expected = (i % 10 != 0).then(|| LedgerEntry {
                id: Some(format!("id-{key}")),
                fingerprint: Some(fp.fingerprint(&key, &SecretValue::new("v"))),
            });
            assert_eq!(ledger.get(&key), expected.as_ref(), "{key}");
        }
    }
    assert!(ledger.is_settled());
    db.finish().await
}
