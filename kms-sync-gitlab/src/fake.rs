//! A stateful GitLab on loopback (feature `fake`): projects and groups (by numeric id or
//! URL-encoded full path), their CI/CD variables with one key in several environment
//! scopes, `PRIVATE-TOKEN` or Bearer auth, offset pagination with GitLab's headers
//! (`per_page` default 20, max 100; `x-next-page`, `x-total`, `x-total-pages`, `Link`),
//! `filter[environment_scope]` on `/:key` (409 without it when a key has several scopes),
//! masking validation (length, characters by `raw`, one line), hidden values read as
//! `null`, 400 `(<KEY>) has already been taken` on a duplicate (key, scope), 404 in GitLab's
//! words, optional `RateLimit-*` headers on every answer, and the testkit's fault injection
//! and request log.
//!
//! Built on the testkit's [fake scaffolding](kms_sync_testkit::fake): a [`FakeService`] over
//! the state, one handler per route, [`FakeScope`] for the suites.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::http::encode_segment;
use kms_sync_core::{Destination, Result};
use kms_sync_testkit::fake::{
    bearer_token, bool_field, header, must, page_slice, str_field, Answer, FailingKeys, FakeScope,
    FakeService, QueryParams, Refusal, SharedState, INJECTED_REFUSAL,
};
use kms_sync_testkit::matrix::Paging;
use kms_sync_testkit::{Faults, ListAnswer};
use serde_json::{json, Value};

use crate::config::{AccessTokenType, GitlabConnection};
use crate::destination::GitlabDestination;
use crate::scope::{GitlabConfig, ALL_ENVIRONMENTS};

/// The fake's access token.
pub const FAKE_TOKEN: &str = "glpat-fake-gitlab-token";
/// The project the fake starts with: its numeric id …
pub const PROJECT_ID: &str = "42";
/// … and its full path.
pub const PROJECT_PATH: &str = "acme/api";
/// The group the fake starts with: its numeric id …
pub const GROUP_ID: &str = "7";
/// … and its full path.
pub const GROUP_PATH: &str = "acme";

/// A project's or a group's variables.
///
/// ```
/// use kms_sync_gitlab::fake::{list_path, Kind};
/// assert_eq!(list_path(Kind::Group, "acme/platform"), "/api/v4/groups/acme%2Fplatform/variables");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/projects/:id`.
    Project,
    /// `/groups/:id`.
    Group,
}

impl Kind {
    fn parse(segment: &str) -> Option<Kind> {
        match segment {
            "projects" => Some(Kind::Project),
            "groups" => Some(Kind::Group),
            _ => None,
        }
    }

    fn segment(self) -> &'static str {
        match self {
            Kind::Project => "projects",
            Kind::Group => "groups",
        }
    }

    fn not_found(self) -> Refusal {
        let what = match self {
            Kind::Project => "Project",
            Kind::Group => "Group",
        };
        message(StatusCode::NOT_FOUND, &format!("404 {what} Not Found"))
    }
}

/// One variable as the fake stores it.
///
/// ```
/// let v = kms_sync_gitlab::fake::FakeVariable::plain("A", "1", "*");
/// assert!(!v.masked && !v.hidden && v.variable_type == "env_var");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVariable {
    /// `key`.
    pub key: String,
    /// The true value (shown as `null` when hidden).
    pub value: String,
    /// `environment_scope`.
    pub environment_scope: String,
    /// `variable_type`: `env_var` or `file`.
    pub variable_type: String,
    /// `protected`.
    pub protected: bool,
    /// `masked`.
    pub masked: bool,
    /// `hidden` (created with `masked_and_hidden`).
    pub hidden: bool,
    /// `raw`.
    pub raw: bool,
}

