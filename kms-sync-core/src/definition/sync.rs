//! The KMS's create-sync body, checked whole — its `destinationConfig` by the destination's
//! factory — when it is parsed.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::engine::options::{InitialSyncBehavior, SyncOptions};
use crate::error::{Error, Result};
use crate::json::parse_json;
use crate::registry::DestinationRegistry;
use crate::schema::TemplateKeySchema;

/// The KMS's `syncOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
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

/// The body as it comes; `destinationConfig` kept as raw JSON for the factory.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Body {
    name: String,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
    environment: String,
    secret_path: String,
    #[serde(default = "enabled")]
    is_enabled: bool,
    #[serde(default)]
    is_auto_sync_enabled: Option<bool>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    sync_options: SyncOptionsDefinition,
    destination_config: Box<RawValue>,
}

fn enabled() -> bool {
    true
}

/// A Secret Sync as the KMS's create-sync request body describes it, checked whole: the
/// envelope here, the `destinationConfig` by the destination's
/// [`DestinationFactory`](crate::DestinationFactory) from a [`DestinationRegistry`].
///
/// ```
/// use kms_sync_core::{DestinationRegistry, SecretSyncDefinition};
/// # fn registry() -> DestinationRegistry { DestinationRegistry::new().with(kms_sync_core::MemoryFactory) }
/// let def = SecretSyncDefinition::parse(r#"{
///     "name": "my-sync", "environment": "dev", "secretPath": "/my-secrets",
///     "syncOptions": {"keySchema": "KMS_{{secretKey}}"},
///     "destinationConfig": {}
/// }"#, Some("memory"), &registry())?;
/// assert_eq!(def.secret_path(), "/my-secrets");
/// assert_eq!(def.destination(), "memory");
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSyncDefinition {
    name: String,
    project_id: Option<String>,
    description: Option<String>,
    connection_id: Option<String>,
    environment: String,
    secret_path: String,
    is_enabled: bool,
    auto_sync: bool,
    destination: String,
    sync_options: SyncOptionsDefinition,
    destination_config: String,
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
    /// Parses and checks a definition. `destination` (the KMS puts it in the URL path:
    /// `bitbucket`, `checkly`, `octopus-deploy`) overrides the body's `destination` field;
    /// one of them must name a kind `registry` knows (or an alias of one).
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) pointing at the problem: invalid JSON (a
    /// trailing comma, with line and column), an unknown or missing field, an unknown option
    /// value, a name that is not slug-friendly, an invalid key schema, an unknown or
    /// disabled destination, or a `destinationConfig` its factory refuses.
    pub fn parse(
        json: &str,
        destination: Option<&str>,
        registry: &DestinationRegistry,
    ) -> Result<Self> {
        let body: Body = parse_json(json, "sync definition")?;
        check_envelope(&body)?;
        let wanted = destination.or(body.destination.as_deref()).ok_or_else(|| {
            Error::config(format!(
                "sync definition: name the destination ({}) in the `destination` field or as an argument",
                registry.kinds().join(", ")
            ))
        })?;
        let factory = registry.factory(wanted)?;
        let config = body.destination_config.get().to_owned();
        factory
            .check_config(&config)
            .map_err(|e| Error::config(format!("destinationConfig: {}", e.message())))?;
        Ok(SecretSyncDefinition {
            auto_sync: body
                .is_auto_sync_enabled
                .or(body.sync_options.auto_sync_enabled)
                // The KMS's own default: a sync is created with auto-sync on.
                .unwrap_or(true),
            name: body.name,
            project_id: body.project_id,
            description: body.description,
            connection_id: body.connection_id,
            environment: body.environment,
            secret_path: body.secret_path,
            is_enabled: body.is_enabled,
            destination: factory.kind().to_owned(),
            sync_options: body.sync_options,
            destination_config: config,
        })
    }

    /// The sync's name (slug-friendly); also its id in state stores.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The KMS project.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }
    /// The description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The app connection's id at the KMS.
    pub fn connection_id(&self) -> Option<&str> {
        self.connection_id.as_deref()
    }
    /// The source environment slug.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// The source folder path.
    pub fn secret_path(&self) -> &str {
        &self.secret_path
    }
    /// Whether the sync is enabled (`isEnabled`, default true).
    pub fn is_enabled(&self) -> bool {
        self.is_enabled
    }
    /// Whether auto-sync is on (`isAutoSyncEnabled` or `syncOptions.autoSyncEnabled`; on when
    /// neither is given, as the KMS creates syncs).
    pub fn auto_sync_enabled(&self) -> bool {
        self.auto_sync
    }
    /// The destination kind, as the registry names it (aliases resolved).
    pub fn destination(&self) -> &str {
        &self.destination
    }
    /// The options as written.
    pub fn sync_options_definition(&self) -> &SyncOptionsDefinition {
        &self.sync_options
    }
    /// The key schema, if any.
    pub fn key_schema(&self) -> Option<&str> {
        self.sync_options.key_schema.as_deref()
    }
    /// The `destinationConfig` as JSON text (checked by the factory when parsed).
    pub fn destination_config(&self) -> &str {
        &self.destination_config
    }

    /// The [`SyncOptions`] this definition asks for.
    pub fn sync_options(&self) -> SyncOptions {
        SyncOptions::default()
            .with_enabled(self.is_enabled)
            .with_initial_sync_behavior(self.sync_options.initial_sync_behavior)
            .with_disable_secret_deletion(self.sync_options.disable_secret_deletion)
    }
}

fn check_envelope(body: &Body) -> Result<()> {
    if !slug_friendly(&body.name) {
        return Err(Error::config(format!(
            "sync definition: name `{}` is not slug-friendly (lowercase letters, digits and single `-`)",
            body.name
        )));
    }
    if body.environment.trim().is_empty() {
        return Err(Error::config("sync definition: environment is empty"));
    }
    if let Some(schema) = &body.sync_options.key_schema {
        TemplateKeySchema::parse(schema).map_err(|e| {
            Error::config(format!(
                "sync definition: syncOptions.keySchema: {}",
                e.message()
            ))
        })?;
    }
    Ok(())
}
