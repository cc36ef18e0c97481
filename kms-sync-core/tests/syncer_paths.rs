//! The Syncer's failure paths, import modes, batch conflicts and status record.

use std::sync::Arc;

use kms_sync_core::*;

fn static_source(pairs: &[(&str, &str)]) -> Arc<StaticSource> {
    let mut s = SecretSet::new("dev");
    for (k, v) in pairs {
        s.insert(*k, *v);
    }
    Arc::new(StaticSource::new(s))
}

struct FailingSource;

#[async_trait]
impl SecretSource for FailingSource {
    fn describe(&self) -> String {
        "failing".into()
    }
    async fn load(&self) -> Result<SecretSet> {
        Err(Error::unexpected("reference ${OTHER} cannot be expanded").with_key("DB_URL"))
    }
    async fn revision(&self) -> Result<Option<Revision>> {
        Ok(None)
    }
}

#[tokio::test]
async fn a_failing_source_writes_and_deletes_nothing() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().build());
    dest.insert("KEEP", "v")?;
    let syncer = Syncer::builder()
        .source(Arc::new(FailingSource))
        .destination(dest.clone())
        .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()))
        .build()?;
    let err = syncer.sync().await.expect_err("source fails");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert_eq!(dest.requests().writes(), 0);
    assert!(dest.value("KEEP")?.is_some());
    let status = syncer.status();
    assert_eq!(status.sync_status, Some(RunStatus::Failed));
    assert!(status.last_synced_at.is_none());
    let err = syncer.remove().await.expect_err("remove needs the source");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert_eq!(syncer.status().remove_status, Some(RunStatus::Failed));
    Ok(())
}

#[tokio::test]
async fn a_failing_list_is_an_error_not_an_empty_destination() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().build());
    dest.fail_list(Some(ErrorKind::Unavailable))?;
    let syncer = Syncer::builder()
        .source(static_source(&[("A", "1")]))
        .destination(dest.clone())
        .build()?;
    let err = syncer.sync().await.expect_err("list fails");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(dest.requests().writes(), 0);
    Ok(())
}

#[tokio::test]
async fn a_plan_only_applies_to_its_own_destination() -> Result<()> {
    let source = static_source(&[("A", "1")]);
    let a = Syncer::builder()
        .source(source.clone())
        .destination(Arc::new(MemoryDestination::builder().target("a").build()))
        .build()?;
    let b = Syncer::builder()
        .source(source)
        .destination(Arc::new(MemoryDestination::builder().target("b").build()))
        .build()?;
    let plan = a.plan().await?;
    let err = b.apply(&plan).await.expect_err("wrong destination");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("memory:a"), "{err}");
    Ok(())
}

/// A batch destination where another writer changes the set between our list and our
/// first write.
fn racing(inner: &MemoryDestination) -> Arc<dyn Destination> {
    let other_writer = inner.clone();
    Arc::new(kms_sync_testkit::before_apply(
        Arc::new(inner.clone()),
        move |n| {
            if n == 0 {
                let _ = other_writer.insert("SOMEONE_ELSE", "x");
            }
            async {}
        },
    ))
}

#[tokio::test]
async fn a_batch_that_lost_a_race_is_replanned_and_retried() -> Result<()> {
    let inner = MemoryDestination::builder()
        .write_mode(WriteMode::Batch)
        .build();
    let dest = racing(&inner);
    let syncer = Syncer::builder()
        .source(static_source(&[("A", "1"), ("B", "2")]))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .build()?;
    let report = syncer.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(report.counts.created, 2);
    assert_eq!(
        inner.contents()?.len(),
        3,
        "the other writer's key survives"
    );
    // Two PUTs: the one that lost and the retry.
    assert_eq!(inner.requests().put, 2);

    // With retries off the conflict is reported by key.
    let inner = MemoryDestination::builder()
        .write_mode(WriteMode::Batch)
        .build();
    let syncer = Syncer::builder()
        .source(static_source(&[("A", "1")]))
        .destination(racing(&inner))
        .options(SyncOptions::default().with_conflict_retries(0))
        .key_schema_template("KMS_{{secretKey}}")
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.failed_keys(), ["KMS_A"]);
    assert_eq!(
        report
            .key("KMS_A")
            .and_then(|k| k.error.as_ref())
            .map(Error::kind),
        Some(ErrorKind::Conflict)
    );
    Ok(())
}

