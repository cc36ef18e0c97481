//! Bitbucket scenarios from the issue, against the fake over loopback HTTP.

use std::sync::Arc;
use std::time::Duration;

use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::{BitbucketConfig, BitbucketConnection, BitbucketDestination};
use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore, Result, SecretSet,
    StaticSource, SyncOptions, Syncer,
};
use kms_sync_testkit::{Aim, Fault};

fn repo() -> BitbucketConfig {
    BitbucketConfig::repository(WORKSPACE, REPOSITORY)
}

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

fn syncer(
    source: Arc<StaticSource>,
    dest: Arc<BitbucketDestination>,
    store: Arc<MemoryStateStore>,
) -> Result<Syncer> {
    Syncer::builder()
        .id("scenario")
        .source(source)
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(store, Fingerprinter::new(vec![9; 32])?)
        .build()
}

/// 250 variables (3 pages of 100), 40 of them not ours; one sync, then a resync with one change
/// costs exactly the list pages and one PUT.
#[tokio::test]
async fn resync_with_one_change_costs_the_pages_and_one_put() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    for i in 0..40 {
        fake.seed(
            WORKSPACE,
            REPOSITORY,
            None,
            &format!("OTHER_{i:02}"),
            "theirs",
            i % 2 == 0,
        );
    }
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(secrets(210, None)));
    let store = Arc::new(MemoryStateStore::default());
    let s = syncer(source.clone(), dest.clone(), store)?;
    let first = s.sync().await?;
    assert_eq!(first.counts.created, 210, "{first}");
    assert_eq!(fake.variables(WORKSPACE, REPOSITORY, None).len(), 250);

    source.replace(secrets(210, Some(7)))?;
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    let used = report.requests;
    assert_eq!(
        fake.faults().request_stats().since(&before),
        used,
        "the report counts what the service received"
    );
    assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_S007"]);
    assert_eq!(used.get, 3, "250 variables are 3 pages of 100");
    assert_eq!(used.put, 1);
    assert_eq!(used.total(), 4, "{used:?}");
    let vars = fake.variables(WORKSPACE, REPOSITORY, None);
    assert_eq!(
        vars.get("KMS_S007").map(|(v, s)| (v.as_str(), *s)),
        Some(("v7-changed", true))
    );
    assert_eq!(
        vars.get("OTHER_03").map(|(v, _)| v.as_str()),
        Some("theirs")
    );
    Ok(())
}

/// A key created by someone else between our list and our POST: 409, re-list, PUT.
#[tokio::test]
async fn a_post_409_race_is_resolved_by_updating() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("RACE", "ours"),
    ));
    let s = syncer(source, dest, Arc::new(MemoryStateStore::default()))?;
    let plan = s.plan().await?;
    assert_eq!(plan.counts().create, 1);
    fake.seed(
        WORKSPACE,
        REPOSITORY,
        None,
        "KMS_RACE",
        "someone-elses",
        true,
    );
    let report = s.apply(&plan).await?;
    assert!(report.is_success(), "{report}");
    let line = report.key("KMS_RACE").expect("reported");
    assert_eq!(line.status, KeyStatus::Created);
    assert!(
        line.note
            .as_deref()
            .is_some_and(|n| n.contains("updated instead")),
        "{line:?}"
    );
    let vars = fake.variables(WORKSPACE, REPOSITORY, None);
    assert_eq!(vars.get("KMS_RACE").map(|(v, _)| v.as_str()), Some("ours"));
    assert_eq!(vars.len(), 1, "no duplicate");
    Ok(())
}

/// A write whose answer is lost is reported unconfirmed: never retried as a POST, and never
/// mistaken for a 409 or 404 to recover from (no re-list, no PUT).
#[tokio::test]
async fn an_unconfirmed_write_is_not_recovered_from() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("LOST", "v")));
    let s = syncer(source, dest, Arc::new(MemoryStateStore::default()))?;
    let plan = s.plan().await?;
    let mark = fake.faults().count();
    fake.faults().push_aimed(
        Aim::Request {
            method: "POST".to_owned(),
            prefix: "/".to_owned(),
        },
        Fault::Drop,
    );
    let report = s.apply(&plan).await?;
    let line = report.key("KMS_LOST").expect("reported");
    assert_eq!(line.status, KeyStatus::Unconfirmed, "{report}");
    assert_eq!(
        line.error.as_ref().map(|e| e.kind()),
        Some(ErrorKind::Unconfirmed)
    );
    let sent: Vec<String> = fake.faults().log()[mark..]
        .iter()
        .map(|r| r.method.clone())
        .collect();
    let writes: Vec<&String> = sent.iter().filter(|m| *m != "GET").collect();
    assert_eq!(writes, ["POST"], "one POST, no retry, no PUT: {sent:?}");
    assert_eq!(
        sent.last().map(String::as_str),
        Some("POST"),
        "no re-list after it: {sent:?}"
    );
    Ok(())
}

