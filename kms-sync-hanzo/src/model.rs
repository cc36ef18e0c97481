//! The KMS's JSON types for the paths kms-sync uses.

use serde::Deserialize;

/// The login and renew answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: u64,
    #[serde(default, rename = "accessTokenMaxTTL")]
    pub access_token_max_ttl: u64,
}

/// One secret as listed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawSecret {
    pub secret_key: String,
    pub secret_value: String,
    #[serde(default)]
    pub version: u64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub secret_value_hidden: bool,
}

/// One import: another environment/folder's secrets, in import order (its `environment` and
/// `secretPath` are not needed).
#[derive(Deserialize)]
pub(crate) struct RawImport {
    #[serde(default)]
    pub secrets: Vec<RawSecret>,
}

/// The list answer.
#[derive(Deserialize)]
pub(crate) struct SecretList {
    pub secrets: Vec<RawSecret>,
    #[serde(default)]
    pub imports: Vec<RawImport>,
}
