//! `plan()` row by row, with its refusals.

use kms_sync_core::*;

const KEY: &[u8] = b"plan-rules-test-hmac-key-32-bytes!!";

fn dest() -> MemoryDestination {
    MemoryDestination::builder().build()
}

fn input<'a>(
    source: &'a SecretSet,
    snapshot: &'a Snapshot,
    schema: &'a dyn KeySchema,
    destination: &'a dyn Destination,
) -> PlanInput<'a> {
    PlanInput {
        source,
        source_name: "test",
        snapshot,
        schema,
        destination,
        ledger: None,
        claim_unrecorded: false,
        fingerprinter: None,
        options: PlanOptions {
            disable_secret_deletion: false,
            deletion_guard: DeletionGuard::disabled(),
        },
    }
}

fn known(key: &str, value: &str) -> RemoteEntry {
    RemoteEntry::new(key, RemoteValue::Known(SecretValue::new(value))).with_id(format!("id-{key}"))
}

fn hidden(key: &str) -> RemoteEntry {
    RemoteEntry::new(key, RemoteValue::Hidden).with_id(format!("id-{key}"))
}

fn action(plan: &Plan, key: &str) -> Option<PlanAction> {
    plan.item(key).map(|i| i.action)
}

#[test]
fn every_row_of_the_table() -> Result<()> {
    let fp = Fingerprinter::new(KEY.to_vec())?;
    let source = SecretSet::new("dev")
        .with("NEW", "n")
        .with("SAME", "s")
        .with("DIFF", "d2")
        .with("H_SAME", "hs")
        .with("H_CHANGED", "hc2")
        .with("H_NO_LEDGER", "hn")
        .with("H_ID_CHANGED", "hi");
    let snapshot = Snapshot::new(vec![
        known("SAME", "s"),
        known("DIFF", "d1"),
        hidden("H_SAME"),
        hidden("H_CHANGED"),
        hidden("H_NO_LEDGER"),
        hidden("H_ID_CHANGED"),
        known("GONE", "g"),
    ]);
    let mut ledger = Ledger::default();
    ledger.record(
        "H_SAME",
        Some("id-H_SAME".into()),
        fp.fingerprint("H_SAME", &SecretValue::new("hs")),
    );
    ledger.record(
        "H_CHANGED",
        Some("id-H_CHANGED".into()),
        fp.fingerprint("H_CHANGED", &SecretValue::new("hc1")),
    );
    ledger.record(
        "H_ID_CHANGED",
        Some("old-id".into()),
        fp.fingerprint("H_ID_CHANGED", &SecretValue::new("hi")),
    );
    // GONE is this sync's (the ledger says it wrote it), so it is deleted.
    ledger.record(
        "GONE",
        Some("id-GONE".into()),
        fp.fingerprint("GONE", &SecretValue::new("g")),
    );
    let d = dest();
    let mut i = input(&source, &snapshot, &NoKeySchema, &d);
    i.ledger = Some(&ledger);
    i.fingerprinter = Some(&fp);
    let plan = plan(i)?;
    assert_eq!(action(&plan, "NEW"), Some(PlanAction::Create));
    assert_eq!(action(&plan, "SAME"), Some(PlanAction::Unchanged));
    assert_eq!(action(&plan, "DIFF"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "H_SAME"), Some(PlanAction::Unchanged));
    assert_eq!(action(&plan, "H_CHANGED"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "H_NO_LEDGER"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "H_ID_CHANGED"), Some(PlanAction::Update));
    assert_eq!(
        plan.item("H_ID_CHANGED")
            .and_then(|i| i.reason.as_ref().map(|r| r.text())),
        Some("hidden value, destination id changed")
    );
    assert_eq!(action(&plan, "GONE"), Some(PlanAction::Delete));
    let c = plan.counts();
    assert_eq!((c.create, c.update, c.delete, c.unchanged), (1, 4, 1, 2));
    // Changes carry values for writes and the listed entry for updates and deletes.
    let update = plan
        .changes()
        .iter()
        .find(|c| c.key == "DIFF")
        .expect("DIFF change");
    assert_eq!(
        update.value.as_ref().map(SecretValue::expose_secret),
        Some("d2")
    );
    assert_eq!(
        update.current.as_ref().and_then(RemoteEntry::id),
        Some("id-DIFF")
    );
    Ok(())
}

