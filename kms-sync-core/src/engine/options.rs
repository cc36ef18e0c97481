//! Sync options with the KMS's names and spellings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::plan::DeletionGuard;

/// What the first sync does with keys already at the destination (the KMS's
/// `initialSyncBehavior`).
///
/// ```
/// use kms_sync_core::InitialSyncBehavior;
/// let b: InitialSyncBehavior = "import-prioritize-source".parse()?;
/// assert_eq!(b, InitialSyncBehavior::ImportPrioritizeSource);
/// assert_eq!(b.to_string(), "import-prioritize-source");
/// assert!("overwrite".parse::<InitialSyncBehavior>().is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialSyncBehavior {
    /// The source wins: managed destination keys it does not hold are removed.
    #[default]
    OverwriteDestination,
    /// Destination-only keys are imported into the source first; on conflict the source wins.
    ImportPrioritizeSource,
    /// Destination keys are imported into the source first; on conflict the destination wins.
    ImportPrioritizeDestination,
}

impl InitialSyncBehavior {
    /// The KMS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InitialSyncBehavior::OverwriteDestination => "overwrite-destination",
            InitialSyncBehavior::ImportPrioritizeSource => "import-prioritize-source",
            InitialSyncBehavior::ImportPrioritizeDestination => "import-prioritize-destination",
        }
    }

    /// Whether this behaviour reads from the destination.
    pub fn imports(self) -> bool {
        self != InitialSyncBehavior::OverwriteDestination
    }
}

impl fmt::Display for InitialSyncBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InitialSyncBehavior {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        [
            InitialSyncBehavior::OverwriteDestination,
            InitialSyncBehavior::ImportPrioritizeSource,
            InitialSyncBehavior::ImportPrioritizeDestination,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
        .ok_or_else(|| {
            Error::config(format!(
                "unknown initialSyncBehavior `{s}`: expected overwrite-destination, \
                 import-prioritize-source or import-prioritize-destination"
            ))
        })
    }
}

/// How a [`Syncer`](crate::Syncer) syncs.
///
/// ```
/// use kms_sync_core::{DeletionGuard, SyncOptions};
/// let options = SyncOptions::default()
///     .with_disable_secret_deletion(true)
///     .with_concurrency(8)
///     .with_deletion_guard(DeletionGuard::default().with_max_delete_share(0.25));
/// assert!(options.disable_secret_deletion);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncOptions {
    /// Whether the sync may write (the KMS's `isEnabled`, default true). A disabled sync
    /// still plans; `sync`, `apply`, `remove` and auto-sync refuse with
    /// [`Disabled`](crate::ErrorKind::Disabled) before reading anything.
    pub enabled: bool,
    /// The KMS's `initialSyncBehavior`.
    pub initial_sync_behavior: InitialSyncBehavior,
    /// The KMS's `disableSecretDeletion`: never delete at the destination.
    pub disable_secret_deletion: bool,
    /// Refuses plans that delete too much.
    pub deletion_guard: DeletionGuard,
    /// Concurrent requests; `None` uses the destination's default.
    pub concurrency: Option<usize>,
    /// How often a batch write that lost a race (version conflict) is re-planned and
    /// retried within one `sync()`.
    pub conflict_retries: u32,
    /// The most the whole operation (reading, planning, writing) may take. `None`, the
    /// default, gives reading [`DEFAULT_READ_DEADLINE`] and writing
    /// [`DEFAULT_APPLY_DEADLINE`] plus twice the time the destination's documented budget
    /// needs for the planned changes, so a large paced sync is never cut short while a
    /// service that stops answering is given up on in minutes.
    pub deadline: Option<std::time::Duration>,
    /// After this many consecutive failures of one transport kind (timeout, unavailable,
    /// rate limited, unconfirmed) the apply stops and reports the remaining changes as not
    /// attempted. Default 3: each failure already went through the HTTP client's retries,
    /// so three in a row means the service is down, not unlucky.
    pub breaker_threshold: u32,
}

/// Reading the source, the destination and the ledger gets this long by default.
pub const DEFAULT_READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// Writing gets this long by default, plus twice the pacing time of the planned changes.
pub const DEFAULT_APPLY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            enabled: true,
            initial_sync_behavior: InitialSyncBehavior::default(),
            disable_secret_deletion: false,
            deletion_guard: DeletionGuard::default(),
            concurrency: None,
            conflict_retries: 3,
            deadline: None,
            breaker_threshold: 3,
        }
    }
}

impl SyncOptions {
    /// Sets the initial sync behaviour.
    pub fn with_initial_sync_behavior(mut self, behavior: InitialSyncBehavior) -> Self {
        self.initial_sync_behavior = behavior;
        self
    }
    /// Sets `disableSecretDeletion`.
    pub fn with_disable_secret_deletion(mut self, disable: bool) -> Self {
        self.disable_secret_deletion = disable;
        self
    }
    /// Sets the deletion guard.
    pub fn with_deletion_guard(mut self, guard: DeletionGuard) -> Self {
        self.deletion_guard = guard;
        self
    }
    /// Sets the concurrency (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency.max(1));
        self
    }
    /// Whether the sync may write (see [`SyncOptions::enabled`]).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
    /// Sets how often a batch version conflict is retried.
    pub fn with_conflict_retries(mut self, retries: u32) -> Self {
        self.conflict_retries = retries;
        self
    }

    /// A fixed deadline for the whole operation (see [`SyncOptions::deadline`]).
    pub fn with_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Consecutive transport failures that stop an apply (at least 1).
    pub fn with_breaker_threshold(mut self, failures: u32) -> Self {
        self.breaker_threshold = failures.max(1);
        self
    }
}
