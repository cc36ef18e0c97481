//! Requests and responses of the HTTP client.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::rate_limit::ResponseHeaders;
use crate::error::{Error, ErrorKind, Result};
use crate::scrub::Scrubber;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// GET, PUT and DELETE may be repeated safely.
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Put | Method::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a request goes: a path under the client's base URL, or an absolute URL (a `next`
/// link), which must have the base URL's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Path(String),
    Url(String),
}

/// A request. Its body may hold secret values: it is kept in a [`SecretBox`] and never shown
/// by `Debug`.
///
/// ```
/// use kms_sync_core::http::Request;
/// let req = Request::put("/v1/variables/API_KEY")
///     .json(&serde_json::json!({"value": "s3cret", "secret": true}))?
///     .query("limit", "100");
/// assert!(!format!("{req:?}").contains("s3cret"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub struct Request {
    pub(crate) method: Method,
    pub(crate) target: Target,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) bearer: Option<SecretString>,
    pub(crate) body: Option<SecretBox<Vec<u8>>>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) write: Option<bool>,
}

impl Request {
    /// A request of `method` to `path` under the base URL (e.g. `/2.0/user`). The path is
    /// used as given: percent-encode segments (e.g. `{` `}` in uuids) yourself, with
    /// [`encode_segment`](crate::http::encode_segment).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            target: Target::Path(path.into()),
            query: Vec::new(),
            headers: Vec::new(),
            bearer: None,
            body: None,
            idempotent: None,
            write: None,
        }
    }

    /// A GET to an absolute URL, such as a `next` link; refused unless it has the client's
    /// origin.
    pub fn get_url(url: impl Into<String>) -> Self {
        Request {
            target: Target::Url(url.into()),
            ..Request::new(Method::Get, "")
        }
    }

    /// GET `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::Get, path)
    }
    /// POST `path`.
    pub fn post(path: impl Into<String>) -> Self {
        Request::new(Method::Post, path)
    }
    /// PUT `path`.
    pub fn put(path: impl Into<String>) -> Self {
        Request::new(Method::Put, path)
    }
    /// PATCH `path`.
    pub fn patch(path: impl Into<String>) -> Self {
        Request::new(Method::Patch, path)
    }
    /// DELETE `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Request::new(Method::Delete, path)
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Adds a (non-secret) header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Authenticates this request with a bearer token (overriding the client's auth), for
    /// services whose token changes over time. The header is marked sensitive.
    pub fn bearer(mut self, token: &SecretString) -> Self {
        self.bearer = Some(token.clone());
        self
    }

    /// Sets a JSON body.
    ///
    /// # Errors
    ///
    /// [`Unexpected`](ErrorKind::Unexpected) if the value cannot be serialised.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::unexpected(format!(
                "cannot encode the request body: {}",
                e.classify_name()
            ))
        })?;
        self.body = Some(SecretBox::new(Box::new(bytes)));
        Ok(self)
    }

    /// Marks the request as safe (or not) to repeat after a timeout, overriding the method's
    /// default (GET, PUT, DELETE are; POST and PATCH are not).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Marks a request that changes nothing at the service although its method is not GET
    /// (a login, a search by POST): its answer is data to read, not a confirmation of a
    /// write, so an unreadable answer is [`Unexpected`](ErrorKind::Unexpected) rather than
    /// [`Unconfirmed`](ErrorKind::Unconfirmed).
    pub fn reads_only(mut self) -> Self {
        self.write = Some(false);
        self
    }

    /// Whether the request may change something at the service (any method but GET, unless
    /// marked [`reads_only`](Self::reads_only)).
    pub fn is_write(&self) -> bool {
        self.write.unwrap_or(self.method != Method::Get)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    pub(crate) fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or_else(|| self.method.is_idempotent())
    }

    pub(crate) fn body_bytes(&self) -> Option<Vec<u8>> {
        self.body.as_ref().map(|b| b.expose_secret().clone())
    }

    /// What an error built from this request's answer must not show: every JSON string
    /// leaf of the body (the whole body when it is not JSON), and a per-request token.
    pub(crate) fn secrets(&self) -> Scrubber {
        let mut secrets = Scrubber::new();
        if let Some(token) = &self.bearer {
            secrets.add(token.expose_secret());
        }
        let Some(body) = &self.body else {
            return secrets;
        };
        let body = body.expose_secret();
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => add_string_leaves(&mut secrets, &json),
            Err(_) => secrets.add(&String::from_utf8_lossy(body)),
        }
        secrets
    }

    /// What errors and logs call this request: method and path, never the query (it may
    /// carry tokens) or the body.
    pub(crate) fn label(&self) -> String {
        let path = match &self.target {
            Target::Path(p) => p.clone(),
            Target::Url(u) => url::Url::parse(u)
                .map(|u| u.path().to_owned())
                .unwrap_or_else(|_| "(invalid URL)".to_owned()),
        };
        format!("{} {}", self.method, path)
    }
}

