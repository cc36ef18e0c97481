//! Who may call the API: a bearer token checked on every request, before anything is read
//! or changed, and turned into a [`Principal`] the routes check. There is no way to turn it
//! off: [`ApiBuilder::new`](crate::ApiBuilder::new) takes an [`Auth`].

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kms_sync_core::{async_trait, Error, Result};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::authz::{Authorizer, Principal};
use crate::error::ApiError;

/// The shortest static token accepted, in bytes.
///
/// ```
/// assert_eq!(kms_sync_api::MIN_TOKEN_LEN, 16);
/// ```
pub const MIN_TOKEN_LEN: usize = 16;

/// Decides whether a bearer token may call the API: your identity provider, a token
/// introspection endpoint, a database of API keys. Any `Fn(&str) -> bool` is one.
///
/// ```
/// use kms_sync_api::{Auth, TokenVerifier};
/// struct Introspect;
/// #[kms_sync_core::async_trait]
/// impl TokenVerifier for Introspect {
///     async fn verify(&self, token: &str) -> bool {
///         token.starts_with("kms_") // ask your identity provider instead
///     }
/// }
/// let auth = Auth::verifier(Introspect);
/// let also = Auth::verifier(|token: &str| token == "from-your-vault");
/// ```
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// Whether `token` (the text after `Bearer `) is valid. Compare secrets in constant
    /// time; never log the token.
    ///
    /// ```
    /// use kms_sync_api::TokenVerifier;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let only = |token: &str| token == "the-one-token-0123456789";
    /// assert!(only.verify("the-one-token-0123456789").await);
    /// # }
    /// ```
    async fn verify(&self, token: &str) -> bool;
}

#[async_trait]
impl<F> TokenVerifier for F
where
    F: Fn(&str) -> bool + Send + Sync,
{
    async fn verify(&self, token: &str) -> bool {
        self(token)
    }
}

/// How requests are authenticated and what the caller may do: static bearer tokens,
/// compared in constant time, or a [`TokenVerifier`] of yours — both org-wide, full-access
/// principals ([`Principal::full_access`]), as before principals existed — or an
/// [`Authorizer`] that answers a [`Principal`] per token (your KMS's permission service, or
/// the [`TokenFileAuthorizer`](crate::TokenFileAuthorizer)). A request without
/// `Authorization: Bearer <token>`, or with a token that is not accepted, gets 401 in the
/// KMS's envelope and changes nothing. `Debug` never shows a token.
///
/// ```
/// use kms_sync_api::Auth;
/// let auth = Auth::bearer_tokens(["a-long-random-token-0123456789"])?;
/// assert!(!format!("{auth:?}").contains("0123456789"));
/// assert!(Auth::bearer_tokens(["short"]).is_err());
/// assert!(Auth::bearer_tokens(Vec::<String>::new()).is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Auth {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// SHA-256 digests of the accepted tokens (so every comparison is of 32 bytes).
    Tokens(Arc<Vec<[u8; 32]>>),
    Verifier(Arc<dyn TokenVerifier>),
    Authorizer(Arc<dyn Authorizer>),
}

