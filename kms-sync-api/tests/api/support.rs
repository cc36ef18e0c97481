//! The gate every test passes — a reachable PostgreSQL and a schema of the test's own, or a
//! clear skip (a failure when `CI=true`), from `kms_sync_fleet::testing` — and a running
//! API.

use kms_sync_api::{ApiBuilder, Auth};
use std::time::Duration;

use kms_sync_core::{DestinationRegistry, Error, Result};
use kms_sync_fleet::{KeyRing, SyncRegistry};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The API's token in these tests.
pub const TOKEN: &str = "kms-sync-api-test-token-0123456789";
/// The body limit of the tests' API.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Where the tests' API serves its OpenAPI document.
pub const OPENAPI_PATH: &str = "/openapi.json";

/// `let db = db!("test_name");` — the test's database, or return (skipped).
macro_rules! db {
    ($test:expr) => {
        match $crate::support::database($test).await {
            Some(db) => db,
            None => return Ok(()),
        }
    };
}

/// `let (db, api) = started!("test_name");` — the test's database and the tests' [`Api`]
/// over it, or return (skipped).
macro_rules! started {
    ($test:expr) => {{
        let db = db!($test);
        let api = $crate::support::Api::start(&db).await?;
        (db, api)
    }};
}

/// `let s = seeded!("test_name");` — [`Seeded`] over the test's database, or return
/// (skipped).
macro_rules! seeded {
    ($test:expr) => {
        $crate::support::Seeded::new(db!($test)).await?
    };
}

pub use kms_sync_fleet::testing::TestDb;

/// This crate's test database: `kms_sync_fleet::testing`, the same gate as the fleet's
/// tests (a failure, not a skip, when `CI=true`).
pub async fn database(test: &str) -> Option<TestDb> {
    kms_sync_fleet::testing::database("kms-sync-api", test).await
}

/// Any foreign error as a test failure.
pub fn fail(e: impl std::fmt::Display) -> Error {
    Error::unexpected(e.to_string())
}

/// The three destinations.
pub fn destinations() -> DestinationRegistry {
    DestinationRegistry::new()
        .with(kms_sync_bitbucket::BitbucketFactory)
        .with(kms_sync_checkly::ChecklyFactory)
        .with(kms_sync_octopus::OctopusFactory)
}

/// The tests' registry over `db`: the three destinations, key ring `k1`.
pub async fn registry(db: &TestDb) -> Result<SyncRegistry> {
    registry_of(db, destinations()).await
}

/// A registry over `db` serving `destinations`, key ring `k1`.
pub async fn registry_of(db: &TestDb, destinations: DestinationRegistry) -> Result<SyncRegistry> {
    SyncRegistry::builder(db.pool().await?, destinations)
        .key_ring(KeyRing::new("k1", [0x5a; 32])?)
        .build()
}

/// Creates a `memory` connection named `name` in `project` (expecting 200); its id.
pub async fn memory_connection(api: &Api, name: &str, project: &str) -> Result<String> {
    let body = json!({"name": name, "method": "none", "projectId": project, "credentials": {}});
    let got = api
        .post("/api/v1/app-connections/memory", &body.to_string())
        .await?;
    expect(&got, 200, "a memory connection")?;
    Ok(text(&got.body, "/appConnection/id").to_owned())
}

/// The API on 127.0.0.1 over `db`, and a client for it.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
    pub registry: SyncRegistry,
}

