//! A stateful Hanzo KMS on loopback (feature `fake`): Universal Auth login with configurable
//! token lifetimes, renewal, projects (by id or slug), environments, folders with versioned
//! secrets, ordered imports, `${KEY}` and `${env.path.KEY}` references expanded as the real
//! server does (a reference it cannot resolve is left as literal text), the error envelope,
//! a strong ETag on every list answer with `304 Not Modified` for a matching
//! `If-None-Match`, and the testkit's fault injection and request log.
//!
//! Built on the testkit's [fake scaffolding](kms_sync_testkit::fake): a [`FakeService`] over
//! the state, one handler per route.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_sync_testkit::fake::{
    bearer_token, header, must, str_field, Answer, FakeService, QueryParams, Refusal, SharedState,
};
use kms_sync_testkit::Faults;
use serde_json::{json, Value};

use crate::config::{KmsAuth, KmsLocation, ProjectRef};
use crate::source::{HanzoSource, HanzoSourceBuilder};

/// The fake's machine identity client id.
pub const CLIENT_ID: &str = "fake-identity-client-id";
/// The fake's client secret.
pub const CLIENT_SECRET: &str = "fake-identity-client-secret";
/// The fake project's id.
pub const PROJECT_ID: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
/// The fake project's slug.
pub const PROJECT_SLUG: &str = "backend";

#[derive(Debug, Clone)]
struct Secret {
    value: String,
    version: u64,
}

#[derive(Debug, Default)]
struct Folder {
    secrets: BTreeMap<String, Secret>,
    imports: Vec<(String, String)>,
}

#[derive(Debug)]
struct FakeState {
    folders: HashMap<(String, String), Folder>,
    tokens: HashMap<String, Instant>,
    ttl: Duration,
    max_ttl: Duration,
    logins: usize,
    renewals: usize,
    /// `GET /api/v3/secrets/raw` answered 200, and answered 304.
    list_reads: usize,
    not_modified: usize,
}

type Shared = SharedState<FakeState>;

/// The KMS's error envelope.
fn kms_error(status: StatusCode, name: &str, message: Value) -> Refusal {
    Refusal::json(
        status,
        json!({"reqId": "req-fake0000000000", "statusCode": status.as_u16(), "message": message, "error": name}),
    )
}

fn token_expired() -> Refusal {
    kms_error(
        StatusCode::FORBIDDEN,
        "TokenError",
        json!("Your token has expired. Please re-authenticate."),
    )
}

fn issue(state: &mut FakeState) -> Value {
    let token = format!("fake-access-{}", uuid::Uuid::new_v4());
    state
        .tokens
        .insert(token.clone(), Instant::now() + state.ttl);
    json!({"accessToken": token, "expiresIn": state.ttl.as_secs(), "accessTokenMaxTTL": state.max_ttl.as_secs(), "tokenType": "Bearer"})
}

/// Resolves one reference the way the server does; `None` leaves it literal.
fn resolve(
    state: &FakeState,
    env: &str,
    path: &str,
    reference: &str,
    depth: usize,
) -> Option<String> {
    if depth > 10 {
        return None;
    }
    let parts: Vec<&str> = reference.split('.').collect();
    let (env, path, key) = match parts.as_slice() {
        [key] => (env.to_owned(), path.to_owned(), *key),
        [ref_env, folders @ .., key] => {
            (ref_env.to_string(), format!("/{}", folders.join("/")), *key)
        }
        [] => return None,
    };
    let value = &state
        .folders
        .get(&(env.clone(), path.clone()))?
        .secrets
        .get(key)?
        .value;
    if value.is_empty() {
        return None;
    }
    Some(expand(state, &env, &path, value, depth + 1))
}

fn expand(state: &FakeState, env: &str, path: &str, value: &str, depth: usize) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let inner = &after[..end];
                match resolve(state, env, path, inner, depth) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn items(
    state: &FakeState,
    env: &str,
    path: &str,
    expand_refs: bool,
    imported: bool,
) -> Vec<Value> {
    let Some(folder) = state.folders.get(&(env.to_owned(), path.to_owned())) else {
        return Vec::new();
    };
    folder
        .secrets
        .iter()
        .map(|(key, s)| {
            let value = if expand_refs { expand(state, env, path, &s.value, 0) } else { s.value.clone() };
            let mut item = json!({
                "id": format!("{env}{path}{key}"), "workspace": if imported { "" } else { PROJECT_ID },
                "environment": env, "version": s.version, "type": "shared", "secretKey": key,
                "secretValue": value, "secretComment": "", "secretValueHidden": false, "secretMetadata": [],
            });
            if !imported {
                item["secretPath"] = json!(path);
                item["createdAt"] = json!("2026-01-01T00:00:00.000Z");
                item["updatedAt"] = json!("2026-01-01T00:00:00.000Z");
                item["tags"] = json!([]);
            }
            item
        })
        .collect()
}

