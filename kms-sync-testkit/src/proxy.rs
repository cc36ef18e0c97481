//! A bending proxy: a loopback HTTP proxy in front of any fake (ours or a third party's) that
//! forwards every request as it came — method, path, query, headers with credentials, body —
//! and hands back the upstream's answer, except where one of its [`Rule`]s says otherwise:
//! another status, a header set or removed, a redirect, an HTML page, a JSON field dropped, an
//! error that echoes the request, a delay, a dropped connection.
//!
//! A destination pointed at the proxy meets a service that answers oddly while the fake
//! behind it keeps the truth; the proxy's log says which requests reached the upstream.
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use kms_sync_testkit::proxy::{Action, BendingProxy, Rule};
//! use kms_sync_testkit::FaultServer;
//! use serde_json::json;
//!
//! kms_sync_testkit::run_case(async {
//!     let list = || async { Json(json!({"values": [{"uuid": "1", "key": "A"}]})) };
//!     let upstream = FaultServer::start(Router::new().route("/vars", get(list))).await;
//!     let proxy = BendingProxy::start(upstream.base_url()).await;
//!     proxy.add_rule(Rule::get("/vars", Action::DropJson("values[*].uuid".into())).once());
//!
//!     let get = |url: String| async move {
//!         let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
//!         serde_json::from_slice::<serde_json::Value>(&body).unwrap()
//!     };
//!     assert_eq!(get(proxy.url("/vars")).await, json!({"values": [{"key": "A"}]}));
//!     assert_eq!(get(proxy.url("/vars")).await["values"][0]["uuid"], "1");
//!     assert!(proxy.log().iter().all(|r| r.forwarded));
//!     assert_eq!(upstream.faults().count(), 2);
//! });
//! ```

mod bend;
mod forward;
mod rule;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;

use forward::{Answer, Incoming, Upstream};
pub use rule::{Action, Echo, Methods, Rule, Timing};

/// What the proxy saw of one request and what it did with it. No header value and no body
/// is kept.
///
/// ```
/// use kms_sync_testkit::proxy::ProxiedRequest;
/// let seen = ProxiedRequest {
///     method: "DELETE".into(),
///     path: "/v1/variables/A".into(),
///     query: None,
///     forwarded: false,
///     bent: true,
///     status: 303,
/// };
/// assert!(seen.is_write() && !seen.forwarded);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// The method, e.g. `PUT`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Whether the request was sent on to the upstream.
    pub forwarded: bool,
    /// Whether a rule acted on it.
    pub bent: bool,
    /// The status the client was answered (0 for a dropped connection).
    pub status: u16,
}

impl ProxiedRequest {
    /// Whether the method may change something (all but `GET`, `HEAD` and `OPTIONS`).
    pub fn is_write(&self) -> bool {
        Methods::Writes.matches(&self.method)
    }
}

#[derive(Debug)]
struct Armed {
    rule: Rule,
    seen: usize,
}

