//! `/api/v1/secret-syncs/{destination}…`: the KMS's Secret Syncs routes.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use kms_sync_core::{Operation, RunStatus};
use kms_sync_postgres::{JobId, SyncId, SyncPatch, SyncRecord, TriggerCause, Triggered};
use serde_json::{Map, Value};

use super::{display_name, kind_and_id, ApiState};
use crate::body::{
    check_environment, check_secret_path, check_sync_name, json_object, path, query,
    required_query, shown, string_field,
};
use crate::error::{ApiError, ErrorResponse};
use crate::model::{
    CheckDestinationRequest, CheckDestinationResponse, CreateSecretSyncRequest, DestinationOverlap,
    SecretSyncEnvelope, SecretSyncList, UpdateSecretSyncRequest,
};
use crate::overlap::{overlap, same_destination, Schema};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The sync id of the URL, or 400 naming `syncId`.
fn sync_id(text: &str) -> Result<SyncId, ApiError> {
    SyncId::parse(text).map_err(|e| ApiError::bad_request(format!("syncId: {}", e.message())))
}

/// The sync `id`, which must be one of `kind` (else 400, as the KMS answers).
async fn sync_of(state: &ApiState, kind: &str, id: SyncId) -> Result<SyncRecord, ApiError> {
    let record = state.registry.syncs().get(id).await?;
    if record.destination != kind {
        return Err(ApiError::bad_request(format!(
            "Secret sync with ID \"{id}\" is not configured for {}",
            display_name(kind)
        )));
    }
    Ok(record)
}

fn envelope(state: &ApiState, record: &SyncRecord) -> ApiResult<SecretSyncEnvelope> {
    Ok(Json(SecretSyncEnvelope {
        secret_sync: state.present.sync(record)?,
    }))
}

/// The checks the KMS makes on a create or update body beyond what kms-sync's parser
/// checks: names, environment slugs, secret paths, and `initialSyncBehavior`, which these
/// destinations (no import) take only as `overwrite-destination`.
fn check_fields(kind: &str, body: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(name) = string_field(body, "name")? {
        check_sync_name("name", name)?;
    }
    if let Some(environment) = string_field(body, "environment")? {
        check_environment(environment)?;
    }
    if let Some(path) = string_field(body, "secretPath")? {
        check_secret_path(path)?;
    }
    if let Some(destination) = string_field(body, "destination")? {
        if destination != kind {
            return Err(ApiError::bad_request(format!(
                "destination: the URL names `{kind}`, the body `{}`",
                shown(destination)
            )));
        }
    }
    let behavior = body
        .get("syncOptions")
        .and_then(|o| o.get("initialSyncBehavior"))
        .and_then(Value::as_str);
    if let Some(behavior) = behavior {
        if behavior != "overwrite-destination" && crate::IMPORTLESS.contains(&kind) {
            return Err(ApiError::bad_request(format!(
                "syncOptions.initialSyncBehavior: {} does not support importing secrets; use \
                 `overwrite-destination`",
                display_name(kind)
            )));
        }
    }
    Ok(())
}

