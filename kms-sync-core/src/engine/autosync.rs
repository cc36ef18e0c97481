//! Auto-sync: watch the source and sync on change, or when triggered (e.g. by a KMS webhook).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::engine::report::{Counts, RunStatus};
use crate::engine::Syncer;
use crate::source::Revision;

/// How an [`AutoSync`] runner behaves.
///
/// ```
/// use kms_sync_core::AutoSyncConfig;
/// use std::time::Duration;
/// let config = AutoSyncConfig::default().with_poll_interval(Duration::from_secs(120));
/// assert_eq!(config.poll_interval(), Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSyncConfig {
    poll_interval: Duration,
    max_backoff: Duration,
    history: usize,
}

impl Default for AutoSyncConfig {
    /// Poll every 60 s; after failures wait twice as long each time, up to 15 min; keep the
    /// last 100 run records.
    fn default() -> Self {
        AutoSyncConfig {
            poll_interval: Duration::from_secs(60),
            max_backoff: Duration::from_secs(900),
            history: 100,
        }
    }
}

impl AutoSyncConfig {
    /// How often the source's revision is checked (at least 1 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_secs(1));
        self
    }
    /// The longest wait after consecutive failures.
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }
    /// How many run records to keep.
    pub fn with_history(mut self, runs: usize) -> Self {
        self.history = runs.max(1);
        self
    }
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }
}

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunTrigger {
    /// The first sync when the runner starts.
    Initial,
    /// A poll found a new source revision (or the source has none).
    Change,
    /// [`AutoSyncHandle::trigger`] was called (a webhook, an operator).
    Triggered,
    /// A retry after a failed run.
    Retry,
}

/// One auto-sync run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Why it ran.
    pub trigger: RunTrigger,
    /// When it started.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// How it ended.
    pub status: RunStatus,
    /// Counts per key status (zero when the sync stopped before applying).
    pub counts: Counts,
    /// The error or failure summary (keys, never values).
    pub message: Option<String>,
}

fn rfc3339<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_rfc3339_millis(*at).to_string())
}

/// Triggers a sync of a running [`AutoSync`]; cheap to clone, safe to call from a webhook
/// handler. Triggers that arrive while a sync runs collapse into one pending sync.
#[derive(Debug, Clone)]
pub struct Trigger {
    notify: Arc<Notify>,
}

impl Trigger {
    /// Asks for a sync as soon as the current one (if any) finishes.
    pub fn fire(&self) {
        self.notify.notify_one();
    }
}

/// Controls a running [`AutoSync`].
#[derive(Debug)]
pub struct AutoSyncHandle {
    trigger: Trigger,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    runs: Arc<Mutex<Vec<RunRecord>>>,
}

impl AutoSyncHandle {
    /// Asks for a sync now (coalesced).
    pub fn trigger(&self) {
        self.trigger.fire();
    }

    /// A trigger to hand to a webhook handler.
    pub fn trigger_handle(&self) -> Trigger {
        self.trigger.clone()
    }

    /// The run records so far, oldest first.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Stops the runner: a sync in progress finishes first; nothing starts after. Returns the
    /// run records.
    pub async fn shutdown(self) -> Vec<RunRecord> {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// Keeps one destination in step with its source without being asked: an initial sync, then a
/// sync whenever a poll finds a new source [`revision`](crate::SecretSource::revision) (every
/// poll if the source has none), or when [`AutoSyncHandle::trigger`] is called. At most one
/// sync runs and one waits; after a failure the runner retries with exponential backoff.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::*;
/// # tokio_test(async {
/// let syncer = Syncer::builder()
///     .source(Arc::new(StaticSource::new(SecretSet::new("dev").with("A", "1"))))
///     .destination(Arc::new(MemoryDestination::builder().build()))
///     .build()?;
/// let handle = AutoSync::spawn(Arc::new(syncer), AutoSyncConfig::default());
/// handle.trigger();
/// let runs = handle.shutdown().await;
/// assert!(!runs.is_empty());
/// # Ok::<(), kms_sync_core::Error>(())
/// # });
/// # fn tokio_test<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().map(|rt| rt.block_on(f)).unwrap_or_else(|e| panic!("{e}"))
/// # }
/// ```
#[derive(Debug)]
pub struct AutoSync;

impl AutoSync {
    /// Starts the runner on the current tokio runtime.
    pub fn spawn(syncer: Arc<Syncer>, config: AutoSyncConfig) -> AutoSyncHandle {
        let notify = Arc::new(Notify::new());
        let (shutdown, mut stopped) = watch::channel(false);
        let runs: Arc<Mutex<Vec<RunRecord>>> = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let notify = notify.clone();
            let runs = runs.clone();
            tokio::spawn(async move {
                let mut last: Option<Revision> = None;
                let mut failures: u32 = 0;
                let mut next = Some(RunTrigger::Initial);
                loop {
                    if let Some(trigger) = next.take() {
                        // The revision before the sync: a change during it is seen next poll.
                        let revision = syncer.source().revision().await.ok().flatten();
                        let record = run_once(&syncer, trigger).await;
                        let ok = record.status == RunStatus::Succeeded;
                        if let Ok(mut r) = runs.lock() {
                            r.push(record);
                            let excess = r.len().saturating_sub(config.history);
                            r.drain(..excess);
                        }
                        if ok {
                            failures = 0;
                            last = revision;
                        } else {
                            failures += 1;
                        }
                    }
                    let wait = if failures == 0 {
                        config.poll_interval
                    } else {
                        config
                            .poll_interval
                            .saturating_mul(2u32.saturating_pow(failures.min(16)))
                            .min(config.max_backoff.max(config.poll_interval))
                    };
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = notify.notified() => next = Some(RunTrigger::Triggered),
                        _ = tokio::time::sleep(wait) => {
                            if failures > 0 {
                                next = Some(RunTrigger::Retry);
                            } else {
                                match syncer.source().revision().await {
                                    Ok(Some(revision)) if Some(&revision) == last.as_ref() => {}
                                    Ok(_) => next = Some(RunTrigger::Change),
                                    Err(e) => {
                                        warn!(sync_id = %syncer.id(), error = %e, "auto-sync: the source's revision could not be read");
                                        failures += 1;
                                    }
                                }
                            }
                        }
                    }
                    if *stopped.borrow() {
                        break;
                    }
                }
                info!(sync_id = %syncer.id(), "auto-sync stopped");
            })
        };
        AutoSyncHandle {
            trigger: Trigger { notify },
            shutdown,
            task,
            runs,
        }
    }
}

async fn run_once(syncer: &Syncer, trigger: RunTrigger) -> RunRecord {
    let started_at = SystemTime::now();
    match syncer.sync().await {
        Ok(report) => RunRecord {
            trigger,
            started_at,
            status: if report.is_success() {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            counts: report.counts,
            message: report.status.last_sync_message.clone(),
        },
        Err(e) => RunRecord {
            trigger,
            started_at,
            status: RunStatus::Failed,
            counts: Counts::default(),
            message: Some(e.to_string()),
        },
    }
}
