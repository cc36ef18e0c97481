//! The KMS's error envelope, `{"reqId", "statusCode", "message", "error"}`, for every error
//! this API answers, and the request id every answer carries.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kms_sync_core::ErrorKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The header that carries the request id (also `reqId` in error bodies).
///
/// ```
/// assert_eq!(kms_sync_api::REQUEST_ID_HEADER, "x-request-id");
/// ```
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An error as the KMS answers it: `statusCode`, `message`, `error` (the KMS's error
/// name: `BadRequest`, `NotFound`, `UnauthorizedError`, …) and `reqId`. Messages never carry
/// a credential or a secret value.
///
/// ```
/// let body: kms_sync_api::ErrorResponse = serde_json::from_str(
///     r#"{"reqId": "req-1", "statusCode": 404, "message": "sync not found", "error": "NotFound"}"#)?;
/// assert_eq!(body.status_code, 404);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The request's id, also in the `x-request-id` header.
    pub req_id: String,
    /// The HTTP status.
    pub status_code: u16,
    /// What went wrong, naming the field for a validation error.
    pub message: String,
    /// The KMS's name for the kind of error.
    pub error: String,
}

/// An error answer, rendered (with the request id) by [`envelope`].
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: message.into(),
        }
    }

    /// 400, the KMS's `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404, the KMS's `NotFound`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    /// 401, the KMS's `UnauthorizedError`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UnauthorizedError", message)
    }

    /// 429, the KMS's `RateLimitExceeded`.
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RateLimitExceeded",
            format!("Rate limit exceeded. Please try again in {retry_after_secs} seconds"),
        )
    }

    /// 404 for a path no route serves (as fastify words it).
    pub fn no_route(method: &str, path: &str) -> ApiError {
        let shown: String = path.chars().take(200).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("Route {method}:{} not found", shown.escape_debug()),
        )
    }

    /// The answer for an error from kms-sync: `Config` and the other refusals are 400
    /// naming the field, `NotFound` 404, `Conflict` 409; anything else 500 with the KMS's
    /// "Something went wrong" (the detail goes to the log, which never holds a secret).
    pub fn from_kms(err: &kms_sync_core::Error) -> ApiError {
        match err.kind() {
            ErrorKind::Config
            | ErrorKind::InvalidKey
            | ErrorKind::InvalidValue
            | ErrorKind::Unsupported
            | ErrorKind::Guard
            | ErrorKind::Disabled => ApiError::bad_request(err.message()),
            ErrorKind::NotFound => ApiError::not_found(err.message()),
            ErrorKind::Conflict => ApiError::new(StatusCode::CONFLICT, "Conflict", err.message()),
            kind => {
                tracing::error!(kind = %kind, error = %err, "kms-sync api: internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Something went wrong",
                )
            }
        }
    }
}

impl From<kms_sync_core::Error> for ApiError {
    fn from(err: kms_sync_core::Error) -> ApiError {
        ApiError::from_kms(&err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self.status;
        response.extensions_mut().insert(self);
        response
    }
}

/// The outermost layer: gives each request an id, renders [`ApiError`]s (and the router's
/// bare 405s) as the KMS's envelope, and logs the method, the route and the status — never
/// a header, a query or a body.
pub(crate) async fn envelope(request: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4().simple());
    let method = request.method().clone();
    let path = request.uri().path().chars().take(200).collect::<String>();
    let mut response = next.run(request).await;
    let rendered = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => Some(error),
        None if response.status() == StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            format!("Method {method} is not allowed on {}", path.escape_debug()),
        )),
        None => None,
    };
    if let Some(error) = rendered {
        let body = ErrorResponse {
            req_id: id.clone(),
            status_code: error.status.as_u16(),
            message: error.message,
            error: error.error.to_owned(),
        };
        let text = serde_json::to_vec(&body).unwrap_or_default();
        let headers = std::mem::take(response.headers_mut());
        response = Response::new(Body::from(text));
        *response.status_mut() = error.status;
        *response.headers_mut() = headers;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    if status >= 500 {
        tracing::warn!(req_id = %id, %method, path = %path.escape_debug(), status, "kms-sync api");
    } else {
        tracing::debug!(req_id = %id, %method, path = %path.escape_debug(), status, "kms-sync api");
    }
    response
}
