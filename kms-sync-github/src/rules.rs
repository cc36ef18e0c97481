//! The rules GitHub enforces on secret names and values, checked by the engine on every
//! rendered key and value before the first write.

use kms_sync_core::{CaseRule, KeyRule, KeyRules, SecretValue, Verdict};

/// GitHub's documented limit on one secret's value: 48 KB.
pub const MAX_VALUE_BYTES: usize = 48 * 1024;

/// GitHub's rules: names of ASCII letters, digits and `_`, not starting with a digit or
/// `GITHUB_`, unique regardless of case; values of at most [`MAX_VALUE_BYTES`].
///
/// GitHub stores every name upper-cased. A name with a lower-case letter would come back
/// from the list under another spelling — another key to the plan, and a collision on the
/// next run — so it is refused here with a clear error instead (the KMS upper-cases keys
/// silently; here the key schema or the source says the name GitHub will show).
///
/// ```
/// use kms_sync_core::{KeyRules, SecretValue};
/// use kms_sync_github::GithubRules;
/// let rules = GithubRules;
/// assert!(rules.validate_key("API_KEY").is_valid());
/// assert!(!rules.validate_key("GITHUB_TOKEN").is_valid());
/// assert!(!rules.validate_key("api_key").is_valid());
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
        if key.chars().any(|c| c.is_ascii_lowercase()) {
            return Verdict::Invalid(format!(
                "GitHub stores secret names upper-cased, so this one would come back as `{}`; use upper-case keys (mind `{{{{environment}}}}` in a key schema)",
                key.to_ascii_uppercase()
            ));
        }
        Verdict::Valid
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
        "upper-case ASCII letters, digits and `_`, not starting with a digit or `GITHUB_`; unique regardless of case"
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
        for good in ["A", "_X", "DB_URL_2", "GITHUBX"] {
            assert_eq!(GithubRules.validate_key(good), Verdict::Valid, "{good}");
        }
        for (bad, why) in [
            ("1A", "start with"),
            ("A-B", "only ASCII"),
            ("", "empty"),
            ("GITHUB_SHA", "reserved"),
            ("github_x", "reserved"),
            ("Api_Key", "`API_KEY`"),
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
