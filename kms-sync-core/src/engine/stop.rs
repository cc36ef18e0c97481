//! [`StopSignal`]: asks the runs of a [`Syncer`](crate::Syncer) to stop writing, for
//! SIGTERM, Ctrl-C or a worker's shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How long writes already in flight may take to finish after a stop, by default.
///
/// ```
/// assert_eq!(kms_sync_core::DEFAULT_STOP_GRACE.as_secs(), 5);
/// ```
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);

/// A cloneable request to stop: every clone sees the same signal, and once stopped it stays
/// stopped.
///
/// Give one to a [`Syncer`](crate::Syncer) with
/// [`SyncerBuilder::stop_signal`](crate::SyncerBuilder::stop_signal) and call
/// [`stop`](StopSignal::stop) from a signal handler or a shutdown path. The promise, for every
/// run of that syncer (sync, apply, remove):
///
/// - **no new write starts** after the stop (deletes never start after it);
/// - writes **in flight** get the syncer's grace
///   ([`SyncerBuilder::stop_grace`](crate::SyncerBuilder::stop_grace), default
///   [`DEFAULT_STOP_GRACE`]) to finish; those still running are dropped and reported
///   `unconfirmed` (they may have been applied);
/// - the changes never tried are reported `not attempted` with a note saying the run was
///   interrupted;
/// - the ledger is saved, and [`SyncReport::interrupted`](crate::SyncReport::interrupted)
///   says the run was stopped;
/// - ownership is never lost, even if the process dies before the run ends: the ledger
///   records a claim on every key before the key is written, so the next run rewrites it, or
///   deletes it when the source dropped it.
///
/// A stop during the reads ends the run before anything is written.
///
/// ```
/// use kms_sync_core::StopSignal;
/// let signal = StopSignal::new();
/// let seen_by_the_syncer = signal.clone();
/// assert!(!seen_by_the_syncer.is_stopped());
/// signal.stop();
/// assert!(seen_by_the_syncer.is_stopped());
/// ```
#[derive(Debug, Clone)]
pub struct StopSignal {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::new()
    }
}

impl StopSignal {
    /// A signal that has not been given.
    ///
    /// ```
    /// assert!(!kms_sync_core::StopSignal::new().is_stopped());
    /// ```
    pub fn new() -> StopSignal {
        let (sender, _) = watch::channel(false);
        StopSignal {
            sender: Arc::new(sender),
        }
    }

    /// Asks every run that holds this signal to stop. Calling it again does nothing more.
    ///
    /// ```
    /// let signal = kms_sync_core::StopSignal::new();
    /// signal.stop();
    /// signal.stop();
    /// assert!(signal.is_stopped());
    /// ```
    pub fn stop(&self) {
        self.sender.send_replace(true);
    }

    /// Whether [`stop`](StopSignal::stop) was called.
    ///
    /// ```
    /// assert!(!kms_sync_core::StopSignal::default().is_stopped());
    /// ```
    pub fn is_stopped(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once the signal is given (at once if it already was).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let signal = kms_sync_core::StopSignal::new();
    /// signal.stop();
    /// signal.stopped().await;
    /// # }
    /// ```
    pub async fn stopped(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives as long as `self`, so the wait ends only when the value is true.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }
}
