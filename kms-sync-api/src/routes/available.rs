//! `GET /api/v1/app-connections/{app}/available` and `…/connection-name/{name}`: the
//! connections a caller may use in a project, and one connection by its name.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use kms_sync_fleet::{AuditEventKind, ConnectionRecord};

use super::connections::{about_connection, envelope};
use super::doc::{AppPath, Guarded};
use super::extract::{Kind, Params};
use super::ApiState;
use crate::audit;
use crate::auth::Caller;
use crate::authz::{Action, Principal};
use crate::body::{path, project_of, shown};
use crate::catalog::{AvailableConnection, AvailableConnectionList};
use crate::error::{ApiError, ErrorResponse};
use crate::model::AppConnectionEnvelope;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Whether a sync of `project` may use `record`: it belongs to that project or to the
/// organization, and `who` may `connect` it.
fn usable_in(who: &Principal, record: &ConnectionRecord, project: Option<&str>) -> bool {
    let theirs = record.project_id.as_deref();
    (theirs.is_none() || theirs == project) && who.may_connection(theirs, Action::Connect)
}

/// List the connections of an app the caller may use for a sync in a project (the
/// project's own and the organization's).
#[utoipa::path(
    get,
    path = "/api/v1/app-connections/{app}/available",
    tag = "App Connections",
    operation_id = "listAvailableAppConnections",
    params(
        AppPath,
        ("projectId" = Option<String>, Query, description = "The KMS project (without it: the organization's connections)"),
    ),
    responses(
        (status = 200, description = "The connections the caller may connect, without credentials", body = AvailableConnectionList),
        (status = 404, description = "Not an app this API serves", body = ErrorResponse),
        Guarded,
    ),
)]
pub(crate) async fn available_connections(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Kind(app): Kind,
    Params(q): Params,
) -> ApiResult<AvailableConnectionList> {
    let project = project_of(&q);
    let records = state.registry.connections().list(app, None).await?;
    let app_connections = records
        .iter()
        .filter(|r| usable_in(&caller.principal, r, project))
        .map(|r| AvailableConnection {
            app: r.app.clone(),
            name: r.name.clone(),
            id: r.id.to_string(),
            project_id: r.project_id.clone(),
            org_id: state.present.org_id.clone(),
        })
        .collect::<Vec<_>>();
    let listed = ("connectionIds", app_connections.as_slice());
    let kind = AuditEventKind::GetAvailableAppConnectionsDetails;
    let event = audit::listing(&caller, kind, project, listed, |c| c.id.clone());
    audit::record(&state, event.destination(app)).await;
    Ok(Json(AvailableConnectionList { app_connections }))
}

/// Get a connection by its name: in `projectId`, or at organization level without it.
#[utoipa::path(
    get,
    path = "/api/v1/app-connections/{app}/connection-name/{connectionName}",
    tag = "App Connections",
    operation_id = "getAppConnectionByName",
    params(
        AppPath,
        ("connectionName" = String, Path, description = "The connection's name"),
        ("projectId" = Option<String>, Query, description = "The KMS project (without it: an organization connection)"),
    ),
    responses(
        (status = 200, description = "The connection", body = AppConnectionEnvelope),
        (status = 404, description = "No such connection (or one the caller may not read)", body = ErrorResponse),
        (status = 422, description = "An empty name", body = crate::error::ValidationFailure),
        Guarded,
    ),
)]
pub(crate) async fn connection_by_name(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    params: Result<Path<(String, String)>, PathRejection>,
    Params(q): Params,
) -> ApiResult<AppConnectionEnvelope> {
    let (app, name) = path(params)?;
    let app = state.kind(&app)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid(
            &["connectionName"],
            "Connection name required",
        ));
    }
    let project = project_of(&q);
    let records = state.registry.connections().list(app, project).await?;
    let found = records.iter().find(|r| {
        r.name == name
            && r.project_id.as_deref() == project
            && caller
                .principal
                .may_connection(r.project_id.as_deref(), Action::Read)
    });
    match found {
        Some(record) => {
            let event = about_connection(&caller, AuditEventKind::GetAppConnection, record);
            audit::record(&state, event).await;
            envelope(&state, record)
        }
        None => Err(ApiError::not_found(format!(
            "App Connection with name \"{}\" not found",
            shown(name)
        ))),
    }
}
