//! Planning: the pure function that decides what to change, and the [`Plan`] it returns.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use crate::destination::{
    CaseRule, Change, Destination, EntryState, RemoteEntry, RemoteValue, Snapshot, Verdict, Version,
};
use crate::error::{Error, ErrorKind, Result};
use crate::ownership::{Claim, Ownership};
use crate::schema::KeySchema;
use crate::secret::{SecretSet, SecretValue};
use crate::state::{Fingerprinter, Ledger};

/// Refuses plans that would delete too much, the usual sign of a source that came back
/// empty or a schema that changed by mistake.
///
/// Default: refuse deleting every managed key because the source is empty, and refuse
/// deleting more than half of the managed keys when there are at least 10.
///
/// ```
/// use kms_sync_core::DeletionGuard;
/// let strict = DeletionGuard::default().with_max_delete_share(0.2);
/// let off = DeletionGuard::disabled();
/// assert!(off.allows_empty_source());
/// # let _ = strict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionGuard {
    allow_empty_source: bool,
    max_delete_share: Option<f64>,
    min_managed: usize,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            allow_empty_source: false,
            max_delete_share: Some(0.5),
            min_managed: 10,
        }
    }
}

impl DeletionGuard {
    /// No guard: every planned delete is allowed.
    pub fn disabled() -> Self {
        DeletionGuard {
            allow_empty_source: true,
            max_delete_share: None,
            min_managed: 0,
        }
    }

    /// Allows an empty source to delete every managed key.
    pub fn with_allow_empty_source(mut self, allow: bool) -> Self {
        self.allow_empty_source = allow;
        self
    }

    /// Refuses plans deleting more than this share (0.0–1.0) of the managed keys; `None`
    /// lifts the limit. Values outside 0–1 are clamped.
    pub fn with_max_delete_share(mut self, share: impl Into<Option<f64>>) -> Self {
        self.max_delete_share = share.into().map(|s| s.clamp(0.0, 1.0));
        self
    }

    /// The share limit applies only when at least this many keys are managed.
    pub fn with_min_managed(mut self, min: usize) -> Self {
        self.min_managed = min;
        self
    }

    /// Whether an empty source may delete everything.
    pub fn allows_empty_source(&self) -> bool {
        self.allow_empty_source
    }
}

/// The options [`plan`] follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// Never delete at the destination (the KMS's `disableSecretDeletion`).
    pub disable_secret_deletion: bool,
    /// The deletion guard.
    pub deletion_guard: DeletionGuard,
}

/// What the plan does with one destination key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    /// Write a new key.
    Create,
    /// Overwrite a key.
    Update,
    /// Remove a key.
    Delete,
    /// Nothing to do.
    Unchanged,
    /// A managed key the plan will not touch; the reason says why.
    Skip,
}

impl fmt::Display for PlanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Delete => "delete",
            PlanAction::Unchanged => "unchanged",
            PlanAction::Skip => "skip",
        })
    }
}

/// One line of a plan: a key and an action, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    /// The destination key.
    pub key: String,
    /// The source key it comes from (absent for deletes).
    pub source_key: Option<String>,
    /// What happens.
    pub action: PlanAction,
    /// Why (updates and skips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A warning about a key the plan will still write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanWarning {
    /// The destination key.
    pub key: String,
    /// What to know.
    pub message: String,
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Keys to create.
    pub create: usize,
    /// Keys to update.
    pub update: usize,
    /// Keys to delete.
    pub delete: usize,
    /// Keys already right.
    pub unchanged: usize,
    /// Managed keys skipped.
    pub skip: usize,
    /// Managed destination keys kept because deletion is disabled.
    pub retained: usize,
}

/// A plan: what a sync would change, key by key. It shows keys and actions, never values:
/// `Display` renders a short table, `Serialize` gives JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    source: String,
    destination: String,
    environment: String,
    key_schema: String,
    #[serde(serialize_with = "version_text")]
    snapshot_version: Option<Version>,
    items: Vec<PlanItem>,
    warnings: Vec<PlanWarning>,
    counts: PlanCounts,
    #[serde(skip)]
    changes: Vec<Change>,
}

