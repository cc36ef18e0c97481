//! The crate's [`DestinationFactory`]: builds [`OctopusDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `octopus-deploy`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts, Result,
    Verification,
};

use crate::client::OctopusClient;
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

#[kms_sync_core::async_trait]
impl DestinationFactory for OctopusFactory {
    fn kind(&self) -> &'static str {
        "octopus-deploy"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["octopus"]
    }

    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new("octopus-deploy", "Octopus Deploy")
            .write_access("VariableEdit on the project for the key's user")
            .connection_methods(&["api-key"])
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

    /// Reads the key's user (`GET /api/users/me`) with the connection's credentials alone: no
    /// `destinationConfig` is needed, nothing is written.
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let connection = OctopusConnection::from_kms_json(connection.expose_json())?;
        let user = OctopusClient::connect(&connection, &settings, 1)?
            .me()
            .await?;
        let who = user.display_name.or(user.username).or(user.id);
        Ok(Verification::accepted_as(who.unwrap_or_default()))
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
