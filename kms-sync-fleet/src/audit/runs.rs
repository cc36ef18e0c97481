//! The end of a run, as the worker tells its [`RunListener`]s (the audit trail, failure
//! notices): which keys it created, updated and deleted — never a value.

use std::sync::Arc;

use kms_sync_core::{KeyStatus, Operation, Result, SyncReport};
use serde_json::Value;

use super::{AuditEvent, AuditEventKind, AuditSink};
use crate::registry::{Claim, RunOutcome};
use crate::{JobId, SyncId, SyncRegistry};

/// How a run ended: its sync, job and operation, whether it succeeded (and its message if
/// not), whether a retry follows, and the keys it changed.
///
/// ```
/// # fn f(end: &kms_sync_fleet::RunEnd) {
/// println!("{} of {}: {} created", end.operation, end.sync_id, end.created.len());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// The sync.
    pub sync_id: SyncId,
    /// The job that ran.
    pub job_id: JobId,
    /// Sync, remove or import.
    pub operation: Operation,
    /// The worker that ran it.
    pub worker: String,
    /// Whether it succeeded.
    pub succeeded: bool,
    /// Why it failed (never a value), if it did.
    pub message: Option<String>,
    /// Whether the fleet retries it (a failure that is not the episode's last word).
    pub retries: bool,
    /// The keys written for the first time.
    pub created: Vec<String>,
    /// The keys overwritten.
    pub updated: Vec<String>,
    /// The keys removed.
    pub deleted: Vec<String>,
    /// The keys that failed.
    pub failed: Vec<String>,
}

impl RunEnd {
    /// The end of `claim`'s run, from its result and the outcome the worker recorded.
    pub(crate) fn new(
        claim: &Claim,
        worker: &str,
        result: &Result<SyncReport>,
        outcome: &RunOutcome,
    ) -> RunEnd {
        let keys = |wanted: &[KeyStatus]| -> Vec<String> {
            match result {
                Ok(report) => report
                    .keys
                    .iter()
                    .filter(|k| wanted.contains(&k.status))
                    .map(|k| k.key.clone())
                    .collect(),
                Err(_) => Vec::new(),
            }
        };
        RunEnd {
            sync_id: claim.sync_id(),
            job_id: claim.job_id(),
            operation: claim.operation(),
            worker: worker.to_owned(),
            succeeded: outcome.is_success(),
            message: outcome.message().map(str::to_owned),
            retries: outcome.retries(),
            created: keys(&[KeyStatus::Created]),
            updated: keys(&[KeyStatus::Updated]),
            deleted: keys(&[KeyStatus::Deleted]),
            failed: keys(&[KeyStatus::Failed, KeyStatus::Unconfirmed]),
        }
    }
}

/// Tells the worker's listeners that `claim`'s run ended, each on a task of its own.
pub(crate) fn tell_listeners(
    ctx: &crate::worker::Ctx,
    claim: &Claim,
    result: &Result<SyncReport>,
    outcome: &RunOutcome,
) {
    if ctx.run_listeners.is_empty() {
        return;
    }
    let end = Arc::new(RunEnd::new(claim, &ctx.id, result, outcome));
    for listener in &ctx.run_listeners {
        let (listener, end) = (listener.clone(), end.clone());
        tokio::spawn(async move { listener.run_ended(&end).await });
    }
}

/// Told when a run of the fleet ends (after its end is recorded), on a task of its own: a
/// listener never delays a run. Give listeners to
/// [`WorkerBuilder::run_listener`](crate::WorkerBuilder::run_listener).
///
/// ```
/// use kms_sync_fleet::{RunEnd, RunListener};
/// struct Log;
/// #[kms_sync_core::async_trait]
/// impl RunListener for Log {
///     async fn run_ended(&self, end: &RunEnd) {
///         println!("{} {}", end.sync_id, if end.succeeded { "ok" } else { "failed" });
///     }
/// }
/// ```
#[kms_sync_core::async_trait]
pub trait RunListener: Send + Sync {
    /// A run ended.
    async fn run_ended(&self, end: &RunEnd);
}

