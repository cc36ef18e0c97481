//! The rules GitHub enforces on secret names and values, checked by the engine on every
//! rendered key and value before the first write.

use std::borrow::Cow;

use kms_sync_core::{CaseRule, KeyRule, KeyRules, SecretValue, Verdict};

/// GitHub's documented limit on one secret's value: 48 KB.
pub const MAX_VALUE_BYTES: usize = 48 * 1024;

/// GitHub's rules: names of ASCII letters, digits and `_`, not starting with a digit or
/// `GITHUB_`, unique regardless of case; values of at most [`MAX_VALUE_BYTES`].
///
/// GitHub stores every name upper-cased, so [`stored_key`](KeyRules::stored_key) upper-cases
/// it: the plan, the ledger and the report use the name GitHub shows (`api_key` is written
/// and listed as `API_KEY`, and a second run finds it), and two source keys differing only in
/// case are refused before the first write as one name.
///
/// ```
/// use kms_sync_core::{KeyRules, SecretValue};
/// use kms_sync_github::GithubRules;
/// let rules = GithubRules;
/// assert!(rules.validate_key("API_KEY").is_valid());
/// assert!(rules.validate_key("api_key").is_valid());
/// assert_eq!(rules.stored_key("api_key"), "API_KEY");
/// assert!(!rules.validate_key("GITHUB_TOKEN").is_valid());
/// assert!(!rules.validate_value(&SecretValue::new("x".repeat(48 * 1024 + 1))).is_valid());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GithubRules;

impl KeyRules for GithubRules {
    fn validate_key(&self, key: &str) -> Verdict {
        let verdict = KeyRule::Identifier.check(key);
        if !verdict.is_valid() {
            return verdict;
        }
        if key.to_ascii_uppercase().starts_with("GITHUB_") {
            return Verdict::Invalid("names starting with `GITHUB_` are reserved by GitHub".into());
        }
        Verdict::Valid
    }

    fn stored_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
        if key.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(key.to_ascii_uppercase())
        } else {
            Cow::Borrowed(key)
        }
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if value.expose_secret().len() > MAX_VALUE_BYTES {
            Verdict::Invalid("the value is larger than GitHub's 48 KB limit".into())
        } else {
            Verdict::Valid
        }
    }

    fn case_rule(&self) -> CaseRule {
        CaseRule::Insensitive
    }

    fn key_rule(&self) -> &str {
        "ASCII letters, digits and `_`, not starting with a digit or `GITHUB_`; stored upper-cased, so unique regardless of case"
    }

    fn value_rule(&self) -> &str {
        "at most 48 KB"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["A", "_X", "DB_URL_2", "GITHUBX", "Api_Key"] {
            assert_eq!(GithubRules.validate_key(good), Verdict::Valid, "{good}");
        }
        assert_eq!(GithubRules.stored_key("Api_Key_2"), "API_KEY_2");
        assert!(matches!(
            GithubRules.stored_key("API_KEY"),
            Cow::Borrowed(_)
        ));
        for (bad, why) in [
            ("1A", "start with"),
            ("A-B", "only ASCII"),
            ("", "empty"),
            ("GITHUB_SHA", "reserved"),
            ("github_x", "reserved"),
        ] {
            match GithubRules.validate_key(bad) {
                Verdict::Invalid(text) => assert!(text.contains(why), "{bad}: {text}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn values_up_to_48_kb() {
        let at = SecretValue::new("v".repeat(MAX_VALUE_BYTES));
        assert!(GithubRules.validate_value(&at).is_valid());
        assert!(GithubRules.validate_value(&SecretValue::new("")).is_valid());
        let over = SecretValue::new("é".repeat(MAX_VALUE_BYTES / 2 + 1));
        assert!(
            !GithubRules.validate_value(&over).is_valid(),
            "bytes, not characters"
        );
    }
}
