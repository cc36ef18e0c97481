//! A stateful Bitbucket on loopback (feature `fake`): workspaces, repositories, deployment
//! environments, repository and deployment variables with real paging (`pagelen` default 10,
//! max 100, absolute `next` links), secured values omitted on read, 409
//! `variable-service.variable.duplicate` on a duplicate key (regardless of case), 404 for
//! unknown uuids, HTTP Basic and scope checks, Bitbucket's error envelope for every error,
//! and the testkit's fault injection and request log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::http::{encode_base64, encode_segment};
use kms_sync_core::{async_trait, Destination, RequestStats, Result};
use kms_sync_testkit::matrix::{FaultTarget, Paging};
use kms_sync_testkit::{ConformanceTarget, FaultServer, Faults};
use serde_json::{json, Value};

use crate::config::{BitbucketConfig, BitbucketConnection, REQUIRED_SCOPES};
use crate::destination::BitbucketDestination;

/// The fake's account email.
pub const FAKE_EMAIL: &str = "fake-user@example.com";
/// The fake's API token.
pub const FAKE_TOKEN: &str = "fake-bitbucket-api-token";
/// The workspace the fake starts with.
pub const WORKSPACE: &str = "acme";
/// The repository the fake starts with.
pub const REPOSITORY: &str = "api";

#[derive(Debug, Clone)]
struct Var {
    uuid: String,
    key: String,
    value: String,
    secured: bool,
}

impl Var {
    fn to_json(&self, deployment: bool) -> Value {
        let mut v = json!({
            "type": if deployment { "deployment_variable" } else { "pipeline_variable" },
            "uuid": self.uuid,
            "key": self.key,
            "secured": self.secured,
        });
        if !self.secured {
            v["value"] = json!(self.value);
        }
        v
    }
}

#[derive(Debug, Clone)]
struct Env {
    uuid: String,
    name: String,
    slug: String,
    variables: Vec<Var>,
}

#[derive(Debug, Default)]
struct Repo {
    variables: Vec<Var>,
    environments: Vec<Env>,
}

#[derive(Debug)]
struct FakeState {
    expected_auth: String,
    scopes: BTreeSet<String>,
    repos: HashMap<(String, String), Repo>,
    fail_writes: BTreeSet<String>,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    match state.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn new_uuid() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4())
}

fn envelope(status: StatusCode, message: &str, extra: Value) -> Response {
    let mut error = json!({ "message": message });
    if let (Some(e), Some(x)) = (error.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            e.insert(k.clone(), v.clone());
        }
    }
    (status, Json(json!({"type": "error", "error": error}))).into_response()
}

fn injected() -> Response {
    envelope(
        StatusCode::FORBIDDEN,
        "injected: writes to this key are refused",
        json!({}),
    )
}

fn variable_not_found() -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        "Variable not found",
        json!({"data": {"key": "variable-service.variable.not-found"}}),
    )
}

fn not_found(what: &str) -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        &format!("{what} not found"),
        json!({}),
    )
}

/// Checks Basic auth and a scope; `Some` is the refusal to send.
fn refuse(state: &FakeState, headers: &HeaderMap, scope: &str) -> Option<Response> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    if given != Some(state.expected_auth.as_str()) {
        return Some(envelope(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            json!({}),
        ));
    }
    if !state.scopes.contains(scope) {
        return Some(envelope(
            StatusCode::FORBIDDEN,
            "Your credentials lack one or more required privilege scopes.",
            json!({"detail": {"required": [scope], "granted": state.scopes.iter().collect::<Vec<_>>()}}),
        ));
    }
    None
}

fn page_of(
    items: Vec<Value>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    path: &str,
) -> Response {
    let pagelen = query
        .get("pagelen")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * pagelen;
    let values: Vec<Value> = items.iter().skip(start).take(pagelen).cloned().collect();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut body = json!({"page": page, "pagelen": pagelen, "size": items.len(), "values": values});
    if start + pagelen < items.len() {
        body["next"] = json!(format!(
            "http://{host}{path}?pagelen={pagelen}&page={}",
            page + 1
        ));
    }
    Json(body).into_response()
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Which list a request addresses.
fn variables_mut<'a>(
    state: &'a mut FakeState,
    ws: &str,
    repo: &str,
    env: Option<&str>,
) -> Option<&'a mut Vec<Var>> {
    let repo = state.repos.get_mut(&(ws.to_owned(), repo.to_owned()))?;
    match env {
        None => Some(&mut repo.variables),
        Some(uuid) => repo
            .environments
            .iter_mut()
            .find(|e| e.uuid == uuid)
            .map(|e| &mut e.variables),
    }
}

