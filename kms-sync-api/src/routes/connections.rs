//! `/api/v1/app-connections/{app}…`: the KMS's App Connections routes. Credentials go into
//! the registry and never come out: answers carry only their public fields.

use axum::extract::State;
use axum::{Extension, Json};
use kms_sync_core::AppConnectionDefinition;
use kms_sync_fleet::{AuditEventKind, ConnectionId, ConnectionPatch, ConnectionRecord};
use serde_json::{Map, Value};

use super::access::{denied, presented_connections, readable_connection};
use super::doc::{
    AppPath, BodyRefused, Checked, ConnectionPath, ConnectionRefused, NoSuchConnection,
    OptionalProjectQuery,
};
use super::extract::{Kind, KindAndId, Params, RawJson};
use super::ApiState;
use crate::audit;
use crate::auth::Caller;
use crate::authz::{Action, Subject};
use crate::body::project_of;
use crate::checks::credentials_work;
use crate::error::{ApiError, ErrorResponse};
use crate::issues::typed;
use crate::model::{
    AppConnectionEnvelope, AppConnectionList, CreateAppConnectionRequest,
    UpdateAppConnectionRequest,
};
use crate::nested;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// The connection `id`, which the caller must be able to read (else 404, as for a
/// missing id), must be of `app` (else 400, as the KMS answers), and on which the caller
/// must be allowed `action` (else 403).
async fn connection_of(
    state: &ApiState,
    caller: &Caller,
    app: &str,
    id: ConnectionId,
    action: Action,
) -> Result<ConnectionRecord, ApiError> {
    let record = readable_connection(state, &caller.principal, id).await?;
    if record.app != app {
        return Err(ApiError::bad_request(format!(
            "App Connection with ID {id} is not for App \"{app}\""
        )));
    }
    if !caller
        .principal
        .may_connection(record.project_id.as_deref(), action)
    {
        return Err(denied(action, Subject::AppConnections));
    }
    Ok(record)
}

/// An event of `kind` by the caller about connection `record`.
pub(crate) fn about_connection(
    caller: &Caller,
    kind: AuditEventKind,
    record: &ConnectionRecord,
) -> kms_sync_fleet::AuditEvent {
    audit::by(caller, kind)
        .maybe_project(record.project_id.as_deref())
        .connection(record.id.to_string())
        .destination(record.app.clone())
}

pub(crate) fn envelope(
    state: &ApiState,
    record: &ConnectionRecord,
) -> ApiResult<AppConnectionEnvelope> {
    Ok(Json(AppConnectionEnvelope {
        app_connection: state.present.connection(record)?,
    }))
}

/// The KMS's fields this API accepts only at their neutral value, removed from the body:
/// `isPlatformManagedCredentials` (false) and `gatewayId` (null).
fn strip_unsupported(object: &mut Map<String, Value>) -> Result<(), ApiError> {
    match object.remove("isPlatformManagedCredentials") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => {}
        Some(Value::Bool(true)) => {
            return Err(ApiError::bad_request(
                "isPlatformManagedCredentials: platform-managed credentials are not supported",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "isPlatformManagedCredentials: must be a boolean",
            ))
        }
    }
    match object.remove("gatewayId") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ApiError::bad_request(
            "gatewayId: gateways are not supported (kms-sync reaches services directly)",
        )),
    }
}

/// The connection an update makes, when it changes the credentials: its name, the
/// method (new or current) and the new credentials, to be checked against the service.
fn new_credentials(
    current: &ConnectionRecord,
    body: &Map<String, Value>,
) -> Result<Option<AppConnectionDefinition>, ApiError> {
    let Some(credentials) = body.get("credentials") else {
        return Ok(None);
    };
    let method = body
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or(&current.method);
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&current.name);
    let text =
        serde_json::json!({"name": name, "method": method, "credentials": credentials}).to_string();
    Ok(Some(AppConnectionDefinition::from_json(&text)?))
}

/// List the connections of an app, in a project if given.
#[utoipa::path(
    get,
    path = "/api/v1/app-connections/{app}",
    tag = "App Connections",
    operation_id = "listAppConnections",
    params(
        AppPath,
        OptionalProjectQuery,
    ),
    responses(
        (status = 200, description = "The connections, oldest first", body = AppConnectionList),
        Checked,
    ),
)]
pub(crate) async fn list_connections(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(app): Kind,
    Params(q): Params,
) -> ApiResult<AppConnectionList> {
    let project = project_of(&q);
    let records = state.registry.connections().list(app, project).await?;
    let app_connections = presented_connections(&state, &caller.principal, &records)?;
    let event = audit::connections_listed(&caller, project, &app_connections);
    audit::record(&state, event.destination(app)).await;
    Ok(Json(AppConnectionList { app_connections }))
}

