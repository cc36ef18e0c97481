//! A stateful Checkly on loopback (feature `fake`): account variables with the spec's paging
//! (`limit` 1–100, default 10; `page` from 1; bare arrays), secret values null on read and
//! secret one-way, 409 on a duplicate key, check groups whose `environmentVariables` a PUT
//! replaces (at most 200, each with a non-empty value), Bearer and `X-Checkly-Account`
//! checks, Boom-style error bodies, and the testkit's fault injection and request log.
//!
//! Built on the testkit's [fake scaffolding](kms_sync_testkit::fake): a [`FakeService`] over
//! the state, one handler per route, [`FakeScope`] for the suites.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::{Destination, Result};
use kms_sync_testkit::fake::{
    bool_field, masked, must, page_slice, require_header, str_field, Answer, FailingKeys,
    FakeScope, FakeService, QueryParams, Refusal, SharedState, INJECTED_REFUSAL,
};
use kms_sync_testkit::matrix::Paging;
use kms_sync_testkit::{Faults, ListAnswer};
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
    /// As a read answers: a secret's value is null.
    fn read(&self) -> Value {
        json!({"key": self.key, "value": if self.secret { Value::Null } else { json!(self.value) }, "locked": self.locked, "secret": self.secret})
    }

    /// As a write answers: the value just written.
    fn written(&self) -> Value {
        json!({"key": self.key, "value": self.value, "locked": self.locked, "secret": self.secret})
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
    /// As a read answers: secret values null.
    fn read(&self) -> Value {
        let variables = masked(&self.variables, "secret", "value");
        json!({"id": self.id, "name": self.name, "activated": true, "environmentVariables": variables})
    }
}

#[derive(Debug, Default)]
struct FakeState {
    variables: Vec<Var>,
    groups: Vec<Group>,
    fail_writes: FailingKeys,
    next_group: u64,
}

impl FakeState {
    /// Refuses a write of `key` the test asked to fail.
    fn writable(&self, key: &str) -> std::result::Result<(), Refusal> {
        if self.fail_writes.contains(key) {
            return Err(boom(StatusCode::FORBIDDEN, INJECTED_REFUSAL, &[]));
        }
        Ok(())
    }

    fn variable(&mut self, key: &str) -> std::result::Result<&mut Var, Refusal> {
        self.variables
            .iter_mut()
            .find(|v| v.key == key)
            .ok_or_else(not_found)
    }

    fn group(&mut self, id: u64) -> std::result::Result<&mut Group, Refusal> {
        self.groups
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or_else(not_found)
    }
}

type Shared = SharedState<FakeState>;

/// Checkly's (Boom's) error body, with the payload fields a validation error names.
fn boom(status: StatusCode, message: &str, fields: &[&str]) -> Refusal {
    let mut body = json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    });
    if !fields.is_empty() {
        body["validation"] = json!({"source": "payload", "keys": fields});
    }
    Refusal::json(status, body)
}

fn not_found() -> Refusal {
    boom(StatusCode::NOT_FOUND, "Not Found", &[])
}

fn empty_value() -> Refusal {
    boom(
        StatusCode::BAD_REQUEST,
        "\"value\" is not allowed to be empty",
        &["value"],
    )
}

/// Checks the Bearer key.
fn authenticated(headers: &HeaderMap) -> std::result::Result<(), Refusal> {
    require_header(
        headers,
        "authorization",
        &format!("Bearer {FAKE_API_KEY}"),
        || boom(StatusCode::UNAUTHORIZED, "Unauthorized", &[]),
    )
}

/// Checks the Bearer key and the account header.
fn allowed(headers: &HeaderMap) -> std::result::Result<(), Refusal> {
    authenticated(headers)?;
    require_header(headers, "x-checkly-account", ACCOUNT_ID, || {
        boom(StatusCode::FORBIDDEN, "Forbidden", &[])
    })
}

/// One query parameter between `min` and `max`, `default` when absent.
fn bounded(
    query: &HashMap<String, String>,
    name: &str,
    default: usize,
    (min, max): (usize, usize),
    rule: &str,
) -> std::result::Result<usize, Refusal> {
    match query.get(name).map(|l| l.parse::<usize>()) {
        None => Ok(default),
        Some(Ok(n)) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(boom(
            StatusCode::BAD_REQUEST,
            &format!("\"{name}\" must be {rule}"),
            &[name],
        )),
    }
}

/// Answers a paged list request: auth, the spec's `limit`/`page` rules, one page of `items`
/// as a bare array.
fn listed(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    items: impl FnOnce() -> Vec<Value>,
) -> Answer {
    allowed(headers)?;
    let limit = bounded(query, "limit", 10, (1, 100), "between 1 and 100")?;
    let page = bounded(query, "page", 1, (1, usize::MAX), "at least 1")?;
    Ok(Json(page_slice(&items(), page, limit)).into_response())
}

