//! The stages of [`plan()`](super::plan), in order: render and check every key and value,
//! find collisions, index the snapshot, refuse what cannot be written, decide each key, find
//! the owned entries to delete, apply the deletion guard, resend hidden values of a set
//! written whole, and assemble the plan.

use std::borrow::Cow;

use super::decide::{
    count, decide_all, fast_map, resend_hidden, Decision, Desired, FastMap, Lookup, PARALLEL_FROM,
};
use super::types::{Plan, PlanAction, PlanCounts, PlanItem, PlanWarning};
use super::PlanInput;
use crate::destination::{CaseRule, Change, KeyRules, RemoteEntry, Snapshot, Verdict};
use crate::engine::claims::stale as stale_claims;
use crate::error::{Error, ErrorKind, Result};
use crate::plan::ownership::{Claim, Ownership};
use crate::plan::stored::StoredSchema;
use crate::schema::KeySchema;

/// The snapshot by exact key, and the managed keys listed more than once.
type SnapshotIndex<'a> = (FastMap<&'a str, &'a RemoteEntry>, Vec<String>);

pub(super) fn run(input: PlanInput<'_>) -> Result<Plan> {
    let env = input.source.environment();
    // Every stage renders and owns keys by the names the destination stores.
    let stored = StoredSchema::new(input.schema, input.destination.rules(), env);
    let input = PlanInput {
        schema: &stored,
        ..input
    };
    let (snapshot, schema) = (input.snapshot, input.schema);
    if snapshot.len() < PARALLEL_FROM {
        return plan_with(input, || index_snapshot(snapshot, schema, env));
    }
    // Large inputs: index the snapshot on a second thread while this one renders and
    // checks the source keys.
    std::thread::scope(|scope| {
        let indexing = scope.spawn(|| index_snapshot(snapshot, schema, env));
        plan_with(input, move || match indexing.join() {
            Ok(index) => index,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    })
}

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

/// What every stage reads about the destination.
struct Context<'a> {
    destination: String,
    rules: &'a dyn KeyRules,
    case_insensitive: bool,
}

impl Context<'_> {
    fn refuse(&self, kind: ErrorKind, message: String, keys: Vec<String>) -> Error {
        Error::new(kind, message)
            .with_keys(keys)
            .with_destination(self.destination.clone())
            .with_operation("plan")
    }
}

fn fold_case(key: &str, case_insensitive: bool) -> Cow<'_, str> {
    if case_insensitive {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

fn plan_with<'a>(input: PlanInput<'a>, index: impl FnOnce() -> SnapshotIndex<'a>) -> Result<Plan> {
    let rules = input.destination.rules();
    let cx = Context {
        destination: input.destination.info().to_string(),
        rules,
        case_insensitive: rules.case_rule() == CaseRule::Insensitive,
    };
    let (desired, mut warnings, mut problems) = render(&input, &cx);
    let folded = problems.collisions(&desired, cx.case_insensitive);
    let (exact, duplicates) = index();
    problems.remote_collisions(&desired, &exact, cx.case_insensitive);
    problems.refuse(&cx, duplicates)?;

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
    let wanted = Wanted::new(&desired, folded, cx.case_insensitive);
    let (deletes, managed) = owned_deletes(&input, &wanted, &mut counts);
    check_guard(&input, &cx, &deletes, managed)?;
    check_capacity(&input, &cx, counts.create, deletes.len())?;
    warnings.extend(unwritten_deletes_warning(&input, &deletes));
    let mut items = delete_items(&deletes, &mut changes, &mut counts);
    // After deletes are known: a plan that only deletes still rewrites the whole set.
    let whole_set = input.destination.info().capabilities.replaces_whole_set();
    if whole_set && !changes.is_empty() {
        resend_hidden(&desired, &exact, &mut decisions, &mut changes, &mut counts);
    }
    let stale = input.ledger.map_or_else(Vec::new, |ledger| {
        stale_claims(ledger, |k| exact.contains_key(k), |k| wanted.contains(k))
    });
    drop(wanted);
    items.extend(desired_items(desired, decisions));
    let mut plan = assemble(&input, cx, items, changes, warnings, counts);
    plan.stale_claims = stale;
    Ok(plan)
}

/// Why the plan must be refused, collected across stages so one error names every key.
#[derive(Default)]
struct Problems {
    key_lines: Vec<String>,
    key_names: Vec<String>,
    value_lines: Vec<String>,
    value_names: Vec<String>,
}

