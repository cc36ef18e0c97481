//! The Checkly connection (API key) and destination config, in the KMS's JSON shapes.

use std::fmt;

use kms_sync_core::{parse_app_connection, parse_json, Error, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A Checkly connection: method `api-key` — a user or service API key, sent as a Bearer
/// token. The account it acts on comes from the destination config and is sent as
/// `X-Checkly-Account` on every request.
///
/// ```
/// use kms_sync_checkly::ChecklyConnection;
/// let conn = ChecklyConnection::from_kms_json(r#"{
///     "name": "my-checkly-connection", "method": "api-key",
///     "credentials": {"apiKey": "cu_example_key"}
/// }"#)?;
/// assert!(!format!("{conn:?}").contains("cu_example_key"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ChecklyConnection {
    name: Option<String>,
    api_key: SecretString,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsBody {
    api_key: String,
}

impl ChecklyConnection {
    /// A connection from an API key.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty key.
    pub fn new(api_key: impl Into<String>) -> Result<Self> {
        let api_key = api_key.into();
        if api_key.trim().is_empty() {
            return Err(Error::config("Checkly connection: the API key is empty"));
        }
        Ok(ChecklyConnection {
            name: None,
            api_key: SecretString::from(api_key),
        })
    }

    /// Reads the KMS's connection body: `{"name", "method": "api-key", "credentials":
    /// {"apiKey"}}` (plus optional `description`, `projectId`).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields, another
    /// method or an empty key — never echoing the key.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body = parse_app_connection::<CredentialsBody>(json, "Checkly", "api-key")?;
        let mut conn = ChecklyConnection::new(body.credentials.api_key)?;
        conn.name = body.name;
        Ok(conn)
    }

    /// The connection's name, if it came from the KMS's JSON.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn auth(&self) -> kms_sync_core::http::Auth {
        kms_sync_core::http::Auth::bearer(self.api_key.expose_secret())
    }
}

impl fmt::Debug for ChecklyConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChecklyConnection")
            .field("name", &self.name)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

/// A check group, by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupRef {
    Id(u64),
    Name(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrText {
    Id(u64),
    Text(String),
}

/// Where in Checkly to sync: the account's environment variables, or one check group's.
///
/// The KMS's `destinationConfig`: `accountId` (required), `accountName` (kept for display),
/// optional `groupId` (a number, or digits in a string) or `groupName`.
///
/// ```
/// use kms_sync_checkly::ChecklyConfig;
/// let account = ChecklyConfig::from_kms_json(r#"{
///     "accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"
/// }"#)?;
/// assert_eq!(account.target(), "Example Company");
/// let group = ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a").with_group_id(42);
/// assert_eq!(group.target(), "3c90c3cc-0d44-4b50-8888-8dd25736052a/group 42");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklyConfig {
    account_id: String,
    account_name: Option<String>,
    group: Option<GroupRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigBody {
    account_id: String,
    #[serde(default)]
    account_name: Option<String>,
    #[serde(default)]
    group_id: Option<IdOrText>,
    #[serde(default)]
    group_name: Option<String>,
}

impl ChecklyConfig {
    /// The account's environment variables.
    pub fn account(account_id: impl Into<String>) -> Self {
        ChecklyConfig {
            account_id: account_id.into(),
            account_name: None,
            group: None,
        }
    }

    /// The account's name, for display.
    pub fn with_account_name(mut self, name: impl Into<String>) -> Self {
        self.account_name = Some(name.into());
        self
    }

    /// A check group's variables, by id.
    pub fn with_group_id(mut self, id: u64) -> Self {
        self.group = Some(GroupRef::Id(id));
        self
    }

    /// A check group's variables, by name.
    pub fn with_group_name(mut self, name: impl Into<String>) -> Self {
        self.group = Some(GroupRef::Name(name.into()));
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields or bad values.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body: ConfigBody = parse_json(json, "Checkly destinationConfig")?;
        let group = match (body.group_id, body.group_name) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "Checkly destinationConfig: give groupId or groupName, not both",
                ))
            }
            (Some(IdOrText::Id(id)), None) => Some(GroupRef::Id(id)),
            (Some(IdOrText::Text(text)), None) => Some(GroupRef::Id(text.trim().parse().map_err(|_| {
                Error::config(format!(
                    "Checkly destinationConfig.groupId `{text}` is not a number; use groupName for a name"
                ))
            })?)),
            (None, Some(name)) => Some(GroupRef::Name(name)),
            (None, None) => None,
        };
        let config = ChecklyConfig {
            account_id: body.account_id,
            account_name: body.account_name,
            group,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the account id and the group reference.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        let id = self.account_id.trim();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(Error::config(format!(
                "Checkly destinationConfig.accountId `{}` is not an account id (a UUID)",
                self.account_id
            )));
        }
        match &self.group {
            Some(GroupRef::Id(0)) => Err(Error::config(
                "Checkly destinationConfig.groupId must be positive",
            )),
            Some(GroupRef::Name(n)) if n.trim().is_empty() => Err(Error::config(
                "Checkly destinationConfig.groupName is empty",
            )),
            _ => Ok(()),
        }
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// `account[/group]`, with the account's name when known.
    pub fn target(&self) -> String {
        let account = self
            .account_name
            .clone()
            .unwrap_or_else(|| self.account_id.clone());
        match &self.group {
            None => account,
            Some(GroupRef::Id(id)) => format!("{account}/group {id}"),
            Some(GroupRef::Name(name)) => format!("{account}/{name}"),
        }
    }

    pub(crate) fn group(&self) -> Option<&GroupRef> {
        self.group.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";

    #[test]
    fn group_by_id_number_or_string_or_name() -> Result<()> {
        let by_number = ChecklyConfig::from_kms_json(&format!(
            r#"{{"accountId": "{ACCOUNT}", "groupId": 7}}"#
        ))?;
        let by_text = ChecklyConfig::from_kms_json(&format!(
            r#"{{"accountId": "{ACCOUNT}", "groupId": "7"}}"#
        ))?;
        assert_eq!(by_number, by_text);
        assert_eq!(by_number.group(), Some(&GroupRef::Id(7)));
        let by_name = ChecklyConfig::from_kms_json(&format!(
            r#"{{"accountId": "{ACCOUNT}", "groupName": "API checks"}}"#
        ))?;
        assert_eq!(by_name.group(), Some(&GroupRef::Name("API checks".into())));
        Ok(())
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"accountName": "x"}"#.to_owned(),
                "missing field `accountId`",
            ),
            (r#"{"accountId": "not an id!"}"#.to_owned(), "accountId"),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupId": "abc"}}"#),
                "not a number",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupId": 1, "groupName": "x"}}"#),
                "not both",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "group": 1}}"#),
                "unknown field `group`",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}",}}"#),
                "trailing comma",
            ),
        ];
        for (json, expected) in cases {
            let err = ChecklyConfig::from_kms_json(&json).expect_err(&json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
        let err = ChecklyConnection::from_kms_json(
            r#"{"method": "api-key", "credentials": {"apiKey": 12345}}"#,
        )
        .expect_err("type");
        assert!(!err.to_string().contains("12345"), "{err}");
    }
}
