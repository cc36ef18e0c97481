//! Failure notices: a [`Notifier`] is told once when a sync, import or remove starts
//! failing (not at every retry) and once when it recovers — [`FailureNotices`] decides,
//! from the run history, which run ends open or close a failure episode. A
//! [`WebhookNotifier`] posts each notice as signed JSON with a Slack-compatible `text`,
//! retrying with backoff on a task of its own so no run ever waits for it.

mod episode;
mod notice;
mod webhook;

pub use episode::FailureNotices;
pub use notice::{Notice, NoticeKind};
pub use webhook::{WebhookNotifier, SIGNATURE_HEADER};

use kms_sync_core::Result;

/// Where notices go (a webhook, email, chat). Called from a run listener's task, never
/// from a run.
///
/// ```
/// use kms_sync_fleet::{Notice, Notifier};
/// struct Print;
/// #[kms_sync_core::async_trait]
/// impl Notifier for Print {
///     async fn notify(&self, notice: &Notice) -> kms_sync_core::Result<()> {
///         println!("{}", notice.text());
///         Ok(())
///     }
/// }
/// ```
#[kms_sync_core::async_trait]
pub trait Notifier: Send + Sync {
    /// Sends (or queues) one notice.
    ///
    /// # Errors
    ///
    /// The notifier's own; it is logged.
    async fn notify(&self, notice: &Notice) -> Result<()>;
}
