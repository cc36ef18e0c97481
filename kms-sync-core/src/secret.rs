//! Secret values and the set of secrets a source produces.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The marker printed wherever a secret value would otherwise appear.
pub const REDACTED: &str = "[REDACTED]";

/// One secret value, held in a [`secrecy::SecretString`] (zeroed on drop).
///
/// `Debug` and `Display` print [`REDACTED`]; the value is only reachable through
/// [`expose_secret`](SecretValue::expose_secret), which a destination calls at the one place
/// it builds a request body.
///
/// ```
/// use kms_sync_core::SecretValue;
/// let v = SecretValue::new("hunter2");
/// assert_eq!(format!("{v:?}"), "SecretValue([REDACTED])");
/// assert_eq!(v.to_string(), "[REDACTED]");
/// assert_eq!(v.expose_secret(), "hunter2");
/// ```
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(SecretString::from(value.into()))
    }

    /// The plain value. Call it only where the value leaves the process (a request body) or
    /// is compared or fingerprinted.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }

    /// The value's length in bytes (safe to report: it is not the value).
    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::new(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        SecretValue::new(value)
    }
}

impl From<SecretString> for SecretValue {
    fn from(value: SecretString) -> Self {
        SecretValue(value)
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for SecretValue {}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue({REDACTED})")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The secrets a source produced: keys (sorted) to values, plus the environment slug that
/// `{{environment}}` renders to in a key schema.
///
/// `Debug` lists the keys and redacts every value.
///
/// ```
/// use kms_sync_core::SecretSet;
/// let set = SecretSet::new("prod")
///     .with("DB_PASSWORD", "s3cret")
///     .with("API_TOKEN", "t0ken");
/// assert_eq!(set.environment(), "prod");
/// assert_eq!(set.keys().collect::<Vec<_>>(), ["API_TOKEN", "DB_PASSWORD"]);
/// assert!(!format!("{set:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretSet {
    environment: String,
    secrets: BTreeMap<String, SecretValue>,
}

impl SecretSet {
    /// An empty set for an environment slug (e.g. `dev`, `prod`; may be empty).
    pub fn new(environment: impl Into<String>) -> Self {
        SecretSet {
            environment: environment.into(),
            secrets: BTreeMap::new(),
        }
    }

    /// Adds a secret, builder style. A later value for the same key replaces the earlier.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<SecretValue>) -> Self {
        self.insert(key, value);
        self
    }

    /// Adds or replaces a secret; returns the previous value of the key.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<SecretValue>,
    ) -> Option<SecretValue> {
        self.secrets.insert(key.into(), value.into())
    }

    /// Removes a secret; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<SecretValue> {
        self.secrets.remove(key)
    }

    /// The environment slug.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Sets the environment slug.
    pub fn set_environment(&mut self, environment: impl Into<String>) {
        self.environment = environment.into();
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&SecretValue> {
        self.secrets.get(key)
    }

    /// Whether the set holds a key.
    pub fn contains_key(&self, key: &str) -> bool {
        self.secrets.contains_key(key)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    /// Keys and values, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretValue)> {
        self.secrets.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many secrets.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSet")
            .field("environment", &self.environment)
            .field("keys", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<K: Into<String>, V: Into<SecretValue>> Extend<(K, V)> for SecretSet {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_redacted_everywhere() {
        let set = SecretSet::new("dev").with("K", "canary-value-123");
        let shown = format!(
            "{set:?} {:?} {}",
            set.get("K"),
            SecretValue::new("canary-value-123")
        );
        assert!(!shown.contains("canary-value-123"), "{shown}");
        assert!(shown.contains("\"K\""));
    }

    #[test]
    fn insert_replaces_and_returns_previous() {
        let mut set = SecretSet::new("dev");
        assert!(set.insert("A", "1").is_none());
        let previous = set.insert("A", "2");
        assert_eq!(
            previous.map(|v| v.expose_secret().to_owned()).as_deref(),
            Some("1")
        );
        assert_eq!(set.get("A").map(SecretValue::expose_secret), Some("2"));
        assert_eq!(set.len(), 1);
    }
}
