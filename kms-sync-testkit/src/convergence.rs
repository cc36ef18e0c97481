//! Randomized convergence: many seeded runs of random sources, random destination contents,
//! random key schemas, options and injected faults against one destination's fake.
//!
//! Each run draws, from its seed:
//!
//! - a source of up to 25 keys with awkward values, sometimes with a key the destination
//!   refuses or two keys that differ only in case;
//! - a key schema (prefix, suffix, or prefix with `{{environment}}`);
//! - what the destination already holds: foreign keys (some differing only in case from a
//!   key the sync will write), stale managed keys, and managed keys with right or wrong values;
//! - options: deletion disabled or not, a concurrency from 1 to 8, a ledger or not (always
//!   one where values cannot be read back);
//! - up to three faults at random points of the first sync (5xx, 429, dropped connections,
//!   malformed and truncated bodies).
//!
//! The model predicts the outcome without looking at kms-sync: either the plan is refused
//! (an invalid key or value, or a case collision on a destination whose keys ignore case),
//! and then every sync stops before writing and the destination never changes; or, after at
//! most one retry, the destination holds exactly the foreign keys, the source rendered
//! through the schema, and (with deletion disabled) the stale keys — and one more sync
//! writes nothing. Foreign keys are checked after every sync.
//!
//! Seeds `0..16` run by default. `KMS_SYNC_SEEDS=<n>` runs seeds `0..n`;
//! `KMS_SYNC_SEED=<s>` replays one. A failing run names its seed and the replay command.
//!
//! ```
//! use kms_sync_testkit::convergence::seeds;
//! assert!(!seeds().is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use kms_sync_core::{
    DeletionGuard, Destination, Fingerprinter, KeySchema, MemoryStateStore, SecretSet, SecretValue,
    StaticSource, SyncOptions, Syncer, TemplateKeySchema,
};

use crate::fault::{Aim, Fault};
use crate::matrix::FaultTarget;

/// The seeds to run: `KMS_SYNC_SEED` alone if set, else `0..KMS_SYNC_SEEDS` (default 16).
pub fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("KMS_SYNC_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("KMS_SYNC_SEEDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16u64);
    (0..count).collect()
}

const SCHEMAS: &[&str] = &[
    "KMS_{{secretKey}}",
    "{{secretKey}}_SYNCED",
    "APP_{{environment}}_{{secretKey}}",
];

const ENVIRONMENT: &str = "prod";

/// One drawn world: what the run starts from and what it must end in.
struct World {
    schema: &'static str,
    source: SecretSet,
    /// Everything at the destination before the first sync.
    initial: BTreeMap<String, String>,
    /// The keys of `initial` the schema does not own.
    foreign: BTreeMap<String, String>,
    /// The destination after convergence, or `None` when the plan must be refused.
    model: Option<BTreeMap<String, String>>,
    options: SyncOptions,
    ledger: bool,
    faults: Vec<(usize, Fault)>,
}

fn name(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(1..=8);
    let mut s = String::with_capacity(len);
    s.push(rng.uppercase());
    for _ in 1..len {
        s.push(match rng.u8(0..10) {
            0 => '_',
            1..=2 => rng.digit(10),
            _ => rng.uppercase(),
        });
    }
    s
}

fn value(rng: &mut fastrand::Rng) -> String {
    const ODD: &[&str] = &[
        "é", "ß", "雪", " ", "\"", "'", "\\", "=", "#", "$", "{", "}", "%",
    ];
    let len = rng.usize(1..=24);
    let mut s = String::new();
    for _ in 0..len {
        if rng.u8(0..6) == 0 {
            s.push_str(ODD[rng.usize(0..ODD.len())]);
        } else {
            s.push(rng.alphanumeric());
        }
    }
    // Never blank: some services refuse empty values, and the value rule cases test that.
    if s.trim().is_empty() {
        s.push('v');
    }
    s
}

fn fault(rng: &mut fastrand::Rng) -> Fault {
    match rng.u8(0..6) {
        0 => Fault::Status(500),
        1 => Fault::Status(503),
        2 => Fault::RateLimitedBare,
        3 => Fault::Drop,
        4 => Fault::Malformed,
        _ => Fault::Truncated,
    }
}

