//! Reading requests: the JSON content type, the size limit, one JSON object, and the
//! checks the KMS makes on names, paths, ids and query strings — all before anything is
//! looked up or changed.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The default body limit: 1 MiB, as the KMS's server (fastify) has it.
///
/// ```
/// assert_eq!(kms_sync_api::DEFAULT_BODY_LIMIT, 1 << 20);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The longest sync name the KMS takes.
const MAX_SYNC_NAME: usize = 256;
/// The longest environment slug the KMS takes.
const MAX_ENVIRONMENT: usize = 64;
/// The longest secret path accepted.
const MAX_SECRET_PATH: usize = 1024;

/// A JSON request body: its text and its top-level object.
pub(crate) struct JsonBody {
    pub text: String,
    pub object: Map<String, Value>,
}

/// The body of a request that must carry one JSON object.
pub(crate) fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<JsonBody, ApiError> {
    check_content_type(headers)?;
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                "Request body is too large",
            )
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8 text"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "Body cannot be empty when content-type is set to 'application/json'",
        ));
    }
    let value: Value = kms_sync_core::parse_json(&text, what)?;
    match value {
        Value::Object(object) => Ok(JsonBody { text, object }),
        _ => Err(ApiError::invalid(&[], format!("{what}: Expected object"))),
    }
}

/// `Content-Type: application/json` (any charset) or 415.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    let shown: String = essence.chars().take(80).collect();
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported Media Type",
        if shown.is_empty() {
            "Unsupported Media Type: send the body as `Content-Type: application/json`".to_owned()
        } else {
            format!(
                "Unsupported Media Type: {}; send `Content-Type: application/json`",
                shown.escape_debug()
            )
        },
    ))
}

/// The path parameters, or 400.
pub(crate) fn path<T>(path: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|_| ApiError::bad_request("the URL's path parameters could not be read"))
}

/// The query string's parameters, or 400.
pub(crate) fn query(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|_| ApiError::bad_request("the query string could not be read"))
}

/// The trimmed, non-empty `projectId` of a query, if any.
pub(crate) fn project_of(query: &HashMap<String, String>) -> Option<&str> {
    query
        .get("projectId")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
}

/// A required, non-empty query parameter (trimmed), as the KMS's `projectId`.
pub(crate) fn required_query(
    query: &HashMap<String, String>,
    name: &str,
    missing: &str,
) -> Result<String, ApiError> {
    match query.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(ApiError::invalid(&[name], missing)),
    }
}

/// `text` shown in a message: at most 80 characters, escaped.
pub(crate) fn shown(text: &str) -> String {
    text.chars()
        .take(80)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

/// The KMS's rule for names: lowercase letters and digits, words joined by single `-`.
pub(crate) fn slug_friendly(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A sync name from the URL or a body: slug-friendly and at most 256 characters (so no
/// `/`, `.`, `%` or `\`: no path traversal).
pub(crate) fn check_sync_name(field: &str, name: &str) -> Result<(), ApiError> {
    if slug_friendly(name) && name.len() <= MAX_SYNC_NAME {
        return Ok(());
    }
    Err(ApiError::invalid(
        &[field],
        format!(
            "Must be slug-friendly: 1 to {MAX_SYNC_NAME} lowercase letters, digits and single `-`"
        ),
    ))
}

/// An environment slug: slug-friendly, at most 64 characters.
pub(crate) fn check_environment(environment: &str) -> Result<(), ApiError> {
    if slug_friendly(environment) && environment.len() <= MAX_ENVIRONMENT {
        return Ok(());
    }
    Err(ApiError::invalid(
        &["environment"],
        format!(
            "Must be an environment slug: 1 to {MAX_ENVIRONMENT} lowercase letters, digits and \
             single `-`"
        ),
    ))
}

/// A secret path: absolute, `/`-separated, without `.` or `..` segments, backslashes or
/// control characters.
pub(crate) fn check_secret_path(path: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::invalid(
            &["secretPath"],
            format!("The path {why}"),
        ))
    };
    if !path.starts_with('/') {
        return bad("must start with `/`");
    }
    if path.len() > MAX_SECRET_PATH {
        return bad("is too long");
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("must not contain control characters or `\\`");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return bad("must not contain `.` or `..` segments");
    }
    Ok(())
}

/// A string field of a body, if present; 400 naming it if it is not a string.
pub(crate) fn string_field<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(&[field], "Expected string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_path_traversal() {
        for bad in [
            "..", "../etc", "a/b", "a%2Fb", "A", "", "a..b", "a\\b", "-a",
        ] {
            assert!(check_sync_name("name", bad).is_err(), "{bad}");
        }
        assert!(check_sync_name("name", "my-vault-sync").is_ok());
        assert!(check_sync_name("name", &"a".repeat(257)).is_err());
    }

    #[test]
    fn secret_paths_refuse_traversal() {
        for good in ["/", "/my-secrets", "/a/b-c/d_e"] {
            assert!(check_secret_path(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "/../etc", "/a/./b", "/a/..", "/a\\b", "/a\u{0}b"] {
            assert!(check_secret_path(bad).is_err(), "{bad:?}");
        }
    }
}