/// An answer: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl Api {
    /// Starts the API (token [`TOKEN`], body limit [`BODY_LIMIT`], the OpenAPI document at
    /// [`OPENAPI_PATH`]) on a free port.
    pub async fn start(db: &TestDb) -> Result<Api> {
        Api::with_registry(registry(db).await?).await
    }

    /// The API over `registry`, as [`start`](Self::start).
    pub async fn with_registry(registry: SyncRegistry) -> Result<Api> {
        Api::custom(registry, Auth::bearer_tokens([TOKEN])?, |b| b).await
    }

    /// The API over `registry` authenticating with `auth`, its builder changed by
    /// `configure` after the tests' own settings (generous rate limits unless changed).
    pub async fn custom(
        registry: SyncRegistry,
        auth: Auth,
        configure: impl FnOnce(ApiBuilder) -> ApiBuilder,
    ) -> Result<Api> {
        let builder = ApiBuilder::new(registry.clone(), auth)
            .read_limit(kms_sync_api::RateLimit::new(
                100_000,
                Duration::from_secs(3600),
            )?)
            .write_limit(kms_sync_api::RateLimit::new(
                100_000,
                Duration::from_secs(3600),
            )?)
            .openapi_path(OPENAPI_PATH)
            .body_limit(BODY_LIMIT)
            .org_id("6f03caa1-a5de-43ce-b127-95a145d3464c")
            .removal_poll(Duration::from_millis(50), Duration::from_secs(20))
            // The sample credentials are not real: no test reaches a real service. The
            // tests of the check turn it on against the fakes.
            .verify_connections(false);
        let router = configure(builder).build()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(fail)?;
        let base = format!("http://{}", listener.local_addr().map_err(fail)?);
        tokio::spawn(async move {
            let _ = kms_sync_api::axum::serve(listener, router).await;
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(fail)?;
        Ok(Api {
            base,
            client,
            registry,
        })
    }

    /// `method path` with the token and, if given, a JSON body.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Result<Answer> {
        self.call_as(TOKEN, method, path, body).await
    }

    /// `method path` with `token` and, if given, a JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Answer> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        answer(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer> {
        self.call(Method::GET, path, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Answer> {
        self.call(Method::DELETE, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &str) -> Result<Answer> {
        self.call(Method::POST, path, Some(body)).await
    }
}

/// Every credential and secret value the tests send: no answer, header or body, may
/// carry one (the canary every test's answers pass through).
pub const CANARIES: &[&str] = &[
    "<YOUR-API-TOKEN>",
    "cu_0123456789abcdef",
    "API-0123456789ABCDEF",
    kms_sync_bitbucket::fake::FAKE_TOKEN,
    kms_sync_checkly::fake::FAKE_API_KEY,
    kms_sync_octopus::fake::FAKE_API_KEY,
    "postgres://v1",
    "postgres://v2",
    TOKEN,
    VALUE_CANARY,
];

/// What validation tests send where a value does not fit: no answer may echo it.
pub const VALUE_CANARY: &str = "canary-value-SECRET-0042";

/// A 422's issues, each checked against the KMS's shape (`path`, `message`, `code`).
pub fn issues(what: &str, got: &Answer) -> Result<Vec<Value>> {
    expect(got, 422, what)?;
    let body = &got.body;
    let list = body["message"].as_array().cloned().unwrap_or_default();
    let shaped = body["error"] == json!("ValidationFailure")
        && body["statusCode"] == json!(422)
        && body["reqId"].is_string()
        && !list.is_empty()
        && list
            .iter()
            .all(|i| i["path"].is_array() && i["message"].is_string() && i["code"].is_string());
    if !shaped {
        return Err(Error::unexpected(format!("{what}: {body}")));
    }
    Ok(list)
}

/// The first issue of a 422 (checked as [`issues`]): its path and its message.
pub fn first_issue(what: &str, got: &Answer) -> Result<(Value, String)> {
    let list = issues(what, got)?;
    let first = list.first().cloned().unwrap_or(Value::Null);
    Ok((first["path"].clone(), text(&first, "/message").to_owned()))
}

/// Fails when `text` (an answer) carries a canary.
pub fn scan(what: &str, text: &str) -> Result<()> {
    match CANARIES.iter().find(|c| text.contains(**c)) {
        Some(canary) => Err(Error::unexpected(format!(
            "{what} carries the credential or secret value `{canary}`"
        ))),
        None => Ok(()),
    }
}

/// Sends `request` and reads its answer, failing if it carries a [`CANARIES`] value.
pub async fn answer(request: reqwest::RequestBuilder) -> Result<Answer> {
    let response = request.send().await.map_err(fail)?;
    let status = response.status();
    scan("an answer's headers", &format!("{:?}", response.headers()))?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.map_err(fail)?;
    scan("an answer", &text)?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        body,
        retry_after,
    })
}

/// The project of the KMS's sync samples.
pub const SAMPLE_PROJECT: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";

/// A fixture from `tests/fixtures/`. The KMS's Bitbucket connection sample names another
/// project (`7ffbb072-…`) than its sync samples; a project's connection is usable only
/// inside its project, so the connection is read into the syncs' project.
pub fn fixture(name: &str) -> Result<String> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).map_err(fail)?;
    Ok(match name {
        "bitbucket-connection.json" => {
            text.replace("7ffbb072-2575-495a-b5b0-127f88caef78", SAMPLE_PROJECT)
        }
        _ => text,
    })
}

/// A sample sync body with its `connectionId` replaced by `id`.
pub fn with_connection(body: &str, id: &str) -> String {
    body.replace(
        "\"connectionId\": \"3c90c3cc-0d44-4b50-8888-8dd25736052a\"",
        &format!("\"connectionId\": \"{id}\""),
    )
}

/// A string field of a JSON value, or "".
pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Fails with `what` and `shown` (the body that broke the promise) unless `ok`.
pub fn ensure(ok: bool, what: &str, shown: impl std::fmt::Display) -> Result<()> {
    if ok {
        return Ok(());
    }
    Err(Error::unexpected(format!("{what}: {shown}")))
}