/// The 409 recovery's PUT answered with a body that cannot be read: unconfirmed, not
/// "updated instead".
#[tokio::test]
async fn an_unconfirmed_recovery_put_is_reported_unconfirmed() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("RACE", "ours"),
    ));
    let s = syncer(source, dest, Arc::new(MemoryStateStore::default()))?;
    let plan = s.plan().await?;
    fake.seed(WORKSPACE, REPOSITORY, None, "KMS_RACE", "theirs", true);
    fake.faults().push_aimed(
        Aim::Request {
            method: "PUT".to_owned(),
            prefix: "/".to_owned(),
        },
        Fault::Malformed,
    );
    let report = s.apply(&plan).await?;
    assert!(!report.is_success(), "{report}");
    let line = report.key("KMS_RACE").expect("reported");
    assert_eq!(line.status, KeyStatus::Unconfirmed, "{report}");
    assert_eq!(line.note, None, "{line:?}");
    Ok(())
}

/// An unsecured variable under a managed key is re-created secured, and the report says so.
#[tokio::test]
async fn unsecured_managed_variables_are_recreated_secured() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    fake.seed(
        WORKSPACE,
        REPOSITORY,
        None,
        "KMS_TOKEN",
        "same-value",
        false,
    );
    fake.seed(WORKSPACE, REPOSITORY, None, "PLAIN", "visible", false);
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("TOKEN", "same-value"),
    ));
    let s = syncer(source, dest, Arc::new(MemoryStateStore::default()))?;
    let report = s.sync().await?;
    let line = report.key("KMS_TOKEN").expect("reported");
    assert_eq!(line.status, KeyStatus::Updated, "{report}");
    assert_eq!(
        line.note.as_deref(),
        Some("was unsecured; re-created as secured")
    );
    let vars = fake.variables(WORKSPACE, REPOSITORY, None);
    assert_eq!(
        vars.get("KMS_TOKEN"),
        Some(&("same-value".to_owned(), true))
    );
    assert_eq!(
        vars.get("PLAIN"),
        Some(&("visible".to_owned(), false)),
        "foreign unsecured untouched"
    );
    let again = s.sync().await?;
    assert_eq!(again.requests.writes(), 0, "{again}");
    Ok(())
}

#[tokio::test]
async fn bad_credentials_and_missing_scopes_are_clear() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let wrong = BitbucketDestination::builder(
        BitbucketConnection::new("fake-user@example.com", "wrong-token")?,
        repo(),
    )
    .with_base_url(fake.base_url())
    .build()?;
    let err = wrong.validate_connection().await.expect_err("bad token");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert!(err.to_string().contains("email and the API token"), "{err}");
    assert!(!format!("{err} {err:?}").contains("wrong-token"));
    let err = wrong.list().await.expect_err("bad token");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);

    fake.set_scopes(&["read:user:bitbucket", "read:pipeline:bitbucket"]);
    let dest = Arc::new(fake.destination(repo())?);
    dest.validate_connection().await?;
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    let report = syncer(source, dest, Arc::new(MemoryStateStore::default()))?
        .sync()
        .await?;
    let err = report
        .key("KMS_A")
        .and_then(|k| k.error.clone())
        .expect("failed");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string()
            .contains("required admin:pipeline:bitbucket"),
        "{err}"
    );
    Ok(())
}

/// 429 with Retry-After in the middle of a sync: it waits, and every key lands.
#[tokio::test]
async fn rate_limited_mid_sync_still_syncs_every_key() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(secrets(30, None)));
    let s = syncer(source, dest, Arc::new(MemoryStateStore::default()))?;
    let plan = s.plan().await?;
    // The next three requests (POSTs of the apply) are answered 429, in each form.
    fake.faults().push([
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Fault::RateLimitedUntil(Duration::from_secs(1)),
        Fault::RateLimitedBare,
    ]);
    let report = s.apply(&plan).await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.counts.created, 30);
    assert_eq!(fake.variables(WORKSPACE, REPOSITORY, None).len(), 30);
    assert!(
        fake.faults()
            .log()
            .iter()
            .filter(|r| r.status == 429)
            .count()
            >= 3
    );
    Ok(())
}

