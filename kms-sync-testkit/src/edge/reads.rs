//! Reads that lack what a write must send back: the sync is refused before any write.

use super::bench::{ok, Bench};
use super::EdgeTarget;
use crate::proxy::{Action, Rule, Timing};

/// A converged bench (foreign entries, two managed keys), then a source change that only
/// creates a key — the write that sends the set back untouched, or touches no listed entry
/// at all — and every list answer bent by `bend`. The sync must be refused, no write may
/// reach the service, and the service must hold exactly what it held. With the rule gone,
/// the next run converges.
async fn refused_before_any_write<T: EdgeTarget + ?Sized>(target: &T, bend: Bend, context: &str) {
    let bench = Bench::new(target, &[("A", "a-1"), ("B", "b-1")], true).await;
    let first = ok(bench.syncer.sync().await, "the first sync");
    assert!(first.is_success(), "{context}: {first}");
    ok(bench.source.set("C", "c-1"), "adding C");
    let before = bench.contents().await;
    let requests_before = target.requests_received();

    bench
        .proxy
        .add_rule(Rule::get(bench.answer.path.clone(), bend.action(&bench)));
    let outcome = bench.syncer.sync().await;
    bench.proxy.clear_rules();
    let after = bench.contents().await;
    let writes = bench.upstream_writes_since(&requests_before);
    match outcome {
        Err(refused) => {
            if let Some(field) = bend.named_field(&bench) {
                assert!(
                    refused.to_string().contains(&field),
                    "{context}: the refusal names the field `{field}`: {refused}"
                );
            }
            assert_eq!(
                writes, 0,
                "{context}: writes reached the service ({refused})"
            );
            assert_eq!(after, before, "{context}: the service changed ({refused})");
        }
        Ok(report) if bend.must_refuse() => {
            panic!("{context}: the sync should have been refused, got: {report}")
        }
        Ok(report) if !report.is_success() => {
            assert_eq!(writes, 0, "{context}: a failed run wrote: {report}");
            assert_eq!(after, before, "{context}: the service changed: {report}");
        }
        Ok(report) => assert_eq!(after, bench.model(true).await, "{context}: {report}"),
    }

    let clean = ok(bench.syncer.sync().await, "the clean run after");
    assert!(clean.is_success(), "{context}, the clean run: {clean}");
    assert_eq!(bench.contents().await, bench.model(true).await, "{context}");
}

/// What the proxy takes out of the list answer.
#[derive(Debug, Clone, Copy)]
enum Bend {
    /// The entry list (for a bare array: the whole answer becomes `{}`).
    List,
    /// Every entry's id.
    Ids,
    /// Every entry's value.
    Values,
}

impl Bend {
    fn action<T: EdgeTarget + ?Sized>(self, bench: &Bench<'_, T>) -> Action {
        let answer = &bench.answer;
        match self {
            Bend::List if answer.entries.is_empty() => Action::Replace {
                timing: Timing::AfterForwarding,
                status: 200,
                content_type: "application/json".to_owned(),
                body: b"{}".to_vec(),
            },
            Bend::List => Action::DropJson(answer.entries.clone()),
            Bend::Ids => Action::DropJson(answer.ids_path().unwrap_or_default()),
            Bend::Values => Action::DropJson(answer.values_path()),
        }
    }

    /// Whether the sync must be refused outright; otherwise it may also stop with nothing
    /// written, or go through without losing anything.
    fn must_refuse(self) -> bool {
        !matches!(self, Bend::Values)
    }

    /// The field the refusal must name.
    fn named_field<T: EdgeTarget + ?Sized>(self, bench: &Bench<'_, T>) -> Option<String> {
        let answer = &bench.answer;
        match self {
            Bend::List => Some(answer.entries.clone()).filter(|f| !f.is_empty()),
            Bend::Ids => answer.id_field.clone(),
            Bend::Values => Some(answer.value_field.clone()),
        }
    }
}

/// The list answer without its list field (`values`, `environmentVariables`, `Variables`;
/// a bare array answered as `{}`) — a field a service's document may call optional — is
/// not an empty scope: the sync is refused naming the field, zero writes reach the service,
/// and the foreign entries are intact.
pub async fn list_missing_field_refuses<T: EdgeTarget + ?Sized>(target: &T) {
    refused_before_any_write(target, Bend::List, "the list answer without its list").await;
}

/// Where entries carry an id a write must send back (`values[*].uuid`, `Variables[*].Id`):
/// a list answer whose entries lack it refuses the sync before any write, naming the field,
/// and the foreign entries are intact. Nothing to check for a destination without ids.
pub async fn entry_without_id_refuses<T: EdgeTarget + ?Sized>(target: &T) {
    if target.list_answer().id_field.is_none() {
        return;
    }
    refused_before_any_write(target, Bend::Ids, "entries without their ids").await;
}

/// Where one write replaces the whole set: a list answer whose entries lack their value
/// field loses nothing — the sync is refused (naming the field) or stops with nothing
/// written, or, where the service keeps what is sent back without a value (Octopus's
/// sensitive variables), goes through with every foreign entry intact. Nothing to check for
/// a destination writing key by key.
pub async fn entry_without_value_refuses<T: EdgeTarget + ?Sized>(target: &T) {
    if !target.list_answer().whole_set {
        return;
    }
    refused_before_any_write(target, Bend::Values, "entries without their values").await;
}