/// Renders every source key and checks it and its value against the destination's rules.
fn render<'a>(
    input: &PlanInput<'a>,
    cx: &Context<'_>,
) -> (Vec<Desired<'a>>, Vec<PlanWarning>, Problems) {
    let env = input.source.environment();
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    let mut desired = Vec::with_capacity(input.source.len());
    for (source_key, value) in input.source.iter() {
        let key = input.schema.render(source_key, env);
        let verdict = if source_key.is_empty() || !input.schema.owns(&key, env) {
            Verdict::Invalid("an empty source key cannot be synced".to_owned())
        } else {
            cx.rules.validate_key(&key)
        };
        match verdict {
            Verdict::Valid => {}
            Verdict::Warn(message) => warnings.push(PlanWarning {
                key: key.clone(),
                message,
            }),
            Verdict::Invalid(why) => {
                problems
                    .key_lines
                    .push(format!("`{key}` (from `{source_key}`): {why}"));
                problems.key_names.push(key.clone());
            }
        }
        if let Verdict::Invalid(why) = cx.rules.validate_value_for(&key, value) {
            problems.value_lines.push(format!("`{key}`: {why}"));
            problems.value_names.push(key.clone());
        }
        desired.push(Desired {
            key,
            source_key,
            value,
        });
    }
    (desired, warnings, problems)
}

impl Problems {
    /// Two desired keys equal under the destination's case rule. Returns the desired keys
    /// by folded key, which is also the set of wanted keys when keys are case-sensitive.
    fn collisions<'d>(
        &mut self,
        desired: &'d [Desired<'_>],
        case_insensitive: bool,
    ) -> FastMap<Cow<'d, str>, usize> {
        let mut by_folded: FastMap<Cow<'_, str>, usize> = fast_map(desired.len());
        for (i, d) in desired.iter().enumerate() {
            if let Some(&j) = by_folded.get(&fold_case(&d.key, case_insensitive)) {
                let other = &desired[j];
                let target = if other.key == d.key {
                    format!("`{}`", d.key)
                } else {
                    format!("`{}`/`{}`", other.key, d.key)
                };
                self.key_lines.push(format!(
                    "`{}` and `{}` both map to {target}",
                    other.source_key, d.source_key
                ));
                self.key_names.extend([other.key.clone(), d.key.clone()]);
            } else {
                by_folded.insert(fold_case(&d.key, case_insensitive), i);
            }
        }
        by_folded
    }

    /// A desired key equal to an existing destination key of another spelling.
    fn remote_collisions(
        &mut self,
        desired: &[Desired<'_>],
        exact: &FastMap<&str, &RemoteEntry>,
        case_insensitive: bool,
    ) {
        if !case_insensitive {
            return;
        }
        let mut remote_folded: FastMap<String, &str> = fast_map(exact.len());
        for key in exact.keys() {
            remote_folded.insert(key.to_lowercase(), key);
        }
        for d in desired {
            if exact.contains_key(d.key.as_str()) {
                continue;
            }
            if let Some(remote) = remote_folded.get(&d.key.to_lowercase()) {
                self.key_lines.push(format!(
                    "`{}` (from `{}`) and the existing destination key `{remote}` differ only in case",
                    d.key, d.source_key
                ));
                self.key_names.extend([d.key.clone(), (*remote).to_owned()]);
            }
        }
    }

    /// Refuses, in this order: bad or colliding keys, managed keys listed twice, bad values.
    fn refuse(self, cx: &Context<'_>, mut duplicates: Vec<String>) -> Result<()> {
        if !self.key_lines.is_empty() {
            let mut names = self.key_names;
            names.sort();
            names.dedup();
            let message = format!(
                "{} key problem(s), nothing was written: {}",
                self.key_lines.len(),
                self.key_lines.join("; ")
            );
            return Err(cx.refuse(ErrorKind::InvalidKey, message, names));
        }
        if !duplicates.is_empty() {
            duplicates.sort();
            duplicates.dedup();
            let message = format!(
                "the destination lists these managed keys more than once, nothing was written: {}",
                duplicates.join(", ")
            );
            return Err(cx.refuse(ErrorKind::Conflict, message, duplicates));
        }
        if !self.value_lines.is_empty() {
            let message = format!(
                "{} value(s) refused by the destination's rule ({}), nothing was written: {}",
                self.value_lines.len(),
                cx.rules.value_rule(),
                self.value_lines.join("; ")
            );
            return Err(cx.refuse(ErrorKind::InvalidValue, message, self.value_names));
        }
        Ok(())
    }
}

