//! TLS to the local server, whose certificate (Debian's snakeoil, `DNS:localhost`) is
//! trusted only when added as a root: verified TLS works, an unknown certificate is refused.

use std::time::Duration;

use kms_sync_core::*;
use kms_sync_fleet::{PgPool, TlsMode};

use crate::support::fail;

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

#[tokio::test]
async fn verified_tls_with_an_added_root_and_refusal_without_it() -> Result<()> {
    let db = db!("tls::verified_tls_with_an_added_root_and_refusal_without_it");
    let admin = db.admin().await?;
    let ssl = admin.query_one("SHOW ssl", &[]).await.map_err(fail)?;
    let Ok(pem) = std::fs::read(SNAKEOIL) else {
        eprintln!("no {SNAKEOIL} on this machine: the TLS test has nothing to trust");
        return db.finish().await;
    };
    if ssl.get::<_, String>(0) != "on" {
        eprintln!("the server's ssl is off: the TLS test has nothing to connect to");
        return db.finish().await;
    }
    let url = db.url().replacen("127.0.0.1", "localhost", 1);
    let name = format!("kms-sync tls {:08x}", fastrand::u32(..));
    let config = db
        .config()
        .url(&url)
        .tls(TlsMode::Require)
        .tls_root_pem(pem)
        .application_name(&name);
    let pool = PgPool::connect(config.build()?).await?;
    let row = admin
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .map_err(fail)?;
    assert_eq!(
        row.get::<_, Option<bool>>(0),
        Some(true),
        "every connection encrypted"
    );
    drop(pool);

    let untrusted = db
        .config()
        .url(&url)
        .tls(TlsMode::Require)
        .connect_timeout(Duration::from_secs(3))
        .build()?;
    let err = crate::support::unavailable(untrusted, "unknown issuer").await;
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    db.finish().await
}