#[tokio::test]
async fn invalid_keys_make_zero_writes() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("GOOD", "1")
            .with("BAD-KEY", "2")
            .with("ALSO BAD", "3"),
    ));
    let s = Syncer::builder()
        .source(source)
        .destination(dest.clone())
        .build()?;
    let err = s.sync().await.expect_err("invalid keys");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(err.keys(), ["ALSO BAD", "BAD-KEY"]);
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert!(fake.variables(WORKSPACE, REPOSITORY, None).is_empty());
    Ok(())
}

#[tokio::test]
async fn reserved_names_warn_in_the_plan() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("CI", "1")
            .with("BITBUCKET_BRANCH", "2")
            .with("OK", "3"),
    ));
    let s = Syncer::builder().source(source).destination(dest).build()?;
    let plan = s.plan().await?;
    let warned: Vec<&str> = plan.warnings().iter().map(|w| w.key.as_str()).collect();
    assert_eq!(warned, ["BITBUCKET_BRANCH", "CI"]);
    Ok(())
}

#[tokio::test]
async fn an_unknown_environment_name_lists_the_ones_there() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    fake.add_environment(WORKSPACE, REPOSITORY, "Staging");
    let dest = fake.destination(repo().with_environment("Prod"))?;
    let err = dest.list().await.expect_err("no such environment");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("there are: Staging"), "{err}");
    // By slug, case-insensitively, and by uuid with or without braces.
    let uuid = fake.add_environment(WORKSPACE, REPOSITORY, "Production");
    fake.seed(WORKSPACE, REPOSITORY, Some(&uuid), "X", "1", true);
    for config in [
        repo().with_environment("production"),
        repo().with_environment_id(uuid.trim_matches(|c| c == '{' || c == '}')),
        repo().with_environment_id(uuid.clone()),
    ] {
        let snapshot = fake.destination(config)?.list().await?;
        assert_eq!(snapshot.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn an_empty_value_is_refused_before_any_write() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("EMPTY", "").with("FULL", "x"),
    ));
    let err = Syncer::builder()
        .source(source)
        .destination(dest.clone())
        .options(SyncOptions::default())
        .build()?
        .sync()
        .await
        .expect_err("empty");
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert_eq!(err.keys(), ["EMPTY"]);
    assert_eq!(fake.faults().request_stats().writes(), 0);
    Ok(())
}

/// A create or update answered 200 with JSON that is not the variable written (issue 22):
/// `{}`, `{"ok":true}`, another key's variable. Unconfirmed, and the next sync converges.
#[tokio::test]
async fn a_write_answered_with_another_shape_is_unconfirmed() -> Result<()> {
    let bodies: [&[u8]; 3] = [
        b"{}",
        br#"{"ok":true}"#,
        br#"{"type":"pipeline_variable","uuid":"{1}","key":"SOMEONE_ELSE","secured":true}"#,
    ];
    for body in bodies {
        let fake = FakeBitbucket::start().await;
        let dest = Arc::new(fake.destination(repo())?);
        let source = Arc::new(StaticSource::new(SecretSet::new("prod")));
        let s = syncer(source.clone(), dest, Arc::new(MemoryStateStore::default()))?;
        let shown = String::from_utf8_lossy(body);
        for value in ["first", "second"] {
            source.replace(SecretSet::new("prod").with("TOKEN", value))?;
            fake.faults()
                .push_aimed(Aim::Writes, Fault::Body(body.to_vec()));
            let report = s.sync().await?;
            assert_eq!(
                report.keys_with(KeyStatus::Unconfirmed),
                ["KMS_TOKEN"],
                "{shown}: {report}"
            );
            let report = s.sync().await?;
            assert!(report.is_success(), "{shown}: {report}");
            let vars = fake.variables(WORKSPACE, REPOSITORY, None);
            assert_eq!(
                vars.get("KMS_TOKEN").map(|(v, _)| v.as_str()),
                Some(value),
                "{shown}"
            );
        }
    }
    Ok(())
}
