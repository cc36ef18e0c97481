//! GitHub scenarios from the issue, against the fake over loopback HTTP.

use std::sync::Arc;

use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore, PlanReason, Result,
    SecretSet, StaticSource, Syncer,
};
use kms_sync_github::fake::{FakeGithub, ENVIRONMENT, ORG, OWNER, REPO, REPO_ID};
use kms_sync_github::{GithubConfig, GithubConnection, GithubDestination, Visibility};
use kms_sync_testkit::{Aim, Fault};
use serde_json::json;

fn repo() -> GithubConfig {
    GithubConfig::repository(OWNER, REPO)
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

fn syncer(source: Arc<StaticSource>, dest: Arc<GithubDestination>, ledger: bool) -> Result<Syncer> {
    syncer_with("KMS_{{secretKey}}", source, dest, ledger)
}

fn syncer_with(
    schema: &str,
    source: Arc<StaticSource>,
    dest: Arc<GithubDestination>,
    ledger: bool,
) -> Result<Syncer> {
    let builder = Syncer::builder()
        .id("scenario")
        .source(source)
        .destination(dest)
        .key_schema_template(schema);
    let builder = if ledger {
        builder.state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![9; 32])?,
        )
    } else {
        builder
    };
    builder.build()
}

/// 250 organization secrets (3 pages of 100), 40 of them not ours: the first sync reads the
/// public key once; a resync with one change costs the pages, the key and one PUT.
#[tokio::test]
async fn resync_with_a_ledger_costs_the_pages_the_key_and_one_put() -> Result<()> {
    let fake = FakeGithub::start().await;
    for i in 0..40 {
        fake.seed_org(ORG, &format!("OTHER_{i:02}"), "theirs");
    }
    let config = GithubConfig::organization(ORG, Visibility::All);
    let dest = Arc::new(fake.destination(config)?);
    let source = Arc::new(StaticSource::new(secrets(210, None)));
    let s = syncer(source.clone(), dest, true)?;
    let first = s.sync().await?;
    assert_eq!(first.counts.created, 210, "{first}");
    assert_eq!(
        first.requests.get, 2,
        "one list page, one public key: {:?}",
        first.requests
    );
    assert_eq!(fake.org_secrets(ORG).len(), 250);

    source.replace(secrets(210, Some(7)))?;
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    assert_eq!(
        fake.faults().request_stats().since(&before),
        report.requests
    );
    assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_S007"]);
    assert_eq!(report.requests.get, 4, "3 pages of 100 and the public key");
    assert_eq!(report.requests.put, 1);
    assert_eq!(report.requests.total(), 5, "{:?}", report.requests);
    let stored = fake.org_secrets(ORG);
    assert_eq!(
        stored.get("KMS_S007").map(String::as_str),
        Some("v7-changed")
    );
    assert_eq!(stored.get("OTHER_03").map(String::as_str), Some("theirs"));
    Ok(())
}

/// Without a ledger nothing tells an unchanged value from a changed one: every run
/// rewrites every value, and the plan says why.
#[tokio::test]
async fn without_a_ledger_every_run_rewrites_and_the_plan_says_so() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(secrets(5, None)));
    let s = syncer(source, dest, false)?;
    assert_eq!(s.sync().await?.counts.created, 5);
    let plan = s.plan().await?;
    assert_eq!(plan.counts().update, 5);
    for item in plan.items() {
        assert_eq!(item.reason, Some(PlanReason::HiddenNoLedger), "{item:?}");
    }
    let again = s.sync().await?;
    assert_eq!(again.counts.updated, 5, "{again}");
    assert_eq!(again.requests.put, 5);
    Ok(())
}

/// What GitHub refuses is refused before the first write, naming every key.
#[tokio::test]
async fn names_github_refuses_stop_the_sync_before_any_write() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("GOOD", "1")
            .with("GITHUB_TOKEN", "2")
            .with("lower_case", "3")
            .with("9LIVES", "4"),
    ));
    let s = Syncer::builder().source(source).destination(dest).build()?;
    let err = s.sync().await.expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(err.keys(), ["9LIVES", "GITHUB_TOKEN"], "{err}");
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert!(fake.repo_secrets(OWNER, REPO).is_empty());
    Ok(())
}

