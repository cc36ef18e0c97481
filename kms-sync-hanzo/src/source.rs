//! The Hanzo KMS secret source.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use kms_sync_core::http::ClientSettings;
use kms_sync_core::{
    async_trait, Error, ErrorKind, Result, Revision, SecretSet, SecretSource, SecretValue,
};
use sha2::Sha256;

use crate::client::{KmsClient, Listed};
use crate::config::{KmsAuth, KmsLocation, DEFAULT_BASE_URL};
use crate::error::error_table;
use crate::model::{RawSecret, SecretList};

/// Builds a [`HanzoSource`].
pub struct HanzoSourceBuilder {
    auth: KmsAuth,
    location: KmsLocation,
    settings: ClientSettings,
    allow_unresolved_references: bool,
    revision_key: Option<[u8; 32]>,
}

impl std::fmt::Debug for HanzoSourceBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HanzoSourceBuilder")
            .field("auth", &self.auth)
            .field("location", &self.location)
            .field("settings", &self.settings)
            .field(
                "allow_unresolved_references",
                &self.allow_unresolved_references,
            )
            .field("revision_key", &self.revision_key.map(|_| "[REDACTED]"))
            .finish()
    }
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

    /// The key [`revision`](SecretSource::revision)s are computed under (HMAC-SHA256).
    /// Default: a random key per source, so revisions compare only within one instance.
    /// Give every process of a fleet the same secret key so that a revision one worker
    /// recorded means the same to another (kms-sync-fleet stores it, HMAC'd again
    /// under the ledger key, to detect source changes across workers).
    ///
    /// ```
    /// use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
    /// let source = HanzoSource::builder(
    ///     KmsAuth::access_token("t"),
    ///     KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/")?,
    /// )
    /// .revision_key([7u8; 32])
    /// .build()?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn revision_key(mut self, key: [u8; 32]) -> Self {
        self.revision_key = Some(key);
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
        let revision_key = self.revision_key.unwrap_or_else(|| {
            let mut key = [0u8; 32];
            key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
            key
        });
        Ok(HanzoSource {
            client: Arc::new(KmsClient::new(http, self.auth)),
            location: self.location,
            allow_unresolved_references: self.allow_unresolved_references,
            revision_key,
            seen: Mutex::new(None),
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
    /// Shared by the sources made with [`at`](HanzoSource::at): one token, one budget.
    client: Arc<KmsClient>,
    location: KmsLocation,
    allow_unresolved_references: bool,
    /// A per-instance key unless configured: revisions reveal nothing.
    revision_key: [u8; 32],
    /// The ETag of the last answer and the revision of that body, for `If-None-Match`.
    seen: Mutex<Option<(String, Revision)>>,
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
            revision_key: None,
        }
    }

    /// A source for another folder (or environment, or project) over this one's client:
    /// the same credentials, access token, request budget and revision key. A fleet
    /// reading many folders of one KMS shares one login and one rate budget this way, as
    /// the KMS asks (one token and one limiter per host).
    ///
    /// ```
    /// use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
    /// let root = HanzoSource::builder(
    ///     KmsAuth::access_token("t"),
    ///     KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/")?,
    /// )
    /// .build()?;
    /// let payments = root.at(KmsLocation::new(ProjectRef::Slug("backend".into()), "prod", "/payments")?);
    /// assert_eq!(kms_sync_core::SecretSource::describe(&payments), "hanzo:backend:prod:/payments");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn at(&self, location: KmsLocation) -> HanzoSource {
        HanzoSource {
            client: self.client.clone(),
            location,
            allow_unresolved_references: self.allow_unresolved_references,
            revision_key: self.revision_key,
            seen: Mutex::new(None),
        }
    }

    /// Where this source reads.
    ///
    /// ```
    /// use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};
    /// let at = KmsLocation::new(ProjectRef::Id("p".into()), "dev", "/")?;
    /// let source = HanzoSource::builder(KmsAuth::access_token("t"), at.clone()).build()?;
    /// assert_eq!(source.location(), &at);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn location(&self) -> &KmsLocation {
        &self.location
    }

    /// Requests made so far (logins and renewals included).
    pub fn request_stats(&self) -> kms_sync_core::RequestStats {
        self.client.http.request_stats()
    }

    /// Fetches and merges: key → (value, version). With `if_none_match`, `None` when the
    /// KMS answered 304. Remembers the answer's ETag with the body's revision.
    async fn fetch(
        &self,
        if_none_match: Option<&str>,
    ) -> Result<Option<BTreeMap<String, (SecretValue, u64)>>> {
        let listed = self
            .client
            .list(&self.location, if_none_match)
            .await
            .map_err(|e| self.fail(e))?;
        let (list, etag) = match listed {
            Listed::NotModified => return Ok(None),
            Listed::Fresh { list, etag } => (list, etag),
        };
        let merged = self.merge(list)?;
        let seen = match etag {
            Some(etag) => Some((etag, self.revision_of(&merged)?)),
            None => None,
        };
        if let Ok(mut slot) = self.seen.lock() {
            *slot = seen;
        }
        Ok(Some(merged))
    }

    /// The HMAC of keys, versions and values under the revision key.
    fn revision_of(&self, merged: &BTreeMap<String, (SecretValue, u64)>) -> Result<Revision> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.revision_key)
            .map_err(|_| Error::unexpected("revision key refused"))?;
        for (key, (value, version)) in merged {
            for part in [key.as_bytes(), value.expose_secret().as_bytes()] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            mac.update(&version.to_be_bytes());
        }
        Ok(Revision(hex::encode(&mac.finalize().into_bytes()[..16])))
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

    /// Always a full read (never answered from a cache), which also refreshes the ETag
    /// [`revision`](SecretSource::revision) sends.
    async fn load(&self) -> Result<SecretSet> {
        let mut set = SecretSet::new(self.location.environment());
        let merged = self.fetch(None).await?.ok_or_else(|| {
            Error::unexpected("the KMS answered 304 to a request without an ETag")
        })?;
        for (key, (value, _)) in merged {
            set.insert(key, value);
        }
        Ok(set)
    }

    /// One list request, conditional when an earlier answer carried an ETag: a `304 Not
    /// Modified` (no body) gives the revision of that earlier answer.
    async fn revision(&self) -> Result<Option<Revision>> {
        let known = self.seen.lock().ok().and_then(|slot| slot.clone());
        match self
            .fetch(known.as_ref().map(|(etag, _)| etag.as_str()))
            .await?
        {
            None => Ok(known.map(|(_, revision)| revision)),
            Some(merged) => Ok(Some(self.revision_of(&merged)?)),
        }
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
