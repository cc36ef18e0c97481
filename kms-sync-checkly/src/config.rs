//! The Checkly connection (API key) and destination config, in the KMS's JSON shapes.

use std::fmt;

use kms_sync_core::{parse_app_connection, parse_json, DestinationIdentity, Error, Result};
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
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an empty key, or one longer than the
    /// KMS's 255 characters. The key is trimmed, as the KMS trims it before storing.
    pub fn new(api_key: impl Into<String>) -> Result<Self> {
        let api_key = SecretString::from(api_key.into().trim().to_owned());
        if api_key.expose_secret().is_empty() {
            return Err(Error::config("Checkly connection: the API key is empty"));
        }
        if api_key.expose_secret().chars().count() > MAX_FIELD_LEN {
            return Err(Error::config(format!(
                "Checkly connection: the API key is longer than {MAX_FIELD_LEN} characters"
            )));
        }
        Ok(ChecklyConnection {
            name: None,
            api_key,
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

/// A check group: by id, by name, or by id with the name the KMS stored beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupRef {
    Id(u64),
    Name(String),
    /// `groupId` and `groupName` together, as the KMS stores them: the id decides, and the
    /// name must be the group's (checked when the group is first read).
    IdNamed(u64, String),
}

impl GroupRef {
    /// The configured id, if any.
    fn id(&self) -> Option<u64> {
        match self {
            GroupRef::Id(id) | GroupRef::IdNamed(id, _) => Some(*id),
            GroupRef::Name(_) => None,
        }
    }

    /// The configured name, if any.
    fn name(&self) -> Option<&str> {
        match self {
            GroupRef::Name(name) | GroupRef::IdNamed(_, name) => Some(name),
            GroupRef::Id(_) => None,
        }
    }

    /// For `groupId` + `groupName`: checks the name Checkly gives group `id` against the
    /// configured one (exactly, or regardless of case).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming both names: the id decides which
    /// group is written, so a name that does not match means the definition is not what its
    /// author thinks.
    pub(crate) fn check_name(id: u64, configured: &str, actual: &str) -> Result<()> {
        if configured == actual || configured.trim().eq_ignore_ascii_case(actual.trim()) {
            return Ok(());
        }
        Err(Error::config(format!(
            "Checkly destinationConfig: groupId `{id}` is the check group `{actual}`, but groupName says `{configured}`; \
             the id decides which group is written, so correct groupName (or drop it) if group {id} is the right one"
        )))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdOrText {
    Id(u64),
    Text(String),
}

/// The KMS's limit on each text field of Checkly's `destinationConfig`.
const MAX_FIELD_LEN: usize = 255;

/// Where in Checkly to sync: the account's environment variables, or one check group's.
///
/// The KMS's `destinationConfig` (its schema: every field a string of 1–255 characters):
///
/// | field | type | |
/// |---|---|---|
/// | `accountId` | string | required; the account's UUID, sent as `X-Checkly-Account` |
/// | `accountName` | string | optional; for display |
/// | `groupId` | string of digits (a JSON number is accepted too) | optional: a check group's variables instead of the account's |
/// | `groupName` | string | optional: the group by name; with `groupId`, the id decides and the name must match it |
///
/// The KMS stores `groupId` and `groupName` together (as it does `accountId` and
/// `accountName`). When both are given the id decides which group is written, and a name
/// that is not that group's is a [`Config`](kms_sync_core::ErrorKind::Config) error when the
/// group is first read — before anything is written. Unknown fields are refused.
///
/// ```
/// use kms_sync_checkly::ChecklyConfig;
/// let account = ChecklyConfig::from_kms_json(r#"{
///     "accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"
/// }"#)?;
/// assert_eq!(account.target(), "Example Company");
/// let group = ChecklyConfig::from_kms_json(r#"{
///     "accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company",
///     "groupId": "42", "groupName": "API checks"
/// }"#)?;
/// assert_eq!(group.group_id(), Some(42));
/// assert_eq!(group.group_name(), Some("API checks"));
/// let by_id = ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a").with_group_id(42);
/// assert_eq!(by_id.target(), "3c90c3cc-0d44-4b50-8888-8dd25736052a/group 42");
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

fn group_id(value: IdOrText) -> Result<u64> {
    match value {
        IdOrText::Id(id) => Ok(id),
        IdOrText::Text(text) => {
            let digits = text.trim();
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(Error::config(format!(
                    "Checkly destinationConfig.groupId `{text}` is not a check group id (digits); use groupName for a name"
                )));
            }
            digits.parse().map_err(|_| {
                Error::config(format!(
                    "Checkly destinationConfig.groupId `{text}` is too large for a check group id"
                ))
            })
        }
    }
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

    /// A check group's variables, by id. A name given before is kept, to be checked against
    /// the group (as `groupId` + `groupName` are).
    pub fn with_group_id(mut self, id: u64) -> Self {
        self.group = Some(match self.group.as_ref().and_then(GroupRef::name) {
            Some(name) => GroupRef::IdNamed(id, name.to_owned()),
            None => GroupRef::Id(id),
        });
        self
    }

    /// A check group's variables, by name. With an id given before, the id decides and the
    /// name is checked against the group (as `groupId` + `groupName` are).
    pub fn with_group_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.group = Some(match self.group.as_ref().and_then(GroupRef::id) {
            Some(id) => GroupRef::IdNamed(id, name),
            None => GroupRef::Name(name),
        });
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, unknown fields or bad values.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let body: ConfigBody = parse_json(json, "Checkly destinationConfig")?;
        let group = match (body.group_id.map(group_id).transpose()?, body.group_name) {
            (Some(id), Some(name)) => Some(GroupRef::IdNamed(id, name)),
            (Some(id), None) => Some(GroupRef::Id(id)),
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

    /// Checks the fields against the KMS's limits (1–255 characters each), the account id's
    /// form and the group id.
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
        let mut texts = vec![("accountId", self.account_id.as_str())];
        texts.extend(self.account_name.as_deref().map(|n| ("accountName", n)));
        texts.extend(
            self.group
                .as_ref()
                .and_then(GroupRef::name)
                .map(|n| ("groupName", n)),
        );
        for (field, text) in texts {
            if text.trim().is_empty() {
                return Err(Error::config(format!(
                    "Checkly destinationConfig.{field} is empty"
                )));
            }
            if text.chars().count() > MAX_FIELD_LEN {
                return Err(Error::config(format!(
                    "Checkly destinationConfig.{field} is longer than {MAX_FIELD_LEN} characters"
                )));
            }
        }
        if self.group.as_ref().and_then(GroupRef::id) == Some(0) {
            return Err(Error::config(
                "Checkly destinationConfig.groupId must be positive",
            ));
        }
        Ok(())
    }

    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The account's name, if given.
    pub fn account_name(&self) -> Option<&str> {
        self.account_name.as_deref()
    }

    /// The check group's id, if given.
    pub fn group_id(&self) -> Option<u64> {
        self.group.as_ref().and_then(GroupRef::id)
    }

    /// The check group's name, if given.
    pub fn group_name(&self) -> Option<&str> {
        self.group.as_ref().and_then(GroupRef::name)
    }

    /// `account[/group]`, with the account's name when known.
    pub fn target(&self) -> String {
        let account = self
            .account_name
            .clone()
            .unwrap_or_else(|| self.account_id.clone());
        match &self.group {
            None => account,
            Some(GroupRef::Id(id) | GroupRef::IdNamed(id, _)) => format!("{account}/group {id}"),
            Some(GroupRef::Name(name)) => format!("{account}/{name}"),
        }
    }

    /// Which Checkly scope this config picks, value-free: what a ledger is bound to.
    /// `checkly:account=<id>` for the account's variables, with `,group=<id>` for a group
    /// configured by id (its name is display only) or `,group-name=<name>` for one configured
    /// by name only. The account id is lowercased (a UUID); a group name is trimmed.
    ///
    /// ```
    /// use kms_sync_checkly::ChecklyConfig;
    /// let config = ChecklyConfig::account("3C90C3CC-0D44-4B50-8888-8DD25736052A").with_group_id(12);
    /// assert_eq!(
    ///     config.identity().to_string(),
    ///     "checkly:account=3c90c3cc-0d44-4b50-8888-8dd25736052a,group=12"
    /// );
    /// ```
    pub fn identity(&self) -> DestinationIdentity {
        let identity = DestinationIdentity::new("checkly")
            .with("account", self.account_id.trim().to_ascii_lowercase());
        match &self.group {
            None => identity,
            Some(GroupRef::Id(id) | GroupRef::IdNamed(id, _)) => {
                identity.with("group", id.to_string())
            }
            Some(GroupRef::Name(name)) => identity.with("group-name", name.trim()),
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

    /// What the KMS stores: every field, the group id as a string, beside its name.
    #[test]
    fn the_kms_body_with_both_group_fields() -> Result<()> {
        let config = ChecklyConfig::from_kms_json(&format!(
            r#"{{"accountId": "{ACCOUNT}", "accountName": "Example Company", "groupId": "1234", "groupName": "API checks"}}"#
        ))?;
        assert_eq!(
            config.group(),
            Some(&GroupRef::IdNamed(1234, "API checks".into()))
        );
        assert_eq!(config.account_name(), Some("Example Company"));
        assert_eq!(
            ChecklyConfig::account(ACCOUNT)
                .with_group_id(1234)
                .with_group_name("API checks"),
            ChecklyConfig::account(ACCOUNT)
                .with_group_name("API checks")
                .with_group_id(1234),
        );
        assert!(GroupRef::check_name(1234, "API checks", "API checks").is_ok());
        assert!(GroupRef::check_name(1234, "api checks", "API checks").is_ok());
        let err = GroupRef::check_name(1234, "Web checks", "API checks").expect_err("mismatch");
        for part in ["1234", "`API checks`", "`Web checks`", "id decides"] {
            assert!(err.to_string().contains(part), "{err}");
        }
        Ok(())
    }

    #[test]
    fn refusals_name_the_field() {
        let long = "x".repeat(256);
        let cases = [
            (
                r#"{"accountName": "x"}"#.to_owned(),
                "missing field `accountId`",
            ),
            (r#"{"accountId": "not an id!"}"#.to_owned(), "accountId"),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupId": "abc"}}"#),
                "not a check group id",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupId": ""}}"#),
                "not a check group id",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupId": "0"}}"#),
                "must be positive",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "accountName": ""}}"#),
                "accountName is empty",
            ),
            (
                format!(r#"{{"accountId": "{ACCOUNT}", "groupName": "{long}"}}"#),
                "groupName is longer than 255",
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

    #[test]
    fn the_api_key_is_trimmed_as_the_kms_trims_it() -> Result<()> {
        let conn = ChecklyConnection::from_kms_json(
            r#"{"method": "api-key", "credentials": {"apiKey": " cu_key\n"}}"#,
        )?;
        assert_eq!(conn.api_key.expose_secret(), "cu_key");
        assert!(ChecklyConnection::new("  ").is_err());
        assert!(ChecklyConnection::new("k".repeat(256)).is_err());
        Ok(())
    }
}