/// List the syncs of a destination in a project.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}",
    tag = "Secret Syncs",
    operation_id = "listSecretSyncs",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("projectId" = String, Query, description = "The KMS project"),
    ),
    responses(
        (status = 200, description = "The project's syncs of this destination, oldest first", body = SecretSyncList),
        (status = 400, description = "No projectId", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn list_syncs(
    State(state): State<ApiState>,
    params: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<SecretSyncList> {
    let kind = state.kind(&path(params)?)?;
    let project = required_query(&query(q)?, "projectId", "Project ID required")?;
    let records = state.registry.syncs().list(kind, Some(&project)).await?;
    let secret_syncs = records
        .iter()
        .map(|r| state.present.sync(r))
        .collect::<Result<_, _>>()?;
    Ok(Json(SecretSyncList { secret_syncs }))
}

/// Create a sync from the KMS's create-sync body. Created enabled with auto-sync on, it is
/// queued at once (`syncStatus: pending`).
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}",
    tag = "Secret Syncs",
    operation_id = "createSecretSync",
    params(("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`")),
    request_body(content = CreateSecretSyncRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        (status = 400, description = "The body is refused, naming the field", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such connection", body = ErrorResponse),
        (status = 409, description = "The project has a sync of that name", body = ErrorResponse),
        (status = 413, description = "The body is too large", body = ErrorResponse),
        (status = 415, description = "The body is not JSON", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn create_sync(
    State(state): State<ApiState>,
    params: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    let kind = state.kind(&path(params)?)?;
    let body = json_object(&headers, body, "sync definition")?;
    if string_field(&body.object, "projectId")?.is_none_or(|p| p.trim().is_empty()) {
        return Err(ApiError::bad_request("projectId: Project ID required"));
    }
    check_fields(kind, &body.object)?;
    let record = state.registry.syncs().create(kind, &body.text).await?;
    envelope(&state, &record)
}

/// Get a sync by id.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}/{syncId}",
    tag = "Secret Syncs",
    operation_id = "getSecretSync",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
    ),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a sync of another destination", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn get_sync(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    let (kind, id) = kind_and_id(&state, params, sync_id)?;
    let record = sync_of(&state, kind, id).await?;
    envelope(&state, &record)
}

/// Get a sync by name and project.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}/sync-name/{syncName}",
    tag = "Secret Syncs",
    operation_id = "getSecretSyncByName",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncName" = String, Path, description = "The sync's name (slug-friendly)"),
        ("projectId" = String, Query, description = "The KMS project"),
    ),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync name, or no projectId", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn get_sync_by_name(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    let (destination, name) = path(params)?;
    let kind = state.kind(&destination)?;
    check_sync_name("syncName", &name)?;
    let project = required_query(&query(q)?, "projectId", "Project ID required")?;
    let record = state
        .registry
        .syncs()
        .get_by_name(Some(&project), &name)
        .await?;
    if record.destination != kind {
        return Err(ApiError::not_found(format!(
            "Could not find {} Sync with name \"{name}\"",
            display_name(kind)
        )));
    }
    envelope(&state, &record)
}

/// Update a sync: name, description, source, connection, `destinationConfig` and
/// `syncOptions` (each replaced whole), `isEnabled`, `isAutoSyncEnabled`. `version` grows.
#[utoipa::path(
    patch,
    path = "/api/v1/secret-syncs/{destination}/{syncId}",
    tag = "Secret Syncs",
    operation_id = "updateSecretSync",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
    ),
    request_body(content = UpdateSecretSyncRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The sync as updated", body = SecretSyncEnvelope),
        (status = 400, description = "The body is refused, naming the field", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync or connection", body = ErrorResponse),
        (status = 409, description = "The project has a sync of the new name", body = ErrorResponse),
        (status = 413, description = "The body is too large", body = ErrorResponse),
        (status = 415, description = "The body is not JSON", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn update_sync(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    let (kind, id) = kind_and_id(&state, params, sync_id)?;
    let body = json_object(&headers, body, "sync update")?;
    check_fields(kind, &body.object)?;
    let patch = SyncPatch::from_json(&body.text)?;
    sync_of(&state, kind, id).await?;
    let record = state.registry.syncs().update(id, patch).await?;
    envelope(&state, &record)
}

/// Delete a sync. With `removeSecrets=true` the secrets it synced are removed first: the
/// remove is queued (`removeStatus: pending`, `lastRemoveJobId`) and the sync is deleted
/// when it succeeds, as the KMS does.
#[utoipa::path(
    delete,
    path = "/api/v1/secret-syncs/{destination}/{syncId}",
    tag = "Secret Syncs",
    operation_id = "deleteSecretSync",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
        ("removeSecrets" = Option<String>, Query, description = "`true` or `false` (default)"),
    ),
    responses(
        (status = 200, description = "The deleted sync, or (removeSecrets=true) the sync with its remove queued", body = SecretSyncEnvelope),
        (status = 400, description = "Bad removeSecrets, or a disabled sync asked to remove", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn delete_sync(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    let (kind, id) = kind_and_id(&state, params, sync_id)?;
    let remove = match query(q)?.get("removeSecrets").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "removeSecrets: `{}` must be `true` or `false`",
                shown(other)
            )))
        }
    };
    sync_of(&state, kind, id).await?;
    if !remove {
        let record = state.registry.syncs().delete(id).await?;
        return envelope(&state, &record);
    }
    let job = trigger(&state, id, Operation::Remove).await?;
    let record = queued(
        state.registry.syncs().get(id).await?,
        Operation::Remove,
        job,
    );
    follow_removal(state.clone(), id, job);
    envelope(&state, &record)
}

