//! A stateful Octopus Deploy on loopback (feature `fake`): spaces, projects (some
//! version-controlled), variable sets with `Version` bumped on every PUT and a 400 conflict on
//! a stale one, sensitive values null on read, a sensitive value kept when the PUT carries its
//! `Id` with a null or empty value and wiped when the `Id` is missing (as the real server
//! does), `ScopeValues`, frozen release snapshots refused, the API-key check, Octopus's error
//! envelope, and the testkit's fault injection and request log. A successful PUT is answered
//! with the saved set (the documented answer), or with `{}` when
//! [`FakeOctopus::answer_puts_with_empty_object`] asks (which kms-sync takes as unconfirmed).
//!
//! Built on the testkit's [fake scaffolding](kms_sync_testkit::fake): a [`FakeService`] over
//! the state, one handler per route, [`FakeScope`] for the suites.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::{Destination, Result};
use kms_sync_testkit::fake::{
    bool_field, masked, must, require_header, str_field, Answer, FailingKeys, FakeScope,
    FakeService, Refusal, SharedState,
};
use kms_sync_testkit::matrix::Paging;
use kms_sync_testkit::{Faults, ListAnswer};
use serde_json::{json, Value};

use crate::config::{normalize_scope, OctopusConfig, OctopusConnection, ScopeValues};
use crate::destination::OctopusDestination;

/// The fake's API key.
pub const FAKE_API_KEY: &str = "API-FAKEOCTOPUSKEY0000000000";
/// The fake's space.
pub const SPACE: &str = "Spaces-1";

#[derive(Debug, Clone)]
struct Project {
    id: String,
    name: String,
    slug: String,
    set: String,
    version_controlled: bool,
}

impl Project {
    fn to_json(&self) -> Value {
        json!({"Id": self.id, "Name": self.name, "Slug": self.slug, "SpaceId": SPACE, "VariableSetId": self.set, "IsVersionControlled": self.version_controlled})
    }
}

#[derive(Debug, Clone)]
struct Set {
    owner: String,
    version: i64,
    /// With true values.
    variables: Vec<Value>,
}

impl Set {
    /// As a read answers: sensitive values null, the scope values every set carries.
    fn read(&self, id: &str) -> Value {
        let variables = masked(&self.variables, "IsSensitive", "Value");
        json!({
            "Id": id, "OwnerId": self.owner, "SpaceId": SPACE, "Version": self.version,
            "Variables": variables, "ScopeValues": scope_values(),
            "Links": {"Self": format!("/api/{SPACE}/variables/{id}")}
        })
    }

    /// The stored variable with this `Id`.
    fn stored(&self, id: &str) -> Option<&Value> {
        self.variables
            .iter()
            .find(|s| str_field(s, "Id") == Some(id))
    }
}

#[derive(Debug, Default)]
struct FakeState {
    projects: Vec<Project>,
    sets: HashMap<String, Set>,
    fail_writes: FailingKeys,
    /// Answer a successful PUT with `{}` (as the 2026 docs give for the newer route).
    empty_put_answers: bool,
}

type Shared = SharedState<FakeState>;

/// Octopus's error envelope.
fn octopus_error(status: StatusCode, message: &str, errors: &[&str]) -> Refusal {
    Refusal::json(status, json!({"ErrorMessage": message, "Errors": errors}))
}

fn not_found() -> Refusal {
    octopus_error(StatusCode::NOT_FOUND, "The resource was not found..", &[])
}

fn bad_request(errors: &[&str]) -> Refusal {
    octopus_error(
        StatusCode::BAD_REQUEST,
        "There was a problem with your request.",
        errors,
    )
}

/// Checks the API key.
fn allowed(headers: &HeaderMap) -> std::result::Result<(), Refusal> {
    require_header(headers, "x-octopus-apikey", FAKE_API_KEY, || {
        octopus_error(
            StatusCode::UNAUTHORIZED,
            "You must be logged in to perform this action.",
            &[],
        )
    })
}