/// GitHub stores names upper-cased: `api_key` is planned, written, recorded and reported
/// as `API_KEY`, and the next run finds it — with a ledger nothing is written, without one
/// the value is rewritten under the same name and nothing is deleted; `remove` deletes both.
#[tokio::test]
async fn lower_case_keys_are_written_and_listed_upper_cased() -> Result<()> {
    for ledger in [true, false] {
        let fake = FakeGithub::start().await;
        let dest = Arc::new(fake.destination(repo())?);
        let source = Arc::new(StaticSource::new(
            SecretSet::new("prod")
                .with("api_key", "1")
                .with("Db_Url", "2"),
        ));
        let s = syncer_with("kms_{{environment}}_{{secretKey}}", source, dest, ledger)?;
        let plan = s.plan().await?;
        let keys: Vec<&str> = plan.items().iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["KMS_PROD_API_KEY", "KMS_PROD_DB_URL"],
            "ledger {ledger}"
        );
        let first = s.sync().await?;
        assert_eq!(first.counts.created, 2, "{first}");
        assert_eq!(
            first.keys_with(KeyStatus::Created),
            ["KMS_PROD_API_KEY", "KMS_PROD_DB_URL"]
        );
        let stored: Vec<String> = fake.repo_secrets(OWNER, REPO).into_keys().collect();
        assert_eq!(stored, ["KMS_PROD_API_KEY", "KMS_PROD_DB_URL"]);
        let again = s.sync().await?;
        assert_eq!(again.counts.created + again.counts.deleted, 0, "{again}");
        let expected_puts = if ledger { 0 } else { 2 };
        assert_eq!(
            again.requests.put, expected_puts,
            "ledger {ledger}: {again}"
        );
        assert_eq!(again.requests.delete, 0);
        assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 2);
        // `remove` finds them by the same names.
        let removed = s.remove().await?;
        assert_eq!(removed.counts.deleted, 2, "ledger {ledger}: {removed}");
        assert!(fake.repo_secrets(OWNER, REPO).is_empty());
    }
    Ok(())
}

/// Two source keys differing only in case are one GitHub name: refused before any write,
/// naming both source keys and never a value.
#[tokio::test]
async fn source_keys_differing_only_in_case_are_refused_before_any_write() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("api_key", "first-secret-value")
            .with("API_KEY", "second-secret-value")
            .with("OTHER", "3"),
    ));
    let err = syncer(source, dest, true)?
        .sync()
        .await
        .expect_err("collision");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    let text = err.to_string();
    assert!(
        text.contains("`API_KEY` and `api_key` both map to `KMS_API_KEY`"),
        "{text}"
    );
    assert!(!text.contains("secret-value"), "{text}");
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert!(fake.repo_secrets(OWNER, REPO).is_empty());
    Ok(())
}

#[tokio::test]
async fn a_value_over_48_kb_is_refused_before_any_write() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod")
            .with("BIG", "x".repeat(48 * 1024 + 1))
            .with("EXACT", "x".repeat(48 * 1024)),
    ));
    let err = syncer(source, dest, false)?
        .sync()
        .await
        .expect_err("too big");
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert_eq!(err.keys(), ["KMS_BIG"]);
    assert_eq!(fake.faults().request_stats().writes(), 0);
    Ok(())
}

/// A repository holds at most 100 secrets: a plan whose creates would pass that is refused
/// before any write, naming the limit and the counts.
#[tokio::test]
async fn a_plan_past_the_count_limit_is_refused_before_any_write() -> Result<()> {
    let fake = FakeGithub::start().await;
    for i in 0..99 {
        fake.seed_repo(OWNER, REPO, &format!("OTHER_{i:02}"), "theirs");
    }
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(secrets(2, None)));
    let err = syncer(source.clone(), dest.clone(), true)?
        .sync()
        .await
        .expect_err("past the limit");
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("at most 100 entries; it holds 99 and the plan creates 2"),
        "{text}"
    );
    assert!(text.contains("nothing was written"), "{text}");
    assert_eq!(fake.faults().request_stats().writes(), 0);
    assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 99);

    // One create fits.
    source.replace(secrets(1, None))?;
    let report = syncer(source, dest, true)?.sync().await?;
    assert_eq!(report.counts.created, 1, "{report}");
    assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 100);
    Ok(())
}

