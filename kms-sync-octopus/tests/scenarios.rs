//! Octopus scenarios from the issue, against the fake over loopback HTTP.

use std::sync::Arc;

use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore, PlanAction, RequestStats,
    Result, SecretSet, StateStore, StaticSource, Syncer,
};
use kms_sync_octopus::fake::{FakeOctopus, SPACE};
use kms_sync_octopus::{OctopusConfig, OctopusDestination, ScopeValues};
use serde_json::{json, Value};

fn prod() -> ScopeValues {
    ScopeValues {
        environments: vec!["Environments-2".into()],
        ..ScopeValues::default()
    }
}

fn dev() -> ScopeValues {
    ScopeValues {
        environments: vec!["Environments-1".into()],
        ..ScopeValues::default()
    }
}

fn syncer(source: SecretSet, dest: Arc<dyn Destination>) -> Result<Syncer> {
    Syncer::builder()
        .source(Arc::new(StaticSource::new(source)))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![4; 32])?,
        )
        .build()
}

fn without(vars: &[Value], prefix: &str) -> Vec<Value> {
    vars.iter()
        .filter(|v| !v["Name"].as_str().unwrap_or_default().starts_with(prefix))
        .cloned()
        .collect()
}

/// 50 variables that are not ours (some sensitive, some scoped, one with our name but another
/// scope) are byte-for-byte the same after a sync and after a remove.
#[tokio::test]
async fn unmanaged_variables_survive_sync_and_remove() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    for i in 0..50 {
        let scope = match i % 3 {
            0 => json!({}),
            1 => json!({"Environment": ["Environments-1"]}),
            _ => json!({"Environment": ["Environments-2"], "Role": ["web-server"]}),
        };
        let sensitive = i % 2 == 0;
        fake.seed(&set, json!({"Name": format!("Other.Var{i}"), "Value": format!("theirs-{i}"), "Type": if sensitive { "Sensitive" } else { "String" }, "IsSensitive": sensitive, "Scope": scope, "IsEditable": true, "Prompt": null, "Description": "kept"}));
    }
    // Our name, another scope: not ours.
    fake.seed(&set, json!({"Name": "KMS_A", "Value": "dev-value", "IsSensitive": true, "Type": "Sensitive", "Scope": {"Environment": ["Environments-1"]}}));
    let before = fake.variables(&set);
    let dest =
        Arc::new(fake.destination(OctopusConfig::project(SPACE, "web").with_scope_values(prod()))?);
    let s = syncer(SecretSet::new("prod").with("A", "1").with("B", "2"), dest)?;
    let report = s.sync().await?;
    assert_eq!(report.counts.created, 2, "{report}");
    let after = fake.variables(&set);
    assert_eq!(without(&after, "KMS_").len() + 1, before.len());
    for v in &before {
        assert!(after.contains(v), "changed or lost: {v}");
    }
    s.remove().await?;
    assert_eq!(
        fake.variables(&set),
        before,
        "remove leaves exactly what was there"
    );
    Ok(())
}

/// A scope of kinds whose names sort otherwise than the KMS lists them (Environment before
/// Channel, Role before Machine) recognises the variables it wrote: the second sync writes
/// nothing and no variable is doubled.
#[tokio::test]
async fn a_scope_of_several_kinds_settles() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    let scope = ScopeValues {
        environments: vec!["Environments-2".into()],
        roles: vec!["web-server".into()],
        machines: vec!["Machines-1".into()],
        channels: vec!["Channels-1".into()],
        ..ScopeValues::default()
    };
    let dest =
        Arc::new(fake.destination(OctopusConfig::project(SPACE, "web").with_scope_values(scope))?);
    let s = syncer(SecretSet::new("prod").with("A", "1").with("B", "2"), dest)?;
    assert_eq!(s.sync().await?.counts.created, 2);
    let again = s.sync().await?;
    assert_eq!(again.requests.writes(), 0, "{again}");
    assert_eq!(again.counts.unchanged, 2, "{again}");
    assert_eq!(fake.variables(&set).len(), 2);
    s.remove().await?;
    assert!(fake.variables(&set).is_empty(), "remove finds them too");
    Ok(())
}

