//! A stateful Checkly on loopback (feature `fake`): account variables with the spec's paging
//! (`limit` 1–100, default 10; `page` from 1; bare arrays), secret values null on read and
//! secret one-way, 409 on a duplicate key, check groups whose `environmentVariables` a PUT
//! replaces (at most 200, each with a non-empty value), Bearer and `X-Checkly-Account`
//! checks, Boom-style error bodies, and the testkit's fault injection and request log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::{async_trait, Destination, RequestStats, Result};
use kms_sync_testkit::matrix::{FaultTarget, Paging};
use kms_sync_testkit::{ConformanceTarget, FaultServer, Faults};
use serde_json::{json, Value};

use crate::config::{ChecklyConfig, ChecklyConnection};
use crate::destination::ChecklyDestination;
use crate::group::GROUP_LIMIT;

/// The fake's API key.
pub const FAKE_API_KEY: &str = "cu_fake_checkly_api_key";
/// The fake's account id.
pub const ACCOUNT_ID: &str = "d43967ee-81db-4e0b-a18c-06be5c995288";
/// The fake's account name.
pub const ACCOUNT_NAME: &str = "Fake Company";

#[derive(Debug, Clone)]
struct Var {
    key: String,
    value: String,
    locked: bool,
    secret: bool,
}

impl Var {
    fn read(&self) -> Value {
        json!({"key": self.key, "value": if self.secret { Value::Null } else { json!(self.value) }, "locked": self.locked, "secret": self.secret})
    }
}

#[derive(Debug, Clone)]
struct Group {
    id: u64,
    name: String,
    /// As stored: `{key, value, locked, secret}` with the true value.
    variables: Vec<Value>,
}

impl Group {
    fn read(&self) -> Value {
        let variables: Vec<Value> = self
            .variables
            .iter()
            .map(|v| {
                let mut v = v.clone();
                if v.get("secret").and_then(Value::as_bool) == Some(true) {
                    v["value"] = Value::Null;
                }
                v
            })
            .collect();
        json!({"id": self.id, "name": self.name, "activated": true, "environmentVariables": variables})
    }
}

#[derive(Debug, Default)]
struct FakeState {
    variables: Vec<Var>,
    groups: Vec<Group>,
    fail_writes: BTreeSet<String>,
    next_group: u64,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    match state.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn boom(status: StatusCode, message: &str, fields: &[&str]) -> Response {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if !fields.is_empty() {
        body["validation"] = json!({"source": "payload", "keys": fields});
    }
    (status, Json(body)).into_response()
}

/// Checks the Bearer key and the account header; `Some` is the refusal.
fn refuse(headers: &HeaderMap) -> Option<Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {FAKE_API_KEY}")) {
        return Some(boom(StatusCode::UNAUTHORIZED, "Unauthorized", &[]));
    }
    let account = headers
        .get("x-checkly-account")
        .and_then(|v| v.to_str().ok());
    if account != Some(ACCOUNT_ID) {
        return Some(boom(StatusCode::FORBIDDEN, "Forbidden", &[]));
    }
    None
}

fn paging(query: &HashMap<String, String>) -> std::result::Result<(usize, usize), Box<Response>> {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return Err(Box::new(boom(
                StatusCode::BAD_REQUEST,
                "\"limit\" must be between 1 and 100",
                &["limit"],
            )))
        }
    };
    let page = match query.get("page").map(|p| p.parse::<usize>()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        Some(_) => {
            return Err(Box::new(boom(
                StatusCode::BAD_REQUEST,
                "\"page\" must be at least 1",
                &["page"],
            )))
        }
    };
    Ok((limit, page))
}

/// Answers a paged list request: auth, the spec's `limit`/`page` rules, one page of `items`.
fn listed(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    items: impl FnOnce() -> Vec<Value>,
) -> Response {
    if let Some(r) = refuse(headers) {
        return r;
    }
    match paging(query) {
        Ok((limit, page)) => page_of(items(), limit, page),
        Err(r) => *r,
    }
}

fn page_of(items: Vec<Value>, limit: usize, page: usize) -> Response {
    Json(
        items
            .into_iter()
            .skip((page - 1) * limit)
            .take(limit)
            .collect::<Vec<_>>(),
    )
    .into_response()
}

