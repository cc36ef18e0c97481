//! Where a fleet's syncs read their secrets: the embedder's [`SourceProvider`], and the
//! per-worker cache that gives every sync on one (project, environment, secret path) the
//! same source, so the source's token, rate budget and ETag are shared.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use kms_sync_core::{async_trait, Error, Result, SecretSource};
use tokio::sync::OnceCell;

/// One distinct source: what syncs read (the sync's `projectId`, `environment` and
/// `secretPath`). Syncs with the same key share one source and one read per poll round.
///
/// ```
/// let key = kms_sync_fleet::SourceKey::new(Some("p1"), "prod", "/api");
/// assert_eq!(key.to_string(), "p1:prod:/api");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct SourceKey {
    /// The KMS project (`None`: syncs created without one).
    pub project_id: Option<String>,
    /// The environment slug.
    pub environment: String,
    /// The folder path.
    pub secret_path: String,
}

impl SourceKey {
    /// A key.
    ///
    /// ```
    /// let key = kms_sync_fleet::SourceKey::new(None, "dev", "/");
    /// assert_eq!(key.project_id, None);
    /// ```
    pub fn new(
        project_id: Option<&str>,
        environment: impl Into<String>,
        secret_path: impl Into<String>,
    ) -> SourceKey {
        SourceKey {
            project_id: project_id.map(str::to_owned),
            environment: environment.into(),
            secret_path: secret_path.into(),
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.project_id.as_deref().unwrap_or("-"),
            self.environment,
            self.secret_path
        )
    }
}

/// Gives the fleet's workers the source of a (project, environment, secret path): the
/// embedder's KMS client, credentials and settings. A worker asks once per distinct key and
/// keeps the answer for its lifetime, for the runs and the poll rounds alike, so return a
/// source that is cheap to keep (the KMS source shares one client, token and rate budget
/// across keys: see `HanzoSources` with the `hanzo` feature).
///
/// For shared reads to detect changes across workers, the source's
/// [`revision`](SecretSource::revision) must mean the same in every process: a KMS source
/// built with one fleet-wide revision key, not a random one per instance.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::{async_trait, Result, SecretSet, SecretSource, StaticSource};
/// use kms_sync_fleet::SourceProvider;
///
/// /// Every folder holds one key: its path.
/// struct Folders;
///
/// #[async_trait]
/// impl SourceProvider for Folders {
///     async fn source(&self, project: Option<&str>, environment: &str, path: &str)
///         -> Result<Arc<dyn SecretSource>> {
///         Ok(Arc::new(StaticSource::new(SecretSet::new(environment).with("PATH", path))))
///     }
/// }
/// ```
#[async_trait]
pub trait SourceProvider: Send + Sync {
    /// The source syncs on `project_id`, `environment` and `secret_path` read.
    ///
    /// # Errors
    ///
    /// Whatever building it fails with ([`Config`](kms_sync_core::ErrorKind::Config) for a
    /// key it cannot serve); the run fails with it, and it is asked again next time.
    ///
    /// ```no_run
    /// # async fn f(p: &dyn kms_sync_fleet::SourceProvider) -> kms_sync_core::Result<()> {
    /// let source = p.source(Some("p1"), "prod", "/").await?;
    /// # Ok(()) }
    /// ```
    async fn source(
        &self,
        project_id: Option<&str>,
        environment: &str,
        secret_path: &str,
    ) -> Result<Arc<dyn SecretSource>>;
}

type Slot = Arc<OnceCell<Arc<dyn SecretSource>>>;

/// One worker's sources, one per key, built on first use (concurrent first uses build
/// once; a failed build is retried next time).
pub(crate) struct SourceCache {
    provider: Arc<dyn SourceProvider>,
    slots: Mutex<HashMap<SourceKey, Slot>>,
}

impl SourceCache {
    pub fn new(provider: Arc<dyn SourceProvider>) -> SourceCache {
        SourceCache {
            provider,
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, key: &SourceKey) -> Result<Arc<dyn SecretSource>> {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .map_err(|_| Error::unexpected("the source cache lock is poisoned"))?;
            slots.entry(key.clone()).or_default().clone()
        };
        slot.get_or_try_init(|| async {
            self.provider
                .source(
                    key.project_id.as_deref(),
                    &key.environment,
                    &key.secret_path,
                )
                .await
        })
        .await
        .cloned()
    }
}

#[cfg(feature = "hanzo")]
pub use hanzo::HanzoSources;

#[cfg(feature = "hanzo")]
mod hanzo {
    use std::sync::Arc;

    use kms_sync_core::{async_trait, Error, Result, SecretSource};
    use kms_sync_hanzo::{HanzoSource, KmsLocation, ProjectRef};

    use super::SourceProvider;

    /// The fleet's [`SourceProvider`] for Hanzo KMS (feature `hanzo`): every key is a
    /// folder of one KMS, read over one [`HanzoSource`]'s client — one login, one access
    /// token and one rate budget for the whole worker, as the KMS asks (one token and one
    /// limiter per host) — with `If-None-Match` on the poll rounds' reads. The sync's
    /// `projectId` is the KMS project id (`workspaceId`).
    ///
    /// It lives here rather than in each embedder because every fleet on Hanzo KMS needs
    /// exactly this, and it is behind a feature so that a fleet on another source does not
    /// build the KMS client.
    ///
    /// Build the template with one [`revision_key`](kms_sync_hanzo::HanzoSourceBuilder::revision_key)
    /// for the whole fleet, so a revision one worker stored means the same to the others.
    ///
    /// ```
    /// use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
    /// let template = HanzoSource::builder(
    ///     KmsAuth::universal("client-id", "client-secret"),
    ///     KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/")?,
    /// )
    /// .revision_key([7u8; 32]) // from your secret store, the same on every worker
    /// .build()?;
    /// let sources = std::sync::Arc::new(kms_sync_fleet::HanzoSources::new(template));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    #[derive(Debug)]
    pub struct HanzoSources {
        template: HanzoSource,
    }

    impl HanzoSources {
        /// Sources over `template`'s client (its own location is only used for syncs
        /// without a project: its project).
        ///
        /// ```no_run
        /// # fn f(template: kms_sync_hanzo::HanzoSource) {
        /// let sources = kms_sync_fleet::HanzoSources::new(template);
        /// # }
        /// ```
        pub fn new(template: HanzoSource) -> HanzoSources {
            HanzoSources { template }
        }
    }

    #[async_trait]
    impl SourceProvider for HanzoSources {
        async fn source(
            &self,
            project_id: Option<&str>,
            environment: &str,
            secret_path: &str,
        ) -> Result<Arc<dyn SecretSource>> {
            let project = match project_id {
                Some(id) if !id.trim().is_empty() => ProjectRef::Id(id.to_owned()),
                _ => self.template.location().project().clone(),
            };
            let location = KmsLocation::new(project, environment, secret_path)
                .map_err(|e| Error::config(format!("a sync's KMS source: {}", e.message())))?;
            Ok(Arc::new(self.template.at(location)))
        }
    }
}
