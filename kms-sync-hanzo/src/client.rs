//! Requests to the KMS: Universal Auth with renewal, and the secrets list.

use std::time::Duration;

use kms_sync_core::http::{HttpClient, Request};
use kms_sync_core::{Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{KmsAuth, KmsLocation, ProjectRef};
use crate::model::{SecretList, TokenResponse};

struct Token {
    value: SecretString,
    /// When the current login happened (the max TTL counts from here).
    logged_in: Instant,
    /// When the token was last obtained or renewed.
    refreshed: Instant,
    /// Lifetime of each token; zero: no expiry.
    expires_in: Duration,
    /// Total lifetime across renewals; zero: no limit.
    max_ttl: Duration,
}

impl Token {
    fn from_response(r: TokenResponse, logged_in: Instant) -> Token {
        Token {
            value: SecretString::from(r.access_token),
            logged_in,
            refreshed: Instant::now(),
            expires_in: Duration::from_secs(r.expires_in),
            max_ttl: Duration::from_secs(r.access_token_max_ttl),
        }
    }

    /// Past ¾ of its lifetime: renew now, well before `exp` (an expired token cannot be renewed).
    fn wants_renewal(&self) -> bool {
        !self.expires_in.is_zero() && self.refreshed.elapsed() >= self.expires_in.mul_f64(0.75)
    }

    /// Close to the max TTL (counted from login): log in again.
    fn near_max_ttl(&self) -> bool {
        !self.max_ttl.is_zero() && self.logged_in.elapsed() >= self.max_ttl.mul_f64(0.9)
    }

    /// A renewal would run past the max TTL, so it would fail: log in instead.
    fn renewal_exceeds_max_ttl(&self) -> bool {
        !self.max_ttl.is_zero() && self.logged_in.elapsed() + self.expires_in > self.max_ttl
    }
}

/// The KMS's endpoints over the shared HTTP client. Logins and renewals count like any request.
pub(crate) struct KmsClient {
    pub http: HttpClient,
    auth: KmsAuth,
    token: Mutex<Option<Token>>,
}

/// A login or renew answer without a token is refused here, not sent on as an empty bearer.
fn usable(response: TokenResponse) -> Result<TokenResponse> {
    if response.access_token.trim().is_empty() {
        return Err(Error::new(
            ErrorKind::Unexpected,
            "the KMS answered the login without an access token",
        ));
    }
    Ok(response)
}

impl KmsClient {
    pub fn new(http: HttpClient, auth: KmsAuth) -> Self {
        KmsClient {
            http,
            auth,
            token: Mutex::new(None),
        }
    }

    async fn login(&self, client_id: &str, client_secret: &SecretString) -> Result<Token> {
        let body = json!({"clientId": client_id, "clientSecret": client_secret.expose_secret()});
        let response: TokenResponse = self
            .http
            .send(
                Request::post("/api/v1/auth/universal-auth/login")
                    .reads_only()
                    .json(&body)?,
            )
            .await?
            .json_object()?;
        Ok(Token::from_response(usable(response)?, Instant::now()))
    }

    async fn renew(&self, current: &Token) -> Result<Token> {
        let body = json!({"accessToken": current.value.expose_secret()});
        let response: TokenResponse = self
            .http
            .send(
                Request::post("/api/v1/auth/token/renew")
                    .reads_only()
                    .json(&body)?,
            )
            .await?
            .json_object()?;
        Ok(Token::from_response(usable(response)?, current.logged_in))
    }

    /// A usable access token: logged in, renewed before it expires, or logged in again.
    async fn token(&self) -> Result<SecretString> {
        let (client_id, client_secret) = match &self.auth {
            KmsAuth::AccessToken(token) => return Ok(token.clone()),
            KmsAuth::Universal {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut slot = self.token.lock().await;
        let next = match slot.take() {
            None => self.login(client_id, client_secret).await?,
            Some(t) if t.near_max_ttl() => self.login(client_id, client_secret).await?,
            Some(t) if !t.wants_renewal() => t,
            Some(t) if t.renewal_exceeds_max_ttl() => self.login(client_id, client_secret).await?,
            Some(t) => match self.renew(&t).await {
                Ok(renewed) => renewed,
                Err(_) => self.login(client_id, client_secret).await?,
            },
        };
        let value = next.value.clone();
        *slot = Some(next);
        Ok(value)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// `GET /api/v3/secrets/raw` with imports and references; a refused token is replaced
    /// once (Universal Auth only). With `if_none_match` (an ETag this client was given
    /// earlier), a `304 Not Modified` is [`Listed::NotModified`]: the KMS hashes the
    /// response body into a strong ETag and answers 304 with an empty body when the
    /// request's `If-None-Match` equals it (kms-api.md §4.1). A 304 still counts as a
    /// request, against the rate limits too.
    pub async fn list(&self, at: &KmsLocation, if_none_match: Option<&str>) -> Result<Listed> {
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut request = Request::get("/api/v3/secrets/raw")
                .query("environment", at.environment())
                .query("secretPath", at.secret_path())
                .query("expandSecretReferences", "true")
                .query("include_imports", "true")
                .query("recursive", "false")
                .bearer(&token);
            request = match at.project() {
                ProjectRef::Id(id) => request.query("workspaceId", id.as_str()),
                ProjectRef::Slug(slug) => request.query("workspaceSlug", slug.as_str()),
            };
            if let Some(etag) = if_none_match {
                request = request.header("if-none-match", etag);
            }
            match self.http.send(request).await {
                Ok(response) => {
                    let etag = response
                        .header("etag")
                        .filter(|e| usable_etag(e))
                        .map(str::to_owned);
                    return Ok(Listed::Fresh {
                        list: response.json_object()?,
                        etag,
                    });
                }
                // The shared client returns only 2xx answers; a 304 comes back as a
                // non-retried error carrying its status.
                Err(e) if if_none_match.is_some() && e.status() == Some(304) => {
                    return Ok(Listed::NotModified)
                }
                Err(e)
                    if e.kind() == ErrorKind::Unauthenticated
                        && !retried
                        && matches!(self.auth, KmsAuth::Universal { .. }) =>
                {
                    retried = true;
                    self.forget_token().await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// What a list request brought back.
pub(crate) enum Listed {
    /// The folder's secrets, and the ETag the KMS sent with them (if any).
    Fresh {
        list: SecretList,
        etag: Option<String>,
    },
    /// `304 Not Modified`: the body would be the one whose ETag was sent.
    NotModified,
}

/// An ETag worth sending back: short, visible ASCII (a header value we can send as is).
fn usable_etag(etag: &str) -> bool {
    !etag.is_empty() && etag.len() <= 256 && etag.bytes().all(|b| (0x20..0x7f).contains(&b))
}