/// Two syncs with different environment scopes on one project keep each other's values.
#[tokio::test]
async fn two_scopes_on_one_project_keep_their_values() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    let prod_sync = syncer(
        SecretSet::new("prod").with("DB", "prod-db"),
        Arc::new(fake.destination(OctopusConfig::project(SPACE, "web").with_scope_values(prod()))?),
    )?;
    let dev_sync = syncer(
        SecretSet::new("dev").with("DB", "dev-db"),
        Arc::new(fake.destination(OctopusConfig::project(SPACE, "web").with_scope_values(dev()))?),
    )?;
    for _ in 0..3 {
        prod_sync.sync().await?;
        dev_sync.sync().await?;
    }
    let vars = fake.variables(&set);
    let value_in = |env: &str| {
        vars.iter()
            .find(|v| v["Name"] == "KMS_DB" && v["Scope"]["Environment"] == json!([env]))
            .map(|v| v["Value"].clone())
    };
    assert_eq!(value_in("Environments-2"), Some(json!("prod-db")));
    assert_eq!(value_in("Environments-1"), Some(json!("dev-db")));
    assert_eq!(vars.len(), 2);
    // Settled: neither writes again.
    assert_eq!(prod_sync.sync().await?.requests.writes(), 0);
    assert_eq!(dev_sync.sync().await?.requests.writes(), 0);
    Ok(())
}

/// Two syncers on one project, same key names and schema, scoped to different environments,
/// run at the same time for several rounds: every round, each scope holds exactly its own
/// source (lost races on the set's `Version` are re-planned), and neither touches the other.
#[tokio::test]
async fn two_scopes_synced_at_the_same_time_never_disturb_each_other() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    fake.seed(
        &set,
        json!({"Name": "THEIRS", "Value": "x", "Type": "String", "IsSensitive": false, "Scope": {}}),
    );
    let prod_source = Arc::new(StaticSource::new(SecretSet::new("prod")));
    let dev_source = Arc::new(StaticSource::new(SecretSet::new("dev")));
    let build = |source: Arc<StaticSource>, scope: ScopeValues| -> Result<Syncer> {
        Syncer::builder()
            .source(source)
            .destination(Arc::new(fake.destination(
                OctopusConfig::project(SPACE, "web").with_scope_values(scope),
            )?))
            .key_schema_template("KMS_{{secretKey}}")
            .options(
                kms_sync_core::SyncOptions::default()
                    .with_deletion_guard(kms_sync_core::DeletionGuard::disabled())
                    .with_conflict_retries(8),
            )
            .state(
                Arc::new(MemoryStateStore::default()),
                Fingerprinter::new(vec![4; 32])?,
            )
            .build()
    };
    let prod_sync = build(prod_source.clone(), prod())?;
    let dev_sync = build(dev_source.clone(), dev())?;
    for round in 0..6 {
        for (source, env) in [(&prod_source, "prod"), (&dev_source, "dev")] {
            source.set("DB", format!("{env}-db-{round}"))?;
            source.set(format!("K{round}"), format!("{env}-{round}"))?;
            if round >= 2 {
                source.remove(&format!("K{}", round - 2))?;
            }
        }
        let (p, d) = tokio::join!(prod_sync.sync(), dev_sync.sync());
        let (p, d) = (p?, d?);
        assert!(p.is_success(), "round {round}: {p}");
        assert!(d.is_success(), "round {round}: {d}");
        let vars = fake.variables(&set);
        for (env_id, env) in [("Environments-2", "prod"), ("Environments-1", "dev")] {
            let mut held: Vec<(String, Value)> = vars
                .iter()
                .filter(|v| v["Scope"]["Environment"] == json!([env_id]))
                .map(|v| {
                    (
                        v["Name"].as_str().unwrap_or("").to_owned(),
                        v["Value"].clone(),
                    )
                })
                .collect();
            held.sort_by(|a, b| a.0.cmp(&b.0));
            let mut expected = vec![
                ("KMS_DB".to_owned(), json!(format!("{env}-db-{round}"))),
                (format!("KMS_K{round}"), json!(format!("{env}-{round}"))),
            ];
            if round >= 1 {
                expected.push((
                    format!("KMS_K{}", round - 1),
                    json!(format!("{env}-{}", round - 1)),
                ));
            }
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(held, expected, "round {round}, scope {env}");
        }
        assert!(
            vars.iter()
                .any(|v| v["Name"] == "THEIRS" && v["Value"] == "x"),
            "round {round}: the unscoped foreign variable is gone"
        );
    }
    Ok(())
}

