//! Requests to GitHub's REST API: authentication (a token, or an App installation token
//! minted and cached), paths, pages, and the documented write answers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kms_sync_core::http::{
    encode_segment, Auth, ClientSettings, HttpClient, Request, Response, DEFAULT_MAX_PAGES,
};
use kms_sync_core::{Error, ErrorKind, Result};
use secrecy::SecretString;

use crate::app_auth::{unix_now, AppKey, TokenCache};
use crate::connection::{Credential, GithubConnection};
use crate::destination::documented_budget;
use crate::error::error_table;
use crate::listed::{read_page, ListedName};
use crate::model::{InstallationToken, PublicKeyBody, SecretBody, User};
use crate::seal::ScopeKey;

/// The largest page GitHub serves (`per_page` maximum).
pub const MAX_PAGE_SIZE: usize = 100;
/// How many times a request refused by a secondary rate limit (403 with `retry-after`) is
/// sent again.
const RATE_LIMIT_RETRIES: u32 = 3;
/// The longest `retry-after` waited for within a request.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// A GitHub App installation's credentials and its token cache.
#[derive(Debug)]
pub(crate) struct AppAuth {
    pub app_id: String,
    pub installation_id: String,
    pub key: Arc<AppKey>,
    pub tokens: TokenCache,
}

/// Whether a secret was created or an existing one updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    Updated,
}

/// GitHub's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct GithubClient {
    pub http: HttpClient,
    pub app: Option<Arc<AppAuth>>,
}

impl GithubClient {
    /// A client for a connection: the token as a bearer, or the App's credentials with an
    /// empty token cache (a token is minted at the first request); the settings' base URL,
    /// or the connection's.
    pub fn connect(
        connection: &GithubConnection,
        settings: &ClientSettings,
        concurrency: usize,
    ) -> Result<GithubClient> {
        let (auth, app) = match connection.credential() {
            Credential::Token(token) => (Auth::Bearer(token.clone()), None),
            Credential::App {
                app_id,
                installation_id,
                key,
            } => (
                Auth::None,
                Some(Arc::new(AppAuth {
                    app_id: app_id.clone(),
                    installation_id: installation_id.clone(),
                    key: key.clone(),
                    tokens: TokenCache::default(),
                })),
            ),
        };
        let http = settings
            .client_builder(
                "github",
                connection.base_url(),
                documented_budget(),
                concurrency,
            )
            .auth(auth)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .error_table(error_table)
            .rate_limit_headers(crate::rate_limit::rate_limit_headers)
            .build()?;
        Ok(GithubClient { http, app })
    }

