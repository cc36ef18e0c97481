//! A key schema seen through a destination's stored names ([`KeyRules::stored_key`]): what
//! `plan` and `remove` render and own by, so every stage uses the name the service shows.

use std::borrow::Cow;
use std::fmt;

use crate::destination::KeyRules;
use crate::schema::KeySchema;

/// Stands for the secret key when the schema is rendered to find its fixed text.
const MARK: &str = "\u{1}KMS_SYNC_SECRET_KEY\u{1}";

/// The schema's text around the secret key in one environment, in its stored form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredAffixes {
    environment: String,
    prefix: String,
    suffix: String,
    /// The schema's own text, before mapping.
    written: (String, String),
}

impl StoredAffixes {
    /// The middle of a stored `key`, when the schema itself also owns it spelled with the
    /// schema's own text around that middle (so a custom schema that restricts the middle
    /// owns no more through mapping than it owns itself).
    fn owned_middle<'k>(
        &self,
        key: &'k str,
        inner: &dyn KeySchema,
        environment: &str,
    ) -> Option<&'k str> {
        let middle = between(key, &self.prefix, &self.suffix)?;
        let (prefix, suffix) = &self.written;
        inner
            .owns(&format!("{prefix}{middle}{suffix}"), environment)
            .then_some(middle)
    }
}

/// `schema` with every rendered key mapped by `rules.stored_key`.
///
/// Rendering maps the rendered key. Ownership is the schema's own unless mapping changes
/// the schema's text in that environment (`kms_{{secretKey}}`, or `{{environment}}` with a
/// lower-case environment, at a service storing names upper-cased): then a listed key is
/// owned when it starts and ends with that text in its stored form.
pub(crate) struct StoredSchema<'a> {
    inner: &'a dyn KeySchema,
    rules: &'a dyn KeyRules,
    affixes: Option<StoredAffixes>,
}

impl<'a> StoredSchema<'a> {
    /// The adapter for `inner` at a destination with `rules`, prepared for `environment`.
    pub(crate) fn new(
        inner: &'a dyn KeySchema,
        rules: &'a dyn KeyRules,
        environment: &str,
    ) -> Self {
        let mut schema = StoredSchema {
            inner,
            rules,
            affixes: None,
        };
        schema.affixes = schema.mapped_affixes(environment);
        schema
    }

    /// The stored form of the schema's text in `environment`, when mapping changes it.
    fn mapped_affixes(&self, environment: &str) -> Option<StoredAffixes> {
        let rendered = self.inner.render(MARK, environment);
        let (prefix, suffix) = rendered.split_once(MARK)?;
        let (stored_prefix, stored_suffix) =
            (self.rules.stored_key(prefix), self.rules.stored_key(suffix));
        if stored_prefix == prefix && stored_suffix == suffix {
            return None;
        }
        Some(StoredAffixes {
            environment: environment.to_owned(),
            prefix: stored_prefix.into_owned(),
            suffix: stored_suffix.into_owned(),
            written: (prefix.to_owned(), suffix.to_owned()),
        })
    }

    /// Calls `f` with the stored affixes of `environment`, or `None` if unchanged by mapping.
    fn with_affixes<R>(&self, environment: &str, f: impl FnOnce(Option<&StoredAffixes>) -> R) -> R {
        match &self.affixes {
            Some(a) if a.environment == environment => f(Some(a)),
            _ => f(self.mapped_affixes(environment).as_ref()),
        }
    }
}

/// The middle of `key` between `prefix` and `suffix`, if it has both around a non-empty one.
fn between<'k>(key: &'k str, prefix: &str, suffix: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (!rest.is_empty()).then_some(rest)
}

impl KeySchema for StoredSchema<'_> {
    fn render(&self, secret_key: &str, environment: &str) -> String {
        let rendered = self.inner.render(secret_key, environment);
        let mapped = match self.rules.stored_key(&rendered) {
            Cow::Owned(stored) if stored != rendered => Some(stored),
            _ => None,
        };
        mapped.unwrap_or(rendered)
    }

    fn owns(&self, destination_key: &str, environment: &str) -> bool {
        self.with_affixes(environment, |affixes| match affixes {
            Some(a) => a
                .owned_middle(destination_key, self.inner, environment)
                .is_some(),
            None => self.inner.owns(destination_key, environment),
        })
    }

    fn strip(&self, destination_key: &str, environment: &str) -> Option<String> {
        self.with_affixes(environment, |affixes| match affixes {
            Some(a) => a
                .owned_middle(destination_key, self.inner, environment)
                .map(str::to_owned),
            None => self.inner.strip(destination_key, environment),
        })
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn manages_everything(&self) -> bool {
        self.inner.manages_everything()
    }
}

