//! [`DestinationIdentity`]: which scope of which service a destination writes, value-free —
//! what a ledger is bound to.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What is escaped in a kind, a field name or a value: the separators of the canonical form,
/// the escape character itself, and control characters.
const RESERVED: &AsciiSet = &CONTROLS.add(b'%').add(b',').add(b'=').add(b':');

/// The identity of a destination: its kind and every field that picks its scope (a Bitbucket
/// workspace, repository and deployment environment; a Checkly account and group; an
/// Octopus host, space, project and scope values). Never a credential, never a value.
///
/// A ledger records the identity of the destination it describes, and the engine refuses to
/// use it against another one: two destinations never share one sync's claims. Its canonical
/// form (`Display`, and how it is stored) is `kind:name=value,name=value`, fields in the
/// order the destination gives them, `%`, `,`, `=`, `:` and control characters
/// percent-encoded; it parses back with [`FromStr`].
///
/// ```
/// use kms_sync_core::DestinationIdentity;
/// let id = DestinationIdentity::new("checkly")
///     .with("account", "3c90c3cc")
///     .with("group", "12");
/// assert_eq!(id.to_string(), "checkly:account=3c90c3cc,group=12");
/// assert_eq!(id.field("group"), Some("12"));
/// let parsed: DestinationIdentity = "checkly:account=3c90c3cc,group=12".parse()?;
/// assert_eq!(parsed, id);
/// assert_eq!(id.short_digest().len(), 12);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DestinationIdentity {
    kind: String,
    fields: Vec<(String, String)>,
}

impl DestinationIdentity {
    /// An identity of `kind` with no fields yet.
    pub fn new(kind: impl Into<String>) -> Self {
        DestinationIdentity {
            kind: kind.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field that picks the scope (a later field of the same name replaces it).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => self.fields.push((name, value)),
        }
        self
    }

    /// The service kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value of a field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first 12 hex digits of the SHA-256 of the canonical form: short, safe in a file
    /// name, and different for different identities in practice.
    pub fn short_digest(&self) -> String {
        let digest = Sha256::digest(self.to_string().as_bytes());
        hex::encode(&digest[..6])
    }
}

impl fmt::Display for DestinationIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", utf8_percent_encode(&self.kind, RESERVED))?;
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(
                f,
                "{}={}",
                utf8_percent_encode(name, RESERVED),
                utf8_percent_encode(value, RESERVED)
            )?;
        }
        Ok(())
    }
}

fn decode(part: &str, whole: &str) -> Result<String> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| malformed(whole))
}

fn malformed(whole: &str) -> Error {
    Error::unexpected(format!(
        "`{whole}` is not a destination identity (expected `kind:name=value,…`)"
    ))
}

impl FromStr for DestinationIdentity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| malformed(s))?;
        let mut identity = DestinationIdentity::new(decode(kind, s)?);
        if rest.is_empty() {
            return Ok(identity);
        }
        for field in rest.split(',') {
            let (name, value) = field.split_once('=').ok_or_else(|| malformed(s))?;
            identity.fields.push((decode(name, s)?, decode(value, s)?));
        }
        Ok(identity)
    }
}

impl Serialize for DestinationIdentity {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DestinationIdentity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_in_values_round_trip() -> Result<()> {
        let id = DestinationIdentity::new("octo:pus")
            .with("host", "example.com:8443")
            .with("project", "a,b=c%d")
            .with("empty", "");
        let text = id.to_string();
        assert_eq!(
            text,
            "octo%3Apus:host=example.com%3A8443,project=a%2Cb%3Dc%25d,empty="
        );
        assert_eq!(text.parse::<DestinationIdentity>()?, id);
        let bare = DestinationIdentity::new("memory");
        assert_eq!(bare.to_string().parse::<DestinationIdentity>()?, bare);
        Ok(())
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in ["no-colon", "k:novalue", "k:a=1,,b=2", "k:a=%FF"] {
            assert!(text.parse::<DestinationIdentity>().is_err(), "{text}");
        }
    }

    #[test]
    fn a_later_field_of_one_name_replaces_it_and_digests_differ() {
        let a = DestinationIdentity::new("k").with("x", "1").with("x", "2");
        assert_eq!(a.to_string(), "k:x=2");
        let b = DestinationIdentity::new("k").with("x", "3");
        assert_ne!(a.short_digest(), b.short_digest());
        assert!(a.short_digest().chars().all(|c| c.is_ascii_hexdigit()));
    }
}
