//! Sync definitions in the KMS's JSON: the create-sync request body, turned into a ready
//! [`Syncer`].

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    parse_json, Destination, Error, InitialSyncBehavior, Result, SecretSource, SyncOptions, Syncer,
    SyncerBuilder,
};
use serde::Deserialize;
use serde_json::Value;

/// The KMS's `syncOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncOptionsDefinition {
    /// `overwrite-destination` (default), `import-prioritize-source`, `import-prioritize-destination`.
    #[serde(default)]
    pub initial_sync_behavior: InitialSyncBehavior,
    /// A key schema such as `KMS_{{secretKey}}`.
    #[serde(default)]
    pub key_schema: Option<String>,
    /// Auto-sync (also accepted as top-level `isAutoSyncEnabled`).
    #[serde(default)]
    pub auto_sync_enabled: Option<bool>,
    /// Never delete at the destination.
    #[serde(default)]
    pub disable_secret_deletion: bool,
}

/// A Secret Sync as the KMS's create-sync request body describes it.
///
/// ```
/// use kms_sync::SecretSyncDefinition;
/// let def = SecretSyncDefinition::from_json(r#"{
///     "name": "my-bitbucket-sync", "environment": "dev", "secretPath": "/my-secrets",
///     "isEnabled": true,
///     "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "KMS_{{secretKey}}"},
///     "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"}
/// }"#)?;
/// assert_eq!(def.secret_path, "/my-secrets");
/// assert!(!def.auto_sync_enabled());
/// # Ok::<(), kms_sync::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSyncDefinition {
    /// The sync's name: slug-friendly (lowercase letters, digits, single `-` between).
    pub name: String,
    /// The KMS project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The app connection's id at the KMS.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The source environment slug.
    pub environment: String,
    /// The source folder path.
    pub secret_path: String,
    /// Whether the sync runs.
    #[serde(default = "enabled")]
    pub is_enabled: bool,
    /// Top-level spelling of auto-sync.
    #[serde(default)]
    pub is_auto_sync_enabled: Option<bool>,
    /// Where the sync writes: `bitbucket`, `checkly`, `octopus-deploy` (the KMS puts it in the
    /// URL path; give it here or to [`build_syncer`]).
    #[serde(default)]
    pub destination: Option<String>,
    /// The options.
    #[serde(default)]
    pub sync_options: SyncOptionsDefinition,
    /// The destination's config, read by the destination's crate.
    pub destination_config: Value,
}

fn enabled() -> bool {
    true
}