impl fmt::Debug for StoredSchema<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSchema")
            .field("schema", &self.inner.describe())
            .field("mapped", &self.affixes.is_some())
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::destination::{CaseRule, KeyRule, StandardRules, Verdict};
    use crate::schema::{NoKeySchema, TemplateKeySchema};
    use crate::secret::SecretValue;

    /// Identifiers, stored upper-cased (as GitHub stores secret names).
    pub(crate) struct Upper;

    impl KeyRules for Upper {
        fn validate_key(&self, key: &str) -> Verdict {
            KeyRule::Identifier.check(key)
        }
        fn validate_value(&self, _: &SecretValue) -> Verdict {
            Verdict::Valid
        }
        fn case_rule(&self) -> CaseRule {
            CaseRule::Insensitive
        }
        fn stored_key<'k>(&self, key: &'k str) -> Cow<'k, str> {
            Cow::Owned(key.to_ascii_uppercase())
        }
        fn key_rule(&self) -> &str {
            "upper"
        }
        fn value_rule(&self) -> &str {
            "any"
        }
    }

    #[test]
    fn an_upper_casing_destination_owns_what_a_lower_case_schema_wrote() -> crate::Result<()> {
        let template = TemplateKeySchema::parse("kms_{{environment}}_{{secretKey}}")?;
        let schema = StoredSchema::new(&template, &Upper, "dev");
        let key = schema.render("api_key", "dev");
        assert_eq!(key, "KMS_DEV_API_KEY");
        assert!(schema.owns(&key, "dev"));
        assert!(!schema.owns("KMS_PROD_API_KEY", "dev"));
        assert!(
            schema.owns("KMS_PROD_API_KEY", "prod"),
            "another environment"
        );
        assert!(!schema.owns("KMS_DEV_", "dev"), "no secret key");
        assert!(!template.owns(&key, "dev"), "the schema alone would not");
        assert_eq!(schema.strip(&key, "dev").as_deref(), Some("API_KEY"));
        Ok(())
    }

    #[test]
    fn without_a_stored_form_the_schema_is_unchanged() -> crate::Result<()> {
        let template = TemplateKeySchema::parse("kms_{{secretKey}}")?;
        let rules = StandardRules::new(KeyRule::Any);
        let schema = StoredSchema::new(&template, &rules, "dev");
        assert_eq!(schema.render("a", "dev"), "kms_a");
        assert!(schema.owns("kms_a", "dev") && !schema.owns("KMS_A", "dev"));
        // Text already in stored form: the schema's own ownership.
        let upper = TemplateKeySchema::parse("KMS_{{secretKey}}")?;
        let schema = StoredSchema::new(&upper, &Upper, "dev");
        assert!(schema.affixes.is_none());
        assert!(schema.owns("KMS_A", "dev") && !schema.owns("OTHER", "dev"));
        let none = StoredSchema::new(&NoKeySchema, &Upper, "dev");
        assert_eq!(none.render("a", "dev"), "A");
        assert!(none.manages_everything());
        Ok(())
    }

    /// A custom schema owning only `kms_db_*` keys (a middle it restricts).
    #[derive(Debug)]
    struct DatabaseOnly;

    impl KeySchema for DatabaseOnly {
        fn render(&self, secret_key: &str, _: &str) -> String {
            format!("kms_{secret_key}")
        }
        fn owns(&self, key: &str, _: &str) -> bool {
            key.strip_prefix("kms_")
                .is_some_and(|middle| middle.starts_with("db_") || middle.starts_with("DB_"))
        }
        fn strip(&self, key: &str, environment: &str) -> Option<String> {
            self.owns(key, environment)
                .then(|| key.trim_start_matches("kms_").to_owned())
        }
        fn describe(&self) -> String {
            "kms_db_*".into()
        }
    }

    #[test]
    fn mapping_never_owns_more_than_the_schema_itself() {
        let schema = StoredSchema::new(&DatabaseOnly, &Upper, "dev");
        assert!(schema.owns("KMS_DB_URL", "dev"), "its own middle, stored");
        assert!(
            !schema.owns("KMS_API_KEY", "dev"),
            "the stored prefix alone must not make another sync's key its own"
        );
        assert_eq!(schema.strip("KMS_API_KEY", "dev"), None);
    }
}