fn scope_values() -> Value {
    json!({
        "Environments": [{"Id": "Environments-1", "Name": "Development"}, {"Id": "Environments-2", "Name": "Production"}],
        "Machines": [{"Id": "Machines-1", "Name": "web-01"}],
        "Roles": [{"Id": "web-server", "Name": "web-server"}],
        "Channels": [{"Id": "Channels-1", "Name": "Default"}],
        "Actions": [],
        "Processes": [{"Id": "deploymentprocess-Projects-1", "Name": "Deploy", "ProcessType": "Deployment"}],
        "TenantTags": []
    })
}

/// The variables a PUT saves, from those it carries, as Octopus does: a variable with a
/// known `Id` and a null or empty value keeps a stored sensitive value; one without an `Id`
/// is new (a sensitive one without a value is stored empty).
fn merged(set: &Set, incoming: Vec<Value>) -> std::result::Result<Vec<Value>, Refusal> {
    let mut ids = BTreeSet::new();
    let mut next = Vec::with_capacity(incoming.len());
    for mut v in incoming {
        match str_field(&v, "Id").map(str::to_owned) {
            Some(id) => {
                if !ids.insert(id.clone()) {
                    return Err(bad_request(&["Variable ids must be unique."]));
                }
                let empty = v
                    .get("Value")
                    .is_none_or(|x| x.is_null() || x.as_str() == Some(""));
                if let Some(stored) = set.stored(&id) {
                    if empty && bool_field(stored, "IsSensitive") == Some(true) {
                        v["Value"] = stored["Value"].clone();
                    }
                }
            }
            None => {
                v["Id"] = json!(uuid::Uuid::new_v4().to_string());
                if v.get("Value").is_none_or(Value::is_null) {
                    v["Value"] = json!("");
                }
            }
        }
        next.push(v);
    }
    Ok(next)
}

/// Each name's values and scopes, to see which names a PUT changes.
fn by_name(list: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for v in list {
        if let Some(name) = str_field(v, "Name") {
            map.entry(name.to_owned())
                .or_default()
                .push(json!([v.get("Value"), v.get("Scope")]));
        }
    }
    map
}

/// Applies a PUT body to a stored set the way Octopus does; returns the saved set.
fn put_set(state: &mut FakeState, id: &str, body: &Value) -> std::result::Result<Value, Refusal> {
    if id.contains("-s-") {
        return Err(bad_request(&[
            "You cannot modify this variable set because the set is frozen",
        ]));
    }
    let failing = state.fail_writes.clone();
    let set = state.sets.get_mut(id).ok_or_else(not_found)?;
    if body.get("Version").and_then(Value::as_i64) != Some(set.version) {
        return Err(bad_request(&["Changes to these variables could not be saved, because another user has made changes to the variables between when you started editing and when you saved your changes. Please reload or open a new tab to make your changes."]));
    }
    let incoming = body
        .get("Variables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = merged(set, incoming)?;
    if failing.any_changed(&by_name(&set.variables), &by_name(&next)) {
        return Err(octopus_error(
            StatusCode::FORBIDDEN,
            "injected: writes to this variable are refused",
            &[],
        ));
    }
    set.variables = next;
    set.version += 1;
    Ok(set.read(id))
}

/// `GET /api/users/me`.
async fn current_user(headers: HeaderMap) -> Answer {
    allowed(&headers)?;
    Ok(
        Json(json!({"Id": "Users-1", "Username": "fake", "DisplayName": "Fake User"}))
            .into_response(),
    )
}

/// `GET /api/spaces/all`.
async fn list_spaces(headers: HeaderMap) -> Answer {
    allowed(&headers)?;
    Ok(
        Json(json!([{"Id": SPACE, "Name": "Default", "Slug": "default", "IsDefault": true}]))
            .into_response(),
    )
}

/// `GET /api/{space}/projects/all`.
async fn list_projects(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(space): Path<String>,
) -> Answer {
    allowed(&headers)?;
    if space != SPACE {
        return Err(not_found());
    }
    let projects: Vec<Value> = state.lock().projects.iter().map(Project::to_json).collect();
    Ok(Json(projects).into_response())
}

/// `GET /api/{space}/projects/{id}`: by id or slug.
async fn get_project(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((space, wanted)): Path<(String, String)>,
) -> Answer {
    allowed(&headers)?;
    let s = state.lock();
    let project = s
        .projects
        .iter()
        .find(|p| space == SPACE && (p.id == wanted || p.slug == wanted))
        .ok_or_else(not_found)?;
    Ok(Json(project.to_json()).into_response())
}

/// `GET /api/{space}/variables/{id}`.
async fn get_set(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_space, id)): Path<(String, String)>,
) -> Answer {
    allowed(&headers)?;
    let s = state.lock();
    let set = s.sets.get(&id).ok_or_else(not_found)?;
    Ok(Json(set.read(&id)).into_response())
}

