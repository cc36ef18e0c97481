//! GitHub's JSON types for the routes kms-sync uses (fields as `github.subset.json` names
//! them). Answers are read with every field optional only so that a missing one can be
//! named; a list is read by [`listed`](crate::listed).

use serde::{Deserialize, Serialize};

/// `actions-public-key`: `{key_id, key}`, both required.
#[derive(Deserialize)]
pub(crate) struct PublicKeyBody {
    pub key_id: Option<KeyId>,
    pub key: Option<String>,
}

/// A `key_id` (text in the description; accepted as a number too).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyId {
    Text(String),
    Number(u64),
}

impl KeyId {
    pub fn into_text(self) -> String {
        match self {
            KeyId::Text(t) => t,
            KeyId::Number(n) => n.to_string(),
        }
    }
}

/// `installation-token`: the token and when it expires. No `Debug`: a token inside.
#[derive(Deserialize)]
pub(crate) struct InstallationToken {
    pub token: Option<String>,
    pub expires_at: Option<String>,
}

/// The body of `PUT …/secrets/{secret_name}`. `encrypted_value` is the sealed value: the
/// plaintext never leaves the process.
#[derive(Serialize)]
pub(crate) struct SecretBody<'a> {
    pub encrypted_value: &'a str,
    pub key_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_repository_ids: Option<&'a [u64]>,
}

/// The authenticated user, as `GET /user` returns it.
///
/// ```
/// let user: kms_sync_github::User = serde_json::from_str(r#"{"login": "octocat", "id": 1}"#)?;
/// assert_eq!(user.login.as_deref(), Some("octocat"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The account's login.
    #[serde(default)]
    pub login: Option<String>,
    /// The account's numeric id.
    #[serde(default)]
    pub id: Option<u64>,
}
