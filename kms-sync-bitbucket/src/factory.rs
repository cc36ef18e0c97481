//! The crate's [`DestinationFactory`]: builds [`BitbucketDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `bitbucket`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts, Result,
    Verification,
};

use crate::client::BitbucketClient;
use crate::config::{BitbucketConfig, BitbucketConnection};
use crate::destination::BitbucketDestination;

/// Builds Bitbucket Cloud repository or deployment-environment variables destinations (kind `bitbucket`) from the KMS's app-connection body and
/// `destinationConfig`.
///
/// ```
/// use kms_sync_core::{DestinationFactory, DestinationRegistry};
/// use kms_sync_bitbucket::BitbucketFactory;
/// let registry = DestinationRegistry::new().with(BitbucketFactory);
/// assert_eq!(registry.kinds(), ["bitbucket"]);
/// assert!(BitbucketFactory.check_config("{}").is_err(), "required fields are missing");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BitbucketFactory;

#[kms_sync_core::async_trait]
impl DestinationFactory for BitbucketFactory {
    fn kind(&self) -> &'static str {
        "bitbucket"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new("bitbucket", "Bitbucket")
            .write_access("the API token's scope admin:pipeline:bitbucket")
            .refusal_help("a sync needs the token scopes read:pipeline:bitbucket, admin:pipeline:bitbucket and \
                 read:user:bitbucket; the KMS's Bitbucket connection guide grants \
                 read:workspace:bitbucket, admin:workspace:bitbucket, read:user:bitbucket, \
                 read:repository:bitbucket, read:pipeline:bitbucket, write:pipeline:bitbucket \
                 and admin:pipeline:bitbucket")
            .connection_methods(&["api-token"])
            .public_credential_fields(&["email"])
            .config_description(
                "`workspaceSlug` and `repositorySlug` name the repository; `environmentId` (a \
                 deployment environment's UUID) writes its deployment variables instead of the \
                 repository's.",
            )
            .credentials_description(
                "Method `api-token`: `email` (shown back) and `apiToken` (an Atlassian API token \
                 with the scope `admin:pipeline:bitbucket`; never shown back).",
            )
    }

    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        BitbucketConnection::from_kms_json(connection.expose_json()).map(|_| ())
    }

    /// Reads the signed-in user (`GET /2.0/user`) with the connection's credentials alone: no
    /// `destinationConfig` is needed, nothing is written.
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let connection = BitbucketConnection::from_kms_json(connection.expose_json())?;
        let user = BitbucketClient::connect(&connection, &settings, 1)?
            .user()
            .await?;
        Ok(Verification::accepted_as(
            user.display_name.or(user.account_id).unwrap_or_default(),
        ))
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        BitbucketConfig::from_kms_json(destination_config).map(|_| ())
    }

    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let connection = BitbucketConnection::from_kms_json(connection.expose_json())?;
        let config = BitbucketConfig::from_kms_json(destination_config)?;
        let destination = BitbucketDestination::builder(connection, config)
            .settings(settings)
            .build()?;
        Ok(Arc::new(destination))
    }
}
