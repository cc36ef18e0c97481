//! What a fake's handlers answer, and the checks and reads they share.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

/// The query string of a request, as its parameters (the extractor every fake's list
/// handlers take).
pub type QueryParams = Query<HashMap<String, String>>;

/// What a handler answers: `Ok` the response it was asked for, `Err` a [`Refusal`] (returned
/// early with `?`). Axum sends either.
pub type Answer = Result<Response, Refusal>;

/// The message of a write refused by [`FailingKeys`] (an injected, non-retryable failure).
pub const INJECTED_REFUSAL: &str = "injected: writes to this key are refused";

/// An answer a handler gives instead of the one asked for: bad credentials, a 404, a
/// validation error, an injected failure — in the fake's own error envelope. Boxed, so that
/// `Result<_, Refusal>` stays small.
///
/// ```
/// use axum::http::StatusCode;
/// use axum::response::IntoResponse;
/// use kms_sync_testkit::fake::Refusal;
/// let refusal = Refusal::json(StatusCode::NOT_FOUND, serde_json::json!({"message": "no such thing"}));
/// assert_eq!(refusal.into_response().status(), StatusCode::NOT_FOUND);
/// ```
#[derive(Debug)]
pub struct Refusal(Box<Response>);

impl Refusal {
    /// Any response, as a refusal.
    pub fn new(response: impl IntoResponse) -> Refusal {
        Refusal(Box::new(response.into_response()))
    }

    /// `status` with `body` as JSON.
    pub fn json(status: StatusCode, body: Value) -> Refusal {
        Refusal::new((status, Json(body)))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A header's value, if present and text.
///
/// ```
/// use axum::http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-api-key", "k".parse().unwrap());
/// assert_eq!(kms_sync_testkit::fake::header(&headers, "X-Api-Key"), Some("k"));
/// assert_eq!(kms_sync_testkit::fake::header(&headers, "authorization"), None);
/// ```
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The token of an `Authorization: Bearer <token>` header.
///
/// ```
/// use axum::http::HeaderMap;
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer abc".parse().unwrap());
/// assert_eq!(kms_sync_testkit::fake::bearer_token(&headers), Some("abc"));
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    header(headers, "authorization")?.strip_prefix("Bearer ")
}

/// The credential check every fake makes: `Ok` when header `name` is exactly `expected`,
/// else the fake's `refusal` (a 401 or 403 in its envelope).
///
/// ```
/// use axum::http::{HeaderMap, StatusCode};
/// use kms_sync_testkit::fake::{require_header, Refusal};
/// let headers = HeaderMap::new();
/// let refused = require_header(&headers, "x-api-key", "k", || Refusal::new(StatusCode::UNAUTHORIZED));
/// assert!(refused.is_err());
/// ```
///
/// # Errors
///
/// `refusal()` when the header is missing or differs.
pub fn require_header(
    headers: &HeaderMap,
    name: &str,
    expected: &str,
    refusal: impl FnOnce() -> Refusal,
) -> Result<(), Refusal> {
    if header(headers, name) == Some(expected) {
        Ok(())
    } else {
        Err(refusal())
    }
}

/// A string field of a JSON body.
///
/// ```
/// let body = serde_json::json!({"key": "A", "secret": true});
/// assert_eq!(kms_sync_testkit::fake::str_field(&body, "key"), Some("A"));
/// assert_eq!(kms_sync_testkit::fake::str_field(&body, "secret"), None);
/// ```
pub fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// A boolean field of a JSON body.
///
/// ```
/// let body = serde_json::json!({"secret": true});
/// assert_eq!(kms_sync_testkit::fake::bool_field(&body, "secret"), Some(true));
/// assert_eq!(kms_sync_testkit::fake::bool_field(&body, "locked"), None);
/// ```
pub fn bool_field(body: &Value, name: &str) -> Option<bool> {
    body.get(name).and_then(Value::as_bool)
}

/// Entries as a read shows them: `field` null in each entry whose boolean `flag` is true (a
/// secret's value, never sent back).
///
/// ```
/// use serde_json::json;
/// let stored = [json!({"key": "A", "value": "a", "secret": true}), json!({"key": "B", "value": "b"})];
/// let read = kms_sync_testkit::fake::masked(&stored, "secret", "value");
/// assert_eq!(read[0]["value"], serde_json::Value::Null);
/// assert_eq!(read[1]["value"], "b");
/// ```
pub fn masked(entries: &[Value], flag: &str, field: &str) -> Vec<Value> {
    entries
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            if bool_field(&entry, flag) == Some(true) {
                entry[field] = Value::Null;
            }
            entry
        })
        .collect()
}

/// Page `page` (counted from 1) of `size` items.
///
/// ```
/// let items = [1, 2, 3, 4, 5];
/// assert_eq!(kms_sync_testkit::fake::page_slice(&items, 2, 2), vec![3, 4]);
/// assert!(kms_sync_testkit::fake::page_slice(&items, 4, 2).is_empty());
/// ```
pub fn page_slice<T: Clone>(items: &[T], page: usize, size: usize) -> Vec<T> {
    items
        .iter()
        .skip(page.saturating_sub(1).saturating_mul(size))
        .take(size)
        .cloned()
        .collect()
}

/// The keys whose writes a fake refuses (what
/// [`ConformanceTarget::fail_writes_to`](crate::ConformanceTarget::fail_writes_to) injects).
///
/// ```
/// use std::collections::BTreeMap;
/// use kms_sync_testkit::fake::FailingKeys;
/// let mut failing = FailingKeys::default();
/// failing.insert("B");
/// assert!(failing.contains("B"));
/// let before = BTreeMap::from([("A".to_owned(), 1), ("B".to_owned(), 2)]);
/// let after = BTreeMap::from([("A".to_owned(), 9), ("B".to_owned(), 2)]);
/// assert!(!failing.any_changed(&before, &after));
/// ```
#[derive(Debug, Clone, Default)]
pub struct FailingKeys(BTreeSet<String>);

impl FailingKeys {
    /// Refuses every later write of `key`.
    pub fn insert(&mut self, key: impl Into<String>) {
        self.0.insert(key.into());
    }

    /// Whether writes of `key` are refused.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains(key)
    }

    /// Whether a write that turns `before` into `after` (a whole set, keyed by name) changes
    /// a refused key: adds, removes or alters it.
    pub fn any_changed<V: PartialEq>(
        &self,
        before: &BTreeMap<String, V>,
        after: &BTreeMap<String, V>,
    ) -> bool {
        self.0.iter().any(|k| before.get(k) != after.get(k))
    }
}