/// `PUT /api/{space}/variables/{id}`.
async fn update_set(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((_space, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Answer {
    allowed(&headers)?;
    let mut s = state.lock();
    let saved = put_set(&mut s, &id, &body)?;
    Ok(if s.empty_put_answers {
        Json(json!({})).into_response()
    } else {
        Json(saved).into_response()
    })
}

fn router() -> Router<Shared> {
    Router::new()
        .route("/api/users/me", get(current_user))
        .route("/api/spaces/all", get(list_spaces))
        .route("/api/{space}/projects/all", get(list_projects))
        .route("/api/{space}/projects/{id}", get(get_project))
        .route("/api/{space}/variables/{id}", get(get_set).put(update_set))
}

/// A running fake Octopus Deploy. Dropping it stops the server.
///
/// ```
/// use kms_sync_octopus::fake::FakeOctopus;
/// kms_sync_testkit::run_case(async {
///     let fake = FakeOctopus::start().await;
///     let (project, set) = fake.add_project("Web", false);
///     assert_eq!(set, format!("variableset-{project}"));
/// });
/// ```
#[derive(Debug)]
pub struct FakeOctopus {
    service: FakeService<FakeState>,
}

impl FakeOctopus {
    /// Starts the fake with space [`SPACE`] and key [`FAKE_API_KEY`]; no projects yet.
    pub async fn start() -> FakeOctopus {
        FakeOctopus {
            service: FakeService::start(FakeState::default(), router()).await,
        }
    }

    /// The base URL (the instance URL).
    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.service.faults()
    }

    /// A connection to this fake.
    pub fn connection(&self) -> OctopusConnection {
        must(
            OctopusConnection::new(self.base_url(), FAKE_API_KEY),
            "the fake's own connection is invalid",
        )
    }

    /// A destination for `config` pointed at this fake, with fast retries.
    ///
    /// # Errors
    ///
    /// As [`OctopusDestinationBuilder::build`](crate::OctopusDestinationBuilder::build).
    pub fn destination(&self, config: OctopusConfig) -> Result<OctopusDestination> {
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
        config: OctopusConfig,
        base_url: &str,
    ) -> Result<OctopusDestination> {
        OctopusDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .build()
    }

    /// Adds a project (slug: the name in lowercase); returns its id and variable set id.
    pub fn add_project(&self, name: &str, version_controlled: bool) -> (String, String) {
        let mut s = self.service.state();
        let id = format!("Projects-{}", s.projects.len() + 1);
        let set = format!("variableset-{id}");
        s.projects.push(Project {
            id: id.clone(),
            name: name.to_owned(),
            slug: name.to_lowercase(),
            set: set.clone(),
            version_controlled,
        });
        s.sets.insert(
            set.clone(),
            Set {
                owner: id.clone(),
                version: 1,
                variables: Vec::new(),
            },
        );
        (id, set)
    }

    /// Puts a variable object into a set directly (an `Id` is added if missing).
    pub fn seed(&self, set: &str, mut variable: Value) {
        if variable.get("Id").is_none() {
            variable["Id"] = json!(uuid::Uuid::new_v4().to_string());
        }
        if let Some(s) = self.service.state().sets.get_mut(set) {
            s.variables.push(variable);
            s.version += 1;
        }
    }

    /// A set's variables as stored (true values).
    pub fn variables(&self, set: &str) -> Vec<Value> {
        self.service
            .state()
            .sets
            .get(set)
            .map(|s| s.variables.clone())
            .unwrap_or_default()
    }

    /// A set's version.
    pub fn version(&self, set: &str) -> i64 {
        self.service.state().sets.get(set).map_or(0, |s| s.version)
    }

    /// Bumps a set's version, as an edit by someone else would.
    pub fn bump_version(&self, set: &str) {
        if let Some(s) = self.service.state().sets.get_mut(set) {
            s.version += 1;
        }
    }

    /// Refuses (403) every later PUT that changes a variable named `name`.
    pub fn fail_writes_to(&self, name: &str) {
        self.service.state().fail_writes.insert(name);
    }

    /// Answers every later successful PUT with `{}` instead of the saved set (`false`: the
    /// saved set again), as the 2026 docs give for the newer project-variables route. On
    /// the route kms-sync uses that is not the documented answer: the write is unconfirmed.
    pub fn answer_puts_with_empty_object(&self, empty: bool) {
        self.service.state().empty_put_answers = empty;
    }
}

/// The conformance suite's view of one project and scope of a [`FakeOctopus`].
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeOctopus,
    set: String,
    scope: ScopeValues,
    config: OctopusConfig,
    destination: Arc<OctopusDestination>,
}

impl FakeTarget {
    /// Unscoped variables of a project addressed by slug.
    pub async fn unscoped() -> FakeTarget {
        FakeTarget::with_scope(ScopeValues::default()).await
    }

    /// Variables scoped to one environment and one role.
    pub async fn scoped() -> FakeTarget {
        FakeTarget::with_scope(ScopeValues {
            environments: vec!["Environments-2".into()],
            roles: vec!["web-server".into()],
            ..ScopeValues::default()
        })
        .await
    }

    async fn with_scope(scope: ScopeValues) -> FakeTarget {
        let fake = FakeOctopus::start().await;
        let (_, set) = fake.add_project("Web", false);
        let config = OctopusConfig::project(SPACE, "web").with_scope_values(scope.clone());
        let destination = Arc::new(must(
            fake.destination(config.clone()),
            "building the destination",
        ));
        FakeTarget {
            fake,
            set,
            scope,
            config,
            destination,
        }
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeOctopus {
        &self.fake
    }

    fn ours(&self, v: &Value) -> bool {
        let scope: Vec<(String, Vec<String>)> = self
            .scope
            .normalized()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        normalize_scope(v.get("Scope")) == scope
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
        self.fake.seed(
            &self.set,
            json!({"Name": key, "Value": value, "Type": "Sensitive", "IsSensitive": true, "Scope": self.scope.to_scope_json(), "IsEditable": true, "Prompt": null}),
        );
    }

    fn contents(&self) -> BTreeMap<String, String> {
        self.fake
            .variables(&self.set)
            .iter()
            .filter(|v| self.ours(v))
            .filter_map(|v| {
                let (name, value) = (str_field(v, "Name")?, str_field(v, "Value")?);
                Some((name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    fn fail_writes_to(&self, key: &str) {
        self.fake.fail_writes_to(key);
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_API_KEY.to_owned()]
    }

    fn page_size(&self) -> usize {
        // The variable set is one document; "pages" only size the pagination case.
        100
    }

    fn list_path(&self) -> String {
        format!("/api/{SPACE}/variables/{}", self.set)
    }

    fn paging(&self) -> Paging {
        Paging::OneResponse
    }

    fn empty_page(&self, _total: usize) -> String {
        "{}".to_owned()
    }

    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let destination = self.fake.destination_at(self.config.clone(), base_url);
        Some(Arc::new(must(destination, "building the destination")))
    }

    fn list_answer(&self) -> Option<ListAnswer> {
        let answer = ListAnswer::new(self.list_path(), "Variables", "Value").with_id("Id");
        Some(answer.whole_set())
    }
}
