//! Conditions on a grant: the KMS's `$eq`, `$in` and `$glob` on a secret sync's (or a
//! secret's) `environment` and `secretPath`.

use serde::Deserialize;

use super::glob::glob_match;

/// One field's condition: every operator given must hold (`$eq` the value, `$in` one of
/// the values, `$glob` a pattern where `*` stays in a path segment and `**` crosses them).
///
/// ```
/// use kms_sync_api::Condition;
/// assert!(Condition::eq("prod").matches("prod"));
/// assert!(Condition::any_of(["dev", "staging"]).matches("staging"));
/// assert!(Condition::glob("/app/**").matches("/app/db"));
/// assert!(!Condition::glob("/app/*").matches("/app/db/main"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(rename = "$eq", default)]
    eq: Option<String>,
    #[serde(rename = "$in", default)]
    any_of: Option<Vec<String>>,
    #[serde(rename = "$glob", default)]
    glob: Option<String>,
}

impl Condition {
    /// The value must be `value`.
    ///
    /// ```
    /// assert!(kms_sync_api::Condition::eq("dev").matches("dev"));
    /// ```
    pub fn eq(value: impl Into<String>) -> Condition {
        Condition {
            eq: Some(value.into()),
            ..Condition::default()
        }
    }

    /// The value must be one of `values`.
    ///
    /// ```
    /// assert!(!kms_sync_api::Condition::any_of(["dev"]).matches("prod"));
    /// ```
    pub fn any_of<I, T>(values: I) -> Condition
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Condition {
            any_of: Some(values.into_iter().map(Into::into).collect()),
            ..Condition::default()
        }
    }

    /// The value must match the glob `pattern`.
    ///
    /// ```
    /// assert!(kms_sync_api::Condition::glob("/team-a/**").matches("/team-a"));
    /// ```
    pub fn glob(pattern: impl Into<String>) -> Condition {
        Condition {
            glob: Some(pattern.into()),
            ..Condition::default()
        }
    }

    /// Whether `value` meets every operator.
    ///
    /// ```
    /// assert!(kms_sync_api::Condition::eq("/").matches("/"));
    /// ```
    pub fn matches(&self, value: &str) -> bool {
        self.eq.as_deref().is_none_or(|e| e == value)
            && self
                .any_of
                .as_ref()
                .is_none_or(|list| list.iter().any(|v| v == value))
            && self
                .glob
                .as_deref()
                .is_none_or(|pattern| glob_match(pattern, value))
    }

    /// Whether no operator is given (refused when a file is read: it would match anything).
    pub(crate) fn is_empty(&self) -> bool {
        self.eq.is_none() && self.any_of.is_none() && self.glob.is_none()
    }
}

/// The conditions of a grant on secret syncs or secrets: on the source `environment` (its
/// slug) and `secretPath`. Absent, a field is not constrained.
///
/// ```
/// use kms_sync_api::{Condition, Conditions};
/// let only_app = Conditions::default()
///     .environment(Condition::eq("prod"))
///     .secret_path(Condition::glob("/app/**"));
/// assert!(only_app.matches("prod", "/app/db"));
/// assert!(!only_app.matches("dev", "/app/db"));
/// assert!(Conditions::default().matches("any", "/any"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default)]
    environment: Option<Condition>,
    #[serde(default)]
    secret_path: Option<Condition>,
}

impl Conditions {
    /// Constrains the environment slug.
    ///
    /// ```
    /// let c = kms_sync_api::Conditions::default().environment(kms_sync_api::Condition::eq("dev"));
    /// ```
    pub fn environment(mut self, condition: Condition) -> Conditions {
        self.environment = Some(condition);
        self
    }

    /// Constrains the secret path.
    ///
    /// ```
    /// let c = kms_sync_api::Conditions::default().secret_path(kms_sync_api::Condition::glob("/a/**"));
    /// ```
    pub fn secret_path(mut self, condition: Condition) -> Conditions {
        self.secret_path = Some(condition);
        self
    }

    /// Whether a resource in `environment` at `secret_path` meets them. A path is compared
    /// without a trailing `/` (but `/` stays `/`).
    ///
    /// ```
    /// let c = kms_sync_api::Conditions::default().secret_path(kms_sync_api::Condition::eq("/app"));
    /// assert!(c.matches("dev", "/app/"));
    /// ```
    pub fn matches(&self, environment: &str, secret_path: &str) -> bool {
        let path = match secret_path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        self.environment
            .as_ref()
            .is_none_or(|c| c.matches(environment))
            && self.secret_path.as_ref().is_none_or(|c| c.matches(path))
    }

    /// Whether no field is constrained.
    pub(crate) fn is_empty(&self) -> bool {
        self.environment.is_none() && self.secret_path.is_none()
    }

    /// The name of a field whose condition has no operator.
    pub(crate) fn empty_operator(&self) -> Option<&'static str> {
        if self.environment.as_ref().is_some_and(Condition::is_empty) {
            return Some("environment");
        }
        if self.secret_path.as_ref().is_some_and(Condition::is_empty) {
            return Some("secretPath");
        }
        None
    }
}
