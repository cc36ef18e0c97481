//! `/api/v1/secret-syncs/{destination}…`: the KMS's Secret Syncs routes.

use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Extension;
use axum::Json;
use kms_sync_core::{Operation, RunStatus};
use kms_sync_fleet::{
    AuditEventKind, JobId, SyncId, SyncPatch, SyncRecord, TriggerCause, Triggered,
};
use serde_json::{Map, Value};

use super::access::{self, may_read_sync, presented_syncs, require_place, usable_connection};
use super::doc::{
    BodyRefused, Checked, DestinationPath, NoSuchConnection, ProjectQuery, SyncPath, SyncRefused,
};
use super::extract::{Kind, KindAndId, Params, RawJson};
use super::ApiState;
use crate::audit;
use crate::auth::Caller;
use crate::authz::Action;
use crate::body::{
    check_environment, check_secret_path, check_sync_name, path, required_query, shown,
    string_field,
};
use crate::checks::folder_exists;
use crate::error::{ApiError, ErrorResponse};
use crate::issues::typed;
use crate::model::{
    CheckDestinationRequest, CheckDestinationResponse, CreateSecretSyncRequest, SecretSyncEnvelope,
    SecretSyncList, UpdateSecretSyncRequest,
};
use crate::nested;
use crate::overlap::CheckBody;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The sync `id`, which the caller must be able to read (else 404, as for a missing id),
/// must be one of `kind` (else 400, as the KMS answers), and on which the caller must be
/// allowed `action` (else 403).
pub(crate) async fn sync_of(
    state: &ApiState,
    caller: &Caller,
    kind: &str,
    id: SyncId,
    action: Action,
) -> Result<SyncRecord, ApiError> {
    let record = access::readable_sync(state, &caller.principal, id).await?;
    if record.destination != kind {
        return Err(ApiError::bad_request(format!(
            "Secret sync with ID \"{id}\" is not configured for {}",
            state.display_name(kind)
        )));
    }
    access::require_sync(&caller.principal, &record, action)?;
    Ok(record)
}

/// A required string field of a create body (400 naming it when absent).
fn required<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match string_field(body, field)? {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ApiError::invalid(&[field], "Required")),
    }
}

fn envelope(state: &ApiState, record: &SyncRecord) -> ApiResult<SecretSyncEnvelope> {
    Ok(Json(SecretSyncEnvelope {
        secret_sync: state.present.sync(record)?,
    }))
}

/// The checks the KMS makes on a create or update body beyond what kms-sync's parser
/// checks: names, environment slugs, secret paths, and `initialSyncBehavior`, which these
/// destinations (no import) take only as `overwrite-destination`.
fn check_fields(state: &ApiState, kind: &str, body: &Map<String, Value>) -> Result<(), ApiError> {
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
            return Err(ApiError::invalid(
                &["destination"],
                format!("Expected `{kind}`, the destination the URL names"),
            ));
        }
    }
    let behavior = body
        .get("syncOptions")
        .and_then(|o| o.get("initialSyncBehavior"))
        .and_then(Value::as_str);
    if let Some(behavior) = behavior {
        if behavior != "overwrite-destination" && !state.facts(kind).can_import_secrets() {
            return Err(ApiError::invalid(
                &["syncOptions", "initialSyncBehavior"],
                format!(
                    "{} does not support importing secrets; use `overwrite-destination`",
                    state.display_name(kind)
                ),
            ));
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
        DestinationPath,
        ProjectQuery,
    ),
    responses(
        (status = 200, description = "The project's syncs of this destination, oldest first", body = SecretSyncList),
        (status = 400, description = "No projectId", body = ErrorResponse),
        Checked,
    ),
)]
pub(crate) async fn list_syncs(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(kind): Kind,
    Params(q): Params,
) -> ApiResult<SecretSyncList> {
    let project = required_query(&q, "projectId", "Project ID required")?;
    let records = state.registry.syncs().list(kind, Some(&project)).await?;
    let secret_syncs = presented_syncs(&state, &caller.principal, &records)?;
    let event = audit::syncs_listed(&caller, &project, &secret_syncs);
    audit::record(&state, event.destination(kind)).await;
    Ok(Json(SecretSyncList { secret_syncs }))
}

