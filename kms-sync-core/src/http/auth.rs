//! Credentials for the HTTP client.

use std::fmt;

use secrecy::SecretString;

/// How requests authenticate. Secrets live in [`SecretString`]; `Debug` shows only the kind
/// (and the user name or header name, which are not secret).
///
/// ```
/// use kms_sync_core::http::Auth;
/// let auth = Auth::basic("me@example.com", "api-token-value");
/// assert!(!format!("{auth:?}").contains("api-token-value"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials.
    None,
    /// HTTP Basic (e.g. an account email and an API token).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: SecretString,
    },
    /// `Authorization: Bearer …`.
    Bearer(SecretString),
    /// A custom header carrying a key (e.g. `X-Svc-ApiKey`).
    Header {
        /// The header name.
        name: String,
        /// The header value.
        value: SecretString,
    },
}

impl Auth {
    /// HTTP Basic.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Auth::Basic {
            username: username.into(),
            password: SecretString::from(password.into()),
        }
    }

    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Auth::Bearer(SecretString::from(token.into()))
    }

    /// A key in a custom header.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Self {
        Auth::Header {
            name: name.into(),
            value: SecretString::from(value.into()),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Basic { username, .. } => write!(f, "Auth::Basic({username}, [REDACTED])"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer([REDACTED])"),
            Auth::Header { name, .. } => write!(f, "Auth::Header({name}: [REDACTED])"),
        }
    }
}
