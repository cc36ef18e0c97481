//! The nested parts of a body that a destination's own parser reads — `destinationConfig`
//! and `credentials` — checked by the kind's factory before anything is stored. A shape
//! error (a missing, unknown or duplicate field, a value of the wrong type, an unknown
//! variant) is the KMS's 422 `ValidationFailure` with its path into the nested field and
//! a message that never holds the value; the factory's other refusals stay 400.

use kms_sync_core::{AppConnectionDefinition, DestinationFactory, Error, ErrorKind};
use serde_json::{Map, Value};

use crate::error::{ApiError, ValidationIssue};

/// `destinationConfig` of `body`, if present, checked by `factory` (422 for its shape).
pub(crate) fn check_config(
    factory: &dyn DestinationFactory,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(config) = body.get("destinationConfig") else {
        return Ok(());
    };
    if !config.is_object() {
        return Err(ApiError::invalid(&["destinationConfig"], "Expected object"));
    }
    factory
        .check_config(&config.to_string())
        .map_err(|e| shape_or_refusal(&["destinationConfig"], &e))
}

/// `credentials` of `body`, if present, must be an object (422 naming it otherwise).
pub(crate) fn credentials_object(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.get("credentials") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(ApiError::invalid(&["credentials"], "Expected object")),
    }
}

/// `connection` checked by `factory` (422 for the shape of its body, whose paths start at
/// the body's top: `["credentials", "apiToken"]`).
pub(crate) fn check_connection(
    factory: &dyn DestinationFactory,
    connection: &AppConnectionDefinition,
) -> Result<(), ApiError> {
    factory
        .check_connection(connection)
        .map_err(|e| shape_or_refusal(&[], &e))
}

/// A parser's shape error as a 422 issue under `root`; any other error as from kms-sync.
pub(crate) fn shape_or_refusal(root: &[&str], err: &Error) -> ApiError {
    match shape_issue(root, err) {
        Some(issue) => ApiError::invalid_issues(vec![issue]),
        None => ApiError::from_kms(err),
    }
}

/// The issue of a [`kms_sync_core::parse_json`] error ("invalid {what} at `{path}`:
/// {problem}"), or `None` for an error of another form.
fn shape_issue(root: &[&str], err: &Error) -> Option<ValidationIssue> {
    if err.kind() != ErrorKind::Config {
        return None;
    }
    let message = err.message();
    let (path, problem) = located(message)?;
    let mut full: Vec<Value> = root.iter().map(|p| Value::from(*p)).collect();
    full.extend(segments(path));
    let (code, text) = problem_of(problem, &mut full)?;
    Some(ValidationIssue {
        code: code.to_owned(),
        path: full,
        message: text,
    })
}

/// The path (empty at the top) and the problem of "…invalid {what}[ at `{path}`]: {problem}".
fn located(message: &str) -> Option<(&str, &str)> {
    let rest = &message[message.find("invalid ")?..];
    match rest.find(" at `") {
        Some(at) => {
            let after = &rest[at + " at `".len()..];
            let end = after.find("`: ")?;
            Some((&after[..end], &after[end + "`: ".len()..]))
        }
        None => Some(("", &rest[rest.find(": ")? + 2..])),
    }
}

/// serde_path_to_error's path text (`a.b[0].c`) as names and indexes.
fn segments(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty() && *p != "?") {
        let mut pieces = part.split('[');
        if let Some(name) = pieces.next().filter(|n| !n.is_empty()) {
            out.push(Value::from(name));
        }
        for index in pieces.filter_map(|i| i.trim_end_matches(']').parse::<u64>().ok()) {
            out.push(Value::from(index));
        }
    }
    out
}

/// The zod code and a value-free message of a parser's problem; a missing field joins
/// the path, an unknown one names its object.
fn problem_of(problem: &str, path: &mut Vec<Value>) -> Option<(&'static str, String)> {
    let quoted = |prefix: &str| -> Option<String> {
        let rest = problem.strip_prefix(prefix)?;
        rest.split('`').next().map(str::to_owned)
    };
    if let Some(field) = quoted("missing field `") {
        path.push(Value::from(field));
        return Some(("invalid_type", "Required".to_owned()));
    }
    if let Some(field) = quoted("unknown field `") {
        if path.last() == Some(&Value::from(field.as_str())) {
            path.pop();
        }
        let shown = crate::body::shown(&field);
        return Some((
            "unrecognized_keys",
            format!("Unrecognized key(s) in object: '{shown}'"),
        ));
    }
    if let Some(field) = quoted("duplicate field `") {
        let shown = crate::body::shown(&field);
        return Some(("custom", format!("Duplicate key '{shown}'")));
    }
    if problem.starts_with("unknown variant `") {
        let expected = problem.rfind(", expected ").map(|at| &problem[at + 11..]);
        let expected = expected.and_then(|e| e.split(" at line ").next());
        let message = format!("Expected {}", expected.unwrap_or("another value"));
        return Some(("invalid_enum_value", message));
    }
    if problem.starts_with("a value has the wrong type or form") {
        return Some(("invalid_type", "Expected another type or form".to_owned()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        repository_slug: String,
        #[serde(default)]
        scope: Vec<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Dev,
        Prod,
    }

    fn issue(text: &str) -> ValidationIssue {
        let err = match kms_sync_core::parse_json::<Config>(text, "Demo destinationConfig") {
            Ok(config) => panic!("accepted {config:?}"),
            Err(e) => Error::config(format!("destinationConfig: {}", e.message())),
        };
        shape_issue(&["destinationConfig"], &err).unwrap_or_else(|| panic!("no issue: {err}"))
    }

    fn path(issue: &ValidationIssue) -> String {
        Value::from(issue.path.clone()).to_string()
    }

    #[test]
    fn a_missing_nested_field_is_required_at_its_path() {
        let i = issue("{}");
        assert_eq!(path(&i), r#"["destinationConfig","repositorySlug"]"#);
        assert_eq!(i.message, "Required");
    }

    #[test]
    fn an_unknown_nested_field_names_its_object() {
        let i = issue(r#"{"repositorySlug": "r", "extra": 1}"#);
        assert_eq!(i.code, "unrecognized_keys");
        assert_eq!(path(&i), r#"["destinationConfig"]"#);
        assert!(i.message.contains("'extra'"), "{}", i.message);
    }

    #[test]
    fn a_nested_wrong_type_or_variant_has_its_path_and_never_the_value() {
        let i = issue(r#"{"repositorySlug": 1234567}"#);
        assert_eq!(path(&i), r#"["destinationConfig","repositorySlug"]"#);
        assert!(!i.message.contains("1234567"), "{}", i.message);
        let i = issue(r#"{"repositorySlug": "r", "scope": ["dev", "SECRET-VARIANT"]}"#);
        assert_eq!(path(&i), r#"["destinationConfig","scope",1]"#);
        assert_eq!(i.code, "invalid_enum_value");
        assert!(!i.message.contains("SECRET-VARIANT"), "{}", i.message);
    }

    #[test]
    fn a_refusal_beyond_the_shape_stays_400() {
        let err = Error::config("Demo destinationConfig.repositorySlug must be a slug");
        assert!(shape_issue(&["destinationConfig"], &err).is_none());
        assert_eq!(shape_or_refusal(&[], &err).status.as_u16(), 400);
    }
}
