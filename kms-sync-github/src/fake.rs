//! A stateful GitHub on loopback (feature `fake`): repository, environment and organization
//! Actions secrets behind the routes of `github.subset.json`, checked as GitHub checks them.
//!
//! - Every `PUT` body is validated against the description: `encrypted_value` (canonical
//!   base64) and `key_id` required, `visibility` required for organization secrets,
//!   `selected_repository_ids` only with `selected`, no other field; the value must open
//!   with the fake's key pair (a libsodium sealed box) and `key_id` must be the current one.
//!   Refusals are 422 `validation-error`s, as GitHub answers; a missing secret is 404.
//! - Names are checked (letters, digits, `_`, not starting with a digit or `GITHUB_`),
//!   stored upper-cased and matched regardless of case; a value over 48 KB and a create
//!   past the scope's count limit are refused.
//! - Lists page by `per_page` (default 30, at most 100) and `page`, with `total_count` and
//!   absolute `Link` headers (`next`, `last`); values are never shown.
//! - Every answer carries `x-ratelimit-*` headers; a secondary limit can be scheduled
//!   (403 with `retry-after`), and the quota announced.
//! - Authentication: the personal access token [`FAKE_TOKEN`], or installation tokens the
//!   fake mints at `POST /app/installations/{id}/access_tokens` for a JWT signed with the
//!   key of [`FAKE_APP_KEY_PEM`] (signature, `iss`, `iat` and `exp` checked).
//! - The testkit's fault injection and request log ([`FakeService`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kms_sync_core::Result;
use kms_sync_testkit::fake::{
    bearer_token, must, page_slice, Answer, FailingKeys, FakeService, QueryParams, Refusal,
    SharedState, INJECTED_REFUSAL,
};
use kms_sync_testkit::Faults;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app_auth::{unix_now, AppKey};
use crate::config::{GithubConfig, MAX_ORGANIZATION_SECRETS, MAX_REPOSITORY_SECRETS};
use crate::connection::GithubConnection;
use crate::destination::GithubDestination;

mod target;

pub use target::FakeTarget;

/// The fake's personal access token.
pub const FAKE_TOKEN: &str = "github_pat_fake_0123456789abcdef";
/// The owner the fake starts with.
pub const OWNER: &str = "acme";
/// The repository the fake starts with.
pub const REPO: &str = "api";
/// The repository's id.
pub const REPO_ID: u64 = 1_296_269;
/// The environment the fake starts with.
pub const ENVIRONMENT: &str = "production";
/// The organization the fake starts with.
pub const ORG: &str = "acme-org";
/// The GitHub App the fake knows.
pub const FAKE_APP_ID: &str = "424242";
/// The installation of [`FAKE_APP_ID`] the fake knows.
pub const FAKE_INSTALLATION_ID: &str = "7777";
/// The private key of [`FAKE_APP_ID`]: an RSA key made for these tests, nothing else.
pub const FAKE_APP_KEY_PEM: &str = include_str!("../testdata/fake-app-key.pem");
/// The seed of the fake's sealing key pair.
const KEY_SEED: [u8; 32] = [7; 32];
/// The hourly quota the fake announces by default.
const DEFAULT_QUOTA: u64 = 5_000;

/// One stored secret: its name as stored, the opened value, and an org secret's sharing.
#[derive(Debug, Clone)]
struct Secret {
    name: String,
    value: String,
    visibility: Option<String>,
    selected: Vec<u64>,
    updated: u64,
}

/// Which list a request addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Place {
    Repo(String, String),
    Env(String, String, String),
    Org(String),
}

impl Place {
    fn limit(&self) -> usize {
        match self {
            Place::Org(_) => MAX_ORGANIZATION_SECRETS,
            _ => MAX_REPOSITORY_SECRETS,
        }
    }
}

#[derive(Debug)]
struct FakeState {
    lists: HashMap<Place, Vec<Secret>>,
    secret_key: crypto_box::SecretKey,
    key_id: String,
    tokens: HashMap<String, u64>,
    token_lifetime: u64,
    minted: usize,
    app_public_key: Vec<u8>,
    read_only: bool,
    fail_writes: FailingKeys,
    secondary: Vec<u64>,
    clock: u64,
}

type Shared = SharedState<FakeState>;

