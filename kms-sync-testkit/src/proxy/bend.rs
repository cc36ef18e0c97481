//! What the proxy's actions make of bodies: JSON with a path dropped, and error answers that
//! echo the request.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use super::rule::Echo;

/// One step of a JSON path: a field, or every element of an array.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Field(&'a str),
    Each,
}

/// `Variables[*].Id` → field `Variables`, each element, field `Id`; `[*].id` → each, `id`.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, each) = match part.strip_suffix("[*]") {
            Some(name) => (name, true),
            None => (part, false),
        };
        if !name.is_empty() {
            steps.push(Step::Field(name));
        }
        if each {
            steps.push(Step::Each);
        }
    }
    steps
}

fn drop_at(value: &mut Value, steps: &[Step<'_>]) {
    match steps {
        [] => {}
        [Step::Field(name)] => {
            if let Value::Object(map) = value {
                map.remove(*name);
            }
        }
        [Step::Field(name), rest @ ..] => {
            if let Some(inner) = value.get_mut(*name) {
                drop_at(inner, rest);
            }
        }
        [Step::Each, rest @ ..] => {
            if let Value::Array(items) = value {
                items.iter_mut().for_each(|item| drop_at(item, rest));
            }
        }
    }
}

/// The body with what `path` names removed; a body that is not JSON comes back as it was.
pub(super) fn drop_json(body: &[u8], path: &str) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            drop_at(&mut value, &steps(path));
            serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec())
        }
        Err(_) => body.to_vec(),
    }
}

/// Every string in a JSON body, as `field=text` (`text` raw), in document order.
fn string_fields(value: &Value, name: &str, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(format!("{name}={text}")),
        Value::Array(items) => items.iter().for_each(|item| string_fields(item, name, out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| string_fields(v, k, out)),
        _ => {}
    }
}

/// The quote of `request` an error answer carries, in the form asked.
fn quote(form: Echo, request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    match form {
        Echo::Json | Echo::Raw => text.into_owned(),
        Echo::Fields => {
            let mut fields = Vec::new();
            if let Ok(json) = serde_json::from_slice::<Value>(request) {
                string_fields(&json, "body", &mut fields);
            }
            fields.join(", ")
        }
        Echo::UrlEncoded => utf8_percent_encode(&text, NON_ALPHANUMERIC).to_string(),
        Echo::Base64 => base64::engine::general_purpose::STANDARD.encode(request),
    }
}

/// The content type and body of a 400 that quotes `request` in the form asked. A JSON answer
/// puts the quote everywhere the services' error envelopes keep their message (`message`,
/// `detail`, `fields`, `ErrorMessage`, `Errors`), so every destination's error reader meets it.
pub(super) fn echo_body(form: Echo, request: &[u8]) -> (&'static str, Vec<u8>) {
    let message = format!("invalid request: {}", quote(form, request));
    if form == Echo::Raw {
        return ("text/plain", message.into_bytes());
    }
    let mut body = json!({
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "detail": message,
        "fields": {"value": message},
        "ErrorMessage": message,
        "Errors": [message],
    });
    if let (Echo::Json, Ok(quoted)) = (form, serde_json::from_slice::<Value>(request)) {
        body["request"] = quoted;
    }
    ("application/json", body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_steps() {
        assert_eq!(steps("values"), [Step::Field("values")]);
        assert_eq!(
            steps("Variables[*].Id"),
            [Step::Field("Variables"), Step::Each, Step::Field("Id")]
        );
        assert_eq!(steps("[*].id"), [Step::Each, Step::Field("id")]);
    }

    #[test]
    fn drops_a_field_and_a_field_of_every_element() {
        let page = br#"{"values":[{"uuid":"1","key":"A"},{"uuid":"2","key":"B"}],"size":2}"#;
        let no_ids: Value = serde_json::from_slice(&drop_json(page, "values[*].uuid")).unwrap();
        assert_eq!(no_ids, json!({"values":[{"key":"A"},{"key":"B"}],"size":2}));
        let no_list: Value = serde_json::from_slice(&drop_json(page, "values")).unwrap();
        assert_eq!(no_list, json!({"size": 2}));
        let bare: Value =
            serde_json::from_slice(&drop_json(br#"[{"id":1,"k":2}]"#, "[*].id")).unwrap();
        assert_eq!(bare, json!([{"k": 2}]));
        assert_eq!(drop_json(b"<html>", "values"), b"<html>");
    }

    fn message_of(body: &[u8]) -> String {
        let json: Value = serde_json::from_slice(body).unwrap();
        json["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn echoes_in_every_form() {
        let request = br#"{"key":"K","value":"a b&c"}"#;
        let (_, json_form) = echo_body(Echo::Json, request);
        assert!(String::from_utf8_lossy(&json_form).contains(r#""value":"a b&c""#));
        assert!(message_of(&json_form).ends_with(r#"{"key":"K","value":"a b&c"}"#));
        let (_, fields) = echo_body(Echo::Fields, request);
        assert_eq!(message_of(&fields), "invalid request: key=K, value=a b&c");
        let (kind, raw) = echo_body(Echo::Raw, request);
        assert_eq!(kind, "text/plain");
        assert!(String::from_utf8_lossy(&raw).ends_with(r#""a b&c"}"#));
        let (_, url) = echo_body(Echo::UrlEncoded, request);
        assert!(String::from_utf8_lossy(&url).contains("a%20b%26c"));
        let (_, b64) = echo_body(Echo::Base64, request);
        let encoded = base64::engine::general_purpose::STANDARD.encode(request);
        assert!(String::from_utf8_lossy(&b64).contains(&encoded));
    }
}