async fn list(
    state: &Shared,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    path: &str,
    ws: &str,
    repo: &str,
    env: Option<&str>,
) -> Response {
    let mut s = lock(state);
    if let Some(r) = refuse(&s, headers, "read:pipeline:bitbucket") {
        return r;
    }
    let Some(vars) = variables_mut(&mut s, ws, repo, env) else {
        return not_found("Repository or environment");
    };
    let items = vars.iter().map(|v| v.to_json(env.is_some())).collect();
    page_of(items, query, headers, path)
}

async fn create(
    state: &Shared,
    headers: &HeaderMap,
    body: &Value,
    ws: &str,
    repo: &str,
    env: Option<&str>,
) -> Response {
    let mut s = lock(state);
    if let Some(r) = refuse(&s, headers, "admin:pipeline:bitbucket") {
        return r;
    }
    let key = body
        .get("key")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let value = body
        .get("value")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let secured = body
        .get("secured")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if s.fail_writes.contains(&key) {
        return injected();
    }
    if !valid_key(&key) {
        return envelope(
            StatusCode::BAD_REQUEST,
            "Bad request",
            json!({"fields": {"key": ["Use letters, '_' or numbers, and don't start with a number"]}}),
        );
    }
    if value.is_empty() {
        return envelope(
            StatusCode::BAD_REQUEST,
            "Bad request",
            json!({"fields": {"value": ["This field is required."]}}),
        );
    }
    let Some(vars) = variables_mut(&mut s, ws, repo, env) else {
        return not_found("Repository or environment");
    };
    if vars.iter().any(|v| v.key.eq_ignore_ascii_case(&key)) {
        return envelope(
            StatusCode::CONFLICT,
            "A variable with the key provided already exists.",
            json!({"data": {"key": "variable-service.variable.duplicate", "arguments": {"key": key}}}),
        );
    }
    let var = Var {
        uuid: new_uuid(),
        key,
        value,
        secured,
    };
    let out = var.to_json(env.is_some());
    vars.push(var);
    (StatusCode::CREATED, Json(out)).into_response()
}

/// Checks auth and finds the variable a PUT or DELETE addresses (refusing injected failures);
/// `Err` is the answer to send.
fn writable<'a>(
    s: &'a mut FakeState,
    headers: &HeaderMap,
    ws: &str,
    repo: &str,
    env: Option<&str>,
    uuid: &str,
) -> std::result::Result<(&'a mut Vec<Var>, usize), Box<Response>> {
    if let Some(r) = refuse(s, headers, "admin:pipeline:bitbucket") {
        return Err(Box::new(r));
    }
    let failing = s.fail_writes.clone();
    let vars = variables_mut(s, ws, repo, env)
        .ok_or_else(|| Box::new(not_found("Repository or environment")))?;
    let at = vars
        .iter()
        .position(|v| v.uuid == uuid)
        .ok_or_else(|| Box::new(variable_not_found()))?;
    if failing.contains(&vars[at].key) {
        return Err(Box::new(injected()));
    }
    Ok((vars, at))
}

async fn update(
    state: &Shared,
    headers: &HeaderMap,
    body: &Value,
    ws: &str,
    repo: &str,
    env: Option<&str>,
    uuid: &str,
) -> Response {
    let mut s = lock(state);
    let (vars, at) = match writable(&mut s, headers, ws, repo, env, uuid) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let var = &mut vars[at];
    let secured = body
        .get("secured")
        .and_then(Value::as_bool)
        .unwrap_or(var.secured);
    if secured != var.secured {
        return envelope(
            StatusCode::BAD_REQUEST,
            "Bad request",
            json!({"fields": {"secured": ["cannot be changed; delete and create the variable"]}}),
        );
    }
    match body.get("value").and_then(Value::as_str) {
        Some("") => {
            return envelope(
                StatusCode::BAD_REQUEST,
                "Bad request",
                json!({"fields": {"value": ["This field is required."]}}),
            )
        }
        Some(value) => var.value = value.to_owned(),
        None => {}
    }
    if let Some(key) = body.get("key").and_then(Value::as_str) {
        var.key = key.to_owned();
    }
    Json(var.to_json(env.is_some())).into_response()
}