/// GitHub's `basic-error`.
fn basic(status: StatusCode, message: &str) -> Refusal {
    Refusal::json(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_str()}),
    )
}

/// GitHub's `validation-error` on one field.
fn invalid(field: &str, message: &str) -> Refusal {
    Refusal::json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Secret", "field": field, "code": "invalid", "message": message}],
            "documentation_url": "https://docs.github.com/rest",
        }),
    )
}

fn not_found() -> Refusal {
    basic(StatusCode::NOT_FOUND, "Not Found")
}

impl FakeState {
    /// Checks the bearer token: the PAT, or an unexpired installation token.
    fn allow(&self, headers: &HeaderMap) -> std::result::Result<(), Refusal> {
        let token = bearer_token(headers).unwrap_or_default();
        let valid = token == FAKE_TOKEN
            || self
                .tokens
                .get(token)
                .is_some_and(|expires| *expires > unix_now());
        if valid {
            Ok(())
        } else {
            Err(basic(StatusCode::UNAUTHORIZED, "Bad credentials"))
        }
    }

    /// Checks a write: credentials, permission, a scheduled secondary limit, an injected
    /// failure for `name`.
    fn allow_write(&mut self, headers: &HeaderMap, name: &str) -> std::result::Result<(), Refusal> {
        self.allow(headers)?;
        if self.read_only {
            return Err(basic(
                StatusCode::FORBIDDEN,
                "Resource not accessible by personal access token",
            ));
        }
        if let Some(wait) = self.secondary.pop() {
            let body = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."});
            let mut response = (StatusCode::FORBIDDEN, Json(body)).into_response();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(wait));
            return Err(Refusal::new(response));
        }
        if self.fail_writes.contains(&name.to_ascii_uppercase()) || self.fail_writes.contains(name)
        {
            return Err(basic(StatusCode::FORBIDDEN, INJECTED_REFUSAL));
        }
        Ok(())
    }

    fn list(&mut self, place: &Place) -> std::result::Result<&mut Vec<Secret>, Refusal> {
        self.lists.get_mut(place).ok_or_else(not_found)
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// Opens a sealed value with the fake's key pair (outside the state's lock: the curve
/// arithmetic takes a while), or says why not.
fn open(
    secret_key: &crypto_box::SecretKey,
    current_key_id: &str,
    body: &Value,
) -> std::result::Result<String, Refusal> {
    let sealed = body
        .get("encrypted_value")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("encrypted_value", "encrypted_value is required"))?;
    let key_id = body
        .get("key_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("key_id", "key_id is required"))?;
    if key_id != current_key_id {
        return Err(invalid(
            "key_id",
            "key_id does not match the current public key",
        ));
    }
    let bytes = canonical_base64(sealed)
        .ok_or_else(|| invalid("encrypted_value", "encrypted_value is not canonical base64"))?;
    let opened = secret_key.unseal(&bytes).map_err(|_| {
        invalid(
            "encrypted_value",
            "encrypted_value does not open with the public key",
        )
    })?;
    let value = String::from_utf8(opened)
        .map_err(|_| invalid("encrypted_value", "the value is not UTF-8"))?;
    if value.len() > crate::rules::MAX_VALUE_BYTES {
        return Err(invalid(
            "encrypted_value",
            "the secret value is larger than 48 KB",
        ));
    }
    Ok(value)
}

/// Bytes of `text` if it matches the description's canonical padded base64 pattern.
fn canonical_base64(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&bytes) == text).then_some(bytes)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.to_ascii_uppercase().starts_with("GITHUB_")
}

/// An organization secret's `visibility`, and `selected_repository_ids` when sent.
type Sharing = (String, Option<Vec<u64>>);

