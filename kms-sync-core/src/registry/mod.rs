//! The destination registry: which destination kinds a build knows, and how each is built
//! from the KMS's JSON. Each destination crate exports a [`DestinationFactory`]; the facade
//! fills a [`DestinationRegistry`] per cargo feature, and anyone can add their own.

use std::fmt;
use std::sync::Arc;

use crate::definition::{AppConnectionDefinition, SecretSyncDefinition};
use crate::destination::Destination;
use crate::engine::SyncerBuilder;
use crate::error::{Error, Result};
use crate::http::ClientSettings;
use crate::source::SecretSource;
use crate::Syncer;

mod facts;
mod verification;

pub use facts::DestinationFacts;
pub use verification::Verification;

/// Builds destinations of one kind from the KMS's JSON: the app-connection body and the
/// sync's `destinationConfig` (both as JSON text, so no JSON library type crosses the API).
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::http::ClientSettings;
/// use kms_sync_core::*;
///
/// /// A destination kind of your own.
/// struct VaultFactory;
///
/// impl DestinationFactory for VaultFactory {
///     fn kind(&self) -> &'static str { "vault" }
///     fn check_config(&self, destination_config: &str) -> Result<()> {
///         let _: serde_json::Map<String, serde_json::Value> = parse_json(destination_config, "vault config")?;
///         Ok(())
///     }
///     fn build(&self, _: &AppConnectionDefinition, config: &str, _: ClientSettings) -> Result<Arc<dyn Destination>> {
///         self.check_config(config)?;
///         Ok(Arc::new(MemoryDestination::builder().kind("vault").build()))
///     }
/// }
///
/// let registry = DestinationRegistry::new().with(VaultFactory);
/// assert_eq!(registry.kinds(), ["vault"]);
/// ```
#[async_trait::async_trait]
pub trait DestinationFactory: Send + Sync {
    /// The kind, as the KMS names it in its URLs (`bitbucket`, `checkly`, `octopus-deploy`).
    fn kind(&self) -> &'static str;

