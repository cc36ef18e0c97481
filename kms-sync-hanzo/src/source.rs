//! The Hanzo KMS secret source.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Error, ErrorKind, Result, Revision, SecretSet, SecretSource, SecretValue,
};
use sha2::Sha256;

use crate::client::KmsClient;
use crate::config::{KmsAuth, KmsLocation, DEFAULT_BASE_URL};
use crate::error::error_table;
use crate::model::{RawSecret, SecretList};

/// Builds a [`HanzoSource`].
#[derive(Debug)]
pub struct HanzoSourceBuilder {
    auth: KmsAuth,
    location: KmsLocation,
    settings: ClientSettings,
    allow_unresolved_references: bool,
}

impl HanzoSourceBuilder {
    /// Another KMS (any Infisical-compatible base URL). Default [`DEFAULT_BASE_URL`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings = self.settings.with_base_url(base_url);
        self
    }

    /// Transport settings (budget default: the free tier's 120 secret reads per minute).
    pub fn settings(mut self, settings: ClientSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Accepts values still holding `${…}` after the KMS expanded references (default: such a
    /// value is an error, because the KMS leaves a reference it cannot expand as literal text).
    pub fn allow_unresolved_references(mut self, allow: bool) -> Self {
        self.allow_unresolved_references = allow;
        self
    }

    /// Builds the source. No request is made until the first `load`.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an invalid base URL.
    pub fn build(self) -> Result<HanzoSource> {
        let http = self
            .settings
            .client_builder(
                "hanzo-kms",
                DEFAULT_BASE_URL,
                kms_sync_core::RateBudget::new(120, std::time::Duration::from_secs(60)),
                4,
            )
            .error_table(error_table)
            .build()?;
        let mut revision_key = [0u8; 32];
        revision_key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        revision_key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Ok(HanzoSource {
            client: KmsClient::new(http, self.auth),
            location: self.location,
            allow_unresolved_references: self.allow_unresolved_references,
            revision_key,
        })
    }
}

/// Reads a Hanzo KMS (Infisical-compatible) project environment and folder: its secrets, its
/// secret imports, and secret references expanded by the KMS.
///
/// Precedence is the service's: local secrets win over imported ones, and among imports the
/// last one wins. Personal overrides never reach a destination. The source fails closed: a
/// value the identity cannot read, a reference the KMS left unexpanded, or a response that
/// does not parse is an error naming the keys — never a smaller set that would make a sync
/// delete destination secrets.
///
/// ```no_run
/// use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
/// use kms_sync_core::SecretSource;
/// # async fn run() -> kms_sync_core::Result<()> {
/// let source = HanzoSource::builder(
///     KmsAuth::universal(std::env::var("KMS_CLIENT_ID").unwrap_or_default(), std::env::var("KMS_CLIENT_SECRET").unwrap_or_default()),
///     KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/")?,
/// )
/// .build()?;
/// let secrets = source.load().await?;
/// # Ok(()) }
/// ```
pub struct HanzoSource {
    client: KmsClient,
    location: KmsLocation,
    allow_unresolved_references: bool,
    /// A per-instance key: revisions compare within one process and reveal nothing.
    revision_key: [u8; 32],
}

impl std::fmt::Debug for HanzoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HanzoSource")
            .field("location", &self.location.to_string())
            .field("base_url", &self.client.http.base_url().as_str())
            .finish()
    }
}

/// Whether a value still holds a `${…}` reference the KMS did not expand.
fn has_reference(value: &str) -> bool {
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find('}') {
            let inner = &after[..end];
            if !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
            {
                return true;
            }
        }
        rest = after;
    }
    false
}

impl HanzoSource {
    /// A builder.
    pub fn builder(auth: KmsAuth, location: KmsLocation) -> HanzoSourceBuilder {
        HanzoSourceBuilder {
            auth,
            location,
            settings: ClientSettings::new(),
            allow_unresolved_references: false,
        }
    }

    /// Requests made so far (logins and renewals included).
    pub fn request_stats(&self) -> kms_sync_core::RequestStats {
        self.client.http.request_stats()
    }