/// The organization fields of a `PUT` body: `visibility` required, `selected_repository_ids`
/// (integers) only with `selected`; repository and environment bodies carry neither.
fn sharing(place: &Place, body: &Value) -> std::result::Result<Option<Sharing>, Refusal> {
    let allowed: &[&str] = match place {
        Place::Org(_) => &[
            "encrypted_value",
            "key_id",
            "visibility",
            "selected_repository_ids",
        ],
        _ => &["encrypted_value", "key_id"],
    };
    let fields = body
        .as_object()
        .ok_or_else(|| invalid("body", "the body must be an object"))?;
    if let Some(extra) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(extra, &format!("{extra} is not a permitted field")));
    }
    if !matches!(place, Place::Org(_)) {
        return Ok(None);
    }
    let visibility = body.get("visibility").and_then(Value::as_str);
    let visibility = visibility
        .filter(|v| ["all", "private", "selected"].contains(v))
        .ok_or_else(|| {
            invalid(
                "visibility",
                "visibility must be one of all, private, selected",
            )
        })?;
    let ids = match body.get("selected_repository_ids") {
        None => None,
        Some(_) if visibility != "selected" => {
            return Err(invalid(
                "selected_repository_ids",
                "only with visibility selected",
            ))
        }
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(Value::as_u64)
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| invalid("selected_repository_ids", "must be integers"))?,
        ),
        Some(_) => return Err(invalid("selected_repository_ids", "must be an array")),
    };
    Ok(Some((visibility.to_owned(), ids)))
}

/// A path naming one list: its [`Place`].
trait At: serde::de::DeserializeOwned + Send + 'static {
    fn place(&self) -> Place;
}

/// A path naming one secret of a list.
trait ItemAt: At {
    fn name(&self) -> String;
}

#[derive(Debug, Deserialize)]
struct RepoAt {
    owner: String,
    repo: String,
}

impl At for RepoAt {
    fn place(&self) -> Place {
        repo_place(&self.owner, &self.repo)
    }
}

#[derive(Debug, Deserialize)]
struct EnvAt {
    owner: String,
    repo: String,
    env: String,
}

impl At for EnvAt {
    fn place(&self) -> Place {
        env_place(&self.owner, &self.repo, &self.env)
    }
}

#[derive(Debug, Deserialize)]
struct OrgAt {
    org: String,
}

impl At for OrgAt {
    fn place(&self) -> Place {
        org_place(&self.org)
    }
}

/// A list's path plus `{name}`.
#[derive(Debug, Deserialize)]
struct Item<A> {
    #[serde(flatten)]
    list: A,
    name: String,
}

impl<A: At> At for Item<A> {
    fn place(&self) -> Place {
        self.list.place()
    }
}

impl<A: At> ItemAt for Item<A> {
    fn name(&self) -> String {
        self.name.clone()
    }
}

fn repo_place(owner: &str, repo: &str) -> Place {
    Place::Repo(owner.to_ascii_lowercase(), repo.to_ascii_lowercase())
}

fn env_place(owner: &str, repo: &str, env: &str) -> Place {
    Place::Env(
        owner.to_ascii_lowercase(),
        repo.to_ascii_lowercase(),
        env.to_owned(),
    )
}

fn org_place(org: &str) -> Place {
    Place::Org(org.to_ascii_lowercase())
}

/// The JSON of a listed secret: never its value.
fn listed(place: &Place, secret: &Secret, base: &str) -> Value {
    let time = format!(
        "2026-01-01T00:{:02}:{:02}Z",
        secret.updated / 60 % 60,
        secret.updated % 60
    );
    let mut out = json!({"name": secret.name, "created_at": time, "updated_at": time});
    if let (Place::Org(_), Some(visibility)) = (place, &secret.visibility) {
        out["visibility"] = json!(visibility);
        if visibility == "selected" {
            out["selected_repositories_url"] = json!(format!("{base}/repositories"));
        }
    }
    out
}

/// One page of a list, with `total_count` and the `Link` header.
fn page_of(
    s: &mut FakeState,
    place: &Place,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    path: &str,
) -> Answer {
    let number = |name: &str| query.get(name).and_then(|p| p.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(30).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}{path}");
    let mut secrets = s.list(place)?.clone();
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    let items: Vec<Value> = secrets.iter().map(|x| listed(place, x, &base)).collect();
    let body = json!({"total_count": items.len(), "secrets": page_slice(&items, page, per_page)});
    let mut response = Json(body).into_response();
    let last = items.len().div_ceil(per_page).max(1);
    if page < last {
        let link = format!(
            "<{base}?per_page={per_page}&page={}>; rel=\"next\", <{base}?per_page={per_page}&page={last}>; rel=\"last\"",
            page + 1
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert("link", value);
        }
    }
    Ok(response)
}

