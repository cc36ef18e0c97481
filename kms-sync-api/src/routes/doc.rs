//! The OpenAPI pieces the routes share: their path and query parameters and the error
//! answers every route (or every route of a kind) gives, declared once and named in each
//! handler's `#[utoipa::path]`.

// The fields are read by the OpenAPI generator only: the handlers read their parameters
// through axum's extractors, so that each error is the KMS's.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::marker::PhantomData;

use utoipa::openapi::{RefOr, Response};
use utoipa::{IntoParams, IntoResponses};

use crate::error::{ErrorResponse, ValidationFailure};

/// `{destination}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DestinationPath {
    /// A destination kind this API serves (`GET /api/v1/secret-syncs/options` lists them)
    destination: String,
}

/// `{destination}/{syncId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub(crate) struct SyncPath {
    /// A destination kind this API serves (`GET /api/v1/secret-syncs/options` lists them)
    destination: String,
    /// The sync's id
    sync_id: String,
}

/// `{app}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AppPath {
    /// An app this API serves (`GET /api/v1/app-connections/options` lists them)
    app: String,
}

/// `{app}/{connectionId}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path, rename_all = "camelCase")]
pub(crate) struct ConnectionPath {
    /// An app this API serves (`GET /api/v1/app-connections/options` lists them)
    app: String,
    /// The connection's id
    connection_id: String,
}

/// `?projectId=` (required).
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(crate) struct ProjectQuery {
    /// The KMS project
    project_id: String,
}

/// `?projectId=` (optional).
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(crate) struct OptionalProjectQuery {
    /// The KMS project
    project_id: Option<String>,
}

/// What every route may answer before its handler runs: 401 and 429.
#[derive(IntoResponses)]
pub(crate) enum Guarded {
    /// No valid token.
    #[response(status = 401, description = "No valid token")]
    Unauthorized(ErrorResponse),
    /// Over the rate limit.
    #[response(
        status = 429,
        description = "Over the caller's rate limit (`Retry-After`)"
    )]
    RateLimited(ErrorResponse),
}

/// 403, for the routes that check an action on a resource.
#[derive(IntoResponses)]
pub(crate) enum Forbidden {
    /// The caller may not.
    #[response(status = 403, description = "The caller may not do this here")]
    Forbidden(ErrorResponse),
}

/// What a route reading a JSON body may answer about it: 400, 422, 413, 415.
#[derive(IntoResponses)]
pub(crate) enum BodyAnswers {
    /// Beyond its shape.
    #[response(
        status = 400,
        description = "Refused beyond its shape (a duplicate name, a config the destination refuses), naming it"
    )]
    Refused(ErrorResponse),
    /// Its shape.
    #[response(
        status = 422,
        description = "The body does not fit its type: the issues, each with its path"
    )]
    Invalid(ValidationFailure),
    /// Too large.
    #[response(status = 413, description = "The body is too large")]
    TooLarge(ErrorResponse),
    /// Not JSON.
    #[response(status = 415, description = "The body is not JSON")]
    NotJson(ErrorResponse),
}

/// 404 for a sync id.
#[derive(IntoResponses)]
pub(crate) enum NoSuchSync {
    /// Missing or unreadable.
    #[response(status = 404, description = "No such sync")]
    NotFound(ErrorResponse),
}

/// 404 for a connection id.
#[derive(IntoResponses)]
pub(crate) enum NoSuchConnection {
    /// Missing or unreadable.
    #[response(status = 404, description = "No such connection")]
    NotFound(ErrorResponse),
}

/// The answers of `A` and of `B`, together.
pub(crate) struct Both<A, B>(PhantomData<(A, B)>);

impl<A: IntoResponses, B: IntoResponses> IntoResponses for Both<A, B> {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut all = A::responses();
        all.extend(B::responses());
        all
    }
}

/// A route that checks an action: 401, 403, 429.
pub(crate) type Checked = Both<Guarded, Forbidden>;

/// A route that checks an action and reads a JSON body: 400, 401, 403, 413, 415, 422, 429.
pub(crate) type BodyRefused = Both<Checked, BodyAnswers>;

/// A route that checks an action on a sync by id: 401, 403, 404, 429.
pub(crate) type SyncRefused = Both<Checked, NoSuchSync>;

/// A route that checks an action on a connection by id: 401, 403, 404, 429.
pub(crate) type ConnectionRefused = Both<Checked, NoSuchConnection>;
