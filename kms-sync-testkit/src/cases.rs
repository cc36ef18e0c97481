//! The conformance cases. Each is a plain `async fn` over a [`ConformanceTarget`] that panics
//! with a clear message on a violation. Cases adapt their expectations to the destination's
//! [`Capabilities`](kms_sync_core::Capabilities) (readable or hidden values, per-key or batch
//! writes, case rule, value rule) rather than skip, so every case checks something on every
//! destination.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use kms_sync_core::{
    CaseRule, DeletionGuard, Destination, Error, ErrorKind, Fingerprinter, KeyStatus,
    MemoryStateStore, RunStatus, SecretSet, SecretSource, StateStore, StaticSource, SyncOptions,
    SyncReport, Syncer, WriteMode,
};

use crate::capture::LogCapture;
use crate::elsewhere::Elsewhere;
use crate::target::ConformanceTarget;

/// The key schema the cases sync with.
pub const SCHEMA: &str = "KMS_{{secretKey}}";

/// Every case, by name: the list [`for_each_case!`](crate::for_each_case) declares, from
/// which [`conformance_suite!`](crate::conformance_suite) generates one test per name.
pub const ALL: &[&str] = crate::for_each_case!(names_of!());

/// Calls a macro with the name of every conformance case, the one place the list is
/// declared: `for_each_case!(path::to::callback!(args…))` expands to
/// `path::to::callback! { args… round_trip, resync_makes_no_writes, … }` (each name is a
/// function in [`cases`](crate::cases), with a trailing comma). [`cases::ALL`](crate::cases::ALL)
/// and [`conformance_suite!`](crate::conformance_suite) are built from it; adding a case is
/// one line here and its function.
///
/// ```
/// macro_rules! count {
///     ($($case:ident),* $(,)?) => { [$(stringify!($case)),*].len() };
/// }
/// let cases = kms_sync_testkit::for_each_case!(count!());
/// assert_eq!(cases, kms_sync_testkit::cases::ALL.len());
/// ```
#[macro_export]
macro_rules! for_each_case {
    ($($callback:ident)::+ ! ( $($args:tt)* )) => {
        $($callback)::+ ! { $($args)*
            round_trip,
            resync_makes_no_writes,
            unmanaged_keys_untouched,
            pagination_past_three_pages,
            hidden_values_and_ledger,
            disable_secret_deletion_keeps_removed_keys,
            invalid_keys_stop_with_zero_writes,
            value_rule_enforced_before_writing,
            case_rule_collisions_refused,
            deletion_guard_trips,
            failed_write_holds_deletes_back,
            remove_deletes_only_managed,
            concurrent_syncers_keep_apart,
            overlapping_schemas_with_ledgers_keep_apart,
            reported_requests_match_the_service,
            ledger_bound_to_its_destination,
            secret_canary,
        }
    };
}

fn fingerprinter() -> Fingerprinter {
    match Fingerprinter::new(b"conformance-suite-hmac-key-0123456789".to_vec()) {
        Ok(fp) => fp,
        Err(e) => panic!("fingerprinter: {e}"),
    }
}

fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

fn err<T: Debug>(result: Result<T, Error>, what: &str) -> Error {
    match result {
        Ok(v) => panic!("{what} should have failed, got {v:?}"),
        Err(e) => e,
    }
}

fn set(pairs: &[(&str, &str)]) -> SecretSet {
    let mut s = SecretSet::new("test");
    for (k, v) in pairs {
        s.insert(*k, *v);
    }
    s
}

struct Harness<'a, T: ConformanceTarget + ?Sized> {
    target: &'a T,
    source: Arc<StaticSource>,
    ledger: Option<Arc<MemoryStateStore>>,
}

impl<'a, T: ConformanceTarget + ?Sized> Harness<'a, T> {
    fn new(target: &'a T, secrets: SecretSet) -> Self {
        Harness {
            target,
            source: Arc::new(StaticSource::new(secrets).named("conformance")),
            ledger: None,
        }
    }

    fn with_ledger(mut self) -> Self {
        self.ledger = Some(Arc::new(MemoryStateStore::default()));
        self
    }

    fn syncer(&self, schema: Option<&str>, options: SyncOptions) -> Syncer {
        let mut builder = Syncer::builder()
            .id("conformance")
            .source(self.source.clone())
            .destination(self.target.destination())
            .options(options);
        if let Some(schema) = schema {
            builder = builder.key_schema_template(schema);
        }
        if let Some(store) = &self.ledger {
            builder = builder.state(store.clone(), fingerprinter());
        }
        ok(builder.build(), "building the syncer")
    }