fn draw(seed: u64, destination: &dyn Destination, room: usize) -> World {
    let mut rng = fastrand::Rng::with_seed(seed);
    let schema_text = SCHEMAS[rng.usize(0..SCHEMAS.len())];
    let schema = match TemplateKeySchema::parse(schema_text) {
        Ok(s) => s,
        Err(e) => panic!("the built-in schema {schema_text} does not parse: {e}"),
    };
    let caps = destination.info().capabilities.clone();
    let rules = destination.rules();
    let ci = rules.case_rule() == kms_sync_core::CaseRule::Insensitive;

    // The source.
    let mut source = SecretSet::new(ENVIRONMENT);
    let mut names: BTreeSet<String> = BTreeSet::new();
    let wanted = rng.usize(0..=25.min(room / 3));
    while names.len() < wanted {
        names.insert(name(&mut rng));
    }
    if !names.is_empty() && rng.u8(0..10) == 0 {
        // A second spelling of a key, differing only in case.
        let pick = names.iter().nth(rng.usize(0..names.len())).cloned();
        if let Some(lower) = pick.map(|n| n.to_lowercase()) {
            names.insert(lower);
        }
    }
    if rng.u8(0..12) == 0 {
        names.insert("BAD-KEY".to_owned());
    }
    for n in &names {
        source.insert(n.clone(), value(&mut rng));
    }
    // Keys as the destination stores them (`KeyRules::stored_key`), as the plan has them.
    let stored = |key: &str| rules.stored_key(key).into_owned();
    let desired: BTreeMap<String, String> = source
        .iter()
        .map(|(k, v)| {
            (
                stored(&schema.render(k, ENVIRONMENT)),
                v.expose_secret().to_owned(),
            )
        })
        .collect();
    // Two source keys stored under one name.
    let stored_clash = desired.len() < source.len();

    // What the destination holds already.
    let mut initial: BTreeMap<String, String> = BTreeMap::new();
    let mut foreign: BTreeMap<String, String> = BTreeMap::new();
    let mut folded: BTreeSet<String> = BTreeSet::new();
    let mut place = |key: String, value: String, foreign_map: &mut BTreeMap<String, String>| {
        // Held under its stored name; owned as rendered, or as the stored name of a key the
        // sync writes (a second spelling the service stores as that key).
        let owned = schema.owns(&key, ENVIRONMENT);
        let key = stored(&key);
        let owned = owned || desired.contains_key(&key);
        // Each existing key unique ignoring case, as a case-insensitive service keeps them.
        if !folded.insert(key.to_lowercase()) {
            return false;
        }
        if !owned {
            foreign_map.insert(key.clone(), value.clone());
        }
        initial.insert(key, value);
        true
    };
    for _ in 0..rng.usize(0..=6) {
        let key = format!("EXT_{}_X", name(&mut rng));
        place(key, value(&mut rng), &mut foreign);
    }
    for (key, v) in &desired {
        match rng.u8(0..8) {
            0 => {
                place(key.clone(), v.clone(), &mut foreign);
            }
            1 => {
                place(key.clone(), value(&mut rng), &mut foreign);
            }
            _ => {}
        }
    }
    if !desired.is_empty() && rng.u8(0..6) == 0 {
        // A foreign key differing only in case from one the sync will write.
        if let Some(key) = desired.keys().nth(rng.usize(0..desired.len())) {
            place(key.to_lowercase(), value(&mut rng), &mut foreign);
        }
    }
    let mut stale: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..rng.usize(0..=5) {
        let key = schema.render(&format!("OLD{}", name(&mut rng)), ENVIRONMENT);
        let v = value(&mut rng);
        if !desired.contains_key(&stored(&key)) && place(key.clone(), v.clone(), &mut foreign) {
            stale.insert(stored(&key), v);
        }
    }

    let disable_deletion = rng.u8(0..4) == 0;
    let options = SyncOptions::default()
        .with_deletion_guard(DeletionGuard::disabled())
        .with_disable_secret_deletion(disable_deletion)
        .with_concurrency(rng.usize(1..=8));
    let ledger = !caps.values_readable() || rng.bool();

    // The model, computed from the rules, not from kms-sync.
    let mut refused = stored_clash
        || desired.iter().any(|(k, v)| {
            !rules.validate_key(k).is_valid()
                || !rules
                    .validate_value_for(k, &SecretValue::new(v.clone()))
                    .is_valid()
        });
    if ci {
        let mut spellings: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for key in desired.keys() {
            spellings.entry(key.to_lowercase()).or_default().insert(key);
        }
        let in_source_clash = spellings.values().any(|s| s.len() > 1);
        let existing_clash = desired.keys().any(|key| {
            !initial.contains_key(key)
                && initial
                    .keys()
                    .any(|existing| existing.to_lowercase() == key.to_lowercase())
        });
        refused |= in_source_clash || existing_clash;
    }
    let model = (!refused).then(|| {
        let mut m = foreign.clone();
        m.extend(desired.clone());
        if disable_deletion {
            m.extend(stale.clone());
        }
        m
    });

    let mut faults = Vec::new();
    for _ in 0..rng.usize(0..=3) {
        faults.push((rng.usize(0..12), fault(&mut rng)));
    }
    faults.sort_by_key(|(at, _)| *at);

    World {
        schema: schema_text,
        source,
        initial,
        foreign,
        model,
        options,
        ledger,
        faults,
    }
}

fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

