//! A loopback HTTP server with programmable faults and a request log, wrapping any axum
//! router: the fakes of every destination are served through it, and the HTTP client is
//! tested against it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;

/// One injected fault, applied to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and a small JSON body), without calling the handler.
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RateLimited {
        /// The delta-seconds form.
        retry_after_secs: u64,
    },
    /// 429 with `Retry-After` as an HTTP date this far in the future.
    RateLimitedUntil(Duration),
    /// 429 with no `Retry-After`.
    RateLimitedBare,
    /// Read the request, then drop the connection without an answer.
    Drop,
    /// Wait this long before handling (past the client's per-attempt timeout).
    Stall(Duration),
    /// Call the handler and send its status and headers at once, then its body in small
    /// pieces with this pause before each (a body that trickles in).
    SlowBody(Duration),
    /// Call the handler, then replace its body with text that is not JSON.
    Malformed,
    /// Call the handler, then send only the first half of its body.
    Truncated,
    /// No fault: the request goes through untouched (a placeholder that lets aimed faults
    /// skip a request, e.g. "let the first page through, fault the second").
    Pass,
    /// Answer 200 with these bytes as a JSON body, without calling the handler (a page that
    /// lies, or a body no parser should choke on).
    Body(Vec<u8>),
    /// Answer 200 with the body the last successful `GET` of the same path returned, without
    /// calling the handler (a service that serves one page again and again). With no earlier
    /// body for the path, the request goes through untouched.
    RepeatPrevious,
}

/// Which requests a queued fault waits for.
///
/// ```
/// use kms_sync_testkit::Aim;
/// assert!(Aim::Writes.matches("DELETE", "/v1/variables/A"));
/// assert!(!Aim::Writes.matches("GET", "/v1/variables"));
/// assert!(Aim::get("/v1/variables").matches("GET", "/v1/variables?page=2"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aim {
    /// The next request, whatever it is.
    Any,
    /// The next request whose path (with `?query`, if any) starts with this prefix.
    Prefix(String),
    /// The next request with this method whose path (with `?query`) starts with the prefix.
    Request {
        /// The method, e.g. `GET`.
        method: String,
        /// The path prefix.
        prefix: String,
    },
    /// The next request that may change something: any method but `GET` and `HEAD`.
    Writes,
}

impl Aim {
    /// The next `GET` whose path starts with `prefix`.
    pub fn get(prefix: impl Into<String>) -> Aim {
        Aim::Request {
            method: "GET".to_owned(),
            prefix: prefix.into(),
        }
    }

    /// Whether a request with this method and target (path plus `?query`) is aimed at.
    pub fn matches(&self, method: &str, target: &str) -> bool {
        match self {
            Aim::Any => true,
            Aim::Prefix(prefix) => target.starts_with(prefix.as_str()),
            Aim::Request { method: m, prefix } => {
                m.eq_ignore_ascii_case(method) && target.starts_with(prefix.as_str())
            }
            Aim::Writes => {
                !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD")
            }
        }
    }
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// Header names present (lowercase); values are not kept.
    pub header_names: Vec<String>,
    /// The status answered; 0 while pending, for a dropped connection, or when the client
    /// hung up first.
    pub status: u16,
}

impl LoggedRequest {
    /// Whether a header was present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header_names
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Default)]
struct Plan {
    latency: Duration,
    queue: VecDeque<(Aim, Fault)>,
    last_bodies: HashMap<String, Bytes>,
    repeat: Option<Fault>,
    budget: Option<(usize, Duration)>,
    window: VecDeque<Instant>,
    log: Vec<LoggedRequest>,
    rate_limited: usize,
    /// Overlapping writes: the scope depth (path segments), writes in flight per scope, and
    /// each write that arrived while another of its scope was in flight.
    write_scope_depth: Option<usize>,
    writes_in_flight: HashMap<String, usize>,
    overlapping: Vec<String>,
}

/// The fault schedule and request log of a [`FaultServer`]; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
    origin: Arc<OnceLock<String>>,
}

impl Faults {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        // A panic while holding this lock is a test bug already being reported.
        match self.plan.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The base URL of the [`FaultServer`] these faults belong to (`None` for a schedule
    /// not yet served), so that a proxy can be put in front of it.
    pub fn base_url(&self) -> Option<String> {
        self.origin.get().cloned()
    }

    /// Adds latency to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.plan().latency = latency;
    }