impl Auth {
    /// Accepts exactly these tokens (any of them). Each is kept only as its SHA-256
    /// digest; a presented token is hashed and compared with every digest in constant time.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for no token, or a token shorter than
    /// [`MIN_TOKEN_LEN`] bytes.
    ///
    /// ```
    /// let auth = kms_sync_api::Auth::bearer_tokens(["ops-token-0123456789abcdef", "ci-token-0123456789abcdef"])?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn bearer_tokens<I, T>(tokens: I) -> Result<Auth>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut digests = Vec::new();
        for (i, token) in tokens.into_iter().enumerate() {
            let token = token.as_ref();
            if token.len() < MIN_TOKEN_LEN {
                return Err(Error::config(format!(
                    "API auth: token #{} is shorter than {MIN_TOKEN_LEN} bytes",
                    i + 1
                )));
            }
            digests.push(digest(token));
        }
        if digests.is_empty() {
            return Err(Error::config(
                "API auth: give at least one bearer token (there is no unauthenticated mode)",
            ));
        }
        Ok(Auth {
            inner: Inner::Tokens(Arc::new(digests)),
        })
    }

    /// Accepts the tokens `verifier` accepts.
    ///
    /// ```
    /// let auth = kms_sync_api::Auth::verifier(|token: &str| token.len() == 40);
    /// ```
    pub fn verifier(verifier: impl TokenVerifier + 'static) -> Auth {
        Auth {
            inner: Inner::Verifier(Arc::new(verifier)),
        }
    }

    /// Principals from `authorizer`: each token stands for what the principal it answers
    /// may do.
    ///
    /// ```
    /// # fn f() -> kms_sync_core::Result<()> {
    /// let tokens = kms_sync_api::TokenFileAuthorizer::from_file("tokens.json")?;
    /// let auth = kms_sync_api::Auth::authorizer(tokens);
    /// # Ok(()) }
    /// ```
    pub fn authorizer(authorizer: impl Authorizer + 'static) -> Auth {
        Auth {
            inner: Inner::Authorizer(Arc::new(authorizer)),
        }
    }

    /// The principal `token` stands for, if it is accepted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> kms_sync_core::Result<()> {
    /// let auth = kms_sync_api::Auth::bearer_tokens(["a-long-random-token-0123456789"])?;
    /// let who = auth.principal("a-long-random-token-0123456789").await.expect("accepted");
    /// assert!(who.readable_projects().is_none(), "a static token has full access");
    /// # Ok(()) }
    /// ```
    pub async fn principal(&self, token: &str) -> Option<Principal> {
        match &self.inner {
            Inner::Authorizer(authorizer) => authorizer.principal(token).await,
            _ => self.accepts(token).await.then(Principal::full_access),
        }
    }

    /// Whether `token` is accepted.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> kms_sync_core::Result<()> {
    /// let auth = kms_sync_api::Auth::bearer_tokens(["a-long-random-token-0123456789"])?;
    /// assert!(auth.accepts("a-long-random-token-0123456789").await);
    /// assert!(!auth.accepts("a-long-random-token-012345678").await);
    /// # Ok(()) }
    /// ```
    pub async fn accepts(&self, token: &str) -> bool {
        match &self.inner {
            Inner::Tokens(digests) => {
                let presented = digest(token);
                let mut found = Choice::from(0);
                for known in digests.iter() {
                    found |= known.ct_eq(&presented);
                }
                bool::from(found)
            }
            Inner::Verifier(verifier) => verifier.verify(token).await,
            Inner::Authorizer(authorizer) => authorizer.principal(token).await.is_some(),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Tokens(d) => write!(f, "Auth::BearerTokens({} tokens, [REDACTED])", d.len()),
            Inner::Verifier(_) => f.write_str("Auth::Verifier"),
            Inner::Authorizer(_) => f.write_str("Auth::Authorizer"),
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The bearer token of `request`, if its `Authorization` header has one.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The authenticated caller, put into the request by [`require`]: its principal and the
/// SHA-256 of its token (the key of its rate limits).
#[derive(Clone)]
pub(crate) struct Caller {
    pub principal: Arc<Principal>,
    pub key: [u8; 32],
}

/// What the auth layer holds: how tokens are checked, and the API's organization.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub auth: Auth,
    pub org_id: String,
}

/// Refuses, with 401, every request without a token `auth` accepts (or whose principal is
/// of another organization); puts the [`Caller`] into the others.
pub(crate) async fn require(
    State(state): State<AuthState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer(&request) else {
        return ApiError::unauthorized("Token missing: send `Authorization: Bearer <token>`")
            .into_response();
    };
    let key = digest(token);
    let principal = match state.auth.principal(token).await {
        Some(p) if p.org_id().is_none_or(|org| org == state.org_id) => p,
        _ => return ApiError::unauthorized("Invalid token").into_response(),
    };
    request.extensions_mut().insert(Caller {
        principal: Arc::new(principal),
        key,
    });
    next.run(request).await
}