#[derive(Debug)]
struct Shared {
    upstream: Upstream,
    origin: String,
    rules: Mutex<Vec<Armed>>,
    log: Mutex<Vec<ProxiedRequest>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a test failure already being reported.
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Shared {
    /// The actions of every rule acting on this request, in the order the rules were added.
    fn actions_for(&self, method: &str, target: &str) -> Vec<Action> {
        let mut rules = locked(&self.rules);
        let mut actions = Vec::new();
        for armed in rules.iter_mut() {
            if armed.rule.matches(method, target) {
                armed.seen += 1;
                if armed.rule.acts_on(armed.seen) {
                    actions.push(armed.rule.action().clone());
                }
            }
        }
        actions
    }

    /// The answer of an action that does not forward.
    fn answer_instead(&self, incoming: &Incoming, action: &Action) -> Answer {
        match action {
            Action::Redirect { status, location } => {
                let mut answer = Answer::new(*status, "text/plain", Vec::new());
                answer.set_header("location", &format!("{}{location}", self.origin));
                answer
            }
            Action::EchoRequest(form) => {
                let (content_type, body) = bend::echo_body(*form, &incoming.body);
                Answer::new(400, content_type, body)
            }
            other => bend_after(Answer::new(502, "text/plain", Vec::new()), other),
        }
    }
}

/// Applies an action to the upstream's answer (actions that act before forwarding leave it).
fn bend_after(mut answer: Answer, action: &Action) -> Answer {
    match action {
        Action::Status(status) => answer.status = *status,
        Action::SetHeader { name, value } => answer.set_header(name, value),
        Action::RemoveHeader(name) => {
            answer.headers.remove(name.as_str());
        }
        Action::Replace {
            status,
            content_type,
            body,
            ..
        } => answer = Answer::new(*status, content_type, body.clone()),
        Action::DropJson(path) => answer.body = bend::drop_json(&answer.body, path),
        Action::DropConnection(_) => answer.drop_connection = true,
        Action::Redirect { .. } | Action::EchoRequest(_) | Action::Delay(_) => {}
    }
    answer
}

async fn bend(shared: &Shared, incoming: &Incoming, actions: &[Action]) -> (bool, Answer) {
    for action in actions {
        if let Action::Delay(wait) = action {
            tokio::time::sleep(*wait).await;
        }
    }
    if let Some(action) = actions.iter().find(|a| a.short_circuits()) {
        return (false, shared.answer_instead(incoming, action));
    }
    let answer = shared.upstream.send(incoming).await;
    (true, actions.iter().fold(answer, bend_after))
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let Some(incoming) = Incoming::read(request).await else {
        return Answer::new(400, "text/plain", b"unreadable request".to_vec()).into_response();
    };
    let actions = shared.actions_for(incoming.method.as_str(), &incoming.target());
    let (forwarded, answer) = bend(&shared, &incoming, &actions).await;
    locked(&shared.log).push(ProxiedRequest {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        forwarded,
        bent: !actions.is_empty(),
        status: if answer.drop_connection {
            0
        } else {
            answer.status
        },
    });
    answer.into_response()
}

/// A loopback proxy in front of an upstream (a fake's base URL), bending what passes
/// according to its rules (none at first: it forwards everything untouched). See the
/// [module documentation](self) for an example. Dropping it stops the server.
///
/// Its `Debug` shows the rules (a replaced body only by its length) and the log, never a
/// body or a header value.
#[derive(Debug)]
pub struct BendingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl BendingProxy {
    /// Starts a proxy on `127.0.0.1` (a random port) forwarding to `upstream_base_url`
    /// (`http://127.0.0.1:<port>`, optionally with a path prefix).
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or no HTTP client built (the test cannot run).
    pub async fn start(upstream_base_url: impl Into<String>) -> BendingProxy {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => panic!("cannot bind a loopback port: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("no local address: {e}"),
        };
        let shared = Arc::new(Shared {
            upstream: Upstream::new(upstream_base_url.into()),
            origin: format!("http://{addr}"),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        BendingProxy { addr, shared, task }
    }

    /// The proxy's base URL, `http://127.0.0.1:<port>`: point the destination here.
    pub fn base_url(&self) -> String {
        self.shared.origin.clone()
    }

    /// The URL of a path on the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.origin)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds a rule after the others (every rule acting on a request applies, in order).
    pub fn add_rule(&self, rule: Rule) {
        locked(&self.shared.rules).push(Armed { rule, seen: 0 });
    }

    /// Removes every rule: from now on the proxy forwards everything untouched.
    pub fn clear_rules(&self) {
        locked(&self.shared.rules).clear();
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<ProxiedRequest> {
        locked(&self.shared.log).clone()
    }

    /// How many writes reached the upstream so far.
    pub fn forwarded_writes(&self) -> usize {
        locked(&self.shared.log)
            .iter()
            .filter(|r| r.forwarded && r.is_write())
            .count()
    }
}

impl Drop for BendingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
