//! What the engine trusts of a read, for every destination alike: a destination that
//! addresses its entries by id gets no write built from an entry listed without one (sync,
//! remove and import are all refused before writing), and a ledger is used only with the
//! destination it describes.

use std::sync::Arc;

use kms_sync_core::*;

fn source(pairs: &[(&str, &str)]) -> Arc<StaticSource> {
    let mut set = SecretSet::new("test");
    for (k, v) in pairs {
        set.insert(*k, *v);
    }
    Arc::new(StaticSource::new(set))
}

fn fingerprinter() -> Fingerprinter {
    Fingerprinter::new(b"read-trust-test-hmac-key-0123456789".to_vec())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A memory destination that declares its writes need entry ids, and lists one key (a
/// foreign one: whoever wrote it, a write built from this read could lose it) without its id.
struct IdLess {
    memory: MemoryDestination,
    info: DestinationInfo,
    without_id: &'static str,
}

impl IdLess {
    fn new(memory: MemoryDestination, without_id: &'static str) -> IdLess {
        let inner = memory.info();
        let capabilities = inner.capabilities.clone().with_entry_ids_required(true);
        let info = DestinationInfo::new(inner.kind.clone(), inner.target.clone(), capabilities)
            .with_identity(inner.identity.clone());
        IdLess {
            memory,
            info,
            without_id,
        }
    }
}

#[async_trait]
impl Destination for IdLess {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }
    fn rules(&self) -> &dyn KeyRules {
        self.memory.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        let listed = self.memory.list().await?;
        let entries = listed
            .entries()
            .iter()
            .map(|e| match e.key() == self.without_id {
                true => RemoteEntry::new(e.key(), e.value().clone()),
                false => e.clone(),
            })
            .collect();
        Ok(Snapshot::new(entries))
    }
    fn writer(&self) -> Writer<'_> {
        self.memory.writer()
    }
}

fn assert_incomplete(err: &Error, what: &str) {
    assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{what}: {err}");
    assert!(!err.kind().is_retryable());
    let shown = err.to_string();
    for part in ["THEIRS", "`id`", "memory:default", "nothing was written"] {
        assert!(
            shown.contains(part),
            "{what}: `{part}` missing from {shown}"
        );
    }
    assert_eq!(err.key(), Some("THEIRS"), "{what}");
}

#[tokio::test]
async fn an_entry_without_the_id_its_writes_need_stops_sync_remove_and_import() -> Result<()> {
    let memory = MemoryDestination::builder().import(true).build();
    memory.insert("THEIRS", "foreign")?;
    memory.insert("KMS_OLD", "ours once")?;
    let before = memory.contents()?;
    let destination = Arc::new(IdLess::new(memory.clone(), "THEIRS"));
    let syncer = Syncer::builder()
        .source(source(&[("NEW", "n")]))
        .destination(destination)
        .key_schema_template("KMS_{{secretKey}}")
        .import_into(source(&[]))
        .state(Arc::new(MemoryStateStore::default()), fingerprinter())
        .build()?;
    assert_incomplete(&syncer.plan().await.expect_err("plan refused"), "plan");
    assert_incomplete(&syncer.sync().await.expect_err("sync refused"), "sync");
    assert_incomplete(
        &syncer.remove().await.expect_err("remove refused"),
        "remove",
    );
    assert_incomplete(
        &syncer.import().await.expect_err("import refused"),
        "import",
    );
    assert_eq!(memory.requests().writes(), 0, "nothing was written");
    assert_eq!(memory.contents()?, before, "every entry intact");
    assert_eq!(syncer.status().sync_status, Some(RunStatus::Failed));
    Ok(())
}

#[tokio::test]
async fn entries_without_ids_are_fine_where_writes_do_not_need_them() -> Result<()> {
    // The same read from a destination that does not declare the need: planned and written.
    let memory = MemoryDestination::builder().build();
    memory.insert("THEIRS", "foreign")?;
    struct Plain(IdLess);
    #[async_trait]
    impl Destination for Plain {
        fn info(&self) -> &DestinationInfo {
            self.0.memory.info()
        }
        fn rules(&self) -> &dyn KeyRules {
            self.0.rules()
        }
        async fn list(&self) -> Result<Snapshot> {
            self.0.list().await
        }
        fn writer(&self) -> Writer<'_> {
            self.0.writer()
        }
    }
    let destination = Arc::new(Plain(IdLess::new(memory.clone(), "THEIRS")));
    let syncer = Syncer::builder()
        .source(source(&[("NEW", "n")]))
        .destination(destination)
        .key_schema_template("KMS_{{secretKey}}")
        .build()?;
    assert_eq!(syncer.sync().await?.counts.created, 1);
    Ok(())
}