    fn default_syncer(&self) -> Syncer {
        self.syncer(Some(SCHEMA), SyncOptions::default())
    }

    async fn contents(&self) -> BTreeMap<String, String> {
        ok(
            self.target.contents().await,
            "reading the service's contents",
        )
    }

    fn hidden(&self) -> bool {
        !self
            .target
            .destination()
            .info()
            .capabilities
            .values_readable()
    }

    /// Whether one write replaces the whole set, so unchanged hidden values are re-sent.
    fn whole_set(&self) -> bool {
        self.target
            .destination()
            .info()
            .capabilities
            .replaces_whole_set()
    }

    fn batch(&self) -> bool {
        self.target.destination().writer().mode() == WriteMode::Batch
    }
}

fn assert_managed(contents: &BTreeMap<String, String>, expected: &[(&str, &str)], context: &str) {
    let managed: BTreeMap<&str, &str> = contents
        .iter()
        .filter(|(k, _)| k.starts_with("KMS_"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected: BTreeMap<&str, &str> = expected.iter().copied().collect();
    let keys: Vec<_> = managed.keys().collect();
    assert_eq!(
        keys,
        expected.keys().collect::<Vec<_>>(),
        "{context}: managed keys at the destination"
    );
    for (k, v) in expected {
        assert!(managed.get(k) == Some(&v), "{context}: wrong value for {k}");
    }
}

fn assert_no_writes(report: &SyncReport, context: &str) {
    assert_eq!(
        report.requests.writes(),
        0,
        "{context}: expected zero write requests, got {:?}",
        report.requests
    );
    assert_eq!(report.counts.applied(), 0, "{context}: {report}");
}

/// Create, update and delete reach the destination with the right values.
pub async fn round_trip<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "a-1"), ("B", "b-1"), ("C", "c-1")])).with_ledger();
    let syncer = h.default_syncer();
    let report = ok(syncer.sync().await, "first sync");
    assert_eq!(report.counts.created, 3, "first sync: {report}");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.status.sync_status, Some(RunStatus::Succeeded));
    assert_managed(
        &h.contents().await,
        &[("KMS_A", "a-1"), ("KMS_B", "b-1"), ("KMS_C", "c-1")],
        "after the first sync",
    );

    ok(h.source.set("A", "a-2"), "changing A");
    ok(h.source.remove("B"), "removing B");
    ok(h.source.set("D", "d-1"), "adding D");
    let report = ok(syncer.sync().await, "second sync");
    assert_eq!(report.counts.created, 1, "second sync: {report}");
    assert_eq!(report.counts.deleted, 1, "second sync: {report}");
    if h.whole_set() && h.hidden() {
        // C is unchanged but hidden: it rides along in the one write that replaces the set.
        assert_eq!(
            report.keys_with(KeyStatus::Updated),
            ["KMS_A", "KMS_C"],
            "{report}"
        );
        assert_eq!(
            report.requests.writes(),
            1,
            "one write for the whole set: {report}"
        );
    } else {
        assert_eq!(
            report.keys_with(KeyStatus::Updated),
            ["KMS_A"],
            "second sync: {report}"
        );
        assert_eq!(report.counts.unchanged, 1, "second sync: {report}");
    }
    assert_eq!(
        report.key("KMS_B").map(|k| k.status),
        Some(KeyStatus::Deleted)
    );
    assert_managed(
        &h.contents().await,
        &[("KMS_A", "a-2"), ("KMS_C", "c-1"), ("KMS_D", "d-1")],
        "after the second sync",
    );
}

/// A second sync with nothing changed writes nothing (with a ledger; also without one
/// when values are readable).
pub async fn resync_makes_no_writes<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2"), ("C", "3")])).with_ledger();
    let syncer = h.default_syncer();
    ok(syncer.sync().await, "first sync");
    let report = ok(syncer.sync().await, "resync");
    assert_no_writes(&report, "resync with a ledger");
    assert_eq!(report.counts.unchanged, 3, "{report}");

    if !h.hidden() {
        let plain = Harness::new(target, set(&[("A", "1"), ("B", "2"), ("C", "3")]));
        let report = ok(
            plain.default_syncer().sync().await,
            "resync without a ledger",
        );
        assert_no_writes(&report, "resync of readable values without a ledger");
    }
}