impl Plan {
    /// The source's description.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The destination, `kind:target`.
    pub fn destination(&self) -> &str {
        &self.destination
    }
    /// The environment keys were rendered for.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// The destination's version when listed.
    pub fn snapshot_version(&self) -> Option<&Version> {
        self.snapshot_version.as_ref()
    }
    /// Every managed key and its action, sorted by key.
    pub fn items(&self) -> &[PlanItem] {
        &self.items
    }
    /// Warnings about keys that will still be written.
    pub fn warnings(&self) -> &[PlanWarning] {
        &self.warnings
    }
    /// Counts per action.
    pub fn counts(&self) -> PlanCounts {
        self.counts
    }
    /// The changes to apply (creates, updates, deletes), in key order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// The item of a destination key.
    pub fn item(&self, key: &str) -> Option<&PlanItem> {
        self.items
            .binary_search_by(|i| i.key.as_str().cmp(key))
            .ok()
            .map(|at| &self.items[at])
    }
}

fn version_text<S: serde::Serializer>(
    v: &Option<Version>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.as_str()),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan: {} -> {} (environment `{}`, key schema {})",
            self.source, self.destination, self.environment, self.key_schema
        )?;
        for item in &self.items {
            let mark = match item.action {
                PlanAction::Create => '+',
                PlanAction::Update => '~',
                PlanAction::Delete => '-',
                PlanAction::Skip => '!',
                PlanAction::Unchanged => continue,
            };
            write!(f, "  {mark} {:<9} {}", item.action.to_string(), item.key)?;
            if let Some(reason) = &item.reason {
                write!(f, "  ({reason})")?;
            }
            writeln!(f)?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {}: {}", w.key, w.message)?;
        }
        let c = self.counts;
        write!(
            f,
            "  {} to create, {} to update, {} to delete, {} unchanged",
            c.create, c.update, c.delete, c.unchanged
        )?;
        if c.skip > 0 {
            write!(f, ", {} skipped", c.skip)?;
        }
        if c.retained > 0 {
            write!(f, ", {} kept (deletion disabled)", c.retained)?;
        }
        Ok(())
    }
}

/// Everything [`plan`] looks at.
pub struct PlanInput<'a> {
    /// What the source holds.
    pub source: &'a SecretSet,
    /// A description of the source for the plan's header.
    pub source_name: &'a str,
    /// What the destination holds.
    pub snapshot: &'a Snapshot,
    /// Which keys are managed and how they are named.
    pub schema: &'a dyn KeySchema,
    /// The destination's description and rules. Only its pure methods are called.
    pub destination: &'a dyn Destination,
    /// What this sync wrote before, if a ledger is kept.
    pub ledger: Option<&'a Ledger>,
    /// Whether schema-owned entries the ledger does not record count as this sync's (the
    /// initial `overwrite-destination` sync); see [`Ownership`]. Ignored without a ledger.
    pub claim_unrecorded: bool,
    /// The fingerprinter matching the ledger.
    pub fingerprinter: Option<&'a Fingerprinter>,
    /// Deletion and guard options.
    pub options: PlanOptions,
}

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn fast_map<K, V>(capacity: usize) -> FastMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}

