//! A read that lacks what the write must send back refuses the sync before any write: a
//! check group answered without `environmentVariables` (optional in Checkly's document; the
//! PUT that follows replaces the whole list), a non-secret variable without its `value`.

use std::sync::Arc;

use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID};
use kms_sync_checkly::ChecklyConfig;
use kms_sync_core::{
    Destination, Error, ErrorKind, Fingerprinter, MemoryStateStore, Result, SecretSet,
    StaticSource, Syncer,
};
use kms_sync_testkit::{Aim, Fault};
use serde_json::json;

fn syncer(dest: Arc<dyn Destination>) -> Result<Syncer> {
    Syncer::builder()
        .id("complete-reads")
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod")
                .with("A", "value-of-a")
                .with("B", "value-of-b"),
        )))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![6; 32])?,
        )
        .build()
}

fn assert_refused(err: &Error, field: &str, scope: &str) {
    assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{err}");
    let shown = err.to_string();
    for part in [field, scope, "nothing was written"] {
        assert!(shown.contains(part), "`{part}` missing from {shown}");
    }
}

#[tokio::test]
async fn a_group_read_without_environment_variables_wipes_nothing() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    let foreign = json!({"key": "THEIRS", "value": "x", "locked": false, "secret": false});
    fake.seed_group_variable(id, foreign.clone());
    let path = format!("/v1/check-groups/{id}");
    let bare = json!({"id": id, "name": "API checks", "activated": true});
    fake.faults()
        .push_aimed(Aim::get(path), Fault::Body(bare.to_string().into_bytes()));
    let before = fake.faults().request_stats();
    let dest = fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?;
    let err = syncer(Arc::new(dest))?.sync().await.expect_err("refused");
    assert_refused(&err, "`environmentVariables`", &format!("check group {id}"));
    assert_eq!(fake.faults().request_stats().since(&before).writes(), 0);
    assert_eq!(fake.group_variables(id), vec![foreign]);
    Ok(())
}

#[tokio::test]
async fn a_non_secret_group_variable_without_its_value_is_not_sent_back_empty() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    let id = fake.add_group("API checks");
    let foreign = json!({"key": "THEIRS", "value": "x", "locked": false, "secret": false});
    fake.seed_group_variable(id, foreign.clone());
    let lacking = json!({"id": id, "name": "API checks", "environmentVariables": [
        {"key": "THEIRS", "locked": false, "secret": false}
    ]});
    let path = format!("/v1/check-groups/{id}");
    fake.faults().push_aimed(
        Aim::get(path),
        Fault::Body(lacking.to_string().into_bytes()),
    );
    let before = fake.faults().request_stats();
    let dest = fake.destination(ChecklyConfig::account(ACCOUNT_ID).with_group_id(id))?;
    let err = syncer(Arc::new(dest))?.sync().await.expect_err("refused");
    assert_refused(&err, "`value`", &format!("check group {id}"));
    assert_eq!(err.key(), Some("THEIRS"));
    assert_eq!(fake.faults().request_stats().since(&before).writes(), 0);
    assert_eq!(fake.group_variables(id), vec![foreign]);
    Ok(())
}

#[tokio::test]
async fn an_account_variable_without_its_value_or_key_is_an_incomplete_read() -> Result<()> {
    let fake = FakeChecklyServer::start().await;
    fake.seed_variable("THEIRS", "x", false);
    for (page, field) in [
        (
            json!([{"key": "KMS_A", "locked": false, "secret": false}]),
            "`value`",
        ),
        (
            json!([{"value": "1", "locked": false, "secret": false}]),
            "`key`",
        ),
    ] {
        fake.faults().push_aimed(
            Aim::get("/v1/variables"),
            Fault::Body(page.to_string().into_bytes()),
        );
        let before = fake.faults().request_stats();
        let dest = fake.destination(ChecklyConfig::account(ACCOUNT_ID))?;
        let err = syncer(Arc::new(dest))?.sync().await.expect_err("refused");
        assert_refused(&err, field, "the account's variables");
        assert_eq!(fake.faults().request_stats().since(&before).writes(), 0);
    }
    assert_eq!(fake.variables().len(), 1, "nothing was written");
    Ok(())
}
