//! The JSON of the routes that span every destination: the options (which kinds this API
//! serves) and the connections a caller may use, in the KMS's field names.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One destination kind a sync can write, as `GET /api/v1/secret-syncs/options` lists it.
///
/// ```
/// let o: kms_sync_api::SecretSyncOption = serde_json::from_str(
///     r#"{"name": "Vault", "connection": "vault", "destination": "vault", "canImportSecrets": true}"#)?;
/// assert!(o.can_import_secrets);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncOption {
    /// The kind's display name.
    pub name: String,
    /// The app of the connections it takes (the kind itself).
    pub connection: String,
    /// The kind, as in the URLs.
    pub destination: String,
    /// Whether its syncs can import secrets from the destination.
    pub can_import_secrets: bool,
}

/// `{"secretSyncOptions": [...]}`.
///
/// ```
/// let o: kms_sync_api::SecretSyncOptions = serde_json::from_str(r#"{"secretSyncOptions": []}"#)?;
/// assert!(o.secret_sync_options.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncOptions {
    /// Every kind this API serves, in the registry's order.
    pub secret_sync_options: Vec<SecretSyncOption>,
}

/// One app a connection can be made to, as `GET /api/v1/app-connections/options` lists it.
///
/// ```
/// let o: kms_sync_api::AppConnectionOption = serde_json::from_str(
///     r#"{"name": "Vault", "app": "vault", "methods": ["token"]}"#)?;
/// assert_eq!(o.methods, ["token"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOption {
    /// The app's display name.
    pub name: String,
    /// The app, as in the URLs.
    pub app: String,
    /// The connection methods it takes.
    pub methods: Vec<String>,
}

/// `{"appConnectionOptions": [...]}`.
///
/// ```
/// let o: kms_sync_api::AppConnectionOptions = serde_json::from_str(r#"{"appConnectionOptions": []}"#)?;
/// assert!(o.app_connection_options.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionOptions {
    /// Every app this API serves, in the registry's order.
    pub app_connection_options: Vec<AppConnectionOption>,
}

/// A connection the caller may use for a sync (`connect`), as
/// `GET /api/v1/app-connections/{app}/available` lists it: no credentials at all.
///
/// ```
/// let c: kms_sync_api::AvailableConnection = serde_json::from_str(
///     r#"{"app": "vault", "name": "vc", "id": "e5d18aca-86f7-4026-a95e-efb8aeb0d8e6", "projectId": null, "orgId": "o"}"#)?;
/// assert!(c.project_id.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnection {
    /// The app.
    pub app: String,
    /// The connection's name.
    pub name: String,
    /// The connection's id.
    pub id: String,
    /// Its project; null for an organization-level connection.
    pub project_id: Option<String>,
    /// The organization.
    pub org_id: String,
}

/// `{"appConnections": [...]}` of the available connections.
///
/// ```
/// let l: kms_sync_api::AvailableConnectionList = serde_json::from_str(r#"{"appConnections": []}"#)?;
/// assert!(l.app_connections.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableConnectionList {
    /// The connections, oldest first.
    pub app_connections: Vec<AvailableConnection>,
}
