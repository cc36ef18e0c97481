//! The one execute path `apply`, `sync` and `remove` share: write the changes, record the
//! ledger, build the report and the status.

use std::collections::BTreeSet;

use tracing::{debug, warn};

use super::apply::{apply, ApplySettings};
use super::claims;
use super::outcome::{Outcome, OutcomeStatus};
use super::run::Run;
use super::syncer::Syncer;
use crate::destination::{Change, ChangeKind, Version};
use crate::engine::report::{Counts, KeyReport, KeyStatus, Operation, RunStatus, SyncReport};
use crate::plan::{Plan, PlanAction};
use crate::state::{Ledger, LedgerUpdate};

impl Syncer {
    /// Records a claim on every key about to be written (see [`claims::intent`]), then
    /// writes `changes` (creates and updates, then deletes) and returns one outcome each.
    /// When the claims cannot be recorded nothing is written.
    pub(super) async fn execute(
        &self,
        run: &Run,
        changes: &[Change],
        expect: Option<&Version>,
        before: Option<&Ledger>,
    ) -> Vec<Outcome> {
        if let Err(why) = self.record_intent(changes, before).await {
            return changes
                .iter()
                .map(|c| Outcome::not_attempted(c, why.clone()))
                .collect();
        }
        let settings = ApplySettings {
            concurrency: self.concurrency(),
            deadline: self.apply_deadline(run, changes.len()),
            breaker: self.options.breaker_threshold,
            progress: self.progress.clone(),
            destination: self.destination.info().to_string(),
            stop: self.stop.clone(),
            grace: self.stop_grace,
        };
        if let Some(p) = &self.progress {
            p.start(changes.len());
        }
        run.learn(changes.iter().filter_map(|c| c.value.as_ref()));
        let outcomes = apply(self.destination.writer(), changes, expect, &settings).await;
        if let Some(p) = &self.progress {
            p.finish();
        }
        outcomes.into_iter().map(|o| scrubbed(run, o)).collect()
    }

    /// One ledger update before any write: a claim on every key about to be written. `Err`
    /// says why nothing may be written.
    async fn record_intent(
        &self,
        changes: &[Change],
        before: Option<&Ledger>,
    ) -> Result<(), String> {
        let Some((store, _)) = &self.state else {
            return Ok(());
        };
        let claims = claims::intent(changes, before);
        if claims.is_empty() {
            return Ok(());
        }
        let mut updates = vec![LedgerUpdate::Bind {
            destination: self.destination.info().identity.clone(),
        }];
        updates.extend(claims);
        store.update(&self.id, &updates).await.map_err(|err| {
            warn!(error = %err, "the ledger could not record the claims; nothing is written");
            format!(
                "not attempted: the ledger could not record this sync's claim on the keys about to be written, so nothing was written: {err}"
            )
        })
    }

    /// Records what the outcomes mean for the ledger (see [`claims::after`]) and forgets
    /// the `stale` claims; a warning when it cannot be saved.
    pub(super) async fn record_ledger(
        &self,
        changes: &[Change],
        outcomes: &[Outcome],
        before: Option<&Ledger>,
        stale: &[String],
        settle: bool,
    ) -> Option<String> {
        let (store, fingerprinter) = self.state.as_ref()?;
        let mut updates = vec![LedgerUpdate::Bind {
            destination: self.destination.info().identity.clone(),
        }];
        updates.extend(
            stale
                .iter()
                .map(|key| LedgerUpdate::Forget { key: key.clone() }),
        );
        for (change, outcome) in changes.iter().zip(outcomes) {
            updates.extend(claims::after(change, outcome, before, fingerprinter));
        }
        if settle {
            updates.push(LedgerUpdate::Settle);
        }
        match store.update(&self.id, &updates).await {
            Ok(()) => None,
            Err(err) => {
                warn!(error = %err, "ledger not saved");
                Some(format!(
                    "the ledger could not be saved, so the next sync rewrites hidden values: {err}"
                ))
            }
        }
    }

    /// The report of a run: the plan's unchanged and skipped keys, and every outcome.
    pub(super) fn report(
        &self,
        operation: Operation,
        run: &Run,
        plan: Option<&Plan>,
        outcomes: Vec<Outcome>,
        warnings: Vec<String>,
    ) -> SyncReport {
        let mut keys: Vec<KeyReport> = plan
            .map(|p| p.items())
            .unwrap_or_default()
            .iter()
            .filter(|i| matches!(i.action, PlanAction::Unchanged | PlanAction::Skip))
            .map(|i| KeyReport {
                key: i.key.clone(),
                status: if i.action == PlanAction::Skip {
                    KeyStatus::Skipped
                } else {
                    KeyStatus::Unchanged
                },
                change: None,
                note: i.reason.as_ref().map(ToString::to_string),
                error: None,
            })
            .collect();
        keys.extend(outcomes.into_iter().map(key_report));
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        let source = plan.map_or_else(|| self.source.describe(), |p| p.source().to_owned());
        self.finish(operation, run, source, keys, warnings)
    }

