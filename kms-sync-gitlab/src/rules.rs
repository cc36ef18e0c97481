//! GitLab's key rules, and the masking rules a masked variable's value must meet — checked
//! before the first write, so a value that cannot be masked is refused, never written
//! unmasked.

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use kms_sync_core::{CaseRule, KeyRules, SecretValue, Verdict};

use crate::scope::Attributes;

/// The longest key GitLab stores.
///
/// ```
/// use kms_sync_core::KeyRules;
/// use kms_sync_gitlab::{Attributes, GitlabRules, MAX_KEY_LEN};
/// let rules = GitlabRules::new(Attributes::default());
/// assert!(!rules.validate_key(&"K".repeat(MAX_KEY_LEN + 1)).is_valid());
/// ```
pub const MAX_KEY_LEN: usize = 255;

/// The shortest value GitLab masks.
///
/// ```
/// use kms_sync_core::{KeyRules, SecretValue};
/// use kms_sync_gitlab::{Attributes, GitlabRules, MIN_MASKED_LEN};
/// let rules = GitlabRules::new(Attributes { masked: true, ..Attributes::default() });
/// assert!(rules.validate_value(&SecretValue::new("k".repeat(MIN_MASKED_LEN))).is_valid());
/// ```
pub const MIN_MASKED_LEN: usize = 8;

const KEY_RULE: &str = "1 to 255 ASCII letters, digits and `_` (case-sensitive)";
const ANY_VALUE: &str = "any value";
const MASKED_VALUE: &str =
    "masked: one line, at least 8 characters, only letters, digits and `_ + = / @ : . ~ -`";
const MASKED_RAW_VALUE: &str = "masked and raw: one line, at least 8 characters, no spaces";

/// GitLab's rules for one sync: keys as GitLab validates them (compared case-sensitively:
/// `Foo` and `FOO` are two variables); values as the sync's attributes require — any value
/// when not masked, GitLab's masking rules when masked (the character set depends on `raw`).
///
/// ```
/// use kms_sync_core::{KeyRules, SecretValue};
/// use kms_sync_gitlab::{Attributes, GitlabRules};
/// let rules = GitlabRules::new(Attributes { masked: true, ..Attributes::default() });
/// assert!(rules.validate_key("1_DEPLOY_TOKEN").is_valid());
/// assert!(!rules.validate_key("DEPLOY-TOKEN").is_valid());
/// assert!(rules.validate_value(&SecretValue::new("c2VjcmV0LXZhbHVl")).is_valid());
/// assert!(!rules.validate_value(&SecretValue::new("short")).is_valid());
/// assert!(!rules.validate_value(&SecretValue::new("has $dollar")).is_valid());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GitlabRules {
    masked: bool,
    raw: bool,
}

impl GitlabRules {
    /// The rules for a sync writing variables with `attributes`.
    pub fn new(attributes: Attributes) -> Self {
        GitlabRules {
            masked: attributes.masked || attributes.hidden,
            raw: attributes.raw,
        }
    }
}

/// A character GitLab masks in a value that is expanded (not raw).
fn maskable(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=/@:.~-".contains(c)
}

/// Predefined variables start with these; overriding them is allowed but rarely meant.
fn predefined(key: &str) -> bool {
    key == "CI" || key.starts_with("CI_") || key.starts_with("GITLAB_")
}

impl KeyRules for GitlabRules {
    fn validate_key(&self, key: &str) -> Verdict {
        if key.is_empty() {
            return Verdict::Invalid("the key is empty".to_owned());
        }
        if key.len() > MAX_KEY_LEN {
            return Verdict::Invalid(format!("longer than {MAX_KEY_LEN} characters"));
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Verdict::Invalid("may contain only ASCII letters, digits and `_`".to_owned());
        }
        if predefined(key) {
            return Verdict::Warn("overrides a variable GitLab CI/CD predefines".to_owned());
        }
        Verdict::Valid
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if !self.masked {
            return Verdict::Valid;
        }
        let text = value.expose_secret();
        if text.chars().count() < MIN_MASKED_LEN {
            return Verdict::Invalid(format!(
                "cannot be masked: shorter than {MIN_MASKED_LEN} characters"
            ));
        }
        if text.chars().any(char::is_whitespace) {
            return Verdict::Invalid(
                "cannot be masked: contains a space or a line break".to_owned(),
            );
        }
        if !self.raw && !text.chars().all(maskable) {
            return Verdict::Invalid(
                "cannot be masked: has a character GitLab does not mask in an expanded value (allowed: letters, digits, `_ + = / @ : . ~ -`; set `raw` to allow any non-space character)".to_owned(),
            );
        }
        Verdict::Valid
    }

    fn case_rule(&self) -> CaseRule {
        CaseRule::Sensitive
    }

    fn key_rule(&self) -> &str {
        KEY_RULE
    }

    fn value_rule(&self) -> &str {
        match (self.masked, self.raw) {
            (false, _) => ANY_VALUE,
            (true, false) => MASKED_VALUE,
            (true, true) => MASKED_RAW_VALUE,
        }
    }
}

