//! A stateful Bitbucket on loopback (feature `fake`): workspaces, repositories, deployment
//! environments, repository and deployment variables with real paging (`pagelen` default 10,
//! max 100, absolute `next` links), secured values omitted on read, 409
//! `variable-service.variable.duplicate` on a duplicate key (regardless of case), 404 for
//! unknown uuids, HTTP Basic and scope checks, Bitbucket's error envelope for every error,
//! and the testkit's fault injection and request log.
//!
//! Built on the testkit's [fake scaffolding](kms_sync_testkit::fake): a [`FakeService`] over
//! the state, one handler per route, [`FakeScope`] for the suites.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::http::{encode_base64, encode_segment};
use kms_sync_core::{Destination, Result};
use kms_sync_testkit::fake::{
    bool_field, must, page_slice, require_header, str_field, Answer, FailingKeys, FakeScope,
    FakeService, QueryParams, Refusal, SharedState, INJECTED_REFUSAL,
};
use kms_sync_testkit::matrix::Paging;
use kms_sync_testkit::{Faults, ListAnswer};
use serde::Deserialize;
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

const READ: &str = "read:pipeline:bitbucket";
const ADMIN: &str = "admin:pipeline:bitbucket";

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
    fail_writes: FailingKeys,
}

impl FakeState {
    /// Checks Basic auth and a scope.
    fn allow(&self, headers: &HeaderMap, scope: &str) -> std::result::Result<(), Refusal> {
        require_header(headers, "authorization", &self.expected_auth, || {
            envelope(StatusCode::UNAUTHORIZED, "Unauthorized", json!({}))
        })?;
        if !self.scopes.contains(scope) {
            return Err(envelope(
                StatusCode::FORBIDDEN,
                "Your credentials lack one or more required privilege scopes.",
                json!({"detail": {"required": [scope], "granted": self.scopes.iter().collect::<Vec<_>>()}}),
            ));
        }
        Ok(())
    }

    /// The variable list `at` addresses.
    fn variables(&mut self, at: &ListAt) -> std::result::Result<&mut Vec<Var>, Refusal> {
        variables_mut(self, &at.ws, &at.repo, at.env.as_deref())
            .ok_or_else(|| not_found("Repository or environment"))
    }

    /// Checks auth and finds the variable a PUT or DELETE addresses (refusing injected
    /// failures).
    fn writable(
        &mut self,
        headers: &HeaderMap,
        at: &ItemAt,
    ) -> std::result::Result<&mut Var, Refusal> {
        self.allow(headers, ADMIN)?;
        let failing = self.fail_writes.clone();
        let var = self
            .variables(&at.list())?
            .iter_mut()
            .find(|v| v.uuid == at.uuid)
            .ok_or_else(variable_not_found)?;
        if failing.contains(&var.key) {
            return Err(injected());
        }
        Ok(var)
    }
}

type Shared = SharedState<FakeState>;

/// A variable list's path: `{ws}/{repo}`, and `{env}` for deployment variables.
#[derive(Debug, Deserialize)]
struct ListAt {
    ws: String,
    repo: String,
    env: Option<String>,
}

/// One variable's path.
#[derive(Debug, Deserialize)]
struct ItemAt {
    ws: String,
    repo: String,
    env: Option<String>,
    uuid: String,
}

impl ItemAt {
    fn list(&self) -> ListAt {
        ListAt {
            ws: self.ws.clone(),
            repo: self.repo.clone(),
            env: self.env.clone(),
        }
    }
}

fn new_uuid() -> String {
    format!("{{{}}}", uuid::Uuid::new_v4())
}

/// Bitbucket's error envelope: `{"type": "error", "error": {"message", …extra}}`.
fn envelope(status: StatusCode, message: &str, extra: Value) -> Refusal {
    let mut error = json!({ "message": message });
    if let (Some(e), Some(x)) = (error.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            e.insert(k.clone(), v.clone());
        }
    }
    Refusal::json(status, json!({"type": "error", "error": error}))
}

fn bad_field(field: &str, message: &str) -> Refusal {
    envelope(
        StatusCode::BAD_REQUEST,
        "Bad request",
        json!({"fields": {field: [message]}}),
    )
}

fn injected() -> Refusal {
    envelope(StatusCode::FORBIDDEN, INJECTED_REFUSAL, json!({}))
}

fn variable_not_found() -> Refusal {
    envelope(
        StatusCode::NOT_FOUND,
        "Variable not found",
        json!({"data": {"key": "variable-service.variable.not-found"}}),
    )
}

fn not_found(what: &str) -> Refusal {
    envelope(
        StatusCode::NOT_FOUND,
        &format!("{what} not found"),
        json!({}),
    )
}

