//! Field-by-field comparison of an answer with the KMS's sample response: the same keys,
//! the same nesting, the same JSON types (ids, times and values may differ).

use serde_json::Value;

/// The KMS's nullable fields (its schemas: `.nullable()`): null on either side matches a
/// string, as the sample shows a synced sync and a fresh one has no sync yet.
pub const NULLABLE: &[&str] = &[
    "description",
    "syncStatus",
    "lastSyncJobId",
    "lastSyncMessage",
    "lastSyncedAt",
    "importStatus",
    "lastImportJobId",
    "lastImportMessage",
    "lastImportedAt",
    "removeStatus",
    "lastRemoveJobId",
    "lastRemoveMessage",
    "lastRemovedAt",
    "credentialsHash",
];

/// Keys a sync has beyond one sample because another sample has them: the Bitbucket and
/// Checkly samples carry `isEnabled`, the Octopus Deploy one `isAutoSyncEnabled`.
pub const SAMPLE_UNION: &[&str] = &["isEnabled", "isAutoSyncEnabled"];

/// Objects compared key-subset-wise (their keys come from the request: the Octopus Deploy
/// sample response shows scope values its request does not send).
pub const AS_WRITTEN: &[&str] = &["destinationConfig", "syncOptions"];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every difference between `actual` and `sample`, one line each; empty when they match.
pub fn compare(sample: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", sample, actual, false, &mut out);
    out
}

fn walk(at: &str, sample: &Value, actual: &Value, loose: bool, out: &mut Vec<String>) {
    let key = at.rsplit('.').next().unwrap_or(at);
    if NULLABLE.contains(&key) && (sample.is_null() || actual.is_null()) {
        return;
    }
    match (sample, actual) {
        (Value::Object(s), Value::Object(a)) => {
            let loose = loose || AS_WRITTEN.contains(&key);
            for (k, sv) in s {
                let path = format!("{at}.{k}");
                match a.get(k) {
                    Some(av) => walk(&path, sv, av, loose, out),
                    None if loose => {}
                    None => out.push(format!("{path}: missing")),
                }
            }
            for k in a.keys() {
                if !s.contains_key(k) && !loose && !SAMPLE_UNION.contains(&k.as_str()) {
                    out.push(format!("{at}.{k}: not in the sample"));
                }
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            if let Some(first) = s.first() {
                for (i, av) in a.iter().enumerate() {
                    walk(&format!("{at}[{i}]"), first, av, loose, out);
                }
            }
        }
        (s, a) if kind(s) != kind(a) => {
            out.push(format!("{at}: {} in the sample, {} here", kind(s), kind(a)))
        }
        _ => {}
    }
}

/// A sample response as JSON: the Checkly one's trailing comma removed (it is printed so),
/// the Octopus Deploy one wrapped in `secretSync` as the KMS's routes answer.
pub fn sample(text: &str) -> Value {
    let fixed = text.replace(
        "\"accountName\": \"Example Company\",\n}",
        "\"accountName\": \"Example Company\"\n}",
    );
    let value: Value = serde_json::from_str(&fixed).unwrap_or(Value::Null);
    if value.get("secretSync").is_none() && value.get("appConnection").is_none() {
        serde_json::json!({ "secretSync": value })
    } else {
        value
    }
}

#[test]
fn the_comparison_finds_what_differs() {
    let s = serde_json::json!({"a": "x", "b": {"c": 1}, "description": null, "syncOptions": {"k": true}});
    let a = serde_json::json!({"a": "y", "b": {"c": "1"}, "description": "d", "extra": 1, "syncOptions": {}});
    let diff = compare(&s, &a);
    assert_eq!(
        diff,
        vec![
            ".b.c: number in the sample, string here",
            ".extra: not in the sample"
        ]
    );
}
