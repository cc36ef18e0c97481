//! The routes that span every destination the registry serves: the options, and the syncs
//! and connections of all kinds at once.

use axum::extract::State;
use axum::{Extension, Json};
use kms_sync_fleet::AuditEventKind;

use super::access::may_read_sync;
use super::doc::{Guarded, OptionalProjectQuery, ProjectQuery};
use super::extract::Params;
use super::ApiState;
use crate::audit;
use crate::auth::Caller;
use crate::authz::Action;
use crate::body::required_query;
use crate::catalog::{
    AppConnectionOption, AppConnectionOptions, SecretSyncOption, SecretSyncOptions,
};
use crate::describe::all_facts;
use crate::error::ApiError;
use crate::model::{AppConnectionList, SecretSyncList};

type ApiResult<T> = Result<Json<T>, ApiError>;

/// List the destination kinds this API serves.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/options",
    tag = "Secret Syncs",
    operation_id = "listSecretSyncOptions",
    responses(
        (status = 200, description = "Every destination kind served, with its display name and import support", body = SecretSyncOptions),
        Guarded,
    ),
)]
pub(crate) async fn sync_options(State(state): State<ApiState>) -> Json<SecretSyncOptions> {
    let secret_sync_options = all_facts(state.registry.destinations())
        .iter()
        .map(|facts| SecretSyncOption {
            name: facts.display_name().to_owned(),
            connection: facts.kind().to_owned(),
            destination: facts.kind().to_owned(),
            can_import_secrets: facts.can_import_secrets(),
        })
        .collect();
    Json(SecretSyncOptions {
        secret_sync_options,
    })
}

/// List the apps connections can be made to.
#[utoipa::path(
    get,
    path = "/api/v1/app-connections/options",
    tag = "App Connections",
    operation_id = "listAppConnectionOptions",
    responses(
        (status = 200, description = "Every app served, with its display name and connection methods", body = AppConnectionOptions),
        Guarded,
    ),
)]
pub(crate) async fn connection_options(
    State(state): State<ApiState>,
) -> Json<AppConnectionOptions> {
    let app_connection_options = all_facts(state.registry.destinations())
        .iter()
        .map(|facts| AppConnectionOption {
            name: facts.display_name().to_owned(),
            app: facts.kind().to_owned(),
            methods: facts
                .connection_method_names()
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
        })
        .collect();
    Json(AppConnectionOptions {
        app_connection_options,
    })
}

/// List the syncs of every destination in a project.
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs",
    tag = "Secret Syncs",
    operation_id = "listAllSecretSyncs",
    params(ProjectQuery),
    responses(
        (status = 200, description = "The project's syncs the caller may read, of every destination", body = SecretSyncList),
        (status = 422, description = "No projectId", body = crate::error::ValidationFailure),
        Guarded,
    ),
)]
pub(crate) async fn list_all_syncs(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params,
) -> ApiResult<SecretSyncList> {
    let project = required_query(&q, "projectId", "Project ID required")?;
    let mut secret_syncs = Vec::new();
    for kind in state.registry.destinations().kinds() {
        let records = state.registry.syncs().list(kind, Some(&project)).await?;
        for record in records
            .iter()
            .filter(|r| may_read_sync(&caller.principal, r))
        {
            secret_syncs.push(state.present.sync(record)?);
        }
    }
    let event = audit::by(&caller, AuditEventKind::GetSecretSyncs)
        .project(project.as_str())
        .meta("syncIds", audit::ids(&secret_syncs, |s| s.id.clone()))
        .meta("count", secret_syncs.len());
    audit::record(&state, event).await;
    Ok(Json(SecretSyncList { secret_syncs }))
}

/// List the connections of every app, in a project if given.
#[utoipa::path(
    get,
    path = "/api/v1/app-connections",
    tag = "App Connections",
    operation_id = "listAllAppConnections",
    params(OptionalProjectQuery),
    responses(
        (status = 200, description = "The connections the caller may read, of every app", body = AppConnectionList),
        Guarded,
    ),
)]
pub(crate) async fn list_all_connections(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Params(q): Params,
) -> ApiResult<AppConnectionList> {
    let project = q
        .get("projectId")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    let mut app_connections = Vec::new();
    for app in state.registry.destinations().kinds() {
        let records = state.registry.connections().list(app, project).await?;
        let readable = records.iter().filter(|r| {
            caller
                .principal
                .may_connection(r.project_id.as_deref(), Action::Read)
        });
        for record in readable {
            app_connections.push(state.present.connection(record)?);
        }
    }
    let event = audit::by(&caller, AuditEventKind::GetAppConnections)
        .maybe_project(project)
        .meta(
            "connectionIds",
            audit::ids(&app_connections, |c| c.id.clone()),
        )
        .meta("count", app_connections.len());
    audit::record(&state, event).await;
    Ok(Json(AppConnectionList { app_connections }))
}