/// Runs every seed of [`seeds`] against fresh targets from `factory`. On a failure, the
/// panic names the seed and how to replay it (`test` is what follows `cargo test
/// --all-features` on that line: the package and the test's name).
pub async fn run_seeds<T, F, Fut>(test: &str, factory: F)
where
    T: FaultTarget,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    let mut tally: BTreeMap<SeedOutcome, usize> = BTreeMap::new();
    for seed in seeds() {
        let target = Arc::new(factory().await);
        let outcome =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run_seed(target, seed)))
                .await;
        match outcome {
            Ok(outcome) => *tally.entry(outcome).or_default() += 1,
            Err(panic) => {
                eprintln!(
                    "convergence failed for seed {seed}; replay with: KMS_SYNC_SEED={seed} cargo test --all-features {test}"
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    // Shown with `--nocapture`: how the seeds spread over the outcomes.
    eprintln!("{test}: {tally:?}");
}

/// How one seeded run ended (every one of them passed its checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeedOutcome {
    /// The first sync converged (any faults were absorbed by retries).
    FirstSync,
    /// The first sync stopped on a fault; the next one converged.
    AfterRetry,
    /// The plan was refused (invalid key or value, case collision); nothing was written.
    Refused,
}

/// One seeded run against a fresh target.
pub async fn run_seed<T: FaultTarget>(target: Arc<T>, seed: u64) -> SeedOutcome {
    let destination = target.destination();
    let world = draw(seed, &*destination, target.max_entries());
    let context = format!(
        "[seed {seed}, schema {}, {} source keys, {} existing, ledger {}, {:?}, faults {:?}]",
        world.schema,
        world.source.len(),
        world.initial.len(),
        world.ledger,
        world.options,
        world.faults
    );
    for (key, value) in &world.initial {
        ok(target.seed(key, value).await, "seeding");
    }
    let source = Arc::new(StaticSource::new(world.source.clone()).named("random"));
    let mut builder = Syncer::builder()
        .id("convergence")
        .source(source)
        .destination(destination)
        .key_schema_template(world.schema)
        .options(world.options);
    if world.ledger {
        builder = builder.state(
            Arc::new(MemoryStateStore::default()),
            ok(
                Fingerprinter::new(b"convergence-hmac-key-0123456789abcdef".to_vec()),
                "a fingerprinter",
            ),
        );
    }
    let syncer = ok(builder.build(), "building the syncer");

    // Faults at random request positions of the first sync only.
    let faults = target.faults().clone();
    let mut position = 0;
    for (at, fault) in &world.faults {
        while position < *at {
            faults.push_aimed(Aim::Any, Fault::Pass);
            position += 1;
        }
        faults.push_aimed(Aim::Any, fault.clone());
        position += 1;
    }

    let mut last = None;
    let mut attempts = 0;
    for attempt in 0..2 {
        attempts += 1;
        let result = syncer.sync().await;
        faults.reset();
        let now = ok(target.contents().await, "reading the service");
        for (key, value) in &world.foreign {
            assert_eq!(
                now.get(key),
                Some(value),
                "{context} attempt {attempt}: the foreign key {key} was touched"
            );
        }
        if world.model.is_none() {
            assert!(
                result.is_err(),
                "{context} attempt {attempt}: the plan should have been refused, got {result:?}"
            );
            assert_eq!(
                now, world.initial,
                "{context} attempt {attempt}: a refused plan changed the destination"
            );
        }
        let converged = matches!(&result, Ok(report) if report.is_success());
        last = Some(result);
        if converged {
            break;
        }
    }

    let Some(model) = &world.model else {
        // The fault-free attempt must name the refusal's cause.
        if let Some(Err(e)) = &last {
            assert!(
                matches!(
                    e.kind(),
                    kms_sync_core::ErrorKind::InvalidKey | kms_sync_core::ErrorKind::InvalidValue
                ),
                "{context}: refused for the wrong reason: {e:?}"
            );
        }
        return SeedOutcome::Refused;
    };
    match &last {
        Some(Ok(report)) if report.is_success() => {}
        other => panic!("{context}: did not converge after a retry: {other:?}"),
    }
    let now = ok(target.contents().await, "reading the service");
    assert_eq!(
        &now, model,
        "{context}: the destination differs from the model"
    );
    let idle = ok(syncer.sync().await, "the sync after convergence");
    assert!(idle.is_success(), "{context}: {idle}");
    assert_eq!(
        idle.counts.applied(),
        0,
        "{context}: a converged destination needs no writes: {idle}"
    );
    if attempts == 1 {
        SeedOutcome::FirstSync
    } else {
        SeedOutcome::AfterRetry
    }
}

/// Generates a `#[test]` running every seed of [`seeds`] for a target factory: an
/// `async fn` taking no arguments and returning a [`FaultTarget`].
///
/// ```ignore
/// mod repository {
///     kms_sync_testkit::convergence_suite!(FakeTarget::repository);
/// }
/// ```
#[macro_export]
macro_rules! convergence_suite {
    ($factory:path) => {
        #[test]
        fn random_runs_converge() {
            $crate::run_case(async {
                $crate::convergence::run_seeds(
                    concat!(
                        "-p ",
                        env!("CARGO_PKG_NAME"),
                        " ",
                        module_path!(),
                        "::random_runs_converge"
                    ),
                    $factory,
                )
                .await;
            });
        }
    };
}
