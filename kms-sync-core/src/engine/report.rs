//! What a sync, remove or import did: per-key outcomes, counts, requests, duration, and a
//! status record with the KMS's field names.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

use crate::destination::ChangeKind;
use crate::error::Error;
use crate::stats::RequestStats;

/// Which operation a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Plan and apply.
    Sync,
    /// Delete every managed entry.
    Remove,
    /// Read destination entries into the source.
    Import,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Sync => "sync",
            Operation::Remove => "remove",
            Operation::Import => "import",
        })
    }
}

/// What happened to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Written for the first time.
    Created,
    /// Overwritten.
    Updated,
    /// Removed.
    Deleted,
    /// Already right; nothing sent.
    Unchanged,
    /// Read into the source (import).
    Imported,
    /// Tried and failed; the error says why.
    Failed,
    /// Tried, and the service did not confirm it (an answer that could not be read, or
    /// none): it may or may not have been applied. Counted as failed; the next sync
    /// rewrites it.
    Unconfirmed,
    /// Not tried because the apply stopped (the deadline passed, or the service kept
    /// failing). Counted apart; the run failed.
    NotAttempted,
    /// Not tried; the reason says why.
    Skipped,
}

/// One key's line in a report. Never a value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyReport {
    /// The destination key.
    pub key: String,
    /// What happened.
    pub status: KeyStatus,
    /// What was attempted, for changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeKind>,
    /// A note or the reason for a skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The error of a failed change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

/// Counts per [`KeyStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Created.
    pub created: usize,
    /// Updated.
    pub updated: usize,
    /// Deleted.
    pub deleted: usize,
    /// Unchanged.
    pub unchanged: usize,
    /// Imported.
    pub imported: usize,
    /// Failed.
    pub failed: usize,
    /// Of the failed, how many were unconfirmed.
    pub unconfirmed: usize,
    /// Changes not attempted because the apply stopped.
    pub not_attempted: usize,
    /// Skipped.
    pub skipped: usize,
}

impl Counts {
    /// Adds one key's status.
    pub fn add(&mut self, status: KeyStatus) {
        match status {
            KeyStatus::Created => self.created += 1,
            KeyStatus::Updated => self.updated += 1,
            KeyStatus::Deleted => self.deleted += 1,
            KeyStatus::Unchanged => self.unchanged += 1,
            KeyStatus::Imported => self.imported += 1,
            KeyStatus::Failed => self.failed += 1,
            KeyStatus::Unconfirmed => {
                self.failed += 1;
                self.unconfirmed += 1;
            }
            KeyStatus::NotAttempted => self.not_attempted += 1,
            KeyStatus::Skipped => self.skipped += 1,
        }
    }

    /// Changes that reached the destination.
    pub fn applied(&self) -> usize {
        self.created + self.updated + self.deleted
    }
}

/// The state of the last run of one operation, as the KMS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Queued.
    Pending,
    /// In progress.
    Running,
    /// Finished with every change applied.
    Succeeded,
    /// Finished with an error or with failed keys.
    Failed,
}

fn rfc3339<S: Serializer>(at: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&humantime::format_rfc3339_millis(*at).to_string()),
        None => s.serialize_none(),
    }
}

/// The status record of a sync with the KMS's field names (`syncStatus`, `lastSyncJobId`,
/// `lastSyncMessage`, `lastSyncedAt`, and the same for import and remove), so an embedding
/// service can store or serve it as the KMS does.
///
/// ```
/// let record = kms_sync_core::StatusRecord::default();
/// let json = serde_json::to_value(&record).unwrap();
/// assert!(json.get("syncStatus").is_some());
/// assert!(json.get("lastRemovedAt").is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRecord {
    /// The last sync's state.
    pub sync_status: Option<RunStatus>,
    /// The last sync's job id.
    pub last_sync_job_id: Option<String>,
    /// What the last sync said (failures name keys, never values).
    pub last_sync_message: Option<String>,
    /// When the last sync finished successfully.
    #[serde(serialize_with = "rfc3339")]
    pub last_synced_at: Option<SystemTime>,
    /// The last import's state.
    pub import_status: Option<RunStatus>,
    /// The last import's job id.
    pub last_import_job_id: Option<String>,
    /// What the last import said.
    pub last_import_message: Option<String>,
    /// When the last import finished successfully.
    #[serde(serialize_with = "rfc3339")]
    pub last_imported_at: Option<SystemTime>,
    /// The last remove's state.
    pub remove_status: Option<RunStatus>,
    /// The last remove's job id.
    pub last_remove_job_id: Option<String>,
    /// What the last remove said.
    pub last_remove_message: Option<String>,
    /// When the last remove finished successfully.
    #[serde(serialize_with = "rfc3339")]
    pub last_removed_at: Option<SystemTime>,
}