/// Create a sync from the KMS's create-sync body. Created enabled with auto-sync on, it is
/// queued at once (`syncStatus: pending`).
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}",
    tag = "Secret Syncs",
    operation_id = "createSecretSync",
    params(DestinationPath),
    request_body(content = CreateSecretSyncRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        BodyRefused,
        NoSuchConnection,
    ),
)]
pub(crate) async fn create_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(kind): Kind,
    body: RawJson,
) -> ApiResult<SecretSyncEnvelope> {
    let body = body.object("sync definition")?;
    let _: CreateSecretSyncRequest = typed(&body.text)?;
    let Some(project) = string_field(&body.object, "projectId")?.filter(|p| !p.trim().is_empty())
    else {
        return Err(ApiError::invalid(&["projectId"], "Project ID required"));
    };
    check_fields(&state, kind, &body.object)?;
    nested::check_config(state.registry.destinations().factory(kind)?, &body.object)?;
    let environment = required(&body.object, "environment")?;
    let secret_path = required(&body.object, "secretPath")?;
    let who = &caller.principal;
    require_place(who, Some(project), Action::Create, environment, secret_path)?;
    let connection = required(&body.object, "connectionId")?;
    usable_connection(&state, who, Some(project), connection).await?;
    folder_exists(&state, Some(project), environment, secret_path).await?;
    let record = state.registry.syncs().create(kind, &body.text).await?;
    let event = audit::about_sync(&caller, AuditEventKind::CreateSecretSync, &record)
        .meta("name", record.name.as_str())
        .meta("connectionId", record.connection.id.to_string());
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// Get a sync by id.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}/{syncId}",
    tag = "Secret Syncs",
    operation_id = "getSecretSync",
    params(
        SyncPath,
    ),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a sync of another destination", body = ErrorResponse),
        SyncRefused,
    ),
)]
pub(crate) async fn get_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
) -> ApiResult<SecretSyncEnvelope> {
    let record = sync_of(&state, &caller, kind, id, Action::Read).await?;
    let event = audit::about_sync(&caller, AuditEventKind::GetSecretSync, &record);
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// Get a sync by name and project.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}/sync-name/{syncName}",
    tag = "Secret Syncs",
    operation_id = "getSecretSyncByName",
    params(
        DestinationPath,
        ("syncName" = String, Path, description = "The sync's name (slug-friendly)"),
        ProjectQuery,
    ),
    responses(
        (status = 200, description = "The sync", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync name, or no projectId", body = ErrorResponse),
        SyncRefused,
    ),
)]
pub(crate) async fn get_sync_by_name(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    params: Result<Path<(String, String)>, PathRejection>,
    Params(q): Params,
) -> ApiResult<SecretSyncEnvelope> {
    let (destination, name) = path(params)?;
    let kind = state.kind(&destination)?;
    check_sync_name("syncName", &name)?;
    let project = required_query(&q, "projectId", "Project ID required")?;
    let missing = || {
        ApiError::not_found(format!(
            "Could not find {} Sync with name \"{name}\"",
            state.display_name(kind)
        ))
    };
    let record = match state
        .registry
        .syncs()
        .get_by_name(Some(&project), &name)
        .await
    {
        Err(e) if e.kind() == kms_sync_core::ErrorKind::NotFound => return Err(missing()),
        other => other?,
    };
    if record.destination != kind || !may_read_sync(&caller.principal, &record) {
        return Err(missing());
    }
    let event = audit::about_sync(&caller, AuditEventKind::GetSecretSync, &record);
    audit::record(&state, event).await;
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
        SyncPath,
    ),
    request_body(content = UpdateSecretSyncRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The sync as updated", body = SecretSyncEnvelope),
        (status = 404, description = "No such sync or connection", body = ErrorResponse),
        BodyRefused,
    ),
)]
pub(crate) async fn update_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
    body: RawJson,
) -> ApiResult<SecretSyncEnvelope> {
    let body = body.object("sync update")?;
    let _: UpdateSecretSyncRequest = typed(&body.text)?;
    check_fields(&state, kind, &body.object)?;
    nested::check_config(state.registry.destinations().factory(kind)?, &body.object)?;
    let patch = SyncPatch::from_json(&body.text)?;
    let current = sync_of(&state, &caller, kind, id, Action::Edit).await?;
    check_move(&state, &caller, &current, &body.object).await?;
    let record = state.registry.syncs().update(id, patch).await?;
    let fields: Vec<&String> = body.object.keys().collect();
    let event = audit::about_sync(&caller, AuditEventKind::UpdateSecretSync, &record)
        .meta("fields", serde_json::json!(fields));
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// An update that moves the sync (another environment or folder) needs `edit` and read
/// access to the secrets there too; another connection must be usable in the project.
async fn check_move(
    state: &ApiState,
    caller: &Caller,
    current: &SyncRecord,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let project = current.project_id.as_deref();
    let environment = string_field(body, "environment")?;
    let secret_path = string_field(body, "secretPath")?;
    if environment.is_some() || secret_path.is_some() {
        let environment = environment.unwrap_or(&current.environment);
        let secret_path = secret_path.unwrap_or(&current.secret_path);
        require_place(
            &caller.principal,
            project,
            Action::Edit,
            environment,
            secret_path,
        )?;
        folder_exists(state, project, environment, secret_path).await?;
    }
    if let Some(connection) = string_field(body, "connectionId")? {
        if connection.trim() != current.connection.id.to_string() {
            usable_connection(state, &caller.principal, project, connection.trim()).await?;
        }
    }
    Ok(())
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
        SyncPath,
        ("removeSecrets" = Option<String>, Query, description = "`true` or `false` (default)"),
    ),
    responses(
        (status = 200, description = "The deleted sync, or (removeSecrets=true) the sync with its remove queued", body = SecretSyncEnvelope),
        (status = 400, description = "Bad removeSecrets, or a disabled sync asked to remove", body = ErrorResponse),
        SyncRefused,
    ),
)]
pub(crate) async fn delete_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
    Params(q): Params,
) -> ApiResult<SecretSyncEnvelope> {
    let remove = match q.get("removeSecrets").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "removeSecrets: `{}` must be `true` or `false`",
                shown(other)
            )))
        }
    };
    let record = sync_of(&state, &caller, kind, id, Action::Delete).await?;
    let event = audit::about_sync(&caller, AuditEventKind::DeleteSecretSync, &record)
        .meta("removeSecrets", remove);
    if !remove {
        let record = state.registry.syncs().delete(id).await?;
        audit::record(&state, event).await;
        return envelope(&state, &record);
    }
    access::require_sync(&caller.principal, &record, Action::RemoveSecrets)?;
    let job = trigger(&state, id, Operation::Remove).await?;
    let record = queued(
        state.registry.syncs().get(id).await?,
        Operation::Remove,
        job,
    );
    follow_removal(state.clone(), id, job);
    audit::record(&state, event.meta("removeJobId", job.to_string())).await;
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
        Operation::Import => (&mut status.import_status, &mut status.last_import_job_id),
        _ => (&mut status.sync_status, &mut status.last_sync_job_id),
    };
    *state = Some(RunStatus::Pending);
    *id = Some(job.to_string());
    record
}