/// Records every run's end in an audit sink (`secret-sync-sync-secrets`,
/// `…-remove-secrets`, `…-import-secrets`, actor `fleet:<worker>`), with the project and
/// destination of its sync and the keys it created, updated and deleted.
///
/// ```no_run
/// # fn f(registry: kms_sync_fleet::SyncRegistry, b: kms_sync_fleet::WorkerBuilder) {
/// use std::sync::Arc;
/// let sink = Arc::new(registry.audit_log());
/// let b = b.run_listener(Arc::new(kms_sync_fleet::AuditRuns::new(registry, sink)));
/// # }
/// ```
pub struct AuditRuns {
    registry: SyncRegistry,
    sink: Arc<dyn AuditSink>,
}

impl AuditRuns {
    /// Runs recorded in `sink`; their syncs read from `registry`.
    ///
    /// ```no_run
    /// # fn f(registry: kms_sync_fleet::SyncRegistry) {
    /// let audit = kms_sync_fleet::AuditRuns::new(registry.clone(), std::sync::Arc::new(registry.audit_log()));
    /// # }
    /// ```
    pub fn new(registry: SyncRegistry, sink: Arc<dyn AuditSink>) -> AuditRuns {
        AuditRuns { registry, sink }
    }
}

/// The KMS's event for a run of `operation`.
pub(crate) fn run_event(operation: Operation) -> AuditEventKind {
    match operation {
        Operation::Remove => AuditEventKind::SecretSyncRemoveSecrets,
        Operation::Import => AuditEventKind::SecretSyncImportSecrets,
        Operation::Sync => AuditEventKind::SecretSyncSyncSecrets,
    }
}

/// The audit event of a run's end (the sync's project and destination, if known).
pub(crate) fn run_audit_event(
    end: &RunEnd,
    project: Option<&str>,
    destination: Option<&str>,
) -> AuditEvent {
    let list = |keys: &[String]| Value::from(keys.to_vec());
    let mut event = AuditEvent::new(run_event(end.operation), format!("fleet:{}", end.worker))
        .maybe_project(project)
        .sync(end.sync_id.to_string())
        .meta("jobId", end.job_id.to_string())
        .meta("status", if end.succeeded { "succeeded" } else { "failed" })
        .meta("created", list(&end.created))
        .meta("updated", list(&end.updated))
        .meta("deleted", list(&end.deleted))
        .meta("failedKeys", list(&end.failed));
    if let Some(kind) = destination {
        event = event.destination(kind);
    }
    if let Some(message) = &end.message {
        event = event.meta("message", message.as_str());
    }
    event
}

#[kms_sync_core::async_trait]
impl RunListener for AuditRuns {
    async fn run_ended(&self, end: &RunEnd) {
        let sync = self.registry.syncs().get(end.sync_id).await.ok();
        let project = sync.as_ref().and_then(|s| s.project_id.as_deref());
        let destination = sync.as_ref().map(|s| s.destination.as_str());
        let event = run_audit_event(end, project, destination);
        if let Err(e) = self.sink.record(event).await {
            tracing::warn!(sync = %end.sync_id, error = %e, "kms-sync fleet: recording a run in the audit trail");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(succeeded: bool) -> RunEnd {
        RunEnd {
            sync_id: SyncId::random(),
            job_id: JobId::random(),
            operation: Operation::Sync,
            worker: "w1".to_owned(),
            succeeded,
            message: (!succeeded).then(|| "the service refused the token".to_owned()),
            retries: false,
            created: vec!["API_KEY".to_owned()],
            updated: vec![],
            deleted: vec!["OLD".to_owned()],
            failed: vec![],
        }
    }

    #[test]
    fn a_run_is_recorded_with_its_keys_and_the_kms_event_name() {
        let event = run_audit_event(&end(true), Some("p1"), Some("vault"));
        assert_eq!(event.kind.as_str(), "secret-sync-sync-secrets");
        assert_eq!(event.actor, "fleet:w1");
        assert_eq!(event.metadata["created"], serde_json::json!(["API_KEY"]));
        assert_eq!(event.metadata["deleted"], serde_json::json!(["OLD"]));
        assert_eq!(event.project_id.as_deref(), Some("p1"));
    }

    #[test]
    fn a_failed_run_carries_its_message() {
        let event = run_audit_event(&end(false), None, None);
        assert_eq!(event.metadata["status"], "failed");
        assert!(event.metadata.contains_key("message"));
    }
}
