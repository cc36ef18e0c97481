//! The JSON this API answers (and, for the OpenAPI document, the bodies it reads), in the
//! KMS's field names and nesting.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `connection` of a sync: `{app, name, id}`.
///
/// ```
/// let c: kms_sync_api::SyncConnection = serde_json::from_str(r#"{"app": "vault", "name": "vc", "id": "e5d18aca-86f7-4026-a95e-efb8aeb0d8e6"}"#)?;
/// assert_eq!(c.app, "vault");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncConnection {
    /// The connection's app (a destination kind, as in the URL).
    pub app: String,
    /// The connection's name.
    pub name: String,
    /// The connection's id.
    pub id: String,
}

/// `environment` of a sync: `{slug, name, id}`. The registry keeps the slug; the name is
/// the KMS's default name for `dev`, `staging` and `prod` (or one you configure), and the id
/// is derived from the project and the slug, stable across calls.
///
/// ```
/// let e: kms_sync_api::SyncEnvironment = serde_json::from_str(r#"{"slug": "dev", "name": "Development", "id": "x"}"#)?;
/// assert_eq!(e.name, "Development");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncEnvironment {
    /// The environment's slug (`environment` of the create body).
    pub slug: String,
    /// Its display name.
    pub name: String,
    /// Its id (derived: stable for a project and slug).
    pub id: String,
}

/// `folder` of a sync: `{id, path}`; the id is derived from the project, the environment
/// and the path (also `folderId`).
///
/// ```
/// let f: kms_sync_api::SyncFolder = serde_json::from_str(r#"{"id": "x", "path": "/my-secrets"}"#)?;
/// assert_eq!(f.path, "/my-secrets");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SyncFolder {
    /// The folder's id (derived).
    pub id: String,
    /// The secret path (`secretPath` of the create body).
    pub path: String,
}

/// A Secret Sync as the KMS answers it: every field of the KMS's sample responses, the
/// status of the last sync, import and remove included. `isEnabled` and `isAutoSyncEnabled`
/// (each in some of the KMS's samples) are both present.
///
/// ```
/// # fn show(sync: kms_sync_api::SecretSync) {
/// println!("{} {} {:?} {:?}", sync.name, sync.destination, sync.sync_status, sync.last_sync_job_id);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSync {
    /// The sync's id.
    pub id: String,
    /// Its name (slug-friendly, unique in its project).
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Whether it writes at all (kms-sync: a disabled sync never runs).
    pub is_enabled: bool,
    /// Whether source changes trigger it.
    pub is_auto_sync_enabled: bool,
    /// 1 at creation, one more at each update.
    pub version: u32,
    /// The KMS project.
    pub project_id: Option<String>,
    /// The source folder's id (derived).
    pub folder_id: String,
    /// The app connection's id.
    pub connection_id: String,
    /// When it was created (RFC 3339, milliseconds).
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
    /// `pending`, `running`, `succeeded`, `failed`, or null before any sync.
    pub sync_status: Option<String>,
    /// The last sync job's id.
    pub last_sync_job_id: Option<String>,
    /// What the last sync said (keys, never values).
    pub last_sync_message: Option<String>,
    /// When the last sync succeeded.
    pub last_synced_at: Option<String>,
    /// Always null here: these destinations do not support importing.
    pub import_status: Option<String>,
    /// The last import job's id.
    pub last_import_job_id: Option<String>,
    /// What the last import said.
    pub last_import_message: Option<String>,
    /// When the last import succeeded.
    pub last_imported_at: Option<String>,
    /// The last remove's state.
    pub remove_status: Option<String>,
    /// The last remove job's id.
    pub last_remove_job_id: Option<String>,
    /// What the last remove said.
    pub last_remove_message: Option<String>,
    /// When the last remove succeeded.
    pub last_removed_at: Option<String>,
    /// `syncOptions` as written.
    #[schema(value_type = Object)]
    pub sync_options: Value,
    /// The connection.
    pub connection: SyncConnection,
    /// The source environment.
    pub environment: SyncEnvironment,
    /// The source folder.
    pub folder: SyncFolder,
    /// The destination kind, as in the URL.
    pub destination: String,
    /// `destinationConfig` as written.
    #[schema(value_type = Object)]
    pub destination_config: Value,
}

/// `{"secretSync": {...}}`.
///
/// ```
/// # fn show(e: kms_sync_api::SecretSyncEnvelope) { println!("{}", e.secret_sync.id); }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncEnvelope {
    /// The sync.
    pub secret_sync: SecretSync,
}

/// `{"secretSyncs": [...]}`.
///
/// ```
/// # fn show(e: kms_sync_api::SecretSyncList) { println!("{}", e.secret_syncs.len()); }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncList {
    /// The syncs, oldest first.
    pub secret_syncs: Vec<SecretSync>,
}

