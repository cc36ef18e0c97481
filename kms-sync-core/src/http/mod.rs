//! The shared HTTP client every destination and the KMS source use, so retries, pacing,
//! timeouts and redaction are written and tested once.
//!
//! - [`HttpClient`]: base URL, [`Auth`] (Basic, Bearer, custom header; secret values marked
//!   sensitive), user agent `kms-sync/<version>`, JSON helpers.
//! - Retries ([`RetryConfig`]): 408, 429, 5xx and connection failures; a timed-out request only
//!   when idempotent; exponential backoff with full jitter; `Retry-After` in both forms,
//!   capped; everything ends at the operation deadline ([`TimeoutConfig`]).
//! - Pacing ([`Pacing`]): a token bucket and a concurrency cap per client, set from the
//!   service's documented budget; a 429's `Retry-After` pauses every request of the client.
//! - Service dialects, supplied by each service's crate: its rate-limit headers
//!   ([`RateLimitHeaders`], returning an [`Advisory`]: the pacer adopts the limit the service
//!   announces and pauses when it says the budget is spent) and its error envelope
//!   ([`ErrorTable`], default [`common_error`]). Nothing here knows a particular service.
//! - Pagination: [`collect_next_links`], [`collect_numbered_pages`], [`collect_skip_take`].
//! - Confirmation: a write (any method but GET, unless marked
//!   [`reads_only`](Request::reads_only)) is confirmed only by a 2xx whose body is empty (a
//!   204) or JSON declared as JSON (`application/json`, `*/*+json`); an HTML page, text, a
//!   body without a content type or broken JSON is [`Unconfirmed`](crate::ErrorKind::Unconfirmed),
//!   and never retried. A write answered by a redirect is never followed and is
//!   `Unconfirmed` too (its error names the method, path and status, never the `Location`).
//!   Destinations whose service documents a write's answer parse it into that shape, so a
//!   `200 {}` does not confirm either.
//! - Redirects: reqwest follows none. The client follows a read's 3xx itself, only where
//!   the destination allowed it ([`HttpClientBuilder::follow_read_redirects`], default off),
//!   only to the base URL's origin (scheme, host, port) and at most 5 hops; a redirect to
//!   another origin is never followed, so credentials never leave.
//! - Scrubbing: every message built from a service's answer (its error table's message) is
//!   passed through a [`Scrubber`](crate::Scrubber) holding every JSON string leaf of the
//!   request's body (the raw body when it is not JSON) and the client's credentials (bearer
//!   token, Basic `user:password` and its base64, API key, a per-request token), in every
//!   form they travel in. A 400 that echoes `{"value":"…"}` never carries the value.
//! - Safety: bodies capped, `http://` refused except on loopback, errors carrying method,
//!   path (no query), status and the service's own message — never a request body or a
//!   credential.
//! - Accounting: [`HttpClient::request_stats`] counts every attempt by method; a `tracing`
//!   span per request records method, path, status, attempt and wait.

mod attempt;
mod auth;
mod builder;
mod client;
mod config;
mod encode;
mod pacer;
mod paginate;
mod rate_limit;
mod redirect;
mod request;
mod retry;
mod settings;
mod status;

pub use auth::Auth;
pub use builder::HttpClientBuilder;
pub use client::{HttpClient, DEFAULT_MAX_BODY_BYTES};
pub use config::{Pacing, RetryConfig, TimeoutConfig, BUDGET_SHARE};
pub use encode::{encode_base64, encode_segment};
pub use paginate::{
    collect_next_links, collect_numbered_pages, collect_skip_take, LinkedPage, DEFAULT_MAX_PAGES,
};
pub use rate_limit::{Advisory, RateLimitHeaders, ResponseHeaders};
pub use request::{Method, Request, Response};
pub use settings::ClientSettings;
pub use status::{common_error, common_message, kind_for_status, ErrorTable, ServiceError};
