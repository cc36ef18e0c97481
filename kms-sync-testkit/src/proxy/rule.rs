//! The rules of a [`BendingProxy`](super::BendingProxy): which requests a rule bends
//! ([`Methods`], a path prefix, which of its matches) and how ([`Action`]).

use std::fmt;
use std::time::Duration;

/// Which methods a [`Rule`] matches.
///
/// ```
/// use kms_sync_testkit::proxy::Methods;
/// assert!(Methods::Writes.matches("PUT"));
/// assert!(!Methods::Writes.matches("GET"));
/// assert!(Methods::Only("get".into()).matches("GET"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Methods {
    /// Every method.
    Any,
    /// Every method that may change something: all but `GET`, `HEAD` and `OPTIONS`.
    Writes,
    /// One method (case-insensitive), e.g. `GET`.
    Only(String),
}

impl Methods {
    /// Whether a request with this method is matched.
    pub fn matches(&self, method: &str) -> bool {
        match self {
            Methods::Any => true,
            Methods::Writes => !["GET", "HEAD", "OPTIONS"]
                .iter()
                .any(|read| read.eq_ignore_ascii_case(method)),
            Methods::Only(only) => only.eq_ignore_ascii_case(method),
        }
    }
}

/// Whether an answer replaces the upstream's (the request is never forwarded) or comes
/// after it (the request reached the upstream, which did what it does, but the client sees
/// something else).
///
/// ```
/// use kms_sync_testkit::proxy::{Action, Timing};
/// // The write never happened, and the client is shown a login page…
/// let not_written = Action::html_login_page(Timing::Instead);
/// // …or the write happened, and the client is shown a login page all the same.
/// let written = Action::html_login_page(Timing::AfterForwarding);
/// assert_ne!(not_written, written);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The request is not forwarded.
    Instead,
    /// The request is forwarded first; its answer is thrown away.
    AfterForwarding,
}

/// How an error answer quotes the request body, as services that echo their input do. A JSON
/// answer carries the quote in every field the services' error envelopes keep their message
/// in (`message`, `detail`, `fields`, `ErrorMessage`, `Errors`).
///
/// ```
/// use kms_sync_testkit::proxy::{Action, Echo, Rule};
/// let rules: Vec<Rule> = Echo::ALL
///     .into_iter()
///     .map(|form| Rule::writes("/", Action::EchoRequest(form)).once())
///     .collect();
/// assert_eq!(rules.len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// The body's text (its values JSON-escaped, as the body has them), and the body itself
    /// as JSON under `request`.
    Json,
    /// Every string of the body, raw: `key=MY_KEY, value=<the value>`.
    Fields,
    /// `text/plain`: `invalid request: <the body byte for byte>`.
    Raw,
    /// The body percent-encoded.
    UrlEncoded,
    /// The body in standard base64.
    Base64,
}

impl Echo {
    /// Every form, for cases that try them all.
    pub const ALL: [Echo; 5] = [
        Echo::Json,
        Echo::Fields,
        Echo::Raw,
        Echo::UrlEncoded,
        Echo::Base64,
    ];
}

/// What a [`Rule`] does to a request it matches. Its `Debug` shows a replaced body only by
/// its length, and a header it sets only by name.
///
/// ```
/// use kms_sync_testkit::proxy::{Action, Rule};
/// let redirect = Action::Redirect { status: 303, location: "/v1/variables".into() };
/// let no_ids = Action::DropJson("Variables[*].Id".into());
/// let rules = [Rule::writes("/", redirect), Rule::get("/api/Spaces-1/variables", no_ids)];
/// assert!(format!("{rules:?}").contains("Variables[*].Id"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Forward, then answer with this status (the upstream's headers and body kept).
    Status(u16),
    /// Forward, then set this header on the answer.
    SetHeader {
        /// The header's name.
        name: String,
        /// Its value.
        value: String,
    },
    /// Forward, then remove this header from the answer.
    RemoveHeader(String),
    /// Answer a redirect to `location` (a path on the proxy itself: the same host) without
    /// forwarding.
    Redirect {
        /// 301, 302, 303, 307 or 308.
        status: u16,
        /// The path (with `?query`, if any) the `Location` points at.
        location: String,
    },
    /// Answer with this status, content type and body, instead of or after forwarding.
    Replace {
        /// Whether the request reaches the upstream.
        timing: Timing,
        /// The status answered.
        status: u16,
        /// The `Content-Type` answered.
        content_type: String,
        /// The body answered.
        body: Vec<u8>,
    },
    /// Forward, then remove what a JSON path names from the answer's body: `values` (a
    /// field), `Variables[*].Id` (a field of every element of an array), `[*].id` (of a bare
    /// array). An answer that is not JSON, or has nothing at the path, passes unchanged.
    DropJson(String),
    /// Answer 400 with the request's body quoted in this form, without forwarding.
    EchoRequest(Echo),
    /// Wait this long, then go on (forward, or the next rule's action).
    Delay(Duration),
    /// Drop the connection without an answer, instead of or after forwarding.
    DropConnection(Timing),
}