/// An app connection as the KMS answers it: never a secret credential. `credentials`
/// holds only the fields the destination's factory declares public (an account email, an
/// instance URL); every other field is secret and never answered.
///
/// ```
/// # fn show(c: kms_sync_api::AppConnection) { println!("{} {} {}", c.name, c.app, c.credentials); }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnection {
    /// The connection's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The KMS project, if any.
    pub project_id: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// 1 at creation, one more at each update.
    pub version: u32,
    /// The organization (configured on the router; the registry serves one).
    pub org_id: String,
    /// When it was created.
    pub created_at: String,
    /// When it was last changed.
    pub updated_at: String,
    /// Always false: the KMS's platform-managed credentials are not supported.
    pub is_platform_managed_credentials: bool,
    /// HMAC-SHA256 of the credentials under a key derived from the encryption key; null
    /// when an embedder's resolver holds them.
    pub credentials_hash: Option<String>,
    /// The app, as in the URL.
    pub app: String,
    /// The authentication method, e.g. `api-token`.
    pub method: String,
    /// The credentials' fields that are not secret.
    #[schema(value_type = Object)]
    pub credentials: Value,
}

/// `{"appConnection": {...}}`.
///
/// ```
/// # fn show(e: kms_sync_api::AppConnectionEnvelope) { println!("{}", e.app_connection.id); }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionEnvelope {
    /// The connection.
    pub app_connection: AppConnection,
}

/// `{"appConnections": [...]}`.
///
/// ```
/// # fn show(e: kms_sync_api::AppConnectionList) { println!("{}", e.app_connections.len()); }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConnectionList {
    /// The connections, oldest first.
    pub app_connections: Vec<AppConnection>,
}

/// The body of `POST …/check-destination`: the KMS's `destinationConfig`, `projectId`,
/// `connectionId` and `excludeSyncId`, and, beyond the KMS, the `environment` and
/// `keySchema` the sync would use, to tell whether its keys overlap another sync's.
///
/// ```
/// let body: kms_sync_api::CheckDestinationRequest = serde_json::from_str(r#"{
///     "projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
///     "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"},
///     "keySchema": "KMS_{{secretKey}}"}"#)?;
/// assert!(serde_json::from_str::<kms_sync_api::CheckDestinationRequest>(r#"{"projectId": "p", "extra": 1}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckDestinationRequest {
    /// The destination config to check.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub destination_config: Option<Value>,
    /// The KMS project (a UUID).
    pub project_id: String,
    /// The connection the sync would use (accepted, as the KMS does; not compared).
    pub connection_id: Option<String>,
    /// A sync to leave out (the one being edited); also the default for `environment` and
    /// `keySchema`.
    pub exclude_sync_id: Option<String>,
    /// Beyond the KMS: the environment slug the sync would read.
    pub environment: Option<String>,
    /// Beyond the KMS: the key schema the sync would use (none: every key is managed).
    pub key_schema: Option<String>,
}

/// Another sync writing the same destination, and whether its key schema overlaps.
///
/// ```
/// # fn show(o: kms_sync_api::DestinationOverlap) { println!("{} {:?}", o.name, o.example_key); }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationOverlap {
    /// Its id.
    pub sync_id: String,
    /// Its name.
    pub name: String,
    /// Its project.
    pub project_id: Option<String>,
    /// Its key schema (null: it manages every key).
    pub key_schema: Option<String>,
    /// Whether a destination key exists that both syncs would manage.
    pub key_schema_overlap: bool,
    /// Such a key, when they overlap.
    pub example_key: Option<String>,
}

/// The answer of `POST …/check-destination`: the KMS's `hasDuplicate` and
/// `duplicateProjectId`, and beyond the KMS whether any duplicate's key schema overlaps
/// this one's (`keySchemaOverlap`) and the duplicates themselves.
///
/// ```
/// # fn show(c: kms_sync_api::CheckDestinationResponse) { println!("{} {}", c.has_duplicate, c.key_schema_overlap); }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckDestinationResponse {
    /// Whether another sync already writes this destination config.
    pub has_duplicate: bool,
    /// The project of the first such sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_project_id: Option<String>,
    /// Whether any of them manages a key this sync would manage.
    pub key_schema_overlap: bool,
    /// Every other sync writing this destination config.
    pub duplicates: Vec<DestinationOverlap>,
}

