//! Name resolution behind the [`UrlPolicy`](super::UrlPolicy): the system's, or one a test
//! (or an embedder with its own DNS) supplies, and the reqwest resolver that checks and pins
//! what it resolves.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;

use super::UrlPolicy;

/// Resolves a host name to its addresses.
///
/// ```
/// use kms_sync_core::net::{Lookup, SystemLookup};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let addresses = SystemLookup.lookup("localhost").await?;
/// assert!(addresses.iter().all(|ip| ip.is_loopback()));
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Lookup: Send + Sync {
    /// Every address of `host`.
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

#[async_trait]
impl Lookup for SystemLookup {
    async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let addresses = tokio::net::lookup_host((host, 0)).await?;
        Ok(addresses.map(|a| a.ip()).collect())
    }
}

/// The resolver an [`HttpClient`](crate::http::HttpClient) with a policy connects through:
/// every name is resolved by the lookup and checked by the policy, and only the checked
/// addresses are handed to the connector.
pub(crate) struct PolicyResolver {
    policy: Arc<UrlPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let lookup = Arc::clone(&self.lookup);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            let addresses = policy.resolve(&host, 0, &*lookup).await?;
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// A [`UrlPolicy`] with the [`Lookup`] it resolves through: what an
/// [`HttpClient`](crate::http::HttpClient) checks every URL and every connection with.
///
/// ```
/// use kms_sync_core::net::{UrlGuard, UrlPolicy};
/// let guard = UrlGuard::new(UrlPolicy::public_only().allow("http://127.0.0.1:8080".parse()?));
/// assert_eq!(guard.policy().allowed().len(), 1);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct UrlGuard {
    policy: Arc<UrlPolicy>,
    lookup: Arc<dyn Lookup>,
}

impl UrlGuard {
    /// `policy`, resolving names with the system's resolver.
    pub fn new(policy: UrlPolicy) -> Self {
        UrlGuard::with_lookup(policy, Arc::new(SystemLookup))
    }

    /// `policy`, resolving names with `lookup` (an embedder's DNS, or a test's).
    pub fn with_lookup(policy: UrlPolicy, lookup: Arc<dyn Lookup>) -> Self {
        UrlGuard {
            policy: Arc::new(policy),
            lookup,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// Checks a URL a tenant names before it is stored: the policy's checks, then, for a host
    /// name, every address it resolves to now (it is checked again at connect time, where the
    /// addresses are pinned).
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) for a URL that does not parse or is refused;
    /// [`Unavailable`](crate::ErrorKind::Unavailable) when its name does not resolve.
    ///
    /// ```
    /// use kms_sync_core::net::{UrlGuard, UrlPolicy};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let guard = UrlGuard::new(UrlPolicy::public_only());
    /// assert!(guard.check("https://localhost:8443").await.is_err());
    /// assert!(guard.check("https://169.254.169.254/").await.is_err());
    /// # }
    /// ```
    pub async fn check(&self, text: &str) -> crate::Result<url::Url> {
        let url = self.policy.check_url_str(text)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(0);
            self.policy.resolve(name, port, &*self.lookup).await?;
        }
        Ok(url)
    }

    pub(crate) fn resolver(&self) -> Arc<PolicyResolver> {
        Arc::new(PolicyResolver {
            policy: Arc::clone(&self.policy),
            lookup: Arc::clone(&self.lookup),
        })
    }
}

impl std::fmt::Debug for UrlGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlGuard")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
