//! A notice: a sync's operation started failing, or recovered.

use kms_sync_core::Operation;
use serde_json::{json, Value};

use crate::{JobId, SyncId};

/// Whether a failure episode opened or closed.
///
/// ```
/// assert_eq!(kms_sync_fleet::NoticeKind::Failed.as_str(), "secret-sync-failed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The operation failed after succeeding (or on its first run).
    Failed,
    /// The operation succeeded after failing.
    Recovered,
}

impl NoticeKind {
    /// The notice's event name: `secret-sync-failed` or `secret-sync-recovered`.
    ///
    /// ```
    /// assert_eq!(kms_sync_fleet::NoticeKind::Recovered.as_str(), "secret-sync-recovered");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Failed => "secret-sync-failed",
            NoticeKind::Recovered => "secret-sync-recovered",
        }
    }
}

/// One notice: which sync, where, what happened and why (the run's message, which never
/// carries a secret value or a credential).
///
/// ```
/// # fn f(n: kms_sync_fleet::Notice) { println!("{}", n.text()); }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Failed or recovered.
    pub kind: NoticeKind,
    /// The sync.
    pub sync_id: SyncId,
    /// Its name.
    pub sync_name: String,
    /// Its project.
    pub project_id: Option<String>,
    /// Its destination kind.
    pub destination: String,
    /// Sync, remove or import.
    pub operation: Operation,
    /// The run's job.
    pub job_id: JobId,
    /// Why it failed, for a failure.
    pub message: Option<String>,
}

impl Notice {
    /// One line for people (the `text` of the webhook's body).
    ///
    /// ```
    /// # fn f(n: kms_sync_fleet::Notice) { assert!(n.text().contains(&n.sync_name)); }
    /// ```
    pub fn text(&self) -> String {
        match self.kind {
            NoticeKind::Failed => format!(
                "Secret sync `{}` ({}) failed to {}: {}",
                self.sync_name,
                self.destination,
                self.operation,
                self.message.as_deref().unwrap_or("no message")
            ),
            NoticeKind::Recovered => format!(
                "Secret sync `{}` ({}) recovered: {} succeeded",
                self.sync_name, self.destination, self.operation
            ),
        }
    }

    /// The JSON the webhook posts: `text` (Slack-compatible) and the fields.
    ///
    /// ```
    /// # fn f(n: kms_sync_fleet::Notice) { assert!(n.to_json()["text"].is_string()); }
    /// ```
    pub fn to_json(&self) -> Value {
        json!({
            "text": self.text(),
            "event": self.kind.as_str(),
            "syncId": self.sync_id.to_string(),
            "syncName": self.sync_name,
            "projectId": self.project_id,
            "destination": self.destination,
            "operation": self.operation.to_string(),
            "jobId": self.job_id.to_string(),
            "message": self.message,
        })
    }
}