/// `GET …/secrets`: one page.
async fn list_at<A: At>(
    State(state): State<Shared>,
    Path(at): Path<A>,
    Query(query): QueryParams,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    page_of(&mut s, &at.place(), &query, &headers, uri.path())
}

/// `GET …/secrets/public-key`.
async fn public_key_at<A: At>(
    State(state): State<Shared>,
    Path(at): Path<A>,
    headers: HeaderMap,
) -> Answer {
    let mut s = state.lock();
    s.allow(&headers)?;
    s.list(&at.place())?;
    let key = STANDARD.encode(s.secret_key.public_key().as_bytes());
    Ok(Json(json!({"key_id": s.key_id, "key": key})).into_response())
}

/// `PUT`: creates (201, `{}`) or updates (204) a secret after checking everything.
async fn put_at<A: ItemAt>(
    State(state): State<Shared>,
    Path(at): Path<A>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Answer {
    let (place, name) = (at.place(), at.name());
    let body = json_body(&bytes)?;
    let (secret_key, key_id) = {
        let mut s = state.lock();
        s.allow_write(&headers, &name)?;
        (s.secret_key.clone(), s.key_id.clone())
    };
    if !valid_name(&name) {
        return Err(invalid("name", "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), must not start with a number or GITHUB_."));
    }
    let share = sharing(&place, &body)?;
    let value = open(&secret_key, &key_id, &body)?;
    let mut s = state.lock();
    let now = s.tick();
    let list = s.list(&place)?;
    if let Some(existing) = list.iter_mut().find(|x| x.name.eq_ignore_ascii_case(&name)) {
        existing.value = value;
        existing.updated = now;
        if let Some((visibility, ids)) = share {
            existing.selected = ids.unwrap_or_else(|| existing.selected.clone());
            existing.visibility = Some(visibility);
        }
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if list.len() >= place.limit() {
        return Err(invalid(
            "name",
            "The secret limit for this scope has been reached.",
        ));
    }
    let (visibility, selected) = match share {
        Some((v, ids)) => (Some(v), ids.unwrap_or_default()),
        None => (None, Vec::new()),
    };
    list.push(Secret {
        name: name.to_ascii_uppercase(),
        value,
        visibility,
        selected,
        updated: now,
    });
    Ok((StatusCode::CREATED, Json(json!({}))).into_response())
}

/// `DELETE …/secrets/{name}`: 204, or 404 for a missing secret.
async fn delete_at<A: ItemAt>(
    State(state): State<Shared>,
    Path(at): Path<A>,
    headers: HeaderMap,
) -> Answer {
    let (place, name) = (at.place(), at.name());
    let mut s = state.lock();
    s.allow_write(&headers, &name)?;
    let list = s.list(&place)?;
    let before = list.len();
    list.retain(|x| !x.name.eq_ignore_ascii_case(&name));
    if list.len() == before {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Reads a JSON body, or GitHub's 400 for one that is not JSON.
fn json_body(bytes: &[u8]) -> std::result::Result<Value, Refusal> {
    serde_json::from_slice(bytes)
        .map_err(|_| basic(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
}

/// `POST /app/installations/{id}/access_tokens`: a JWT signed by the App's key → a token.
async fn mint_token(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    let mut s = state.lock();
    let jwt = bearer_token(&headers).unwrap_or_default();
    check_jwt(jwt, &s.app_public_key)?;
    if id != FAKE_INSTALLATION_ID {
        return Err(not_found());
    }
    s.minted += 1;
    let token = format!("ghs_fake_installation_token_{:04}", s.minted);
    let expires = unix_now() + s.token_lifetime;
    s.tokens.insert(token.clone(), expires);
    let expires_at = utc_text(expires);
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"token": token, "expires_at": expires_at, "permissions": {"secrets": "write"}}),
        ),
    )
        .into_response())
}

/// Checks an App JWT: RS256 signature by the App's key, `iss`, and a live `iat`–`exp`
/// window of at most ten minutes.
fn check_jwt(jwt: &str, public_key: &[u8]) -> std::result::Result<(), Refusal> {
    let refused = |why: &str| basic(StatusCode::UNAUTHORIZED, why);
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(refused("A JSON web token could not be decoded"));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| refused("bad signature encoding"))?;
    let verifier = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    );
    verifier
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| refused("A JSON web token could not be decoded"))?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| refused("bad claims"))?;
    let now = unix_now();
    let iat = claims["iat"].as_u64().unwrap_or(u64::MAX);
    let exp = claims["exp"].as_u64().unwrap_or(0);
    let iss_ok = claims["iss"].to_string().trim_matches('"') == FAKE_APP_ID;
    if !iss_ok || iat > now + 60 || exp <= now || exp - iat > 600 {
        return Err(refused("'Expiration time' claim ('exp') is too far in the future, expired, or the issuer is unknown"));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for epoch seconds.
fn utc_text(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Civil from days (1970-01-01 = day 0).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `GET /user`.
async fn current_user(State(state): State<Shared>, headers: HeaderMap) -> Answer {
    let s = state.lock();
    s.allow(&headers)?;
    if bearer_token(&headers) != Some(FAKE_TOKEN) {
        return Err(basic(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    Ok(Json(json!({"login": "fake-user", "id": 1})).into_response())
}

/// The quota the fake announces and the requests counted against it.
#[derive(Debug)]
struct RateCounters {
    quota: AtomicU64,
    used: AtomicU64,
    silent: AtomicBool,
}

/// Adds `x-ratelimit-*` to every answer.
async fn rate_headers(State(limits): State<Arc<RateCounters>>, mut response: Response) -> Response {
    let used = limits.used.fetch_add(1, Ordering::SeqCst) + 1;
    if limits.silent.load(Ordering::SeqCst) {
        return response;
    }
    let quota = limits.quota.load(Ordering::SeqCst);
    let headers = response.headers_mut();
    let remaining = quota.saturating_sub(used);
    for (name, value) in [
        ("x-ratelimit-limit", quota),
        ("x-ratelimit-remaining", remaining),
        ("x-ratelimit-used", used.min(quota)),
        ("x-ratelimit-reset", unix_now() + 3_600),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    response
}

/// The routes of one kind of list at `base`.
fn scope_routes<A: At>(router: Router<Shared>, base: &str) -> Router<Shared> {
    router
        .route(base, get(list_at::<A>))
        .route(&format!("{base}/public-key"), get(public_key_at::<A>))
        .route(
            &format!("{base}/{{name}}"),
            get(get_at::<Item<A>>)
                .put(put_at::<Item<A>>)
                .delete(delete_at::<Item<A>>),
        )
}

fn router(limits: Arc<RateCounters>) -> Router<Shared> {
    let router = Router::new();
    let router = scope_routes::<RepoAt>(router, "/repos/{owner}/{repo}/actions/secrets");
    let router = scope_routes::<EnvAt>(router, "/repos/{owner}/{repo}/environments/{env}/secrets");
    scope_routes::<OrgAt>(router, "/orgs/{org}/actions/secrets")
        .route("/app/installations/{id}/access_tokens", post(mint_token))
        .route("/user", get(current_user))
        .fallback(|| async { not_found() })
        .layer(axum::middleware::map_response_with_state(
            limits,
            rate_headers,
        ))
}

/// `GET …/secrets/{name}`: one secret's metadata, or 404.
async fn get_at<A: ItemAt>(
    State(state): State<Shared>,
    Path(at): Path<A>,
    headers: HeaderMap,
) -> Answer {
    let (place, name) = (at.place(), at.name());
    let mut s = state.lock();
    s.allow(&headers)?;
    let secret = s
        .list(&place)?
        .iter()
        .find(|x| x.name.eq_ignore_ascii_case(&name))
        .cloned()
        .ok_or_else(not_found)?;
    Ok(Json(listed(&place, &secret, "")).into_response())
}

/// A running fake GitHub. Dropping it stops the server.
///
/// ```
/// use kms_sync_github::fake::{FakeGithub, OWNER, REPO};
/// kms_sync_testkit::run_case(async {
///     let fake = FakeGithub::start().await;
///     fake.seed_repo(OWNER, REPO, "THEIRS", "theirs");
///     assert_eq!(fake.repo_secrets(OWNER, REPO).len(), 1);
///     assert!(fake.base_url().starts_with("http://127.0.0.1:"));
/// });
/// ```
#[derive(Debug)]
pub struct FakeGithub {
    service: FakeService<FakeState>,
    limits: Arc<RateCounters>,
}

impl FakeGithub {
    /// Starts the fake with repository [`OWNER`]/[`REPO`] (id [`REPO_ID`]), its environment
    /// [`ENVIRONMENT`], organization [`ORG`], the token [`FAKE_TOKEN`] and the App
    /// [`FAKE_APP_ID`] installed as [`FAKE_INSTALLATION_ID`].
    pub async fn start() -> FakeGithub {
        let mut lists = HashMap::new();
        lists.insert(repo_place(OWNER, REPO), Vec::new());
        lists.insert(env_place(OWNER, REPO, ENVIRONMENT), Vec::new());
        lists.insert(org_place(ORG), Vec::new());
        let app_key = must(AppKey::from_pem(FAKE_APP_KEY_PEM), "the fake App key");
        let state = FakeState {
            lists,
            secret_key: crypto_box::SecretKey::from(KEY_SEED),
            key_id: "568250167242549743".to_owned(),
            tokens: HashMap::new(),
            token_lifetime: 3_600,
            minted: 0,
            app_public_key: app_key.public_key_der(),
            read_only: false,
            fail_writes: FailingKeys::default(),
            secondary: Vec::new(),
            clock: 0,
        };
        let limits = Arc::new(RateCounters {
            quota: AtomicU64::new(DEFAULT_QUOTA),
            used: AtomicU64::new(0),
            silent: AtomicBool::new(false),
        });
        FakeGithub {
            service: FakeService::start(state, router(limits.clone())).await,
            limits,
        }
    }

    /// The base URL to give [`GithubDestinationBuilder::with_base_url`](crate::GithubDestinationBuilder::with_base_url).
    pub fn base_url(&self) -> String {
        self.service.base_url()
    }

    /// The fault schedule and request log.
    pub fn faults(&self) -> &Faults {
        self.service.faults()
    }

    /// A connection with the fake's personal access token.
    pub fn connection(&self) -> GithubConnection {
        must(GithubConnection::pat(FAKE_TOKEN), "the fake's own token")
    }

    /// A connection through the fake's GitHub App installation.
    pub fn app_connection(&self) -> GithubConnection {
        must(
            GithubConnection::app(FAKE_APP_ID, FAKE_INSTALLATION_ID, FAKE_APP_KEY_PEM),
            "the fake's own App",
        )
    }

    /// A destination for `config` pointed at this fake, with the testkit's fast settings.
    ///
    /// # Errors
    ///
    /// As [`GithubDestinationBuilder::build`](crate::GithubDestinationBuilder::build).
    pub fn destination(&self, config: GithubConfig) -> Result<GithubDestination> {
        self.destination_with(self.connection(), config, &self.base_url())
    }

    /// As [`destination`](Self::destination), with another connection and base URL (a
    /// proxy in front of this fake).
    ///
    /// # Errors
    ///
    /// As [`GithubDestinationBuilder::build`](crate::GithubDestinationBuilder::build).
    pub fn destination_with(
        &self,
        connection: GithubConnection,
        config: GithubConfig,
        base_url: &str,
    ) -> Result<GithubDestination> {
        GithubDestination::builder(connection, config)
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .build()
    }

    /// Adds a repository (with no secrets) and an environment of it.
    pub fn add_environment(&self, owner: &str, repo: &str, env: &str) {
        let mut s = self.service.state();
        s.lists.entry(repo_place(owner, repo)).or_default();
        s.lists.entry(env_place(owner, repo, env)).or_default();
    }

    fn seed(&self, place: Place, name: &str, value: &str) {
        let mut s = self.service.state();
        let now = s.tick();
        let visibility = matches!(place, Place::Org(_)).then(|| "all".to_owned());
        s.lists.entry(place).or_default().push(Secret {
            name: name.to_owned(),
            value: value.to_owned(),
            visibility,
            selected: Vec::new(),
            updated: now,
        });
    }

    /// Puts a repository secret directly, as someone else would (the name kept as given).
    pub fn seed_repo(&self, owner: &str, repo: &str, name: &str, value: &str) {
        self.seed(repo_place(owner, repo), name, value);
    }

    /// Removes a repository secret directly, as someone else would.
    pub fn unseed_repo(&self, owner: &str, repo: &str, name: &str) {
        let mut s = self.service.state();
        if let Some(list) = s.lists.get_mut(&repo_place(owner, repo)) {
            list.retain(|x| x.name != name);
        }
    }

    /// Puts an environment secret directly.
    pub fn seed_env(&self, owner: &str, repo: &str, env: &str, name: &str, value: &str) {
        self.seed(env_place(owner, repo, env), name, value);
    }

    /// Puts an organization secret directly (visibility `all`).
    pub fn seed_org(&self, org: &str, name: &str, value: &str) {
        self.seed(org_place(org), name, value);
    }

    fn secrets(&self, place: &Place) -> BTreeMap<String, String> {
        let s = self.service.state();
        s.lists
            .get(place)
            .map(|l| {
                l.iter()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every secret of a repository: name → opened value.
    pub fn repo_secrets(&self, owner: &str, repo: &str) -> BTreeMap<String, String> {
        self.secrets(&repo_place(owner, repo))
    }

    /// Every secret of an environment: name → opened value.
    pub fn env_secrets(&self, owner: &str, repo: &str, env: &str) -> BTreeMap<String, String> {
        self.secrets(&env_place(owner, repo, env))
    }

    /// Every secret of an organization: name → opened value.
    pub fn org_secrets(&self, org: &str) -> BTreeMap<String, String> {
        self.secrets(&org_place(org))
    }

    /// An organization secret's visibility and selected repository ids.
    pub fn org_sharing(&self, org: &str, name: &str) -> Option<(String, Vec<u64>)> {
        let s = self.service.state();
        let secret = s
            .lists
            .get(&org_place(org))?
            .iter()
            .find(|x| x.name == name)?
            .clone();
        Some((secret.visibility?, secret.selected))
    }

    /// Sets an organization secret's selected repositories directly (as the
    /// `…/repositories` routes would).
    pub fn set_selected(&self, org: &str, name: &str, ids: &[u64]) {
        let mut s = self.service.state();
        if let Some(secret) = s
            .lists
            .get_mut(&org_place(org))
            .and_then(|l| l.iter_mut().find(|x| x.name == name))
        {
            secret.visibility = Some("selected".to_owned());
            secret.selected = ids.to_vec();
        }
    }

    /// Refuses (403, without a rate-limit message) every later write.
    pub fn set_read_only(&self, read_only: bool) {
        self.service.state().read_only = read_only;
    }

    /// Refuses (403) every later write of `name`.
    pub fn fail_writes_to(&self, name: &str) {
        self.service.state().fail_writes.insert(name);
    }

    /// The next `waits.len()` writes are refused by a secondary rate limit: 403 with
    /// `retry-after` of each wait (seconds), in order.
    pub fn secondary_limits(&self, waits: &[u64]) {
        let mut s = self.service.state();
        s.secondary = waits.iter().rev().copied().collect();
    }

    /// Announces another hourly quota in `x-ratelimit-limit`.
    pub fn set_quota(&self, quota: u64) {
        self.limits.quota.store(quota, Ordering::SeqCst);
    }

    /// Whether answers carry the `x-ratelimit-*` headers (default: yes). A bench that
    /// scales the hourly budget down turns them off: they would announce the real hour.
    pub fn set_rate_headers(&self, on: bool) {
        self.limits.silent.store(!on, Ordering::SeqCst);
    }

    /// How long minted installation tokens live (default one hour).
    pub fn set_token_lifetime(&self, seconds: u64) {
        self.service.state().token_lifetime = seconds;
    }

    /// How many installation tokens the fake has minted.
    pub fn tokens_minted(&self) -> usize {
        self.service.state().minted
    }

    /// Every installation token minted so far (for a canary).
    pub fn minted_tokens(&self) -> Vec<String> {
        self.service.state().tokens.keys().cloned().collect()
    }

    /// Replaces the sealing key pair (a new `key_id`): writes sealed to the old key are
    /// refused with 422.
    pub fn rotate_key(&self) {
        let mut s = self.service.state();
        s.secret_key = crypto_box::SecretKey::from([9; 32]);
        s.key_id = "3380204578043523366".to_owned();
    }
}
