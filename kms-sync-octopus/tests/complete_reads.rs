//! A read that lacks what the whole-set PUT must send back refuses the sync before any write:
//! a variable without its `Id` (sent back without it, a sensitive variable would lose its
//! value), a set without its `Variables`.

use std::sync::Arc;

use kms_sync_core::{
    Destination, Error, ErrorKind, Fingerprinter, MemoryStateStore, Result, SecretSet,
    StaticSource, Syncer,
};
use kms_sync_octopus::fake::{FakeOctopus, SPACE};
use kms_sync_octopus::OctopusConfig;
use kms_sync_testkit::{Aim, Fault};
use serde_json::{json, Value};

fn syncer(dest: Arc<dyn Destination>) -> Result<Syncer> {
    Syncer::builder()
        .id("complete-reads")
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod").with("A", "value-of-a"),
        )))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![8; 32])?,
        )
        .build()
}

/// The set as the fake would answer it, with `edit` applied to the JSON.
fn answered(fake: &FakeOctopus, set: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let variables: Vec<Value> = fake
        .variables(set)
        .into_iter()
        .map(|mut v| {
            if v["IsSensitive"] == json!(true) {
                v["Value"] = Value::Null;
            }
            v
        })
        .collect();
    let mut body = json!({"Id": set, "Version": fake.version(set), "Variables": variables,
        "ScopeValues": {"Environments": [], "Roles": [], "Machines": []}});
    edit(&mut body);
    body.to_string().into_bytes()
}

fn assert_refused(err: &Error, field: &str, set: &str) {
    assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{err}");
    let shown = err.to_string();
    for part in [field, set, "nothing was written"] {
        assert!(shown.contains(part), "`{part}` missing from {shown}");
    }
}

async fn refused_with(edit: impl FnOnce(&mut Value), field: &str) -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    fake.seed(
        &set,
        json!({"Name": "Theirs.Secret", "Value": "kept", "Type": "Sensitive",
        "IsSensitive": true, "Scope": {}}),
    );
    let before = fake.variables(&set);
    let body = answered(&fake, &set, edit);
    let path = format!("/api/{SPACE}/variables/{set}");
    fake.faults().push_aimed(Aim::get(path), Fault::Body(body));
    let stats = fake.faults().request_stats();
    let dest = fake.destination(OctopusConfig::project(SPACE, "web"))?;
    let err = syncer(Arc::new(dest))?.sync().await.expect_err("refused");
    assert_refused(&err, field, &set);
    assert_eq!(fake.faults().request_stats().since(&stats).writes(), 0);
    assert_eq!(
        fake.variables(&set),
        before,
        "the sensitive value is intact"
    );
    Ok(())
}

#[tokio::test]
async fn a_sensitive_variable_read_without_its_id_is_not_sent_back() -> Result<()> {
    refused_with(
        |body| {
            if let Some(v) = body["Variables"].get_mut(0).and_then(Value::as_object_mut) {
                v.remove("Id");
            }
        },
        "`Id`",
    )
    .await
}

#[tokio::test]
async fn a_set_read_without_its_variables_is_not_taken_as_empty() -> Result<()> {
    refused_with(
        |body| {
            body.as_object_mut().map(|o| o.remove("Variables"));
        },
        "`Variables`",
    )
    .await
}

#[tokio::test]
async fn one_of_our_own_variables_without_its_id_is_refused_by_the_engine_too() -> Result<()> {
    // Ours this time (our name, our scope): the destination refuses it, and its capabilities
    // say its writes address entries by id, so the engine would too.
    let fake = FakeOctopus::start().await;
    fake.add_project("Web", false);
    let dest = fake.destination(OctopusConfig::project(SPACE, "web"))?;
    assert!(dest.info().capabilities.entry_ids_required());
    refused_with(
        |body| {
            let ours = json!({"Name": "KMS_A", "Value": null, "Type": "Sensitive",
                "IsSensitive": true, "Scope": {}});
            if let Some(vars) = body["Variables"].as_array_mut() {
                vars.push(ours);
            }
        },
        "`Id`",
    )
    .await
}