/// Which destination keys the source wants, exactly.
struct Wanted<'d> {
    folded: FastMap<Cow<'d, str>, usize>,
    exact: Option<FastMap<&'d str, ()>>,
}

impl<'d> Wanted<'d> {
    /// With case-sensitive keys the collision index already is the wanted set; with
    /// case-insensitive keys it holds folded keys, so an exact set is built.
    fn new(
        desired: &'d [Desired<'_>],
        folded: FastMap<Cow<'d, str>, usize>,
        case_insensitive: bool,
    ) -> Self {
        let exact =
            case_insensitive.then(|| desired.iter().map(|d| (d.key.as_str(), ())).collect());
        Wanted { folded, exact }
    }

    fn contains(&self, key: &str) -> bool {
        match &self.exact {
            Some(set) => set.contains_key(key),
            None => self.folded.contains_key(key),
        }
    }
}

/// The owned entries the source no longer has, and how many entries are owned.
fn owned_deletes<'s>(
    input: &PlanInput<'s>,
    wanted: &Wanted<'_>,
    counts: &mut PlanCounts,
) -> (Vec<&'s RemoteEntry>, usize) {
    let mut ownership = Ownership::new(input.schema, input.source.environment());
    if let Some(ledger) = input.ledger {
        ownership = ownership.with_ledger(ledger, input.claim_unrecorded);
    }
    let mut managed = 0usize;
    let mut deletes = Vec::new();
    for entry in input.snapshot.entries() {
        if ownership.claim(entry) != Claim::Owned {
            continue;
        }
        managed += 1;
        if wanted.contains(entry.key()) {
            continue;
        }
        if input.options.disable_secret_deletion {
            counts.retained += 1;
        } else {
            deletes.push(entry);
        }
    }
    (deletes, managed)
}

/// The deletion guard: an empty source deleting everything, or too large a share.
fn check_guard(
    input: &PlanInput<'_>,
    cx: &Context<'_>,
    deletes: &[&RemoteEntry],
    managed: usize,
) -> Result<()> {
    if deletes.is_empty() {
        return Ok(());
    }
    let guard = input.options.deletion_guard;
    let mut names: Vec<String> = deletes.iter().map(|e| e.key().to_owned()).collect();
    names.sort();
    if input.source.is_empty() && !guard.allows_empty_source() {
        let message = format!(
            "the source `{}` is empty and the plan would delete all {} managed keys: {}; \
             nothing was written (an empty source deleting everything is refused unless allowed)",
            input.source_name,
            names.len(),
            key_list(&names)
        );
        return Err(cx.refuse(ErrorKind::Guard, message, names));
    }
    if let Some(share) = guard.max_delete_share() {
        let fraction = deletes.len() as f64 / managed.max(1) as f64;
        if managed >= guard.min_managed() && fraction > share {
            let message = format!(
                "the plan would delete {} of {managed} managed keys ({:.0}%, above the {:.0}% limit): {}; \
                 nothing was written",
                deletes.len(),
                fraction * 100.0,
                share * 100.0,
                key_list(&names)
            );
            return Err(cx.refuse(ErrorKind::Guard, message, names));
        }
    }
    Ok(())
}

/// The destination's count limit ([`Capabilities::max_entries`]): the engine writes every
/// create before any delete, so the scope holds what it holds plus the creates at once; a
/// plan taking it past the limit is refused before any write.
///
/// [`Capabilities::max_entries`]: crate::Capabilities::max_entries
fn check_capacity(
    input: &PlanInput<'_>,
    cx: &Context<'_>,
    creates: usize,
    deletes: usize,
) -> Result<()> {
    let Some(max) = input.destination.info().capabilities.max_entries() else {
        return Ok(());
    };
    let held = input.snapshot.len();
    let peak = held.saturating_add(creates);
    if creates == 0 || peak <= max {
        return Ok(());
    }
    let after = peak.saturating_sub(deletes);
    let why = if after <= max {
        format!(
            "creates are written before the {deletes} delete(s), so it would hold {peak} at once \
             (sync once with fewer new keys so the deletes land first)"
        )
    } else {
        format!("it would hold {after} after the plan")
    };
    let message = format!(
        "the destination holds at most {max} entries; it holds {held} and the plan creates {creates}: {why}; nothing was written"
    );
    Err(cx.refuse(ErrorKind::Config, message, Vec::new()))
}

