//! The KMS source against the fake KMS over loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{
    DeletionGuard, ErrorKind, MemoryDestination, Result, SecretSource, SyncOptions, Syncer,
};
use kms_sync_hanzo::fake::{FakeKms, CLIENT_SECRET, PROJECT_ID};
use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
use kms_sync_testkit::LogCapture;

fn value(set: &kms_sync_core::SecretSet, key: &str) -> Option<String> {
    set.get(key).map(|v| v.expose_secret().to_owned())
}

#[tokio::test]
async fn login_once_then_reuse_the_token() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "DB_URL", "postgres://db");
    let source = kms.source("prod", "/");
    let set = source.load().await?;
    assert_eq!(value(&set, "DB_URL").as_deref(), Some("postgres://db"));
    assert_eq!(set.environment(), "prod");
    source.load().await?;
    assert_eq!(kms.auth_counts(), (1, 0));
    assert_eq!(source.describe(), "hanzo:backend:prod:/");
    Ok(())
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire_and_replaced_when_refused() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    kms.set_token_lifetime(Duration::from_secs(4), Duration::from_secs(3_600));
    let source = kms.source("prod", "/");
    source.load().await?;
    // Past ¾ of the 4 s lifetime (3 s), with 0.8 s to spare before it ends.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    source.load().await?;
    assert_eq!(kms.auth_counts(), (1, 1), "renewed, not logged in again");
    // A revoked token: the source logs in again once and carries on.
    kms.revoke_tokens();
    source.load().await?;
    assert_eq!(kms.auth_counts(), (2, 1));
    Ok(())
}

#[tokio::test]
async fn a_token_at_its_max_ttl_is_replaced_by_a_login() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    // Each token lives 2 s and the identity allows 2 s in all: renewal is never possible.
    kms.set_token_lifetime(Duration::from_secs(2), Duration::from_secs(2));
    let source = kms.source("prod", "/");
    source.load().await?;
    source.load().await?;
    assert_eq!(kms.auth_counts(), (1, 0), "a fresh token is reused");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    source.load().await?;
    assert_eq!(
        kms.auth_counts(),
        (2, 0),
        "logged in again instead of a renewal bound to fail"
    );
    Ok(())
}

#[tokio::test]
async fn local_secrets_win_and_the_last_import_wins() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "local");
    kms.set("prod", "/common", "A", "first-import");
    kms.set("prod", "/common", "B", "first-import");
    kms.set("prod", "/common", "C", "first-import");
    kms.set("shared", "/", "B", "second-import");
    kms.add_import("prod", "/", "prod", "/common");
    kms.add_import("prod", "/", "shared", "/");
    let set = kms.source("prod", "/").load().await?;
    assert_eq!(value(&set, "A").as_deref(), Some("local"));
    assert_eq!(value(&set, "B").as_deref(), Some("second-import"));
    assert_eq!(value(&set, "C").as_deref(), Some("first-import"));
    assert_eq!(set.len(), 3);
    Ok(())
}

#[tokio::test]
async fn references_are_expanded() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "HOST", "db.internal");
    kms.set("prod", "/", "URL", "postgres://${HOST}/app");
    kms.set("dev", "/db", "PASSWORD", "pw");
    kms.set("prod", "/", "DEV_PW", "${dev.db.PASSWORD}");
    let set = kms.source("prod", "/").load().await?;
    assert_eq!(
        value(&set, "URL").as_deref(),
        Some("postgres://db.internal/app")
    );
    assert_eq!(value(&set, "DEV_PW").as_deref(), Some("pw"));
    Ok(())
}

/// A reference the KMS cannot expand stops the source, and a sync on top of it writes and
/// deletes nothing.
#[tokio::test]
async fn a_broken_reference_fails_closed() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "GOOD", "1");
    kms.set("prod", "/", "BROKEN", "x-${MISSING}-y");
    let source = Arc::new(kms.source("prod", "/"));
    let err = source.load().await.expect_err("broken reference");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert_eq!(err.keys(), ["BROKEN"]);
    assert!(err.to_string().contains("could not be expanded"), "{err}");

    let dest = Arc::new(MemoryDestination::builder().build());
    dest.insert("OLD", "keep")?;
    let syncer = Syncer::builder()
        .source(source)
        .destination(dest.clone())
        .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()))
        .build()?;
    let err = syncer.sync().await.expect_err("source fails");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert_eq!(dest.requests().writes(), 0);
    assert!(dest.value("OLD")?.is_some());

    // Opting in accepts the literal text.
    let lenient = kms
        .source_builder("prod", "/")
        .allow_unresolved_references(true)
        .build()?;
    assert_eq!(
        value(&lenient.load().await?, "BROKEN").as_deref(),
        Some("x-${MISSING}-y")
    );
    Ok(())
}

#[tokio::test]
async fn revision_follows_the_source() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "HOST", "a");
    kms.set("prod", "/", "URL", "https://${HOST}");
    let source = kms.source("prod", "/");
    let r1 = source.revision().await?;
    assert!(r1.is_some());
    assert_eq!(
        source.revision().await?,
        r1,
        "an untouched source keeps its revision"
    );
    kms.set("prod", "/", "NEW", "x");
    let r2 = source.revision().await?;
    assert_ne!(r2, r1);
    // A referenced secret changing changes the revision too (the expanded value changed).
    kms.set("prod", "/", "HOST", "b");
    assert_ne!(source.revision().await?, r2);
    Ok(())
}