type Q = Query<HashMap<String, String>>;

fn router(state: Shared) -> Router {
    let variables = get(
        |State(s): State<Shared>, h: HeaderMap, Query(q): Q| async move {
            listed(&h, &q, || {
                lock(&s).variables.iter().map(Var::read).collect()
            })
        },
    )
    .post(
        |State(s): State<Shared>, h: HeaderMap, Json(b): Json<Value>| async move {
            if let Some(r) = refuse(&h) {
                return r;
            }
            let key = b
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let value = b
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut st = lock(&s);
            if st.fail_writes.contains(&key) {
                return boom(
                    StatusCode::FORBIDDEN,
                    "injected: writes to this key are refused",
                    &[],
                );
            }
            if key.is_empty() {
                return boom(
                    StatusCode::BAD_REQUEST,
                    "\"key\" is not allowed to be empty",
                    &["key"],
                );
            }
            if value.is_empty() {
                return boom(
                    StatusCode::BAD_REQUEST,
                    "\"value\" is not allowed to be empty",
                    &["value"],
                );
            }
            if st.variables.iter().any(|v| v.key == key) {
                return boom(StatusCode::CONFLICT, "Conflict", &[]);
            }
            let var = Var {
                key,
                value: value.clone(),
                locked: b.get("locked").and_then(Value::as_bool).unwrap_or(false),
                secret: b.get("secret").and_then(Value::as_bool).unwrap_or(false),
            };
            let out =
                json!({"key": var.key, "value": value, "locked": var.locked, "secret": var.secret});
            st.variables.push(var);
            (StatusCode::CREATED, Json(out)).into_response()
        },
    );
    let variable = axum::routing::put(|State(s): State<Shared>, h: HeaderMap, Path(key): Path<String>, Json(b): Json<Value>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        let mut st = lock(&s);
        if st.fail_writes.contains(&key) {
            return boom(StatusCode::FORBIDDEN, "injected: writes to this key are refused", &[]);
        }
        let Some(var) = st.variables.iter_mut().find(|v| v.key == key) else {
            return boom(StatusCode::NOT_FOUND, "Not Found", &[]);
        };
        let Some(value) = b.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()) else {
            return boom(StatusCode::BAD_REQUEST, "\"value\" is not allowed to be empty", &["value"]);
        };
        if var.secret && b.get("secret").and_then(Value::as_bool) == Some(false) {
            return boom(StatusCode::BAD_REQUEST, "a secret variable cannot be made non-secret", &["secret"]);
        }
        var.value = value.to_owned();
        if let Some(secret) = b.get("secret").and_then(Value::as_bool) {
            var.secret = var.secret || secret;
        }
        if let Some(locked) = b.get("locked").and_then(Value::as_bool) {
            var.locked = locked;
        }
        let out = json!({"key": var.key, "value": value, "locked": var.locked, "secret": var.secret});
        Json(out).into_response()
    })
    .delete(|State(s): State<Shared>, h: HeaderMap, Path(key): Path<String>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        let mut st = lock(&s);
        if st.fail_writes.contains(&key) {
            return boom(StatusCode::FORBIDDEN, "injected: writes to this key are refused", &[]);
        }
        let Some(at) = st.variables.iter().position(|v| v.key == key) else {
            return boom(StatusCode::NOT_FOUND, "Not Found", &[]);
        };
        st.variables.remove(at);
        StatusCode::NO_CONTENT.into_response()
    });
    let groups = get(
        |State(s): State<Shared>, h: HeaderMap, Query(q): Q| async move {
            listed(&h, &q, || lock(&s).groups.iter().map(Group::read).collect())
        },
    );
    let group = get(|State(s): State<Shared>, h: HeaderMap, Path(id): Path<u64>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        match lock(&s).groups.iter().find(|g| g.id == id) {
            Some(g) => Json(g.read()).into_response(),
            None => boom(StatusCode::NOT_FOUND, "Not Found", &[]),
        }
    })
    .put(|State(s): State<Shared>, h: HeaderMap, Path(id): Path<u64>, Json(b): Json<Value>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        let mut st = lock(&s);
        let failing = st.fail_writes.clone();
        let Some(group) = st.groups.iter_mut().find(|g| g.id == id) else {
            return boom(StatusCode::NOT_FOUND, "Not Found", &[]);
        };
        let Some(next) = b.get("environmentVariables").and_then(Value::as_array).cloned() else {
            return Json(group.read()).into_response();
        };
        if next.len() > GROUP_LIMIT {
            return boom(StatusCode::BAD_REQUEST, "\"environmentVariables\" must contain less than or equal to 200 items", &["environmentVariables"]);
        }
        for v in &next {
            let key_ok = v.get("key").and_then(Value::as_str).is_some_and(|k| !k.is_empty());
            let value_ok = v.get("value").and_then(Value::as_str).is_some_and(|k| !k.is_empty());
            if !key_ok || !value_ok {
                return boom(StatusCode::BAD_REQUEST, "\"value\" must be a non-empty string", &["environmentVariables"]);
            }
        }
        let by_key = |list: &[Value]| -> BTreeMap<String, Value> {
            list.iter()
                .filter_map(|v| v.get("key").and_then(Value::as_str).map(|k| (k.to_owned(), v.clone())))
                .collect()
        };
        let (before, after) = (by_key(&group.variables), by_key(&next));
        if failing.iter().any(|k| before.get(k) != after.get(k)) {
            return boom(StatusCode::FORBIDDEN, "injected: writes to this key are refused", &[]);
        }
        group.variables = next;
        Json(group.read()).into_response()
    });
    let accounts = get(|h: HeaderMap| async move {
        let auth = h.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {FAKE_API_KEY}")) {
            return boom(StatusCode::UNAUTHORIZED, "Unauthorized", &[]);
        }
        Json(json!([{"id": ACCOUNT_ID, "name": ACCOUNT_NAME, "plan": "team"}])).into_response()
    });
    Router::new()
        .route("/v1/variables", variables)
        .route("/v1/variables/{key}", variable)
        .route("/v1/check-groups", groups)
        .route("/v1/check-groups/{id}", group)
        .route("/v1/accounts", accounts)
        .with_state(state)
}