#[test]
fn keys_outside_the_schema_are_never_in_the_plan() -> Result<()> {
    let schema = TemplateKeySchema::parse("APP_{{environment}}_{{secretKey}}")?;
    let source = SecretSet::new("prod").with("A", "1");
    let snapshot = Snapshot::new(vec![
        known("APP_dev_A", "x"),
        known("OTHER", "y"),
        known("APP_prod_B", "z"),
    ]);
    let d = dest();
    let plan = plan(input(&source, &snapshot, &schema, &d))?;
    let keys: Vec<_> = plan
        .items()
        .iter()
        .map(|i| (i.key.as_str(), i.action))
        .collect();
    assert_eq!(
        keys,
        [
            ("APP_prod_A", PlanAction::Create),
            ("APP_prod_B", PlanAction::Delete)
        ]
    );
    Ok(())
}

#[test]
fn disable_deletion_retains() -> Result<()> {
    let source = SecretSet::new("dev");
    let snapshot = Snapshot::new(vec![known("A", "1")]);
    let d = dest();
    let mut i = input(&source, &snapshot, &NoKeySchema, &d);
    i.options.disable_secret_deletion = true;
    let plan = plan(i)?;
    assert!(plan.is_empty());
    assert_eq!(plan.counts().retained, 1);
    Ok(())
}

#[test]
fn protected_entries_are_skipped_with_their_reason_and_never_deleted() -> Result<()> {
    let source = SecretSet::new("dev").with("A", "1");
    let snapshot = Snapshot::new(vec![
        known("A", "0").with_state(EntryState::protected("exists as a non-sensitive variable")),
        known("B", "0").with_state(EntryState::protected("locked")),
    ]);
    let d = dest();
    let plan = plan(input(&source, &snapshot, &NoKeySchema, &d))?;
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(action(&plan, "A"), Some(PlanAction::Skip));
    assert_eq!(
        plan.item("A")
            .and_then(|i| i.reason.as_ref().map(|r| r.text())),
        Some("exists as a non-sensitive variable")
    );
    // B is not wanted, but a protected entry is never this sync's to delete: untouched, and
    // (like every entry the sync does not own) not in the plan.
    assert_eq!(action(&plan, "B"), None, "{plan}");
    assert_eq!(plan.counts().skip, 1);
    assert_eq!(plan.counts().delete, 0);
    Ok(())
}

#[test]
fn every_bad_key_is_named_in_one_error() {
    let d = MemoryDestination::builder()
        .key_rule(KeyRule::Identifier)
        .build();
    let source = SecretSet::new("dev")
        .with("GOOD", "v")
        .with("1ST", "v")
        .with("HAS SPACE", "v")
        .with("DASH-ED", "v");
    let snapshot = Snapshot::default();
    let err = plan(input(&source, &snapshot, &NoKeySchema, &d)).expect_err("bad keys");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(err.keys(), ["1ST", "DASH-ED", "HAS SPACE"]);
    assert!(err.to_string().contains("3 key problem(s)"), "{err}");
}

#[test]
fn case_collisions_among_source_keys_and_with_the_destination() {
    let d = MemoryDestination::builder()
        .case_insensitive_keys(true)
        .build();
    let snapshot = Snapshot::new(vec![known("db_url", "x")]);
    let source = SecretSet::new("dev")
        .with("Token", "1")
        .with("TOKEN", "2")
        .with("DB_URL", "3");
    let err = plan(input(&source, &snapshot, &NoKeySchema, &d)).expect_err("collisions");
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    assert_eq!(err.keys(), ["DB_URL", "TOKEN", "Token", "db_url"]);
    assert!(err.to_string().contains("differ only in case"), "{err}");

    // The same input on a case-sensitive destination is fine.
    let d = dest();
    let plan = plan(input(&source, &snapshot, &NoKeySchema, &d)).expect("case-sensitive");
    assert_eq!(plan.counts().create, 3);
}

