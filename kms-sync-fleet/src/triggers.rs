//! Source-change triggers an embedder fires itself: the syncs of one source, when the KMS's
//! webhook says a folder changed, and a poll round requested at once.

use kms_sync_core::{Operation, Result};

use crate::registry::{SyncId, SyncRegistry, TriggerCause, Triggered};
use crate::sources::SourceKey;

/// Triggers the syncs that read `source` (enabled ones; those with auto-sync off only for a
/// [`Manual`](TriggerCause::Manual) cause), in one statement after finding them: what an
/// embedder calls when the KMS's webhook, verified with `kms_sync_hanzo::verify_webhook`,
/// says a folder changed. A trailing `/` does not matter. Returns each sync's result.
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// use kms_sync_fleet::{trigger_source, SourceKey, TriggerCause};
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// let key = SourceKey::new(Some("3c90c3cc-0d44-4b50-8888-8dd25736052a"), "prod", "/");
/// let triggered = trigger_source(&registry, &key, TriggerCause::Webhook).await?;
/// println!("{} syncs queued", triggered.iter().filter(|(_, t)| t.job_id().is_some()).count());
/// # Ok(()) }
/// ```
pub async fn trigger_source(
    registry: &SyncRegistry,
    source: &SourceKey,
    cause: TriggerCause,
) -> Result<Vec<(SyncId, Triggered)>> {
    let ids = registry.polls().syncs_of(source).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    registry
        .jobs()
        .trigger_many(&ids, Operation::Sync, cause)
        .await
}

/// Makes the next poll round due now, and wakes the workers' pollers (a notification on the
/// registry's channel): for a change the webhook cannot pin to a source (an import of the
/// folder that changed), or an operator's "check now".
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// kms_sync_fleet::request_poll_round(&registry).await?;
/// # Ok(()) }
/// ```
pub async fn request_poll_round(registry: &SyncRegistry) -> Result<()> {
    registry.polls().request().await?;
    Ok(())
}

/// What [`trigger_webhook`] did.
///
/// ```
/// let done = kms_sync_fleet::WebhookTriggered::default();
/// assert!(done.triggered.is_empty() && !done.poll_requested);
/// ```
#[cfg(feature = "hanzo")]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookTriggered {
    /// The syncs of the event's folder and what each trigger did.
    pub triggered: Vec<(SyncId, Triggered)>,
    /// Whether a poll round was requested too (for syncs importing the folder).
    pub poll_requested: bool,
}

/// Acts on a KMS webhook verified with
/// [`verify_webhook`](kms_sync_hanzo::verify_webhook) (feature `hanzo`): a
/// `secrets.modified` event triggers the syncs of its project, environment and folder
/// (cause [`Webhook`](TriggerCause::Webhook)) and makes the next poll round due now, which
/// finds the syncs that import that folder. Other events (`test`, rotation failures) do
/// nothing.
///
/// # Errors
///
/// A database failure.
///
/// ```no_run
/// use std::time::Duration;
/// # async fn on_webhook(registry: kms_sync_fleet::SyncRegistry, key: secrecy::SecretString, header: &str, body: &[u8]) -> kms_sync_core::Result<()> {
/// let event = kms_sync_hanzo::verify_webhook(&key, header, body, Duration::from_secs(300))?;
/// let done = kms_sync_fleet::trigger_webhook(&registry, &event).await?;
/// # Ok(()) }
/// ```
#[cfg(feature = "hanzo")]
pub async fn trigger_webhook(
    registry: &SyncRegistry,
    event: &kms_sync_hanzo::WebhookEvent,
) -> Result<WebhookTriggered> {
    if event.event != "secrets.modified" {
        return Ok(WebhookTriggered::default());
    }
    let mut done = WebhookTriggered::default();
    if let Some(project) = &event.project {
        if let (Some(env), Some(path)) = (&project.environment, &project.secret_path) {
            let key = SourceKey::new(project.workspace_id.as_deref(), env.as_str(), path.as_str());
            done.triggered = trigger_source(registry, &key, TriggerCause::Webhook).await?;
        }
    }
    request_poll_round(registry).await?;
    done.poll_requested = true;
    Ok(done)
}