/// 400, as the KMS answers, while a run of `operation` of the sync is in progress (a
/// worker holds the sync's lock and has marked the run `running`).
fn refuse_while_running(record: &SyncRecord, operation: Operation) -> Result<(), ApiError> {
    let status = &record.status;
    let running = match operation {
        Operation::Remove => status.remove_status,
        Operation::Import => status.import_status,
        _ => status.sync_status,
    };
    if running == Some(RunStatus::Running) {
        return Err(ApiError::bad_request(format!(
            "A {operation} job is already in progress for Secret Sync with ID \"{}\"; try again \
             when it has finished",
            record.id
        )));
    }
    Ok(())
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

/// The KMS's event for a trigger of `operation`.
fn queued_event(operation: Operation) -> AuditEventKind {
    match operation {
        Operation::Remove => AuditEventKind::SecretSyncRemoveSecrets,
        Operation::Import => AuditEventKind::SecretSyncImportSecrets,
        _ => AuditEventKind::SecretSyncSyncSecrets,
    }
}

/// Queue a sync: the answer shows `syncStatus: pending` and `lastSyncJobId`.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/sync-secrets",
    tag = "Secret Syncs",
    operation_id = "syncSecretSync",
    params(
        SyncPath,
    ),
    responses(
        (status = 200, description = "The sync with its job queued", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a disabled sync", body = ErrorResponse),
        SyncRefused,
    ),
)]
pub(crate) async fn sync_secrets(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
) -> ApiResult<SecretSyncEnvelope> {
    run(&state, &caller, kind, id, Operation::Sync).await
}

