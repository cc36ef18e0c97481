//! Every state-store behaviour the JSON file store has: round trips across instances,
//! unknown syncs, save replacing, updates, and unreadable rows as errors, never resets.

use kms_sync_core::*;
use kms_sync_fleet::PostgresStateStore;

use crate::support::fingerprinter;

fn entry(key: &str, id: Option<&str>, value: Option<&str>) -> Result<LedgerEntry> {
    let fp = fingerprinter()?;
    Ok(LedgerEntry {
        id: id.map(str::to_owned),
        fingerprint: value.map(|v| fp.fingerprint(key, &SecretValue::new(v))),
    })
}

fn record(key: &str, id: Option<&str>, value: Option<&str>) -> Result<LedgerUpdate> {
    Ok(LedgerUpdate::Record {
        key: key.to_owned(),
        entry: entry(key, id, value)?,
    })
}

fn ledger(updates: &[LedgerUpdate]) -> Ledger {
    let mut ledger = Ledger::default();
    for update in updates {
        ledger.apply(update);
    }
    ledger
}

#[tokio::test]
async fn a_ledger_round_trips_whole_across_store_instances() -> Result<()> {
    let db = db!("state::a_ledger_round_trips_whole_across_store_instances");
    let saved = ledger(&[
        record("API_KEY", Some("id-1"), Some("v1"))?,
        record("NO_ID", None, Some("v2"))?,
        record("UNCONFIRMED", Some("id-3"), None)?,
        record("ünïcödé key", Some("ïd"), Some("v4"))?,
        LedgerUpdate::Settle,
    ]);
    PostgresStateStore::new(db.pool().await?)
        .save("sync-1", &saved)
        .await?;
    // Another worker: another pool, another store.
    let other = PostgresStateStore::new(db.pool().await?);
    let loaded = other.load("sync-1").await?;
    assert_eq!(loaded.as_ref(), Some(&saved));
    assert!(loaded.is_some_and(|l| l.is_settled()));
    db.finish().await
}

#[tokio::test]
async fn an_unknown_sync_has_no_ledger_and_an_empty_one_is_kept() -> Result<()> {
    let db = db!("state::an_unknown_sync_has_no_ledger_and_an_empty_one_is_kept");
    let store = PostgresStateStore::new(db.pool().await?);
    assert_eq!(store.load("nobody").await?, None);
    let one = ledger(&[record("A", None, Some("x"))?]);
    store.save("one", &one).await?;
    store.save("two", &Ledger::default()).await?;
    assert_eq!(store.load("one").await?, Some(one));
    assert_eq!(store.load("two").await?, Some(Ledger::default()));
    assert_eq!(store.load("three").await?, None);
    db.finish().await
}

#[tokio::test]
async fn save_replaces_the_whole_ledger() -> Result<()> {
    let db = db!("state::save_replaces_the_whole_ledger");
    let store = PostgresStateStore::new(db.pool().await?);
    let first = ledger(&[
        record("A", Some("a"), Some("1"))?,
        record("B", Some("b"), Some("2"))?,
        LedgerUpdate::Settle,
    ]);
    store.save("s", &first).await?;
    let second = ledger(&[
        record("B", Some("b2"), None)?,
        record("C", None, Some("3"))?,
    ]);
    store.save("s", &second).await?;
    let loaded = store.load("s").await?;
    assert_eq!(
        loaded.as_ref(),
        Some(&second),
        "A gone, B replaced, C added"
    );
    assert!(
        loaded.is_some_and(|l| !l.is_settled()),
        "settled replaced too"
    );
    store.save("s", &Ledger::default()).await?;
    assert_eq!(store.load("s").await?, Some(Ledger::default()));
    db.finish().await
}

#[tokio::test]
async fn update_records_forgets_and_settles_as_the_ledger_does() -> Result<()> {
    let db = db!("state::update_records_forgets_and_settles_as_the_ledger_does");
    let store = PostgresStateStore::new(db.pool().await?);
    store.update("s", &[]).await?;
    assert_eq!(
        store.load("s").await?,
        Some(Ledger::default()),
        "an update creates the ledger: the sync is known to have run"
    );
    let mut model = Ledger::default();
    let mut rng = fastrand::Rng::with_seed(16);
    for round in 0..30 {
        let batch: Vec<LedgerUpdate> = (0..rng.usize(0..6))
            .map(|i| {
                let key = format!("K{}", rng.usize(0..8));
                match rng.u8(0..10) {
                    0 => Ok(LedgerUpdate::Settle),
                    1..=3 => Ok(LedgerUpdate::Forget { key }),
                    4 => record(&key, None, None),
                    _ => record(&key, Some(&format!("id-{round}-{i}")), Some("v")),
                }
            })
            .collect::<Result<_>>()?;
        for update in &batch {
            model.apply(update);
        }
        store.update("s", &batch).await?;
        assert_eq!(
            store.load("s").await?.as_ref(),
            Some(&model),
            "round {round}"
        );
    }
    assert_eq!(store.load("other").await?, None, "other syncs untouched");
    db.finish().await
}