/// Deletes sync `id` once its remove job `job` has succeeded (in this process: see the
/// crate's documentation).
fn follow_removal(state: ApiState, id: SyncId, job: JobId) {
    tokio::spawn(async move {
        let started = Instant::now();
        let job = job.to_string();
        while started.elapsed() < state.removal_wait {
            tokio::time::sleep(state.removal_poll).await;
            let record = match state.registry.syncs().get(id).await {
                Ok(record) => record,
                Err(e) if e.kind() == kms_sync_core::ErrorKind::NotFound => return,
                Err(e) => {
                    tracing::warn!(sync = %id, error = %e, "kms-sync api: following a removal");
                    continue;
                }
            };
            let status = &record.status;
            let ours = status.last_remove_job_id.as_deref() == Some(job.as_str());
            match status.remove_status {
                Some(RunStatus::Succeeded) if ours => {
                    if let Err(e) = state.registry.syncs().delete(id).await {
                        tracing::warn!(sync = %id, error = %e, "kms-sync api: deleting after removal");
                    }
                    return;
                }
                Some(RunStatus::Failed) if ours => {
                    tracing::warn!(sync = %id, job = %job, "kms-sync api: the removal failed; the sync is kept");
                    return;
                }
                Some(RunStatus::Succeeded | RunStatus::Failed) if !ours => return,
                _ => {}
            }
        }
        tracing::warn!(sync = %id, job = %job, "kms-sync api: the removal did not finish in time; the sync is kept");
    });
}

/// The sync as queued, as the KMS answers a trigger: its status `pending` with the job's
/// id, even when a worker has already picked the job up (`GET` shows where it is now).
fn queued(mut record: SyncRecord, operation: Operation, job: JobId) -> SyncRecord {
    let status = &mut record.status;
    let (state, id) = match operation {
        Operation::Remove => (&mut status.remove_status, &mut status.last_remove_job_id),
        _ => (&mut status.sync_status, &mut status.last_sync_job_id),
    };
    *state = Some(RunStatus::Pending);
    *id = Some(job.to_string());
    record
}

/// Queues `operation` of sync `id` (manual): the job's id, or 400 for a disabled sync.
async fn trigger(state: &ApiState, id: SyncId, operation: Operation) -> Result<JobId, ApiError> {
    match state
        .registry
        .jobs()
        .trigger(id, operation, TriggerCause::Manual)
        .await?
    {
        Triggered::Queued(job) | Triggered::Coalesced(job) => Ok(job),
        Triggered::Skipped(why) => Err(ApiError::bad_request(format!(
            "sync {id} was not queued: {why}; enable it (PATCH isEnabled: true) first"
        ))),
        _ => Err(ApiError::bad_request(format!("sync {id} was not queued"))),
    }
}