/// A running fake Checkly. Dropping it stops the server.
///
/// ```
/// use kms_sync_checkly::fake::FakeChecklyServer;
/// kms_sync_testkit::run_case(async {
///     let fake = FakeChecklyServer::start().await;
///     let id = fake.add_group("API checks");
///     assert!(id > 0);
/// });
/// ```
#[derive(Debug)]
pub struct FakeChecklyServer {
    server: FaultServer,
    state: Shared,
}

impl FakeChecklyServer {
    /// Starts the fake: account [`ACCOUNT_ID`], key [`FAKE_API_KEY`], no variables, no groups.
    pub async fn start() -> FakeChecklyServer {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let server = FaultServer::start(router(state.clone())).await;
        FakeChecklyServer { server, state }
    }

    /// The base URL.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    /// A connection with the fake's key.
    pub fn connection(&self) -> ChecklyConnection {
        match ChecklyConnection::new(FAKE_API_KEY) {
            Ok(c) => c,
            Err(e) => panic!("the fake's own key is invalid: {e}"),
        }
    }

    /// A destination for `config` pointed at this fake, with fast retries and a budget fit
    /// for a loopback fake.
    ///
    /// # Errors
    ///
    /// As [`ChecklyDestinationBuilder::build`](crate::ChecklyDestinationBuilder::build).
    pub fn destination(&self, config: ChecklyConfig) -> Result<ChecklyDestination> {
        ChecklyDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(self.base_url()))
            .build()
    }

    /// Adds a check group; returns its id.
    pub fn add_group(&self, name: &str) -> u64 {
        let mut s = lock(&self.state);
        s.next_group += 1;
        let id = s.next_group;
        s.groups.push(Group {
            id,
            name: name.to_owned(),
            variables: Vec::new(),
        });
        id
    }

    /// Puts an account variable directly, as someone else would.
    pub fn seed_variable(&self, key: &str, value: &str, secret: bool) {
        lock(&self.state).variables.push(Var {
            key: key.to_owned(),
            value: value.to_owned(),
            locked: false,
            secret,
        });
    }

    /// Puts a group variable directly, as someone else would.
    pub fn seed_group_variable(&self, group: u64, entry: Value) {
        if let Some(g) = lock(&self.state).groups.iter_mut().find(|g| g.id == group) {
            g.variables.push(entry);
        }
    }

    /// Account variables: key → (true value, secret).
    pub fn variables(&self) -> BTreeMap<String, (String, bool)> {
        lock(&self.state)
            .variables
            .iter()
            .map(|v| (v.key.clone(), (v.value.clone(), v.secret)))
            .collect()
    }

    /// A group's variables exactly as stored (true values).
    pub fn group_variables(&self, group: u64) -> Vec<Value> {
        lock(&self.state)
            .groups
            .iter()
            .find(|g| g.id == group)
            .map(|g| g.variables.clone())
            .unwrap_or_default()
    }

    /// Refuses (403) every later write touching `key`.
    pub fn fail_writes_to(&self, key: &str) {
        lock(&self.state).fail_writes.insert(key.to_owned());
    }
}

