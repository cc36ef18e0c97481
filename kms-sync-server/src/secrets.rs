//! Where every secret comes from: an environment variable `NAME`, or a file named by
//! `NAME_FILE`, or a file named under `[secret_files]` in the TOML — never the TOML itself.
//! Values are held in [`SecretString`]s and never shown: errors name the variable, not
//! the value.

use std::path::Path;

use kms_sync::net::{AllowEntry, UrlPolicy};
use kms_sync::{Error, Result};
use kms_sync_fleet::KeyRing;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::ServerConfig;

/// One secret: its `[secret_files]` key and its environment variable.
#[derive(Debug, Clone, Copy)]
pub struct SecretName {
    /// The key under `[secret_files]`.
    pub key: &'static str,
    /// The variable (`<variable>_FILE` names a file holding it).
    pub variable: &'static str,
    /// What it is, for `check-config` and errors.
    pub what: &'static str,
}

/// Every secret the server reads.
///
/// ```
/// assert!(kms_sync_server::secrets::SECRETS.iter().any(|s| s.variable == "KMS_SYNC_DATABASE_URL"));
/// ```
pub const SECRETS: [SecretName; 11] = [
    SecretName {
        key: "database_url",
        variable: "KMS_SYNC_DATABASE_URL",
        what: "the PostgreSQL URL",
    },
    SecretName {
        key: "credential_keys",
        variable: "KMS_SYNC_CREDENTIAL_KEYS",
        what: "the credential key ring: id:64-hex-digits, current first, comma-separated",
    },
    SecretName {
        key: "ledger_key",
        variable: "KMS_SYNC_LEDGER_KEY",
        what: "the ledger's HMAC key, 16+ bytes, the same on every replica",
    },
    SecretName {
        key: "kms_url",
        variable: "KMS_URL",
        what: "the KMS's base URL (default https://app.kms.hanzo.ai)",
    },
    SecretName {
        key: "kms_client_id",
        variable: "KMS_CLIENT_ID",
        what: "the KMS machine identity's client id",
    },
    SecretName {
        key: "kms_client_secret",
        variable: "KMS_CLIENT_SECRET",
        what: "the KMS machine identity's client secret",
    },
    SecretName {
        key: "kms_access_token",
        variable: "KMS_ACCESS_TOKEN",
        what: "a KMS access token, instead of a machine identity",
    },
    SecretName {
        key: "api_tokens",
        variable: "KMS_SYNC_API_TOKENS",
        what: "the API's token file (JSON: token digests, projects, actions)",
    },
    SecretName {
        key: "allow_address",
        variable: "KMS_SYNC_ALLOW_ADDRESS",
        what: "the URL policy's allowlist, comma-separated",
    },
    SecretName {
        key: "notice_webhook_url",
        variable: "KMS_SYNC_NOTICE_WEBHOOK_URL",
        what: "where failure notices are posted (a Slack-compatible webhook URL)",
    },
    SecretName {
        key: "notice_signing_key",
        variable: "KMS_SYNC_NOTICE_SIGNING_KEY",
        what: "the HMAC key failure notices are signed with, 16+ bytes",
    },
];

/// Reads secrets for one configuration.
///
/// ```
/// let config = kms_sync_server::config::ServerConfig::default();
/// let secrets = kms_sync_server::secrets::Secrets::new(&config);
/// assert!(secrets.get("no_such_secret").is_err());
/// ```
#[derive(Debug)]
pub struct Secrets<'a> {
    config: &'a ServerConfig,
}

impl<'a> Secrets<'a> {
    /// Secrets from the environment and `config`'s `[secret_files]`.
    pub fn new(config: &'a ServerConfig) -> Secrets<'a> {
        Secrets { config }
    }

    /// The secret `key` (see [`SECRETS`]), or `None` when it is set nowhere.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) for an unknown key or a file that cannot be
    /// read, naming the variable and the path.
    pub fn get(&self, key: &str) -> Result<Option<SecretString>> {
        let name = SECRETS
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| Error::config(format!("no secret is called `{key}`")))?;
        if let Some(value) = std::env::var_os(name.variable) {
            let text = value
                .into_string()
                .map_err(|_| Error::config(format!("{} is not valid UTF-8", name.variable)))?;
            return Ok(Some(SecretString::from(text)));
        }
        let file_variable = format!("{}_FILE", name.variable);
        if let Some(path) = std::env::var_os(&file_variable) {
            return read_file(Path::new(&path), &file_variable).map(Some);
        }
        match self.config.secret_files.get(key) {
            Some(path) => read_file(path, &format!("[secret_files] {key}")).map(Some),
            None => Ok(None),
        }
    }

    /// The secret `key`, which must be set.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get), and [`Config`](kms_sync::ErrorKind::Config) naming the
    /// variable when it is set nowhere.
    pub fn require(&self, key: &str) -> Result<SecretString> {
        self.get(key)?.ok_or_else(|| missing(key))
    }

    /// The credential key ring from `KMS_SYNC_CREDENTIAL_KEYS`: `id:hex` entries, the
    /// current key first, older keys (still decrypting rows not yet re-encrypted) after.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) naming the entry (by position and id) that
    /// is malformed; never the key.
    pub fn key_ring(&self) -> Result<KeyRing> {
        let text = self.require("credential_keys")?;
        parse_key_ring(text.expose_secret())
    }

