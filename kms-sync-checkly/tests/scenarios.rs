//! Checkly scenarios from the issue, against the fake over loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID};
use kms_sync_checkly::{ChecklyConfig, ChecklyDestination};
use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore, Result, SecretSet,
    StaticSource, Syncer,
};
use kms_sync_testkit::{Aim, Fault};
use serde_json::json;

fn secrets(n: usize, changed: Option<usize>) -> SecretSet {
    let mut s = SecretSet::new("prod");
    for i in 0..n {
        let value = if Some(i) == changed {
            format!("v{i}-changed")
        } else {
            format!("v{i}")
        };
        s.insert(format!("S{i:03}"), value);
    }
    s
}

fn syncer(source: Arc<StaticSource>, dest: Arc<ChecklyDestination>) -> Result<Syncer> {
    Syncer::builder()
        .id("scenario")
        .source(source)
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![5; 32])?,
        )
        .build()
}

/// 230 account variables (3 pages of 100), 30 not ours; a resync with one change costs the
/// list pages and one write.
#[tokio::test]
async fn account_resync_with_one_change() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    for i in 0..30 {
        fake.seed_variable(&format!("OTHER_{i:02}"), "theirs", i % 2 == 0);
    }
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
    let source = Arc::new(StaticSource::new(secrets(200, None)));
    let s = syncer(source.clone(), dest.clone())?;
    assert_eq!(s.sync().await?.counts.created, 200);
    assert_eq!(fake.variables().len(), 230);
    source.replace(secrets(200, Some(42)))?;
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    let used = fake.faults().request_stats().since(&before);
    assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_S042"]);
    assert_eq!((used.get, used.put, used.total()), (3, 1, 4), "{used:?}");
    assert_eq!(
        report.requests, used,
        "the report counts what the service saw"
    );
    assert_eq!(
        fake.variables().get("KMS_S042"),
        Some(&("v42-changed".to_owned(), true))
    );
    Ok(())
}

/// Unmanaged non-secret group entries go back byte for byte; a resync with nothing changed
/// makes no PUT; a change makes exactly one GET of the group (the list, reused for the write
/// under the group's scope lock) and one PUT.
#[tokio::test]
async fn group_keeps_unmanaged_entries_byte_for_byte() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    let foreign = json!({"key": "ENVTEST", "value": "Hello world", "locked": true, "secret": false, "extra": {"kept": [1, 2]}});
    fake.seed_group_variable(id, foreign.clone());
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?);
    let source = Arc::new(StaticSource::new(secrets(3, None)));
    let s = syncer(source.clone(), dest.clone())?;
    s.sync().await?;
    let stored = fake.group_variables(id);
    assert_eq!(stored.len(), 4);
    assert_eq!(
        stored.iter().find(|v| v["key"] == "ENVTEST"),
        Some(&foreign)
    );
    let managed = stored
        .iter()
        .find(|v| v["key"] == "KMS_S001")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        managed,
        json!({"key": "KMS_S001", "value": "v1", "locked": false, "secret": true})
    );

    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    let used = fake.faults().request_stats().since(&before);
    assert_eq!((used.get, used.writes()), (1, 0), "{report}");
    assert_eq!(report.requests, used, "{report}");

    source.replace(secrets(3, Some(1)))?;
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    let used = fake.faults().request_stats().since(&before);
    // The list, the check read right before the PUT (Checkly has no version check of its
    // own; see the group module), and the PUT.
    assert_eq!((used.get, used.put, used.total()), (2, 1, 3), "{used:?}");
    assert_eq!(report.requests, used, "{report}");
    assert_eq!(report.keys_with(KeyStatus::Updated).len(), 3, "{report}");
    let stored = fake.group_variables(id);
    assert_eq!(
        stored.iter().find(|v| v["key"] == "ENVTEST"),
        Some(&foreign)
    );
    assert_eq!(
        stored
            .iter()
            .find(|v| v["key"] == "KMS_S001")
            .map(|v| v["value"].clone()),
        Some(json!("v1-changed"))
    );
    assert_eq!(
        stored
            .iter()
            .find(|v| v["key"] == "KMS_S002")
            .map(|v| v["value"].clone()),
        Some(json!("v2")),
        "hidden values re-sent, not lost"
    );
    Ok(())
}

#[tokio::test]
async fn group_with_an_unmanaged_secret_is_refused_with_zero_writes() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    fake.seed_group_variable(
        id,
        json!({"key": "THEIR_SECRET", "value": "keep-me", "locked": false, "secret": true}),
    );
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?);
    let report = syncer(Arc::new(StaticSource::new(secrets(2, None))), dest.clone())?
        .sync()
        .await?;
    assert_eq!(report.counts.failed, 2, "{report}");
    let err = report
        .key("KMS_S000")
        .and_then(|k| k.error.clone())
        .expect("failed");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("THEIR_SECRET"), "{err}");
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert_eq!(report.requests.writes(), 0, "{report}");
    assert_eq!(fake.group_variables(id).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_group_over_200_entries_is_refused_before_writing() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?);
    let report = syncer(
        Arc::new(StaticSource::new(secrets(201, None))),
        dest.clone(),
    )?
    .sync()
    .await?;
    assert_eq!(report.counts.failed, 201);
    let err = report
        .key("KMS_S000")
        .and_then(|k| k.error.clone())
        .expect("failed");
    assert!(
        err.to_string().contains("would hold 201 variables"),
        "{err}"
    );
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert_eq!(report.requests.writes(), 0, "{report}");
    Ok(())
}

