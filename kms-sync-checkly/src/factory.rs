//! The crate's [`DestinationFactory`]: builds [`ChecklyDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `checkly`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts, Result,
    Verification,
};

use crate::client::ChecklyClient;
use crate::config::{ChecklyConfig, ChecklyConnection};
use crate::destination::ChecklyDestination;

/// Builds Checkly account or check-group variables destinations (kind `checkly`) from the KMS's app-connection body and
/// `destinationConfig`.
///
/// ```
/// use kms_sync_core::{DestinationFactory, DestinationRegistry};
/// use kms_sync_checkly::ChecklyFactory;
/// let registry = DestinationRegistry::new().with(ChecklyFactory);
/// assert_eq!(registry.kinds(), ["checkly"]);
/// assert!(ChecklyFactory.check_config("{}").is_err(), "required fields are missing");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ChecklyFactory;

#[kms_sync_core::async_trait]
impl DestinationFactory for ChecklyFactory {
    fn kind(&self) -> &'static str {
        "checkly"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new("checkly", "Checkly")
            .write_access("an API key whose role is Read & Write or above")
            .connection_methods(&["api-key"])
            .display_only_config_fields(&["groupName", "accountName"])
            .config_description(
                "`accountId` names the account; with `groupId` the sync writes that check \
                 group's variables instead of the account's. `accountName` and `groupName` are \
                 for display only.",
            )
            .credentials_description(
                "Method `api-key`: `apiKey` (a Checkly user API key; never shown back).",
            )
    }

    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        ChecklyConnection::from_kms_json(connection.expose_json()).map(|_| ())
    }

    /// Reads the accounts the key can access (`GET /v1/accounts`) with the connection's credentials alone: no
    /// `destinationConfig` is needed, nothing is written.
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let connection = ChecklyConnection::from_kms_json(connection.expose_json())?;
        let client = ChecklyClient::connect(&connection, &settings, 1, None)?;
        let accounts = client.accounts().await?;
        let names: Vec<String> = accounts
            .into_iter()
            .map(|a| format!("{} ({})", a.name, a.id))
            .collect();
        if names.is_empty() {
            return Ok(Verification::accepted());
        }
        Ok(Verification::accepted_as(format!(
            "a key of account {}",
            names.join(", ")
        )))
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        ChecklyConfig::from_kms_json(destination_config).map(|_| ())
    }

    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let connection = ChecklyConnection::from_kms_json(connection.expose_json())?;
        let config = ChecklyConfig::from_kms_json(destination_config)?;
        let destination = ChecklyDestination::builder(connection, config)
            .settings(settings)
            .build()?;
        Ok(destination.into_destination())
    }
}
