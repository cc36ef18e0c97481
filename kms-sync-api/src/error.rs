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

/// One problem of a request, as the KMS's 422 lists them (zod's issue): a `code`, the
/// `path` to the field (names and indexes) and a `message` — never the value sent.
///
/// ```
/// let issue: kms_sync_api::ValidationIssue = serde_json::from_str(
///     r#"{"code": "invalid_type", "path": ["syncOptions", "keySchema"], "message": "Expected a string"}"#)?;
/// assert_eq!(issue.path[0], "syncOptions");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidationIssue {
    /// zod's issue code: `invalid_type`, `unrecognized_keys`, `invalid_string`, `custom`.
    pub code: String,
    /// Where: field names and array indexes from the body's (or query's) top.
    #[schema(value_type = Vec<Object>)]
    pub path: Vec<serde_json::Value>,
    /// What is wrong, naming what was expected and never the value sent.
    pub message: String,
}

/// The KMS's 422 answer: `error: "ValidationFailure"` and `message` a list of issues, not a
/// string.
///
/// ```
/// let body: kms_sync_api::ValidationFailure = serde_json::from_str(
///     r#"{"reqId": "req-1", "statusCode": 422, "error": "ValidationFailure",
///         "message": [{"code": "invalid_type", "path": ["name"], "message": "Required"}]}"#)?;
/// assert_eq!(body.message[0].message, "Required");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationFailure {
    /// The request's id.
    pub req_id: String,
    /// 422.
    pub status_code: u16,
    /// The issues, each with its path.
    pub message: Vec<ValidationIssue>,
    /// `ValidationFailure`.
    pub error: String,
}

/// An error answer, rendered (with the request id) by [`envelope`].
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
    /// For a 422: the issues (the answer's `message` is then this list).
    pub issues: Vec<ValidationIssue>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error,
            message: message.into(),
            issues: Vec::new(),
        }
    }

    /// 422 `ValidationFailure` with these issues.
    pub fn invalid_issues(issues: Vec<ValidationIssue>) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ValidationFailure",
            "the request is invalid",
        );
        error.issues = issues;
        error
    }

    /// 422 `ValidationFailure` with one `custom` issue at `path`.
    pub fn invalid(path: &[&str], message: impl Into<String>) -> ApiError {
        ApiError::invalid_issues(vec![ValidationIssue {
            code: "custom".to_owned(),
            path: path.iter().map(|p| serde_json::Value::from(*p)).collect(),
            message: message.into(),
        }])
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

    /// The answer for an error from kms-sync: `Config`, `Conflict` and the other refusals
    /// are 400 naming the field or the name taken, `NotFound` 404; anything else 500 with the KMS's
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
            // The KMS answers a duplicate name, and a connection still in use, 400.
            ErrorKind::Conflict => ApiError::bad_request(err.message()),
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

/// The JSON of an error answer: the envelope, with the issues as `message` for a 422.
fn rendered_body(id: &str, error: ApiError) -> Vec<u8> {
    let status_code = error.status.as_u16();
    let error_word = error.error.to_owned();
    let text = if error.issues.is_empty() {
        serde_json::to_vec(&ErrorResponse {
            req_id: id.to_owned(),
            status_code,
            message: error.message,
            error: error_word,
        })
    } else {
        serde_json::to_vec(&ValidationFailure {
            req_id: id.to_owned(),
            status_code,
            message: error.issues,
            error: error_word,
        })
    };
    text.unwrap_or_default()
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
        let text = rendered_body(&id, error.clone());
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
