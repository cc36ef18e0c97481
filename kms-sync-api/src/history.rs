//! The JSON of the two routes of kms-sync beyond the KMS: a sync's run history and the
//! value-free plan of what it would change now.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How many keys a run changed, by outcome.
///
/// ```
/// let c: kms_sync_api::RunCounts = serde_json::from_str(
///     r#"{"created": 1, "updated": 0, "deleted": 2, "unchanged": 5, "failed": 0}"#)?;
/// assert_eq!(c.deleted, 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunCounts {
    /// Keys written for the first time.
    pub created: usize,
    /// Keys overwritten.
    pub updated: usize,
    /// Keys removed.
    pub deleted: usize,
    /// Keys already right.
    pub unchanged: usize,
    /// Keys that failed (or were not confirmed).
    pub failed: usize,
}

/// One run of a sync, as `GET …/{syncId}/runs` lists it.
///
/// ```
/// let r: kms_sync_api::SyncRun = serde_json::from_str(r#"{"jobId": "j", "operation": "sync",
///     "cause": "manual", "worker": "w1", "attempt": 1, "startedAt": "2025-01-01T00:00:00.000Z",
///     "finishedAt": null, "status": "running", "message": null,
///     "counts": {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0, "failed": 0}}"#)?;
/// assert_eq!(r.status, "running");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncRun {
    /// The job that ran.
    pub job_id: String,
    /// `sync`, `remove` or `import`.
    pub operation: String,
    /// What queued it (`manual`, `auto-sync`, `source-changed`, …).
    pub cause: String,
    /// The worker that ran it.
    pub worker: String,
    /// Which try of the job it was (1 for the first).
    pub attempt: u32,
    /// When it started.
    pub started_at: String,
    /// When it ended (null while running).
    pub finished_at: Option<String>,
    /// `running`, `succeeded`, `failed` or `lease-expired`.
    pub status: String,
    /// Why it failed, if it did (never a value).
    pub message: Option<String>,
    /// What it changed.
    pub counts: RunCounts,
}

/// `{"runs": [...]}`, newest first.
///
/// ```
/// let l: kms_sync_api::SyncRunList = serde_json::from_str(r#"{"runs": []}"#)?;
/// assert!(l.runs.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncRunList {
    /// The runs.
    pub runs: Vec<SyncRun>,
}

/// One change a sync would make now: a key and what would happen to it — never a value.
///
/// ```
/// let c: kms_sync_api::PlannedChange = serde_json::from_str(r#"{"key": "API_KEY", "action": "create"}"#)?;
/// assert_eq!(c.action, "create");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlannedChange {
    /// The destination key.
    pub key: String,
    /// `create`, `update` or `delete`.
    pub action: String,
}

/// How many keys the plan would create, update, delete or leave.
///
/// ```
/// let c: kms_sync_api::PlanSummary = serde_json::from_str(
///     r#"{"create": 1, "update": 0, "delete": 0, "unchanged": 3, "skip": 0, "retained": 0}"#)?;
/// assert_eq!(c.unchanged, 3);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlanSummary {
    /// Keys it would write for the first time.
    pub create: usize,
    /// Keys it would overwrite.
    pub update: usize,
    /// Keys it would remove.
    pub delete: usize,
    /// Keys already right.
    pub unchanged: usize,
    /// Keys it would skip (refused by the destination's rules).
    pub skip: usize,
    /// Keys it would keep though gone from the source (deletion disabled).
    pub retained: usize,
}

/// `{"plan": {...}}`: what a sync would change if it ran now.
///
/// ```
/// let p: kms_sync_api::SyncPlan = serde_json::from_str(r#"{"syncId": "s", "source": "kms dev:/",
///     "destination": "memory", "summary": {"create": 0, "update": 0, "delete": 0, "unchanged": 0,
///     "skip": 0, "retained": 0}, "changes": []}"#)?;
/// assert!(p.changes.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncPlan {
    /// The sync.
    pub sync_id: String,
    /// The source, described.
    pub source: String,
    /// The destination, described.
    pub destination: String,
    /// The counts.
    pub summary: PlanSummary,
    /// Every change, by key.
    pub changes: Vec<PlannedChange>,
}

/// `{"plan": {...}}`.
///
/// ```
/// # fn f(e: kms_sync_api::SyncPlanEnvelope) { println!("{}", e.plan.changes.len()); }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncPlanEnvelope {
    /// The plan.
    pub plan: SyncPlan,
}
