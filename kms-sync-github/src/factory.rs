//! The crate's [`DestinationFactory`]: builds [`GithubDestination`]s from the KMS's JSON, so a
//! [`DestinationRegistry`](kms_sync_core::DestinationRegistry) can offer the kind `github`.

use std::sync::Arc;

use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts,
    KeyRules, Result, Verification,
};

use crate::client::GithubClient;
use crate::config::GithubConfig;
use crate::connection::GithubConnection;
use crate::destination::GithubDestination;
use crate::rules::GithubRules;

/// Builds GitHub Actions secrets destinations (kind `github`) from the KMS's app-connection
/// body and `destinationConfig`.
///
/// ```
/// use kms_sync_core::{DestinationFactory, DestinationRegistry};
/// use kms_sync_github::GithubFactory;
/// let registry = DestinationRegistry::new().with(GithubFactory);
/// assert_eq!(registry.kinds(), ["github"]);
/// assert_eq!(GithubFactory.facts().display_name(), "GitHub");
/// assert!(GithubFactory.check_config(r#"{"scope":"repository","owner":"acme"}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubFactory;

#[async_trait]
impl DestinationFactory for GithubFactory {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new("github", "GitHub")
            .write_access("Secrets read and write on the repository (a fine-grained token or an App's `secrets` \
                 permission), or `admin:org` for organization secrets (a classic token)")
            .refusal_help("a repository or environment secret needs a token with Secrets read and write (classic: \
                 `repo`), organization secrets `admin:org`; a GitHub App needs the `secrets` \
                 permission where it is installed")
            .connection_methods(&["pat", "oauth", "github-app"])
            .public_credential_fields(&["instanceType", "host", "installationId", "appId"])
            .config_description(
                "A union on `scope`: `repository` (`owner`, `repo`), `repository-environment` \
                 (`owner`, `repo`, `env`) or `organization` (`org`, `visibility`: `all`, \
                 `private` or `selected`, and `selectedRepositoryIds`, numbers, with \
                 `selected` only). Values are sealed to the scope's public key and cannot be \
                 read back.",
            )
            .credentials_description(
                "Method `pat`: `personalAccessToken` (a fine-grained token with Secrets read \
                 and write; never shown back). Method `oauth`: `accessToken`. Method \
                 `github-app`: `installationId` and `appId` (shown back) and `privateKey` (the \
                 App's PEM key; never shown back). Each with optional `instanceType` (`cloud` \
                 or `server`) and `host` (shown back) for GitHub Enterprise Server.",
            )
    }

    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        GithubConnection::from_kms_json(connection.expose_json()).map(|_| ())
    }

    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let connection = GithubConnection::from_kms_json(connection.expose_json())?;
        let client = GithubClient::connect(&connection, &settings, 1)?;
        Ok(match client.verify().await? {
            Some(user) => Verification::accepted_as(user.login.unwrap_or_default()),
            None => Verification::accepted(),
        })
    }

    /// Upper-cased, as GitHub stores secret names ([`GithubRules`]).
    fn stored_key(&self, key: &str) -> String {
        GithubRules.stored_key(key).into_owned()
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        GithubConfig::from_kms_json(destination_config).map(|_| ())
    }

    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let connection = GithubConnection::from_kms_json(connection.expose_json())?;
        let config = GithubConfig::from_kms_json(destination_config)?;
        let destination = GithubDestination::builder(connection, config)
            .settings(settings)
            .build()?;
        Ok(Arc::new(destination))
    }
}