/// How many keys a refusal names in its message; [`Error::keys`] has all of them.
const LISTED_KEYS: usize = 10;

/// At most [`LISTED_KEYS`] keys, then "and N more".
fn key_list(names: &[String]) -> String {
    let shown = names[..names.len().min(LISTED_KEYS)].join(", ");
    match names.len().saturating_sub(LISTED_KEYS) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Without a key schema every destination key is managed, as the KMS documents: legal, but
/// worth a warning when the plan deletes keys this sync never wrote (not in its ledger, or
/// every delete when it keeps none).
fn unwritten_deletes_warning(
    input: &PlanInput<'_>,
    deletes: &[&RemoteEntry],
) -> Option<PlanWarning> {
    if !input.schema.manages_everything() {
        return None;
    }
    let mut never: Vec<String> = deletes
        .iter()
        .filter(|e| input.ledger.is_none_or(|l| l.get(e.key()).is_none()))
        .map(|e| e.key().to_owned())
        .collect();
    if never.is_empty() {
        return None;
    }
    never.sort();
    let record = if input.ledger.is_some() {
        "never wrote (they are not in its ledger)"
    } else {
        "has no record of writing (it keeps no ledger)"
    };
    Some(PlanWarning {
        key: String::new(),
        message: format!(
            "no key schema: every key at the destination is managed by this sync, so this plan deletes {} key(s) it {record}: {}; \
             set a key schema such as `KMS_{{{{secretKey}}}}` to manage only the keys this sync writes",
            never.len(),
            key_list(&never)
        ),
    })
}

fn delete_items(
    deletes: &[&RemoteEntry],
    changes: &mut Vec<Change>,
    counts: &mut PlanCounts,
) -> Vec<PlanItem> {
    deletes
        .iter()
        .map(|entry| {
            counts.delete += 1;
            changes.push(Change::delete((*entry).clone()));
            PlanItem {
                key: entry.key().to_owned(),
                source_key: None,
                action: PlanAction::Delete,
                reason: None,
            }
        })
        .collect()
}

/// The items of desired keys; the keys are moved, not cloned.
fn desired_items(desired: Vec<Desired<'_>>, decisions: Vec<Decision>) -> Vec<PlanItem> {
    desired
        .into_iter()
        .zip(decisions)
        .map(|(d, (action, reason))| PlanItem {
            key: d.key,
            source_key: Some(d.source_key.to_owned()),
            action,
            reason,
        })
        .collect()
}

fn assemble(
    input: &PlanInput<'_>,
    cx: Context<'_>,
    mut items: Vec<PlanItem>,
    mut changes: Vec<Change>,
    warnings: Vec<PlanWarning>,
    counts: PlanCounts,
) -> Plan {
    changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    items.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Plan {
        source: input.source_name.to_owned(),
        destination: cx.destination,
        environment: input.source.environment().to_owned(),
        key_schema: input.schema.describe(),
        snapshot_version: input.snapshot.version().cloned(),
        items,
        warnings,
        counts,
        changes,
        stale_claims: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::RemoteValue;
    use crate::plan::stored::tests::Upper;
    use crate::plan::{DeletionGuard, PlanOptions};
    use crate::schema::{NoKeySchema, TemplateKeySchema};
    use crate::secret::{SecretSet, SecretValue};
    use crate::state::{Fingerprinter, Ledger};
    use crate::MemoryDestination;

    fn entries(keys: &[String]) -> Snapshot {
        Snapshot::new(
            keys.iter()
                .map(|k| {
                    RemoteEntry::new(k.as_str(), RemoteValue::Known(SecretValue::new("v")))
                        .with_id(format!("id-{k}"))
                })
                .collect(),
        )
    }

    fn plan_of(
        source: &SecretSet,
        snapshot: &Snapshot,
        schema: &dyn KeySchema,
        ledger: Option<&Ledger>,
        guard: DeletionGuard,
    ) -> Result<Plan> {
        let destination = MemoryDestination::builder().build();
        plan_at(&destination, source, snapshot, schema, ledger, guard)
    }

    fn plan_at(
        destination: &dyn crate::Destination,
        source: &SecretSet,
        snapshot: &Snapshot,
        schema: &dyn KeySchema,
        ledger: Option<&Ledger>,
        guard: DeletionGuard,
    ) -> Result<Plan> {
        run(PlanInput {
            source,
            source_name: "test",
            snapshot,
            schema,
            destination,
            ledger,
            claim_unrecorded: false,
            fingerprinter: None,
            options: PlanOptions {
                disable_secret_deletion: false,
                deletion_guard: guard,
            },
        })
    }

    /// A destination with [`Upper`]'s rules and `capabilities`; only its pure methods are used.
    struct Shaped {
        info: crate::DestinationInfo,
        inner: MemoryDestination,
    }

    #[async_trait::async_trait]
    impl crate::Destination for Shaped {
        fn info(&self) -> &crate::DestinationInfo {
            &self.info
        }
        fn rules(&self) -> &dyn KeyRules {
            &Upper
        }
        async fn list(&self) -> Result<Snapshot> {
            self.inner.list().await
        }
        fn writer(&self) -> crate::Writer<'_> {
            self.inner.writer()
        }
    }

    fn shaped_plan(
        source: &SecretSet,
        snapshot: &Snapshot,
        schema: &dyn KeySchema,
        capabilities: crate::Capabilities,
    ) -> Result<Plan> {
        let destination = Shaped {
            info: crate::DestinationInfo::new("shaped", "t", capabilities),
            inner: MemoryDestination::builder().build(),
        };
        let off = DeletionGuard::disabled();
        plan_at(&destination, source, snapshot, schema, None, off)
    }

    /// Keys are planned by their stored names: a lower-case schema still owns (and
    /// deletes) what it wrote, and two source keys stored alike are refused, naming both.
    #[test]
    fn keys_are_planned_by_their_stored_names() -> Result<()> {
        let schema = TemplateKeySchema::parse("kms_{{environment}}_{{secretKey}}")?;
        let snapshot = entries(&["KMS_DEV_API_KEY".to_owned(), "KMS_DEV_OLD".into()]);
        let source = SecretSet::new("dev").with("api_key", "v").with("new", "n");
        let caps = crate::Capabilities::new();
        let plan = shaped_plan(&source, &snapshot, &schema, caps.clone())?;
        let item = plan.item("KMS_DEV_API_KEY").expect("the stored name");
        assert_eq!(item.action, PlanAction::Unchanged);
        assert_eq!(item.source_key.as_deref(), Some("api_key"));
        assert_eq!(
            plan.item("KMS_DEV_NEW").map(|i| i.action),
            Some(PlanAction::Create)
        );
        assert_eq!(
            plan.item("KMS_DEV_OLD").map(|i| i.action),
            Some(PlanAction::Delete)
        );

        let clash = SecretSet::new("dev")
            .with("api_key", "hunter2")
            .with("API_KEY", "x");
        let err = shaped_plan(&clash, &snapshot, &schema, caps).expect_err("one stored name");
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
        let text = err.to_string();
        assert!(
            text.contains("`API_KEY` and `api_key` both map to `KMS_DEV_API_KEY`"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.keys(), ["KMS_DEV_API_KEY"]);
        Ok(())
    }

    /// A count limit refuses the plan whose creates would pass it, before any write.
    #[test]
    fn creates_past_the_count_limit_refuse_the_plan() -> Result<()> {
        let caps = crate::Capabilities::new().with_max_entries(3);
        let snapshot = entries(&["A".to_owned(), "B".into()]);
        let keep = SecretSet::new("dev").with("A", "v").with("B", "v");
        let one_more = keep.clone().with("C", "v");
        assert_eq!(
            shaped_plan(&one_more, &snapshot, &NoKeySchema, caps.clone())?
                .counts()
                .create,
            1
        );

        let two_more = one_more.clone().with("D", "v");
        let err = shaped_plan(&two_more, &snapshot, &NoKeySchema, caps.clone())
            .expect_err("past the limit");
        assert_eq!(err.kind(), ErrorKind::Config);
        let text = err.to_string();
        assert!(
            text.contains("at most 3 entries; it holds 2 and the plan creates 2"),
            "{text}"
        );
        assert!(
            text.contains("hold 4 after the plan") && text.contains("nothing was written"),
            "{text}"
        );

        // Creates go before deletes: replacing both keys with three new ones peaks at 5.
        let swap = SecretSet::new("dev")
            .with("X", "v")
            .with("Y", "v")
            .with("Z", "v");
        let err = shaped_plan(&swap, &snapshot, &NoKeySchema, caps.clone()).expect_err("peak");
        assert!(
            err.to_string()
                .contains("before the 2 delete(s), so it would hold 5 at once"),
            "{err}"
        );
        // Updates and deletes alone never trip it, even over the limit.
        let full = entries(&["A".to_owned(), "B".into(), "C".into(), "D".into()]);
        assert!(shaped_plan(&keep, &full, &NoKeySchema, caps).is_ok());
        Ok(())
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("KEY_{i:02}")).collect()
    }

    /// Item 14: a refusal names at most ten keys, then how many more; `keys()` has all.
    #[test]
    fn guard_refusals_list_ten_keys_then_how_many_more() -> Result<()> {
        let names = keys(25);
        let snapshot = entries(&names);
        let empty = SecretSet::new("dev");
        let err = plan_of(
            &empty,
            &snapshot,
            &NoKeySchema,
            None,
            DeletionGuard::default(),
        )
        .expect_err("an empty source deleting everything");
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::Guard);
        assert!(text.contains("KEY_09 and 15 more"), "{text}");
        assert!(!text.contains("KEY_10"), "{text}");
        assert!(!text.contains("DeletionGuard"), "no Rust names: {text}");
        assert!(text.contains("nothing was written"), "{text}");
        assert_eq!(err.keys().len(), 25);

        let few = SecretSet::new("dev").with("KEY_00", "v");
        let err = plan_of(
            &few,
            &snapshot,
            &NoKeySchema,
            None,
            DeletionGuard::default(),
        )
        .expect_err("24 of 25 deleted");
        let text = err.to_string();
        assert!(text.contains("24 of 25 managed keys"), "{text}");
        assert!(text.contains("KEY_10 and 14 more"), "{text}");
        assert!(!text.contains("DeletionGuard"), "{text}");

        let small = entries(&keys(3));
        let err = plan_of(&empty, &small, &NoKeySchema, None, DeletionGuard::default())
            .expect_err("refused");
        assert!(err.to_string().contains("KEY_00, KEY_01, KEY_02;"), "{err}");
        assert!(!err.to_string().contains("more"), "{err}");
        Ok(())
    }

    /// Item 10: without a key schema the plan warns, naming how many keys it deletes that
    /// the sync never wrote.
    #[test]
    fn no_key_schema_warns_about_deleting_keys_never_written() -> Result<()> {
        let snapshot = entries(&["MINE".to_owned(), "THEIRS_A".into(), "THEIRS_B".into()]);
        let source = SecretSet::new("dev").with("NEW", "n");
        let off = DeletionGuard::disabled();

        let plan = plan_of(&source, &snapshot, &NoKeySchema, None, off)?;
        let warning = plan
            .warnings()
            .iter()
            .find(|w| w.key.is_empty())
            .expect("a plan-wide warning");
        assert!(
            warning
                .message
                .contains("deletes 3 key(s) it has no record of writing"),
            "{}",
            warning.message
        );
        assert!(
            plan.to_string().contains("  warning: no key schema"),
            "{plan}"
        );

        let fp = Fingerprinter::new(vec![7; 32])?;
        let mut ledger = Ledger::default();
        ledger.record(
            "MINE",
            Some("id-MINE".into()),
            fp.fingerprint("MINE", &SecretValue::new("v")),
        );
        // The initial overwrite sync claims what the ledger does not record.
        let destination = MemoryDestination::builder().build();
        let plan = run(PlanInput {
            source: &source,
            source_name: "test",
            snapshot: &snapshot,
            schema: &NoKeySchema,
            destination: &destination,
            ledger: Some(&ledger),
            claim_unrecorded: true,
            fingerprinter: Some(&fp),
            options: PlanOptions {
                disable_secret_deletion: false,
                deletion_guard: off,
            },
        })?;
        assert_eq!(plan.counts().delete, 3);
        let message = &plan.warnings()[0].message;
        assert!(
            message.contains("deletes 2 key(s) it never wrote")
                && message.contains("THEIRS_A, THEIRS_B"),
            "{message}"
        );

        // A key schema, or nothing to delete: no such warning.
        let schema = TemplateKeySchema::parse("{{secretKey}}_X")?;
        let plan = plan_of(&source, &snapshot, &schema, None, off)?;
        assert!(plan.warnings().is_empty());
        let all = SecretSet::new("dev")
            .with("MINE", "v")
            .with("THEIRS_A", "v")
            .with("THEIRS_B", "v");
        let plan = plan_of(&all, &snapshot, &NoKeySchema, None, off)?;
        assert!(plan.warnings().is_empty());
        Ok(())
    }
}
