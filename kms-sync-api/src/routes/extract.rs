//! The extractors the handlers share: the destination kind (or app) and the id a URL
//! names, the query string, and the raw JSON body — each failing with the KMS's answer
//! (404 for a kind this API does not serve, 422 naming a bad id, 400 for an unreadable
//! query), in the order the handler lists them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use kms_sync_fleet::{ConnectionId, SyncId};

use super::ApiState;
use crate::body::{json_object, path, query, JsonBody};
use crate::error::ApiError;

/// The kind of a `/{destination}` or `/{app}` URL, exactly as the registry names it.
pub(crate) struct Kind(pub &'static str);

impl FromRequestParts<ApiState> for Kind {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Kind, ApiError> {
        let raw = path(Path::<String>::from_request_parts(parts, state).await)?;
        Ok(Kind(state.kind(&raw)?))
    }
}

/// An id a URL names, read with the KMS's 422 naming its parameter.
pub(crate) trait UrlId: Sized {
    /// The id of `text`, or 422 naming the parameter.
    fn from_url(text: &str) -> Result<Self, ApiError>;
}

impl UrlId for SyncId {
    fn from_url(text: &str) -> Result<SyncId, ApiError> {
        SyncId::parse(text).map_err(|_| ApiError::invalid(&["syncId"], "Invalid uuid"))
    }
}

impl UrlId for ConnectionId {
    fn from_url(text: &str) -> Result<ConnectionId, ApiError> {
        ConnectionId::parse(text).map_err(|_| ApiError::invalid(&["connectionId"], "Invalid uuid"))
    }
}

/// The kind and the id of a `/{kind}/{id}` URL: 404 for a kind this API does not serve,
/// then the id's own error.
pub(crate) struct KindAndId<T>(pub &'static str, pub T);

impl<T: UrlId> FromRequestParts<ApiState> for KindAndId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let params = Path::<(String, String)>::from_request_parts(parts, state).await;
        let (kind, id) = path(params)?;
        let kind = state.kind(&kind)?;
        Ok(KindAndId(kind, T::from_url(&id)?))
    }
}

/// The query string's parameters (400 when it cannot be read).
pub(crate) struct Params(pub HashMap<String, String>);

impl FromRequestParts<ApiState> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Params, ApiError> {
        let q = Query::<HashMap<String, String>>::from_request_parts(parts, state).await;
        Ok(Params(query(q)?))
    }
}

/// A request's headers and body, read as one JSON object by [`RawJson::object`] (so the
/// handler's own checks on the URL come first).
pub(crate) struct RawJson {
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
}

impl RawJson {
    /// The body as one JSON object; `what` names it in errors.
    pub fn object(self, what: &str) -> Result<JsonBody, ApiError> {
        json_object(&self.headers, self.body, what)
    }
}

impl FromRequest<ApiState> for RawJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &ApiState) -> Result<RawJson, ApiError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await;
        Ok(RawJson { headers, body })
    }
}
