//! A fake's state and server: [`FakeService`] and [`SharedState`].

use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

use crate::{FaultServer, Faults};

/// A fake's state, shared between its handlers and its back door (seeding, reading the true
/// values, injecting failures). Clones share the state. A panic while the lock is held (a
/// failing assertion in a test) does not poison it for the handlers that run afterwards.
///
/// ```
/// use kms_sync_testkit::fake::SharedState;
/// let shared = SharedState::new(vec![1, 2]);
/// let handler_side = shared.clone();
/// handler_side.lock().push(3);
/// assert_eq!(*shared.lock(), vec![1, 2, 3]);
/// ```
#[derive(Debug, Default)]
pub struct SharedState<S>(Arc<Mutex<S>>);

impl<S> Clone for SharedState<S> {
    fn clone(&self) -> Self {
        SharedState(Arc::clone(&self.0))
    }
}

impl<S> SharedState<S> {
    /// Wraps a fake's initial state.
    pub fn new(state: S) -> Self {
        SharedState(Arc::new(Mutex::new(state)))
    }

    /// Locks the state. Never fails: a poisoned lock is taken over, since the panic that
    /// poisoned it is a test failure already being reported.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        match self.0.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A running fake: its state, and its router served on `127.0.0.1` (a random port) through
/// a [`FaultServer`], so faults can be injected and every request is logged. Dropping it
/// stops the server.
///
/// Every fake (Bitbucket, Checkly, Octopus, the KMS) holds one: `start` builds the state and
/// the router, `state()` is the back door, `base_url()`, `faults()` and `client_settings()`
/// point a client at it.
///
/// ```
/// use axum::extract::State;
/// use axum::routing::get;
/// use axum::Router;
/// use kms_sync_testkit::fake::{FakeService, SharedState};
///
/// async fn names(State(state): State<SharedState<Vec<String>>>) -> String {
///     state.lock().join(",")
/// }
///
/// kms_sync_testkit::run_case(async {
///     let router = Router::new().route("/names", get(names));
///     let service = FakeService::start(vec!["a".to_owned()], router).await;
///     service.state().push("b".to_owned());
///     assert_eq!(service.state().len(), 2);
///     assert_eq!(service.url("/names"), format!("{}/names", service.base_url()));
///     let settings = service.client_settings();
///     # let _ = settings;
/// });
/// ```
#[derive(Debug)]
pub struct FakeService<S> {
    server: FaultServer,
    state: SharedState<S>,
}

impl<S: Send + 'static> FakeService<S> {
    /// Serves `router` (its handlers take `State<SharedState<S>>`) over `state`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (the test cannot run).
    pub async fn start(state: S, router: Router<SharedState<S>>) -> FakeService<S> {
        let state = SharedState::new(state);
        let server = FaultServer::start(router.with_state(state.clone())).await;
        FakeService { server, state }
    }
}

impl<S> FakeService<S> {
    /// Locks the state (see [`SharedState::lock`]).
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.state.lock()
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    /// Transport settings for a client pointed at this fake:
    /// [`fake_client_settings`](crate::fake_client_settings) with its base URL.
    pub fn client_settings(&self) -> kms_sync_core::http::ClientSettings {
        crate::fake_client_settings(self.base_url())
    }
}

/// The value of a result a fake cannot do without (its own credentials, a destination built
/// over it); an error there is a broken fake or test, so it panics with `what` and the error.
///
/// ```
/// let n: u8 = kms_sync_testkit::fake::must("7".parse::<u8>(), "parsing");
/// assert_eq!(n, 7);
/// ```
///
/// # Panics
///
/// On an error: `"{what}: {error}"`.
#[track_caller]
pub fn must<T, E: Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: {e}"),
    }
}
