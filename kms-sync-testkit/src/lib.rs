//! # kms-sync-testkit
//!
//! The conformance suite every kms-sync destination runs, and helpers for testing them.
//!
//! A destination proves it keeps the contract — round trips, idempotence, untouched foreign
//! keys, pagination, hidden values with and without a ledger, key and value rules, the
//! deletion guard, partial failure, `remove`, and the secret canary — with one line in its
//! tests, from any crate:
//!
//! ```
//! use kms_sync_core::MemoryDestination;
//! use kms_sync_testkit::{conformance_suite, MemoryTarget};
//!
//! async fn target() -> MemoryTarget {
//!     MemoryTarget::new(MemoryDestination::builder().page_size(5).build(), 5)
//! }
//!
//! conformance_suite!(target);
//! # fn main() {}
//! ```
//!
//! The macro generates one `#[test]` per case in [`cases::ALL`] (the list
//! [`for_each_case!`] declares once), each running the factory
//! and the case on a fresh current-thread tokio runtime (so a fake server the factory starts
//! lives in the same runtime, and the canary's log capture sees every task). Implement
//! [`ConformanceTarget`] for your destination: it hands out the destination and a back door
//! into the service behind it (your fake's state). The cases need the testkit's own
//! dependencies only; your crate needs no extra dev-dependency for the macro.
//!
//! A fake of an HTTP service is built on [`fake`]: a [`fake::FakeService`] serves its router
//! and state through a [`FaultServer`], and a [`fake::FakeScope`] (one scope of the fake with
//! a destination pointed at it) is a [`ConformanceTarget`] and a [`matrix::FaultTarget`] at
//! once, ready for [`conformance_suite!`], [`fault_matrix!`], [`convergence_suite!`] and
//! [`hostile_input_suite!`].
//!
//! ## Services that answer oddly: the edge suite
//!
//! [`edge_suite!`] runs the [`edge`] cases — writes answered by a redirect or an HTML page,
//! list answers missing their list or their entries' ids, errors that echo the request —
//! through a [`proxy::BendingProxy`] put in front of the destination's own fake. A
//! [`fake::FakeScope`] joins with two declarations
//! ([`destination_via`](fake::FakeScope::destination_via): the same destination at another
//! base URL; [`list_answer`](fake::FakeScope::list_answer): where its list, ids and values
//! are) and one line in its tests:
//!
//! ```ignore
//! mod repository {
//!     kms_sync_testkit::edge_suite!(my_destination::fake::FakeTarget::repository);
//! }
//! ```
//!
//! Any other target implements [`EdgeTarget`] directly.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `names_of!(a, b, c,)` is `&["a", "b", "c"]`: the callback that turns a declared list
/// ([`for_each_case!`], [`for_each_cell!`]) into its `const` of names.
macro_rules! names_of {
    ($($name:ident),* $(,)?) => {
        &[$(stringify!($name)),*]
    };
}

mod capture;
pub mod cases;
pub mod convergence;
pub mod edge;
mod elsewhere;
pub mod fake;
mod fault;
mod hooked;
pub mod hostile;
pub mod matrix;
pub mod proxy;
mod target;

pub use capture::{CaptureGuard, CaptureWriter, LogCapture};
pub use edge::{EdgeTarget, ListAnswer};
pub use fault::{Aim, Fault, FaultServer, Faults, LoggedRequest};
pub use hooked::{before_apply, BeforeApply};
pub use target::{ConformanceTarget, MemoryTarget};

/// The per-attempt timeout of [`fake_client_settings`]: generous for loopback, short enough
/// that the fault matrix's stalled responses time out quickly.
pub const FAKE_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Transport settings for a destination pointed at a fake on loopback: the fake's base URL,
/// a budget no test waits on (pacing against real budgets is tested in the core), retries
/// in milliseconds, and a per-attempt timeout of [`FAKE_ATTEMPT_TIMEOUT`].
pub fn fake_client_settings(base_url: impl Into<String>) -> kms_sync_core::http::ClientSettings {
    kms_sync_core::http::ClientSettings::new()
        .with_timeouts(
            kms_sync_core::http::TimeoutConfig::default()
                .with_attempt(FAKE_ATTEMPT_TIMEOUT)
                .with_deadline(std::time::Duration::from_secs(60)),
        )
        .with_base_url(base_url)
        .with_rate_budget(kms_sync_core::RateBudget::new(
            100_000,
            std::time::Duration::from_secs(1),
        ))
        .with_retry(
            kms_sync_core::http::RetryConfig::default()
                .with_base_delay(std::time::Duration::from_millis(5))
                .with_max_delay(std::time::Duration::from_millis(50)),
        )
}

/// Runs a future to completion on a new current-thread tokio runtime with time and I/O
/// enabled. Used by the generated tests; handy in hand-written ones.
///
/// # Panics
///
/// If the runtime cannot be built (the test cannot run at all).
pub fn run_case<F: std::future::Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// A new current-thread tokio runtime with time and I/O enabled, for tests that keep one
/// runtime across many `block_on` calls (a fake started once, then many property cases).
///
/// # Panics
///
/// If the runtime cannot be built (the test cannot run at all).
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}

/// Generates one `#[test]` per conformance case for a target factory: an `async fn` (or a
/// path to one) taking no arguments and returning a [`ConformanceTarget`]. Call it inside a
/// module to run the suite for several configurations side by side.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:path) => {
        $crate::for_each_case!($crate::conformance_suite!(@cases $factory;));
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(async {
                    let target = $factory().await;
                    $crate::cases::$case(&target).await;
                });
            }
        )*
    };
}