fn add_string_leaves(secrets: &mut Scrubber, json: &serde_json::Value) {
    match json {
        serde_json::Value::String(text) => secrets.add(text),
        serde_json::Value::Array(items) => {
            items
                .iter()
                .for_each(|item| add_string_leaves(secrets, item));
        }
        serde_json::Value::Object(fields) => {
            fields.values().for_each(|v| add_string_leaves(secrets, v));
        }
        _ => {}
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field(
                "query",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("bearer", &self.bearer.as_ref().map(|_| "[REDACTED]"))
            .field("body", &self.body.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// A response with its whole body read (within the client's size cap).
#[derive(Clone)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: ResponseHeaders,
    pub(crate) body: Vec<u8>,
    pub(crate) label: String,
    pub(crate) service: String,
    pub(crate) write: bool,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// A header's value (case-insensitive name), if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Every header (those whose value is text).
    pub fn headers(&self) -> &ResponseHeaders {
        &self.headers
    }

    /// The raw body. It may hold secret values (e.g. a variable list): do not log it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Parses the body as JSON.
    ///
    /// # Errors
    ///
    /// [`Unexpected`](ErrorKind::Unexpected) naming the request, the position and the kind of
    /// problem — never the body's content; [`Unconfirmed`](ErrorKind::Unconfirmed) instead
    /// when the request was a write ([`Request::is_write`]): the service answered 2xx, but an
    /// answer that cannot be read does not confirm the write.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        self.parse()
    }

    /// As [`json`](Self::json), for answers that must be a JSON object. serde reads a struct
    /// from an array of its fields too, so a broken answer such as `[[]]` would otherwise
    /// pass as a struct with empty fields (a secrets list with no secrets).
    ///
    /// # Errors
    ///
    /// [`Unexpected`](ErrorKind::Unexpected) when the body is not an object, or as
    /// [`json`](Self::json).
    pub fn json_object<T: DeserializeOwned>(&self) -> Result<T> {
        let first = self.body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(Error::new(
                self.unreadable_kind(),
                format!(
                    "{} returned a body that is not a JSON object where one was expected",
                    self.service
                ),
            )
            .with_operation(self.label.clone())
            .with_status(self.status));
        }
        self.parse()
    }

    fn unreadable_kind(&self) -> ErrorKind {
        if self.write {
            ErrorKind::Unconfirmed
        } else {
            ErrorKind::Unexpected
        }
    }

    /// The media type of the `Content-Type` header (lower case, without parameters).
    pub(crate) fn media_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media = value.split(';').next().unwrap_or(value).trim();
        Some(
            media
                .chars()
                .take(80)
                .collect::<String>()
                .to_ascii_lowercase(),
        )
    }

    /// Whether a 2xx answer confirms a write: an empty body (a 204), or a body declared
    /// JSON (`application/json`, `*/*+json`) that parses as JSON. HTML, text, a missing
    /// content type with a body, or broken JSON do not (a proxy's page, a login page).
    pub(crate) fn confirms_write(&self) -> bool {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        let declared_json = self
            .media_type()
            .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
        declared_json && serde_json::from_slice::<serde::de::IgnoredAny>(&self.body).is_ok()
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                self.unreadable_kind(),
                format!(
                    "{} returned a body that is not the expected JSON ({} at line {}, column {})",
                    self.service,
                    e.classify_name(),
                    e.line(),
                    e.column()
                ),
            )
            .with_operation(self.label.clone())
            .with_status(self.status)
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("request", &self.label)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Response {
        Response {
            status: 200,
            headers: ResponseHeaders::new(),
            body: body.as_bytes().to_vec(),
            label: "GET /list".to_owned(),
            service: "svc".to_owned(),
            write: false,
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Listing {
        items: Vec<String>,
    }

    #[test]
    fn an_object_is_read_and_an_array_is_refused_where_an_object_is_expected() {
        // serde alone reads the struct from an array of its fields: the hole json_object closes.
        assert_eq!(
            answer("[[]]").json::<Listing>().ok(),
            Some(Listing { items: Vec::new() })
        );
        let refused = answer("[[]]").json_object::<Listing>();
        assert!(
            matches!(&refused, Err(e) if e.kind() == ErrorKind::Unexpected
                && e.to_string().contains("not a JSON object")),
            "{refused:?}"
        );
        assert_eq!(
            answer(" \n{\"items\": [\"a\"]}")
                .json_object::<Listing>()
                .ok(),
            Some(Listing {
                items: vec!["a".to_owned()]
            })
        );
        assert!(answer("").json_object::<Listing>().is_err());
        assert!(answer("{\"items\": 1}").json_object::<Listing>().is_err());
    }
}
