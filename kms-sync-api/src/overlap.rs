//! `check-destination`: whether another sync writes the same destination config (the
//! KMS's rule), and, beyond the KMS, whether its key schema overlaps.

use kms_sync_core::{DestinationFacts, KeySchema, NoKeySchema, TemplateKeySchema};
use serde_json::{Map, Value};

/// Whether two configs name the same destination: equal, the fields the kind's factory
/// declares display-only (a name shown beside an id) aside.
pub(crate) fn same_destination(
    facts: &DestinationFacts,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> bool {
    let strip = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .filter(|(k, _)| !facts.is_display_only_config_field(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    strip(a) == strip(b)
}

/// A key schema in an environment, as the engine applies it.
pub(crate) struct Schema {
    schema: Box<dyn KeySchema>,
    environment: String,
}

impl Schema {
    /// `template` (none: every key is managed) rendered in `environment`.
    pub fn new(template: Option<&str>, environment: &str) -> kms_sync_core::Result<Schema> {
        let schema: Box<dyn KeySchema> = match template {
            Some(t) => Box::new(TemplateKeySchema::parse(t)?),
            None => Box::new(NoKeySchema),
        };
        Ok(Schema {
            schema,
            environment: environment.to_owned(),
        })
    }

    /// The fixed text before and after the secret key in this environment.
    fn affixes(&self) -> (String, String) {
        const MARK: &str = "\u{1}KMS_SYNC_SECRET_KEY\u{1}";
        let rendered = self.schema.render(MARK, &self.environment);
        match rendered.split_once(MARK) {
            Some((prefix, suffix)) => (prefix.to_owned(), suffix.to_owned()),
            None => (String::new(), String::new()),
        }
    }

    fn owns(&self, key: &str) -> bool {
        self.schema.owns(key, &self.environment)
    }
}

/// A destination key both schemas would manage, if there is one.
///
/// Every key a schema manages is `prefix + k + suffix` with a non-empty `k` (its affixes in
/// its environment). Two such sets meet exactly when one prefix is a prefix of the other
/// and one suffix a suffix of the other: then `longer prefix + X + longer suffix` is in both.
/// The witness is confirmed with each schema's own `owns`, the rule the engine deletes by.
pub(crate) fn overlap(a: &Schema, b: &Schema) -> Option<String> {
    let (pa, sa) = a.affixes();
    let (pb, sb) = b.affixes();
    let prefixes = pa.starts_with(&pb) || pb.starts_with(&pa);
    let suffixes = sa.ends_with(&sb) || sb.ends_with(&sa);
    if !(prefixes && suffixes) {
        return None;
    }
    let prefix = if pa.len() >= pb.len() { &pa } else { &pb };
    let suffix = if sa.len() >= sb.len() { &sa } else { &sb };
    ["KEY", "X", "SECRET_1", "a"]
        .iter()
        .map(|middle| format!("{prefix}{middle}{suffix}"))
        .find(|key| a.owns(key) && b.owns(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(t: Option<&str>, env: &str) -> Schema {
        match Schema::new(t, env) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn disjoint_prefixes_do_not_overlap() {
        let a = schema(Some("APP_{{secretKey}}"), "dev");
        let b = schema(Some("WEB_{{secretKey}}"), "dev");
        assert_eq!(overlap(&a, &b), None);
    }

    #[test]
    fn a_prefix_and_a_suffix_meet() {
        let a = schema(Some("APP_{{secretKey}}"), "dev");
        let b = schema(Some("{{secretKey}}_PROD"), "dev");
        let key = overlap(&a, &b).unwrap_or_default();
        assert_eq!(key, "APP_KEY_PROD");
    }

    #[test]
    fn nested_prefixes_overlap_and_no_schema_overlaps_everything() {
        let a = schema(Some("KMS_{{secretKey}}"), "dev");
        let b = schema(Some("KMS_DB_{{secretKey}}"), "dev");
        assert_eq!(overlap(&a, &b).as_deref(), Some("KMS_DB_KEY"));
        assert!(overlap(&a, &schema(None, "prod")).is_some());
    }

    #[test]
    fn environments_render_into_the_affixes() {
        let a = schema(Some("{{environment}}_{{secretKey}}"), "dev");
        let b = schema(Some("{{environment}}_{{secretKey}}"), "prod");
        assert_eq!(overlap(&a, &b), None);
        let c = schema(Some("dev_{{secretKey}}"), "prod");
        assert!(overlap(&a, &c).is_some());
    }

    #[test]
    fn skipped_fields_are_display_names() {
        let a: Map<String, Value> =
            serde_json::from_str(r#"{"accountId": "1", "accountName": "A"}"#).unwrap_or_default();
        let b: Map<String, Value> =
            serde_json::from_str(r#"{"accountId": "1", "accountName": "B"}"#).unwrap_or_default();
        let named = DestinationFacts::new("x", "X").display_only_config_fields(&["accountName"]);
        assert!(same_destination(&named, &a, &b));
        assert!(!same_destination(&DestinationFacts::new("y", "Y"), &a, &b));
    }
}