/// The second guard: a create that reaches the writer past the count the list showed is
/// refused before it is sent.
#[tokio::test]
async fn a_create_past_the_listed_count_is_refused_unsent() -> Result<()> {
    use kms_sync_core::{Change, PerKeyWriter, SecretValue};
    let fake = FakeGithub::start().await;
    for i in 0..99 {
        fake.seed_repo(OWNER, REPO, &format!("OTHER_{i:02}"), "theirs");
    }
    let dest = fake.destination(repo())?;
    assert_eq!(dest.list().await?.len(), 99);
    let create = |key: &str| Change::create(key, SecretValue::new("v"));
    dest.write(&create("FITS")).await?;
    let before = fake.faults().request_stats();
    let err = dest
        .write(&create("PAST"))
        .await
        .expect_err("past the limit");
    assert!(
        err.to_string().contains("at most 100 secrets in acme/api"),
        "{err}"
    );
    assert_eq!(fake.faults().request_stats().since(&before).writes(), 0);
    assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 100);
    Ok(())
}

/// Organization secrets carry the configured visibility and repositories, as configured.
#[tokio::test]
async fn organization_secrets_carry_visibility_and_selected_repositories() -> Result<()> {
    let fake = FakeGithub::start().await;
    let selected = GithubConfig::organization(ORG, Visibility::Selected)
        .with_selected_repositories([REPO_ID, 42]);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    syncer(source.clone(), Arc::new(fake.destination(selected)?), false)?
        .sync()
        .await?;
    assert_eq!(
        fake.org_sharing(ORG, "KMS_A"),
        Some(("selected".to_owned(), vec![REPO_ID, 42]))
    );
    let private = GithubConfig::organization(ORG, Visibility::Private);
    syncer(source, Arc::new(fake.destination(private)?), false)?
        .sync()
        .await?;
    assert_eq!(
        fake.org_sharing(ORG, "KMS_A"),
        Some(("private".to_owned(), vec![REPO_ID, 42]))
    );
    Ok(())
}

/// With a ledger, an unchanged value is not rewritten — unless the secret is shared
/// otherwise than configured: a visibility changed in the definition (or by hand at GitHub)
/// is put back on the next run, the plan saying why.
#[tokio::test]
async fn a_visibility_that_differs_is_rewritten_even_with_a_ledger() -> Result<()> {
    let fake = FakeGithub::start().await;
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    let all = Arc::new(fake.destination(GithubConfig::organization(ORG, Visibility::All))?);
    let state = Arc::new(MemoryStateStore::default());
    let with_ledger = |dest: Arc<GithubDestination>| -> Result<Syncer> {
        Syncer::builder()
            .id("visibility")
            .source(source.clone())
            .destination(dest)
            .key_schema_template("KMS_{{secretKey}}")
            .state(state.clone(), Fingerprinter::new(vec![9; 32])?)
            .build()
    };
    with_ledger(all.clone())?.sync().await?;
    let before = fake.faults().request_stats();
    let again = with_ledger(all)?.sync().await?;
    assert_eq!(
        fake.faults().request_stats().since(&before).writes(),
        0,
        "{again}"
    );
    let private = Arc::new(fake.destination(GithubConfig::organization(ORG, Visibility::Private))?);
    let plan = with_ledger(private.clone())?.plan().await?;
    assert!(
        plan.to_string()
            .contains("visibility is all, configured private"),
        "{plan}"
    );
    let report = with_ledger(private.clone())?.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        fake.org_sharing(ORG, "KMS_A").map(|(v, _)| v),
        Some("private".to_owned())
    );
    // GitHub documents `visibility` on every organization secret: one listed without it is
    // rewritten too, not taken as matching.
    let unlisted = json!({"total_count": 1, "secrets": [{"name": "KMS_A"}]});
    fake.faults().push_aimed(
        Aim::get(format!("/orgs/{ORG}/actions/secrets")),
        Fault::Body(unlisted.to_string().into_bytes()),
    );
    let plan = with_ledger(private)?.plan().await?;
    assert!(
        plan.to_string()
            .contains("visibility not listed, configured private"),
        "{plan}"
    );
    Ok(())
}