/// Keys outside the schema survive syncs, deletes and removes byte for byte.
pub async fn unmanaged_keys_untouched<T: ConformanceTarget + ?Sized>(target: &T) {
    let foreign = [
        ("OTHER_ONE", "o-1"),
        ("OTHER_TWO", "o-2 with spaces"),
        ("KMSX_NEAR", "n"),
    ];
    for (k, v) in foreign {
        ok(target.seed(k, v).await, "seeding a foreign key");
    }
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2")])).with_ledger();
    let options = SyncOptions::default().with_deletion_guard(DeletionGuard::disabled());
    let syncer = h.syncer(Some(SCHEMA), options);
    ok(syncer.sync().await, "sync");
    ok(h.source.replace(set(&[])), "emptying the source");
    let report = ok(syncer.sync().await, "sync of an empty source");
    assert_eq!(report.counts.deleted, 2, "{report}");
    ok(h.source.replace(set(&[("A", "1")])), "refilling the source");
    ok(syncer.sync().await, "sync");
    ok(syncer.remove().await, "remove");
    let contents = h.contents().await;
    for (k, v) in foreign {
        assert_eq!(
            contents.get(k).map(String::as_str),
            Some(v),
            "foreign key {k} was changed or deleted"
        );
    }
    assert_eq!(
        contents.len(),
        foreign.len(),
        "only the foreign keys remain"
    );
}

/// More keys than three list pages are all seen: nothing is created twice, nothing missed.
pub async fn pagination_past_three_pages<T: ConformanceTarget + ?Sized>(target: &T) {
    let n = (target.page_size() * 3 + 5).min(target.max_entries().saturating_sub(5));
    let foreign = 3;
    for i in 0..foreign {
        ok(target.seed(&format!("OTHER_{i}"), "x").await, "seeding");
    }
    let pairs: Vec<(String, String)> = (0..n)
        .map(|i| (format!("K{i:04}"), format!("v{i}")))
        .collect();
    let mut secrets = SecretSet::new("test");
    for (k, v) in &pairs {
        secrets.insert(k.clone(), v.clone());
    }
    let h = Harness::new(target, secrets).with_ledger();
    let syncer = h.default_syncer();
    let report = ok(syncer.sync().await, "first sync");
    assert_eq!(report.counts.created, n, "{report}");
    let report = ok(syncer.sync().await, "resync");
    assert_no_writes(&report, "resync over several pages");
    assert_eq!(report.counts.unchanged, n, "every key was listed: {report}");
    let contents = h.contents().await;
    assert_eq!(contents.len(), n + foreign);
    for (k, v) in &pairs {
        assert_eq!(contents.get(&format!("KMS_{k}")), Some(v), "{k}");
    }
}

/// Hidden values: without a ledger every run rewrites them; with a ledger an unchanged value
/// is skipped and a changed one written. Readable values are compared directly.
pub async fn hidden_values_and_ledger<T: ConformanceTarget + ?Sized>(target: &T) {
    let pairs = [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")];
    let plain = Harness::new(target, set(&pairs));
    ok(plain.default_syncer().sync().await, "first sync");
    let report = ok(
        plain.default_syncer().sync().await,
        "resync without a ledger",
    );
    if plain.hidden() {
        assert_eq!(
            report.counts.updated, 4,
            "hidden values are rewritten without a ledger: {report}"
        );
    } else {
        assert_no_writes(&report, "readable values without a ledger");
    }

    let h = Harness::new(target, set(&pairs)).with_ledger();
    let syncer = h.default_syncer();
    ok(syncer.sync().await, "first sync with a ledger");
    let report = ok(syncer.sync().await, "resync with a ledger");
    assert_no_writes(&report, "resync with a ledger");
    ok(h.source.set("C", "3-changed"), "changing C");
    let report = ok(syncer.sync().await, "sync after a change");
    if h.whole_set() && h.hidden() {
        assert_eq!(
            report.counts.updated, 4,
            "the whole set is re-sent: {report}"
        );
        assert_eq!(report.requests.writes(), 1, "{report}");
    } else {
        assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_C"], "{report}");
    }
    assert_managed(
        &h.contents().await,
        &[
            ("KMS_A", "1"),
            ("KMS_B", "2"),
            ("KMS_C", "3-changed"),
            ("KMS_D", "4"),
        ],
        "after a ledgered change",
    );
}

/// With `disableSecretDeletion`, keys removed at the source stay at the destination.
pub async fn disable_secret_deletion_keeps_removed_keys<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2")])).with_ledger();
    let syncer = h.syncer(
        Some(SCHEMA),
        SyncOptions::default().with_disable_secret_deletion(true),
    );
    ok(syncer.sync().await, "first sync");
    ok(h.source.remove("B"), "removing B");
    let report = ok(syncer.sync().await, "second sync");
    assert_eq!(report.counts.deleted, 0, "{report}");
    assert_no_writes(&report, "nothing to write or delete");
    assert_managed(
        &h.contents().await,
        &[("KMS_A", "1"), ("KMS_B", "2")],
        "deletion disabled",
    );
}

