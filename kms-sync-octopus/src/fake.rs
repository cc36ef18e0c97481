//! A stateful Octopus Deploy on loopback (feature `fake`): spaces, projects (some
//! version-controlled), variable sets with `Version` bumped on every PUT and a 400 conflict on
//! a stale one, sensitive values null on read, a sensitive value kept when the PUT carries its
//! `Id` with a null or empty value and wiped when the `Id` is missing (as the real server
//! does), `ScopeValues`, frozen release snapshots refused, the API-key check, Octopus's error
//! envelope, and the testkit's fault injection and request log. A successful PUT is answered
//! with the saved set, or with `{}` when [`FakeOctopus::answer_puts_with_empty_object`] asks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::{async_trait, Destination, RequestStats, Result};
use kms_sync_testkit::matrix::{FaultTarget, Paging};
use kms_sync_testkit::{ConformanceTarget, FaultServer, Faults};
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

#[derive(Debug, Clone)]
struct Set {
    owner: String,
    version: i64,
    /// With true values.
    variables: Vec<Value>,
}

#[derive(Debug, Default)]
struct FakeState {
    projects: Vec<Project>,
    sets: HashMap<String, Set>,
    fail_writes: BTreeSet<String>,
    /// Answer a successful PUT with `{}` (as the 2026 docs give for the newer route).
    empty_put_answers: bool,
}

type Shared = Arc<Mutex<FakeState>>;

fn lock(state: &Shared) -> MutexGuard<'_, FakeState> {
    match state.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn octopus_error(status: StatusCode, message: &str, errors: &[&str]) -> Response {
    (
        status,
        Json(json!({"ErrorMessage": message, "Errors": errors})),
    )
        .into_response()
}

