//! The audit trail of the API: each call that reads or changes a sync or a connection is
//! recorded (the KMS's event names, the principal as actor) in the sink the API was given
//! — the registry's PostgreSQL table by default — and listed by `GET /api/v1/audit-events`.

use std::fmt;
use std::sync::Arc;

use kms_sync_fleet::{AuditEvent, AuditEventKind, AuditRecord, AuditSink, SyncRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::model::{AppConnection, SecretSync};
use crate::present::time;
use crate::routes::ApiState;

/// The sink the API records to (its `Debug` says nothing of the sink).
#[derive(Clone)]
pub(crate) struct Audit(pub Option<Arc<dyn AuditSink>>);

impl fmt::Debug for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Audit([sink])"
        } else {
            "Audit(off)"
        })
    }
}

/// An event of `kind` by the caller.
pub(crate) fn by(caller: &Caller, kind: AuditEventKind) -> AuditEvent {
    AuditEvent::new(kind, caller.principal.name())
}

/// An event of `kind` by the caller about `sync`.
pub(crate) fn about_sync(caller: &Caller, kind: AuditEventKind, sync: &SyncRecord) -> AuditEvent {
    by(caller, kind)
        .maybe_project(sync.project_id.as_deref())
        .sync(sync.id.to_string())
        .destination(sync.destination.clone())
}

/// An event of `kind` by the caller listing `items` in `project`: their ids under
/// `field`, and their count.
pub(crate) fn listing<T>(
    caller: &Caller,
    kind: AuditEventKind,
    project: Option<&str>,
    (field, items): (&str, &[T]),
    id: impl Fn(&T) -> String,
) -> AuditEvent {
    by(caller, kind)
        .maybe_project(project)
        .meta(field, ids(items, id))
        .meta("count", items.len())
}

/// The event of a list of syncs answered to the caller in `project`.
pub(crate) fn syncs_listed(caller: &Caller, project: &str, syncs: &[SecretSync]) -> AuditEvent {
    let listed = ("syncIds", syncs);
    listing(
        caller,
        AuditEventKind::GetSecretSyncs,
        Some(project),
        listed,
        |s| s.id.clone(),
    )
}

/// The event of a list of connections answered to the caller (in `project`, if given).
pub(crate) fn connections_listed(
    caller: &Caller,
    project: Option<&str>,
    connections: &[AppConnection],
) -> AuditEvent {
    let listed = ("connectionIds", connections);
    let kind = AuditEventKind::GetAppConnections;
    listing(caller, kind, project, listed, |c| c.id.clone())
}

/// Records `event`; a failure is logged, never answered (the call already happened).
pub(crate) async fn record(state: &ApiState, event: AuditEvent) {
    let Some(sink) = &state.audit.0 else {
        return;
    };
    let kind = event.kind.as_str();
    if let Err(e) = sink.record(event).await {
        tracing::warn!(event = kind, error = %e, "kms-sync api: recording an audit event");
    }
}

/// One recorded event, as `GET /api/v1/audit-events` answers it.
///
/// ```
/// let e: kms_sync_api::AuditLogEntry = serde_json::from_str(r#"{"id": 7, "createdAt": "2025-01-01T00:00:00.000Z",
///     "actor": "ci", "projectId": "p1", "syncId": null, "connectionId": null, "destination": null,
///     "event": {"type": "get-secret-syncs", "metadata": {"count": 2}}}"#)?;
/// assert_eq!(e.event.event_type, "get-secret-syncs");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogEntry {
    /// The event's id (newer events have larger ids).
    pub id: i64,
    /// When it was recorded.
    pub created_at: String,
    /// Who: the principal's name, or `fleet:<worker>` for a run.
    pub actor: String,
    /// The project.
    pub project_id: Option<String>,
    /// The sync, if any.
    pub sync_id: Option<String>,
    /// The connection, if any.
    pub connection_id: Option<String>,
    /// The destination kind or app, if any.
    pub destination: Option<String>,
    /// The KMS's event name and its value-free metadata.
    pub event: AuditLogEvent,
}

/// `event` of an [`AuditLogEntry`]: `{type, metadata}` as the KMS's audit logs.
///
/// ```
/// let e: kms_sync_api::AuditLogEvent = serde_json::from_str(r#"{"type": "delete-secret-sync", "metadata": {}}"#)?;
/// assert!(e.metadata.is_object());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditLogEvent {
    /// The KMS's event name (`create-secret-sync`, `secret-sync-sync-secrets`, …).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Ids, counts and, for runs, the keys created, updated and deleted.
    #[schema(value_type = Object)]
    pub metadata: Value,
}

/// `{"auditLogs": [...]}`, newest first.
///
/// ```
/// let l: kms_sync_api::AuditLogList = serde_json::from_str(r#"{"auditLogs": []}"#)?;
/// assert!(l.audit_logs.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLogList {
    /// The events.
    pub audit_logs: Vec<AuditLogEntry>,
}

impl From<AuditRecord> for AuditLogEntry {
    fn from(record: AuditRecord) -> AuditLogEntry {
        let event = record.event;
        AuditLogEntry {
            id: record.id,
            created_at: time(record.at),
            actor: event.actor,
            project_id: event.project_id,
            sync_id: event.sync_id,
            connection_id: event.connection_id,
            destination: event.destination,
            event: AuditLogEvent {
                event_type: event.kind.as_str().to_owned(),
                metadata: Value::Object(event.metadata),
            },
        }
    }
}

/// The ids of `items` as a metadata list.
pub(crate) fn ids<T>(items: &[T], id: impl Fn(&T) -> String) -> Value {
    Value::from(items.iter().map(id).collect::<Vec<_>>())
}