impl StatusRecord {
    /// Records the end of a run of `operation`.
    pub fn record(
        &mut self,
        operation: Operation,
        job_id: &str,
        status: RunStatus,
        message: Option<String>,
        at: SystemTime,
    ) {
        let finished = (status == RunStatus::Succeeded).then_some(at);
        let (s, j, m, t) = match operation {
            Operation::Sync => (
                &mut self.sync_status,
                &mut self.last_sync_job_id,
                &mut self.last_sync_message,
                &mut self.last_synced_at,
            ),
            Operation::Import => (
                &mut self.import_status,
                &mut self.last_import_job_id,
                &mut self.last_import_message,
                &mut self.last_imported_at,
            ),
            Operation::Remove => (
                &mut self.remove_status,
                &mut self.last_remove_job_id,
                &mut self.last_remove_message,
                &mut self.last_removed_at,
            ),
        };
        *s = Some(status);
        *j = Some(job_id.to_owned());
        *m = message;
        if finished.is_some() {
            *t = finished;
        }
    }
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What one operation did.
///
/// `Display` prints a short summary; `Serialize` gives JSON (`durationMs` in milliseconds).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Sync, remove or import.
    pub operation: Operation,
    /// The sync's id.
    pub sync_id: String,
    /// The job id of this run.
    pub job_id: String,
    /// The source's description.
    pub source: String,
    /// The destination, `kind:target`.
    pub destination: String,
    /// Every managed key's outcome, sorted by key.
    pub keys: Vec<KeyReport>,
    /// Counts per status.
    pub counts: Counts,
    /// Requests the destination made during the run.
    pub requests: RequestStats,
    /// How long the run took.
    #[serde(rename = "durationMs", serialize_with = "millis")]
    pub duration: Duration,
    /// Warnings (from the plan, or a ledger that could not be saved).
    pub warnings: Vec<String>,
    /// The sync's status record after this run.
    pub status: StatusRecord,
    /// Whether the run was stopped by its [`StopSignal`](crate::StopSignal): the changes
    /// never tried are `notAttempted` (note "interrupted"), writes dropped in flight are
    /// `unconfirmed`, and the rest say what was done. The ledger holds a claim on every key
    /// that may have been written.
    pub interrupted: bool,
}

impl SyncReport {
    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.counts.failed == 0 && self.counts.not_attempted == 0
    }

    /// The keys that failed.
    pub fn failed_keys(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| matches!(k.status, KeyStatus::Failed | KeyStatus::Unconfirmed))
            .map(|k| k.key.as_str())
            .collect()
    }

    /// The keys with a status.
    pub fn keys_with(&self, status: KeyStatus) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| k.status == status)
            .map(|k| k.key.as_str())
            .collect()
    }

    /// The report line of a key.
    pub fn key(&self, key: &str) -> Option<&KeyReport> {
        self.keys.iter().find(|k| k.key == key)
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counts;
        writeln!(
            f,
            "{}{} {} -> {}: {} created, {} updated, {} deleted, {} unchanged, {} failed, {} skipped{}{} ({} requests, {} ms)",
            if self.interrupted { "interrupted " } else { "" },
            self.operation,
            self.source,
            self.destination,
            c.created,
            c.updated,
            c.deleted,
            c.unchanged,
            c.failed,
            c.skipped,
            if c.imported > 0 { format!(", {} imported", c.imported) } else { String::new() },
            if c.not_attempted > 0 { format!(", {} not attempted", c.not_attempted) } else { String::new() },
            self.requests.total(),
            self.duration.as_millis()
        )?;
        for k in &self.keys {
            match (&k.status, &k.error, &k.note) {
                (KeyStatus::Failed, Some(err), _) => writeln!(f, "  failed  {}: {err}", k.key)?,
                (KeyStatus::Unconfirmed, Some(err), _) => {
                    writeln!(f, "  unconfirmed {}: {err}", k.key)?
                }
                (KeyStatus::NotAttempted, _, Some(note)) => {
                    writeln!(f, "  not attempted {}: {note}", k.key)?
                }
                (KeyStatus::Skipped, _, Some(note)) => writeln!(f, "  skipped {}: {note}", k.key)?,
                (_, _, Some(note)) => writeln!(f, "  note    {}: {note}", k.key)?,
                _ => {}
            }
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}