fn refuse(headers: &HeaderMap) -> Option<Response> {
    let key = headers
        .get("x-octopus-apikey")
        .and_then(|v| v.to_str().ok());
    (key != Some(FAKE_API_KEY)).then(|| {
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

fn read_set(id: &str, set: &Set) -> Value {
    let variables: Vec<Value> = set
        .variables
        .iter()
        .map(|v| {
            let mut v = v.clone();
            if v.get("IsSensitive").and_then(Value::as_bool) == Some(true) {
                v["Value"] = Value::Null;
            }
            v
        })
        .collect();
    json!({
        "Id": id, "OwnerId": set.owner, "SpaceId": SPACE, "Version": set.version,
        "Variables": variables, "ScopeValues": scope_values(),
        "Links": {"Self": format!("/api/{SPACE}/variables/{id}")}
    })
}

fn project_json(p: &Project) -> Value {
    json!({"Id": p.id, "Name": p.name, "Slug": p.slug, "SpaceId": SPACE, "VariableSetId": p.set, "IsVersionControlled": p.version_controlled})
}

/// Applies a PUT body to a stored set the way Octopus does.
fn put_set(
    state: &mut FakeState,
    id: &str,
    body: &Value,
) -> std::result::Result<Value, Box<Response>> {
    let bad = |errors: &[&str]| {
        Box::new(octopus_error(
            StatusCode::BAD_REQUEST,
            "There was a problem with your request.",
            errors,
        ))
    };
    if id.contains("-s-") {
        return Err(bad(&[
            "You cannot modify this variable set because the set is frozen",
        ]));
    }
    let failing = state.fail_writes.clone();
    let Some(set) = state.sets.get_mut(id) else {
        return Err(Box::new(octopus_error(
            StatusCode::NOT_FOUND,
            "The resource was not found..",
            &[],
        )));
    };
    if body.get("Version").and_then(Value::as_i64) != Some(set.version) {
        return Err(bad(&["Changes to these variables could not be saved, because another user has made changes to the variables between when you started editing and when you saved your changes. Please reload or open a new tab to make your changes."]));
    }
    let incoming = body
        .get("Variables")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ids = BTreeSet::new();
    let mut next = Vec::with_capacity(incoming.len());
    for mut v in incoming {
        match v.get("Id").and_then(Value::as_str).map(str::to_owned) {
            Some(id) => {
                if !ids.insert(id.clone()) {
                    return Err(bad(&["Variable ids must be unique."]));
                }
                let stored = set
                    .variables
                    .iter()
                    .find(|s| s.get("Id").and_then(Value::as_str) == Some(id.as_str()));
                let empty = v
                    .get("Value")
                    .is_none_or(|x| x.is_null() || x.as_str() == Some(""));
                if let Some(stored) = stored {
                    if empty && stored.get("IsSensitive").and_then(Value::as_bool) == Some(true) {
                        v["Value"] = stored["Value"].clone();
                    }
                }
            }
            None => {
                // A variable without an Id is new: a sensitive one without a value is stored empty.
                v["Id"] = json!(uuid::Uuid::new_v4().to_string());
                if v.get("Value").is_none_or(Value::is_null) {
                    v["Value"] = json!("");
                }
            }
        }
        next.push(v);
    }
    let keyed = |list: &[Value]| -> BTreeMap<String, Vec<Value>> {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for v in list {
            if let Some(name) = v.get("Name").and_then(Value::as_str) {
                map.entry(name.to_owned())
                    .or_default()
                    .push(json!([v.get("Value"), v.get("Scope")]));
            }
        }
        map
    };
    let (before, after) = (keyed(&set.variables), keyed(&next));
    if failing.iter().any(|k| before.get(k) != after.get(k)) {
        return Err(Box::new(octopus_error(
            StatusCode::FORBIDDEN,
            "injected: writes to this variable are refused",
            &[],
        )));
    }
    set.variables = next;
    set.version += 1;
    Ok(read_set(id, set))
}

fn router(state: Shared) -> Router {
    let me = get(|h: HeaderMap| async move {
        refuse(&h).unwrap_or_else(|| {
            Json(json!({"Id": "Users-1", "Username": "fake", "DisplayName": "Fake User"}))
                .into_response()
        })
    });
    let spaces = get(|h: HeaderMap| async move {
        refuse(&h).unwrap_or_else(|| {
            Json(json!([{"Id": SPACE, "Name": "Default", "Slug": "default", "IsDefault": true}]))
                .into_response()
        })
    });
    let projects = get(
        |State(s): State<Shared>, h: HeaderMap, Path(space): Path<String>| async move {
            if let Some(r) = refuse(&h) {
                return r;
            }
            if space != SPACE {
                return octopus_error(StatusCode::NOT_FOUND, "The resource was not found..", &[]);
            }
            Json(
                lock(&s)
                    .projects
                    .iter()
                    .map(project_json)
                    .collect::<Vec<_>>(),
            )
            .into_response()
        },
    );
    let project = get(
        |State(s): State<Shared>, h: HeaderMap, Path((space, wanted)): Path<(String, String)>| async move {
            if let Some(r) = refuse(&h) {
                return r;
            }
            let st = lock(&s);
            match st
                .projects
                .iter()
                .find(|p| space == SPACE && (p.id == wanted || p.slug == wanted))
            {
                Some(p) => Json(project_json(p)).into_response(),
                None => octopus_error(StatusCode::NOT_FOUND, "The resource was not found..", &[]),
            }
        },
    );
    let set = get(|State(s): State<Shared>, h: HeaderMap, Path((_space, id)): Path<(String, String)>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        match lock(&s).sets.get(&id) {
            Some(set) => Json(read_set(&id, set)).into_response(),
            None => octopus_error(StatusCode::NOT_FOUND, "The resource was not found..", &[]),
        }
    })
    .put(|State(s): State<Shared>, h: HeaderMap, Path((_space, id)): Path<(String, String)>, Json(body): Json<Value>| async move {
        if let Some(r) = refuse(&h) {
            return r;
        }
        let mut state = lock(&s);
        match put_set(&mut state, &id, &body) {
            Ok(_) if state.empty_put_answers => Json(json!({})).into_response(),
            Ok(saved) => Json(saved).into_response(),
            Err(r) => *r,
        }
    });
    Router::new()
        .route("/api/users/me", me)
        .route("/api/spaces/all", spaces)
        .route("/api/{space}/projects/all", projects)
        .route("/api/{space}/projects/{id}", project)
        .route("/api/{space}/variables/{id}", set)
        .with_state(state)
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
    server: FaultServer,
    state: Shared,
}

impl FakeOctopus {
    /// Starts the fake with space [`SPACE`] and key [`FAKE_API_KEY`]; no projects yet.
    pub async fn start() -> FakeOctopus {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let server = FaultServer::start(router(state.clone())).await;
        FakeOctopus { server, state }
    }

    /// The base URL (the instance URL).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    /// A connection to this fake.
    pub fn connection(&self) -> OctopusConnection {
        match OctopusConnection::new(self.base_url(), FAKE_API_KEY) {
            Ok(c) => c,
            Err(e) => panic!("the fake's own connection is invalid: {e}"),
        }
    }

    /// A destination for `config` pointed at this fake, with fast retries.
    ///
    /// # Errors
    ///
    /// As [`OctopusDestinationBuilder::build`](crate::OctopusDestinationBuilder::build).
    pub fn destination(&self, config: OctopusConfig) -> Result<OctopusDestination> {
        OctopusDestination::builder(self.connection(), config)
            .settings(kms_sync_testkit::fake_client_settings(self.base_url()))
            .build()
    }

    /// Adds a project (slug: the name in lowercase); returns its id and variable set id.
    pub fn add_project(&self, name: &str, version_controlled: bool) -> (String, String) {
        let mut s = lock(&self.state);
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
        if let Some(s) = lock(&self.state).sets.get_mut(set) {
            s.variables.push(variable);
            s.version += 1;
        }
    }

    /// A set's variables as stored (true values).
    pub fn variables(&self, set: &str) -> Vec<Value> {
        lock(&self.state)
            .sets
            .get(set)
            .map(|s| s.variables.clone())
            .unwrap_or_default()
    }

    /// A set's version.
    pub fn version(&self, set: &str) -> i64 {
        lock(&self.state).sets.get(set).map_or(0, |s| s.version)
    }

    /// Bumps a set's version, as an edit by someone else would.
    pub fn bump_version(&self, set: &str) {
        if let Some(s) = lock(&self.state).sets.get_mut(set) {
            s.version += 1;
        }
    }

    /// Refuses (403) every later PUT that changes a variable named `name`.
    pub fn fail_writes_to(&self, name: &str) {
        lock(&self.state).fail_writes.insert(name.to_owned());
    }

    /// Answers every later successful PUT with `{}` instead of the saved set (`false`: the
    /// saved set again), as the 2026 docs give for the newer project-variables route.
    pub fn answer_puts_with_empty_object(&self, empty: bool) {
        lock(&self.state).empty_put_answers = empty;
    }
}

/// The conformance suite's view of one project and scope of a [`FakeOctopus`].
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeOctopus,
    set: String,
    scope: ScopeValues,
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
        let destination = match fake.destination(config) {
            Ok(d) => Arc::new(d),
            Err(e) => panic!("building the destination: {e}"),
        };
        FakeTarget {
            fake,
            set,
            scope,
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

#[async_trait]
impl ConformanceTarget for FakeTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        self.destination.clone()
    }

    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        self.fake.seed(
            &self.set,
            json!({"Name": key, "Value": value, "Type": "Sensitive", "IsSensitive": true, "Scope": self.scope.to_scope_json(), "IsEditable": true, "Prompt": null}),
        );
        Ok(())
    }

    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(self
            .fake
            .variables(&self.set)
            .iter()
            .filter(|v| self.ours(v))
            .filter_map(|v| {
                Some((
                    v.get("Name")?.as_str()?.to_owned(),
                    v.get("Value")?.as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        self.fake.fail_writes_to(key);
        Ok(())
    }

    fn page_size(&self) -> usize {
        // The variable set is one document; "pages" only size the pagination case.
        100
    }

    fn max_entries(&self) -> usize {
        usize::MAX
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
        format!("/api/{SPACE}/variables/{}", self.set)
    }

    fn paging(&self) -> Paging {
        Paging::OneResponse
    }

    fn empty_page(&self, _total: usize) -> String {
        "{}".to_owned()
    }

    fn attempt_timeout(&self) -> std::time::Duration {
        kms_sync_testkit::FAKE_ATTEMPT_TIMEOUT
    }
}