/// The rules one destination plans with: [`GitlabRules`] for its attributes, and GitLab's
/// masking rules for every key its last list found hidden — GitLab masks every write to a
/// hidden variable whatever the config asks, so a value that cannot be masked is refused
/// before the first write instead of failing at GitLab halfway through.
#[derive(Debug)]
pub(crate) struct ScopeRules {
    configured: GitlabRules,
    masked: GitlabRules,
    hidden: RwLock<HashSet<String>>,
}

impl ScopeRules {
    /// The rules for a sync writing variables with `attributes`.
    pub fn new(attributes: Attributes) -> Self {
        let masked = Attributes {
            masked: true,
            ..attributes
        };
        ScopeRules {
            configured: GitlabRules::new(attributes),
            masked: GitlabRules::new(masked),
            hidden: RwLock::default(),
        }
    }

    /// Remembers the keys the last list found hidden.
    pub fn listed_hidden(&self, keys: HashSet<String>) {
        *self.hidden.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }
}

impl KeyRules for ScopeRules {
    fn validate_key(&self, key: &str) -> Verdict {
        self.configured.validate_key(key)
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        self.configured.validate_value(value)
    }

    fn validate_value_for(&self, key: &str, value: &SecretValue) -> Verdict {
        let hidden = self
            .hidden
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key);
        if !hidden {
            return self.configured.validate_value(value);
        }
        match self.masked.validate_value(value) {
            Verdict::Invalid(why) => Verdict::Invalid(format!(
                "{why} (the variable is hidden at GitLab, so every write to it is masked)"
            )),
            other => other,
        }
    }

    fn case_rule(&self) -> CaseRule {
        CaseRule::Sensitive
    }

    fn key_rule(&self) -> &str {
        KEY_RULE
    }

    fn value_rule(&self) -> &str {
        self.configured.value_rule()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_listed_hidden_is_held_to_the_masking_rules() {
        let rules = ScopeRules::new(Attributes::default());
        let short = SecretValue::new("abc");
        assert!(rules.validate_value_for("K", &short).is_valid());
        rules.listed_hidden(HashSet::from(["K".to_owned()]));
        let verdict = rules.validate_value_for("K", &short);
        assert!(
            matches!(&verdict, Verdict::Invalid(why) if why.contains("hidden at GitLab")),
            "{verdict:?}"
        );
        assert!(rules.validate_value_for("OTHER", &short).is_valid());
    }

    fn rules(masked: bool, raw: bool) -> GitlabRules {
        GitlabRules::new(Attributes {
            masked,
            raw,
            ..Attributes::default()
        })
    }

    #[test]
    fn keys_as_gitlab_validates_them() {
        let r = rules(false, false);
        for good in ["A", "1", "_", "db_URL_2", &"K".repeat(255)] {
            assert_eq!(r.validate_key(good), Verdict::Valid, "{good}");
        }
        for bad in ["", "A-B", "A B", "A.B", "É", &"K".repeat(256)] {
            assert!(!r.validate_key(bad).is_valid(), "{bad}");
        }
        assert!(matches!(r.validate_key("CI_JOB_TOKEN"), Verdict::Warn(_)));
        assert_eq!(r.case_rule(), CaseRule::Sensitive);
    }

    #[test]
    fn unmasked_values_are_anything() {
        let r = rules(false, false);
        for v in ["", " ", "a b\nc", "$HOME"] {
            assert_eq!(r.validate_value(&SecretValue::new(v)), Verdict::Valid);
        }
        assert_eq!(r.value_rule(), ANY_VALUE);
    }

    #[test]
    fn masked_values_follow_gitlabs_rules() {
        let expanded = rules(true, false);
        let raw = rules(true, true);
        for ok in ["abcdefgh", "a+b=c/d@e:f.g~h-i_j", "QUJDREVGR0g="] {
            assert!(
                expanded.validate_value(&SecretValue::new(ok)).is_valid(),
                "{ok}"
            );
            assert!(raw.validate_value(&SecretValue::new(ok)).is_valid(), "{ok}");
        }
        for raw_only in ["pa$$word!", "with#hash", "ünïcødé!"] {
            assert!(
                !expanded
                    .validate_value(&SecretValue::new(raw_only))
                    .is_valid(),
                "{raw_only}"
            );
            assert!(
                raw.validate_value(&SecretValue::new(raw_only)).is_valid(),
                "{raw_only}"
            );
        }
        for never in ["", "1234567", "has space here", "two\nlines!", "tab\there!"] {
            assert!(
                !expanded.validate_value(&SecretValue::new(never)).is_valid(),
                "{never:?}"
            );
            assert!(
                !raw.validate_value(&SecretValue::new(never)).is_valid(),
                "{never:?}"
            );
        }
        assert_eq!(expanded.value_rule(), MASKED_VALUE);
        assert_eq!(raw.value_rule(), MASKED_RAW_VALUE);
    }

    #[test]
    fn hidden_implies_masked_rules() {
        let r = GitlabRules::new(Attributes {
            hidden: true,
            ..Attributes::default()
        });
        assert!(!r.validate_value(&SecretValue::new("short")).is_valid());
    }

    #[test]
    fn verdicts_never_carry_the_value() {
        let r = rules(true, false);
        for v in ["sEcReT!", "sEcReT has spaces", "sEcReT$$$$$"] {
            if let Verdict::Invalid(why) = r.validate_value(&SecretValue::new(v)) {
                assert!(!why.contains("sEcReT"), "{why}");
            }
        }
    }
}
