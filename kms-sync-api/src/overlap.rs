//! `check-destination`: whether another sync writes the same destination config (the
//! KMS's rule), and, beyond the KMS, whether its key schema overlaps.

use kms_sync_core::{
    DestinationFactory, DestinationFacts, KeySchema, NoKeySchema, TemplateKeySchema,
};
use kms_sync_fleet::{SyncId, SyncRecord};
use serde_json::{Map, Value};

use crate::body::check_environment;
use crate::error::ApiError;
use crate::issues::typed;
use crate::model::{CheckDestinationRequest, CheckDestinationResponse, DestinationOverlap};

/// A check-destination body, read and checked.
pub(crate) struct CheckBody {
    request: CheckDestinationRequest,
    exclude: Option<SyncId>,
    config: Map<String, Value>,
}

impl CheckBody {
    /// The body of `text` (422 naming a field that does not fit).
    pub fn read(text: &str) -> Result<CheckBody, ApiError> {
        let request: CheckDestinationRequest = typed(text)?;
        uuid_field("projectId", &request.project_id)?;
        if let Some(id) = &request.connection_id {
            uuid_field("connectionId", id)?;
        }
        let exclude = match &request.exclude_sync_id {
            Some(id) => Some(
                SyncId::parse(id)
                    .map_err(|_| ApiError::invalid(&["excludeSyncId"], "Invalid uuid"))?,
            ),
            None => None,
        };
        let config = match &request.destination_config {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(ApiError::invalid(&["destinationConfig"], "Expected object")),
        };
        if let Some(env) = &request.environment {
            check_environment(env)?;
        }
        Ok(CheckBody {
            request,
            exclude,
            config,
        })
    }

    /// The project asked about.
    pub fn project_id(&self) -> &str {
        self.request.project_id.trim()
    }

    /// Whether it asks about a destination at all (an empty config has no duplicate).
    pub fn asks(&self) -> bool {
        !self.config.is_empty()
    }

    /// The answer over `all` (the syncs of the kind the caller may read): every one but
    /// the excluded one writing this destination config, with whether its key schema
    /// overlaps this one's.
    pub fn answer(
        &self,
        factory: &dyn DestinationFactory,
        all: &[SyncRecord],
    ) -> Result<CheckDestinationResponse, ApiError> {
        let probe = Probe {
            config: &self.config,
            key_schema: self.request.key_schema.clone(),
            environment: self.request.environment.clone(),
            exclude: self.exclude,
        };
        let duplicates = if self.asks() {
            duplicates(factory, &probe, all)?
        } else {
            Vec::new()
        };
        Ok(CheckDestinationResponse {
            has_duplicate: !duplicates.is_empty(),
            duplicate_project_id: duplicates.first().and_then(|d| d.project_id.clone()),
            key_schema_overlap: duplicates.iter().any(|d| d.key_schema_overlap),
            duplicates,
        })
    }
}

fn uuid_field(field: &str, text: &str) -> Result<(), ApiError> {
    uuid::Uuid::try_parse(text.trim())
        .map(|_| ())
        .map_err(|_| ApiError::invalid(&[field], "Invalid uuid"))
}

/// What a check-destination asks about: the config, its key schema and environment (the
/// excluded sync's when not given), and the sync to leave out (the one being edited).
struct Probe<'a> {
    pub config: &'a Map<String, Value>,
    pub key_schema: Option<String>,
    pub environment: Option<String>,
    pub exclude: Option<SyncId>,
}

/// Every sync of `all` but the excluded one that writes the probe's destination (its
/// config equal, the kind's display-only fields aside), with whether its key schema
/// overlaps the probe's and a key both would manage.
fn duplicates(
    factory: &dyn DestinationFactory,
    probe: &Probe<'_>,
    all: &[SyncRecord],
) -> Result<Vec<DestinationOverlap>, ApiError> {
    let excluded = probe.exclude.and_then(|id| all.iter().find(|s| s.id == id));
    let template = probe
        .key_schema
        .clone()
        .or_else(|| excluded.and_then(key_schema_of));
    let environment = probe
        .environment
        .clone()
        .or_else(|| excluded.map(|s| s.environment.clone()));
    let mut found = Vec::new();
    for other in all.iter().filter(|s| Some(s.id) != probe.exclude) {
        let Ok(Value::Object(theirs)) = serde_json::from_str::<Value>(&other.destination_config)
        else {
            continue;
        };
        if !same_destination(&factory.facts(), probe.config, &theirs) {
            continue;
        }
        let ours = Schema::new(
            template.as_deref(),
            environment.as_deref().unwrap_or(&other.environment),
        )
        .map_err(|e| ApiError::bad_request(format!("keySchema: {}", e.message())))?
        .stored_by(factory);
        found.push(compared(other, &ours, factory)?);
    }
    Ok(found)
}