#[tokio::test]
async fn rate_limited_mid_sync_finishes_complete() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
    let s = syncer(Arc::new(StaticSource::new(secrets(20, None))), dest)?;
    let plan = s.plan().await?;
    fake.faults().push([
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Fault::RateLimitedBare,
        Fault::RateLimitedUntil(Duration::from_secs(1)),
    ]);
    let report = s.apply(&plan).await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(fake.variables().len(), 20);
    Ok(())
}

#[tokio::test]
async fn a_wrong_account_id_is_named() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let other = "00000000-0000-4000-8000-000000000000";
    let dest = fake.destination(ChecklyConfig::account(other))?;
    let err = dest.validate_connection().await.expect_err("wrong account");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string().contains(other) && err.to_string().contains("Fake Company"),
        "{err}"
    );
    let err = dest.list().await.expect_err("wrong account header");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    fake.destination(ChecklyConfig::account(ACCOUNT_ID))?
        .validate_connection()
        .await?;
    Ok(())
}

#[tokio::test]
async fn non_secret_managed_variables_are_made_secret() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    fake.seed_variable("KMS_TOKEN", "same", false);
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("TOKEN", "same"),
    ));
    let report = syncer(source, dest)?.sync().await?;
    assert_eq!(
        report.keys_with(KeyStatus::Updated),
        ["KMS_TOKEN"],
        "{report}"
    );
    assert_eq!(
        fake.variables().get("KMS_TOKEN"),
        Some(&("same".to_owned(), true))
    );
    Ok(())
}

/// A group's scope lock is named by base URL, account and group id, the same whether the
/// group is configured by id or by name (resolved with one list of groups, once); the
/// account's variables have none.
#[tokio::test]
async fn the_group_scope_names_the_group_however_it_is_configured() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    fake.add_group("Other checks");
    let id = fake.add_group("API checks");
    let expected = format!(
        "checkly:{}:account:{ACCOUNT_ID}:group:{id}",
        fake.base_url().trim_end_matches('/')
    );
    let by_id = fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?;
    assert_eq!(by_id.exclusive_scope().await?, Some(expected.clone()));
    assert_eq!(fake.faults().count(), 0, "a configured id needs no request");

    let by_name =
        fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_name("api checks"))?;
    assert_eq!(by_name.exclusive_scope().await?, Some(expected.clone()));
    assert_eq!(by_name.exclusive_scope().await?, Some(expected));
    assert_eq!(
        fake.faults().request_stats().get,
        1,
        "the name is resolved once"
    );

    let account = fake.destination(ChecklyConfig::account(ACCOUNT_ID))?;
    assert_eq!(account.exclusive_scope().await?, None);

    let missing = fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_name("Nope"))?;
    let err = missing.exclusive_scope().await.expect_err("no such group");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("API checks"), "{err}");
    Ok(())
}

/// A plan applied after someone else changed the group fails whole as a conflict and
/// writes nothing (the write re-reads the group and compares it with the planned version);
/// the next sync keeps their change and converges.
#[tokio::test]
async fn a_plan_applied_after_the_group_changed_is_a_conflict() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?);
    let source = Arc::new(StaticSource::new(secrets(2, None)));
    let s = syncer(source.clone(), dest)?;
    assert!(s.sync().await?.is_success());

    source.replace(secrets(2, Some(0)))?;
    let plan = s.plan().await?;
    let late = json!({"key": "LATE", "value": "someone else", "locked": false, "secret": false});
    fake.seed_group_variable(id, late.clone());
    let before = fake.faults().request_stats();
    let report = s.apply(&plan).await?;
    let used = fake.faults().request_stats().since(&before);
    assert!(!report.is_success(), "{report}");
    assert_eq!(report.counts.failed, 2, "{report}");
    for key in ["KMS_S000", "KMS_S001"] {
        let err = report
            .key(key)
            .and_then(|k| k.error.clone())
            .expect("failed");
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
        assert!(
            err.to_string().contains("changed since it was listed"),
            "{err}"
        );
    }
    assert_eq!(used.writes(), 0, "{used:?}");

    let report = s.sync().await?;
    assert!(report.is_success(), "{report}");
    let stored = fake.group_variables(id);
    assert_eq!(stored.iter().find(|v| v["key"] == "LATE"), Some(&late));
    assert_eq!(
        stored
            .iter()
            .find(|v| v["key"] == "KMS_S000")
            .map(|v| v["value"].clone()),
        Some(json!("v0-changed"))
    );
    Ok(())
}