async fn delete(
    state: &Shared,
    headers: &HeaderMap,
    ws: &str,
    repo: &str,
    env: Option<&str>,
    uuid: &str,
) -> Response {
    let mut s = lock(state);
    let (vars, at) = match writable(&mut s, headers, ws, repo, env, uuid) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    vars.remove(at);
    StatusCode::NO_CONTENT.into_response()
}

type Q = Query<HashMap<String, String>>;

fn router(state: Shared) -> Router {
    let repo_vars = "/2.0/repositories/{ws}/{repo}/pipelines_config/variables";
    let repo_var = "/2.0/repositories/{ws}/{repo}/pipelines_config/variables/{uuid}";
    let env_vars = "/2.0/repositories/{ws}/{repo}/deployments_config/environments/{env}/variables";
    let env_var =
        "/2.0/repositories/{ws}/{repo}/deployments_config/environments/{env}/variables/{uuid}";
    let environments = "/2.0/repositories/{ws}/{repo}/environments";
    let collection = get(
        |State(s): State<Shared>,
         Path((ws, repo)): Path<(String, String)>,
         Query(q): Q,
         h: HeaderMap,
         uri: axum::http::Uri| async move {
            list(&s, &h, &q, uri.path(), &ws, &repo, None).await
        },
    )
    .post(
        |State(s): State<Shared>,
         Path((ws, repo)): Path<(String, String)>,
         h: HeaderMap,
         Json(b): Json<Value>| async move { create(&s, &h, &b, &ws, &repo, None).await },
    );
    let item = axum::routing::put(
        |State(s): State<Shared>,
         Path((ws, repo, uuid)): Path<(String, String, String)>,
         h: HeaderMap,
         Json(b): Json<Value>| async move { update(&s, &h, &b, &ws, &repo, None, &uuid).await },
    )
    .delete(
        |State(s): State<Shared>,
         Path((ws, repo, uuid)): Path<(String, String, String)>,
         h: HeaderMap| async move { delete(&s, &h, &ws, &repo, None, &uuid).await },
    );
    let env_collection = get(
        |State(s): State<Shared>,
         Path((ws, repo, env)): Path<(String, String, String)>,
         Query(q): Q,
         h: HeaderMap,
         uri: axum::http::Uri| async move {
            list(&s, &h, &q, uri.path(), &ws, &repo, Some(&env)).await
        },
    )
    .post(
        |State(s): State<Shared>,
         Path((ws, repo, env)): Path<(String, String, String)>,
         h: HeaderMap,
         Json(b): Json<Value>| async move { create(&s, &h, &b, &ws, &repo, Some(&env)).await },
    );
    let env_item = axum::routing::put(
        |State(s): State<Shared>,
         Path((ws, repo, env, uuid)): Path<(String, String, String, String)>,
         h: HeaderMap,
         Json(b): Json<Value>| async move {
            update(&s, &h, &b, &ws, &repo, Some(&env), &uuid).await
        },
    )
    .delete(
        |State(s): State<Shared>,
         Path((ws, repo, env, uuid)): Path<(String, String, String, String)>,
         h: HeaderMap| async move { delete(&s, &h, &ws, &repo, Some(&env), &uuid).await },
    );
    let env_list = get(
        |State(s): State<Shared>,
         Path((ws, repo)): Path<(String, String)>,
         Query(q): Q,
         h: HeaderMap,
         uri: axum::http::Uri| async move {
            let st = lock(&s);
            if let Some(r) = refuse(&st, &h, "read:pipeline:bitbucket") {
                return r;
            }
            let Some(r) = st.repos.get(&(ws, repo)) else {
                return not_found("Repository");
            };
            let items = r
                .environments
                .iter()
                .map(|e| json!({"type": "deployment_environment", "uuid": e.uuid, "name": e.name, "slug": e.slug}))
                .collect();
            page_of(items, &q, &h, uri.path())
        },
    );
    let user = get(|State(s): State<Shared>, h: HeaderMap| async move {
        let st = lock(&s);
        match refuse(&st, &h, "read:user:bitbucket") {
            Some(r) => r,
            None => Json(json!({"type": "user", "display_name": "Fake User", "uuid": "{00000000-0000-4000-8000-000000000001}", "account_id": "fake"})).into_response(),
        }
    });
    Router::new()
        .route(repo_vars, collection.clone())
        .route(&format!("{repo_vars}/"), collection)
        .route(repo_var, item)
        .route(env_vars, env_collection.clone())
        .route(&format!("{env_vars}/"), env_collection)
        .route(env_var, env_item)
        .route(environments, env_list.clone())
        .route(&format!("{environments}/"), env_list)
        .route("/2.0/user", user)
        .fallback(|| async {
            (StatusCode::NOT_FOUND, Json(json!({"type": "error", "error": {"message": "Resource not found", "detail": "There is no API hosted at this URL"}})))
        })
        .with_state(state)
}