/// A secondary rate limit (403 with `retry-after`) in the middle of a sync is waited out,
/// not taken for a permission error; every key lands.
#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(secrets(6, None)));
    fake.secondary_limits(&[1, 0]);
    let report = syncer(source, dest, true)?.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 6);
    let limited = fake
        .faults()
        .log()
        .iter()
        .filter(|r| r.status == 403)
        .count();
    assert_eq!(limited, 2);
    Ok(())
}

/// A 403 that is not a rate limit is a permission error naming what a sync needs, never
/// retried.
#[tokio::test]
async fn a_token_without_write_permission_is_told_what_it_needs() -> Result<()> {
    let fake = FakeGithub::start().await;
    fake.set_read_only(true);
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    let report = syncer(source, dest, true)?.sync().await?;
    let err = report
        .key("KMS_A")
        .and_then(|k| k.error.clone())
        .expect("failed");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("Secrets read and write"), "{err}");
    assert_eq!(report.requests.put, 1, "not retried");
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_unauthenticated_and_never_shown() -> Result<()> {
    let fake = FakeGithub::start().await;
    let wrong = GithubConnection::pat("github_pat_wrong_token")?;
    let dest = fake.destination_with(wrong, repo(), &fake.base_url())?;
    let err = dest.list().await.expect_err("bad token");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    let err = dest.validate_connection().await.expect_err("bad token");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert!(!format!("{err} {err:?} {dest:?}").contains("github_pat_wrong_token"));
    let user = fake.destination(repo())?.validate_connection().await?;
    assert_eq!(user.and_then(|u| u.login).as_deref(), Some("fake-user"));
    Ok(())
}

/// The public key is read again on the next run: a key GitHub rotated between runs is
/// picked up.
#[tokio::test]
async fn a_rotated_public_key_is_read_on_the_next_run() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(GithubConfig::environment(OWNER, REPO, ENVIRONMENT))?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    let s = syncer(source.clone(), dest, true)?;
    s.sync().await?;
    fake.rotate_key();
    source.replace(SecretSet::new("prod").with("A", "2"))?;
    let report = s.sync().await?;
    assert!(report.is_success(), "{report}");
    let stored = fake.env_secrets(OWNER, REPO, ENVIRONMENT);
    assert_eq!(stored.get("KMS_A").map(String::as_str), Some("2"));
    Ok(())
}

/// A write answered with anything but GitHub's documented 201 or 204 is unconfirmed, and
/// the next run converges.
#[tokio::test]
async fn a_write_answered_otherwise_is_unconfirmed() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("TOKEN", "v")));
    let s = syncer(source, dest, true)?;
    for body in [&b"{}"[..], br#"{"ok":true}"#] {
        fake.faults()
            .push_aimed(Aim::Writes, Fault::Body(body.to_vec()));
        let report = s.sync().await?;
        assert_eq!(
            report.keys_with(KeyStatus::Unconfirmed),
            ["KMS_TOKEN"],
            "{report}"
        );
    }
    let report = s.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        fake.repo_secrets(OWNER, REPO)
            .get("KMS_TOKEN")
            .map(String::as_str),
        Some("v")
    );
    Ok(())
}

/// A secret deleted by someone else meanwhile: the delete's 404 means done.
#[tokio::test]
async fn deleting_a_secret_already_gone_is_done() -> Result<()> {
    let fake = FakeGithub::start().await;
    fake.seed_repo(OWNER, REPO, "KMS_OLD", "x");
    let dest = Arc::new(fake.destination(repo())?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("NEW", "1")));
    let s = syncer(source, dest.clone(), false)?;
    let plan = s.plan().await?;
    assert_eq!(plan.counts().delete, 1);
    fake.unseed_repo(OWNER, REPO, "KMS_OLD");
    let report = s.apply(&plan).await?;
    assert!(report.is_success(), "{report}");
    let line = report.key("KMS_OLD").expect("reported");
    assert_eq!(line.note.as_deref(), Some("already gone"), "{line:?}");
    Ok(())
}