/// A create answered 409 (created elsewhere after the plan) becomes an update.
#[tokio::test]
async fn an_account_create_answered_409_becomes_an_update() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
    let s = syncer(
        Arc::new(StaticSource::new(
            SecretSet::new("prod").with("TOKEN", "ours"),
        )),
        dest,
    )?;
    let plan = s.plan().await?;
    fake.seed_variable("KMS_TOKEN", "theirs", true);
    let report = s.apply(&plan).await?;
    assert!(report.is_success(), "{report}");
    let key = report.key("KMS_TOKEN").expect("reported");
    assert_eq!(key.status, KeyStatus::Created, "{report}");
    assert!(
        key.note
            .as_deref()
            .is_some_and(|n| n.contains("updated instead")),
        "{report}"
    );
    assert_eq!(
        (report.requests.post, report.requests.put),
        (1, 1),
        "{report}"
    );
    assert_eq!(
        fake.variables().get("KMS_TOKEN"),
        Some(&("ours".to_owned(), true))
    );
    Ok(())
}

/// A create whose 2xx answer cannot be read is unconfirmed, and nothing else is tried for
/// it (no update); the next sync writes it again and converges.
#[tokio::test]
async fn an_unconfirmed_account_create_is_not_retried_as_an_update() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
    let s = syncer(
        Arc::new(StaticSource::new(
            SecretSet::new("prod").with("TOKEN", "ours"),
        )),
        dest,
    )?;
    fake.faults().push_aimed(Aim::Writes, Fault::Malformed);
    let report = s.sync().await?;
    assert_eq!(
        report.keys_with(KeyStatus::Unconfirmed),
        ["KMS_TOKEN"],
        "{report}"
    );
    let err = report
        .key("KMS_TOKEN")
        .and_then(|k| k.error.clone())
        .expect("error");
    assert_eq!(err.kind(), ErrorKind::Unconfirmed, "{err}");
    assert_eq!(
        (report.requests.post, report.requests.writes()),
        (1, 1),
        "{report}"
    );

    let report = s.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report.keys_with(KeyStatus::Updated),
        ["KMS_TOKEN"],
        "{report}"
    );
    assert_eq!(
        fake.variables().get("KMS_TOKEN"),
        Some(&("ours".to_owned(), true))
    );
    Ok(())
}

/// Bodies a write may be answered with that are not Checkly's documented answer (issue 22):
/// they confirm nothing.
const NOT_THE_ANSWER: &[&[u8]] = &[
    b"{}",
    br#"{"ok":true}"#,
    br#"{"key":"SOMEONE_ELSE","value":"x","locked":false,"secret":true}"#,
];

/// An account create or update answered 200 with JSON that is not the variable written is
/// unconfirmed; nothing is recorded, and the next sync writes it again and converges.
#[tokio::test]
async fn an_account_write_answered_with_another_shape_is_unconfirmed() -> Result<()> {
    for body in NOT_THE_ANSWER {
        let fake = FakeChecklyServer::start().await;
        let dest = Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID))?);
        let source = Arc::new(StaticSource::new(
            SecretSet::new("prod").with("TOKEN", "first"),
        ));
        let s = syncer(source.clone(), dest)?;
        for value in ["first", "second"] {
            source.replace(SecretSet::new("prod").with("TOKEN", value))?;
            fake.faults()
                .push_aimed(Aim::Writes, Fault::Body(body.to_vec()));
            let report = s.sync().await?;
            let shown = String::from_utf8_lossy(body);
            assert_eq!(
                report.keys_with(KeyStatus::Unconfirmed),
                ["KMS_TOKEN"],
                "{shown}: {report}"
            );
            let report = s.sync().await?;
            assert!(report.is_success(), "{shown}: {report}");
            assert_eq!(
                fake.variables().get("KMS_TOKEN"),
                Some(&(value.to_owned(), true)),
                "{shown}"
            );
        }
    }
    Ok(())
}

/// A group PUT answered 200 with JSON that is not that group is unconfirmed.
#[tokio::test]
async fn a_group_write_answered_with_another_shape_is_unconfirmed() -> Result<()> {
    let other_group = br#"{"id":999999,"name":"Other","activated":true}"#;
    for body in NOT_THE_ANSWER.iter().copied().chain([&other_group[..]]) {
        let fake = FakeChecklyServer::start().await;
        let id = fake.add_group("API checks");
        let dest =
            Arc::new(fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?);
        let s = syncer(Arc::new(StaticSource::new(secrets(2, None))), dest)?;
        fake.faults()
            .push_aimed(Aim::Writes, Fault::Body(body.to_vec()));
        let report = s.sync().await?;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(report.counts.unconfirmed, 2, "{shown}: {report}");
        let report = s.sync().await?;
        assert!(report.is_success(), "{shown}: {report}");
        assert_eq!(fake.group_variables(id).len(), 2, "{shown}");
    }
    Ok(())
}