#[tokio::test]
async fn import_modes_are_refused_up_front_where_values_are_hidden() {
    let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
    let source = static_source(&[]);
    let err = Syncer::builder()
        .source(source.clone())
        .destination(dest.clone())
        .import_into(source.clone())
        .options(
            SyncOptions::default()
                .with_initial_sync_behavior(InitialSyncBehavior::ImportPrioritizeDestination),
        )
        .build()
        .expect_err("hidden values cannot be imported");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(
        err.to_string().contains("import-prioritize-destination"),
        "{err}"
    );

    let syncer = Syncer::builder()
        .source(source.clone())
        .destination(dest)
        .import_into(source)
        .build()
        .expect("overwrite-destination is fine");
    let err = syncer.import().await.expect_err("explicit import");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[tokio::test]
async fn initial_import_prioritising_the_source() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().import(true).build());
    dest.insert("KMS_SHARED", "from-destination")?;
    dest.insert("KMS_ONLY_THERE", "there")?;
    dest.insert("UNMANAGED", "u")?;
    let source = static_source(&[("SHARED", "from-source")]);
    let syncer = Syncer::builder()
        .source(source.clone())
        .destination(dest.clone())
        .key_schema_template("KMS_{{secretKey}}")
        .import_into(source.clone())
        .options(
            SyncOptions::default()
                .with_initial_sync_behavior(InitialSyncBehavior::ImportPrioritizeSource),
        )
        .build()?;
    let report = syncer.sync().await?;
    assert!(report.is_success(), "{report}");
    let loaded = source.load().await?;
    assert_eq!(
        loaded.get("SHARED").map(SecretValue::expose_secret),
        Some("from-source")
    );
    assert_eq!(
        loaded.get("ONLY_THERE").map(SecretValue::expose_secret),
        Some("there")
    );
    assert!(
        loaded.get("UNMANAGED").is_none(),
        "keys outside the schema are not imported"
    );
    assert_eq!(
        dest.value("KMS_SHARED")?
            .map(|v| v.expose_secret().to_owned())
            .as_deref(),
        Some("from-source")
    );
    assert!(syncer.status().import_status == Some(RunStatus::Succeeded));

    // Only the first sync imports: a key that appears at the destination later is deleted.
    dest.insert("KMS_LATER", "x")?;
    let report = syncer.sync().await?;
    assert_eq!(report.operation, Operation::Sync);
    assert_eq!(report.keys_with(KeyStatus::Deleted), ["KMS_LATER"]);
    Ok(())
}

#[tokio::test]
async fn initial_import_prioritising_the_destination() -> Result<()> {
    let dest = Arc::new(MemoryDestination::builder().import(true).build());
    dest.insert("SHARED", "from-destination")?;
    let source = static_source(&[("SHARED", "from-source")]);
    let syncer = Syncer::builder()
        .source(source.clone())
        .destination(dest.clone())
        .import_into(source.clone())
        .options(
            SyncOptions::default()
                .with_initial_sync_behavior(InitialSyncBehavior::ImportPrioritizeDestination),
        )
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.requests.writes(), 0, "{report}");
    let loaded = source.load().await?;
    assert_eq!(
        loaded.get("SHARED").map(SecretValue::expose_secret),
        Some("from-destination")
    );
    Ok(())
}

