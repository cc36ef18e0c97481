//! Connection credentials at rest: AES-256-GCM under keys the embedder supplies, never
//! stored. A [`KeyRing`] holds the current key (new rows are sealed with it) and older ones
//! (rows sealed with them still open, until [`Connections::reencrypt`] moves them to the
//! current key).
//!
//! - **Per row**: the key's id, a random 96-bit nonce drawn for every encryption, and the
//!   ciphertext with its 128-bit tag. The associated data binds the ciphertext to its row
//!   (the connection's id and the key id), so a ciphertext copied to another row does not
//!   open.
//! - **A wrong key is an error, never garbage**: the tag check fails and nothing is returned.
//! - **`credentialsHash`**: HMAC-SHA256 of the app, the method and the credentials (as
//!   canonical JSON, keys sorted), keyed with a key *derived* from the row's encryption key
//!   (HMAC-SHA256 of the key over a fixed label), hex. Without the key it cannot be used to
//!   guess a credential, however guessable the credential; it changes when the credentials
//!   change, and when the row is re-encrypted under another key.
//!
//! [`Connections::reencrypt`]: crate::Connections::reencrypt

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use kms_sync_core::{Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

/// The length of an AES-256 key, in bytes.
///
/// ```
/// let key = [0u8; kms_sync_fleet::KEY_LEN];
/// assert!(kms_sync_fleet::KeyRing::new("k", key).is_ok());
/// ```
pub const KEY_LEN: usize = 32;
/// The length of a GCM nonce, in bytes.
pub(crate) const NONCE_LEN: usize = 12;
/// The longest key id.
const MAX_KEY_ID_LEN: usize = 64;
/// The label the credentials-hash key is derived with.
const HASH_LABEL: &[u8] = b"kms-sync-fleet credentials-hash v1";
/// Prefix of the associated data.
const AAD_LABEL: &str = "kms-sync-fleet connection credentials v1";

type HmacSha256 = Hmac<Sha256>;

/// One key: its id and 32 bytes, zeroized on drop.
struct RingKey {
    id: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

/// The keys connection credentials are encrypted with: the current one, used for every new
/// encryption, and older ones, kept only to decrypt rows not yet re-encrypted. Keys are
/// never stored in the database; each row names the id of its key. `Debug` shows the ids
/// only.
///
/// ```
/// use kms_sync_fleet::KeyRing;
/// let ring = KeyRing::new("2025-06", [7u8; 32])?.with_old_key("2024-01", [3u8; 32])?;
/// assert_eq!(ring.current_key_id(), "2025-06");
/// assert_eq!(ring.key_ids(), ["2025-06", "2024-01"]);
/// assert!(!format!("{ring:?}").contains("7, 7"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub struct KeyRing {
    current: RingKey,
    older: Vec<RingKey>,
}

fn check_id(id: &str) -> Result<()> {
    let printable = id.chars().all(|c| c.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !printable {
        return Err(Error::config(format!(
            "a key id must be 1 to {MAX_KEY_ID_LEN} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

impl KeyRing {
    /// A ring whose current key is `key`, named `key_id` (1 to 64 printable ASCII
    /// characters, stored in each row it encrypts: not a secret).
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an unusable key id.
    ///
    /// ```
    /// let ring = kms_sync_fleet::KeyRing::new("primary", [1u8; 32])?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn new(key_id: impl Into<String>, key: [u8; KEY_LEN]) -> Result<KeyRing> {
        let id = key_id.into();
        check_id(&id)?;
        Ok(KeyRing {
            current: RingKey {
                id,
                key: SecretBox::new(Box::new(key)),
            },
            older: Vec::new(),
        })
    }

    /// As [`new`](Self::new), from a slice (a key read from a file or a secret manager).
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when `key` is not exactly 32 bytes (its content is
    /// not shown), or for an unusable key id.
    ///
    /// ```
    /// let bytes = vec![9u8; 32];
    /// let ring = kms_sync_fleet::KeyRing::from_slice("primary", &bytes)?;
    /// assert!(kms_sync_fleet::KeyRing::from_slice("short", &bytes[..16]).is_err());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn from_slice(key_id: impl Into<String>, key: &[u8]) -> Result<KeyRing> {
        KeyRing::new(key_id, array(key)?)
    }

    /// Adds an older key, used only to decrypt rows encrypted with it.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an unusable id or one already in the ring.
    ///
    /// ```
    /// let ring = kms_sync_fleet::KeyRing::new("new", [1u8; 32])?.with_old_key("old", [2u8; 32])?;
    /// assert!(kms_sync_fleet::KeyRing::new("k", [1u8; 32])?.with_old_key("k", [2u8; 32]).is_err());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn with_old_key(
        mut self,
        key_id: impl Into<String>,
        key: [u8; KEY_LEN],
    ) -> Result<KeyRing> {
        let id = key_id.into();
        check_id(&id)?;
        if self.key(&id).is_some() {
            return Err(Error::config(format!(
                "the key id `{id}` is already in the key ring"
            )));
        }
        self.older.push(RingKey {
            id,
            key: SecretBox::new(Box::new(key)),
        });
        Ok(self)
    }

    /// The id of the key new encryptions use.
    ///
    /// ```
    /// let ring = kms_sync_fleet::KeyRing::new("primary", [1u8; 32])?;
    /// assert_eq!(ring.current_key_id(), "primary");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Every key id, the current one first.
    ///
    /// ```
    /// let ring = kms_sync_fleet::KeyRing::new("b", [1u8; 32])?.with_old_key("a", [2u8; 32])?;
    /// assert_eq!(ring.key_ids(), ["b", "a"]);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn key_ids(&self) -> Vec<&str> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .map(|k| k.id.as_str())
            .collect()
    }

    fn key(&self, id: &str) -> Option<&RingKey> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
    }

    fn known(&self, id: &str) -> Result<&RingKey> {
        self.key(id).ok_or_else(|| {
            Error::config(format!(
                "the credentials were encrypted with key `{id}`, which is not in the key ring \
                 (it has {}): add that key as an old key",
                self.key_ids().join(", ")
            ))
        })
    }

    /// Encrypts `plaintext` for the row `row_id` with the current key.
    pub(crate) fn seal(&self, row_id: &str, plaintext: &SecretString) -> Result<Sealed> {
        let key = &self.current;
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.key.expose_secret()));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(row_id, &key.id);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::unexpected("the credentials could not be encrypted"))?;
        Ok(Sealed {
            key_id: key.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a row's credentials. A wrong key, or a row altered or moved, is an error.
    pub(crate) fn open(&self, row_id: &str, sealed: &Sealed) -> Result<SecretString> {
        let key = self.known(&sealed.key_id)?;
        if sealed.nonce.len() != NONCE_LEN {
            return Err(Error::unexpected(format!(
                "the credentials of connection {row_id} have a nonce of {} bytes, not {NONCE_LEN}",
                sealed.nonce.len()
            )));
        }
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.key.expose_secret()));
        let aad = aad(row_id, &key.id);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "the credentials of connection {row_id} cannot be decrypted with key `{}`: \
                         the key is not the one they were encrypted with, or the row was altered",
                        key.id
                    ),
                )
            })?;
        let text = String::from_utf8(plain).map_err(|_| {
            Error::unexpected(format!(
                "the credentials of connection {row_id} decrypted to something that is not text"
            ))
        })?;
        Ok(SecretString::from(text))
    }

    /// The `credentialsHash` of `canonical` (the credentials as canonical JSON) under the
    /// key `key_id`: HMAC-SHA256 keyed with HMAC-SHA256(key, label), as hex.
    pub(crate) fn credentials_hash(
        &self,
        key_id: &str,
        app: &str,
        method: &str,
        canonical: &SecretString,
    ) -> Result<String> {
        let key = self.known(key_id)?;
        let mut derive = <HmacSha256 as Mac>::new_from_slice(key.key.expose_secret())
            .map_err(|_| Error::unexpected("HMAC key"))?;
        derive.update(HASH_LABEL);
        let derived = derive.finalize().into_bytes();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&derived)
            .map_err(|_| Error::unexpected("HMAC key"))?;
        for part in [app, method] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.update(canonical.expose_secret().as_bytes());
        let out = mac.finalize().into_bytes();
        Ok(out.iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn array(key: &[u8]) -> Result<[u8; KEY_LEN]> {
    key.try_into().map_err(|_| {
        Error::config(format!(
            "an encryption key must be exactly {KEY_LEN} bytes; this one has {}",
            key.len()
        ))
    })
}

fn aad(row_id: &str, key_id: &str) -> String {
    format!("{AAD_LABEL}|{row_id}|{key_id}")
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.id)
            .field(
                "older",
                &self.older.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

/// Credentials as a row holds them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.ciphertext.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn sealed_credentials_open_with_the_key_and_only_for_their_row() -> Result<()> {
        let ring = KeyRing::new("k1", [5; 32])?;
        let sealed = ring.seal("row-1", &secret(r#"{"apiKey":"x"}"#))?;
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(
            ring.open("row-1", &sealed)?.expose_secret(),
            r#"{"apiKey":"x"}"#
        );
        let err = ring.open("row-2", &sealed).expect_err("another row");
        assert_eq!(err.kind(), ErrorKind::Config);
        let again = ring.seal("row-1", &secret(r#"{"apiKey":"x"}"#))?;
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce per encryption");
        assert_ne!(again.ciphertext, sealed.ciphertext);
        Ok(())
    }

    #[test]
    fn a_wrong_key_is_an_error_and_an_unknown_key_id_says_so() -> Result<()> {
        let sealed = KeyRing::new("k1", [5; 32])?.seal("r", &secret("{}"))?;
        let wrong = KeyRing::new("k1", [6; 32])?;
        let err = wrong.open("r", &sealed).expect_err("wrong key");
        assert!(err.to_string().contains("cannot be decrypted"), "{err}");
        let other = KeyRing::new("k2", [5; 32])?;
        let err = other.open("r", &sealed).expect_err("unknown id");
        assert!(err.to_string().contains("not in the key ring"), "{err}");
        let rotated = KeyRing::new("k2", [9; 32])?.with_old_key("k1", [5; 32])?;
        assert_eq!(rotated.open("r", &sealed)?.expose_secret(), "{}");
        Ok(())
    }

    #[test]
    fn the_hash_depends_on_key_app_method_and_credentials() -> Result<()> {
        let ring = KeyRing::new("a", [1; 32])?.with_old_key("b", [2; 32])?;
        let creds = secret(r#"{"apiKey":"x"}"#);
        let h = ring.credentials_hash("a", "app-a", "api-key", &creds)?;
        assert_eq!(h.len(), 64);
        assert_eq!(h, ring.credentials_hash("a", "app-a", "api-key", &creds)?);
        for other in [
            ring.credentials_hash("b", "app-a", "api-key", &creds)?,
            ring.credentials_hash("a", "app-b", "api-key", &creds)?,
            ring.credentials_hash("a", "app-a", "api-keyx", &creds)?,
            ring.credentials_hash("a", "app-a", "api-key", &secret(r#"{"apiKey":"y"}"#))?,
        ] {
            assert_ne!(h, other);
        }
        Ok(())
    }

    #[test]
    fn key_ids_and_lengths_are_checked() {
        assert!(KeyRing::new("", [0; 32]).is_err());
        assert!(KeyRing::new("has space", [0; 32]).is_err());
        assert!(KeyRing::from_slice("k", &[0; 31]).is_err());
        let err = KeyRing::from_slice("k", &[0; 33]).expect_err("long");
        assert!(err.to_string().contains("exactly 32 bytes"), "{err}");
    }
}