/// The `id` of each item of the list `field` of an answer's body.
pub fn ids(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .map(|a| a.iter().map(|c| text(c, "/id").to_owned()).collect())
        .unwrap_or_default()
}

/// Fails unless the list `field` of `got`'s body holds exactly the ids `want`, in any order.
pub fn lists_exactly(what: &str, got: &Answer, field: &str, mut want: Vec<String>) -> Result<()> {
    let mut listed = ids(&got.body, field);
    listed.sort();
    want.sort();
    let shown = format!("listed {listed:?}, want {want:?}");
    ensure(listed == want, what, shown)
}

/// Checks an answer's status, naming the body when it differs.
pub fn expect(answer: &Answer, status: u16, what: &str) -> Result<()> {
    if answer.status.as_u16() == status {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected {status}, got {} {}",
        answer.status, answer.body
    )))
}

/// Everything the registry holds, as one text: connections, syncs, versions, statuses,
/// pending triggers.
pub async fn snapshot(db: &TestDb, api: &Api) -> Result<String> {
    let mut out = String::new();
    for kind in api.registry.destinations().kinds() {
        for c in api.registry.connections().list(kind, None).await? {
            out.push_str(&format!(
                "{} {} {} v{} {:?}\n",
                c.id, c.name, c.credentials, c.version, c.credentials_hash
            ));
        }
        for s in api.registry.syncs().list(kind, None).await? {
            out.push_str(&format!(
                "{} {} {:?} v{} {} {} {:?}\n",
                s.id,
                s.name,
                s.description,
                s.version,
                s.sync_options,
                s.destination_config,
                s.status
            ));
        }
    }
    for table in ["connections", "syncs", "sync_triggers", "sync_runs"] {
        let n = db
            .count(&format!("SELECT count(*) FROM {{s}}.{table}"))
            .await?;
        out.push_str(&format!("{table}: {n}\n"));
    }
    Ok(out)
}

/// The answer is a 4xx of `status` in the KMS's envelope, and `needle` is in its message
/// — for a 422, in its issues (each with a `path` list and a `message`), as the KMS's
/// `ValidationFailure` lists them.
pub fn refused(what: &str, got: &Answer, status: u16, needle: &str) -> Result<()> {
    let body = &got.body;
    let message = match body["message"].as_array() {
        Some(issues) if status == 422 && body["error"] == json!("ValidationFailure") => {
            if issues
                .iter()
                .all(|i| i["path"].is_array() && i["message"].is_string())
            {
                body["message"].to_string()
            } else {
                String::new()
            }
        }
        _ => text(body, "/message").to_owned(),
    };
    let ok = got.status.as_u16() == status
        && body["statusCode"] == json!(status)
        && body["error"].is_string()
        && body["reqId"].is_string()
        && message.contains(needle);
    if ok {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected {status} mentioning `{needle}`, got {} {body}",
        got.status
    )))
}

/// As [`refused`] with 422, and the first issue (checked as [`issues`]) stands at `path`
/// (`["credentials", "apiToken"]`).
pub fn refused_at(what: &str, got: &Answer, needle: &str, path: &[&str]) -> Result<()> {
    refused(what, got, 422, needle)?;
    let first = issues(what, got)?.first().cloned().unwrap_or(Value::Null);
    if first["path"] == json!(path) {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what}: expected the first issue at {path:?}, got {}",
        got.body
    )))
}

/// One request the API must refuse: the promise it holds (named in a failure), what is
/// sent, and the status, the text and (for a 422, if given) the path of the answer.
pub struct Refusal {
    pub promise: String,
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
    pub status: u16,
    pub needle: &'static str,
    pub at: Option<&'static [&'static str]>,
    /// A value sent that the answer must not carry.
    pub hides: Option<&'static str>,
}

impl Refusal {
    /// `method path` (with `body`, if any) answers `status` mentioning `needle`.
    pub fn new(
        promise: impl Into<String>,
        (method, path, body): (Method, String, Option<String>),
        status: u16,
        needle: &'static str,
    ) -> Refusal {
        let promise = promise.into();
        Refusal {
            promise,
            method,
            path,
            body,
            status,
            needle,
            at: None,
            hides: None,
        }
    }