/// Queue a removal of what the sync wrote: `removeStatus: pending`, `lastRemoveJobId`.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/remove-secrets",
    tag = "Secret Syncs",
    operation_id = "removeSecretSyncSecrets",
    params(
        SyncPath,
    ),
    responses(
        (status = 200, description = "The sync with its job queued", body = SecretSyncEnvelope),
        (status = 400, description = "Not a sync id, or a disabled sync", body = ErrorResponse),
        SyncRefused,
    ),
)]
pub(crate) async fn remove_secrets(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
) -> ApiResult<SecretSyncEnvelope> {
    run(&state, &caller, kind, id, Operation::Remove).await
}

/// Queues `operation` of sync `id` of `kind` (manual), as the caller asked.
async fn run(
    state: &ApiState,
    caller: &Caller,
    kind: &str,
    id: SyncId,
    operation: Operation,
) -> ApiResult<SecretSyncEnvelope> {
    let action = match operation {
        Operation::Remove => Action::RemoveSecrets,
        Operation::Import => Action::ImportSecrets,
        _ => Action::SyncSecrets,
    };
    let record = sync_of(state, caller, kind, id, action).await?;
    refuse_while_running(&record, operation)?;
    let job = trigger(state, id, operation).await?;
    let record = queued(state.registry.syncs().get(id).await?, operation, job);
    let event = audit::about_sync(caller, queued_event(operation), &record)
        .meta("jobId", job.to_string())
        .meta("phase", "queued");
    audit::record(state, event).await;
    envelope(state, &record)
}

/// Import from the destination: refused with the KMS's words ("… does not support importing
/// secrets.") for a kind whose factory declares no import; else queued.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/import-secrets",
    tag = "Secret Syncs",
    operation_id = "importSecretSyncSecrets",
    params(
        SyncPath,
        ("importBehavior" = String, Query, description = "`prioritize-source` or `prioritize-destination`"),
    ),
    responses(
        (status = 400, description = "The destination does not support importing secrets", body = ErrorResponse),
        Checked,
    ),
)]
pub(crate) async fn import_secrets(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
    Params(q): Params,
) -> Result<Json<SecretSyncEnvelope>, ApiError> {
    match q.get("importBehavior").map(String::as_str) {
        Some("prioritize-source" | "prioritize-destination") => {}
        _ => {
            return Err(ApiError::invalid(
                &["importBehavior"],
                "Expected 'prioritize-source' | 'prioritize-destination'",
            ))
        }
    }
    if state.facts(kind).can_import_secrets() {
        return run(&state, &caller, kind, id, Operation::Import).await;
    }
    sync_of(&state, &caller, kind, id, Action::ImportSecrets).await?;
    Err(ApiError::bad_request(format!(
        "{} does not support importing secrets.",
        state.display_name(kind)
    )))
}

/// Whether another sync already writes this destination config (the KMS's
/// `hasDuplicate`), and beyond the KMS whether its key schema overlaps this one's.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/check-destination",
    tag = "Secret Syncs",
    operation_id = "checkSecretSyncDestination",
    params(DestinationPath),
    request_body(content = CheckDestinationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The syncs already writing it", body = CheckDestinationResponse),
        BodyRefused,
    ),
)]
pub(crate) async fn check_destination(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(kind): Kind,
    body: RawJson,
) -> ApiResult<CheckDestinationResponse> {
    let body = body.object("check-destination body")?;
    let check = CheckBody::read(&body.text)?;
    let who = &caller.principal;
    if !who.may_sync_somewhere(Some(check.project_id()), Action::Read) {
        return Err(access::denied(
            Action::Read,
            crate::authz::Subject::SecretSyncs,
        ));
    }
    // Only the syncs the caller may read: another tenant's are never revealed.
    let mut all = Vec::new();
    if check.asks() {
        all = state.registry.syncs().list(kind, None).await?;
        all.retain(|s| may_read_sync(who, s));
    }
    Ok(Json(check.answer(
        state.registry.destinations().factory(kind)?,
        &all,
    )?))
}