#[test]
fn a_managed_key_listed_twice_is_a_conflict() {
    let source = SecretSet::new("dev").with("A", "1");
    let snapshot = Snapshot::new(vec![known("A", "1"), known("A", "2")]);
    let d = dest();
    let err = plan(input(&source, &snapshot, &NoKeySchema, &d)).expect_err("duplicate");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.keys(), ["A"]);
}

#[test]
fn values_breaking_the_rule_are_named_without_values() {
    let d = MemoryDestination::builder()
        .reject_empty_values(true)
        .build();
    let source = SecretSet::new("dev")
        .with("A", "")
        .with("B", "fine")
        .with("C", "");
    let snapshot = Snapshot::default();
    let err = plan(input(&source, &snapshot, &NoKeySchema, &d)).expect_err("empty values");
    assert_eq!(err.kind(), ErrorKind::InvalidValue);
    assert_eq!(err.keys(), ["A", "C"]);
    assert!(!err.to_string().contains("fine"));
}

#[test]
fn deletion_guard_shares() {
    let d = dest();
    let snapshot = Snapshot::new((0..10).map(|i| known(&format!("K{i}"), "v")).collect());
    let keep = |n: usize| {
        let mut s = SecretSet::new("dev");
        for i in 0..n {
            s.insert(format!("K{i}"), "v");
        }
        s
    };
    let run = |source: &SecretSet, guard: DeletionGuard| {
        let mut i = input(source, &snapshot, &NoKeySchema, &d);
        i.options.deletion_guard = guard;
        plan(i)
    };
    // 5 of 10 is exactly the default limit: allowed. 6 of 10 is over it.
    assert!(run(&keep(5), DeletionGuard::default()).is_ok());
    let err = run(&keep(4), DeletionGuard::default()).expect_err("over the share");
    assert_eq!(err.kind(), ErrorKind::Guard);
    assert_eq!(err.keys().len(), 6);
    assert!(err.to_string().contains("6 of 10"), "{err}");
    // Below min_managed the share does not apply.
    assert!(run(&keep(4), DeletionGuard::default().with_min_managed(11)).is_ok());
    // An empty source is refused on its own terms, then allowed when asked.
    let err = run(
        &keep(0),
        DeletionGuard::default().with_max_delete_share(None),
    )
    .expect_err("empty");
    assert!(err.to_string().contains("is empty"), "{err}");
    assert!(run(&keep(0), DeletionGuard::disabled()).is_ok());
}

#[test]
fn plan_display_and_json_show_keys_not_values() -> Result<()> {
    let source = SecretSet::new("dev")
        .with("A", "value-one")
        .with("B", "value-two");
    let snapshot = Snapshot::new(vec![known("B", "value-old"), known("C", "value-three")]);
    let d = dest();
    let plan = plan(input(&source, &snapshot, &NoKeySchema, &d))?;
    let text = plan.to_string();
    let json = serde_json::to_string(&plan).map_err(|e| Error::unexpected(e.to_string()))?;
    for shown in [&text, &json, &format!("{plan:?}")] {
        assert!(!shown.contains("value-"), "{shown}");
    }
    assert!(text.contains("+ create    A"), "{text}");
    assert!(text.contains("~ update    B"), "{text}");
    assert!(text.contains("- delete    C"), "{text}");
    assert!(
        text.contains("1 to create, 1 to update, 1 to delete, 0 unchanged"),
        "{text}"
    );
    assert!(json.contains("\"action\":\"create\""), "{json}");
    Ok(())
}