/// Someone saves the set between our read and our write: the PUT is refused as stale, the
/// syncer re-reads, re-plans and succeeds.
fn edited_meanwhile(
    inner: Arc<OctopusDestination>,
    fake: Arc<FakeOctopus>,
    set: String,
) -> Arc<dyn Destination> {
    Arc::new(kms_sync_testkit::before_apply(inner, move |n| {
        if n == 0 {
            fake.seed(&set, json!({"Name": "Edited.Meanwhile", "Value": "x", "IsSensitive": false, "Scope": {}}));
        }
        async {}
    }))
}

#[tokio::test]
async fn a_concurrent_edit_is_survived() -> Result<()> {
    let fake = Arc::new(FakeOctopus::start().await);
    let (_, set) = fake.add_project("Web", false);
    let inner = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
    let dest = edited_meanwhile(inner.clone(), fake.clone(), set.clone());
    let report = syncer(SecretSet::new("prod").with("A", "1"), dest)?
        .sync()
        .await?;
    assert!(report.is_success(), "{report}");
    let vars = fake.variables(&set);
    assert!(
        vars.iter().any(|v| v["Name"] == "Edited.Meanwhile"),
        "the other edit survives"
    );
    assert!(vars
        .iter()
        .any(|v| v["Name"] == "KMS_A" && v["Value"] == "1"));

    // The stale PUT itself is reported as a conflict when retries are off.
    fake.bump_version(&set);
    let plain = syncer(SecretSet::new("prod").with("A", "2"), inner.clone())?;
    let plan = plain.plan().await?;
    fake.bump_version(&set);
    let version = fake.version(&set);
    let report = plain.apply(&plan).await?;
    let err = report
        .key("KMS_A")
        .and_then(|k| k.error.clone())
        .expect("conflict");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    // Octopus refused the PUT carrying the plan's Version: nothing was written.
    assert_eq!(fake.version(&set), version);
    Ok(())
}

/// A resync with nothing changed: one GET of the set, no PUT, Version unchanged.
#[tokio::test]
async fn a_no_op_resync_reads_once_and_writes_nothing() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    let dest =
        Arc::new(fake.destination(OctopusConfig::project(SPACE, "web").with_scope_values(prod()))?);
    let s = syncer(
        SecretSet::new("prod").with("A", "1").with("B", "2"),
        dest.clone(),
    )?;
    s.sync().await?;
    let version = fake.version(&set);
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    let used = fake.faults().request_stats().since(&before);
    assert_eq!((used.get, used.put), (1, 0), "{used:?} {report}");
    assert_eq!(used.total(), 1, "{used:?} {report}");
    assert_eq!(
        report.requests, used,
        "the report counts what the service saw"
    );
    assert_eq!(fake.version(&set), version);
    Ok(())
}

/// The `Id` the ledger holds for a key.
async fn ledger_id(store: &MemoryStateStore, key: &str) -> Result<Option<String>> {
    let ledger = store.load("octopus").await?.unwrap_or_default();
    Ok(ledger.get(key).and_then(|entry| entry.id.clone()))
}

/// The `Id` the fake holds for a name.
fn fake_id(fake: &FakeOctopus, set: &str, name: &str) -> Option<String> {
    fake.variables(set)
        .into_iter()
        .find(|v| v["Name"] == name)
        .and_then(|v| v["Id"].as_str().map(str::to_owned))
}

/// Syncs and returns the requests the service saw during the sync.
async fn counted(fake: &FakeOctopus, s: &Syncer) -> Result<RequestStats> {
    let before = fake.faults().request_stats();
    let report = s.sync().await?;
    assert!(report.is_success(), "{report}");
    let used = fake.faults().request_stats().since(&before);
    assert_eq!(
        report.requests, used,
        "the report counts what the service saw"
    );
    Ok(used)
}