#[tokio::test]
async fn an_unreadable_row_is_an_error_naming_the_sync_and_key_never_a_reset() -> Result<()> {
    let db = db!("state::an_unreadable_row_is_an_error_naming_the_sync_and_key_never_a_reset");
    let store = PostgresStateStore::new(db.pool().await?);
    let table = format!("\"{}\".ledger_entries", db.schema());
    for (case, bad) in [
        ("not-hex", "zz".repeat(32)),
        ("short", "abc".to_owned()),
        ("long", "a".repeat(66)),
        ("empty", String::new()),
    ] {
        let sync = format!("sync-{case}");
        let saved = ledger(&[
            record("GOOD", Some("g"), Some("1"))?,
            record("BROKEN_KEY", Some("b"), Some("2"))?,
        ]);
        store.save(&sync, &saved).await?;
        db.execute(&format!(
            "UPDATE {table} SET fingerprint = '{bad}' WHERE sync_id = '{sync}' AND key = 'BROKEN_KEY'"
        ))
        .await?;
        let err = store.load(&sync).await.expect_err(case);
        assert_eq!(err.kind(), ErrorKind::Unexpected, "{case}: {err}");
        assert_eq!(err.key(), Some("BROKEN_KEY"), "{case}");
        let text = err.to_string();
        assert!(
            text.contains(&sync) && text.contains("BROKEN_KEY") && text.contains("64 hex"),
            "{case}: {text}"
        );
        let row = db
            .admin()
            .await?
            .query_one(
                &format!(
                    "SELECT fingerprint FROM {table} WHERE sync_id = $1 AND key = 'BROKEN_KEY'"
                ),
                &[&sync],
            )
            .await
            .map_err(crate::support::fail)?;
        assert_eq!(
            row.get::<_, Option<String>>(0),
            Some(bad),
            "{case}: left alone"
        );
    }
    db.finish().await
}

#[tokio::test]
async fn a_sync_with_an_unreadable_ledger_fails_before_writing() -> Result<()> {
    let db = db!("state::a_sync_with_an_unreadable_ledger_fails_before_writing");
    let store = std::sync::Arc::new(PostgresStateStore::new(db.pool().await?));
    store
        .save("sync-1", &ledger(&[record("A", None, Some("1"))?]))
        .await?;
    db.execute(&format!(
        "UPDATE \"{}\".ledger_entries SET fingerprint = 'garbage'",
        db.schema()
    ))
    .await?;
    let dest = std::sync::Arc::new(MemoryDestination::builder().build());
    let syncer = Syncer::builder()
        .id("sync-1")
        .source(std::sync::Arc::new(StaticSource::new(
            SecretSet::new("dev").with("A", "1"),
        )))
        .destination(dest.clone())
        .state(store.clone(), crate::support::fingerprinter()?)
        .build()?;
    let err = syncer.sync().await.expect_err("the ledger is unreadable");
    assert_eq!(err.kind(), ErrorKind::Unexpected, "{err}");
    assert_eq!(dest.requests().writes(), 0);
    assert!(
        store.load("sync-1").await.is_err(),
        "still unreadable, not reset"
    );
    db.finish().await
}

#[tokio::test]
async fn the_destination_a_ledger_describes_is_kept_bound_and_refused_elsewhere() -> Result<()> {
    let db = db!("state::the_destination_a_ledger_describes_is_kept_bound_and_refused_elsewhere");
    let store = std::sync::Arc::new(PostgresStateStore::new(db.pool().await?));
    let staging = DestinationIdentity::new("memory").with("name", "staging");
    let bind = |destination: &DestinationIdentity| LedgerUpdate::Bind {
        destination: destination.clone(),
    };
    // A save keeps it; an update without a Bind keeps the one recorded.
    let saved = ledger(&[record("A", Some("a"), Some("1"))?, bind(&staging)]);
    store.save("s", &saved).await?;
    store.update("s", &[record("B", None, Some("2"))?]).await?;
    let other = PostgresStateStore::new(db.pool().await?);
    let loaded = other.load("s").await?.unwrap_or_default();
    assert_eq!(loaded.destination(), Some(&staging));
    assert_eq!(loaded.len(), 2);

    // A ledger from before the binding (NULL) loads, and an update binds it.
    store
        .save("old", &ledger(&[record("A", None, Some("1"))?]))
        .await?;
    assert_eq!(
        store
            .load("old")
            .await?
            .and_then(|l| l.destination().cloned()),
        None
    );
    store.update("old", &[bind(&staging)]).await?;
    let bound = store
        .load("old")
        .await?
        .and_then(|l| l.destination().cloned());
    assert_eq!(bound.as_ref(), Some(&staging));

    // The engine refuses it for another destination, before any write.
    let production = MemoryDestination::builder()
        .identity(DestinationIdentity::new("memory").with("name", "production"))
        .build();
    let syncer = Syncer::builder()
        .id("s")
        .source(std::sync::Arc::new(StaticSource::new(
            SecretSet::new("dev").with("A", "1"),
        )))
        .destination(std::sync::Arc::new(production.clone()))
        .state(store.clone(), crate::support::fingerprinter()?)
        .build()?;
    let err = syncer.sync().await.expect_err("bound elsewhere");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("memory:name=staging"), "{err}");
    assert_eq!(production.requests().writes(), 0);

    // An identity that cannot be read is an error, never a reset.
    db.execute(&format!(
        "UPDATE \"{}\".ledgers SET destination = 'no colon here' WHERE sync_id = 's'",
        db.schema()
    ))
    .await?;
    let err = store.load("s").await.expect_err("unreadable identity");
    assert!(err.to_string().contains("destination"), "{err}");
    db.finish().await
}
