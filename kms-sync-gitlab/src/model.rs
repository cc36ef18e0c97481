//! GitLab's JSON types for the paths kms-sync uses.

use serde::{Deserialize, Serialize};

/// A variable as a write answered it: the `key` and `environment_scope` (both required:
/// an answer without them, or about another variable, does not confirm the write), and the
/// `masked` and `hidden` it was stored with (`hidden` is absent before GitLab 17.4). A
/// listed variable is read by [`ListedVariable`](crate::listed::ListedVariable) instead.
#[derive(Deserialize)]
pub(crate) struct Written {
    pub key: String,
    pub environment_scope: String,
    pub masked: Option<bool>,
    pub hidden: Option<bool>,
}

/// The body of a create (`POST`) or an update (`PUT`). `value` is exposed from a
/// `SecretValue` only here. `key` goes in the body of a create only (an update names it in
/// its path); `masked_and_hidden` is accepted on create only.
#[derive(Serialize)]
pub(crate) struct VariableBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    pub value: &'a str,
    pub variable_type: &'static str,
    pub protected: bool,
    pub masked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_and_hidden: Option<bool>,
    pub raw: bool,
    pub environment_scope: &'a str,
}

/// The authenticated user, as `GET /api/v4/user` returns it.
///
/// ```
/// let user: kms_sync_gitlab::User = serde_json::from_str(r#"{"id": 1, "username": "bot"}"#)?;
/// assert_eq!(user.username.as_deref(), Some("bot"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user's id.
    #[serde(default)]
    pub id: Option<u64>,
    /// The username (for a project or group access token: its bot user).
    #[serde(default)]
    pub username: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
}