    /// The ledger's HMAC key (16 bytes or more).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) when it is missing or shorter than 16 bytes.
    pub fn ledger_key(&self) -> Result<SecretString> {
        let key = self.require("ledger_key")?;
        if key.expose_secret().len() < 16 {
            return Err(Error::config(
                "KMS_SYNC_LEDGER_KEY is shorter than 16 bytes: use 16 or more random bytes, \
                 the same on every replica (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(key)
    }

    /// The failure notices' webhook URL and signing key, when notices are configured:
    /// both set, or neither.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) naming the variable when only one is set
    /// or the key is shorter than 16 bytes; never a value.
    pub fn notices(&self) -> Result<Option<(SecretString, SecretString)>> {
        let url = self.get("notice_webhook_url")?;
        let key = self.get("notice_signing_key")?;
        let (url, key) = match (url, key) {
            (None, None) => return Ok(None),
            (Some(url), Some(key)) => (url, key),
            (Some(_), None) => return Err(missing("notice_signing_key")),
            (None, Some(_)) => return Err(missing("notice_webhook_url")),
        };
        if key.expose_secret().len() < 16 {
            return Err(Error::config(
                "KMS_SYNC_NOTICE_SIGNING_KEY is shorter than 16 bytes: use 16 or more random \
                 bytes (e.g. `openssl rand -hex 32`), shared with the webhook's receiver",
            ));
        }
        Ok(Some((url, key)))
    }

    /// The URL policy: public HTTPS plus the `KMS_SYNC_ALLOW_ADDRESS` entries.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) naming the entry that does not parse.
    pub fn url_policy(&self) -> Result<UrlPolicy> {
        let mut policy = UrlPolicy::public_only();
        if let Some(list) = self.get("allow_address")? {
            for entry in list.expose_secret().split(',').map(str::trim) {
                if entry.is_empty() {
                    continue;
                }
                let allowed = entry.parse::<AllowEntry>().map_err(|e| {
                    Error::config(format!(
                        "KMS_SYNC_ALLOW_ADDRESS: `{entry}` is not an allowlist entry: {}",
                        e.message()
                    ))
                })?;
                policy = policy.allow(allowed);
            }
        }
        Ok(policy)
    }
}

/// The key every replica computes KMS source revisions under: derived from the ledger key,
/// so it is the same on every replica and needs no secret of its own.
pub(crate) fn revision_key(ledger_key: &SecretString) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"kms-sync-server source revisions\0");
    hash.update(ledger_key.expose_secret().as_bytes());
    hash.finalize().into()
}

/// The error for the secret `key` set nowhere, naming its variable and where it may be set.
fn missing(key: &str) -> Error {
    let name = SECRETS.iter().find(|s| s.key == key);
    let (variable, what) = name.map_or((key, ""), |s| (s.variable, s.what));
    Error::config(format!(
        "{variable} is not set ({what}): set it, or {variable}_FILE to a file holding \
         it, or `{key}` under [secret_files]"
    ))
}

fn read_file(path: &Path, from: &str) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read {} (from {from}): {e}", path.display())))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

fn parse_key_ring(text: &str) -> Result<KeyRing> {
    let mut ring: Option<KeyRing> = None;
    for (n, entry) in text.split(',').map(str::trim).enumerate() {
        let (id, key) = parse_key_entry(n + 1, entry)?;
        ring = Some(match ring {
            None => KeyRing::new(id, key)?,
            Some(ring) => ring.with_old_key(id, key)?,
        });
    }
    ring.ok_or_else(|| Error::config("KMS_SYNC_CREDENTIAL_KEYS holds no key"))
}

fn parse_key_entry(n: usize, entry: &str) -> Result<(String, [u8; 32])> {
    let bad = |why: &str| {
        Error::config(format!(
            "KMS_SYNC_CREDENTIAL_KEYS entry {n}: {why} (expected `id:<64 hex digits>`, e.g. \
             `k2026:$(openssl rand -hex 32)`)"
        ))
    };
    let (id, hex_key) = entry.split_once(':').ok_or_else(|| bad("no `:`"))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut key)
        .map_err(|_| bad(&format!("the key of `{}` is not 64 hex digits", id.trim())))?;
    Ok((id.trim().to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const K2: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    #[test]
    fn a_key_ring_lists_the_current_key_first() {
        let ring = parse_key_ring(&format!("new:{K2}, old:{K1}")).unwrap();
        assert_eq!(ring.current_key_id(), "new");
        assert_eq!(ring.key_ids(), ["new", "old"]);
    }

    #[test]
    fn a_bad_key_ring_names_the_entry_and_never_the_key() {
        for (text, named) in [
            (format!("a:{K1},b"), "entry 2: no `:`"),
            (format!("a:{}", &K1[..60]), "the key of `a`"),
            (format!("a:{K1},a:{K2}"), "already"),
            (String::new(), "entry 1"),
        ] {
            let err = parse_key_ring(&text).unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
            assert!(
                !err.contains(&K1[..20]) && !err.contains(&K2[..20]),
                "{err}"
            );
        }
    }

    #[test]
    fn a_secret_file_is_read_and_its_newline_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "ledger-key-0123456789\n").unwrap();
        let mut config = ServerConfig::default();
        config
            .secret_files
            .insert("ledger_key".into(), path.clone());
        // The variable, when set, would win; these tests leave the environment alone and
        // use a key no test sets.
        if std::env::var_os("KMS_SYNC_LEDGER_KEY").is_none()
            && std::env::var_os("KMS_SYNC_LEDGER_KEY_FILE").is_none()
        {
            let key = Secrets::new(&config).ledger_key().unwrap();
            assert_eq!(key.expose_secret(), "ledger-key-0123456789");
        }
        config
            .secret_files
            .insert("ledger_key".into(), dir.path().join("missing"));
        if std::env::var_os("KMS_SYNC_LEDGER_KEY").is_none() {
            let err = Secrets::new(&config).ledger_key().unwrap_err().to_string();
            assert!(
                err.contains("missing") && err.contains("[secret_files] ledger_key"),
                "{err}"
            );
        }
    }
}