    /// Other names accepted for the kind (e.g. `octopus`). Default: none.
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Checks an app connection (its method and credentials' shape) without contacting the
    /// service, so a connection is refused when it is stored. Default: accepted.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) naming the field, never echoing a credential.
    fn check_connection(&self, connection: &AppConnectionDefinition) -> Result<()> {
        let _ = connection;
        Ok(())
    }

    /// What the fleet and the API say about this kind: display name, public credential
    /// fields, import support, display-only config fields, OpenAPI descriptions. Default:
    /// the kind as its own display name, nothing public, no import.
    ///
    /// ```
    /// use kms_sync_core::{DestinationFactory, MemoryFactory};
    /// assert_eq!(MemoryFactory.facts().kind(), MemoryFactory.kind());
    /// ```
    fn facts(&self) -> DestinationFacts {
        DestinationFacts::new(self.kind(), self.kind())
    }

    /// Checks over the network that a connection's credentials work against the service
    /// (one cheap authenticated read), as the KMS does when a connection is created or
    /// updated. Default: no network check — [`Verification::NotChecked`]; a factory that
    /// checks answers [`Verification::Accepted`], naming the user or account when the
    /// service says.
    ///
    /// # Errors
    ///
    /// [`Unauthenticated`](crate::ErrorKind::Unauthenticated) or [`PermissionDenied`](crate::ErrorKind::PermissionDenied) when the service refuses the credentials; the
    /// transport's kinds when it cannot be reached. Never echoes a credential.
    async fn verify_connection(
        &self,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Verification> {
        let _ = (connection, settings);
        Ok(Verification::NotChecked)
    }

    /// The name the service stores a key under — what this kind's destinations'
    /// [`KeyRules::stored_key`](crate::KeyRules::stored_key) answers, known without building
    /// one, so the API can compare two syncs' key schemas as the service will see their keys.
    /// Default: the key as written.
    ///
    /// ```
    /// use kms_sync_core::{DestinationFactory, MemoryFactory};
    /// assert_eq!(MemoryFactory.stored_key("api_key"), "api_key");
    /// ```
    fn stored_key(&self, key: &str) -> String {
        key.to_owned()
    }

    /// Checks a `destinationConfig` without building anything, so a definition is refused
    /// when it is parsed.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) naming the field.
    fn check_config(&self, destination_config: &str) -> Result<()>;

    /// Builds a destination from a connection, a `destinationConfig` and client settings.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) for a connection or config it refuses.
    fn build(
        &self,
        connection: &AppConnectionDefinition,
        destination_config: &str,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>>;
}

/// The destination kinds a program knows. Kinds and aliases are unique.
///
/// ```
/// use kms_sync_core::{DestinationRegistry, MemoryFactory};
/// let registry = DestinationRegistry::new().with(MemoryFactory);
/// assert!(registry.factory("memory").is_ok());
/// let err = registry.factory("vault").err().map(|e| e.to_string()).unwrap_or_default();
/// assert!(err.contains("unknown destination `vault`; known: memory"), "{err}");
/// ```
#[derive(Clone, Default)]
pub struct DestinationRegistry {
    factories: Vec<Arc<dyn DestinationFactory>>,
    disabled: Vec<(&'static str, &'static str)>,
}

impl fmt::Debug for DestinationRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestinationRegistry")
            .field("kinds", &self.kinds())
            .finish()
    }
}

impl DestinationRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        DestinationRegistry::default()
    }

    /// Adds a factory. A kind or alias already taken is replaced: the last registration
    /// wins, so an embedder can override a built-in kind.
    pub fn with(mut self, factory: impl DestinationFactory + 'static) -> Self {
        self.register(Arc::new(factory));
        self
    }

    /// Adds a shared factory (see [`with`](Self::with)).
    pub fn register(&mut self, factory: Arc<dyn DestinationFactory>) {
        let names: Vec<&str> = std::iter::once(factory.kind())
            .chain(factory.aliases().iter().copied())
            .collect();
        self.factories
            .retain(|f| !names.iter().any(|n| answers(f.as_ref(), n)));
        self.disabled.retain(|(kind, _)| !names.contains(kind));
        self.factories.push(factory);
    }

    /// Records a kind this build could know but does not, with the cargo feature that turns
    /// it on, so asking for it says how to get it.
    pub fn with_disabled(mut self, kind: &'static str, feature: &'static str) -> Self {
        if self.factory(kind).is_err() {
            self.disabled.push((kind, feature));
        }
        self
    }

    /// The kinds known, in registration order.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.iter().map(|f| f.kind()).collect()
    }

    /// The factory of a kind or alias.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config): an unknown kind (listing the known ones), or a
    /// kind whose cargo feature is off (naming it).
    pub fn factory(&self, kind: &str) -> Result<&dyn DestinationFactory> {
        if let Some(factory) = self.factories.iter().find(|f| answers(f.as_ref(), kind)) {
            return Ok(factory.as_ref());
        }
        if let Some((name, feature)) = self.disabled.iter().find(|(k, _)| *k == kind) {
            return Err(Error::config(format!(
                "destination `{name}` is not enabled in this build: turn on the kms-sync feature `{feature}`"
            )));
        }
        let mut known = self.kinds();
        known.extend(self.disabled.iter().map(|(k, _)| *k));
        Err(Error::config(format!(
            "unknown destination `{kind}`; known: {}",
            known.join(", ")
        )))
    }

    /// Builds the destination a definition names.
    ///
    /// # Errors
    ///
    /// As [`factory`](Self::factory) and [`DestinationFactory::build`].
    pub fn build_destination(
        &self,
        definition: &SecretSyncDefinition,
        connection: &AppConnectionDefinition,
        settings: ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        self.factory(definition.destination())?.build(
            connection,
            definition.destination_config(),
            settings,
        )
    }

    /// A [`SyncerBuilder`] for a definition: its id, source, destination, options and key
    /// schema set; add a state store or an import target, then build.
    ///
    /// # Errors
    ///
    /// As [`build_destination`](Self::build_destination).
    pub fn syncer_builder(
        &self,
        definition: &SecretSyncDefinition,
        connection: &AppConnectionDefinition,
        source: Arc<dyn SecretSource>,
        settings: ClientSettings,
    ) -> Result<SyncerBuilder> {
        let destination = self.build_destination(definition, connection, settings)?;
        let mut builder = Syncer::builder()
            .id(definition.name().to_owned())
            .source(source)
            .destination(destination)
            .options(definition.sync_options());
        if let Some(schema) = definition.key_schema() {
            builder = builder.key_schema_template(schema.to_owned());
        }
        Ok(builder)
    }
}

fn answers(factory: &dyn DestinationFactory, name: &str) -> bool {
    factory.kind() == name || factory.aliases().contains(&name)
}
