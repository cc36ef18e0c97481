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
//! - Safety: bodies capped, redirects followed only within the base URL's origin, `http://`
//!   refused except on loopback, errors carrying method, path (no query), status and the
//!   service's own message — never a request body or a credential.
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