/// A create, an update and a delete each cost one GET of the set and one PUT (the set
/// listed is the base of the PUT; no second GET), and the ledger holds each variable's Id.
/// (A PUT answered `{}` no longer counts as saved, issue 22: see
/// `a_put_answered_with_anything_but_the_set_is_unconfirmed`.)
#[tokio::test]
async fn a_change_costs_one_get_and_one_put() -> Result<()> {
    for empty_answers in [false] {
        let fake = FakeOctopus::start().await;
        let (_, set) = fake.add_project("Web", false);
        fake.seed(&set, json!({"Name": "Theirs", "Value": "secret", "IsSensitive": true, "Type": "Sensitive", "Scope": {}}));
        fake.answer_puts_with_empty_object(empty_answers);
        let dest = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
        let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
        let store = Arc::new(MemoryStateStore::default());
        let s = Syncer::builder()
            .id("octopus")
            .source(source.clone())
            .destination(dest)
            .key_schema_template("KMS_{{secretKey}}")
            .state(store.clone(), Fingerprinter::new(vec![4; 32])?)
            .build()?;
        s.sync().await?; // the first sync also looks up the space and project
        let case = if empty_answers {
            "`{}` answers"
        } else {
            "set answers"
        };

        source.set("B", "2")?;
        let used = counted(&fake, &s).await?;
        let creates_get = if empty_answers { 2 } else { 1 };
        assert_eq!(
            (used.get, used.put, used.total()),
            (creates_get, 1, creates_get + 1),
            "create, {case}: {used:?}"
        );
        assert_eq!(
            ledger_id(&store, "KMS_B").await?,
            fake_id(&fake, &set, "KMS_B"),
            "{case}"
        );
        assert!(ledger_id(&store, "KMS_B").await?.is_some(), "{case}");

        let id_a = fake_id(&fake, &set, "KMS_A");
        source.set("A", "1b")?;
        let used = counted(&fake, &s).await?;
        assert_eq!(
            (used.get, used.put, used.total()),
            (1, 1, 2),
            "update, {case}: {used:?}"
        );
        assert_eq!(
            fake_id(&fake, &set, "KMS_A"),
            id_a,
            "an update keeps the Id"
        );
        assert_eq!(ledger_id(&store, "KMS_A").await?, id_a, "{case}");

        source.remove("B")?;
        let used = counted(&fake, &s).await?;
        assert_eq!(
            (used.get, used.put, used.total()),
            (1, 1, 2),
            "delete, {case}: {used:?}"
        );
        assert_eq!(fake_id(&fake, &set, "KMS_B"), None, "{case}");

        let vars = fake.variables(&set);
        assert!(
            vars.iter()
                .any(|v| v["Name"] == "KMS_A" && v["Value"] == "1b"),
            "{case}"
        );
        assert!(
            vars.iter()
                .any(|v| v["Name"] == "Theirs" && v["Value"] == "secret"),
            "{case}"
        );
        assert_eq!(vars.len(), 2, "{case}");
    }
    Ok(())
}

/// A managed name that exists as a non-sensitive variable with our scope is a conflict named in
/// the plan, not a silent duplicate.
#[tokio::test]
async fn a_non_sensitive_clash_is_named_in_the_plan_and_never_removed() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    fake.seed(&set, json!({"Name": "KMS_A", "Value": "plain", "Type": "String", "IsSensitive": false, "Scope": {}}));
    let dest = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
    let s = syncer(SecretSet::new("prod").with("A", "1"), dest)?;
    let plan = s.plan().await?;
    let item = plan.item("KMS_A").expect("in the plan");
    assert_eq!(item.action, PlanAction::Skip);
    assert!(
        item.reason
            .as_ref()
            .is_some_and(|r| r.text().contains("non-sensitive")),
        "{item:?}"
    );
    let report = s.apply(&plan).await?;
    assert_eq!(
        report.key("KMS_A").map(|k| k.status),
        Some(KeyStatus::Skipped)
    );
    let vars = fake.variables(&set);
    assert_eq!(vars.len(), 1, "no duplicate");
    assert_eq!(vars[0]["Value"], "plain");
    // `remove` follows the same ownership rule as `sync`: the protected variable is not this
    // sync's to delete — with a ledger, and without one (where the source renders its name).
    let removed = s.remove().await?;
    assert_eq!(removed.counts.deleted, 0, "{removed}");
    let no_ledger = Syncer::builder()
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod").with("A", "1"),
        )))
        .destination(Arc::new(
            fake.destination(OctopusConfig::project(SPACE, "web"))?,
        ))
        .key_schema_template("KMS_{{secretKey}}")
        .build()?;
    let removed = no_ledger.remove().await?;
    assert_eq!(removed.counts.deleted, 0, "{removed}");
    assert_eq!(removed.requests.writes(), 0, "{removed}");
    let vars = fake.variables(&set);
    assert_eq!((vars.len(), vars[0]["Value"].clone()), (1, json!("plain")));
    Ok(())
}

