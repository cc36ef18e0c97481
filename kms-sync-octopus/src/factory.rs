//! The crate's [`DestinationFactory`]: builds [`OctopusDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `octopus-deploy`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts, Result,
};

use crate::config::{OctopusConfig, OctopusConnection};
use crate::destination::OctopusDestination;

/// Builds Octopus Deploy project variables destinations (kind `octopus-deploy`) from the KMS's app-connection body and
/// `destinationConfig`.
///
/// ```
/// use kms_sync_core::{DestinationFactory, DestinationRegistry};
/// use kms_sync_octopus::OctopusFactory;
/// let registry = DestinationRegistry::new().with(OctopusFactory);
/// assert_eq!(registry.kinds(), ["octopus-deploy"]);
/// assert!(OctopusFactory.check_config("{}").is_err(), "required fields are missing");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OctopusFactory;

impl DestinationFactory for OctopusFactory {
    fn kind(&self) -> &'static str {
        "octopus-deploy"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["octopus"]
    }

    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new("octopus-deploy", "Octopus Deploy")
            .public_credential_fields(&["instanceUrl"])
            .config_description(
                "`spaceId`, `scope` (`project`) and `projectId` name the project's variable set; \
                 `scopeValues` (environments, roles, machines, processes, actions, channels) the \
                 scope every variable the sync writes carries.",
            )
            .credentials_description(
                "Method `api-key`: `instanceUrl` (shown back) and `apiKey` (an Octopus API key, \
                 `API-…`; never shown back).",
            )
    }

    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        OctopusConnection::from_kms_json(connection.expose_json()).map(|_| ())
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        OctopusConfig::from_kms_json(destination_config).map(|_| ())
    }

    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let connection = OctopusConnection::from_kms_json(connection.expose_json())?;
        let config = OctopusConfig::from_kms_json(destination_config)?;
        let destination = OctopusDestination::builder(connection, config)
            .settings(settings)
            .build()?;
        Ok(Arc::new(destination))
    }
}