/// The KMS's create-sync body (read by kms-sync's own parser, which refuses unknown
/// fields and names the field of any problem). For the OpenAPI document.
///
/// ```
/// let doc = serde_json::to_value(kms_sync_api::CreateSecretSyncRequest {
///     name: "s".into(), project_id: "p".into(), description: None, connection_id: "c".into(),
///     environment: "dev".into(), secret_path: "/".into(), is_enabled: None,
///     is_auto_sync_enabled: None, sync_options: None, destination_config: serde_json::json!({}),
///     destination: None,
/// })?;
/// assert!(doc.get("secretPath").is_some());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSecretSyncRequest {
    /// Slug-friendly name, unique in the project.
    pub name: String,
    /// The KMS project.
    pub project_id: String,
    /// Up to 256 characters.
    pub description: Option<String>,
    /// An app connection of the destination's app.
    pub connection_id: String,
    /// The source environment slug.
    pub environment: String,
    /// The source folder, starting with `/`.
    pub secret_path: String,
    /// Default true.
    pub is_enabled: Option<bool>,
    /// Default true (also `syncOptions.autoSyncEnabled`).
    pub is_auto_sync_enabled: Option<bool>,
    /// `initialSyncBehavior` (only `overwrite-destination` for these destinations),
    /// `keySchema`, `autoSyncEnabled`, `disableSecretDeletion`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub sync_options: Option<Value>,
    /// The destination's config (see each destination's documentation).
    #[schema(value_type = Object)]
    pub destination_config: Value,
    /// The destination kind, if given: it must be the one the URL names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// The KMS's update-sync body: any of the create body's fields but `projectId`. For the
/// OpenAPI document.
///
/// ```
/// let patch: kms_sync_api::UpdateSecretSyncRequest = serde_json::from_str(r#"{"description": "new"}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSecretSyncRequest {
    /// A new name.
    pub name: Option<String>,
    /// A new description (null clears it).
    pub description: Option<String>,
    /// Another connection of the same app.
    pub connection_id: Option<String>,
    /// Another environment.
    pub environment: Option<String>,
    /// Another folder.
    pub secret_path: Option<String>,
    /// Enable or disable.
    pub is_enabled: Option<bool>,
    /// Auto-sync on or off.
    pub is_auto_sync_enabled: Option<bool>,
    /// Replaced whole.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub sync_options: Option<Value>,
    /// Replaced whole.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub destination_config: Option<Value>,
}

/// The KMS's create-connection body. For the OpenAPI document. `Debug` shows the
/// credentials' field names, never their values.
///
/// ```
/// let body: kms_sync_api::CreateAppConnectionRequest = serde_json::from_str(
///     r#"{"name": "bb", "method": "api-token", "credentials": {"email": "u@example.com", "apiToken": "t"}}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAppConnectionRequest {
    /// Slug-friendly name, unique in the project.
    pub name: String,
    /// One of the app's methods (`GET /api/v1/app-connections/options` lists them).
    pub method: String,
    /// The KMS project.
    pub project_id: Option<String>,
    /// Up to 256 characters.
    pub description: Option<String>,
    /// The app's credentials; only their public fields are ever answered.
    #[schema(value_type = Object)]
    pub credentials: Value,
    /// Only `false` is accepted.
    pub is_platform_managed_credentials: Option<bool>,
    /// Only null is accepted: kms-sync reaches services directly.
    pub gateway_id: Option<String>,
}

/// The KMS's update-connection body: credentials are replaced whole. For the OpenAPI
/// document. `Debug` shows the credentials' field names, never their values.
///
/// ```
/// let body: kms_sync_api::UpdateAppConnectionRequest = serde_json::from_str(r#"{"name": "renamed"}"#)?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAppConnectionRequest {
    /// A new name.
    pub name: Option<String>,
    /// A new description (null clears it).
    pub description: Option<String>,
    /// Another method (with new credentials).
    pub method: Option<String>,
    /// New credentials, replacing the old ones whole.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credentials: Option<Value>,
    /// Only `false` is accepted.
    pub is_platform_managed_credentials: Option<bool>,
    /// Only null is accepted.
    pub gateway_id: Option<String>,
}

/// The credentials as `Debug` may show them: their field names, every value redacted.
struct RedactedCredentials<'a>(&'a Value);

impl fmt::Debug for RedactedCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Object(fields) => {
                let mut map = f.debug_map();
                for name in fields.keys() {
                    map.entry(name, &format_args!("[REDACTED]"));
                }
                map.finish()
            }
            Value::Null => f.write_str("null"),
            _ => f.write_str("[REDACTED]"),
        }
    }
}

impl fmt::Debug for CreateAppConnectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateAppConnectionRequest")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("project_id", &self.project_id)
            .field("description", &self.description)
            .field("credentials", &RedactedCredentials(&self.credentials))
            .field(
                "is_platform_managed_credentials",
                &self.is_platform_managed_credentials,
            )
            .field("gateway_id", &self.gateway_id)
            .finish()
    }
}

impl fmt::Debug for UpdateAppConnectionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateAppConnectionRequest")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("method", &self.method)
            .field(
                "credentials",
                &self.credentials.as_ref().map(RedactedCredentials),
            )
            .field(
                "is_platform_managed_credentials",
                &self.is_platform_managed_credentials,
            )
            .field("gateway_id", &self.gateway_id)
            .finish()
    }
}