#[tokio::test]
async fn refusals_before_writing() -> Result<()> {
    let fake = FakeOctopus::start().await;
    fake.add_project("Web", false);
    fake.add_project("Gitops", true);
    // Version-controlled project.
    let err = fake
        .destination(OctopusConfig::project(SPACE, "gitops"))?
        .list()
        .await
        .expect_err("CaC");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("version-controlled"), "{err}");
    // A scope id the project does not know.
    let unknown = ScopeValues {
        environments: vec!["Environments-99".into()],
        roles: vec!["db".into()],
        ..ScopeValues::default()
    };
    let err = fake
        .destination(OctopusConfig::project(SPACE, "web").with_scope_values(unknown))?
        .list()
        .await
        .expect_err("scope");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("environments `Environments-99`")
            && err.to_string().contains("roles `db`"),
        "{err}"
    );
    // Space and project by name resolve; a missing project lists the ones there.
    fake.destination(OctopusConfig::project("Default", "Web"))?
        .list()
        .await?;
    let err = fake
        .destination(OctopusConfig::project(SPACE, "Nope"))?
        .list()
        .await
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("Web, Gitops"), "{err}");
    // A wrong key.
    let bad = OctopusDestination::builder(
        kms_sync_octopus::OctopusConnection::new(fake.base_url(), "API-WRONG")?,
        OctopusConfig::project(SPACE, "web"),
    )
    .build()?;
    let err = bad.validate_connection().await.expect_err("wrong key");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert!(!format!("{err:?}").contains("API-WRONG"));
    Ok(())
}

/// The fake keeps a sensitive value when the PUT carries its Id with a null value and wipes
/// it when the Id is missing — the behaviour the destination relies on.
#[tokio::test]
async fn sensitive_values_are_kept_by_id() -> Result<()> {
    let fake = FakeOctopus::start().await;
    let (_, set) = fake.add_project("Web", false);
    fake.seed(&set, json!({"Name": "Theirs", "Value": "secret", "IsSensitive": true, "Type": "Sensitive", "Scope": {}}));
    let dest = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
    syncer(SecretSet::new("prod").with("A", "1"), dest)?
        .sync()
        .await?;
    let theirs = fake
        .variables(&set)
        .into_iter()
        .find(|v| v["Name"] == "Theirs")
        .expect("kept");
    assert_eq!(
        theirs["Value"], "secret",
        "round-tripped with its Id, so the value survives"
    );
    Ok(())
}

/// This route's documented answer to a PUT is the saved `VariableSetResource` (issue 22):
/// `{}`, `{"ok":true}` or another set confirms nothing. Every change is unconfirmed, the
/// ledger records none, and once the answers are right again the next sync converges.
#[tokio::test]
async fn a_put_answered_with_anything_but_the_set_is_unconfirmed() -> Result<()> {
    for body in [
        None,
        Some(&br#"{"ok":true}"#[..]),
        Some(&br#"{"Id":"variableset-Projects-999","Variables":[],"Version":1}"#[..]),
    ] {
        let fake = FakeOctopus::start().await;
        let (_, set) = fake.add_project("Web", false);
        let dest = Arc::new(fake.destination(OctopusConfig::project(SPACE, "web"))?);
        let store = Arc::new(MemoryStateStore::default());
        let s = Syncer::builder()
            .id("octopus")
            .source(Arc::new(StaticSource::new(
                SecretSet::new("prod").with("A", "1").with("B", "2"),
            )))
            .destination(dest)
            .key_schema_template("KMS_{{secretKey}}")
            .state(store.clone(), Fingerprinter::new(vec![4; 32])?)
            .build()?;
        let case = body.map_or("{}".into(), String::from_utf8_lossy);
        match body {
            None => fake.answer_puts_with_empty_object(true),
            Some(body) => fake.faults().push_aimed(
                kms_sync_testkit::Aim::Writes,
                kms_sync_testkit::Fault::Body(body.to_vec()),
            ),
        }
        let report = s.sync().await?;
        assert_eq!(report.counts.unconfirmed, 2, "{case}: {report}");
        assert_eq!(ledger_id(&store, "KMS_A").await?, None, "{case}");
        fake.answer_puts_with_empty_object(false);
        let report = s.sync().await?;
        assert!(report.is_success(), "{case}: {report}");
        assert!(ledger_id(&store, "KMS_A").await?.is_some(), "{case}");
        assert_eq!(fake.variables(&set).len(), 2, "{case}");
    }
    Ok(())
}