    /// Sends the request `make` builds, authenticated; once more with a new installation
    /// token when GitHub refuses the cached one; again after a secondary rate limit's
    /// `retry-after` (up to [`RATE_LIMIT_RETRIES`] times).
    async fn send(&self, make: impl Fn() -> Result<Request>) -> Result<Response> {
        let mut renewed = false;
        let mut waits = 0;
        loop {
            let request = self.authorize(make()?).await?;
            let error = match self.http.send(request).await {
                Ok(response) => return Ok(response),
                Err(e) => e,
            };
            if let (Some(app), false) = (&self.app, renewed) {
                if error.kind() == ErrorKind::Unauthenticated {
                    app.tokens.forget().await;
                    renewed = true;
                    continue;
                }
            }
            match rate_limit_wait(&error) {
                Some(wait) if waits < RATE_LIMIT_RETRIES => {
                    waits += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(error),
            }
        }
    }

    async fn authorize(&self, request: Request) -> Result<Request> {
        match &self.app {
            None => Ok(request),
            Some(app) => {
                let token = app.tokens.get(|| self.mint(app)).await?;
                Ok(request.bearer(&token))
            }
        }
    }

    /// `POST /app/installations/{id}/access_tokens` with the App's JWT: a new installation
    /// token and its expiry.
    async fn mint(&self, app: &AppAuth) -> Result<(SecretString, String)> {
        let jwt = app.key.jwt(&app.app_id, unix_now())?;
        let path = format!(
            "/app/installations/{}/access_tokens",
            encode_segment(&app.installation_id)
        );
        let answer: InstallationToken = self
            .http
            .send(Request::post(path).bearer(&jwt).reads_only())
            .await
            .map_err(|e| e.with_operation("mint a GitHub App installation token"))?
            .json_object()?;
        match (answer.token, answer.expires_at) {
            (Some(token), Some(expires)) if !token.is_empty() => {
                Ok((SecretString::from(token), expires))
            }
            _ => Err(Error::unexpected(
                "GitHub's installation token answer lacks `token` or `expires_at`",
            )),
        }
    }

    /// Checks the credentials: `GET /user` for a token, the token exchange for an App.
    pub async fn verify(&self) -> Result<Option<User>> {
        if let Some(app) = &self.app {
            app.tokens.forget().await;
            app.tokens.get(|| self.mint(app)).await?;
            return Ok(None);
        }
        let user: User = self
            .send(|| Ok(Request::get("/user")))
            .await?
            .json_object()?;
        Ok(Some(user))
    }

    /// Every secret name of the scope at `path`, following `Link: rel="next"`; refused when
    /// the pages hold other than `total_count` names, report different totals (the list
    /// changed while read), repeat a name, loop, or leave the base URL's origin.
    pub async fn names(&self, path: &str, per_page: usize) -> Result<Vec<ListedName>> {
        let mut seen = HashSet::new();
        let mut listed: HashSet<String> = HashSet::new();
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        let mut first_total: Option<usize> = None;
        for page in 1..=DEFAULT_MAX_PAGES {
            let make = || {
                Ok(match &next {
                    None => Request::get(path).query("per_page", per_page.to_string()),
                    Some(url) => Request::get_url(url.clone()),
                })
            };
            let parsed = read_page(&self.send(make).await?)
                .map_err(|e| e.with_operation(format!("read page {page} of {path}")))?;
            if let Some(again) = parsed
                .items
                .iter()
                .map(|n| &n.name)
                .find(|n| !listed.insert((*n).clone()))
            {
                return Err(Error::unexpected(format!(
                    "GitHub: page {page} of {path} lists `{again}` again (a page served twice?); stopped instead of reading a list that repeats itself"
                )));
            }
            same_total(&mut first_total, parsed.total, page, path)?;
            names.extend(parsed.items);
            match parsed.next {
                Some(url) if !seen.insert(url.clone()) => {
                    return Err(Error::unexpected(format!(
                        "GitHub: page {page} of {path} links back to a page already read; stopped instead of looping"
                    )))
                }
                Some(url) => next = Some(url),
                None => return complete(names, parsed.total, path),
            }
        }
        Err(Error::unexpected(format!(
            "GitHub kept returning pages of {path} past the {DEFAULT_MAX_PAGES}-page cap"
        )))
    }

    /// `GET <path>/public-key`: the scope's sealing key.
    pub async fn public_key(&self, path: &str) -> Result<ScopeKey> {
        let url = format!("{path}/public-key");
        let body: PublicKeyBody = self
            .send(|| Ok(Request::get(url.clone())))
            .await?
            .json_object()?;
        match (body.key_id, body.key) {
            (Some(id), Some(key)) => ScopeKey::new(id.into_text(), &key),
            _ => Err(Error::new(
                ErrorKind::IncompleteRead,
                "GitHub's public key answer lacks `key_id` or `key`; nothing was written",
            )),
        }
    }

    /// `PUT <path>/{name}`: confirmed only by the documented 201 (created, an empty object
    /// or no body) or 204 (updated).
    pub async fn put(&self, path: &str, name: &str, body: &SecretBody<'_>) -> Result<Written> {
        let url = format!("{path}/{}", encode_segment(name));
        let response = self.send(|| Request::put(url.clone()).json(body)).await?;
        match response.status() {
            201 if response.body().iter().all(u8::is_ascii_whitespace) => Ok(Written::Created),
            201 => {
                response.json_object::<serde_json::Map<String, serde_json::Value>>()?;
                Ok(Written::Created)
            }
            204 => Ok(Written::Updated),
            other => Err(unconfirmed(name, other)),
        }
    }

    /// `DELETE <path>/{name}`: confirmed only by the documented 204.
    pub async fn delete(&self, path: &str, name: &str) -> Result<()> {
        let url = format!("{path}/{}", encode_segment(name));
        let response = self.send(|| Ok(Request::delete(url.clone()))).await?;
        match response.status() {
            204 => Ok(()),
            other => Err(unconfirmed(name, other)),
        }
    }
}

/// Every page of one list reports the same `total_count`; a total that moves between pages
/// means the list changed while it was read, and a name may have slid past a page boundary
/// unseen.
fn same_total(
    first: &mut Option<usize>,
    total: Option<usize>,
    page: usize,
    path: &str,
) -> Result<()> {
    match (*first, total) {
        (None, _) => {
            *first = total;
            Ok(())
        }
        (Some(was), Some(now)) if was != now => Err(Error::new(
            ErrorKind::IncompleteRead,
            format!(
                "GitHub reported {was} secrets at {path} on page 1 and {now} on page {page}; the list changed while it was read, so nothing was written"
            ),
        )),
        _ => Ok(()),
    }
}

/// A list whose pages hold other than the total GitHub reported is incomplete (fewer) or
/// not the list it claims to be (more).
fn complete(names: Vec<ListedName>, total: Option<usize>, path: &str) -> Result<Vec<ListedName>> {
    match total {
        Some(total) if names.len() != total => Err(Error::new(
            ErrorKind::IncompleteRead,
            format!(
                "GitHub reported {total} secrets at {path} but its pages held {}; the list would be incomplete, so nothing was written",
                names.len()
            ),
        )),
        _ => Ok(names),
    }
}

fn unconfirmed(name: &str, status: u16) -> Error {
    Error::new(
        ErrorKind::Unconfirmed,
        format!("GitHub answered the write of `{name}` with {status}, not its documented answer; the write is not confirmed"),
    )
}

/// How long to wait before sending again a request a rate limit refused with a
/// `retry-after` (a 429's is already waited for by the shared client): `None` when it is
/// not such a refusal, or asks for more than [`MAX_RATE_LIMIT_WAIT`].
fn rate_limit_wait(error: &Error) -> Option<Duration> {
    if error.kind() != ErrorKind::RateLimited || error.status() == Some(429) {
        return None;
    }
    let at = error.retry_at()?;
    let wait = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    (wait <= MAX_RATE_LIMIT_WAIT).then_some(wait)
}