/// Queue a sync: the answer shows `syncStatus: pending` and `lastSyncJobId`.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/sync-secrets",
    tag = "Secret Syncs",
    operation_id = "syncSecretSync",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
    ),
    responses(
        (status = 200, description = "The sync with its job queued", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a disabled sync", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn sync_secrets(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    run(state, params, Operation::Sync).await
}

/// Queue a removal of what the sync wrote: `removeStatus: pending`, `lastRemoveJobId`.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/remove-secrets",
    tag = "Secret Syncs",
    operation_id = "removeSecretSyncSecrets",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
    ),
    responses(
        (status = 200, description = "The sync with its job queued", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a disabled sync", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
        (status = 404, description = "No such sync", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn remove_secrets(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<SecretSyncEnvelope> {
    run(state, params, Operation::Remove).await
}

async fn run(
    state: ApiState,
    params: Result<Path<(String, String)>, PathRejection>,
    operation: Operation,
) -> ApiResult<SecretSyncEnvelope> {
    let (kind, id) = kind_and_id(&state, params, sync_id)?;
    sync_of(&state, kind, id).await?;
    let job = trigger(&state, id, operation).await?;
    let record = queued(state.registry.syncs().get(id).await?, operation, job);
    envelope(&state, &record)
}

/// Import from the destination: refused, as the KMS documents for Bitbucket, Checkly and
/// Octopus Deploy ("… does not support importing secrets.").
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/import-secrets",
    tag = "Secret Syncs",
    operation_id = "importSecretSyncSecrets",
    params(
        ("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`"),
        ("syncId" = String, Path, description = "The sync's id"),
        ("importBehavior" = String, Query, description = "`prioritize-source` or `prioritize-destination`"),
    ),
    responses(
        (status = 400, description = "The destination does not support importing secrets", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn import_secrets(
    State(state): State<ApiState>,
    params: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<SecretSyncEnvelope>, ApiError> {
    let (kind, _) = kind_and_id(&state, params, sync_id)?;
    match query(q)?.get("importBehavior").map(String::as_str) {
        Some("prioritize-source" | "prioritize-destination") => {}
        _ => {
            return Err(ApiError::bad_request(
                "importBehavior: must be `prioritize-source` or `prioritize-destination`",
            ))
        }
    }
    Err(ApiError::bad_request(format!(
        "{} does not support importing secrets.",
        display_name(kind)
    )))
}

/// Whether another sync already writes this destination config (the KMS's
/// `hasDuplicate`), and beyond the KMS whether its key schema overlaps this one's.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/check-destination",
    tag = "Secret Syncs",
    operation_id = "checkSecretSyncDestination",
    params(("destination" = String, Path, description = "`bitbucket`, `checkly` or `octopus-deploy`")),
    request_body(content = CheckDestinationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The syncs already writing it", body = CheckDestinationResponse),
        (status = 400, description = "The body is refused, naming the field", body = ErrorResponse),
        (status = 401, description = "No valid token", body = ErrorResponse),
    ),
    security(("bearerAuth" = []))
)]
pub(crate) async fn check_destination(
    State(state): State<ApiState>,
    params: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<CheckDestinationResponse> {
    let kind = state.kind(&path(params)?)?;
    let body = json_object(&headers, body, "check-destination body")?;
    let request: CheckDestinationRequest =
        kms_sync_core::parse_json(&body.text, "check-destination body")?;
    uuid_field("projectId", &request.project_id)?;
    if let Some(id) = &request.connection_id {
        uuid_field("connectionId", id)?;
    }
    let exclude = match &request.exclude_sync_id {
        Some(id) => Some(
            SyncId::parse(id)
                .map_err(|e| ApiError::bad_request(format!("excludeSyncId: {}", e.message())))?,
        ),
        None => None,
    };
    let config = match &request.destination_config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "destinationConfig: must be an object",
            ))
        }
    };
    if let Some(env) = &request.environment {
        check_environment(env)?;
    }
    let mut response = CheckDestinationResponse {
        has_duplicate: false,
        duplicate_project_id: None,
        key_schema_overlap: false,
        duplicates: Vec::new(),
    };
    if config.is_empty() {
        return Ok(Json(response));
    }
    let all = state.registry.syncs().list(kind, None).await?;
    let excluded = exclude.and_then(|id| all.iter().find(|s| s.id == id));
    let template = request
        .key_schema
        .clone()
        .or_else(|| excluded.and_then(key_schema_of));
    let environment = request
        .environment
        .clone()
        .or_else(|| excluded.map(|s| s.environment.clone()));
    for other in all.iter().filter(|s| Some(s.id) != exclude) {
        let Ok(Value::Object(theirs)) = serde_json::from_str::<Value>(&other.destination_config)
        else {
            continue;
        };
        if !same_destination(kind, &config, &theirs) {
            continue;
        }
        let their_schema = key_schema_of(other);
        let ours = Schema::new(
            template.as_deref(),
            environment.as_deref().unwrap_or(&other.environment),
        )
        .map_err(|e| ApiError::bad_request(format!("keySchema: {}", e.message())))?;
        let theirs = Schema::new(their_schema.as_deref(), &other.environment)?;
        let example_key = overlap(&ours, &theirs);
        response.key_schema_overlap |= example_key.is_some();
        response.duplicates.push(DestinationOverlap {
            sync_id: other.id.to_string(),
            name: other.name.clone(),
            project_id: other.project_id.clone(),
            key_schema: their_schema,
            key_schema_overlap: example_key.is_some(),
            example_key,
        });
    }
    response.has_duplicate = !response.duplicates.is_empty();
    response.duplicate_project_id = response
        .duplicates
        .first()
        .and_then(|d| d.project_id.clone());
    Ok(Json(response))
}

fn key_schema_of(sync: &SyncRecord) -> Option<String> {
    let options: Value = serde_json::from_str(&sync.sync_options).ok()?;
    options
        .get("keySchema")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn uuid_field(field: &str, text: &str) -> Result<(), ApiError> {
    uuid::Uuid::try_parse(text.trim())
        .map(|_| ())
        .map_err(|_| ApiError::bad_request(format!("{field}: `{}` is not a UUID", shown(text))))
}
