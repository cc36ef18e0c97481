//! The credentials canary: no secret value, HMAC key or database password lands in any
//! table, nor in the application name or a `Debug` of the crate's types.

use std::sync::Arc;

use kms_sync_core::*;
use kms_sync_postgres::{PgPool, PostgresScopeLocks, PostgresStateStore};

use crate::support::fail;

const VALUE: &str = "value-CANARY-5f0c1e";
const HMAC_KEY: &[u8] = b"hmac-key-CANARY-0123456789abcdef";
const PASSWORD: &str = "password-CANARY-9d2a";

/// Every row of every table in the schema, as text.
async fn every_row(db: &crate::support::TestDb) -> Result<Vec<String>> {
    let admin = db.admin().await?;
    let tables = admin
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1",
            &[&db.schema()],
        )
        .await
        .map_err(fail)?;
    let mut rows = Vec::new();
    for table in tables {
        let name: String = table.get(0);
        let sql = format!("SELECT t::text FROM \"{}\".\"{name}\" t", db.schema());
        for row in admin.query(&sql, &[]).await.map_err(fail)? {
            rows.push(format!("{name}: {}", row.get::<_, String>(0)));
        }
    }
    Ok(rows)
}

#[tokio::test]
async fn no_value_hmac_key_or_password_lands_in_any_table() -> Result<()> {
    let db = db!("canary::no_value_hmac_key_or_password_lands_in_any_table");
    // Trust authentication ignores the password; it is still parsed, kept and must not leak.
    let url = db
        .url()
        .replacen("://postgres@", &format!("://postgres:{PASSWORD}@"), 1);
    let config = db
        .config()
        .url(url)
        .application_name("kms-sync canary")
        .build()?;
    let pool = PgPool::connect(config.clone()).await?;
    let store = Arc::new(PostgresStateStore::new(pool.clone()));
    let locks = Arc::new(PostgresScopeLocks::new(pool.clone()));
    let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("API_KEY", VALUE)
            .with("OTHER", VALUE),
    ));
    let syncer = Syncer::builder()
        .id("ledger-sync")
        .source(source.clone())
        .destination(dest)
        .state(store.clone(), Fingerprinter::new(HMAC_KEY.to_vec())?)
        .scope_locks(locks.clone())
        .build()?;
    assert!(syncer.sync().await?.is_success());
    source.set("API_KEY", format!("{VALUE}-2"))?;
    assert!(syncer.sync().await?.is_success());
    let _held = locks
        .lock("canary-scope", std::time::Duration::from_secs(5))
        .await?;

    let rows = every_row(&db).await?;
    assert!(
        rows.iter().any(|r| r.contains("API_KEY")),
        "the ledger was written: {rows:?}"
    );
    let hex_key: String = HMAC_KEY.iter().map(|b| format!("{b:02x}")).collect();
    let hex_value: String = VALUE.bytes().map(|b| format!("{b:02x}")).collect();
    for row in &rows {
        let lower = row.to_lowercase();
        for canary in ["canary", hex_key.as_str(), hex_value.as_str()] {
            assert!(!lower.contains(canary), "`{canary}` found in {row}");
        }
    }
    let names = db
        .admin()
        .await?
        .query(
            "SELECT coalesce(application_name, '') FROM pg_stat_activity",
            &[],
        )
        .await
        .map_err(fail)?;
    for name in names.iter().map(|r| r.get::<_, String>(0)) {
        assert!(!name.contains(PASSWORD), "{name}");
    }
    for shown in [
        format!("{config:?}"),
        config.to_string(),
        format!("{pool:?}"),
        format!("{store:?}"),
        format!("{locks:?}"),
    ] {
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
    db.finish().await
}
