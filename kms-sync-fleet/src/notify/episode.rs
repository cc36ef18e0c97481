//! Which run ends open or close a failure episode, from the run history: a failure after
//! a success (or as the first run) opens one; a success after a failure closes it;
//! everything else — a retry failing again — is silent.

use std::sync::Arc;

use kms_sync_core::Operation;

use super::{Notice, NoticeKind, Notifier};
use crate::audit::{RunEnd, RunListener};
use crate::{RunEntry, RunState, SyncRegistry};

/// How many runs back the history is read to find the previous run of an operation.
const HISTORY: usize = 50;

/// A [`RunListener`] that tells a [`Notifier`] when a sync's operation starts failing and
/// when it recovers: one notice per failure episode, not per retry.
///
/// ```no_run
/// # fn f(registry: kms_sync_fleet::SyncRegistry, b: kms_sync_fleet::WorkerBuilder) -> kms_sync_core::Result<()> {
/// use std::sync::Arc;
/// let webhook = kms_sync_fleet::WebhookNotifier::new("https://hooks.example.com/kms", b"signing-key".to_vec())?;
/// let b = b.run_listener(Arc::new(kms_sync_fleet::FailureNotices::new(registry, Arc::new(webhook))));
/// # Ok(()) }
/// ```
pub struct FailureNotices {
    registry: SyncRegistry,
    notifier: Arc<dyn Notifier>,
}

impl FailureNotices {
    /// Notices of the syncs of `registry`, sent to `notifier`.
    ///
    /// ```no_run
    /// # fn f(registry: kms_sync_fleet::SyncRegistry, n: std::sync::Arc<dyn kms_sync_fleet::Notifier>) {
    /// let notices = kms_sync_fleet::FailureNotices::new(registry, n);
    /// # }
    /// ```
    pub fn new(registry: SyncRegistry, notifier: Arc<dyn Notifier>) -> FailureNotices {
        FailureNotices { registry, notifier }
    }
}

/// The state of the run of `operation` before the run of `end` (newest-first `runs`).
fn previous_state(runs: &[RunEntry], end: &RunEnd, operation: Operation) -> Option<RunState> {
    let this = runs.iter().position(|r| r.job_id == end.job_id)?;
    runs[this + 1..]
        .iter()
        .filter(|r| r.operation == operation)
        .find(|r| matches!(r.state, RunState::Succeeded | RunState::Failed))
        .map(|r| r.state)
}

/// Whether the run of `end`, after a run in `previous` state, opens or closes an episode.
pub(crate) fn episode_change(succeeded: bool, previous: Option<RunState>) -> Option<NoticeKind> {
    match (succeeded, previous) {
        (false, None | Some(RunState::Succeeded)) => Some(NoticeKind::Failed),
        (true, Some(RunState::Failed)) => Some(NoticeKind::Recovered),
        _ => None,
    }
}

#[kms_sync_core::async_trait]
impl RunListener for FailureNotices {
    async fn run_ended(&self, end: &RunEnd) {
        let runs = match self.registry.jobs().runs(end.sync_id, HISTORY).await {
            Ok(runs) => runs,
            Err(e) => {
                tracing::warn!(sync = %end.sync_id, error = %e, "kms-sync notices: reading the run history");
                return;
            }
        };
        let previous = previous_state(&runs, end, end.operation);
        let Some(kind) = episode_change(end.succeeded, previous) else {
            return;
        };
        let Ok(sync) = self.registry.syncs().get(end.sync_id).await else {
            return;
        };
        let notice = Notice {
            kind,
            sync_id: end.sync_id,
            sync_name: sync.name,
            project_id: sync.project_id,
            destination: sync.destination,
            operation: end.operation,
            job_id: end.job_id,
            message: end.message.clone(),
        };
        if let Err(e) = self.notifier.notify(&notice).await {
            tracing::warn!(sync = %end.sync_id, error = %e, "kms-sync notices: sending a notice");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_failure_opens_an_episode_and_a_retry_failing_again_is_silent() {
        assert_eq!(episode_change(false, None), Some(NoticeKind::Failed));
        assert_eq!(
            episode_change(false, Some(RunState::Succeeded)),
            Some(NoticeKind::Failed)
        );
        assert_eq!(episode_change(false, Some(RunState::Failed)), None);
    }

    #[test]
    fn a_success_after_a_failure_closes_it_and_other_successes_are_silent() {
        assert_eq!(
            episode_change(true, Some(RunState::Failed)),
            Some(NoticeKind::Recovered)
        );
        assert_eq!(episode_change(true, Some(RunState::Succeeded)), None);
        assert_eq!(episode_change(true, None), None);
    }
}
