//! The destination kinds the server knows (every kind of the facade's registry), each with
//! the base URL `[destinations.<kind>]` gives it: a proxy, a self-hosted instance or a fake.

use std::collections::BTreeMap;
use std::sync::Arc;

use kms_sync::http::ClientSettings;
use kms_sync::{
    async_trait, AppConnectionDefinition, Destination, DestinationFactory, DestinationFacts,
    DestinationRegistry, Error, Result,
};

use crate::config::DestinationSection;

/// A factory whose destinations talk to `base_url` instead of the service's own.
struct AtBase {
    factory: Arc<dyn DestinationFactory>,
    base_url: String,
}

#[async_trait]
impl DestinationFactory for AtBase {
    fn kind(&self) -> &'static str {
        self.factory.kind()
    }
    fn aliases(&self) -> &'static [&'static str] {
        self.factory.aliases()
    }
    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        self.factory.check_connection(connection)
    }
    fn facts(&self) -> DestinationFacts {
        self.factory.facts()
    }
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<kms_sync::Verification> {
        let settings = settings.with_base_url(self.base_url.clone());
        self.factory.verify_connection(connection, settings).await
    }
    fn check_config(&self, destination_config: &str) -> Result<()> {
        self.factory.check_config(destination_config)
    }
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let settings = settings.with_base_url(self.base_url.clone());
        self.factory.build(connection, destination_config, settings)
    }
}

/// Every kind, each at its configured base URL when `sections` names one.
///
/// ```
/// let registry = kms_sync_server::destinations::registry(&Default::default())?;
/// assert_eq!(registry.kinds().len(), 3);
/// # Ok::<(), kms_sync::Error>(())
/// ```
///
/// # Errors
///
/// [`Config`](kms_sync::ErrorKind::Config) naming a `[destinations.<kind>]` whose kind is
/// unknown.
pub fn registry(sections: &BTreeMap<String, DestinationSection>) -> Result<DestinationRegistry> {
    let factories: [Arc<dyn DestinationFactory>; 3] = [
        Arc::new(kms_sync::bitbucket::BitbucketFactory),
        Arc::new(kms_sync::checkly::ChecklyFactory),
        Arc::new(kms_sync::octopus::OctopusFactory),
    ];
    for kind in sections.keys() {
        let known = factories
            .iter()
            .any(|f| f.kind() == kind || f.aliases().contains(&kind.as_str()));
        if !known {
            return Err(Error::config(format!(
                "[destinations.{kind}]: unknown destination kind; known: bitbucket, checkly, octopus-deploy"
            )));
        }
    }
    let mut registry = DestinationRegistry::new();
    for factory in factories {
        let section = sections
            .iter()
            .find(|(k, _)| *k == factory.kind() || factory.aliases().contains(&k.as_str()));
        match section.and_then(|(_, s)| s.base_url.clone()) {
            Some(base_url) => registry.register(Arc::new(AtBase { factory, base_url })),
            None => registry.register(factory),
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_kind_is_refused_by_name() {
        let mut sections = BTreeMap::new();
        sections.insert("vault".to_owned(), DestinationSection::default());
        let err = registry(&sections).unwrap_err().to_string();
        assert!(err.contains("[destinations.vault]"), "{err}");
    }

    #[test]
    fn an_alias_names_its_kind() {
        let mut sections = BTreeMap::new();
        let section = DestinationSection {
            base_url: Some("http://127.0.0.1:9".into()),
        };
        sections.insert("octopus".to_owned(), section);
        let registry = registry(&sections).unwrap();
        assert!(registry.factory("octopus-deploy").is_ok());
    }
}