/// A running fake Bitbucket. Dropping it stops the server.
///
/// ```
/// use kms_sync_bitbucket::fake::FakeBitbucket;
/// kms_sync_testkit::run_case(async {
///     let fake = FakeBitbucket::start().await;
///     let uuid = fake.add_environment("acme", "api", "Production");
///     assert!(uuid.starts_with('{'));
///     assert!(fake.base_url().starts_with("http://127.0.0.1:"));
/// });
/// ```
#[derive(Debug)]
pub struct FakeBitbucket {
    server: FaultServer,
    state: Shared,
}

impl FakeBitbucket {
    /// Starts the fake with workspace [`WORKSPACE`], repository [`REPOSITORY`], the
    /// credentials [`FAKE_EMAIL`] / [`FAKE_TOKEN`] and every scope a sync needs.
    pub async fn start() -> FakeBitbucket {
        let mut repos = HashMap::new();
        repos.insert(
            (WORKSPACE.to_owned(), REPOSITORY.to_owned()),
            Repo::default(),
        );
        let state = Arc::new(Mutex::new(FakeState {
            expected_auth: format!(
                "Basic {}",
                encode_base64(format!("{FAKE_EMAIL}:{FAKE_TOKEN}").as_bytes())
            ),
            scopes: REQUIRED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            repos,
            fail_writes: BTreeSet::new(),
        }));
        let server = FaultServer::start(router(state.clone())).await;
        FakeBitbucket { server, state }
    }

    /// The base URL to give [`BitbucketDestinationBuilder::with_base_url`](crate::BitbucketDestinationBuilder::with_base_url).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    /// A connection with the fake's credentials.
    pub fn connection(&self) -> BitbucketConnection {
        match BitbucketConnection::new(FAKE_EMAIL, FAKE_TOKEN) {
            Ok(c) => c,
            Err(e) => panic!("the fake's own credentials are invalid: {e}"),
        }
    }

