//! `GET /api/v1/audit-events` (an extension of kms-sync): the audit trail of a project.

use std::collections::HashMap;

use axum::extract::State;
use axum::{Extension, Json};
use kms_sync_core::ErrorKind;
use kms_sync_fleet::{AuditEventKind, AuditQuery, AuditRecord};

use super::access::denied;
use super::doc::{Guarded, ProjectQuery};
use super::extract::Params;
use super::ApiState;
use crate::audit::{AuditLogEntry, AuditLogList};
use crate::auth::Caller;
use crate::authz::{Action, Subject};
use crate::body::required_query;
use crate::error::{ApiError, ErrorResponse};

/// The audit query of a request's parameters (422 naming a bad one).
fn audit_query(q: &HashMap<String, String>, project: &str) -> Result<AuditQuery, ApiError> {
    let mut query = AuditQuery::new().project(project);
    if let Some(sync) = q.get("syncId") {
        query = query.sync(sync.trim());
    }
    if let Some(event) = q.get("event") {
        if AuditEventKind::parse(event).is_none() {
            return Err(ApiError::invalid(
                &["event"],
                "Not an event name of the KMS",
            ));
        }
        query = query.event(event.as_str());
    }
    let number = |field: &str| -> Result<Option<i64>, ApiError> {
        q.get(field)
            .map(|v| v.parse::<i64>())
            .transpose()
            .map_err(|_| ApiError::invalid(&[field], "Expected number"))
    };
    if let Some(limit) = number("limit")? {
        query = query.limit(usize::try_from(limit.clamp(1, 1000)).unwrap_or(100));
    }
    if let Some(before) = number("before")? {
        query = query.before(before);
    }
    Ok(query)
}

/// The answer when the API records to no sink, or to one that cannot list.
fn cannot_list() -> ApiError {
    ApiError::not_found("this server's audit sink cannot list events")
}

/// The events of the sink the API records to (404 when it has none or cannot list).
async fn listed(state: &ApiState, query: &AuditQuery) -> Result<Vec<AuditRecord>, ApiError> {
    let Some(sink) = &state.audit.0 else {
        return Err(cannot_list());
    };
    match sink.list(query).await {
        Err(e) if e.kind() == ErrorKind::Unsupported => Err(cannot_list()),
        other => Ok(other?),
    }
}

/// The audit trail of a project, newest first: every API call on its syncs and
/// connections and every run of the fleet (with the keys each run created, updated and
/// deleted; never a value). An extension of kms-sync: the KMS lists audit logs elsewhere.
#[utoipa::path(
    get,
    path = "/api/v1/audit-events",
    tag = "Audit (kms-sync extension)",
    operation_id = "listAuditEvents",
    params(
        ProjectQuery,
        ("syncId" = Option<String>, Query, description = "Only events about this sync"),
        ("event" = Option<String>, Query, description = "Only events of this KMS event name"),
        ("limit" = Option<i64>, Query, description = "At most this many (1 to 1000; default 100)"),
        ("before" = Option<i64>, Query, description = "Only events older than this id (paging)"),
    ),
    responses(
        (status = 200, description = "The events, newest first", body = AuditLogList),
        (status = 403, description = "The caller may not read the project's syncs", body = ErrorResponse),
        (status = 404, description = "This server's audit sink cannot list events", body = ErrorResponse),
        (status = 422, description = "No projectId, or a bad parameter", body = crate::error::ValidationFailure),
        Guarded,
    ),
)]
pub(crate) async fn list_audit_events(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params,
) -> Result<Json<AuditLogList>, ApiError> {
    let project = required_query(&q, "projectId", "Project ID required")?;
    let audit = audit_query(&q, &project)?;
    if !caller
        .principal
        .may_sync_somewhere(Some(&project), Action::Read)
    {
        return Err(denied(Action::Read, Subject::SecretSyncs));
    }
    let records = listed(&state, &audit).await?;
    Ok(Json(AuditLogList {
        audit_logs: records.into_iter().map(AuditLogEntry::from).collect(),
    }))
}
