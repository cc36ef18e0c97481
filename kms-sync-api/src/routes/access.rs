//! The permission checks the routes share: a resource the caller may not read is answered
//! exactly as a missing one (404, same message), an action it may not take on one it can
//! see is 403.

use kms_sync_core::ErrorKind;
use kms_sync_fleet::{ConnectionId, ConnectionRecord, SyncId, SyncRecord};

use super::ApiState;
use crate::authz::{Action, Principal, Subject};
use crate::error::ApiError;
use crate::model::{AppConnection, SecretSync};

/// 403, the KMS's `PermissionDenied`.
pub(crate) fn denied(action: Action, subject: Subject) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "PermissionDenied",
        format!("You are not allowed to {action} on {subject} here"),
    )
}

/// The answer for a sync that does not exist — and for one the caller may not read.
pub(crate) fn sync_missing(id: SyncId) -> ApiError {
    ApiError::not_found(format!("sync {id} not found"))
}

/// The answer for a connection that does not exist — and for one the caller may not read
/// or not use.
pub(crate) fn connection_missing(id: ConnectionId) -> ApiError {
    ApiError::not_found(format!("app connection {id} not found"))
}

/// Sync `id` if it exists and `who` may read it; else 404 as for a missing id.
pub(crate) async fn readable_sync(
    state: &ApiState,
    who: &Principal,
    id: SyncId,
) -> Result<SyncRecord, ApiError> {
    let found = state.registry.syncs().get(id).await;
    readable(found, |r| may_read_sync(who, r), || sync_missing(id))
}

/// `found` (a registry read) if the record exists and `may` read it; else `missing` — the
/// same answer for both, so a caller learns nothing of what it may not read.
fn readable<T>(
    found: kms_sync_core::Result<T>,
    may: impl FnOnce(&T) -> bool,
    missing: impl Fn() -> ApiError,
) -> Result<T, ApiError> {
    let record = match found {
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(missing()),
        other => other?,
    };
    if !may(&record) {
        return Err(missing());
    }
    Ok(record)
}

/// Whether `who` may read `record`.
pub(crate) fn may_read_sync(who: &Principal, record: &SyncRecord) -> bool {
    who.may_sync(
        record.project_id.as_deref(),
        Action::Read,
        &record.environment,
        &record.secret_path,
    )
}

/// 403 unless `who` may take `action` on `record`.
pub(crate) fn require_sync(
    who: &Principal,
    record: &SyncRecord,
    action: Action,
) -> Result<(), ApiError> {
    let project = record.project_id.as_deref();
    if who.may_sync(project, action, &record.environment, &record.secret_path) {
        return Ok(());
    }
    Err(denied(action, Subject::SecretSyncs))
}

/// 403 unless `who` may take `action` (create, edit) on a sync of `project` reading
/// `environment` at `secret_path`, and may read the secrets there.
pub(crate) fn require_place(
    who: &Principal,
    project: Option<&str>,
    action: Action,
    environment: &str,
    secret_path: &str,
) -> Result<(), ApiError> {
    if !who.may_sync(project, action, environment, secret_path) {
        return Err(denied(action, Subject::SecretSyncs));
    }
    if !who.may_read_source(project, environment, secret_path) {
        return Err(denied(Action::ReadValue, Subject::Secrets));
    }
    Ok(())
}

/// Connection `id` if it exists and `who` may read it; else 404 as for a missing id.
pub(crate) async fn readable_connection(
    state: &ApiState,
    who: &Principal,
    id: ConnectionId,
) -> Result<ConnectionRecord, ApiError> {
    let may = |r: &ConnectionRecord| who.may_connection(r.project_id.as_deref(), Action::Read);
    let found = state.registry.connections().get(id).await;
    readable(found, may, || connection_missing(id))
}

/// Checks that a sync of `project` may use connection `text`: it exists, `who` may read
/// it, else 404 as for a missing id; it is of the same project (or of the organization),
/// else 400 naming it; and `who` may `connect` it, else 403. A text that is not an id is left to the registry
/// (it answers 400 naming the field).
pub(crate) async fn usable_connection(
    state: &ApiState,
    who: &Principal,
    project: Option<&str>,
    text: &str,
) -> Result<(), ApiError> {
    let Ok(id) = ConnectionId::parse(text) else {
        return Ok(());
    };
    let record = readable_connection(state, who, id).await?;
    let theirs = record.project_id.as_deref();
    if theirs.is_some() && theirs != project {
        return Err(ApiError::bad_request(format!(
            "App Connection with ID {id} belongs to another project: a project's connection is \
             usable only by syncs of that project"
        )));
    }
    if !who.may_connection(theirs, Action::Connect) {
        return Err(denied(Action::Connect, Subject::AppConnections));
    }
    Ok(())
}

/// The syncs of `records` that `who` may read, as the KMS answers them.
pub(crate) fn presented_syncs(
    state: &ApiState,
    who: &Principal,
    records: &[SyncRecord],
) -> Result<Vec<SecretSync>, ApiError> {
    let readable = records.iter().filter(|r| may_read_sync(who, r));
    readable.map(|r| state.present.sync(r)).collect()
}

/// The connections of `records` that `who` may read, as the KMS answers them.
pub(crate) fn presented_connections(
    state: &ApiState,
    who: &Principal,
    records: &[ConnectionRecord],
) -> Result<Vec<AppConnection>, ApiError> {
    let readable = records
        .iter()
        .filter(|r| who.may_connection(r.project_id.as_deref(), Action::Read));
    readable.map(|r| state.present.connection(r)).collect()
}