/// A key the destination refuses — and the empty key — stop the whole sync before any write,
/// with one error naming every bad key; the destination is left exactly as it was.
pub async fn invalid_keys_stop_with_zero_writes<T: ConformanceTarget + ?Sized>(target: &T) {
    ok(target.seed("EXISTING", "keep-me").await, "seeding");
    let destination = target.destination();
    let bad = ["1BAD", "BAD KEY", " PADDED ", "BAD\u{1}KEY", "BAD-KEY"]
        .into_iter()
        .find(|k| !destination.rules().validate_key(k).is_valid());
    let mut pairs = vec![("GOOD", "v"), ("", "empty key")];
    if let Some(bad) = bad {
        pairs.push((bad, "v"));
    }
    // No schema: every destination key is managed, so a plan that went ahead would also
    // delete EXISTING. Nothing may happen at all.
    let h = Harness::new(target, set(&pairs));
    let syncer = h.syncer(
        None,
        SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()),
    );
    let before = target.requests_received();
    let error = err(syncer.sync().await, "a sync with invalid keys");
    assert_eq!(error.kind(), ErrorKind::InvalidKey, "{error}");
    assert!(
        error.keys().iter().any(|k| k.is_empty()),
        "the empty key is named: {error:?}"
    );
    if let Some(bad) = bad {
        assert!(
            error.keys().iter().any(|k| k == bad),
            "`{bad}` is named: {error:?}"
        );
    }
    assert_eq!(
        target.requests_received().since(&before).writes(),
        0,
        "zero writes"
    );
    let contents = h.contents().await;
    assert_eq!(contents.len(), 1, "{:?}", contents.keys());
    assert_eq!(
        contents.get("EXISTING").map(String::as_str),
        Some("keep-me")
    );
    assert_eq!(syncer.status().sync_status, Some(RunStatus::Failed));
}

/// A value the destination refuses stops the sync before any write, naming the key; a
/// destination that accepts it stores it.
pub async fn value_rule_enforced_before_writing<T: ConformanceTarget + ?Sized>(target: &T) {
    let destination = target.destination();
    let empty_ok = destination
        .rules()
        .validate_value(&kms_sync_core::SecretValue::new(""))
        .is_valid();
    let h = Harness::new(target, set(&[("FULL", "x"), ("EMPTY", "")]));
    let result = h.default_syncer().sync().await;
    if empty_ok {
        let report = ok(result, "sync with an empty value");
        assert_eq!(report.counts.created, 2, "{report}");
    } else {
        let error = err(result, "sync with an empty value");
        assert_eq!(error.kind(), ErrorKind::InvalidValue, "{error}");
        assert_eq!(error.keys(), ["KMS_EMPTY"], "{error:?}");
        assert!(h.contents().await.is_empty(), "nothing written");
    }
}

/// Two source keys equal under the destination's case rule (or stored under one name) are
/// refused, naming both as stored; a case-sensitive destination stores both (unless its key rule refuses one of them, which
/// is then refused by name).
pub async fn case_rule_collisions_refused<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("api_key", "1"), ("API_KEY", "2")]));
    let destination = target.destination();
    let rejected: Vec<&str> = ["KMS_api_key", "KMS_API_KEY"]
        .into_iter()
        .filter(|k| !destination.rules().validate_key(k).is_valid())
        .collect();
    let result = h.default_syncer().sync().await;
    if destination.rules().case_rule() == CaseRule::Insensitive || !rejected.is_empty() {
        let error = err(result, "a sync of keys differing only in case");
        assert_eq!(error.kind(), ErrorKind::InvalidKey, "{error}");
        // Named as the destination stores them (`KeyRules::stored_key`).
        let named: Vec<String> = if rejected.is_empty() {
            ["KMS_api_key", "KMS_API_KEY"]
                .iter()
                .map(|k| destination.rules().stored_key(k).into_owned())
                .collect()
        } else {
            rejected.iter().map(|k| (*k).to_owned()).collect()
        };
        for k in named {
            assert!(error.keys().contains(&k), "{k} named: {error:?}");
        }
        assert!(h.contents().await.is_empty(), "nothing written");
    } else {
        let report = ok(result, "a sync of keys differing only in case");
        assert_eq!(report.counts.created, 2, "{report}");
    }
}