/// One page of `items` by `pagelen` (default 10, 1–100) and `page` (from 1), with an
/// absolute `next` link while more remain.
fn page_of(
    items: &[Value],
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    path: &str,
) -> Answer {
    let number = |name: &str| query.get(name).and_then(|p| p.parse::<usize>().ok());
    let pagelen = number("pagelen").unwrap_or(10).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let values = page_slice(items, page, pagelen);
    let mut body = json!({"page": page, "pagelen": pagelen, "size": items.len(), "values": values});
    if page * pagelen < items.len() {
        body["next"] = json!(format!(
            "http://{host}{path}?pagelen={pagelen}&page={}",
            page + 1
        ));
    }
    Ok(Json(body).into_response())
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

/// `GET …/variables`: one page of a list.
async fn list_variables(
    State(state): State<Shared>,
    Path(at): Path<ListAt>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers, READ)?;
    let deployment = at.env.is_some();
    let items: Vec<Value> = s
        .variables(&at)?
        .iter()
        .map(|v| v.to_json(deployment))
        .collect();
    page_of(&items, &query, &headers, uri.path())
}

/// `POST …/variables`: creates a variable (409 on a key taken regardless of case).
async fn create_variable(
    State(state): State<Shared>,
    Path(at): Path<ListAt>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers, ADMIN)?;
    let key = str_field(&body, "key").unwrap_or_default().to_owned();
    let value = str_field(&body, "value").unwrap_or_default().to_owned();
    let secured = bool_field(&body, "secured").unwrap_or(false);
    if s.fail_writes.contains(&key) {
        return Err(injected());
    }
    if !valid_key(&key) {
        return Err(bad_field(
            "key",
            "Use letters, '_' or numbers, and don't start with a number",
        ));
    }
    if value.is_empty() {
        return Err(bad_field("value", "This field is required."));
    }
    let vars = s.variables(&at)?;
    if vars.iter().any(|v| v.key.eq_ignore_ascii_case(&key)) {
        return Err(envelope(
            StatusCode::CONFLICT,
            "A variable with the key provided already exists.",
            json!({"data": {"key": "variable-service.variable.duplicate", "arguments": {"key": key}}}),
        ));
    }
    let var = Var {
        uuid: new_uuid(),
        key,
        value,
        secured,
    };
    let out = var.to_json(at.env.is_some());
    vars.push(var);
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `PUT …/variables/{uuid}`: changes a value (or key); `secured` cannot change.
async fn update_variable(
    State(state): State<Shared>,
    Path(at): Path<ItemAt>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut s = state.lock();
    let var = s.writable(&headers, &at)?;
    if bool_field(&body, "secured").unwrap_or(var.secured) != var.secured {
        return Err(bad_field(
            "secured",
            "cannot be changed; delete and create the variable",
        ));
    }
    match str_field(&body, "value") {
        Some("") => return Err(bad_field("value", "This field is required.")),
        Some(value) => var.value = value.to_owned(),
        None => {}
    }
    if let Some(key) = str_field(&body, "key") {
        var.key = key.to_owned();
    }
    Ok(Json(var.to_json(at.env.is_some())).into_response())
}

