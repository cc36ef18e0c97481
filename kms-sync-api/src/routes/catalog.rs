//! The routes that span every destination the registry serves: the options, and the syncs
//! and connections of all kinds at once.

use axum::extract::State;
use axum::{Extension, Json};

use super::access::{presented_connections, presented_syncs};
use super::doc::{Guarded, OptionalProjectQuery, ProjectQuery};
use super::extract::Params;
use super::ApiState;
use crate::audit;
use crate::auth::Caller;
use crate::body::{project_of, required_query};
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
        secret_syncs.extend(presented_syncs(&state, &caller.principal, &records)?);
    }
    let event = audit::syncs_listed(&caller, &project, &secret_syncs);
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
    let project = project_of(&q);
    let mut app_connections = Vec::new();
    for app in state.registry.destinations().kinds() {
        let records = state.registry.connections().list(app, project).await?;
        app_connections.extend(presented_connections(&state, &caller.principal, &records)?);
    }
    let event = audit::connections_listed(&caller, project, &app_connections);
    audit::record(&state, event).await;
    Ok(Json(AppConnectionList { app_connections }))
}