/// The deletion guard refuses an empty source wiping everything and a plan deleting most
/// managed keys, naming the keys, with zero writes; disabling it lets the plan through.
pub async fn deletion_guard_trips<T: ConformanceTarget + ?Sized>(target: &T) {
    let pairs: Vec<(String, String)> = (0..12)
        .map(|i| (format!("G{i:02}"), format!("v{i}")))
        .collect();
    let full: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let h = Harness::new(target, set(&full)).with_ledger();
    let syncer = h.default_syncer();
    ok(syncer.sync().await, "first sync");

    ok(h.source.replace(set(&[])), "emptying the source");
    let before = target.requests_received();
    let error = err(syncer.sync().await, "a sync of an empty source");
    assert_eq!(error.kind(), ErrorKind::Guard, "{error}");
    assert_eq!(error.keys().len(), 12, "every key named: {error:?}");
    assert_eq!(target.requests_received().since(&before).writes(), 0);

    ok(h.source.replace(set(&full[..4])), "shrinking the source");
    let error = err(syncer.sync().await, "a sync deleting 8 of 12");
    assert_eq!(error.kind(), ErrorKind::Guard, "{error}");
    assert_eq!(error.keys().len(), 8, "{error:?}");
    assert_eq!(h.contents().await.len(), 12, "nothing deleted");

    let unguarded = h.syncer(
        Some(SCHEMA),
        SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()),
    );
    let report = ok(unguarded.sync().await, "the same sync without a guard");
    assert_eq!(report.counts.deleted, 8, "{report}");
}

/// A failed write is reported by key, and no delete happens after it.
pub async fn failed_write_holds_deletes_back<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2"), ("C", "3")])).with_ledger();
    let syncer = h.default_syncer();
    ok(syncer.sync().await, "first sync");
    ok(target.fail_writes_to("KMS_A").await, "injecting a failure");
    ok(h.source.set("A", "1-changed"), "changing A");
    ok(h.source.remove("C"), "removing C");
    let report = ok(syncer.sync().await, "a sync with a failing write");
    assert!(!report.is_success(), "{report}");
    assert_eq!(
        report.key("KMS_A").map(|k| k.status),
        Some(KeyStatus::Failed),
        "{report}"
    );
    assert!(report.failed_keys().contains(&"KMS_A"));
    let c = report.key("KMS_C").map(|k| k.status);
    if h.batch() {
        assert_eq!(c, Some(KeyStatus::Failed), "a batch fails whole: {report}");
    } else {
        assert_eq!(
            c,
            Some(KeyStatus::Skipped),
            "the delete is held back: {report}"
        );
    }
    let status = syncer.status();
    assert_eq!(status.sync_status, Some(RunStatus::Failed));
    assert!(
        status
            .last_sync_message
            .as_deref()
            .is_some_and(|m| m.contains("KMS_A")),
        "{status:?}"
    );
    let contents = h.contents().await;
    assert_eq!(
        contents.get("KMS_C").map(String::as_str),
        Some("3"),
        "KMS_C must survive"
    );
    assert_eq!(
        contents.get("KMS_A").map(String::as_str),
        Some("1"),
        "KMS_A unchanged"
    );
}

/// `remove` deletes what this sync manages and nothing else: not foreign keys, and not
/// schema-shaped keys someone else wrote.
pub async fn remove_deletes_only_managed<T: ConformanceTarget + ?Sized>(target: &T) {
    ok(target.seed("OTHER", "o").await, "seeding");
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2")])).with_ledger();
    let syncer = h.default_syncer();
    ok(syncer.sync().await, "sync");
    ok(
        target.seed("KMS_FOREIGN", "f").await,
        "seeding a schema-shaped foreign key",
    );
    let report = ok(syncer.remove().await, "remove");
    assert_eq!(report.counts.deleted, 2, "{report}");
    assert_eq!(report.status.remove_status, Some(RunStatus::Succeeded));
    let contents = h.contents().await;
    let keys: Vec<&str> = contents.keys().map(String::as_str).collect();
    assert_eq!(keys, ["KMS_FOREIGN", "OTHER"]);
}