/// The conformance suite's view of the fake: account variables, or one group's.
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeChecklyServer,
    group: Option<u64>,
    destination: Arc<ChecklyDestination>,
}

impl FakeTarget {
    /// Account variables.
    pub async fn account() -> FakeTarget {
        let fake = FakeChecklyServer::start().await;
        FakeTarget::over(
            fake,
            None,
            ChecklyConfig::account(ACCOUNT_ID).with_account_name(ACCOUNT_NAME),
        )
    }

    /// A check group's variables, addressed by name.
    pub async fn group() -> FakeTarget {
        let fake = FakeChecklyServer::start().await;
        fake.add_group("Other checks");
        let id = fake.add_group("API checks");
        FakeTarget::over(
            fake,
            Some(id),
            ChecklyConfig::account(ACCOUNT_ID).with_group_name("API checks"),
        )
    }

    fn over(fake: FakeChecklyServer, group: Option<u64>, config: ChecklyConfig) -> FakeTarget {
        let destination = match fake.destination(config) {
            Ok(d) => Arc::new(d),
            Err(e) => panic!("building the destination: {e}"),
        };
        FakeTarget {
            fake,
            group,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeChecklyServer {
        &self.fake
    }
}

#[async_trait]
impl ConformanceTarget for FakeTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        self.destination.clone()
    }

    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        match self.group {
            // Foreign group entries are non-secret: a secret one would (rightly) stop every
            // sync that writes the group; the scenarios test that refusal.
            Some(id) => self.fake.seed_group_variable(
                id,
                json!({"key": key, "value": value, "locked": false, "secret": false}),
            ),
            None => self.fake.seed_variable(key, value, true),
        }
        Ok(())
    }

    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(match self.group {
            Some(id) => self
                .fake
                .group_variables(id)
                .iter()
                .filter_map(|v| {
                    Some((
                        v.get("key")?.as_str()?.to_owned(),
                        v.get("value")?.as_str()?.to_owned(),
                    ))
                })
                .collect(),
            None => self
                .fake
                .variables()
                .into_iter()
                .map(|(k, (v, _))| (k, v))
                .collect(),
        })
    }

    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        self.fake.fail_writes_to(key);
        Ok(())
    }

    fn page_size(&self) -> usize {
        crate::client::PAGE_LIMIT
    }

    fn max_entries(&self) -> usize {
        if self.group.is_some() {
            GROUP_LIMIT
        } else {
            usize::MAX
        }
    }

    fn requests_received(&self) -> RequestStats {
        self.fake.faults().request_stats()
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_API_KEY.to_owned()]
    }
}

#[async_trait]
impl FaultTarget for FakeTarget {
    fn faults(&self) -> &Faults {
        self.fake.faults()
    }

    fn list_path(&self) -> String {
        match self.group {
            None => "/v1/variables".to_owned(),
            Some(id) => format!("/v1/check-groups/{id}"),
        }
    }

    fn paging(&self) -> Paging {
        match self.group {
            None => Paging::Uncounted,
            Some(_) => Paging::OneResponse,
        }
    }

    fn empty_page(&self, _total: usize) -> String {
        "[]".to_owned()
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        kms_sync_testkit::FAKE_ATTEMPT_TIMEOUT
    }
}