impl FakeVariable {
    /// A plain variable: `env_var`, nothing protected, masked, hidden or raw.
    pub fn plain(key: &str, value: &str, environment_scope: &str) -> FakeVariable {
        FakeVariable {
            key: key.to_owned(),
            value: value.to_owned(),
            environment_scope: environment_scope.to_owned(),
            variable_type: "env_var".to_owned(),
            protected: false,
            masked: false,
            hidden: false,
            raw: false,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "variable_type": self.variable_type,
            "key": self.key,
            "value": if self.hidden { Value::Null } else { json!(self.value) },
            "protected": self.protected,
            "masked": self.masked,
            "hidden": self.hidden,
            "raw": self.raw,
            "environment_scope": self.environment_scope,
            "description": Value::Null,
        })
    }
}

/// Whether GitLab would mask `value` (`raw` widens the characters allowed).
fn maskable(value: &str, raw: bool) -> bool {
    let long = value.chars().count() >= 8;
    if raw {
        long && !value.chars().any(char::is_whitespace)
    } else {
        long && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=/@:.~-".contains(c))
    }
}

fn valid_key(key: &str) -> Option<&'static str> {
    if key.len() > 255 {
        return Some("is too long (maximum is 255 characters)");
    }
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("can contain only letters, digits and '_'.");
    }
    None
}

#[derive(Debug)]
struct FakeState {
    token: String,
    lists: HashMap<(Kind, String), Vec<FakeVariable>>,
    paths: HashMap<(Kind, String), String>,
    fail_writes: FailingKeys,
}

type Shared = SharedState<FakeState>;

/// `{"message": text}` with a status.
fn message(status: StatusCode, text: &str) -> Refusal {
    Refusal::json(status, json!({ "message": text }))
}

/// `400 {"message": {attribute: [text]}}`, GitLab's validation failure.
fn invalid(attribute: &str, text: &str) -> Refusal {
    Refusal::json(
        StatusCode::BAD_REQUEST,
        json!({"message": {attribute: [text]}}),
    )
}

/// `400 {"error": text}`, Grape's parameter failure.
fn bad_param(text: &str) -> Refusal {
    Refusal::json(StatusCode::BAD_REQUEST, json!({ "error": text }))
}

fn variable_not_found() -> Refusal {
    message(StatusCode::NOT_FOUND, "404 Variable Not Found")
}

impl FakeState {
    fn allow(&self, headers: &HeaderMap) -> std::result::Result<(), Refusal> {
        let by_header = header(headers, "private-token") == Some(self.token.as_str());
        let by_bearer = bearer_token(headers) == Some(self.token.as_str());
        if by_header || by_bearer {
            Ok(())
        } else {
            Err(message(StatusCode::UNAUTHORIZED, "401 Unauthorized"))
        }
    }

    /// The list a `{kind}/{id}` path names (a numeric id or a full path).
    fn list(
        &mut self,
        kind: &str,
        id: &str,
    ) -> std::result::Result<&mut Vec<FakeVariable>, Refusal> {
        let Some(kind) = Kind::parse(kind) else {
            return Err(no_route());
        };
        let id = self
            .paths
            .get(&(kind, id.to_owned()))
            .cloned()
            .unwrap_or_else(|| id.to_owned());
        self.lists
            .get_mut(&(kind, id))
            .ok_or_else(|| kind.not_found())
    }

    fn refuse_injected(&self, key: &str) -> std::result::Result<(), Refusal> {
        if self.fail_writes.contains(key) {
            Err(message(StatusCode::FORBIDDEN, INJECTED_REFUSAL))
        } else {
            Ok(())
        }
    }
}

/// The one variable of `key` a `/:key` request picks: by `filter[environment_scope]`, or
/// the only one of that key.
fn pick<'a>(
    vars: &'a mut [FakeVariable],
    key: &str,
    query: &HashMap<String, String>,
) -> std::result::Result<&'a mut FakeVariable, Refusal> {
    let filter = query.get("filter[environment_scope]");
    let mut found: Vec<&mut FakeVariable> = vars
        .iter_mut()
        .filter(|v| v.key == key && filter.is_none_or(|s| *s == v.environment_scope))
        .collect();
    match found.len() {
        0 => Err(variable_not_found()),
        1 => Ok(found.remove(0)),
        _ => Err(Refusal::json(
            StatusCode::CONFLICT,
            json!({"message": "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'."}),
        )),
    }
}