#[test]
fn warnings_from_the_key_rule_reach_the_plan() -> Result<()> {
    struct Warns(MemoryDestination, StandardRules);
    #[async_trait]
    impl Destination for Warns {
        fn info(&self) -> &DestinationInfo {
            self.0.info()
        }
        fn rules(&self) -> &dyn KeyRules {
            &self.1
        }
        async fn list(&self) -> Result<Snapshot> {
            self.0.list().await
        }
        fn writer(&self) -> Writer<'_> {
            self.0.writer()
        }
    }
    let rules = StandardRules::new(KeyRule::Any)
        .warn_when(|key| (key == "CI").then_some("overrides a built-in variable"));
    let d = Warns(dest(), rules);
    let source = SecretSet::new("dev").with("CI", "1");
    let snapshot = Snapshot::default();
    let plan = plan(input(&source, &snapshot, &NoKeySchema, &d))?;
    assert_eq!(plan.warnings().len(), 1);
    assert_eq!(plan.warnings()[0].key, "CI");
    assert_eq!(plan.counts().create, 1, "a warning does not stop the write");
    Ok(())
}

/// Large plans are decided on several threads; the result must be the same plan.
#[test]
fn a_large_plan_decides_every_key_like_a_small_one() -> Result<()> {
    let fp = Fingerprinter::new(KEY.to_vec())?;
    let n = 20_000;
    let mut source = SecretSet::new("dev");
    let mut entries = Vec::new();
    let mut ledger = Ledger::default();
    for i in 0..n {
        let key = format!("K{i:05}");
        let value = SecretValue::new(format!("v{i}"));
        match i % 4 {
            0 => {} // absent: create
            1 => {
                // hidden, ledger equal: unchanged
                ledger.record(
                    key.clone(),
                    Some(format!("id-{key}")),
                    fp.fingerprint(&key, &value),
                );
                entries.push(hidden(&key));
            }
            2 => {
                // hidden, ledger differs: update
                ledger.record(
                    key.clone(),
                    Some(format!("id-{key}")),
                    fp.fingerprint(&key, &SecretValue::new("old")),
                );
                entries.push(hidden(&key));
            }
            _ => entries.push(known(&key, &format!("v{i}"))), // known, equal: unchanged
        }
        source.insert(key, value);
    }
    let snapshot = Snapshot::new(entries);
    let d = dest();
    let mut i = input(&source, &snapshot, &NoKeySchema, &d);
    i.ledger = Some(&ledger);
    i.fingerprinter = Some(&fp);
    let plan = plan(i)?;
    let c = plan.counts();
    assert_eq!((c.create, c.update, c.unchanged), (n / 4, n / 4, n / 2));
    assert_eq!(plan.changes().len(), n / 2);
    assert!(
        plan.changes().windows(2).all(|w| w[0].key < w[1].key),
        "changes sorted"
    );
    for (i, item) in plan.items().iter().enumerate() {
        let expected = match i % 4 {
            0 => PlanAction::Create,
            2 => PlanAction::Update,
            _ => PlanAction::Unchanged,
        };
        assert_eq!(item.key, format!("K{i:05}"));
        assert_eq!(item.action, expected, "{}", item.key);
        assert_eq!(item.source_key.as_deref(), Some(item.key.as_str()));
    }
    Ok(())
}

#[test]
fn an_entry_marked_for_rewrite_is_updated_even_when_equal() -> Result<()> {
    let source = SecretSet::new("dev").with("A", "same").with("B", "same");
    let snapshot = Snapshot::new(vec![
        known("A", "same").with_state(EntryState::must_replace(
            "stored unsecured; re-created as secured",
        )),
        known("B", "same"),
    ]);
    let d = dest();
    let plan = plan(input(&source, &snapshot, &NoKeySchema, &d))?;
    assert_eq!(action(&plan, "A"), Some(PlanAction::Update));
    assert_eq!(
        plan.item("A")
            .and_then(|i| i.reason.as_ref().map(|r| r.text())),
        Some("stored unsecured; re-created as secured")
    );
    assert_eq!(action(&plan, "B"), Some(PlanAction::Unchanged));
    Ok(())
}