    /// The answer's first issue stands at `path` as well.
    pub fn at(self, path: &'static [&'static str]) -> Refusal {
        Refusal {
            at: Some(path),
            ..self
        }
    }

    /// The answer does not carry `value` (sent in the request) either.
    pub fn hiding(self, value: &'static str) -> Refusal {
        Refusal {
            hides: Some(value),
            ..self
        }
    }

    /// Sends the request through `api` and checks the answer.
    pub async fn check(&self, api: &Api) -> Result<()> {
        let body = self.body.as_deref();
        let got = api.call(self.method.clone(), &self.path, body).await?;
        refused(&self.promise, &got, self.status, self.needle)?;
        if let Some(value) = self.hides {
            no_echo(&self.promise, &got, value)?;
        }
        match self.at {
            Some(path) => refused_at(&self.promise, &got, self.needle, path),
            None => Ok(()),
        }
    }
}

/// A [`Refusal`]'s request: `method path` with `body`, if any.
pub fn request(
    method: Method,
    path: impl Into<String>,
    body: Option<&str>,
) -> (Method, String, Option<String>) {
    (method, path.into(), body.map(str::to_owned))
}

/// Fails when the answer's body carries `value` (a value the request sent).
pub fn no_echo(what: &str, got: &Answer, value: &str) -> Result<()> {
    if !got.body.to_string().contains(value) {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "{what} echoes the value it was sent"
    )))
}

/// The Bitbucket syncs and connections routes.
pub const SYNCS: &str = "/api/v1/secret-syncs/bitbucket";
/// The Bitbucket connections route.
pub const CONNS: &str = "/api/v1/app-connections/bitbucket";
/// An id no sync or connection has.
pub const UNKNOWN_ID: &str = "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d";

/// A registry holding the KMS's Bitbucket connection and sync samples, and the snapshot
/// of what it held before the case under test.
pub struct Seeded {
    pub db: TestDb,
    pub api: Api,
    pub conn_id: String,
    pub sync_id: String,
    /// The sample sync body naming the created connection.
    pub sync_body: String,
    before: String,
}

impl Seeded {
    /// The API over `db` with the samples created.
    pub async fn new(db: TestDb) -> Result<Seeded> {
        let api = Api::start(&db).await?;
        let conn = api
            .post(CONNS, &fixture("bitbucket-connection.json")?)
            .await?;
        expect(&conn, 200, "the sample connection")?;
        let conn_id = text(&conn.body, "/appConnection/id").to_owned();
        let sync_body = with_connection(&fixture("bitbucket-sync.json")?, &conn_id);
        let created = api.post(SYNCS, &sync_body).await?;
        expect(&created, 200, "the sample sync")?;
        let sync_id = text(&created.body, "/secretSync/id").to_owned();
        let before = snapshot(&db, &api).await?;
        Ok(Seeded {
            db,
            api,
            conn_id,
            sync_id,
            sync_body,
            before,
        })
    }

    /// `s` with what the registry holds now as the state to keep (after a test's own setup).
    pub async fn again(s: Seeded) -> Result<Seeded> {
        let before = snapshot(&s.db, &s.api).await?;
        Ok(Seeded { before, ..s })
    }

    /// `/api/v1/secret-syncs/bitbucket/{syncId}`.
    pub fn sync_url(&self) -> String {
        format!("{SYNCS}/{}", self.sync_id)
    }

    /// `/api/v1/app-connections/bitbucket/{connectionId}`.
    pub fn conn_url(&self) -> String {
        format!("{CONNS}/{}", self.conn_id)
    }

    /// `PATCH` of the sample sync with `body`.
    pub async fn patch_sync(&self, body: &str) -> Result<Answer> {
        self.api
            .call(Method::PATCH, &self.sync_url(), Some(body))
            .await
    }

    /// The sample sync body with `from` replaced by `to`.
    pub fn sync_with(&self, from: &str, to: &str) -> String {
        self.sync_body.replace(from, to)
    }

    /// Fails unless the registry holds exactly what it held before; then ends the test's
    /// database.
    pub async fn unchanged(self) -> Result<()> {
        self.kept("the refused request").await?;
        self.db.finish().await
    }

    /// Fails, naming `what`, unless the registry holds exactly what it held before.
    pub async fn kept(&self, what: &str) -> Result<()> {
        let after = snapshot(&self.db, &self.api).await?;
        if self.before == after {
            return Ok(());
        }
        Err(Error::unexpected(format!(
            "{what} changed the registry:\nbefore:\n{}\nafter:\n{after}",
            self.before
        )))
    }

    /// Checks each of the cases `cases` builds over the samples is refused as it says and
    /// changes nothing; then ends the test's database.
    pub async fn refuses(self, cases: impl FnOnce(&Seeded) -> Result<Vec<Refusal>>) -> Result<()> {
        let cases = cases(&self)?;
        assert!(
            !cases.is_empty(),
            "a refusal table with no rows checks nothing"
        );
        for case in cases {
            case.check(&self.api).await?;
            self.kept(&case.promise).await?;
        }
        self.db.finish().await
    }
}