fn fold_case(key: &str, case_insensitive: bool) -> std::borrow::Cow<'_, str> {
    if case_insensitive {
        std::borrow::Cow::Owned(key.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// Decides what to change. Pure: no I/O, same input, same plan.
///
/// For each key, following the table in the design:
///
/// | desired | at destination | plan |
/// |---|---|---|
/// | present | absent | create |
/// | present | known, equal | unchanged |
/// | present | known, different | update |
/// | present | hidden, ledger fingerprint equal and id unchanged | unchanged |
/// | present | hidden, otherwise | update |
/// | present | protected | skipped, with the destination's reason |
/// | absent | owned ([`Ownership`]) | delete (unless deletion is disabled) |
/// | — | not owned | untouched, not in the plan |
///
/// # Errors
///
/// The whole plan is refused — so nothing is written — with one error naming every key
/// involved when: a rendered key breaks the destination's key rule
/// ([`InvalidKey`](ErrorKind::InvalidKey)); two source keys render to one destination key, or
/// to keys equal under the destination's case rule, or a desired key equals an existing
/// destination key of another spelling under that rule ([`InvalidKey`](ErrorKind::InvalidKey));
/// the destination lists one managed key twice ([`Conflict`](ErrorKind::Conflict)); a value
/// breaks the value rule ([`InvalidValue`](ErrorKind::InvalidValue), naming keys only); or the
/// [`DeletionGuard`] trips ([`Guard`](ErrorKind::Guard)).
///
/// ```
/// use kms_sync_core::*;
/// let source = SecretSet::new("dev").with("A", "1");
/// let dest = MemoryDestination::builder().build();
/// let plan = plan(PlanInput {
///     source: &source,
///     source_name: "example",
///     snapshot: &Snapshot::default(),
///     schema: &NoKeySchema,
///     destination: &dest,
///     ledger: None,
///     claim_unrecorded: false,
///     fingerprinter: None,
///     options: PlanOptions::default(),
/// })?;
/// assert_eq!(plan.counts().create, 1);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub fn plan(input: PlanInput<'_>) -> Result<Plan> {
    let (snapshot, schema) = (input.snapshot, input.schema);
    let env = input.source.environment();
    if snapshot.len() < PARALLEL_FROM {
        return plan_with(input, || index_snapshot(snapshot, schema, env));
    }
    // Large inputs: index the snapshot on a second thread while this one renders and
    // validates the source keys.
    std::thread::scope(|scope| {
        let indexing = scope.spawn(|| index_snapshot(snapshot, schema, env));
        plan_with(input, move || match indexing.join() {
            Ok(index) => index,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    })
}

/// The snapshot by exact key, and the managed keys listed more than once.
type SnapshotIndex<'a> = (FastMap<&'a str, &'a RemoteEntry>, Vec<String>);

fn index_snapshot<'a>(
    snapshot: &'a Snapshot,
    schema: &dyn KeySchema,
    env: &str,
) -> SnapshotIndex<'a> {
    let mut exact: FastMap<&str, &RemoteEntry> = fast_map(snapshot.len());
    let mut duplicates: Vec<String> = Vec::new();
    for entry in snapshot.entries() {
        if exact.insert(entry.key(), entry).is_some() && schema.owns(entry.key(), env) {
            duplicates.push(entry.key().to_owned());
        }
    }
    (exact, duplicates)
}

fn plan_with<'a>(input: PlanInput<'a>, index: impl FnOnce() -> SnapshotIndex<'a>) -> Result<Plan> {
    let info = input.destination.info();
    let rules = input.destination.rules();
    let caps = &info.capabilities;
    let ci = rules.case_rule() == CaseRule::Insensitive;
    let env = input.source.environment();
    let destination_name = info.to_string();
    let refuse = |kind: ErrorKind, message: String, keys: Vec<String>| {
        Error::new(kind, message)
            .with_keys(keys)
            .with_destination(destination_name.clone())
            .with_operation("plan")
    };

    // 1. Render and validate every desired key and value.
    let mut desired: Vec<Desired<'_>> = Vec::with_capacity(input.source.len());
    let mut bad_keys: Vec<String> = Vec::new();
    let mut bad_key_names: Vec<String> = Vec::new();
    let mut bad_values: Vec<String> = Vec::new();
    let mut bad_value_names: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    for (source_key, value) in input.source.iter() {
        let key = input.schema.render(source_key, env);
        let verdict = if source_key.is_empty() || !input.schema.owns(&key, env) {
            Verdict::Invalid("an empty source key cannot be synced".to_owned())
        } else {
            rules.validate_key(&key)
        };
        match verdict {
            Verdict::Valid => {}
            Verdict::Warn(message) => warnings.push(PlanWarning {
                key: key.clone(),
                message,
            }),
            Verdict::Invalid(why) => {
                bad_keys.push(format!("`{key}` (from `{source_key}`): {why}"));
                bad_key_names.push(key.clone());
            }
        }
        if let Verdict::Invalid(why) = rules.validate_value(value) {
            bad_values.push(format!("`{key}`: {why}"));
            bad_value_names.push(key.clone());
        }
        desired.push((key, source_key, value));
    }

    // 2. Collisions among desired keys under the destination's case rule.
    let mut by_folded: FastMap<std::borrow::Cow<'_, str>, usize> = fast_map(desired.len());
    let mut collisions: Vec<String> = Vec::new();
    let mut collision_names: Vec<String> = Vec::new();
    for (i, (key, source_key, _)) in desired.iter().enumerate() {
        if let Some(&j) = by_folded.get(&fold_case(key, ci)) {
            let (other_key, other_source, _) = &desired[j];
            collisions.push(format!(
                "`{other_source}` and `{source_key}` both map to `{other_key}`/`{key}`"
            ));
            collision_names.extend([other_key.clone(), key.clone()]);
        } else {
            by_folded.insert(fold_case(key, ci), i);
        }
    }

    // 3. Index the snapshot; a desired key that equals another spelling at the destination
    //    (case rule) collides too; a key listed twice is a conflict.
    let (exact, mut duplicates) = index();
    if ci {
        let mut remote_folded: FastMap<String, &str> = fast_map(exact.len());
        for key in exact.keys() {
            remote_folded.insert(key.to_lowercase(), key);
        }
        for (key, source_key, _) in &desired {
            if exact.contains_key(key.as_str()) {
                continue;
            }
            if let Some(remote) = remote_folded.get(&key.to_lowercase()) {
                collisions.push(format!(
                    "`{key}` (from `{source_key}`) and the existing destination key `{remote}` differ only in case"
                ));
                collision_names.extend([key.clone(), (*remote).to_owned()]);
            }
        }
    }

    if !bad_keys.is_empty() || !collisions.is_empty() {
        let mut lines = bad_keys;
        lines.extend(collisions);
        let mut names = bad_key_names;
        names.extend(collision_names);
        names.sort();
        names.dedup();
        return Err(refuse(
            ErrorKind::InvalidKey,
            format!(
                "{} key problem(s), nothing was written: {}",
                lines.len(),
                lines.join("; ")
            ),
            names,
        ));
    }
    if !duplicates.is_empty() {
        duplicates.sort();
        duplicates.dedup();
        return Err(refuse(
            ErrorKind::Conflict,
            format!(
                "the destination lists these managed keys more than once, nothing was written: {}",
                duplicates.join(", ")
            ),
            duplicates,
        ));
    }
    if !bad_values.is_empty() {
        return Err(refuse(
            ErrorKind::InvalidValue,
            format!(
                "{} value(s) refused by the destination's rule ({}), nothing was written: {}",
                bad_values.len(),
                rules.value_rule(),
                bad_values.join("; ")
            ),
            bad_value_names,
        ));
    }

    // 4. Decide each desired key. The indexes above borrow `desired`, so decisions are kept
    //    beside it and zipped with the keys (moved, not cloned) once the indexes are done.
    let lookup = Lookup {
        exact: &exact,
        ledger: input.ledger,
        fingerprinter: input.fingerprinter,
    };
    let (mut decisions, mut changes) = decide_all(&desired, &lookup);
    let mut counts = PlanCounts::default();
    for (action, _) in &decisions {
        count(&mut counts, *action);
    }
    // Which destination keys are wanted, exactly. With case-sensitive keys the collision
    // index already is that set; with case-insensitive keys it holds folded keys, so build
    // an exact one.
    let exact_wanted: Option<FastMap<&str, ()>> =
        ci.then(|| desired.iter().map(|(k, _, _)| (k.as_str(), ())).collect());
    let is_wanted = |key: &str| match &exact_wanted {
        Some(set) => set.contains_key(key),
        None => by_folded.contains_key(key),
    };
    let mut items: Vec<PlanItem> = Vec::with_capacity(desired.len());

    // 5. Owned destination keys the source no longer has.
    let mut ownership = Ownership::new(input.schema, env);
    if let Some(ledger) = input.ledger {
        ownership = ownership.with_ledger(ledger, input.claim_unrecorded);
    }
    let mut managed = 0usize;
    let mut deletes: Vec<&RemoteEntry> = Vec::new();
    for entry in input.snapshot.entries() {
        if ownership.claim(entry) != Claim::Owned {
            continue;
        }
        managed += 1;
        if is_wanted(entry.key()) {
            continue;
        }
        if input.options.disable_secret_deletion {
            counts.retained += 1;
            continue;
        }
        deletes.push(entry);
    }

    // 6. The deletion guard.
    if !deletes.is_empty() {
        let guard = input.options.deletion_guard;
        let mut names: Vec<String> = deletes.iter().map(|e| e.key().to_owned()).collect();
        names.sort();
        if input.source.is_empty() && !guard.allow_empty_source {
            return Err(refuse(
                ErrorKind::Guard,
                format!(
                    "the source `{}` is empty and the plan would delete every managed key ({}): {}; \
                     allow it with DeletionGuard::with_allow_empty_source if intended",
                    input.source_name,
                    names.len(),
                    names.join(", ")
                ),
                names,
            ));
        }
        if let Some(share) = guard.max_delete_share {
            let fraction = deletes.len() as f64 / managed.max(1) as f64;
            if managed >= guard.min_managed && fraction > share {
                return Err(refuse(
                    ErrorKind::Guard,
                    format!(
                        "the plan would delete {} of {managed} managed keys ({:.0}%, limit {:.0}%): {}; \
                         raise DeletionGuard::with_max_delete_share if intended",
                        deletes.len(),
                        fraction * 100.0,
                        share * 100.0,
                        names.join(", ")
                    ),
                    names,
                ));
            }
        }
    }
    for entry in deletes {
        counts.delete += 1;
        changes.push(Change::delete(entry.clone()));
        items.push(PlanItem {
            key: entry.key().to_owned(),
            source_key: None,
            action: PlanAction::Delete,
            reason: None,
        });
    }
    // After deletes are known: a plan that only deletes still rewrites the whole set.
    if caps.replaces_whole_set() && !changes.is_empty() {
        let before = changes.len();
        resend_hidden(&desired, &exact, &mut decisions, &mut changes);
        counts.unchanged -= changes.len() - before;
        counts.update += changes.len() - before;
    }
    drop(exact_wanted);
    drop(by_folded);
    items.extend(desired.into_iter().zip(decisions).map(
        |((key, source_key, _), (action, reason))| PlanItem {
            key,
            source_key: Some(source_key.to_owned()),
            action,
            reason,
        },
    ));
    changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    items.sort_unstable_by(|a, b| a.key.cmp(&b.key));

    Ok(Plan {
        source: input.source_name.to_owned(),
        destination: destination_name,
        environment: env.to_owned(),
        key_schema: input.schema.describe(),
        snapshot_version: input.snapshot.version().cloned(),
        items,
        warnings,
        counts,
        changes,
    })
}