/// `DELETE …/variables/{uuid}`.
async fn delete_variable(
    State(state): State<Shared>,
    Path(at): Path<ItemAt>,
    headers: HeaderMap,
) -> Answer {
    let mut s = state.lock();
    let uuid = s.writable(&headers, &at)?.uuid.clone();
    s.variables(&at.list())?.retain(|v| v.uuid != uuid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /2.0/repositories/{ws}/{repo}/environments`: one page of deployment environments.
async fn list_environments(
    State(state): State<Shared>,
    Path(at): Path<ListAt>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let s = state.lock();
    s.allow(&headers, READ)?;
    let repo = s
        .repos
        .get(&(at.ws, at.repo))
        .ok_or_else(|| not_found("Repository"))?;
    let items: Vec<Value> = repo
        .environments
        .iter()
        .map(|e| json!({"type": "deployment_environment", "uuid": e.uuid, "name": e.name, "slug": e.slug}))
        .collect();
    page_of(&items, &query, &headers, uri.path())
}

/// `GET /2.0/user`.
async fn current_user(State(state): State<Shared>, headers: HeaderMap) -> Answer {
    state.lock().allow(&headers, "read:user:bitbucket")?;
    Ok(Json(json!({"type": "user", "display_name": "Fake User", "uuid": "{00000000-0000-4000-8000-000000000001}", "account_id": "fake"})).into_response())
}

/// Any other path: Bitbucket's 404.
async fn no_api() -> Refusal {
    Refusal::json(
        StatusCode::NOT_FOUND,
        json!({"type": "error", "error": {"message": "Resource not found", "detail": "There is no API hosted at this URL"}}),
    )
}

fn router() -> Router<Shared> {
    let repo = "/2.0/repositories/{ws}/{repo}";
    let repo_vars = format!("{repo}/pipelines_config/variables");
    let env_vars = format!("{repo}/deployments_config/environments/{{env}}/variables");
    let environments = format!("{repo}/environments");
    let mut router = Router::new();
    // Lists answer with and without a trailing slash.
    for list in [&repo_vars, &env_vars] {
        let collection = get(list_variables).post(create_variable);
        router = router
            .route(list, collection.clone())
            .route(&format!("{list}/"), collection)
            .route(
                &format!("{list}/{{uuid}}"),
                axum::routing::put(update_variable).delete(delete_variable),
            );
    }
    router
        .route(&environments, get(list_environments))
        .route(&format!("{environments}/"), get(list_environments))
        .route("/2.0/user", get(current_user))
        .fallback(no_api)
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
    service: FakeService<FakeState>,
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
        let state = FakeState {
            expected_auth: format!("Basic {}", basic_credentials()),
            scopes: REQUIRED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            repos,
            fail_writes: FailingKeys::default(),
        };
        FakeBitbucket {
            service: FakeService::start(state, router()).await,
        }
    }

    /// The base URL to give [`BitbucketDestinationBuilder::with_base_url`](crate::BitbucketDestinationBuilder::with_base_url).
    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.service.faults()
    }

    /// A connection with the fake's credentials.
    pub fn connection(&self) -> BitbucketConnection {
        must(
            BitbucketConnection::new(FAKE_EMAIL, FAKE_TOKEN),
            "the fake's own credentials are invalid",
        )
    }

    /// A destination for `config` pointed at this fake, with fast retries and a budget fit
    /// for a loopback fake (Bitbucket's real one, 1,000 per hour, would make tests crawl;
    /// pacing against the real budget is tested in the core).
    ///
    /// # Errors
    ///
    /// As [`BitbucketDestinationBuilder::build`](crate::BitbucketDestinationBuilder::build).
    pub fn destination(&self, config: BitbucketConfig) -> Result<BitbucketDestination> {
        self.destination_at(config, &self.base_url())
    }

    /// As [`destination`](Self::destination), pointed at `base_url` instead (a proxy in
    /// front of this fake).
    ///
    /// # Errors
    ///
    /// As [`BitbucketDestinationBuilder::build`](crate::BitbucketDestinationBuilder::build).
    pub fn destination_at(
        &self,
        config: BitbucketConfig,
        base_url: &str,
    ) -> Result<BitbucketDestination> {
        BitbucketDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .build()
    }

    /// Adds a repository.
    pub fn add_repository(&self, workspace: &str, repository: &str) {
        self.service
            .state()
            .repos
            .entry((workspace.to_owned(), repository.to_owned()))
            .or_default();
    }

    /// Adds a deployment environment (slug: the name in lowercase); returns its `{uuid}`.
    pub fn add_environment(&self, workspace: &str, repository: &str, name: &str) -> String {
        let uuid = new_uuid();
        let mut s = self.service.state();
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
        let mut s = self.service.state();
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
        let mut s = self.service.state();
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
        self.service.state().scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Refuses (403) every later write of `key`.
    pub fn fail_writes_to(&self, key: &str) {
        self.service.state().fail_writes.insert(key);
    }
}

/// The Base64 of `email:token`, as Basic auth sends it.
fn basic_credentials() -> String {
    encode_base64(format!("{FAKE_EMAIL}:{FAKE_TOKEN}").as_bytes())
}

/// The conformance suite's view of one variable list of a [`FakeBitbucket`].
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeBitbucket,
    environment: Option<String>,
    config: BitbucketConfig,
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
        let destination = Arc::new(must(
            fake.destination(config.clone()),
            "building the destination",
        ));
        FakeTarget {
            fake,
            environment,
            config,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeBitbucket {
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
        let env = self.environment.as_deref();
        self.fake.seed(WORKSPACE, REPOSITORY, env, key, value, true);
    }

    fn contents(&self) -> BTreeMap<String, String> {
        self.fake
            .variables(WORKSPACE, REPOSITORY, self.environment.as_deref())
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    }

    fn fail_writes_to(&self, key: &str) {
        self.fake.fail_writes_to(key);
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_TOKEN.to_owned(), basic_credentials()]
    }

    fn page_size(&self) -> usize {
        crate::client::PAGE_LEN
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

    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let destination = self.fake.destination_at(self.config.clone(), base_url);
        Some(Arc::new(must(destination, "building the destination")))
    }

    fn list_answer(&self) -> Option<ListAnswer> {
        Some(ListAnswer::new(self.list_path(), "values", "value").with_id("uuid"))
    }
}
