//! The crate's [`DestinationFactory`]: builds [`GitlabDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `gitlab`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts,
    Result, Verification,
};

use crate::client::GitlabClient;
use crate::config::GitlabConnection;
use crate::destination::GitlabDestination;
use crate::scope::GitlabConfig;

/// What the fleet and the API say about GitLab.
const FACTS: DestinationFacts = DestinationFacts::new("gitlab", "GitLab")
            .write_access("an access token with the `api` scope and at least the Maintainer role")
            .refusal_help("a token needs the `api` scope and at least the Maintainer role on the project or group; job \
                 and deploy tokens cannot manage variables")
    .connection_methods(&["access-token", "oauth"])
    .public_credential_fields(&["instanceUrl", "accessTokenType"])
    .display_only_config_fields(&["projectName", "groupName"])
    .config_description(
        "`scope`: `project` (with `projectId`, a numeric id or full path, and `projectName`) or \
         `group` (with `groupId` and `groupName`); `targetEnvironment`: the environment scope \
         written (default `*`); `shouldProtectSecrets`, `shouldMaskSecrets`, \
         `shouldHideSecrets` (masked and hidden, on create); additions: `raw`, `variableType` \
         (`env_var` or `file`).",
    )
    .credentials_description(
        "Method `access-token`: `accessToken` (a personal, project or group access token with \
         the `api` scope; never shown back), `accessTokenType` (`personal`, `project` or \
         `group`) and optional `instanceUrl` (self-managed GitLab; default https://gitlab.com). \
         Method `oauth`: `accessToken` and optional `instanceUrl`.",
    );

/// Builds GitLab project or group CI/CD variables destinations (kind `gitlab`) from the
/// KMS's app-connection body and `destinationConfig`.
///
/// ```
/// use kms_sync_core::{DestinationFactory, DestinationRegistry};
/// use kms_sync_gitlab::GitlabFactory;
/// let registry = DestinationRegistry::new().with(GitlabFactory);
/// assert_eq!(registry.kinds(), ["gitlab"]);
/// assert_eq!(GitlabFactory.facts().display_name(), "GitLab");
/// assert!(GitlabFactory.check_config(r#"{"scope": "project"}"#).is_err(), "projectId is missing");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GitlabFactory;

#[async_trait]
impl DestinationFactory for GitlabFactory {
    fn kind(&self) -> &'static str {
        "gitlab"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    fn facts(&self) -> DestinationFacts {
        FACTS
    }

    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        GitlabConnection::from_kms_json(connection.expose_json()).map(|_| ())
    }

    /// One authenticated read, `GET /api/v4/user`; accepted, as the token's user, when GitLab
    /// accepts the token.
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let connection = GitlabConnection::from_kms_json(connection.expose_json())?;
        let user = GitlabClient::connect(&connection, &settings, 1)?
            .user()
            .await?;
        Ok(Verification::accepted_as(
            user.name.or(user.username).unwrap_or_default(),
        ))
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        GitlabConfig::from_kms_json(destination_config).map(|_| ())
    }

    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let connection = GitlabConnection::from_kms_json(connection.expose_json())?;
        let config = GitlabConfig::from_kms_json(destination_config)?;
        let destination = GitlabDestination::builder(connection, config)
            .settings(settings)
            .build()?;
        Ok(Arc::new(destination))
    }
}