type Desired<'a> = (String, &'a str, &'a SecretValue);
type Decision = (PlanAction, Option<String>);

/// What deciding a key reads; all shared, nothing written.
struct Lookup<'a, 'b> {
    exact: &'b FastMap<&'a str, &'a RemoteEntry>,
    ledger: Option<&'b Ledger>,
    fingerprinter: Option<&'b Fingerprinter>,
}

impl Lookup<'_, '_> {
    fn decide(&self, key: &str, value: &SecretValue, changes: &mut Vec<Change>) -> Decision {
        match self.exact.get(key) {
            None => {
                changes.push(Change::create(key.to_owned(), value.clone()));
                (PlanAction::Create, None)
            }
            Some(entry) if entry.state().is_protected() => {
                (PlanAction::Skip, entry.state().reason().map(str::to_owned))
            }
            Some(entry) => {
                match decide_update(key, value, entry, self.ledger, self.fingerprinter) {
                    None => (PlanAction::Unchanged, None),
                    Some(reason) => {
                        changes.push(Change::update((*entry).clone(), value.clone()));
                        (PlanAction::Update, Some(reason.to_owned()))
                    }
                }
            }
        }
    }
}

/// For destinations whose one write replaces the whole set: unchanged managed entries whose
/// values are hidden must be sent again, or the write would lose them.
fn resend_hidden(
    desired: &[Desired<'_>],
    exact: &FastMap<&str, &RemoteEntry>,
    decisions: &mut [Decision],
    changes: &mut Vec<Change>,
) {
    for ((key, _, value), decision) in desired.iter().zip(decisions.iter_mut()) {
        if decision.0 != PlanAction::Unchanged {
            continue;
        }
        if let Some(entry) = exact.get(key.as_str()) {
            if *entry.value() == RemoteValue::Hidden {
                changes.push(Change::update((*entry).clone(), (*value).clone()));
                *decision = (
                    PlanAction::Update,
                    Some("the set is written whole and this value cannot be read back".to_owned()),
                );
            }
        }
    }
}

/// Below this many keys one thread decides them all; above, the keys are split across the
/// available cores (fingerprints and lookups are independent per key).
const PARALLEL_FROM: usize = 8_192;

fn decide_all(desired: &[Desired<'_>], lookup: &Lookup<'_, '_>) -> (Vec<Decision>, Vec<Change>) {
    let decide_chunk = |chunk: &[Desired<'_>]| {
        let mut changes = Vec::new();
        let decisions = chunk
            .iter()
            .map(|(key, _, value)| lookup.decide(key, value, &mut changes))
            .collect::<Vec<_>>();
        (decisions, changes)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if desired.len() < PARALLEL_FROM || threads < 2 {
        return decide_chunk(desired);
    }
    let chunk_len = desired.len().div_ceil(threads);
    let parts: Vec<(Vec<Decision>, Vec<Change>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = desired
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(move || decide_chunk(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(part) => part,
                // A panic in a worker is a bug; carry it to the caller unchanged.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut decisions = Vec::with_capacity(desired.len());
    let mut changes = Vec::new();
    for (d, c) in parts {
        decisions.extend(d);
        changes.extend(c);
    }
    (decisions, changes)
}

fn count(counts: &mut PlanCounts, action: PlanAction) {
    match action {
        PlanAction::Create => counts.create += 1,
        PlanAction::Update => counts.update += 1,
        PlanAction::Delete => counts.delete += 1,
        PlanAction::Unchanged => counts.unchanged += 1,
        PlanAction::Skip => counts.skip += 1,
    }
}

/// `None` if the entry already holds `value`; otherwise why it must be written.
fn decide_update(
    key: &str,
    value: &SecretValue,
    entry: &RemoteEntry,
    ledger: Option<&Ledger>,
    fingerprinter: Option<&Fingerprinter>,
) -> Option<String> {
    if let EntryState::MustReplace(reason) = entry.state() {
        return Some(reason.to_string());
    }
    decide_value(key, value, entry, ledger, fingerprinter).map(str::to_owned)
}

fn decide_value(
    key: &str,
    value: &SecretValue,
    entry: &RemoteEntry,
    ledger: Option<&Ledger>,
    fingerprinter: Option<&Fingerprinter>,
) -> Option<&'static str> {
    match entry.value() {
        RemoteValue::Known(current) if current == value => None,
        RemoteValue::Known(_) => Some("value differs"),
        RemoteValue::Hidden => {
            let (Some(ledger), Some(fp)) = (ledger, fingerprinter) else {
                return Some("hidden value, no ledger");
            };
            let Some(recorded) = ledger.get(key) else {
                return Some("hidden value, not in the ledger");
            };
            if recorded.id.as_deref() != entry.id() {
                return Some("hidden value, destination id changed");
            }
            match &recorded.fingerprint {
                None => return Some("hidden value, last write not confirmed"),
                Some(f) if *f != fp.fingerprint(key, value) => {
                    return Some("value changed since last sync")
                }
                Some(_) => {}
            }
            None
        }
    }
}