fn bool_param(q: &HashMap<String, String>, name: &str) -> Result<bool, Refusal> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(kms_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ValidationFailure",
            json!([{"message": "Invalid enum value. Expected 'true' | 'false'", "path": [name]}]),
        )),
    }
}

/// Checks the Bearer access token: present, issued and not expired.
fn authenticated(state: &FakeState, headers: &HeaderMap) -> Result<(), Refusal> {
    if header(headers, "authorization").is_none() {
        return Err(kms_error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            json!("Token missing"),
        ));
    }
    // Any other scheme is a token that was never issued.
    let token = bearer_token(headers).unwrap_or_default();
    if state
        .tokens
        .get(token)
        .is_none_or(|exp| *exp <= Instant::now())
    {
        return Err(token_expired());
    }
    Ok(())
}

/// The body of `GET /api/v3/secrets/raw`: the folder's secrets and, when asked, its imports.
fn list(
    state: &FakeState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<Value, Refusal> {
    authenticated(state, headers)?;
    let expand_refs = bool_param(q, "expandSecretReferences")?;
    let imports = bool_param(q, "include_imports")?;
    bool_param(q, "recursive")?;
    let project_ok = q.get("workspaceId").map(String::as_str) == Some(PROJECT_ID)
        || q.get("workspaceSlug").map(String::as_str) == Some(PROJECT_SLUG);
    if !project_ok {
        return Err(kms_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            json!("Project not found"),
        ));
    }
    let env = q.get("environment").cloned().unwrap_or_default();
    let path = q
        .get("secretPath")
        .cloned()
        .unwrap_or_else(|| "/".to_owned());
    let Some(folder) = state.folders.get(&(env.clone(), path.clone())) else {
        return Err(kms_error(
            StatusCode::NOT_FOUND,
            "SecretPathNotFound",
            json!(format!("Folder with path '{path}' in environment '{env}' was not found. Please ensure the environment slug and secret path is correct.")),
        ));
    };
    let import_list: Vec<Value> = if imports {
        folder
            .imports
            .iter()
            .map(|(ienv, ipath)| json!({"secretPath": ipath, "environment": ienv, "secrets": items(state, ienv, ipath, expand_refs, true)}))
            .collect()
    } else {
        Vec::new()
    };
    Ok(json!({"secrets": items(state, &env, &path, expand_refs, false), "imports": import_list}))
}

/// `POST /api/v1/auth/universal-auth/login`: a token for the fake's identity.
async fn login(State(state): State<Shared>, Json(body): Json<Value>) -> Answer {
    let (Some(id), Some(secret)) = (
        str_field(&body, "clientId"),
        str_field(&body, "clientSecret"),
    ) else {
        return Err(kms_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ValidationFailure",
            json!([{"message": "Required", "path": ["clientId"]}]),
        ));
    };
    let mut s = state.lock();
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return Err(kms_error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            json!("Invalid credentials"),
        ));
    }
    s.logins += 1;
    Ok(Json(issue(&mut s)).into_response())
}

/// `POST /api/v1/auth/token/renew`: a live token for a new one (the old one is spent).
async fn renew(State(state): State<Shared>, Json(body): Json<Value>) -> Answer {
    let token = str_field(&body, "accessToken").unwrap_or_default();
    let mut s = state.lock();
    match s.tokens.remove(token) {
        None => Err(kms_error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            json!("No identity access token found"),
        )),
        Some(exp) if exp <= Instant::now() => Err(token_expired()),
        Some(_) => {
            s.renewals += 1;
            Ok(Json(issue(&mut s)).into_response())
        }
    }
}

/// The KMS's strong ETag (`@fastify/etag`): a hash of the response body, quoted.
fn etag_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..20]))
}

