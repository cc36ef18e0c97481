//! [`TokenFileAuthorizer`]: principals from a JSON file of tokens, each kept as its SHA-256
//! digest and bound to projects, actions and conditions.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use kms_sync_core::{async_trait, Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::condition::Conditions;
use super::principal::{Action, Grant, Principal, Subject};
use super::Authorizer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    #[serde(default)]
    org_id: Option<String>,
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawToken {
    name: String,
    sha256: String,
    #[serde(default)]
    full_access: bool,
    #[serde(default)]
    org_connections: Vec<Action>,
    #[serde(default)]
    projects: BTreeMap<String, Vec<RawGrant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    subject: Subject,
    actions: Vec<Action>,
    #[serde(default)]
    conditions: Conditions,
}

/// Principals from a token file (JSON), read strictly: an unknown field, action or
/// subject is refused with its line and column, a bad entry with its place
/// (`tokens[1].projects["p"][0]`). Tokens are stored as the hex SHA-256 of the token
/// ([`TokenFileAuthorizer::digest`]), never in the clear; a presented token is hashed and
/// compared with every digest in constant time.
///
/// ```
/// use kms_sync_api::{Action, Authorizer, TokenFileAuthorizer};
/// let digest = TokenFileAuthorizer::digest("tenant-a-token-0123456789");
/// let file = format!(r#"{{"tokens": [{{
///     "name": "tenant-a", "sha256": "{digest}",
///     "projects": {{"project-a": [
///         {{"subject": "secret-syncs", "actions": ["read", "sync-secrets"],
///           "conditions": {{"environment": {{"$in": ["dev", "staging"]}}, "secretPath": {{"$glob": "/app/**"}}}}}},
///         {{"subject": "app-connections", "actions": ["read"]}}
///     ]}}
/// }}]}}"#);
/// let tokens = TokenFileAuthorizer::from_json(&file)?;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let tenant = tokens.principal("tenant-a-token-0123456789").await.expect("known");
/// assert!(tenant.may_sync(Some("project-a"), Action::SyncSecrets, "dev", "/app/db"));
/// assert!(!tenant.may_sync(Some("project-a"), Action::SyncSecrets, "prod", "/app/db"));
/// assert!(tokens.principal("another-token-0123456789").await.is_none());
/// # });
/// let err = TokenFileAuthorizer::from_json(r#"{"tokens": [{"name": "x", "sha256": "00", "acions": []}]}"#)
///     .expect_err("typo");
/// assert!(err.to_string().contains("line 1"), "{err}");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenFileAuthorizer {
    entries: Vec<([u8; 32], Principal)>,
}

