//! A destination's key and value rules: [`KeyRules`], pure checks the engine runs on every
//! rendered key and value before anything is written.

use std::borrow::Cow;

use crate::secret::SecretValue;

/// The result of checking one key (or value) against a destination's rules.
///
/// ```
/// use kms_sync_core::Verdict;
/// assert!(Verdict::Valid.is_valid());
/// assert!(Verdict::Warn("overrides a built-in variable".into()).is_valid());
/// assert!(!Verdict::Invalid("starts with a digit".into()).is_valid());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Acceptable.
    Valid,
    /// Acceptable, but the plan carries a warning with this text.
    Warn(String),
    /// Not acceptable; the text says why. The whole sync is refused before any write.
    Invalid(String),
}

impl Verdict {
    /// `Valid` or `Warn`.
    pub fn is_valid(&self) -> bool {
        !matches!(self, Verdict::Invalid(_))
    }
}

/// How a destination compares keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseRule {
    /// `API_KEY` and `api_key` are two keys.
    #[default]
    Sensitive,
    /// `API_KEY` and `api_key` are the same key (Bitbucket, Octopus).
    Insensitive,
}

/// A destination's naming and value rules. Pure: no I/O, and a value is never formatted.
///
/// Most destinations use [`StandardRules`]; implement the trait for rules it cannot express.
///
/// A service that stores a key under another spelling than the one written (GitHub stores
/// secret names upper-cased) says so with [`stored_key`](KeyRules::stored_key): the plan
/// applies it to every rendered key before anything else, so the plan, the ledger,
/// ownership and the report all use the name the service will show, and two source keys
/// that end up as one stored name are refused before the first write.
///
/// ```
/// use kms_sync_core::{CaseRule, KeyRule, KeyRules, StandardRules, Verdict};
/// let rules = StandardRules::new(KeyRule::Identifier).non_empty_values().case(CaseRule::Insensitive);
/// assert_eq!(rules.validate_key("DB_URL"), Verdict::Valid);
/// assert!(!rules.validate_key("1DB").is_valid());
/// assert_eq!(rules.case_rule(), CaseRule::Insensitive);
/// ```
pub trait KeyRules: Send + Sync {
    /// Checks a destination key.
    fn validate_key(&self, key: &str) -> Verdict;
    /// Checks a value; must not format it.
    fn validate_value(&self, value: &SecretValue) -> Verdict;
    /// Checks the value planned for `key` (its stored name); must not format the value.
    /// Default: [`validate_value`](Self::validate_value). A destination whose rule for a
    /// value depends on what the service holds under the key (GitLab masks every write to
    /// a hidden variable, whatever the config) overrides it, so the plan refuses a value
    /// that cannot be written before the first write.
    ///
    /// ```
    /// use kms_sync_core::{CaseRule, KeyRule, KeyRules, SecretValue, Verdict};
    /// struct Pinned;
    /// impl KeyRules for Pinned {
    ///     fn validate_key(&self, key: &str) -> Verdict { KeyRule::Identifier.check(key) }
    ///     fn validate_value(&self, _: &SecretValue) -> Verdict { Verdict::Valid }
    ///     fn validate_value_for(&self, key: &str, value: &SecretValue) -> Verdict {
    ///         if key == "PIN" && value.expose_secret().len() != 4 {
    ///             return Verdict::Invalid("PIN holds four characters".into());
    ///         }
    ///         self.validate_value(value)
    ///     }
    ///     fn case_rule(&self) -> CaseRule { CaseRule::Sensitive }
    ///     fn key_rule(&self) -> &str { "identifiers" }
    ///     fn value_rule(&self) -> &str { "any value; PIN four characters" }
    /// }
    /// assert!(!Pinned.validate_value_for("PIN", &SecretValue::new("12345")).is_valid());
    /// assert!(Pinned.validate_value_for("OTHER", &SecretValue::new("12345")).is_valid());
    /// ```
    fn validate_value_for(&self, key: &str, value: &SecretValue) -> Verdict {
        let _ = key;
        self.validate_value(value)
    }
    /// How keys compare.
    fn case_rule(&self) -> CaseRule;
    /// The name the service stores a written key under. Default: the key as written.
    ///
    /// The plan calls it on every rendered key before checking or planning it (checks see
    /// the stored name), and ownership reads listed names through the key schema's text in
    /// its stored form, so a schema such as `KMS_{{environment}}_{{secretKey}}` keeps owning
    /// what it wrote. It must map the same way wherever it is applied: applying it to a
    /// stored name returns that name.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use kms_sync_core::{CaseRule, KeyRule, KeyRules, SecretValue, Verdict};
    /// struct Upper;
    /// impl KeyRules for Upper {
    ///     fn validate_key(&self, key: &str) -> Verdict { KeyRule::Identifier.check(key) }
    ///     fn validate_value(&self, _: &SecretValue) -> Verdict { Verdict::Valid }
    ///     fn case_rule(&self) -> CaseRule { CaseRule::Insensitive }
    ///     fn stored_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
    ///         Cow::Owned(key.to_ascii_uppercase())
    ///     }
    ///     fn key_rule(&self) -> &str { "identifiers, stored upper-cased" }
    ///     fn value_rule(&self) -> &str { "any value" }
    /// }
    /// assert_eq!(Upper.stored_key("api_key"), "API_KEY");
    /// assert_eq!(kms_sync_core::StandardRules::new(KeyRule::Any).stored_key("api_key"), "api_key");
    /// ```
    fn stored_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        Cow::Borrowed(key)
    }
    /// The key rule in words (shown in errors and docs).
    fn key_rule(&self) -> &str;
    /// The value rule in words.
    fn value_rule(&self) -> &str;
}