/// `GET /v1/variables`.
async fn list_variables(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): QueryParams,
) -> Answer {
    listed(&headers, &query, || {
        state.lock().variables.iter().map(Var::read).collect()
    })
}

/// `POST /v1/variables`: creates a variable (409 on a key taken).
async fn create_variable(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    allowed(&headers)?;
    let key = str_field(&body, "key").unwrap_or_default().to_owned();
    let value = str_field(&body, "value").unwrap_or_default().to_owned();
    let mut s = state.lock();
    s.writable(&key)?;
    if key.is_empty() {
        return Err(boom(
            StatusCode::BAD_REQUEST,
            "\"key\" is not allowed to be empty",
            &["key"],
        ));
    }
    if value.is_empty() {
        return Err(empty_value());
    }
    if s.variables.iter().any(|v| v.key == key) {
        return Err(boom(StatusCode::CONFLICT, "Conflict", &[]));
    }
    let var = Var {
        key,
        value,
        locked: bool_field(&body, "locked").unwrap_or(false),
        secret: bool_field(&body, "secret").unwrap_or(false),
    };
    let out = var.written();
    s.variables.push(var);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `PUT /v1/variables/{key}`: a new value; `secret` can be turned on, never off.
async fn update_variable(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Json(body): Json<Value>,
) -> Answer {
    allowed(&headers)?;
    let mut s = state.lock();
    s.writable(&key)?;
    let var = s.variable(&key)?;
    let value = str_field(&body, "value")
        .filter(|v| !v.is_empty())
        .ok_or_else(empty_value)?;
    let secret = bool_field(&body, "secret");
    if var.secret && secret == Some(false) {
        return Err(boom(
            StatusCode::BAD_REQUEST,
            "a secret variable cannot be made non-secret",
            &["secret"],
        ));
    }
    var.value = value.to_owned();
    var.secret = var.secret || secret.unwrap_or(false);
    if let Some(locked) = bool_field(&body, "locked") {
        var.locked = locked;
    }
    Ok(Json(var.written()).into_response())
}

/// `DELETE /v1/variables/{key}`.
async fn delete_variable(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    allowed(&headers)?;
    let mut s = state.lock();
    s.writable(&key)?;
    s.variable(&key)?;
    s.variables.retain(|v| v.key != key);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/check-groups`.
async fn list_groups(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): QueryParams,
) -> Answer {
    listed(&headers, &query, || {
        state.lock().groups.iter().map(Group::read).collect()
    })
}

/// `GET /v1/check-groups/{id}`.
async fn get_group(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<u64>) -> Answer {
    allowed(&headers)?;
    Ok(Json(state.lock().group(id)?.read()).into_response())
}

/// Checks a group's new `environmentVariables`: at most [`GROUP_LIMIT`], each with a
/// non-empty key and value.
fn valid_group_variables(next: &[Value]) -> std::result::Result<(), Refusal> {
    if next.len() > GROUP_LIMIT {
        return Err(boom(
            StatusCode::BAD_REQUEST,
            "\"environmentVariables\" must contain less than or equal to 200 items",
            &["environmentVariables"],
        ));
    }
    let filled = |v: &Value, field: &str| str_field(v, field).is_some_and(|s| !s.is_empty());
    if next
        .iter()
        .any(|v| !filled(v, "key") || !filled(v, "value"))
    {
        return Err(boom(
            StatusCode::BAD_REQUEST,
            "\"value\" must be a non-empty string",
            &["environmentVariables"],
        ));
    }
    Ok(())
}

fn by_key(list: &[Value]) -> BTreeMap<String, Value> {
    list.iter()
        .filter_map(|v| str_field(v, "key").map(|k| (k.to_owned(), v.clone())))
        .collect()
}

/// `PUT /v1/check-groups/{id}`: `environmentVariables`, when given, replaces the group's
/// list.
async fn update_group(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(body): Json<Value>,
) -> Answer {
    allowed(&headers)?;
    let mut s = state.lock();
    let failing = s.fail_writes.clone();
    let group = s.group(id)?;
    let Some(next) = body.get("environmentVariables").and_then(Value::as_array) else {
        return Ok(Json(group.read()).into_response());
    };
    valid_group_variables(next)?;
    if failing.any_changed(&by_key(&group.variables), &by_key(next)) {
        return Err(boom(StatusCode::FORBIDDEN, INJECTED_REFUSAL, &[]));
    }
    group.variables = next.clone();
    Ok(Json(group.read()).into_response())
}

/// `GET /v1/accounts`: the key's one account (no account header needed).
async fn list_accounts(headers: HeaderMap) -> Answer {
    authenticated(&headers)?;
    Ok(Json(json!([{"id": ACCOUNT_ID, "name": ACCOUNT_NAME, "plan": "team"}])).into_response())
}

fn router() -> Router<Shared> {
    Router::new()
        .route("/v1/variables", get(list_variables).post(create_variable))
        .route(
            "/v1/variables/{key}",
            axum::routing::put(update_variable).delete(delete_variable),
        )
        .route("/v1/check-groups", get(list_groups))
        .route("/v1/check-groups/{id}", get(get_group).put(update_group))
        .route("/v1/accounts", get(list_accounts))
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
    service: FakeService<FakeState>,
}

impl FakeChecklyServer {
    /// Starts the fake: account [`ACCOUNT_ID`], key [`FAKE_API_KEY`], no variables, no groups.
    pub async fn start() -> FakeChecklyServer {
        FakeChecklyServer {
            service: FakeService::start(FakeState::default(), router()).await,
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.service.faults()
    }

    /// A connection with the fake's key.
    pub fn connection(&self) -> ChecklyConnection {
        must(
            ChecklyConnection::new(FAKE_API_KEY),
            "the fake's own key is invalid",
        )
    }

    /// A destination for `config` pointed at this fake, with fast retries and a budget fit
    /// for a loopback fake.
    ///
    /// # Errors
    ///
    /// As [`ChecklyDestinationBuilder::build`](crate::ChecklyDestinationBuilder::build).
    pub fn destination(&self, config: ChecklyConfig) -> Result<ChecklyDestination> {
        self.destination_at(config, &self.service.base_url())
    }

    /// As [`destination`](Self::destination), pointed at `base_url` instead (a proxy in
    /// front of this fake).
    ///
    /// # Errors
    ///
    /// As [`destination`](Self::destination).
    pub fn destination_at(
        &self,
        config: ChecklyConfig,
        base_url: &str,
    ) -> Result<ChecklyDestination> {
        ChecklyDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .build()
    }

    /// Adds a check group; returns its id.
    pub fn add_group(&self, name: &str) -> u64 {
        let mut s = self.service.state();
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
        self.service.state().variables.push(Var {
            key: key.to_owned(),
            value: value.to_owned(),
            locked: false,
            secret,
        });
    }

    /// Puts a group variable directly, as someone else would.
    pub fn seed_group_variable(&self, group: u64, entry: Value) {
        if let Ok(g) = self.service.state().group(group) {
            g.variables.push(entry);
        }
    }

    /// Account variables: key → (true value, secret).
    pub fn variables(&self) -> BTreeMap<String, (String, bool)> {
        self.service
            .state()
            .variables
            .iter()
            .map(|v| (v.key.clone(), (v.value.clone(), v.secret)))
            .collect()
    }

    /// A group's variables exactly as stored (true values).
    pub fn group_variables(&self, group: u64) -> Vec<Value> {
        self.service
            .state()
            .group(group)
            .map(|g| g.variables.clone())
            .unwrap_or_default()
    }

    /// Refuses (403) every later write touching `key`.
    pub fn fail_writes_to(&self, key: &str) {
        self.service.state().fail_writes.insert(key);
    }
}

/// The conformance suite's view of the fake: account variables, or one group's.
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeChecklyServer,
    group: Option<u64>,
    config: ChecklyConfig,
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
        let destination = Arc::new(must(
            fake.destination(config.clone()),
            "building the destination",
        ));
        FakeTarget {
            fake,
            group,
            config,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeChecklyServer {
        &self.fake
    }
}

impl FakeScope for FakeTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        self.destination.clone()
    }

    fn faults(&self) -> &Faults {
        self.fake.faults()
    }

    fn seed(&self, key: &str, value: &str) {
        match self.group {
            // Foreign group entries are non-secret: a secret one would (rightly) stop every
            // sync that writes the group; the scenarios test that refusal.
            Some(id) => self.fake.seed_group_variable(
                id,
                json!({"key": key, "value": value, "locked": false, "secret": false}),
            ),
            None => self.fake.seed_variable(key, value, true),
        }
    }

    fn contents(&self) -> BTreeMap<String, String> {
        match self.group {
            Some(id) => self
                .fake
                .group_variables(id)
                .iter()
                .filter_map(|v| {
                    let (key, value) = (str_field(v, "key")?, str_field(v, "value")?);
                    Some((key.to_owned(), value.to_owned()))
                })
                .collect(),
            None => self
                .fake
                .variables()
                .into_iter()
                .map(|(k, (v, _))| (k, v))
                .collect(),
        }
    }

    fn fail_writes_to(&self, key: &str) {
        self.fake.fail_writes_to(key);
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_API_KEY.to_owned()]
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

    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let destination = self.fake.destination_at(self.config.clone(), base_url);
        Some(Arc::new(must(destination, "building the destination")))
    }

    fn list_answer(&self) -> Option<ListAnswer> {
        // Variables are addressed by key: entries carry no id.
        Some(match self.group {
            None => ListAnswer::new(self.list_path(), "", "value"),
            Some(_) => {
                ListAnswer::new(self.list_path(), "environmentVariables", "value").whole_set()
            }
        })
    }
}