    /// Queues faults for the next requests, in order (one fault per request).
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        self.plan()
            .queue
            .extend(faults.into_iter().map(|f| (Aim::Any, f)));
    }

    /// Queues a fault for the next request whose path (with `?query`, if any) starts with
    /// `prefix`.
    pub fn push_for(&self, prefix: impl Into<String>, fault: Fault) {
        self.push_aimed(Aim::Prefix(prefix.into()), fault);
    }

    /// Queues a fault for the next request `aim` matches. Faults aimed at the same kind of
    /// request apply in the order queued.
    pub fn push_aimed(&self, aim: Aim, fault: Fault) {
        self.plan().queue.push_back((aim, fault));
    }

    /// Applies `fault` to every request from now on (`None` to stop).
    pub fn set_always(&self, fault: Option<Fault>) {
        self.plan().repeat = fault;
    }

    /// Enforces a budget: at most `requests` in any `window`; beyond it, 429 with
    /// `Retry-After`.
    pub fn set_budget(&self, requests: usize, window: Duration) {
        let mut plan = self.plan();
        plan.budget = Some((requests, window));
        plan.window.clear();
    }

    /// Records overlapping writes from now on: a write (any method but `GET`) that arrives
    /// while another write to the same scope — the first `depth` segments of its path,
    /// e.g. `/2.0/repositories/{workspace}/{repository}` for 4 — is still being answered.
    /// For tests of "never two runs of one sync at once": give each sync its own scope and
    /// one write per run.
    ///
    /// ```
    /// let faults = kms_sync_testkit::Faults::default();
    /// faults.track_overlapping_writes(4);
    /// assert!(faults.overlapping_writes().is_empty());
    /// ```
    pub fn track_overlapping_writes(&self, depth: usize) {
        let mut plan = self.plan();
        plan.write_scope_depth = Some(depth);
        plan.writes_in_flight.clear();
        plan.overlapping.clear();
    }

    /// The scopes of the writes that overlapped another of their scope, one entry per
    /// overlapping write (see [`track_overlapping_writes`](Self::track_overlapping_writes)).
    pub fn overlapping_writes(&self) -> Vec<String> {
        self.plan().overlapping.clone()
    }

    /// Counts a write in flight; the guard counts it out when dropped (even when the client
    /// hangs up and the handler is cancelled).
    fn write_started(&self, method: &str, path: &str) -> Option<WriteInFlight> {
        let mut plan = self.plan();
        let depth = plan.write_scope_depth?;
        if method == "GET" {
            return None;
        }
        let scope: String = path
            .split('/')
            .filter(|s| !s.is_empty())
            .take(depth)
            .fold(String::new(), |acc, s| acc + "/" + s);
        let in_flight = plan.writes_in_flight.entry(scope.clone()).or_default();
        *in_flight += 1;
        if *in_flight > 1 {
            plan.overlapping.push(scope.clone());
        }
        Some(WriteInFlight {
            faults: self.clone(),
            scope,
        })
    }

    /// Clears the schedule, the budget and the log.
    pub fn reset(&self) {
        *self.plan() = Plan::default();
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.plan().log.clone()
    }

    /// The requests that arrived, by method (the service's view, for comparing with a
    /// report's counts).
    pub fn request_stats(&self) -> kms_sync_core::RequestStats {
        let counter = kms_sync_core::RequestCounter::default();
        for request in self.log() {
            counter.record(&request.method);
        }
        counter.snapshot()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.plan().log.len()
    }

    /// How many requests the budget refused with 429.
    pub fn budget_refusals(&self) -> usize {
        self.plan().rate_limited
    }

    fn next_fault(&self, method: &str, target: &str) -> (Duration, Option<Fault>, bool) {
        let mut plan = self.plan();
        let now = Instant::now();
        let over_budget = match plan.budget {
            Some((requests, window)) => {
                while plan
                    .window
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= window)
                {
                    plan.window.pop_front();
                }
                if plan.window.len() >= requests {
                    plan.rate_limited += 1;
                    true
                } else {
                    plan.window.push_back(now);
                    false
                }
            }
            None => false,
        };
        let position = plan
            .queue
            .iter()
            .position(|(aim, _)| aim.matches(method, target));
        let fault = position
            .and_then(|i| plan.queue.remove(i))
            .map(|(_, f)| f)
            .or_else(|| plan.repeat.clone());
        (plan.latency, fault, over_budget)
    }

    /// Logs an arrival; returns its index for [`finish`](Self::finish).
    fn arrive(&self, entry: LoggedRequest) -> usize {
        let mut plan = self.plan();
        plan.log.push(entry);
        plan.log.len() - 1
    }

    fn finish(&self, index: usize, status: u16) {
        if let Some(entry) = self.plan().log.get_mut(index) {
            entry.status = status;
        }
    }
}

