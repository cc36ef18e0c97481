//! A list that lacks what the sync needs refuses it before any write: a page without its
//! `total_count` or `secrets`, a secret without its `name`, pages holding other than
//! `total_count` secrets or reporting different totals, a public key answer without its
//! `key_id` or `key`.

use std::sync::Arc;

use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore, Result, SecretSet,
    StaticSource, Syncer,
};
use kms_sync_github::fake::{FakeGithub, OWNER, REPO};
use kms_sync_github::GithubConfig;
use kms_sync_testkit::{Aim, Fault};
use serde_json::json;

fn syncer(dest: Arc<dyn Destination>) -> Result<Syncer> {
    Syncer::builder()
        .id("complete-reads")
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod").with("A", "1").with("B", "2"),
        )))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![7; 32])?,
        )
        .build()
}

const PATH: &str = "/repos/acme/api/actions/secrets";

#[tokio::test]
async fn lists_lacking_a_field_are_refused_naming_it_with_zero_writes() -> Result<()> {
    let fake = FakeGithub::start().await;
    fake.seed_repo(OWNER, REPO, "THEIRS", "theirs");
    fake.seed_repo(OWNER, REPO, "KMS_A", "old");
    let before = fake.repo_secrets(OWNER, REPO);
    let cases = [
        (json!({"secrets": [{"name": "KMS_A"}]}), "`total_count`"),
        (json!({"total_count": 2}), "`secrets`"),
        (
            json!({"total_count": 1, "secrets": [{"created_at": "2026-01-01T00:00:00Z"}]}),
            "`name`",
        ),
        (
            json!({"total_count": 3, "secrets": [{"name": "KMS_A"}, {"name": "THEIRS"}]}),
            "reported 3 secrets",
        ),
        (
            json!({"total_count": 0, "secrets": [{"name": "KMS_A"}, {"name": "THEIRS"}]}),
            "reported 0 secrets",
        ),
        (json!([[]]), "object"),
    ];
    for (page, field) in cases {
        let stats = fake.faults().request_stats();
        fake.faults()
            .push_aimed(Aim::get(PATH), Fault::Body(page.to_string().into_bytes()));
        let dest = fake.destination(GithubConfig::repository(OWNER, REPO))?;
        let err = syncer(Arc::new(dest))?.sync().await.expect_err(field);
        let shown = err.to_string();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::IncompleteRead | ErrorKind::Unexpected
            ),
            "{field}: {err}"
        );
        for part in [field, "github:acme/api"] {
            assert!(
                shown.contains(part),
                "{field}: `{part}` missing from {shown}"
            );
        }
        assert_eq!(
            fake.faults().request_stats().since(&stats).writes(),
            0,
            "{field}"
        );
        assert_eq!(fake.repo_secrets(OWNER, REPO), before, "{field}");
    }
    Ok(())
}

#[tokio::test]
async fn a_total_that_moves_between_pages_is_a_list_that_changed_while_read() -> Result<()> {
    let fake = FakeGithub::start().await;
    for n in 0..101 {
        fake.seed_repo(OWNER, REPO, &format!("THEIRS_{n:03}"), "theirs");
    }
    fake.seed_repo(OWNER, REPO, "KMS_GONE", "old");
    let before = fake.repo_secrets(OWNER, REPO);
    // Page 2 as it would read after someone deleted a secret on page 1: one fewer in all,
    // and the secret that slid onto page 1 (here, KMS_GONE) never seen.
    let second = json!({"total_count": 101, "secrets": [{"name": "THEIRS_100"}]});
    fake.faults().push_aimed(
        Aim::get(format!("{PATH}?per_page=100&page=2")),
        Fault::Body(second.to_string().into_bytes()),
    );
    let stats = fake.faults().request_stats();
    let dest = fake.destination(GithubConfig::repository(OWNER, REPO))?;
    let err = syncer(Arc::new(dest))?
        .sync()
        .await
        .expect_err("moved total");
    assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{err}");
    assert!(
        err.to_string().contains("changed while it was read"),
        "{err}"
    );
    assert_eq!(fake.faults().request_stats().since(&stats).writes(), 0);
    assert_eq!(fake.repo_secrets(OWNER, REPO), before);
    Ok(())
}

#[tokio::test]
async fn a_public_key_answer_lacking_a_field_writes_nothing() -> Result<()> {
    let fake = FakeGithub::start().await;
    for (body, field) in [
        (
            json!({"key": "RwHQhIhFH1RaQJ+1iuPlhYHKQKw/fxFGmM1x3qxzygE="}),
            "`key_id`",
        ),
        (json!({"key_id": "1"}), "`key`"),
        (json!({"key_id": "1", "key": "c2hvcnQ="}), "not 32 bytes"),
    ] {
        fake.faults().push_aimed(
            Aim::get(format!("{PATH}/public-key")),
            Fault::Body(body.to_string().into_bytes()),
        );
        let dest = fake.destination(GithubConfig::repository(OWNER, REPO))?;
        let report = syncer(Arc::new(dest))?.sync().await?;
        let failed = report.keys_with(KeyStatus::Failed);
        assert!(!failed.is_empty(), "{field}: {report}");
        let err = report
            .key(failed[0])
            .and_then(|k| k.error.clone())
            .expect("an error");
        assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{field}: {err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
        assert_eq!(fake.faults().request_stats().put, 0, "{field}");
        fake.faults().reset();
    }
    Ok(())
}