#[test]
fn a_whole_set_destination_resends_hidden_values_only_when_something_changes() -> Result<()> {
    let d = MemoryDestination::builder()
        .write_mode(WriteMode::Batch)
        .readable_values(false)
        .replaces_whole_set(true)
        .build();
    let fp = Fingerprinter::new(KEY.to_vec())?;
    let mut ledger = Ledger::default();
    for (k, v) in [("A", "1"), ("B", "2"), ("C", "3")] {
        ledger.record(
            k,
            Some(format!("id-{k}")),
            fp.fingerprint(k, &SecretValue::new(v)),
        );
    }
    let snapshot = Snapshot::new(vec![hidden("A"), hidden("B"), known("C", "3")]);
    let run = |source: &SecretSet| {
        let mut i = input(source, &snapshot, &NoKeySchema, &d);
        i.ledger = Some(&ledger);
        i.fingerprinter = Some(&fp);
        plan(i)
    };
    // Nothing changed: nothing to send.
    let same = SecretSet::new("dev")
        .with("A", "1")
        .with("B", "2")
        .with("C", "3");
    assert!(run(&same)?.is_empty());
    // One change: the hidden unchanged value goes along; the readable one need not.
    let changed = SecretSet::new("dev")
        .with("A", "1")
        .with("B", "2-new")
        .with("C", "3");
    let plan = run(&changed)?;
    assert_eq!(action(&plan, "A"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "B"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "C"), Some(PlanAction::Unchanged));
    assert!(plan.changes().windows(2).all(|w| w[0].key < w[1].key));
    let c = plan.counts();
    assert_eq!((c.update, c.unchanged), (2, 1));
    // Only a delete: the write still replaces the set, so A and B go along.
    let shrunk = SecretSet::new("dev").with("A", "1").with("B", "2");
    let plan = run(&shrunk)?;
    assert_eq!(action(&plan, "C"), Some(PlanAction::Delete));
    assert_eq!(action(&plan, "A"), Some(PlanAction::Update));
    assert_eq!(action(&plan, "B"), Some(PlanAction::Update));
    let c = plan.counts();
    assert_eq!((c.update, c.delete, c.unchanged), (2, 1, 0));
    Ok(())
}

/// With a ledger, a schema-owned entry the ledger does not record belongs to someone else
/// (another sync with an overlapping schema): never deleted, never in the plan — except by
/// the initial `overwrite-destination` sync, which claims schema-owned extras.
#[test]
fn with_a_ledger_only_recorded_entries_are_deleted_except_on_the_initial_sync() -> Result<()> {
    let fp = Fingerprinter::new(KEY.to_vec())?;
    let schema = TemplateKeySchema::parse("APP_{{secretKey}}")?;
    let source = SecretSet::new("dev").with("A", "1");
    let snapshot = Snapshot::new(vec![
        hidden("APP_A"),
        hidden("APP_OLD"),
        hidden("APP_X_THEIRS"),
        hidden("OTHER"),
    ]);
    let mut ledger = Ledger::default();
    for k in ["APP_A", "APP_OLD"] {
        ledger.record(
            k,
            Some(format!("id-{k}")),
            fp.fingerprint(k, &SecretValue::new("v")),
        );
    }
    let d = dest();
    for initial in [false, true] {
        let mut i = input(&source, &snapshot, &schema, &d);
        i.ledger = Some(&ledger);
        i.fingerprinter = Some(&fp);
        i.claim_unrecorded = initial;
        let plan = plan(i)?;
        assert_eq!(action(&plan, "APP_OLD"), Some(PlanAction::Delete), "{plan}");
        assert_eq!(action(&plan, "OTHER"), None, "outside the schema: {plan}");
        let theirs = action(&plan, "APP_X_THEIRS");
        if initial {
            assert_eq!(
                theirs,
                Some(PlanAction::Delete),
                "initial sync claims: {plan}"
            );
        } else {
            assert_eq!(theirs, None, "never written by this sync: {plan}");
        }
    }
    Ok(())
}
