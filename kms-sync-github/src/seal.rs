//! Sealing a value to a scope's public key: libsodium's `crypto_box_seal` (an anonymous
//! sealed box: X25519, XSalsa20-Poly1305), through the pure-Rust `crypto_box` crate, as
//! GitHub's "encrypting secrets for the REST API" guide requires.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_box::aead::OsRng;
use kms_sync_core::{Error, ErrorKind, Result, SecretValue};

/// A scope's public key as GitHub gave it: `key_id` and the 32-byte Curve25519 key.
#[derive(Clone)]
pub(crate) struct ScopeKey {
    pub key_id: String,
    key: crypto_box::PublicKey,
}

impl std::fmt::Debug for ScopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeKey")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl ScopeKey {
    /// Reads `key` (standard base64 of 32 bytes) and `key_id` (not empty).
    pub fn new(key_id: String, key_base64: &str) -> Result<ScopeKey> {
        let refused = |why: &str| {
            Error::new(
                ErrorKind::IncompleteRead,
                format!("GitHub's public key answer {why}; nothing was written"),
            )
        };
        if key_id.trim().is_empty() {
            return Err(refused("has an empty `key_id`"));
        }
        let bytes = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| refused("has a `key` that is not base64"))?;
        let key: [u8; crypto_box::KEY_SIZE] = bytes
            .try_into()
            .map_err(|_| refused("has a `key` that is not 32 bytes"))?;
        Ok(ScopeKey {
            key_id,
            key: crypto_box::PublicKey::from(key),
        })
    }

    /// `value` sealed to this key, in standard padded base64 (GitHub's `encrypted_value`).
    pub fn seal(&self, value: &SecretValue) -> Result<String> {
        let sealed = self
            .key
            .seal(&mut OsRng, value.expose_secret().as_bytes())
            .map_err(|_| Error::unexpected("sealing a value to GitHub's public key failed"))?;
        Ok(STANDARD.encode(sealed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by libsodium 1.0.18 itself (`tests/fixtures/sealed_box_vector.py`):
    /// `crypto_box_seed_keypair` from the seed 0x00‥0x1f, then `crypto_box_seal`.
    const LIBSODIUM_SECRET_KEY: &str =
        "3d94eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f";
    const LIBSODIUM_PUBLIC_KEY: &str = "RwHQhIhFH1RaQJ+1iuPlhYHKQKw/fxFGmM1x3qxzygE=";
    const LIBSODIUM_SEALED: &str = "yA86B69mwxraIVRki/EHmph4grQYlpG8m49xWPzxgXl8MGal1Lle4gwSgIHL+UHG6B07uz2tmkmnN64NfbmM+VK5kLqx2JZa7eNDliTyxgsXGQmSSAsT6/QeTcw=";
    const LIBSODIUM_PLAINTEXT: &[u8] = b"kms-sync: a value sealed by libsodium 1.0.18";

    fn secret_key() -> crypto_box::SecretKey {
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&LIBSODIUM_SECRET_KEY[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        crypto_box::SecretKey::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_value_sealed_by_libsodium_opens_here() {
        let sk = secret_key();
        assert_eq!(
            STANDARD.encode(sk.public_key().as_bytes()),
            LIBSODIUM_PUBLIC_KEY
        );
        let sealed = STANDARD.decode(LIBSODIUM_SEALED).unwrap();
        assert_eq!(sk.unseal(&sealed).unwrap(), LIBSODIUM_PLAINTEXT);
        let mut tampered = sealed.clone();
        tampered[40] ^= 1;
        assert!(sk.unseal(&tampered).is_err());
    }

    #[test]
    fn sealed_here_opens_with_the_secret_key() -> Result<()> {
        let key = ScopeKey::new("568250167242549743".into(), LIBSODIUM_PUBLIC_KEY)?;
        for plain in ["", "s3cret", "multi\nline ünïcode"] {
            let sealed = key.seal(&SecretValue::new(plain))?;
            let bytes = STANDARD.decode(&sealed).unwrap();
            assert_eq!(bytes.len(), plain.len() + 48, "ephemeral key + MAC");
            assert_eq!(secret_key().unseal(&bytes).unwrap(), plain.as_bytes());
            assert_ne!(sealed, key.seal(&SecretValue::new(plain))?, "randomised");
        }
        Ok(())
    }

    #[test]
    fn bad_public_keys_are_incomplete_reads() {
        for (id, key, why) in [
            ("1", "not base64!", "not base64"),
            ("1", "AAAA", "not 32 bytes"),
            (" ", LIBSODIUM_PUBLIC_KEY, "empty `key_id`"),
        ] {
            let err = ScopeKey::new(id.into(), key).expect_err(why);
            assert_eq!(err.kind(), ErrorKind::IncompleteRead);
            assert!(err.to_string().contains(why), "{err}");
        }
    }
}