impl Action {
    /// A `200 text/html` login page, as a proxy or single sign-on gateway answers.
    pub fn html_login_page(timing: Timing) -> Action {
        Action::Replace {
            timing,
            status: 200,
            content_type: "text/html; charset=utf-8".to_owned(),
            body: LOGIN_PAGE.as_bytes().to_vec(),
        }
    }

    /// Whether the action answers without the upstream's answer.
    pub(super) fn short_circuits(&self) -> bool {
        matches!(
            self,
            Action::Redirect { .. }
                | Action::EchoRequest(_)
                | Action::Replace {
                    timing: Timing::Instead,
                    ..
                }
                | Action::DropConnection(Timing::Instead)
        )
    }
}

const LOGIN_PAGE: &str = "<!DOCTYPE html><html><head><title>Sign in</title></head>\
<body><form method=\"post\" action=\"/login\"><input name=\"user\">\
<input name=\"password\" type=\"password\"><button>Sign in</button></form></body></html>";

impl fmt::Debug for Action {
    /// Never shows a body: only its length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Replace {
                timing,
                status,
                content_type,
                body,
            } => f
                .debug_struct("Replace")
                .field("timing", timing)
                .field("status", status)
                .field("content_type", content_type)
                .field("body_len", &body.len())
                .finish(),
            Action::SetHeader { name, .. } => f
                .debug_struct("SetHeader")
                .field("name", name)
                .finish_non_exhaustive(),
            Action::Status(s) => f.debug_tuple("Status").field(s).finish(),
            Action::RemoveHeader(n) => f.debug_tuple("RemoveHeader").field(n).finish(),
            Action::Redirect { status, location } => f
                .debug_struct("Redirect")
                .field("status", status)
                .field("location", location)
                .finish(),
            Action::DropJson(p) => f.debug_tuple("DropJson").field(p).finish(),
            Action::EchoRequest(e) => f.debug_tuple("EchoRequest").field(e).finish(),
            Action::Delay(d) => f.debug_tuple("Delay").field(d).finish(),
            Action::DropConnection(t) => f.debug_tuple("DropConnection").field(t).finish(),
        }
    }
}

/// One rule: the requests it matches and what it does to them. A rule matches a request
/// when the method is one of its [`Methods`] and the path (with `?query`) starts with its
/// prefix; of those matches, it acts on every one, only the nth, or the first few.
///
/// ```
/// use kms_sync_testkit::proxy::{Action, Rule};
/// let rule = Rule::writes("/v1/variables", Action::Status(503)).nth(2);
/// assert!(rule.matches("POST", "/v1/variables"));
/// assert!(!rule.matches("GET", "/v1/variables"));
/// let once = Rule::get("/v1/variables", Action::DropJson("[*].id".into())).once();
/// assert!(once.matches("GET", "/v1/variables?page=2"));
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    methods: Methods,
    prefix: String,
    only_nth: Option<usize>,
    at_most: Option<usize>,
    action: Action,
}

impl Rule {
    /// A rule acting on every request with one of `methods` under `prefix`.
    pub fn new(methods: Methods, prefix: impl Into<String>, action: Action) -> Rule {
        Rule {
            methods,
            prefix: prefix.into(),
            only_nth: None,
            at_most: None,
            action,
        }
    }

    /// A rule on every write (see [`Methods::Writes`]) under `prefix` (`"/"`: all writes).
    pub fn writes(prefix: impl Into<String>, action: Action) -> Rule {
        Rule::new(Methods::Writes, prefix, action)
    }

    /// A rule on every `GET` under `prefix`.
    pub fn get(prefix: impl Into<String>, action: Action) -> Rule {
        Rule::new(Methods::Only("GET".to_owned()), prefix, action)
    }

    /// Acts only on the `n`th matching request (1 is the first).
    pub fn nth(mut self, n: usize) -> Rule {
        self.only_nth = Some(n);
        self
    }

    /// Acts only on the first matching request.
    pub fn once(self) -> Rule {
        self.times(1)
    }

    /// Acts on the first `n` matching requests only.
    pub fn times(mut self, n: usize) -> Rule {
        self.at_most = Some(n);
        self
    }

    /// Whether a request with this method and target (path plus `?query`) is matched
    /// (whatever its position among the matches).
    pub fn matches(&self, method: &str, target: &str) -> bool {
        self.methods.matches(method) && target.starts_with(self.prefix.as_str())
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Whether the rule acts on its `seen`th match (1 is the first).
    pub(super) fn acts_on(&self, seen: usize) -> bool {
        self.only_nth.is_none_or(|n| n == seen) && self.at_most.is_none_or(|n| seen <= n)
    }
}