/// The key shapes services commonly accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRule {
    /// Any non-empty key without control characters.
    Any,
    /// `^[A-Za-z_][A-Za-z0-9_]*$`, as Bitbucket and Checkly require.
    Identifier,
    /// Non-empty, no control characters, no leading or trailing whitespace (Octopus names).
    Trimmed,
}

impl KeyRule {
    /// Checks a key.
    ///
    /// ```
    /// use kms_sync_core::{KeyRule, Verdict};
    /// assert_eq!(KeyRule::Identifier.check("DB_URL"), Verdict::Valid);
    /// assert!(!KeyRule::Identifier.check("1DB").is_valid());
    /// assert!(!KeyRule::Trimmed.check(" DB").is_valid());
    /// ```
    pub fn check(self, key: &str) -> Verdict {
        if key.is_empty() {
            return Verdict::Invalid("the key is empty".to_owned());
        }
        match self {
            KeyRule::Any => no_control(key),
            KeyRule::Trimmed if key.trim() != key => {
                Verdict::Invalid("the key starts or ends with whitespace".to_owned())
            }
            KeyRule::Trimmed => no_control(key),
            KeyRule::Identifier => identifier(key),
        }
    }

    /// The rule in words.
    pub fn describe(self) -> &'static str {
        match self {
            KeyRule::Any => "any non-empty key without control characters",
            KeyRule::Identifier => "ASCII letters, digits and `_`, not starting with a digit",
            KeyRule::Trimmed => {
                "non-empty, no control characters, no leading or trailing whitespace"
            }
        }
    }
}

fn no_control(key: &str) -> Verdict {
    if key.chars().any(char::is_control) {
        Verdict::Invalid("the key contains a control character".to_owned())
    } else {
        Verdict::Valid
    }
}

fn identifier(key: &str) -> Verdict {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok {
        return Verdict::Invalid("must start with an ASCII letter or `_`".to_owned());
    }
    if chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Verdict::Valid
    } else {
        Verdict::Invalid("may contain only ASCII letters, digits and `_`".to_owned())
    }
}

/// [`KeyRules`] from a [`KeyRule`], a case rule, whether empty values are refused, and an
/// optional warning for keys that are valid but risky (e.g. ones that override a variable
/// the service sets itself).
///
/// ```
/// use kms_sync_core::{KeyRule, KeyRules, StandardRules, Verdict};
/// let rules = StandardRules::new(KeyRule::Identifier)
///     .warn_when(|key| key.starts_with("CI_").then_some("overrides a CI variable"));
/// assert!(matches!(rules.validate_key("CI_TOKEN"), Verdict::Warn(_)));
/// ```
#[derive(Debug, Clone)]
pub struct StandardRules {
    key: KeyRule,
    case: CaseRule,
    non_empty_values: bool,
    warn: Option<fn(&str) -> Option<&'static str>>,
    key_text: String,
}

impl StandardRules {
    /// Keys checked by `key`, compared case-sensitively; any value accepted.
    pub fn new(key: KeyRule) -> Self {
        StandardRules {
            key,
            case: CaseRule::Sensitive,
            non_empty_values: false,
            warn: None,
            key_text: key.describe().to_owned(),
        }
    }

    /// How keys compare.
    pub fn case(mut self, case: CaseRule) -> Self {
        self.case = case;
        if case == CaseRule::Insensitive {
            self.key_text = format!("{}; compared regardless of case", self.key.describe());
        }
        self
    }

    /// Refuses empty values.
    pub fn non_empty_values(mut self) -> Self {
        self.non_empty_values = true;
        self
    }

    /// A warning for valid keys that deserve one (`None` for no warning).
    pub fn warn_when(mut self, warn: fn(&str) -> Option<&'static str>) -> Self {
        self.warn = Some(warn);
        self
    }
}

impl KeyRules for StandardRules {
    fn validate_key(&self, key: &str) -> Verdict {
        match self.key.check(key) {
            Verdict::Valid => match self.warn.and_then(|warn| warn(key)) {
                Some(message) => Verdict::Warn(message.to_owned()),
                None => Verdict::Valid,
            },
            other => other,
        }
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if self.non_empty_values && value.is_empty() {
            Verdict::Invalid("the value is empty".to_owned())
        } else {
            Verdict::Valid
        }
    }

    fn case_rule(&self) -> CaseRule {
        self.case
    }

    fn key_rule(&self) -> &str {
        &self.key_text
    }

    fn value_rule(&self) -> &str {
        if self.non_empty_values {
            "non-empty"
        } else {
            "any value"
        }
    }
}