    pub(super) fn finish(
        &self,
        operation: Operation,
        run: &Run,
        source: String,
        keys: Vec<KeyReport>,
        warnings: Vec<String>,
    ) -> SyncReport {
        let mut counts = Counts::default();
        for k in &keys {
            counts.add(k.status);
            log_key(k);
        }
        let interrupted = self.stop.is_stopped() && operation != Operation::Import;
        let mut message = failure_message(&keys, &counts);
        if interrupted {
            message = message.map(|m| format!("interrupted by a stop signal: {m}"));
        }
        let status = if message.is_none() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        let record = self.record(operation, run, status, message);
        let report = SyncReport {
            operation,
            sync_id: self.id.clone(),
            job_id: run.job_id.clone(),
            source,
            destination: self.destination.info().to_string(),
            keys,
            counts,
            requests: run.requests.stats(),
            duration: run.started.elapsed(),
            warnings,
            status: record,
            interrupted,
        };
        self.log_done(operation, &report);
        report
    }
}

/// The outcome with its error scrubbed of every value the run has seen: whatever a
/// destination put in its error, the report, the status and the logs never show a value.
fn scrubbed(run: &Run, outcome: Outcome) -> Outcome {
    let status = match outcome.status {
        OutcomeStatus::Failed(err) => OutcomeStatus::Failed(run.scrub(&err)),
        OutcomeStatus::Unconfirmed(err) => OutcomeStatus::Unconfirmed(run.scrub(&err)),
        other => other,
    };
    Outcome { status, ..outcome }
}

fn key_report(outcome: Outcome) -> KeyReport {
    let (status, note, error) = match outcome.status {
        OutcomeStatus::Applied(applied) => (
            match outcome.kind {
                ChangeKind::Create => KeyStatus::Created,
                ChangeKind::Update => KeyStatus::Updated,
                ChangeKind::Delete => KeyStatus::Deleted,
            },
            applied.note,
            None,
        ),
        OutcomeStatus::Failed(err) => (KeyStatus::Failed, None, Some(err)),
        OutcomeStatus::Unconfirmed(err) => (KeyStatus::Unconfirmed, None, Some(err)),
        OutcomeStatus::Skipped(reason) => (KeyStatus::Skipped, Some(reason), None),
        OutcomeStatus::NotAttempted(reason) => (KeyStatus::NotAttempted, Some(reason), None),
    };
    KeyReport {
        key: outcome.key,
        status,
        change: Some(outcome.kind),
        note,
        error,
    }
}

fn log_key(k: &KeyReport) {
    match k.status {
        KeyStatus::Failed | KeyStatus::Unconfirmed => {
            warn!(key = %k.key, change = ?k.change, status = ?k.status, error = ?k.error.as_ref().map(ToString::to_string), "change failed")
        }
        KeyStatus::Skipped | KeyStatus::NotAttempted => {
            debug!(key = %k.key, reason = k.note.as_deref().unwrap_or(""), status = ?k.status, "not applied")
        }
        KeyStatus::Unchanged => {}
        status => debug!(key = %k.key, ?status, "applied"),
    }
}

/// `None` when the run succeeded; otherwise what failed, by kind and key.
fn failure_message(keys: &[KeyReport], counts: &Counts) -> Option<String> {
    if counts.failed == 0 && counts.not_attempted == 0 {
        return None;
    }
    let failed: Vec<&str> = keys
        .iter()
        .filter(|k| matches!(k.status, KeyStatus::Failed | KeyStatus::Unconfirmed))
        .map(|k| k.key.as_str())
        .collect();
    let kinds: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.error.as_ref().map(|e| e.kind().to_string()))
        .collect();
    let mut message = format!(
        "{} of {} change(s) failed ({}): {}",
        counts.failed,
        counts.failed + counts.applied() + counts.skipped + counts.not_attempted,
        kinds.into_iter().collect::<Vec<_>>().join(", "),
        failed.join(", ")
    );
    if counts.not_attempted > 0 {
        message.push_str(&format!("; {} not attempted", counts.not_attempted));
    }
    Some(message)
}