/// Two syncers with different key schemas (and their own ledgers) on one destination, run
/// at the same time for several rounds of source changes, never delete or overwrite each
/// other's keys, nor a foreign one; after every round each side holds exactly its source.
/// Where the destination writes its whole set and cannot read values back (a Checkly group),
/// only one side can own the set: the other is refused as `Unsupported` and writes nothing,
/// and the owner's keys are never disturbed.
pub async fn concurrent_syncers_keep_apart<T: ConformanceTarget + ?Sized>(target: &T) {
    ok(target.seed("FOREIGN_KEY", "theirs").await, "seeding");
    let left = Harness::new(target, set(&[("SHARED", "l0"), ("L_ONLY", "l")])).with_ledger();
    let right = Harness::new(target, set(&[("SHARED", "r0"), ("R_ONLY", "r")])).with_ledger();
    let build = |h: &Harness<'_, T>, id: &str, schema: &str| {
        let store = h.ledger.clone();
        let mut builder = Syncer::builder()
            .id(id)
            .source(h.source.clone())
            .destination(target.destination())
            .key_schema_template(schema)
            .options(SyncOptions::default().with_deletion_guard(DeletionGuard::disabled()));
        if let Some(store) = store {
            builder = builder.state(store, fingerprinter());
        }
        ok(builder.build(), "building a syncer")
    };
    // A set written whole whose values cannot be read back holds one syncer's secrets only.
    let caps = target.destination().info().capabilities.clone();
    let exclusive = caps.replaces_whole_set() && !caps.values_readable();
    let a = build(&left, "left", "LEFT_{{secretKey}}");
    let b = build(&right, "right", "RIGHT_{{secretKey}}");
    for round in 0..6 {
        // Each round adds a key, changes the shared one and drops the one added two rounds ago.
        for (h, side) in [(&left, "l"), (&right, "r")] {
            ok(
                h.source.set(format!("K{round}"), format!("{side}{round}")),
                "adding",
            );
            ok(
                h.source.set("SHARED", format!("{side}-shared-{round}")),
                "changing",
            );
            if round >= 2 {
                ok(h.source.remove(&format!("K{}", round - 2)), "removing");
            }
        }
        let (ra, rb) = tokio::join!(a.sync(), b.sync());
        let ra = ok(ra, "the left sync");
        let rb = ok(rb, "the right sync");
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        expected.insert("FOREIGN_KEY".to_owned(), "theirs".to_owned());
        for (h, prefix, report) in [(&left, "LEFT_", &ra), (&right, "RIGHT_", &rb)] {
            if exclusive && !report.is_success() {
                // The other side's secrets are in the set and cannot be read back: writing
                // the set would destroy them, so this side is refused and writes nothing.
                let refused = report.keys.iter().all(|k| {
                    k.status != KeyStatus::Failed
                        || k.error.as_ref().map(Error::kind) == Some(ErrorKind::Unsupported)
                });
                assert!(refused, "round {round}: {report}");
                continue;
            }
            assert!(report.is_success(), "round {round}: {report}");
            let secrets = ok(h.source.load().await, "reading a source");
            for (k, v) in secrets.iter() {
                expected.insert(format!("{prefix}{k}"), v.expose_secret().to_owned());
            }
        }
        assert!(
            ra.is_success() || rb.is_success(),
            "round {round}: neither side got through:\n{ra}\n{rb}"
        );
        assert_eq!(
            h_contents(target).await,
            expected,
            "round {round}: the two syncers disturbed each other"
        );
    }
}

/// Two syncs whose key schemas overlap (`KMS_{{secretKey}}` owns every key of
/// `KMS_OTHER_{{secretKey}}`), each with its own ledger, on one destination: once both have
/// made their initial sync, neither ever deletes or overwrites the other's keys, because a
/// sync with a ledger deletes only what its ledger says it wrote. Where the set is written
/// whole and its values cannot be read back (a Checkly group), only one of them can hold
/// it; the other is refused and writes nothing.
pub async fn overlapping_schemas_with_ledgers_keep_apart<T: ConformanceTarget + ?Sized>(
    target: &T,
) {
    let wide = Harness::new(target, set(&[("ONE", "w1"), ("TWO", "w2")])).with_ledger();
    let narrow = Harness::new(target, set(&[("X", "n1"), ("Y", "n2")])).with_ledger();
    let options = SyncOptions::default().with_deletion_guard(DeletionGuard::disabled());
    let build = |h: &Harness<'_, T>, id: &str, schema: &str| {
        let mut builder = Syncer::builder()
            .id(id)
            .source(h.source.clone())
            .destination(target.destination())
            .key_schema_template(schema)
            .options(options);
        if let Some(store) = h.ledger.clone() {
            builder = builder.state(store, fingerprinter());
        }
        ok(builder.build(), "building a syncer")
    };
    let a = build(&wide, "wide", SCHEMA);
    let b = build(&narrow, "narrow", "KMS_OTHER_{{secretKey}}");
    let caps = target.destination().info().capabilities.clone();
    let exclusive = caps.replaces_whole_set() && !caps.values_readable();
    ok(a.sync().await, "the wide sync's initial sync");
    let first_b = ok(b.sync().await, "the narrow sync's initial sync");
    if exclusive && !first_b.is_success() {
        // The set holds the other's secrets and cannot be read back: refused, nothing written.
        assert_eq!(
            first_b.requests.writes(),
            0,
            "refused before writing: {first_b}"
        );
        return;
    }
    assert!(first_b.is_success(), "{first_b}");
    for round in 0..4 {
        ok(
            wide.source
                .remove(if round % 2 == 0 { "TWO" } else { "ONE" }),
            "removing",
        );
        ok(wide.source.set(format!("W{round}"), "w"), "adding");
        ok(narrow.source.set("X", format!("n-{round}")), "changing");
        let (ra, rb) = tokio::join!(a.sync(), b.sync());
        let (ra, rb) = (ok(ra, "the wide sync"), ok(rb, "the narrow sync"));
        assert!(
            ra.is_success() && rb.is_success(),
            "round {round}:\n{ra}\n{rb}"
        );
        for report in [&ra, &rb] {
            let deleted = report.keys_with(KeyStatus::Deleted);
            let foreign: Vec<&&str> = deleted
                .iter()
                .filter(|k| (report.sync_id == "wide") == k.starts_with("KMS_OTHER_"))
                .collect();
            assert!(
                foreign.is_empty(),
                "round {round}: {} deleted {foreign:?}",
                report.sync_id
            );
        }
        let contents = h_contents(target).await;
        for (k, v) in ok(narrow.source.load().await, "reading").iter() {
            assert_eq!(
                contents.get(&format!("KMS_OTHER_{k}")).map(String::as_str),
                Some(v.expose_secret()),
                "round {round}: the narrow sync's key {k}"
            );
        }
        for (k, v) in ok(wide.source.load().await, "reading").iter() {
            assert_eq!(
                contents.get(&format!("KMS_{k}")).map(String::as_str),
                Some(v.expose_secret()),
                "round {round}: the wide sync's key {k}"
            );
        }
    }
}

