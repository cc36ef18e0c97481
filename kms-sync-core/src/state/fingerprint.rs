//! HMAC-SHA256 fingerprints of written values.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::secret::SecretValue;

/// A fingerprint: an HMAC-SHA256, stored as lowercase hex. Safe to store and show: without
/// the caller's key it says nothing about the value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The lowercase hex text.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lowercase or uppercase hex of 32 bytes.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Fingerprint(bytes))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({}…)", hex::encode(&self.0[..6]))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Fingerprint::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a fingerprint is 64 hex digits"))
    }
}

/// Computes fingerprints with the caller's HMAC key (never stored beside the fingerprints).
///
/// The key name is part of the MAC input, so one value under two keys gives two
/// fingerprints and the ledger does not reveal which keys share a value.
///
/// ```
/// use kms_sync_core::{Fingerprinter, SecretValue};
/// let fp = Fingerprinter::new(b"0123456789abcdef0123456789abcdef".to_vec())?;
/// let v = SecretValue::new("s3cret");
/// assert_eq!(fp.fingerprint("A", &v), fp.fingerprint("A", &v));
/// assert_ne!(fp.fingerprint("A", &v), fp.fingerprint("B", &v));
/// assert!(!format!("{fp:?}").contains("0123456789"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub struct Fingerprinter {
    /// The MAC already keyed: cloning it skips the two key-setup compressions per
    /// fingerprint. The raw key is dropped (and zeroed) once this is built.
    keyed: Hmac<Sha256>,
}

/// The shortest HMAC key accepted, in bytes.
pub const MIN_HMAC_KEY_LEN: usize = 16;

impl Fingerprinter {
    /// A fingerprinter with an HMAC key of at least [`MIN_HMAC_KEY_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// A [`Config`](crate::ErrorKind::Config) error for a shorter key.
    pub fn new(key: Vec<u8>) -> Result<Self> {
        if key.len() < MIN_HMAC_KEY_LEN {
            return Err(Error::config(format!(
                "the state HMAC key is {} bytes; use at least {MIN_HMAC_KEY_LEN} random bytes",
                key.len()
            )));
        }
        let key = SecretBox::new(key.into_boxed_slice());
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret())
            .map_err(|_| Error::config("the state HMAC key was refused"))?;
        Ok(Fingerprinter { keyed })
    }

    /// The fingerprint of `value` written under destination key `key`.
    pub fn fingerprint(&self, key: &str, value: &SecretValue) -> Fingerprint {
        let mut mac = self.keyed.clone();
        mac.update(&(key.len() as u64).to_be_bytes());
        mac.update(key.as_bytes());
        mac.update(value.expose_secret().as_bytes());
        Fingerprint(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_refused() {
        let err = Fingerprinter::new(b"short".to_vec()).expect_err("too short");
        assert!(err.to_string().contains("5 bytes"));
    }

    #[test]
    fn different_keys_give_different_fingerprints() {
        let a = Fingerprinter::new(vec![1; 32]).expect("valid");
        let b = Fingerprinter::new(vec![2; 32]).expect("valid");
        let v = SecretValue::new("x");
        assert_ne!(a.fingerprint("K", &v), b.fingerprint("K", &v));
        assert_eq!(a.fingerprint("K", &v).to_hex().len(), 64);
        let fp = a.fingerprint("K", &v);
        assert_eq!(Fingerprint::from_hex(&fp.to_hex()), Some(fp));
        assert_eq!(Fingerprint::from_hex("abc"), None);
    }

    #[test]
    fn key_and_value_boundary_is_unambiguous() {
        let fp = Fingerprinter::new(vec![7; 32]).expect("valid");
        assert_ne!(
            fp.fingerprint("AB", &SecretValue::new("C")),
            fp.fingerprint("A", &SecretValue::new("BC"))
        );
    }
}