impl TokenFileAuthorizer {
    /// The hex SHA-256 of `token`: what the file stores.
    ///
    /// ```
    /// let d = kms_sync_api::TokenFileAuthorizer::digest("a-token");
    /// assert_eq!(d.len(), 64);
    /// ```
    pub fn digest(token: &str) -> String {
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Reads the file at `path` (see [`from_json`](Self::from_json)).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) when it cannot be read or is refused.
    ///
    /// ```no_run
    /// let tokens = kms_sync_api::TokenFileAuthorizer::from_file("/etc/kms-sync/tokens.json")?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<TokenFileAuthorizer> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "token file {}: cannot read it: {e}",
                path.display()
            ))
        })?;
        TokenFileAuthorizer::from_json(&text)
            .map_err(|e| Error::config(format!("{}: {}", path.display(), e.message())))
    }

    /// Parses a token file.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config): JSON that does not parse, an unknown
    /// field, subject or action (with line and column), no token, a `sha256` that is not 64
    /// hex digits or appears twice, an action not of its subject, conditions on app
    /// connections or without an operator (naming the entry).
    pub fn from_json(text: &str) -> Result<TokenFileAuthorizer> {
        let raw: RawFile =
            serde_json::from_str(text).map_err(|e| Error::config(format!("token file: {e}")))?;
        if raw.tokens.is_empty() {
            return Err(Error::config("token file: `tokens` is empty"));
        }
        let mut entries: Vec<([u8; 32], Principal)> = Vec::new();
        for (i, token) in raw.tokens.into_iter().enumerate() {
            let at = format!("token file: tokens[{i}]");
            let digest = parse_digest(&token.sha256)
                .ok_or_else(|| Error::config(format!("{at}.sha256: not 64 hex digits")))?;
            if entries.iter().any(|(d, _)| *d == digest) {
                return Err(Error::config(format!(
                    "{at}.sha256: the same token appears twice"
                )));
            }
            let principal = principal_of(token, raw.org_id.as_deref(), &at)?;
            entries.push((digest, principal));
        }
        Ok(TokenFileAuthorizer { entries })
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn principal_of(token: RawToken, org_id: Option<&str>, at: &str) -> Result<Principal> {
    if token.name.trim().is_empty() {
        return Err(Error::config(format!("{at}.name: must not be empty")));
    }
    let mut principal = if token.full_access {
        Principal::full_access()
    } else {
        Principal::new(token.name.clone())
    };
    if let Some(org) = org_id {
        principal = principal.in_org(org);
    }
    principal = principal
        .org_connections(token.org_connections)
        .map_err(|e| Error::config(format!("{at}.orgConnections: {}", e.message())))?;
    for (project, grants) in token.projects {
        for (j, raw) in grants.into_iter().enumerate() {
            let place = format!("{at}.projects[{project:?}][{j}]");
            let grant = Grant::new(raw.subject, raw.actions)
                .and_then(|g| g.when(raw.conditions))
                .map_err(|e| Error::config(format!("{place}: {}", e.message())))?;
            principal = principal.grant(project.clone(), grant);
        }
    }
    Ok(principal)
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[async_trait]
impl Authorizer for TokenFileAuthorizer {
    async fn principal(&self, token: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (digest, principal) in &self.entries {
            if bool::from(Choice::from(1) & digest.ct_eq(&presented)) {
                found = Some(principal);
            }
        }
        found.cloned()
    }
}

impl fmt::Debug for TokenFileAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(_, p)| p.name()).collect();
        f.debug_struct("TokenFileAuthorizer")
            .field("tokens", &names)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(token: &str) -> String {
        format!(r#"{{"tokens": [{token}]}}"#)
    }

    fn refused(text: &str, needle: &str) {
        let err = TokenFileAuthorizer::from_json(text).expect_err(needle);
        assert!(err.to_string().contains(needle), "{needle}: {err}");
    }

    #[test]
    fn a_token_file_is_read_strictly_naming_the_place() {
        let d = TokenFileAuthorizer::digest("t-0123456789");
        let entry =
            |projects: &str| format!(r#"{{"name": "a", "sha256": "{d}", "projects": {projects}}}"#);
        refused(
            &file(&entry(
                r#"{"p": [{"subject": "secret-syncs", "actions": ["connect"]}]}"#,
            )),
            r#"tokens[0].projects["p"][0]: `connect` is not an action on secret-syncs"#,
        );
        refused(
            &file(&entry(
                r#"{"p": [{"subject": "secret-sync", "actions": ["read"]}]}"#,
            )),
            "line 1",
        );
        refused(
            &file(&entry(
                r#"{"p": [{"subject": "app-connections", "actions": ["read"], "conditions": {"environment": {"$eq": "dev"}}}]}"#,
            )),
            "app-connections take no conditions",
        );
        refused(
            &file(&entry(
                r#"{"p": [{"subject": "secrets", "actions": ["read-value"], "conditions": {"secretPath": {}}}]}"#,
            )),
            "names no operator",
        );
        refused(
            &file(&entry(
                r#"{"p": [{"subject": "secrets", "actions": ["read-value"], "conditions": {"secretPath": {"$regex": "x"}}}]}"#,
            )),
            "unknown field `$regex`",
        );
        refused(
            &file(&entry(r#"{"p": [{"subject": "secrets", "actions": []}]}"#)),
            "names no action",
        );
        refused(
            &file(r#"{"name": "a", "sha256": "abc"}"#),
            "tokens[0].sha256: not 64 hex digits",
        );
        let twice = format!("{},{}", entry("{}"), entry("{}"));
        refused(
            &file(&twice),
            "tokens[1].sha256: the same token appears twice",
        );
        refused(r#"{"tokens": []}"#, "`tokens` is empty");
        refused(
            "{\n  \"tokens\": [\n    {\"name\": \"a\", \"sha265\": \"x\"}\n  ]\n}",
            "line 3",
        );
        let ok = TokenFileAuthorizer::from_json(&file(&entry("{}"))).expect("valid");
        assert_eq!(ok.len(), 1);
        assert!(!format!("{ok:?}").contains(&d));
    }
}