/// The requests a report states are exactly the requests the service received during that
/// run — per run, not per destination instance, even with two syncers sharing one
/// destination at the same time.
pub async fn reported_requests_match_the_service<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "1"), ("B", "2"), ("C", "3")])).with_ledger();
    let syncer = h.default_syncer();
    let measured = |before: kms_sync_core::RequestStats| target.requests_received().since(&before);
    let before = target.requests_received();
    let first = ok(syncer.sync().await, "first sync");
    assert_eq!(first.requests, measured(before), "first sync: {first}");
    assert!(first.requests.writes() > 0, "the first sync wrote: {first}");
    ok(h.source.set("A", "1-changed"), "changing A");
    ok(h.source.remove("C"), "removing C");
    let before = target.requests_received();
    let second = ok(syncer.sync().await, "second sync");
    assert_eq!(second.requests, measured(before), "second sync: {second}");
    let before = target.requests_received();
    let plan = ok(syncer.plan().await, "plan");
    let report = ok(syncer.apply(&plan).await, "apply of an empty plan");
    assert_eq!(report.requests.writes(), 0, "{report}");
    assert!(
        report.requests.total() <= measured(before).total(),
        "apply counts only its own requests"
    );
    let other = Harness::new(target, set(&[("P", "1"), ("Q", "2")])).with_ledger();
    let other_syncer = ok(
        Syncer::builder()
            .id("other")
            .source(other.source.clone())
            .destination(target.destination())
            .key_schema_template("KMS_P_{{secretKey}}")
            .state(other.ledger.clone().unwrap_or_default(), fingerprinter())
            .build(),
        "building the other syncer",
    );
    ok(h.source.set("B", "2-changed"), "changing B");
    let before = target.requests_received();
    let (mine, theirs) = tokio::join!(syncer.sync(), other_syncer.sync());
    let (mine, theirs) = (ok(mine, "my sync"), ok(theirs, "their sync"));
    let total = measured(before);
    let sum = mine.requests.total() + theirs.requests.total();
    assert_eq!(sum, total.total(), "two runs at once:\n{mine}\n{theirs}");
    assert!(mine.requests.total() > 0 && theirs.requests.total() > 0);
    let removed = {
        let before = target.requests_received();
        let report = ok(syncer.remove().await, "remove");
        (report.requests, measured(before))
    };
    assert_eq!(removed.0, removed.1, "remove");
}