/// The KMS's rule for names: lowercase letters and digits, words joined by single `-`.
fn slug_friendly(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl SecretSyncDefinition {
    /// Parses and checks a definition.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) pointing at the problem: invalid JSON (a
    /// trailing comma, with line and column), an unknown or missing field, an unknown option
    /// value, a name that is not slug-friendly, an invalid key schema.
    pub fn from_json(json: &str) -> Result<Self> {
        let def: SecretSyncDefinition = parse_json(json, "sync definition")?;
        if !slug_friendly(&def.name) {
            return Err(Error::config(format!(
                "sync definition: name `{}` is not slug-friendly (lowercase letters, digits and single `-`)",
                def.name
            )));
        }
        if def.environment.trim().is_empty() {
            return Err(Error::config("sync definition: environment is empty"));
        }
        if let Some(schema) = &def.sync_options.key_schema {
            kms_sync_core::TemplateKeySchema::parse(schema).map_err(|e| {
                Error::config(format!(
                    "sync definition: syncOptions.keySchema: {}",
                    e.message()
                ))
            })?;
        }
        Ok(def)
    }

    /// Whether auto-sync is on (`isAutoSyncEnabled` or `syncOptions.autoSyncEnabled`).
    pub fn auto_sync_enabled(&self) -> bool {
        self.is_auto_sync_enabled
            .or(self.sync_options.auto_sync_enabled)
            .unwrap_or(false)
    }

    /// The [`SyncOptions`] this definition asks for.
    pub fn sync_options(&self) -> SyncOptions {
        SyncOptions::default()
            .with_initial_sync_behavior(self.sync_options.initial_sync_behavior)
            .with_disable_secret_deletion(self.sync_options.disable_secret_deletion)
    }
}

/// An app connection as the KMS's create-connection request body describes it:
/// `{"name", "description"?, "projectId"?, "method", "credentials"}`. The envelope is checked
/// here; the credentials are read by the destination's crate when a syncer is built. The
/// body is kept in a [`SecretString`](secrecy::SecretString) and never shown by `Debug`.
///
/// ```
/// use kms_sync::AppConnectionDefinition;
/// let conn = AppConnectionDefinition::from_json(r#"{"name": "bb", "method": "api-token",
///     "credentials": {"email": "user@example.com", "apiToken": "ATATT-secret"}}"#)?;
/// assert_eq!(conn.method(), "api-token");
/// assert!(!format!("{conn:?}").contains("ATATT"));
/// # Ok::<(), kms_sync::Error>(())
/// ```
pub struct AppConnectionDefinition {
    name: Option<String>,
    description: Option<String>,
    method: String,
    body: secrecy::SecretString,
}

impl AppConnectionDefinition {
    /// Parses and checks the envelope.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) pointing at the problem (invalid JSON, an
    /// unknown or missing field), never echoing a credential.
    pub fn from_json(json: &str) -> Result<Self> {
        let envelope: kms_sync_core::AppConnectionBody<Value> = parse_json(json, "app connection")?;
        if !envelope.credentials.is_object() {
            return Err(Error::config(
                "app connection: `credentials` must be an object",
            ));
        }
        Ok(AppConnectionDefinition {
            name: envelope.name,
            description: envelope.description,
            method: envelope.method,
            body: secrecy::SecretString::from(json.to_owned()),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The authentication method, e.g. `api-token`.
    pub fn method(&self) -> &str {
        &self.method
    }

    fn json(&self) -> &str {
        use secrecy::ExposeSecret;
        self.body.expose_secret()
    }
}

impl std::fmt::Debug for AppConnectionDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConnectionDefinition")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("credentials", &"[REDACTED]")
            .finish()
    }
}

/// Destinations this build knows, and whether each is enabled by a feature.
const DESTINATIONS: [(&str, bool); 3] = [
    ("bitbucket", cfg!(feature = "bitbucket")),
    ("checkly", cfg!(feature = "checkly")),
    ("octopus-deploy", cfg!(feature = "octopus")),
];

/// Builds the destination a definition names, from the KMS's connection body.
///
/// # Errors
///
/// [`Config`](kms_sync_core::ErrorKind::Config) for an unknown destination, one whose feature is
/// off, or an invalid connection or `destinationConfig` (the message names the part).
#[allow(unused_variables)]
pub fn build_destination(
    kind: &str,
    connection: &AppConnectionDefinition,
    destination_config: &Value,
    settings: ClientSettings,
) -> Result<Arc<dyn Destination>> {
    let connection_json = connection.json();
    let config_json = destination_config.to_string();
    let in_config = |e: Error| Error::config(format!("destinationConfig: {}", e.message()));
    match kind {
        #[cfg(feature = "bitbucket")]
        "bitbucket" => {
            use kms_sync_bitbucket::{BitbucketConfig, BitbucketConnection, BitbucketDestination};
            let connection = BitbucketConnection::from_kms_json(connection_json)?;
            let config = BitbucketConfig::from_kms_json(&config_json).map_err(in_config)?;
            Ok(Arc::new(
                BitbucketDestination::builder(connection, config)
                    .settings(settings)
                    .build()?,
            ))
        }
        #[cfg(feature = "checkly")]
        "checkly" => {
            use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
            let connection = ChecklyConnection::from_kms_json(connection_json)?;
            let config = ChecklyConfig::from_kms_json(&config_json).map_err(in_config)?;
            Ok(Arc::new(
                ChecklyDestination::builder(connection, config)
                    .settings(settings)
                    .build()?,
            ))
        }
        #[cfg(feature = "octopus")]
        "octopus-deploy" | "octopus" => {
            use kms_sync_octopus::{OctopusConfig, OctopusConnection, OctopusDestination};
            let connection = OctopusConnection::from_kms_json(connection_json)?;
            let config = OctopusConfig::from_kms_json(&config_json).map_err(in_config)?;
            Ok(Arc::new(
                OctopusDestination::builder(connection, config)
                    .settings(settings)
                    .build()?,
            ))
        }
        other => {
            let known = DESTINATIONS.iter().find(|(name, _)| {
                *name == other || (*name == "octopus-deploy" && other == "octopus")
            });
            Err(Error::config(match known {
                Some((name, false)) => format!(
                    "destination `{name}` is not enabled in this build: turn on the kms-sync feature `{}`",
                    if *name == "octopus-deploy" { "octopus" } else { name }
                ),
                _ => format!(
                    "unknown destination `{other}`; known: {}",
                    DESTINATIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            }))
        }
    }
}

/// Builds a ready [`Syncer`] from a definition, the KMS's connection body for its destination,
/// and a source. `destination` overrides the definition's `destination` field.
///
/// # Errors
///
/// [`Config`](kms_sync_core::ErrorKind::Config) when no destination is named, and as
/// [`build_destination`] and [`SyncerBuilder::build`](kms_sync_core::SyncerBuilder::build).
pub fn build_syncer(
    definition: &SecretSyncDefinition,
    destination: Option<&str>,
    connection: &AppConnectionDefinition,
    source: Arc<dyn SecretSource>,
    settings: ClientSettings,
) -> Result<Syncer> {
    syncer_builder(definition, destination, connection, source, settings)?.build()
}

/// Like [`build_syncer`], but returns the prepared builder, to add a state store or an import
/// target before building.
///
/// # Errors
///
/// As [`build_syncer`], except the final build.
pub fn syncer_builder(
    definition: &SecretSyncDefinition,
    destination: Option<&str>,
    connection: &AppConnectionDefinition,
    source: Arc<dyn SecretSource>,
    settings: ClientSettings,
) -> Result<SyncerBuilder> {
    let kind = destination
        .or(definition.destination.as_deref())
        .ok_or_else(|| Error::config("name the destination (`bitbucket`, `checkly`, `octopus-deploy`): in the definition's `destination` field or as an argument"))?;
    let dest = build_destination(kind, connection, &definition.destination_config, settings)?;
    let mut builder = Syncer::builder()
        .id(definition.name.clone())
        .source(source)
        .destination(dest)
        .options(definition.sync_options());
    if let Some(schema) = &definition.sync_options.key_schema {
        builder = builder.key_schema_template(schema.clone());
    }
    Ok(builder)
}
