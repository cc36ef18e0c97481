//! Octopus's naming and value rules.

use kms_sync_core::{CaseRule, KeyRule, KeyRules, SecretValue, StandardRules, Verdict};

/// The value rule in words.
const VALUE_RULE: &str =
    "non-empty (an empty value sent with an existing Id would keep the old value)";

/// Names: [`KeyRule::Trimmed`], compared regardless of case (as Octopus and its clients
/// compare them). Values: non-empty, because Octopus keeps a sensitive variable's stored
/// value when a PUT carries its `Id` with an empty one.
#[derive(Debug, Clone)]
pub(crate) struct OctopusRules {
    names: StandardRules,
}

impl OctopusRules {
    pub(crate) fn new() -> Self {
        OctopusRules {
            names: StandardRules::new(KeyRule::Trimmed).case(CaseRule::Insensitive),
        }
    }
}

impl KeyRules for OctopusRules {
    fn validate_key(&self, key: &str) -> Verdict {
        self.names.validate_key(key)
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if value.is_empty() {
            Verdict::Invalid(
                "an empty sensitive value cannot be told apart from \"keep the old one\""
                    .to_owned(),
            )
        } else {
            Verdict::Valid
        }
    }

    fn case_rule(&self) -> CaseRule {
        CaseRule::Insensitive
    }

    fn key_rule(&self) -> &str {
        self.names.key_rule()
    }

    fn value_rule(&self) -> &str {
        VALUE_RULE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_compared_regardless_of_case() {
        let rules = OctopusRules::new();
        assert_eq!(rules.validate_key("Database.Password"), Verdict::Valid);
        assert_eq!(
            rules.validate_key("Octopus.Action[Deploy].Name"),
            Verdict::Valid
        );
        for bad in ["", "   ", " PADDED", "PADDED ", "BAD\u{1}NAME"] {
            assert!(!rules.validate_key(bad).is_valid(), "{bad:?}");
        }
        assert_eq!(rules.case_rule(), CaseRule::Insensitive);
        assert!(rules.key_rule().contains("regardless of case"));
    }

    #[test]
    fn empty_values_are_refused() {
        let rules = OctopusRules::new();
        assert!(!rules.validate_value(&SecretValue::new("")).is_valid());
        assert_eq!(rules.validate_value(&SecretValue::new(" ")), Verdict::Valid);
        assert_eq!(rules.value_rule(), VALUE_RULE);
    }
}