/// A ledger describes the destination it was written for: the same sync id and store used
/// with another destination (here: the same scope under another identity) is refused before
/// any write, naming both identities; the destination it describes keeps using it.
pub async fn ledger_bound_to_its_destination<T: ConformanceTarget + ?Sized>(target: &T) {
    let h = Harness::new(target, set(&[("A", "a-1")])).with_ledger();
    let store = h.ledger.clone().unwrap_or_default();
    let home = h.default_syncer();
    ok(home.sync().await, "the first sync");
    let identity = target.destination().info().identity.clone();
    let bound = ok(store.load("conformance").await, "loading the ledger");
    assert_eq!(
        bound.as_ref().and_then(|l| l.destination()),
        Some(&identity),
        "the ledger is bound to the destination it describes"
    );
    ok(h.source.set("A", "a-2"), "changing the source");
    let other = Arc::new(Elsewhere::new(target.destination()));
    let elsewhere = Syncer::builder()
        .id("conformance")
        .source(h.source.clone())
        .destination(other.clone())
        .key_schema_template(SCHEMA)
        .state(store.clone(), fingerprinter());
    let elsewhere = ok(elsewhere.build(), "building the other syncer");
    let before = target.requests_received();
    let refused = err(
        elsewhere.sync().await,
        "a sync with another destination's ledger",
    );
    assert_eq!(refused.kind(), ErrorKind::Config, "{refused}");
    let shown = refused.to_string();
    for part in [identity.to_string(), other.info().identity.to_string()] {
        assert!(shown.contains(&part), "`{part}` missing from {shown}");
    }
    let used = target.requests_received().since(&before);
    assert_eq!(used.writes(), 0, "refused before writing: {used:?}");
    assert_managed(
        &h.contents().await,
        &[("KMS_A", "a-1")],
        "after the refusal",
    );
    let report = ok(home.sync().await, "the sync the ledger describes");
    assert!(report.is_success(), "{report}");
    assert_managed(
        &h.contents().await,
        &[("KMS_A", "a-2")],
        "after its own sync",
    );
}

async fn h_contents<T: ConformanceTarget + ?Sized>(target: &T) -> BTreeMap<String, String> {
    ok(target.contents().await, "reading the service's contents")
}

/// A unique value never appears in any log line (TRACE), error, plan, report, status or
/// `Debug` output — through successes, failures and refusals.
pub async fn secret_canary<T: ConformanceTarget + ?Sized>(target: &T) {
    let canary = format!(
        "canary-{:016x}-value",
        std::process::id() as u64 ^ 0x5eed_cafe_f00d
    );
    let canary2 = format!("{canary}-two");
    let capture = LogCapture::default();
    let _guard = capture.install();
    let mut shown: Vec<String> = Vec::new();

    let h = Harness::new(
        target,
        set(&[("A", &canary), ("B", &canary2), ("C", "plain")]),
    )
    .with_ledger();
    let syncer = h.default_syncer();
    let plan = ok(syncer.plan().await, "plan");
    shown.push(format!("{plan}\n{plan:?}\n{}", json(&plan)));
    let report = ok(syncer.apply(&plan).await, "apply");
    shown.push(format!("{report}\n{report:?}\n{}", json(&report)));
    shown.push(format!("{syncer:?} {:?}", syncer.status()));
    shown.push(format!(
        "{:?}",
        ok(target.destination().list().await, "list")
    ));
    shown.push(format!("{:?}", ok(h.source.load().await, "load")));

    // Failures: a refused write, a refused plan, a guard.
    ok(target.fail_writes_to("KMS_B").await, "injecting a failure");
    ok(
        h.source.set("B", format!("{canary2}-changed")),
        "changing B",
    );
    let report = ok(syncer.sync().await, "a sync with a failing write");
    assert!(!report.is_success());
    shown.push(format!("{report}\n{report:?}\n{}", json(&report)));
    for k in &report.keys {
        if let Some(e) = &k.error {
            shown.push(format!("{e}\n{e:?}"));
        }
    }
    ok(
        h.source.set("bad key\u{1}", canary.clone()),
        "adding an invalid key",
    );
    ok(h.source.set("", canary.clone()), "adding the empty key");
    let error = err(syncer.sync().await, "a sync with invalid keys");
    shown.push(format!("{error}\n{error:?}\n{}", json(&error)));
    ok(h.source.replace(set(&[])), "emptying the source");
    let error = err(syncer.sync().await, "a sync of an empty source");
    shown.push(format!("{error}\n{error:?}"));
    shown.push(format!("{:?}", syncer.status()));

    let logs = capture.text();
    assert!(
        logs.contains("KMS_A"),
        "the capture works and logs keys:\n{logs}"
    );
    let credentials: Vec<String> = target
        .credentials()
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    for (i, text) in shown.iter().chain(std::iter::once(&logs)).enumerate() {
        assert!(
            !text.contains(&canary),
            "a secret value leaked into output #{i}:\n{text}"
        );
        for credential in &credentials {
            assert!(
                !text.contains(credential.as_str()),
                "a credential leaked into output #{i}:\n{text}"
            );
        }
    }
}

fn json<S: serde::Serialize>(value: &S) -> String {
    ok(serde_json::to_string(value), "serialising")
}