/// `GET /api/v3/secrets/raw`, with a strong ETag on every answer and `304 Not Modified`
/// (empty body) when `If-None-Match` names the current one.
async fn secrets(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): QueryParams,
) -> Answer {
    let mut s = state.lock();
    let body = list(&s, &headers, &query)?;
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let etag = etag_of(&bytes);
    let matches = header(&headers, "if-none-match")
        .is_some_and(|sent| sent.split(',').any(|t| t.trim() == etag));
    if matches {
        s.not_modified += 1;
        return Ok((StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response());
    }
    s.list_reads += 1;
    Ok((
        StatusCode::OK,
        [
            ("etag", etag),
            ("content-type", "application/json".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

fn router() -> Router<Shared> {
    Router::new()
        .route("/api/v1/auth/universal-auth/login", post(login))
        .route("/api/v1/auth/token/renew", post(renew))
        .route("/api/v3/secrets/raw", get(secrets))
}

/// A running fake KMS. Dropping it stops the server.
///
/// ```
/// use kms_sync_hanzo::fake::FakeKms;
/// kms_sync_testkit::run_case(async {
///     let kms = FakeKms::start().await;
///     kms.set("prod", "/", "DB_URL", "postgres://db");
///     assert!(kms.base_url().starts_with("http://127.0.0.1:"));
/// });
/// ```
#[derive(Debug)]
pub struct FakeKms {
    service: FakeService<FakeState>,
}

impl FakeKms {
    /// Starts the fake: project [`PROJECT_ID`] / [`PROJECT_SLUG`], identity [`CLIENT_ID`] /
    /// [`CLIENT_SECRET`], tokens valid for an hour (max 30 days), no folders yet.
    pub async fn start() -> FakeKms {
        let state = FakeState {
            folders: HashMap::new(),
            tokens: HashMap::new(),
            ttl: Duration::from_secs(3_600),
            max_ttl: Duration::from_secs(2_592_000),
            logins: 0,
            renewals: 0,
            list_reads: 0,
            not_modified: 0,
        };
        FakeKms {
            service: FakeService::start(state, router()).await,
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

    /// A source builder for `environment` and `path` of the fake project (by slug), with the
    /// fake's identity and fast retries.
    ///
    /// # Panics
    ///
    /// If the location is invalid (empty environment).
    pub fn source_builder(&self, environment: &str, path: &str) -> HanzoSourceBuilder {
        let location = must(
            KmsLocation::new(ProjectRef::Slug(PROJECT_SLUG.into()), environment, path),
            "the location",
        );
        HanzoSource::builder(KmsAuth::universal(CLIENT_ID, CLIENT_SECRET), location)
            .settings(self.service.client_settings())
    }

    /// A source for `environment` and `path`.
    ///
    /// # Panics
    ///
    /// If the source cannot be built.
    pub fn source(&self, environment: &str, path: &str) -> HanzoSource {
        must(self.source_builder(environment, path).build(), "the source")
    }

    /// Creates or changes a secret (its version goes up); creates the folder if needed.
    pub fn set(&self, environment: &str, path: &str, key: &str, value: &str) {
        let mut s = self.service.state();
        let folder = s
            .folders
            .entry((environment.to_owned(), path.to_owned()))
            .or_default();
        let version = folder.secrets.get(key).map_or(1, |old| old.version + 1);
        folder.secrets.insert(
            key.to_owned(),
            Secret {
                value: value.to_owned(),
                version,
            },
        );
    }

    /// Deletes a secret.
    pub fn remove(&self, environment: &str, path: &str, key: &str) {
        if let Some(folder) = self
            .service
            .state()
            .folders
            .get_mut(&(environment.to_owned(), path.to_owned()))
        {
            folder.secrets.remove(key);
        }
    }

    /// Adds an import to a folder (after the existing ones).
    pub fn add_import(
        &self,
        environment: &str,
        path: &str,
        from_environment: &str,
        from_path: &str,
    ) {
        self.service
            .state()
            .folders
            .entry((environment.to_owned(), path.to_owned()))
            .or_default()
            .imports
            .push((from_environment.to_owned(), from_path.to_owned()));
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_lifetime(&self, ttl: Duration, max_ttl: Duration) {
        let mut s = self.service.state();
        s.ttl = ttl;
        s.max_ttl = max_ttl;
    }

    /// Revokes every token (the next data call is refused).
    pub fn revoke_tokens(&self) {
        self.service.state().tokens.clear();
    }

    /// Logins and renewals so far.
    pub fn auth_counts(&self) -> (usize, usize) {
        let s = self.service.state();
        (s.logins, s.renewals)
    }

    /// Secret list reads so far: `(answered with the body, answered 304 Not Modified)`.
    /// Both count against the KMS's rate limits; only the first carries secrets.
    pub fn list_reads(&self) -> (usize, usize) {
        let s = self.service.state();
        (s.list_reads, s.not_modified)
    }
}