fn no_route() -> Refusal {
    Refusal::json(StatusCode::NOT_FOUND, json!({"error": "404 Not Found"}))
}

/// GitLab's pagination headers for page `page` of `total` items by `per_page`.
fn page_headers(
    response: &mut Response,
    uri: &Uri,
    host: &str,
    page: usize,
    per_page: usize,
    total: usize,
) {
    let pages = total.div_ceil(per_page).max(1);
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let link = |p: usize, rel: &str| {
        format!(
            "<http://{host}{}?page={p}&per_page={per_page}>; rel=\"{rel}\"",
            uri.path()
        )
    };
    let mut links = vec![link(1, "first"), link(pages, "last")];
    if page < pages {
        links.insert(0, link(page + 1, "next"));
    }
    let pairs = [
        ("x-page", page.to_string()),
        ("x-per-page", per_page.to_string()),
        ("x-total", total.to_string()),
        ("x-total-pages", pages.to_string()),
        ("x-next-page", next),
        ("x-prev-page", prev),
        ("link", links.join(", ")),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// `GET /api/v4/{projects|groups}/{id}/variables`: one page.
async fn list_variables(
    State(state): State<Shared>,
    Path((kind, id)): Path<(String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    let items: Vec<Value> = s
        .list(&kind, &id)?
        .iter()
        .map(FakeVariable::to_json)
        .collect();
    let number = |name: &str| query.get(name).and_then(|p| p.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(20).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    let mut response = Json(page_slice(&items, page, per_page)).into_response();
    let host = header(&headers, "host").unwrap_or("127.0.0.1");
    page_headers(&mut response, &uri, host, page, per_page, items.len());
    Ok(response)
}

/// The attributes of a create or update body, over `var`; GitLab's checks.
fn apply_attributes(var: &mut FakeVariable, body: &Value) -> std::result::Result<(), Refusal> {
    if let Some(kind) = body.get("variable_type") {
        match kind.as_str() {
            Some(t @ ("env_var" | "file")) => var.variable_type = t.to_owned(),
            _ => return Err(bad_param("variable_type does not have a valid value")),
        }
    }
    for (field, slot) in [("protected", &mut var.protected), ("raw", &mut var.raw)] {
        if let Some(flag) = bool_field(body, field) {
            *slot = flag;
        }
    }
    if let Some(masked) = bool_field(body, "masked") {
        if var.hidden && !masked {
            return Err(invalid("masked", "cannot be unset on a hidden variable"));
        }
        var.masked = masked;
    }
    if let Some(scope) = str_field(body, "environment_scope") {
        var.environment_scope = scope.to_owned();
    }
    if let Some(value) = str_field(body, "value") {
        var.value = value.to_owned();
    }
    if var.masked && !maskable(&var.value, var.raw) {
        return Err(invalid("value", "is invalid"));
    }
    Ok(())
}

fn taken(vars: &[FakeVariable], key: &str, scope: &str) -> std::result::Result<(), Refusal> {
    if vars
        .iter()
        .any(|v| v.key == key && v.environment_scope == scope)
    {
        Err(invalid("key", &format!("({key}) has already been taken")))
    } else {
        Ok(())
    }
}

/// `POST …/variables`: creates a variable (400 "taken" for a (key, scope) that exists).
async fn create_variable(
    State(state): State<Shared>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    let key = str_field(&body, "key")
        .ok_or_else(|| bad_param("key is missing"))?
        .to_owned();
    let value = str_field(&body, "value").ok_or_else(|| bad_param("value is missing"))?;
    s.refuse_injected(&key)?;
    if let Some(problem) = valid_key(&key) {
        return Err(invalid("key", problem));
    }
    let mut var = FakeVariable::plain(&key, value, ALL_ENVIRONMENTS);
    if bool_field(&body, "masked_and_hidden") == Some(true) {
        var.masked = true;
        var.hidden = true;
    }
    apply_attributes(&mut var, &body)?;
    let vars = s.list(&kind, &id)?;
    taken(vars, &var.key, &var.environment_scope)?;
    let answer = var.to_json();
    vars.push(var);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `GET …/variables/{key}`.
async fn get_variable(
    State(state): State<Shared>,
    Path((kind, id, key)): Path<(String, String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    let var = pick(s.list(&kind, &id)?, &key, &query)?;
    Ok(Json(var.to_json()).into_response())
}

/// `PUT …/variables/{key}`: updates the variable `filter[environment_scope]` picks.
async fn update_variable(
    State(state): State<Shared>,
    Path((kind, id, key)): Path<(String, String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    s.refuse_injected(&key)?;
    let vars = s.list(&kind, &id)?;
    let current = pick(vars, &key, &query)?.clone();
    let mut updated = current.clone();
    apply_attributes(&mut updated, &body)?;
    if updated.environment_scope != current.environment_scope {
        taken(vars, &key, &updated.environment_scope)?;
    }
    let answer = updated.to_json();
    if let Some(slot) = vars.iter_mut().find(|v| **v == current) {
        *slot = updated;
    }
    Ok(Json(answer).into_response())
}

/// `DELETE …/variables/{key}`: deletes the variable `filter[environment_scope]` picks.
async fn delete_variable(
    State(state): State<Shared>,
    Path((kind, id, key)): Path<(String, String, String)>,
    Query(query): QueryParams,
    headers: HeaderMap,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    s.refuse_injected(&key)?;
    let vars = s.list(&kind, &id)?;
    let gone = pick(vars, &key, &query)?.clone();
    vars.retain(|v| *v != gone);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v4/user`.
async fn current_user(State(state): State<Shared>, headers: HeaderMap) -> Answer {
    state.lock().allow(&headers)?;
    Ok(
        Json(json!({"id": 1, "username": "fake-user", "name": "Fake User", "state": "active"}))
            .into_response(),
    )
}

async fn fallback() -> Refusal {
    no_route()
}

/// Announced rate limits: the limit per minute (0: none announced) and requests seen.
#[derive(Debug, Default)]
struct Announced {
    limit: AtomicU32,
    seen: AtomicU64,
}

impl Announced {
    /// `RateLimit-*` headers on `response`, when a limit is announced.
    fn stamp(&self, mut response: Response) -> Response {
        let limit = u64::from(self.limit.load(Ordering::Relaxed));
        if limit == 0 {
            return response;
        }
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let pairs = [
            ("ratelimit-limit", limit.to_string()),
            ("ratelimit-observed", seen.to_string()),
            (
                "ratelimit-remaining",
                limit.saturating_sub(seen).to_string(),
            ),
            ("ratelimit-reset", (now - now % 60 + 60).to_string()),
            ("ratelimit-name", "throttle_authenticated_api".to_owned()),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

fn router(announced: Arc<Announced>) -> Router<Shared> {
    let list = "/api/v4/{kind}/{id}/variables";
    let item = "/api/v4/{kind}/{id}/variables/{key}";
    Router::new()
        .route(list, get(list_variables).post(create_variable))
        .route(
            item,
            get(get_variable)
                .put(update_variable)
                .delete(delete_variable),
        )
        .route("/api/v4/user", get(current_user))
        .fallback(fallback)
        .layer(axum::middleware::map_response(move |response: Response| {
            let announced = announced.clone();
            async move { announced.stamp(response) }
        }))
}

/// A running fake GitLab. Dropping it stops the server.
///
/// ```
/// use kms_sync_gitlab::fake::{FakeGitlab, FakeVariable, Kind, PROJECT_ID, PROJECT_PATH};
/// kms_sync_testkit::run_case(async {
///     let fake = FakeGitlab::start().await;
///     fake.seed(Kind::Project, PROJECT_ID, FakeVariable::plain("A", "1", "production"));
///     assert_eq!(fake.variables(Kind::Project, PROJECT_PATH).len(), 1);
///     assert!(fake.base_url().starts_with("http://127.0.0.1:"));
/// });
/// ```
#[derive(Debug)]
pub struct FakeGitlab {
    service: FakeService<FakeState>,
    announced: Arc<Announced>,
}

impl FakeGitlab {
    /// Starts the fake with project [`PROJECT_ID`] ([`PROJECT_PATH`]), group [`GROUP_ID`]
    /// ([`GROUP_PATH`]), both without variables, and the token [`FAKE_TOKEN`].
    pub async fn start() -> FakeGitlab {
        let announced = Arc::new(Announced::default());
        let mut state = FakeState {
            token: FAKE_TOKEN.to_owned(),
            lists: HashMap::new(),
            paths: HashMap::new(),
            fail_writes: FailingKeys::default(),
        };
        for (kind, id, path) in [
            (Kind::Project, PROJECT_ID, PROJECT_PATH),
            (Kind::Group, GROUP_ID, GROUP_PATH),
        ] {
            state.lists.insert((kind, id.to_owned()), Vec::new());
            state.paths.insert((kind, path.to_owned()), id.to_owned());
        }
        FakeGitlab {
            service: FakeService::start(state, router(announced.clone())).await,
            announced,
        }
    }

    /// The base URL to give [`GitlabDestinationBuilder::with_base_url`](crate::GitlabDestinationBuilder::with_base_url).
    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.service.faults()
    }

    /// A connection with the fake's personal access token.
    pub fn connection(&self) -> GitlabConnection {
        must(
            GitlabConnection::access_token(
                Some(&self.base_url()),
                FAKE_TOKEN,
                AccessTokenType::Personal,
            ),
            "the fake's own credentials are invalid",
        )
    }

    /// A destination for `config` pointed at this fake, with fast retries and a budget fit
    /// for a loopback fake.
    ///
    /// # Errors
    ///
    /// As [`GitlabDestinationBuilder::build`](crate::GitlabDestinationBuilder::build).
    pub fn destination(&self, config: GitlabConfig) -> Result<GitlabDestination> {
        self.destination_at(config, &self.base_url())
    }

    /// As [`destination`](Self::destination), pointed at `base_url` instead (a proxy in
    /// front of this fake).
    ///
    /// # Errors
    ///
    /// As [`GitlabDestinationBuilder::build`](crate::GitlabDestinationBuilder::build).
    pub fn destination_at(
        &self,
        config: GitlabConfig,
        base_url: &str,
    ) -> Result<GitlabDestination> {
        GitlabDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .build()
    }

    /// Adds a project or group (no variables) with a numeric id and a full path.
    pub fn add(&self, kind: Kind, id: &str, path: &str) {
        let mut s = self.service.state();
        s.lists.entry((kind, id.to_owned())).or_default();
        s.paths.insert((kind, path.to_owned()), id.to_owned());
    }

    /// Puts a variable directly, as someone else would (`id`: numeric or full path).
    pub fn seed(&self, kind: Kind, id: &str, variable: FakeVariable) {
        if let Ok(vars) = self.service.state().list(kind.segment(), id) {
            vars.push(variable);
        }
    }

    /// Every variable of a project or group, every scope, as stored.
    pub fn variables(&self, kind: Kind, id: &str) -> Vec<FakeVariable> {
        self.service
            .state()
            .list(kind.segment(), id)
            .map(|vars| vars.clone())
            .unwrap_or_default()
    }

    /// The variables of one environment scope: key → true value.
    pub fn values(
        &self,
        kind: Kind,
        id: &str,
        environment_scope: &str,
    ) -> BTreeMap<String, String> {
        self.variables(kind, id)
            .into_iter()
            .filter(|v| v.environment_scope == environment_scope)
            .map(|v| (v.key, v.value))
            .collect()
    }

    /// Refuses (403) every later write of `key`, in any scope.
    pub fn fail_writes_to(&self, key: &str) {
        self.service.state().fail_writes.insert(key);
    }

    /// Sends `RateLimit-*` headers announcing `per_minute` on every later answer (0: none).
    pub fn announce_rate_limit(&self, per_minute: u32) {
        self.announced.limit.store(per_minute, Ordering::Relaxed);
        self.announced.seen.store(0, Ordering::Relaxed);
    }
}

/// Variables of another environment scope that every [`FakeTarget`] holds beside its own,
/// with keys the suites write: a sync must never touch them.
pub const DECOYS: &[(&str, &str)] = &[
    ("KMS_A", "staging-a"),
    ("KMS_B", "staging-b"),
    ("THEIRS", "staging-theirs"),
];

/// The environment scope of the [`DECOYS`].
pub const DECOY_SCOPE: &str = "staging";

/// The conformance suite's view of one environment scope of a [`FakeGitlab`] project or
/// group, beside the [`DECOYS`] of another scope.
///
/// ```
/// use kms_sync_gitlab::fake::FakeTarget;
/// kms_sync_testkit::run_case(async {
///     let target = FakeTarget::group_environment().await;
///     assert!(target.decoys_intact());
/// });
/// ```
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeGitlab,
    kind: Kind,
    id: String,
    config: GitlabConfig,
    destination: Arc<GitlabDestination>,
}

impl FakeTarget {
    /// Variables of project [`PROJECT_PATH`] (addressed by path), scope `*`.
    pub async fn project() -> FakeTarget {
        FakeTarget::over(
            Kind::Project,
            PROJECT_ID,
            GitlabConfig::project(PROJECT_PATH),
        )
        .await
    }

    /// Variables of group [`GROUP_ID`] (addressed by id), scope `production`.
    pub async fn group_environment() -> FakeTarget {
        let config = GitlabConfig::group(GROUP_ID).with_environment_scope("production");
        FakeTarget::over(Kind::Group, GROUP_ID, config).await
    }

    async fn over(kind: Kind, id: &str, config: GitlabConfig) -> FakeTarget {
        let fake = FakeGitlab::start().await;
        for (key, value) in DECOYS {
            fake.seed(kind, id, FakeVariable::plain(key, value, DECOY_SCOPE));
        }
        let destination = Arc::new(must(
            fake.destination(config.clone()),
            "building the destination",
        ));
        FakeTarget {
            fake,
            kind,
            id: id.to_owned(),
            config,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeGitlab {
        &self.fake
    }

    /// Whether the [`DECOYS`] are exactly as seeded.
    pub fn decoys_intact(&self) -> bool {
        let want: BTreeMap<String, String> = DECOYS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.fake.values(self.kind, &self.id, DECOY_SCOPE) == want
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
        let scope = self.config.environment_scope();
        self.fake
            .seed(self.kind, &self.id, FakeVariable::plain(key, value, scope));
    }

    fn contents(&self) -> BTreeMap<String, String> {
        self.fake
            .values(self.kind, &self.id, self.config.environment_scope())
    }

    fn fail_writes_to(&self, key: &str) {
        self.fake.fail_writes_to(key);
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_TOKEN.to_owned()]
    }

    fn page_size(&self) -> usize {
        crate::client::PAGE_LEN
    }

    fn list_path(&self) -> String {
        self.config.owner().collection()
    }

    fn paging(&self) -> Paging {
        Paging::Counted
    }

    fn empty_page(&self, _total: usize) -> String {
        "[]".to_owned()
    }

    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let destination = self.fake.destination_at(self.config.clone(), base_url);
        Some(Arc::new(must(destination, "building the destination")))
    }

    fn list_answer(&self) -> Option<ListAnswer> {
        Some(ListAnswer::new(self.list_path(), "", "value").with_id("environment_scope"))
    }
}

/// The path of a list, for tests: `/api/v4/projects/<encoded id>/variables`.
pub fn list_path(kind: Kind, id: &str) -> String {
    format!(
        "/api/v4/{}/{}/variables",
        kind.segment(),
        encode_segment(id)
    )
}
