//! Two routes of kms-sync beyond the KMS: `GET …/{syncId}/runs` (the run history) and
//! `POST …/{syncId}/plan` (what a sync would change now, without a value).

use std::sync::Arc;

use axum::extract::State;
use axum::{Extension, Json};
use kms_sync_core::{Fingerprinter, Plan, SecretSource};
use kms_sync_fleet::{RunEntry, SyncId};

use super::doc::{Guarded, NoSuchSync, SyncPath};
use super::extract::{KindAndId, Params};
use super::{syncs::sync_of, ApiState};
use crate::auth::Caller;
use crate::authz::Action;
use crate::error::{ApiError, ErrorResponse};
use crate::history::{
    PlanSummary, PlannedChange, RunCounts, SyncPlan, SyncPlanEnvelope, SyncRun, SyncRunList,
};
use crate::present::time;

fn run_of(entry: &RunEntry) -> SyncRun {
    let c = &entry.counts;
    SyncRun {
        job_id: entry.job_id.to_string(),
        operation: entry.operation.to_string(),
        cause: entry.cause.as_str().to_owned(),
        worker: entry.worker.clone(),
        attempt: entry.attempt,
        started_at: time(entry.started_at),
        finished_at: entry.finished_at.map(time),
        status: entry.state.to_string(),
        message: entry.message.clone(),
        counts: RunCounts {
            created: c.created,
            updated: c.updated,
            deleted: c.deleted,
            unchanged: c.unchanged,
            failed: c.failed + c.unconfirmed,
        },
    }
}

/// The run history of a sync, newest first, with what each run changed. An extension of
/// kms-sync (the KMS shows only the last run's status).
#[utoipa::path(
    get,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/runs",
    tag = "Secret Syncs (kms-sync extensions)",
    operation_id = "listSecretSyncRuns",
    params(
        SyncPath,
        ("limit" = Option<i64>, Query, description = "At most this many runs (1 to 1000; default 50)"),
    ),
    responses(
        (status = 200, description = "The runs, newest first", body = SyncRunList),
        (status = 400, description = "A sync of another destination", body = ErrorResponse),
        (status = 422, description = "Not a sync id, or a bad limit", body = crate::error::ValidationFailure),
        Guarded,
        NoSuchSync,
    ),
)]
pub(crate) async fn list_runs(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
    Params(q): Params,
) -> Result<Json<SyncRunList>, ApiError> {
    let limit = match q.get("limit") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::invalid(&["limit"], "Expected number"))?
            .clamp(1, 1000),
    };
    sync_of(&state, &caller, kind, id, Action::Read).await?;
    let runs = state.registry.jobs().runs(id, limit).await?;
    Ok(Json(SyncRunList {
        runs: runs.iter().map(run_of).collect(),
    }))
}

/// What the plan says, without a value.
fn value_free(id: SyncId, plan: &Plan) -> SyncPlan {
    let counts = plan.counts();
    SyncPlan {
        sync_id: id.to_string(),
        source: plan.source().to_owned(),
        destination: plan.destination().to_owned(),
        summary: PlanSummary {
            create: counts.create,
            update: counts.update,
            delete: counts.delete,
            unchanged: counts.unchanged,
            skip: counts.skip,
            retained: counts.retained,
        },
        changes: plan
            .changes()
            .iter()
            .map(|c| PlannedChange {
                key: c.key.clone(),
                action: c.kind.to_string(),
            })
            .collect(),
    }
}

/// Plans sync `id` now: its source read through the API's source provider, its
/// destination listed, its ledger read with the API's ledger key. Writes nothing.
async fn plan_now(state: &ApiState, id: SyncId) -> Result<Plan, ApiError> {
    let (Some(sources), Some(key)) = (&state.sources, &state.ledger_key) else {
        return Err(ApiError::bad_request(
            "planning needs the API built with a source provider and the fleet's ledger key \
             (ApiBuilder::planning)",
        ));
    };
    let resolved = state.registry.syncs().resolve(id).await?;
    let def = &resolved.definition;
    let source: Arc<dyn SecretSource> = sources
        .0
        .source(def.project_id(), def.environment(), def.secret_path())
        .await?;
    let store = Arc::new(state.registry.ledger_store());
    let syncer = state
        .registry
        .destinations()
        .syncer_builder(
            def,
            &resolved.connection,
            source,
            state.registry.client_settings().clone(),
        )?
        .id(id.to_string())
        .state(store, Fingerprinter::new(key.expose().to_vec())?)
        .build()?;
    Ok(syncer.plan().await?)
}

/// The value-free plan of what the sync would change if it ran now: each key it would
/// create, update or delete, and the counts. Writes nothing. An extension of kms-sync (the
/// dry run the KMS does not have); needs `read` on the sync.
#[utoipa::path(
    post,
    path = "/api/v1/secret-syncs/{destination}/{syncId}/plan",
    tag = "Secret Syncs (kms-sync extensions)",
    operation_id = "planSecretSync",
    params(
        SyncPath,
    ),
    responses(
        (status = 200, description = "The plan: keys and actions, never a value", body = SyncPlanEnvelope),
        (status = 400, description = "A sync of another destination, or planning not configured", body = ErrorResponse),
        (status = 422, description = "Not a sync id", body = crate::error::ValidationFailure),
        Guarded,
        NoSuchSync,
    ),
)]
pub(crate) async fn plan_sync(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    KindAndId(kind, id): KindAndId<SyncId>,
) -> Result<Json<SyncPlanEnvelope>, ApiError> {
    sync_of(&state, &caller, kind, id, Action::Read).await?;
    let plan = plan_now(&state, id).await?;
    Ok(Json(SyncPlanEnvelope {
        plan: value_free(id, &plan),
    }))
}