fn json_status(status: u16, retry_after: Option<HeaderValue>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = format!(
        "{{\"statusCode\":{status},\"error\":\"{}\",\"message\":\"injected fault\"}}",
        code.canonical_reason().unwrap_or("Error")
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(value) = retry_after {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

fn json_body(bytes: Bytes) -> Response {
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// A write in flight, counted out on drop.
struct WriteInFlight {
    faults: Faults,
    scope: String,
}

impl Drop for WriteInFlight {
    fn drop(&mut self) {
        let mut plan = self.faults.plan();
        if let Some(n) = plan.writes_in_flight.get_mut(&self.scope) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn inject(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let header_names = request
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let (latency, fault, over_budget) = faults.next_fault(&method, &target);
    let is_get = method == "GET";
    // Logged on arrival: a client that hangs up cancels this handler, and the request must
    // still count.
    let _write = faults.write_started(&method, &path);
    let index = faults.arrive(LoggedRequest {
        method,
        path,
        query,
        at: Instant::now(),
        header_names,
        status: 0,
    });
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = if over_budget {
        json_status(429, Some(HeaderValue::from_static("1")))
    } else {
        match fault {
            None | Some(Fault::Pass) if is_get => {
                let key = request.uri().path().to_owned();
                let (parts, body) = next.run(request).await.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                if parts.status.is_success() {
                    faults.plan().last_bodies.insert(key, bytes.clone());
                }
                Response::from_parts(parts, Body::from(bytes))
            }
            None | Some(Fault::Pass) => next.run(request).await,
            Some(Fault::Body(body)) => json_body(Bytes::from(body)),
            Some(Fault::RepeatPrevious) => {
                let previous = faults.plan().last_bodies.get(request.uri().path()).cloned();
                match previous {
                    Some(bytes) => json_body(bytes),
                    None => next.run(request).await,
                }
            }
            Some(Fault::Status(status)) => json_status(status, None),
            Some(Fault::RateLimited { retry_after_secs }) => json_status(
                429,
                HeaderValue::from_str(&retry_after_secs.to_string()).ok(),
            ),
            Some(Fault::RateLimitedUntil(wait)) => json_status(
                429,
                HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now() + wait)).ok(),
            ),
            Some(Fault::RateLimitedBare) => json_status(429, None),
            Some(Fault::Drop) => {
                let broken = futures::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("injected drop"))
                });
                let mut response = Response::new(Body::from_stream(broken));
                response
                    .headers_mut()
                    .insert("content-length", HeaderValue::from_static("100"));
                return response;
            }
            Some(Fault::Stall(wait)) => {
                tokio::time::sleep(wait).await;
                next.run(request).await
            }
            Some(Fault::SlowBody(pause)) => {
                let (mut parts, body) = next.run(request).await.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let pieces: Vec<Bytes> = bytes.chunks(16).map(Bytes::copy_from_slice).collect();
                let trickle =
                    futures::stream::unfold(pieces.into_iter(), move |mut rest| async move {
                        let piece = rest.next()?;
                        tokio::time::sleep(pause).await;
                        Some((Ok::<Bytes, std::io::Error>(piece), rest))
                    });
                parts.headers.remove("content-length");
                Response::from_parts(parts, Body::from_stream(trickle))
            }
            Some(Fault::Malformed) => {
                let (parts, _) = next.run(request).await.into_parts();
                let mut response = Response::from_parts(parts, Body::from("{\"items\": [oops"));
                response.headers_mut().remove("content-length");
                response
            }
            Some(Fault::Truncated) => {
                let (parts, body) = next.run(request).await.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let half = bytes.slice(..bytes.len() / 2);
                let mut response = Response::from_parts(parts, Body::from(half));
                response.headers_mut().remove("content-length");
                response
            }
        }
    };
    faults.finish(index, response.status().as_u16());
    response
}

/// A router served on `127.0.0.1` with a random port, through the fault layer. Dropping it
/// stops the server.
///
/// ```
/// use axum::{routing::get, Router};
/// use kms_sync_testkit::{run_case, Fault, FaultServer};
/// run_case(async {
///     let server = FaultServer::start(Router::new().route("/ping", get(|| async { "pong" }))).await;
///     server.faults().push([Fault::Status(503)]);
///     assert!(server.url("/ping").starts_with("http://127.0.0.1:"));
/// });
/// ```
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    faults: Faults,
    task: tokio::task::JoinHandle<()>,
}

impl FaultServer {
    /// Serves `router` on loopback.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (the test cannot run).
    pub async fn start(router: Router) -> FaultServer {
        let faults = Faults::default();
        let app = router.layer(middleware::from_fn_with_state(faults.clone(), inject));
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("no local address: {e}"),
        };
        let _ = faults.origin.set(format!("http://{addr}"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultServer { addr, faults, task }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
