//! Checkly's JSON types for the paths kms-sync uses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A variable as written (`key` only on create). The value is exposed from a `SecretValue`
/// only here.
#[derive(Serialize)]
pub(crate) struct VariableBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    pub value: &'a str,
    pub secret: bool,
    pub locked: bool,
}

/// A variable as a write answers it (`EnvironmentVariablesV1MutationResponse`: `key`,
/// `value`, `locked`, `secret`, all required). kms-sync checks the key is the one written;
/// the value is required but not kept.
#[derive(Deserialize)]
pub(crate) struct WrittenVariable {
    pub key: String,
    #[allow(dead_code)]
    pub value: serde::de::IgnoredAny,
    #[allow(dead_code)]
    pub secret: bool,
}

/// A check group as its PUT answers it (`CheckGroup`): kms-sync checks the id and that it is
/// a group (a `name`).
#[derive(Deserialize)]
pub(crate) struct WrittenGroup {
    pub id: u64,
    #[allow(dead_code)]
    pub name: String,
}

/// A check group: kms-sync reads only its id, name and variables, and keeps each variable as
/// the raw JSON it came in (so unmanaged entries go back byte for byte). `environmentVariables`
/// is optional in Checkly's document, but a read without it is incomplete, never "no
/// variables" (see [`GroupVariables`](crate::GroupVariables)).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub environment_variables: Option<Vec<Value>>,
}

/// An account the key can access.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The account id.
    pub id: String,
    /// The account's name.
    #[serde(default)]
    pub name: String,
}