    /// A destination for `config` pointed at this fake, with fast retries and a budget fit
    /// for a loopback fake (Bitbucket's real one, 1,000 per hour, would make tests crawl;
    /// pacing against the real budget is tested in the core).
    ///
    /// # Errors
    ///
    /// As [`BitbucketDestinationBuilder::build`](crate::BitbucketDestinationBuilder::build).
    pub fn destination(&self, config: BitbucketConfig) -> Result<BitbucketDestination> {
        BitbucketDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(self.base_url()))
            .build()
    }

    /// Adds a repository.
    pub fn add_repository(&self, workspace: &str, repository: &str) {
        lock(&self.state)
            .repos
            .entry((workspace.to_owned(), repository.to_owned()))
            .or_default();
    }

    /// Adds a deployment environment (slug: the name in lowercase); returns its `{uuid}`.
    pub fn add_environment(&self, workspace: &str, repository: &str, name: &str) -> String {
        let uuid = new_uuid();
        let mut s = lock(&self.state);
        let repo = s
            .repos
            .entry((workspace.to_owned(), repository.to_owned()))
            .or_default();
        repo.environments.push(Env {
            uuid: uuid.clone(),
            name: name.to_owned(),
            slug: name.to_lowercase(),
            variables: Vec::new(),
        });
        uuid
    }

    /// Puts a variable directly, as someone else would (`environment`: a `{uuid}`).
    pub fn seed(
        &self,
        workspace: &str,
        repository: &str,
        environment: Option<&str>,
        key: &str,
        value: &str,
        secured: bool,
    ) {
        let mut s = lock(&self.state);
        if let Some(vars) = variables_mut(&mut s, workspace, repository, environment) {
            vars.push(Var {
                uuid: new_uuid(),
                key: key.to_owned(),
                value: value.to_owned(),
                secured,
            });
        }
    }

    /// Every variable of a list: key → (true value, secured).
    pub fn variables(
        &self,
        workspace: &str,
        repository: &str,
        environment: Option<&str>,
    ) -> BTreeMap<String, (String, bool)> {
        let mut s = lock(&self.state);
        variables_mut(&mut s, workspace, repository, environment)
            .map(|vars| {
                vars.iter()
                    .map(|v| (v.key.clone(), (v.value.clone(), v.secured)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Grants exactly these scopes.
    pub fn set_scopes(&self, scopes: &[&str]) {
        lock(&self.state).scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Refuses (403) every later write of `key`.
    pub fn fail_writes_to(&self, key: &str) {
        lock(&self.state).fail_writes.insert(key.to_owned());
    }
}

/// The conformance suite's view of one variable list of a [`FakeBitbucket`].
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeBitbucket,
    environment: Option<String>,
    destination: Arc<BitbucketDestination>,
}

impl FakeTarget {
    /// Repository variables of `acme/api`.
    pub async fn repository() -> FakeTarget {
        let fake = FakeBitbucket::start().await;
        FakeTarget::over(
            fake,
            None,
            BitbucketConfig::repository(WORKSPACE, REPOSITORY),
        )
    }

    /// Variables of a deployment environment, addressed by name.
    pub async fn deployment() -> FakeTarget {
        let fake = FakeBitbucket::start().await;
        fake.add_environment(WORKSPACE, REPOSITORY, "Staging");
        let uuid = fake.add_environment(WORKSPACE, REPOSITORY, "Production");
        let config =
            BitbucketConfig::repository(WORKSPACE, REPOSITORY).with_environment("Production");
        FakeTarget::over(fake, Some(uuid), config)
    }

    fn over(
        fake: FakeBitbucket,
        environment: Option<String>,
        config: BitbucketConfig,
    ) -> FakeTarget {
        let destination = match fake.destination(config) {
            Ok(d) => Arc::new(d),
            Err(e) => panic!("building the destination: {e}"),
        };
        FakeTarget {
            fake,
            environment,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeBitbucket {
        &self.fake
    }
}

#[async_trait]
impl ConformanceTarget for FakeTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        self.destination.clone()
    }

    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        self.fake.seed(
            WORKSPACE,
            REPOSITORY,
            self.environment.as_deref(),
            key,
            value,
            true,
        );
        Ok(())
    }

    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .fake
            .variables(WORKSPACE, REPOSITORY, self.environment.as_deref())
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect())
    }

    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        self.fake.fail_writes_to(key);
        Ok(())
    }

    fn page_size(&self) -> usize {
        crate::client::PAGE_LEN
    }

    fn max_entries(&self) -> usize {
        usize::MAX
    }

    fn requests_received(&self) -> RequestStats {
        self.fake.faults().request_stats()
    }

    fn credentials(&self) -> Vec<String> {
        vec![
            FAKE_TOKEN.to_owned(),
            encode_base64(format!("{FAKE_EMAIL}:{FAKE_TOKEN}").as_bytes()),
        ]
    }
}

#[async_trait]
impl FaultTarget for FakeTarget {
    fn faults(&self) -> &Faults {
        self.fake.faults()
    }

    fn list_path(&self) -> String {
        let base = format!("/2.0/repositories/{WORKSPACE}/{REPOSITORY}");
        match &self.environment {
            None => format!("{base}/pipelines_config/variables"),
            Some(uuid) => format!(
                "{base}/deployments_config/environments/{}/variables",
                encode_segment(uuid)
            ),
        }
    }

    fn paging(&self) -> Paging {
        Paging::Counted
    }

    fn empty_page(&self, total: usize) -> String {
        json!({"page": 2, "pagelen": crate::client::PAGE_LEN, "size": total, "values": []})
            .to_string()
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        kms_sync_testkit::FAKE_ATTEMPT_TIMEOUT
    }
}