/// `other`, which writes the same destination, compared with the probe's schema.
fn compared(
    other: &SyncRecord,
    ours: &Schema,
    factory: &dyn DestinationFactory,
) -> Result<DestinationOverlap, ApiError> {
    let their_schema = key_schema_of(other);
    let theirs = Schema::new(their_schema.as_deref(), &other.environment)?.stored_by(factory);
    let example_key = overlap(ours, &theirs);
    Ok(DestinationOverlap {
        sync_id: other.id.to_string(),
        name: other.name.clone(),
        project_id: other.project_id.clone(),
        key_schema: their_schema,
        key_schema_overlap: example_key.is_some(),
        example_key,
    })
}

/// A sync's key schema, if it has one.
fn key_schema_of(sync: &SyncRecord) -> Option<String> {
    let options: Value = serde_json::from_str(&sync.sync_options).ok()?;
    options
        .get("keySchema")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

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

/// A key schema in an environment, as the engine applies it — with its text in the form
/// the service stores keys in, when the kind maps names (GitHub upper-cases them).
pub(crate) struct Schema {
    schema: Box<dyn KeySchema>,
    environment: String,
    /// The fixed text around the secret key as the service stores it, when that differs
    /// from the schema's own.
    stored: Option<(String, String)>,
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
            stored: None,
        })
    }

    /// The schema at a kind whose factory maps key names ([`DestinationFactory::stored_key`]).
    pub fn stored_by(mut self, factory: &dyn DestinationFactory) -> Schema {
        let (prefix, suffix) = self.written_affixes();
        let stored = (factory.stored_key(&prefix), factory.stored_key(&suffix));
        if stored != (prefix, suffix) {
            self.stored = Some(stored);
        }
        self
    }

    /// The fixed text before and after the secret key, as the service stores it.
    fn affixes(&self) -> (String, String) {
        self.stored
            .clone()
            .unwrap_or_else(|| self.written_affixes())
    }

    /// The fixed text before and after the secret key in this environment.
    fn written_affixes(&self) -> (String, String) {
        const MARK: &str = "\u{1}KMS_SYNC_SECRET_KEY\u{1}";
        let rendered = self.schema.render(MARK, &self.environment);
        match rendered.split_once(MARK) {
            Some((prefix, suffix)) => (prefix.to_owned(), suffix.to_owned()),
            None => (String::new(), String::new()),
        }
    }

    /// Whether the engine would count `key` as this schema's (with mapped names, as the
    /// engine's stored schema does: the stored text around a non-empty middle).
    fn owns(&self, key: &str) -> bool {
        match &self.stored {
            Some((prefix, suffix)) => key
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                .is_some_and(|middle| !middle.is_empty()),
            None => self.schema.owns(key, &self.environment),
        }
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
    ["KEY", "X", "SECRET_1", "a", "A"]
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

    /// A kind that stores names upper-cased, as GitHub does.
    struct UpperCasing;

    impl DestinationFactory for UpperCasing {
        fn kind(&self) -> &'static str {
            "upper"
        }
        fn stored_key(&self, key: &str) -> String {
            key.to_ascii_uppercase()
        }
        fn check_config(&self, _: &str) -> kms_sync_core::Result<()> {
            Ok(())
        }
        fn build(
            &self,
            _: &kms_sync_core::AppConnectionDefinition,
            _: &str,
            _: kms_sync_core::http::ClientSettings,
        ) -> kms_sync_core::Result<std::sync::Arc<dyn kms_sync_core::Destination>> {
            Err(kms_sync_core::Error::config("not built in this test"))
        }
    }

    #[test]
    fn schemas_that_differ_only_in_case_overlap_where_the_service_upper_cases_names() {
        let lower = schema(Some("app_{{secretKey}}"), "dev");
        let upper = schema(Some("APP_{{secretKey}}"), "dev");
        assert_eq!(overlap(&lower, &upper), None, "as written they are apart");
        let lower = lower.stored_by(&UpperCasing);
        let upper = upper.stored_by(&UpperCasing);
        assert_eq!(overlap(&lower, &upper).as_deref(), Some("APP_KEY"));
        let other = schema(Some("other_{{secretKey}}"), "dev").stored_by(&UpperCasing);
        assert_eq!(overlap(&lower, &other), None, "other text stays apart");
    }
}
