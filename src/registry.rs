//! The destinations this build knows, and the KMS's JSON turned into ready syncers with them.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, DestinationRegistry, Result, SecretSource, SecretSyncDefinition,
    Syncer, SyncerBuilder,
};

/// Every destination kind this build knows: one factory per enabled cargo feature
/// (`bitbucket`, `checkly`, `octopus`, `github`), and the features that are off, so asking for one of
/// those names the feature to turn on. Add your own with
/// [`DestinationRegistry::with`].
///
/// ```
/// let registry = kms_sync::registry().with(kms_sync::MemoryFactory);
/// assert!(registry.kinds().contains(&"memory"));
/// ```
pub fn registry() -> DestinationRegistry {
    let registry = DestinationRegistry::new();
    #[cfg(feature = "bitbucket")]
    let registry = registry.with(kms_sync_bitbucket::BitbucketFactory);
    #[cfg(feature = "checkly")]
    let registry = registry.with(kms_sync_checkly::ChecklyFactory);
    #[cfg(feature = "octopus")]
    let registry = registry.with(kms_sync_octopus::OctopusFactory);
    #[cfg(feature = "github")]
    let registry = registry.with(kms_sync_github::GithubFactory);
    #[cfg(feature = "gitlab")]
    let registry = registry.with(kms_sync_gitlab::GitlabFactory);
    registry
        .with_disabled("bitbucket", "bitbucket")
        .with_disabled("checkly", "checkly")
        .with_disabled("octopus-deploy", "octopus")
        .with_disabled("github", "github")
        .with_disabled("gitlab", "gitlab")
}

/// Parses a sync definition (the KMS's create-sync body) against [`registry()`]: the
/// envelope, the key schema and the `destinationConfig` are all checked now, before anything
/// is built. `destination` overrides the body's `destination` field.
///
/// # Errors
///
/// As [`SecretSyncDefinition::parse`].
///
/// ```
/// # #[cfg(feature = "bitbucket")] {
/// let def = kms_sync::parse_definition(r#"{
///     "name": "my-bitbucket-sync", "environment": "dev", "secretPath": "/my-secrets",
///     "syncOptions": {"keySchema": "KMS_{{secretKey}}"},
///     "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"}
/// }"#, Some("bitbucket"))?;
/// assert_eq!(def.destination(), "bitbucket");
/// # }
/// # Ok::<(), kms_sync::Error>(())
/// ```
pub fn parse_definition(json: &str, destination: Option<&str>) -> Result<SecretSyncDefinition> {
    SecretSyncDefinition::parse(json, destination, &registry())
}

/// Builds a ready [`Syncer`] from a definition, the KMS's connection body for its
/// destination and a source, with [`registry()`].
///
/// # Errors
///
/// As [`DestinationRegistry::syncer_builder`] and [`SyncerBuilder::build`].
pub fn build_syncer(
    definition: &SecretSyncDefinition,
    connection: &AppConnectionDefinition,
    source: Arc<dyn SecretSource>,
    settings: ClientSettings,
) -> Result<Syncer> {
    syncer_builder(definition, connection, source, settings)?.build()
}

/// Like [`build_syncer`], but returns the prepared builder, to add a state store or an import
/// target before building.
///
/// # Errors
///
/// As [`DestinationRegistry::syncer_builder`].
pub fn syncer_builder(
    definition: &SecretSyncDefinition,
    connection: &AppConnectionDefinition,
    source: Arc<dyn SecretSource>,
    settings: ClientSettings,
) -> Result<SyncerBuilder> {
    registry().syncer_builder(definition, connection, source, settings)
}