#[tokio::test]
async fn status_record_uses_the_kms_field_names() -> Result<()> {
    let syncer = Syncer::builder()
        .id("my-sync")
        .source(static_source(&[("A", "1")]))
        .destination(Arc::new(MemoryDestination::builder().build()))
        .build()?;
    let report = syncer.sync().await?;
    let json = serde_json::to_value(&report).map_err(|e| Error::unexpected(e.to_string()))?;
    let status = &json["status"];
    assert_eq!(status["syncStatus"], "succeeded");
    assert_eq!(status["lastSyncJobId"], json["jobId"]);
    assert!(status["lastSyncMessage"].is_null());
    let at = status["lastSyncedAt"].as_str().unwrap_or_default();
    assert!(humantime::parse_rfc3339(at).is_ok(), "RFC 3339: {at}");
    for field in [
        "importStatus",
        "lastImportJobId",
        "lastImportMessage",
        "lastImportedAt",
        "removeStatus",
        "lastRemoveJobId",
        "lastRemoveMessage",
        "lastRemovedAt",
    ] {
        assert!(status[field].is_null(), "{field} present and null");
    }
    assert_eq!(json["syncId"], "my-sync");
    assert_eq!(json["counts"]["created"], 1);
    assert!(json["durationMs"].is_u64());
    Ok(())
}

#[tokio::test]
async fn builder_errors_name_what_is_missing() {
    let err = Syncer::builder().build().expect_err("no source");
    assert!(err.to_string().contains(".source("), "{err}");
    let err = Syncer::builder()
        .source(static_source(&[]))
        .build()
        .expect_err("no destination");
    assert!(err.to_string().contains(".destination("), "{err}");
    let err = Syncer::builder()
        .source(static_source(&[]))
        .destination(Arc::new(MemoryDestination::builder().build()))
        .key_schema_template("NO_PLACEHOLDER")
        .build()
        .expect_err("bad schema");
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// A batch writer that answers with fewer results than changes broke the contract: the
/// engine cannot tell which change the service confirmed, so none counts as applied.
#[tokio::test]
async fn a_batch_returning_too_few_results_leaves_every_change_unconfirmed() -> Result<()> {
    struct Forgetful(MemoryDestination);
    #[async_trait]
    impl Destination for Forgetful {
        fn info(&self) -> &DestinationInfo {
            self.0.info()
        }
        fn rules(&self) -> &dyn KeyRules {
            self.0.rules()
        }
        async fn list(&self) -> Result<Snapshot> {
            self.0.list().await
        }
        fn writer(&self) -> Writer<'_> {
            Writer::Batch(self)
        }
    }
    #[async_trait]
    impl BatchWriter for Forgetful {
        async fn write_all(
            &self,
            changes: &[Change],
            expect: Option<&Version>,
        ) -> Result<Vec<Applied>> {
            let Writer::Batch(inner) = self.0.writer() else {
                return Err(Error::unexpected(
                    "the memory destination should write batches",
                ));
            };
            let mut applied = inner.write_all(changes, expect).await?;
            applied.pop();
            Ok(applied)
        }
    }
    let memory = MemoryDestination::builder()
        .write_mode(WriteMode::Batch)
        .build();
    let syncer = Syncer::builder()
        .source(static_source(&[("A", "1"), ("B", "2")]))
        .destination(Arc::new(Forgetful(memory)))
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.counts.created, 0, "{report}");
    assert_eq!(report.counts.unconfirmed, 2, "{report}");
    assert_eq!(report.keys_with(KeyStatus::Unconfirmed), ["A", "B"]);
    assert!(!report.is_success());
    Ok(())
}

#[tokio::test]
async fn progress_counts_every_change_of_an_apply() -> Result<()> {
    for mode in [WriteMode::PerKey, WriteMode::Batch] {
        let progress = Arc::new(Progress::new());
        let dest = Arc::new(MemoryDestination::builder().write_mode(mode).build());
        let source = static_source(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let syncer = Syncer::builder()
            .source(source.clone())
            .destination(dest.clone())
            .progress(progress.clone())
            .build()?;
        syncer.sync().await?;
        assert_eq!((progress.done(), progress.total()), (3, 3), "{mode:?}");
        source.remove("C")?;
        syncer.sync().await?;
        assert_eq!(
            (progress.done(), progress.total()),
            (1, 1),
            "{mode:?}: a new apply starts at zero"
        );
        syncer.remove().await?;
        assert_eq!((progress.done(), progress.total()), (2, 2), "{mode:?}");
    }
    Ok(())
}