fn memory_named(name: &str) -> MemoryDestination {
    MemoryDestination::builder()
        .readable_values(false)
        .identity(DestinationIdentity::new("memory").with("name", name))
        .build()
}

fn syncer_on(
    destination: &MemoryDestination,
    store: &Arc<MemoryStateStore>,
    source: Arc<StaticSource>,
) -> Result<Syncer> {
    Syncer::builder()
        .id("shared-name")
        .source(source)
        .destination(Arc::new(destination.clone()))
        .key_schema_template("KMS_{{secretKey}}")
        .state(store.clone(), fingerprinter())
        .build()
}

#[tokio::test]
async fn a_ledger_bound_to_another_destination_is_refused_naming_both() -> Result<()> {
    let store = Arc::new(MemoryStateStore::default());
    let (staging, production) = (memory_named("staging"), memory_named("production"));
    let first = syncer_on(&staging, &store, source(&[("A", "1")]))?;
    assert_eq!(first.sync().await?.counts.created, 1);
    let bound = store
        .load("shared-name")
        .await?
        .and_then(|l| l.destination().cloned());
    assert_eq!(
        bound.map(|d| d.to_string()).as_deref(),
        Some("memory:name=staging")
    );

    // Production already holds an older KMS_A: with staging's ledger, its hidden value would
    // pass as "unchanged".
    production.insert("KMS_A", "stale")?;
    let second = syncer_on(&production, &store, source(&[("A", "1")]))?;
    for (what, err) in [
        ("plan", second.plan().await.expect_err("plan refused")),
        ("sync", second.sync().await.expect_err("sync refused")),
        ("remove", second.remove().await.expect_err("remove refused")),
    ] {
        assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err}");
        let shown = err.to_string();
        for part in [
            "memory:name=staging",
            "memory:name=production",
            "`shared-name`",
        ] {
            assert!(
                shown.contains(part),
                "{what}: `{part}` missing from {shown}"
            );
        }
    }
    assert_eq!(production.requests().writes(), 0, "nothing was written");
    let value = production
        .contents()?
        .get("KMS_A")
        .map(|v| v.expose_secret().to_owned());
    assert_eq!(
        value.as_deref(),
        Some("stale"),
        "left for a sync with its own ledger"
    );

    // The destination the ledger describes keeps using it: nothing to do.
    assert_eq!(first.sync().await?.requests.writes(), 0);
    Ok(())
}

#[tokio::test]
async fn a_ledger_from_before_binding_is_used_and_bound_by_the_next_run() -> Result<()> {
    let store = Arc::new(MemoryStateStore::default());
    let destination = memory_named("staging");
    let syncer = syncer_on(&destination, &store, source(&[("A", "1")]))?;
    syncer.sync().await?;
    // Strip the binding, as a ledger written by an older kms-sync would lack it.
    let ledger = store.load("shared-name").await?.unwrap_or_default();
    let mut json = serde_json::to_value(&ledger).map_err(|e| Error::unexpected(e.to_string()))?;
    assert!(json.get("destination").is_some(), "{json}");
    json.as_object_mut().map(|o| o.remove("destination"));
    let old: Ledger = serde_json::from_value(json).map_err(|e| Error::unexpected(e.to_string()))?;
    assert!(old.destination().is_none());
    store.save("shared-name", &old).await?;

    let again = syncer_on(&destination, &store, source(&[("A", "1")]))?;
    assert_eq!(
        again.sync().await?.requests.writes(),
        0,
        "its entries still count"
    );
    let bound = store
        .load("shared-name")
        .await?
        .and_then(|l| l.destination().cloned());
    assert_eq!(
        bound.map(|d| d.to_string()).as_deref(),
        Some("memory:name=staging")
    );
    Ok(())
}