    /// Fetches and merges: key → (value, version).
    async fn fetch(&self) -> Result<BTreeMap<String, (SecretValue, u64)>> {
        let list = self
            .client
            .list(&self.location)
            .await
            .map_err(|e| self.fail(e))?;
        self.merge(list)
    }

    fn fail(&self, e: Error) -> Error {
        let message = format!("reading {}: {}", self.location, e.message());
        let mut out = Error::new(
            if e.kind() == ErrorKind::Unexpected {
                ErrorKind::Source
            } else {
                e.kind()
            },
            message,
        );
        if let Some(status) = e.status() {
            out = out.with_status(status);
        }
        if let Some(at) = e.retry_at() {
            out = out.with_retry_at(at);
        }
        out.with_operation("load secrets")
    }

    fn merge(&self, list: SecretList) -> Result<BTreeMap<String, (SecretValue, u64)>> {
        let shared = |s: &RawSecret| s.kind.as_deref() != Some("personal");
        let mut merged: BTreeMap<String, (SecretValue, u64)> = BTreeMap::new();
        let mut hidden = Vec::new();
        let mut take = |s: RawSecret, merged: &mut BTreeMap<String, (SecretValue, u64)>| {
            if s.secret_value_hidden {
                hidden.push(s.secret_key.clone());
            }
            merged
                .entry(s.secret_key)
                .or_insert((SecretValue::new(s.secret_value), s.version));
        };
        // Local secrets win; then imports from the last to the first (the last import wins);
        // within one import, the first occurrence wins.
        for s in list.secrets.into_iter().filter(shared) {
            take(s, &mut merged);
        }
        for import in list.imports.into_iter().rev() {
            for s in import.secrets.into_iter().filter(shared) {
                take(s, &mut merged);
            }
        }
        if !hidden.is_empty() {
            hidden.sort();
            hidden.dedup();
            return Err(Error::new(
                ErrorKind::Source,
                format!(
                    "{}: the identity cannot read the values of {}; nothing was synced",
                    self.location,
                    hidden.join(", ")
                ),
            )
            .with_keys(hidden));
        }
        if !self.allow_unresolved_references {
            let unresolved: Vec<String> = merged
                .iter()
                .filter(|(_, (v, _))| has_reference(v.expose_secret()))
                .map(|(k, _)| k.clone())
                .collect();
            if !unresolved.is_empty() {
                return Err(Error::new(
                    ErrorKind::Source,
                    format!(
                        "{}: secret references could not be expanded in {} (the referenced secret is missing, empty or not readable); nothing was synced",
                        self.location,
                        unresolved.join(", ")
                    ),
                )
                .with_keys(unresolved));
            }
        }
        Ok(merged)
    }
}

#[async_trait]
impl SecretSource for HanzoSource {
    fn describe(&self) -> String {
        self.location.to_string()
    }

    async fn load(&self) -> Result<SecretSet> {
        let mut set = SecretSet::new(self.location.environment());
        for (key, (value, _)) in self.fetch().await? {
            set.insert(key, value);
        }
        Ok(set)
    }

    async fn revision(&self) -> Result<Option<Revision>> {
        let merged = self.fetch().await?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.revision_key)
            .map_err(|_| Error::unexpected("revision key refused"))?;
        for (key, (value, version)) in &merged {
            for part in [key.as_bytes(), value.expose_secret().as_bytes()] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            mac.update(&version.to_be_bytes());
        }
        Ok(Some(Revision(hex::encode(
            &mac.finalize().into_bytes()[..16],
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::has_reference;

    #[test]
    fn leftover_references_are_found() {
        for v in [
            "${KEY}",
            "x${prod.db.PASSWORD}y",
            "${proj::env.path.K}",
            "${@slug.env.K}",
        ] {
            assert!(has_reference(v), "{v}");
        }
        for v in [
            "plain",
            "$KEY",
            "${}",
            "${not valid}",
            "${",
            "price: $5 {ok}",
        ] {
            assert!(!has_reference(v), "{v}");
        }
    }
}
