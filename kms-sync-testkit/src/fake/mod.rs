//! The scaffolding every stateful fake shares, so that knowing one fake means knowing all.
//!
//! A fake is a service's state behind an axum router, served on loopback through a
//! [`FaultServer`](crate::FaultServer) (injected faults, a request log):
//!
//! - [`FakeService`] starts the router with the state, and hands out the state's lock, the
//!   base URL, the fault schedule and client settings for a destination pointed at it;
//! - handlers take `State<`[`SharedState`]`<_>>` and answer [`Answer`]: a refusal (bad
//!   credentials, a 404, a validation error, an injected failure) is a [`Refusal`] returned
//!   with `?`, shaped by the fake's own error envelope;
//! - [`require_header`], [`bearer_token`], [`str_field`], [`bool_field`], [`masked`],
//!   [`page_slice`] and [`FailingKeys`] are the checks and reads every fake makes;
//! - [`FakeScope`] is one scope of a fake with a destination pointed at it; implementing it
//!   makes the type a [`ConformanceTarget`](crate::ConformanceTarget) and a
//!   [`FaultTarget`](crate::matrix::FaultTarget), ready for every suite's macro.
//!
//! ```
//! use axum::extract::State;
//! use axum::http::{HeaderMap, StatusCode};
//! use axum::response::IntoResponse;
//! use axum::routing::get;
//! use axum::{Json, Router};
//! use kms_sync_testkit::fake::{require_header, Answer, FakeService, Refusal, SharedState};
//! use serde_json::json;
//!
//! #[derive(Debug, Default)]
//! struct Counter {
//!     hits: u64,
//! }
//!
//! async fn hit(State(state): State<SharedState<Counter>>, headers: HeaderMap) -> Answer {
//!     require_header(&headers, "x-api-key", "secret", || {
//!         Refusal::json(StatusCode::UNAUTHORIZED, json!({"error": "who are you?"}))
//!     })?;
//!     let mut state = state.lock();
//!     state.hits += 1;
//!     Ok(Json(json!({"hits": state.hits})).into_response())
//! }
//!
//! kms_sync_testkit::run_case(async {
//!     let service = FakeService::start(Counter::default(), Router::new().route("/hit", get(hit))).await;
//!     assert_eq!(service.state().hits, 0);
//!     assert!(service.base_url().starts_with("http://127.0.0.1:"));
//!     assert_eq!(service.faults().count(), 0);
//! });
//! ```

mod answer;
mod scope;
mod service;

pub use answer::{
    bearer_token, bool_field, header, masked, page_slice, require_header, str_field, Answer,
    FailingKeys, QueryParams, Refusal, INJECTED_REFUSAL,
};
pub use scope::FakeScope;
pub use service::{must, FakeService, SharedState};