/// Create a connection from the KMS's create-connection body. The credentials are checked
/// as the destination reads them and stored encrypted (or resolved by the embedder); the
/// answer shows only their public fields.
#[utoipa::path(
    post,
    path = "/api/v1/app-connections/{app}",
    tag = "App Connections",
    operation_id = "createAppConnection",
    params(AppPath),
    request_body(content = CreateAppConnectionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The connection, without its secret credentials", body = AppConnectionEnvelope),
        BodyRefused,
    ),
)]
pub(crate) async fn create_connection(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(app): Kind,
    body: RawJson,
) -> ApiResult<AppConnectionEnvelope> {
    let mut body = body.object("app connection")?;
    let _: CreateAppConnectionRequest = typed(&body.text)?;
    strip_unsupported(&mut body.object)?;
    nested::credentials_object(&body.object)?;
    let text = Value::Object(body.object).to_string();
    let definition = AppConnectionDefinition::from_json(&text)?;
    if !caller
        .principal
        .may_connection(definition.project_id(), Action::Create)
    {
        return Err(denied(Action::Create, Subject::AppConnections));
    }
    nested::check_connection(state.registry.destinations().factory(app)?, &definition)?;
    credentials_work(&state, app, &definition).await?;
    let record = state
        .registry
        .connections()
        .create(app, &definition)
        .await?;
    let event = about_connection(&caller, AuditEventKind::CreateAppConnection, &record)
        .meta("name", record.name.as_str())
        .meta("method", record.method.as_str());
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// Get a connection by id.
#[utoipa::path(
    get,
    path = "/api/v1/app-connections/{app}/{connectionId}",
    tag = "App Connections",
    operation_id = "getAppConnection",
    params(
        ConnectionPath,
    ),
    responses(
        (status = 200, description = "The connection", body = AppConnectionEnvelope),
        (status = 400, description = "Not a connection id, or one of another app", body = ErrorResponse),
        ConnectionRefused,
    ),
)]
pub(crate) async fn get_connection(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(app, id): KindAndId<ConnectionId>,
) -> ApiResult<AppConnectionEnvelope> {
    let record = connection_of(&state, &caller, app, id, Action::Read).await?;
    let event = about_connection(&caller, AuditEventKind::GetAppConnection, &record);
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// Update a connection: name, description, or credentials replaced whole (checked against
/// every sync that uses the connection; if one refuses them, nothing changes).
#[utoipa::path(
    patch,
    path = "/api/v1/app-connections/{app}/{connectionId}",
    tag = "App Connections",
    operation_id = "updateAppConnection",
    params(
        ConnectionPath,
    ),
    request_body(content = UpdateAppConnectionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The connection as updated", body = AppConnectionEnvelope),
        BodyRefused,
        NoSuchConnection,
    ),
)]
pub(crate) async fn update_connection(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(app, id): KindAndId<ConnectionId>,
    body: RawJson,
) -> ApiResult<AppConnectionEnvelope> {
    let mut body = body.object("app connection update")?;
    let _: UpdateAppConnectionRequest = typed(&body.text)?;
    strip_unsupported(&mut body.object)?;
    nested::credentials_object(&body.object)?;
    let body_object = body.object;
    let text = Value::Object(body_object.clone()).to_string();
    let patch = ConnectionPatch::from_json(&text)?;
    // 404 unless the connection exists and is of the app the URL names.
    let current = connection_of(&state, &caller, app, id, Action::Edit).await?;
    if let Some(definition) = new_credentials(&current, &body_object)? {
        nested::check_connection(state.registry.destinations().factory(app)?, &definition)?;
        credentials_work(&state, app, &definition).await?;
    }
    let record = state.registry.connections().update(id, patch).await?;
    let event = about_connection(&caller, AuditEventKind::UpdateAppConnection, &record).meta(
        "credentialsUpdated",
        body_object.contains_key("credentials"),
    );
    audit::record(&state, event).await;
    envelope(&state, &record)
}

/// Delete a connection; refused (400, as the KMS) while a sync uses it.
#[utoipa::path(
    delete,
    path = "/api/v1/app-connections/{app}/{connectionId}",
    tag = "App Connections",
    operation_id = "deleteAppConnection",
    params(
        ConnectionPath,
    ),
    responses(
        (status = 200, description = "The deleted connection", body = AppConnectionEnvelope),
        (status = 400, description = "A connection of another app, or one a sync uses", body = ErrorResponse),
        ConnectionRefused,
    ),
)]
pub(crate) async fn delete_connection(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(app, id): KindAndId<ConnectionId>,
) -> ApiResult<AppConnectionEnvelope> {
    connection_of(&state, &caller, app, id, Action::Delete).await?;
    let record = state.registry.connections().delete(id).await?;
    let event = about_connection(&caller, AuditEventKind::DeleteAppConnection, &record);
    audit::record(&state, event).await;
    envelope(&state, &record)
}
