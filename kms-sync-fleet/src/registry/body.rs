//! The KMS's JSON bodies as the registry handles them: canonical credentials, the public
//! part of them, and a sync's create body rebuilt from its row and merged with a patch.
//! Nothing here formats a credential into an error.

use kms_sync_core::{Error, Result};
use secrecy::SecretString;
use serde_json::{Map, Value};

/// `value` as JSON with every object's keys sorted, so equal credentials hash equally
/// whatever order they were written in.
pub(crate) fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The `credentials` object of a connection body (checked to be an object by
/// `AppConnectionDefinition`), canonical, kept secret.
pub(crate) fn credentials_of(body: &str) -> Result<(Map<String, Value>, SecretString)> {
    let unreadable = || Error::config("app connection: the body cannot be read as a JSON object");
    let mut parsed: Map<String, Value> = serde_json::from_str(body).map_err(|_| unreadable())?;
    match parsed.remove("credentials") {
        Some(Value::Object(credentials)) => {
            let text = canonical(&Value::Object(credentials.clone()));
            Ok((credentials, SecretString::from(text)))
        }
        _ => Err(Error::config(
            "app connection: `credentials` must be an object",
        )),
    }
}

/// The fields of `credentials` named in `fields`, as a JSON object (text).
pub(crate) fn public_part(credentials: &Map<String, Value>, fields: &[String]) -> Value {
    let kept: Map<String, Value> = fields
        .iter()
        .filter_map(|f| credentials.get(f).map(|v| (f.clone(), v.clone())))
        .collect();
    Value::Object(kept)
}

/// The fields a sync patch may carry (the KMS's update-sync body).
pub(crate) const SYNC_PATCH_FIELDS: &[&str] = &[
    "name",
    "description",
    "connectionId",
    "environment",
    "secretPath",
    "isEnabled",
    "isAutoSyncEnabled",
    "syncOptions",
    "destinationConfig",
];

/// A JSON object body, or a config error naming `what`.
pub(crate) fn object(text: &str, what: &str) -> Result<Map<String, Value>> {
    let value: Value = kms_sync_core::parse_json(text, what)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::config(format!(
            "{what}: the body must be a JSON object"
        ))),
    }
}

/// Checks that a patch names only fields it may change.
pub(crate) fn check_patch_fields(
    patch: &Map<String, Value>,
    allowed: &[&str],
    what: &str,
) -> Result<()> {
    for key in patch.keys() {
        if !allowed.contains(&key.as_str()) {
            let shown: String = key.chars().take(64).collect();
            return Err(Error::config(format!(
                "{what}: unknown or unchangeable field `{}`; expected one of {}",
                shown.escape_debug(),
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// The effective auto-sync flag of a merged body: the top-level `isAutoSyncEnabled`, else
/// `syncOptions.autoSyncEnabled`, else off — as `SecretSyncDefinition` reads it.
pub(crate) fn auto_sync_of(body: &Map<String, Value>) -> bool {
    body.get("isAutoSyncEnabled")
        .and_then(Value::as_bool)
        .or_else(|| {
            body.get("syncOptions")
                .and_then(|o| o.get("autoSyncEnabled"))
                .and_then(Value::as_bool)
        })
        .unwrap_or(false)
}

/// Makes the two spellings of auto-sync agree: `auto` at the top level, and in
/// `syncOptions.autoSyncEnabled` when the options carry it.
pub(crate) fn settle_auto_sync(body: &mut Map<String, Value>, auto: bool) {
    body.insert("isAutoSyncEnabled".to_owned(), Value::Bool(auto));
    if let Some(Value::Object(options)) = body.get_mut("syncOptions") {
        if options.contains_key("autoSyncEnabled") {
            options.insert("autoSyncEnabled".to_owned(), Value::Bool(auto));
        }
    }
}

/// Applies a sync patch to the body rebuilt from the row. The auto-sync flag that wins is
/// the patch's top-level one, else its `syncOptions.autoSyncEnabled`, else the current one.
pub(crate) fn merge_sync_patch(current: &mut Map<String, Value>, patch: &Map<String, Value>) {
    let current_auto = auto_sync_of(current);
    let patched_auto = patch
        .get("isAutoSyncEnabled")
        .and_then(Value::as_bool)
        .or_else(|| {
            patch
                .get("syncOptions")
                .and_then(|o| o.get("autoSyncEnabled"))
                .and_then(Value::as_bool)
        });
    for (key, value) in patch {
        if value.is_null() && key == "description" {
            current.remove(key);
        } else {
            current.insert(key.clone(), value.clone());
        }
    }
    // A wrong type is left in place for the definition's parser to refuse.
    let wrong_type = patch
        .get("isAutoSyncEnabled")
        .is_some_and(|v| !v.is_boolean());
    if !wrong_type {
        settle_auto_sync(current, patched_auto.unwrap_or(current_auto));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: Value =
            serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "é\""}], "c": null}});
        assert_eq!(
            canonical(&a),
            r#"{"a":{"c":null,"d":[1,{"y":"é\"","z":0}]},"b":1}"#
        );
    }

    #[test]
    fn credentials_are_split_into_secret_and_public_parts() -> Result<()> {
        let (creds, text) = credentials_of(
            r#"{"name": "c", "method": "api-token", "credentials": {"email": "u@e.com", "apiToken": "T"}}"#,
        )?;
        use secrecy::ExposeSecret;
        assert_eq!(
            text.expose_secret(),
            r#"{"apiToken":"T","email":"u@e.com"}"#
        );
        let public = public_part(&creds, &["email".to_owned(), "missing".to_owned()]);
        assert_eq!(public.to_string(), r#"{"email":"u@e.com"}"#);
        assert!(credentials_of(r#"{"credentials": "T"}"#).is_err());
        Ok(())
    }

    #[test]
    fn a_patch_replaces_fields_and_keeps_auto_sync_in_agreement() -> Result<()> {
        let mut body = object(
            r#"{"name": "a", "description": "d", "syncOptions": {"autoSyncEnabled": true}, "isAutoSyncEnabled": true}"#,
            "t",
        )?;
        merge_sync_patch(
            &mut body,
            &object(r#"{"isAutoSyncEnabled": false, "description": null}"#, "t")?,
        );
        assert_eq!(
            body.get("syncOptions"),
            Some(&serde_json::json!({"autoSyncEnabled": false}))
        );
        assert!(!body.contains_key("description"));
        assert!(!auto_sync_of(&body));
        merge_sync_patch(
            &mut body,
            &object(
                r#"{"syncOptions": {"autoSyncEnabled": true, "keySchema": "K_{{secretKey}}"}}"#,
                "t",
            )?,
        );
        assert!(auto_sync_of(&body));
        assert_eq!(body.get("isAutoSyncEnabled"), Some(&Value::Bool(true)));
        merge_sync_patch(&mut body, &object(r#"{"syncOptions": {}}"#, "t")?);
        assert!(
            auto_sync_of(&body),
            "options without the flag keep the current one"
        );
        Ok(())
    }

    #[test]
    fn unknown_patch_fields_are_named() -> Result<()> {
        let patch = object(r#"{"destination": "other-kind"}"#, "t")?;
        let err =
            check_patch_fields(&patch, SYNC_PATCH_FIELDS, "sync update").expect_err("refused");
        assert!(err.to_string().contains("`destination`"), "{err}");
        Ok(())
    }
}