#[tokio::test]
async fn revision_asks_with_the_etag_and_a_304_keeps_the_revision() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    let source = kms.source("prod", "/");
    let r1 = source.revision().await?;
    assert_eq!(
        kms.list_reads(),
        (1, 0),
        "the first read has no ETag to send"
    );
    assert_eq!(source.revision().await?, r1);
    assert_eq!(source.revision().await?, r1);
    assert_eq!(kms.list_reads(), (1, 2), "unchanged: 304s, no body");
    let sent = kms
        .faults()
        .log()
        .iter()
        .filter(|r| r.has_header("if-none-match"))
        .count();
    assert_eq!(sent, 2, "If-None-Match on the conditional reads only");
    kms.set("prod", "/", "A", "2");
    let r2 = source.revision().await?;
    assert_ne!(r2, r1, "a change answers 200 with a new ETag");
    assert_eq!(kms.list_reads(), (2, 2));
    // A load always reads the body (never a cached set), and refreshes the ETag.
    kms.set("prod", "/", "A", "3");
    let set = source.load().await?;
    assert_eq!(value(&set, "A").as_deref(), Some("3"));
    assert_eq!(kms.list_reads(), (3, 2));
    let r3 = source.revision().await?;
    assert_ne!(r3, r2);
    assert_eq!(kms.list_reads(), (3, 3), "the load's ETag made this a 304");
    Ok(())
}

#[tokio::test]
async fn sources_at_other_folders_share_the_login_and_a_revision_key_is_fleet_wide() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    kms.set("prod", "/api", "B", "2");
    let root = kms
        .source_builder("prod", "/")
        .revision_key([9; 32])
        .build()?;
    let api = root.at(KmsLocation::new(
        ProjectRef::Id(PROJECT_ID.into()),
        "prod",
        "/api",
    )?);
    assert_eq!(api.location().secret_path(), "/api");
    assert_eq!(value(&api.load().await?, "B").as_deref(), Some("2"));
    assert_eq!(value(&root.load().await?, "A").as_deref(), Some("1"));
    assert_eq!(kms.auth_counts(), (1, 0), "one login for both folders");
    // Another process with the same key computes the same revision; without it, not.
    let same_key = kms
        .source_builder("prod", "/")
        .revision_key([9; 32])
        .build()?;
    let own_key = kms.source("prod", "/");
    assert_eq!(same_key.revision().await?, root.revision().await?);
    assert_ne!(own_key.revision().await?, root.revision().await?);
    assert!(!format!(
        "{:?}",
        kms.source_builder("prod", "/").revision_key([9; 32])
    )
    .contains("9, 9"));
    Ok(())
}

#[tokio::test]
async fn a_missing_folder_and_wrong_credentials_are_clear() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    let err = kms
        .source("prod", "/nope")
        .load()
        .await
        .expect_err("missing folder");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("'/nope'"), "{err}");

    let location = KmsLocation::new(ProjectRef::Id(PROJECT_ID.into()), "prod", "/")?;
    let wrong = HanzoSource::builder(
        KmsAuth::universal("fake-identity-client-id", "not-the-secret"),
        location,
    )
    .settings(kms_sync_testkit::fake_client_settings(kms.base_url()))
    .build()?;
    let err = wrong.load().await.expect_err("wrong secret");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert!(
        err.to_string().contains("environment and secret path"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("not-the-secret"));
    Ok(())
}

#[tokio::test]
async fn the_client_secret_and_tokens_never_reach_errors_or_logs() -> Result<()> {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    kms.set("prod", "/", "BROKEN", "${MISSING}");
    let source = kms.source("prod", "/");
    let mut shown = vec![format!("{source:?}")];
    if let Err(e) = source.load().await {
        shown.push(format!("{e} {e:?}"));
    }
    kms.revoke_tokens();
    if let Err(e) = kms.source("prod", "/missing").load().await {
        shown.push(format!("{e} {e:?}"));
    }
    let logs = capture.text();
    assert!(
        logs.contains("api/v3/secrets/raw"),
        "the capture sees requests:\n{logs}"
    );
    for text in shown.iter().chain([&logs]) {
        assert!(
            !text.contains(CLIENT_SECRET),
            "client secret leaked: {text}"
        );
        assert!(!text.contains("fake-access-"), "token leaked: {text}");
    }
    Ok(())
}

#[tokio::test]
async fn a_malformed_or_truncated_answer_is_an_error_not_a_smaller_set() -> Result<()> {
    let kms = FakeKms::start().await;
    kms.set("prod", "/", "A", "1");
    kms.set("prod", "/", "B", "2");
    let source = kms.source("prod", "/");
    source.load().await?; // logged in; the next request is the list
    for fault in [
        kms_sync_testkit::Fault::Malformed,
        kms_sync_testkit::Fault::Truncated,
    ] {
        kms.faults().push([fault.clone()]);
        let err = source.load().await.expect_err("broken body");
        assert_eq!(err.kind(), ErrorKind::Source, "{fault:?}: {err}");
        assert!(err.to_string().contains("not the expected JSON"), "{err}");
    }
    Ok(())
}
