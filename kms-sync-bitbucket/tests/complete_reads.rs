//! A list that lacks what the writes need refuses the sync before any write: a page without
//! its `values`, a variable without the `uuid` its update or delete is addressed by, without
//! its `key` or `secured` flag, or stored unsecured without its `value`.

use std::sync::Arc;

use kms_sync_bitbucket::fake::{FakeBitbucket, REPOSITORY, WORKSPACE};
use kms_sync_bitbucket::BitbucketConfig;
use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, MemoryStateStore, Result, SecretSet, StaticSource,
    Syncer,
};
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

#[tokio::test]
async fn lists_lacking_a_field_are_refused_naming_it_with_zero_writes() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    fake.seed(WORKSPACE, REPOSITORY, None, "THEIRS", "theirs", true);
    fake.seed(WORKSPACE, REPOSITORY, None, "KMS_A", "old", true);
    let before = fake.variables(WORKSPACE, REPOSITORY, None);
    let path = format!("/2.0/repositories/{WORKSPACE}/{REPOSITORY}/pipelines_config/variables");
    let cases = [
        (json!({"pagelen": 100, "size": 2}), "`values`"),
        (
            json!({"values": [{"key": "KMS_A", "secured": true}], "size": 1}),
            "`uuid`",
        ),
        (
            json!({"values": [{"uuid": "{1}", "secured": true}], "size": 1}),
            "`key`",
        ),
        (
            json!({"values": [{"uuid": "{1}", "key": "THEIRS"}], "size": 1}),
            "`secured`",
        ),
        (
            json!({"values": [{"uuid": "{1}", "key": "THEIRS", "secured": false}], "size": 1}),
            "`value`",
        ),
    ];
    for (page, field) in cases {
        let stats = fake.faults().request_stats();
        fake.faults().push_aimed(
            Aim::get(path.clone()),
            Fault::Body(page.to_string().into_bytes()),
        );
        let dest = fake.destination(BitbucketConfig::repository(WORKSPACE, REPOSITORY))?;
        let err = syncer(Arc::new(dest))?.sync().await.expect_err(field);
        assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{field}: {err}");
        let shown = err.to_string();
        for part in [field, "nothing was written", "bitbucket:acme/api"] {
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
        assert_eq!(
            fake.variables(WORKSPACE, REPOSITORY, None),
            before,
            "{field}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn updates_and_deletes_need_ids_so_the_destination_says_so() -> Result<()> {
    let fake = FakeBitbucket::start().await;
    let dest = fake.destination(BitbucketConfig::repository(WORKSPACE, REPOSITORY))?;
    assert!(dest.info().capabilities.entry_ids_required());
    Ok(())
}
