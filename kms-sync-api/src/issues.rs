//! Request bodies read into their documented types (the same types the OpenAPI document
//! is generated from), and every failure turned into the KMS's 422 issue: a path and a
//! message naming what was expected — never the value sent.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::body::shown;
use crate::error::{ApiError, ValidationIssue};

/// `text` (a JSON object already checked) read as `T`, or 422 with the issue.
pub(crate) fn typed<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    let mut reader = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut reader)
        .map_err(|e| ApiError::invalid_issues(vec![issue_of(&e)]))
}

/// The issue of a failed read: where (from the path the reader kept) and what.
fn issue_of(error: &serde_path_to_error::Error<serde_json::Error>) -> ValidationIssue {
    let mut path = path_of(error.path());
    let text = error.inner().to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let (code, message) = if let Some(field) = quoted_after(text, "missing field `") {
        path.push(Value::from(field));
        ("invalid_type", "Required".to_owned())
    } else if let Some(field) = quoted_after(text, "unknown field `") {
        if path.last() == Some(&Value::from(field.clone())) {
            path.pop();
        }
        (
            "unrecognized_keys",
            format!("Unrecognized key(s) in object: '{}'", shown(&field)),
        )
    } else if text.starts_with("invalid type: ") || text.starts_with("invalid value: ") {
        let expected = text
            .rfind(", expected ")
            .map(|at| &text[at + ", expected ".len()..])
            .unwrap_or("another value");
        ("invalid_type", format!("Expected {expected}"))
    } else {
        ("custom", "Invalid input".to_owned())
    };
    ValidationIssue {
        code: code.to_owned(),
        path,
        message,
    }
}

/// The reader's path as the KMS writes it: field names and array indexes.
fn path_of(path: &serde_path_to_error::Path) -> Vec<Value> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Value::from(*index)),
            Segment::Map { key } => Some(Value::from(key.as_str())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// The text between `prefix` and the next backquote, if `text` starts with `prefix`.
fn quoted_after(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        options: Option<Options>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Options {
        enabled: bool,
    }

    fn issue(text: &str) -> ValidationIssue {
        match typed::<Body>(text) {
            Ok(body) => panic!("accepted {body:?}"),
            Err(e) => e
                .issues
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("no issue")),
        }
    }

    #[test]
    fn a_missing_field_is_required_at_its_path() {
        let i = issue(r#"{"options": {"enabled": true}}"#);
        assert_eq!(
            (i.code.as_str(), i.message.as_str()),
            ("invalid_type", "Required")
        );
        assert_eq!(i.path, [Value::from("name")]);
    }

    #[test]
    fn a_wrong_type_names_what_was_expected_and_never_the_value() {
        let i = issue(r#"{"name": "n", "options": {"enabled": "SECRET-VALUE"}}"#);
        assert_eq!(i.path, [Value::from("options"), Value::from("enabled")]);
        assert_eq!(i.message, "Expected a boolean");
        assert!(!format!("{i:?}").contains("SECRET-VALUE"));
    }

    #[test]
    fn an_unknown_field_is_an_unrecognized_key_of_its_object() {
        let i = issue(r#"{"name": "n", "options": {"enabled": true, "extra": 1}}"#);
        assert_eq!(i.code, "unrecognized_keys");
        assert_eq!(i.path, [Value::from("options")]);
        assert!(i.message.contains("'extra'"), "{}", i.message);
    }
}
