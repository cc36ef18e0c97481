//! Hostile sync definitions and app connections: arbitrary text and mutated real bodies give
//! a definition, a connection and a destination, or a `Config` error — never a panic, and a
//! credential never appears in any error.

#![cfg(all(feature = "bitbucket", feature = "checkly", feature = "octopus"))]

use kms_sync::{parse_definition, registry, AppConnectionDefinition, ErrorKind};
use kms_sync_testkit::fake_client_settings;
use kms_sync_testkit::hostile::json_like;
use proptest::prelude::*;
use serde_json::{json, Value};

const CREDENTIAL: &str = "zz-credential-zz";

const FIELDS: &[&str] = &[
    "name",
    "environment",
    "secretPath",
    "isEnabled",
    "isAutoSyncEnabled",
    "destination",
    "syncOptions",
    "initialSyncBehavior",
    "keySchema",
    "autoSyncEnabled",
    "disableSecretDeletion",
    "destinationConfig",
    "workspaceSlug",
    "repositorySlug",
    "environmentId",
    "accountId",
    "accountName",
    "groupId",
    "groupName",
    "spaceId",
    "scope",
    "projectId",
    "scopeValues",
    "environments",
    "roles",
    "method",
    "credentials",
    "email",
    "apiToken",
    "apiKey",
    "instanceUrl",
];

/// The KMS's create-sync bodies, one per destination, with the kind each builds.
fn definitions() -> Vec<(&'static str, Value)> {
    vec![
        (
            "bitbucket",
            json!({"name": "bb", "environment": "dev", "secretPath": "/", "isEnabled": true,
                   "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "KMS_{{secretKey}}"},
                   "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"}}),
        ),
        (
            "checkly",
            json!({"name": "ck", "environment": "dev", "secretPath": "/",
                   "syncOptions": {"initialSyncBehavior": "overwrite-destination"},
                   "destinationConfig": {"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example"}}),
        ),
        (
            "octopus-deploy",
            json!({"name": "oc", "environment": "dev", "secretPath": "/",
                   "syncOptions": {"initialSyncBehavior": "overwrite-destination", "disableSecretDeletion": true},
                   "destinationConfig": {"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-1",
                                         "scopeValues": {"environments": ["Environments-1"]}}}),
        ),
    ]
}

fn connection(kind: &str) -> Value {
    match kind {
        "bitbucket" => {
            json!({"name": "c", "method": "api-token", "credentials": {"email": "a@example.com", "apiToken": CREDENTIAL}})
        }
        "checkly" => {
            json!({"name": "c", "method": "api-key", "credentials": {"apiKey": CREDENTIAL}})
        }
        _ => {
            json!({"name": "c", "method": "api-key", "credentials": {"instanceUrl": "https://octo.example.com", "apiKey": CREDENTIAL}})
        }
    }
}

/// Every path to a value inside `value` (object keys and array positions).
fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = prefix.clone();
                p.push(k.clone());
                out.push(p.clone());
                paths(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = prefix.clone();
                p.push(i.to_string());
                out.push(p.clone());
                paths(v, p, out);
            }
        }
        _ => {}
    }
}

/// Replaces (or, with `None`, removes) the value at `path`.
fn mutate(value: &mut Value, path: &[String], with: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = value;
    for step in parents {
        at = match at {
            Value::Object(map) => match map.get_mut(step) {
                Some(v) => v,
                None => return,
            },
            Value::Array(items) => {
                match step.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(v) => v,
                    None => return,
                }
            }
            _ => return,
        };
    }
    match (at, with) {
        (Value::Object(map), Some(v)) => {
            map.insert(last.clone(), v);
        }
        (Value::Object(map), None) => {
            map.remove(last);
        }
        (Value::Array(items), with) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                match with {
                    Some(v) => items[i] = v,
                    None => {
                        items.remove(i);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A real body with one value replaced by random JSON or removed, named by its kind.
fn mutated(base: Vec<(&'static str, Value)>) -> impl Strategy<Value = (&'static str, String)> {
    (
        0..base.len(),
        any::<prop::sample::Index>(),
        proptest::option::weighted(0.8, json_like(FIELDS)),
    )
        .prop_map(move |(which, index, with)| {
            let (kind, mut body) = base[which].clone();
            let mut all = Vec::new();
            paths(&body, Vec::new(), &mut all);
            if !all.is_empty() {
                let path = all[index.index(all.len())].clone();
                mutate(&mut body, &path, with);
            }
            (kind, body.to_string())
        })
}

fn connections() -> Vec<(&'static str, Value)> {
    ["bitbucket", "checkly", "octopus-deploy"]
        .into_iter()
        .map(|k| (k, connection(k)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Arbitrary text: a definition or a `Config` error.
    #[test]
    fn arbitrary_text_is_a_definition_or_a_config_error(text in "\\PC{0,200}") {
        for kind in [None, Some("bitbucket"), Some("checkly"), Some("octopus-deploy")] {
            if let Err(e) = parse_definition(&text, kind) {
                prop_assert_eq!(e.kind(), ErrorKind::Config);
            }
        }
        if let Err(e) = AppConnectionDefinition::from_json(&text) {
            prop_assert_eq!(e.kind(), ErrorKind::Config);
        }
    }

    /// A real definition with one value replaced or removed: a definition that builds a
    /// destination, or a `Config` error naming the problem.
    #[test]
    fn mutated_definitions_build_or_refuse((kind, text) in mutated(definitions())) {
        match parse_definition(&text, Some(kind)) {
            Ok(def) => {
                let conn = AppConnectionDefinition::from_json(&connection(kind).to_string())
                    .expect("the real connection parses");
                if let Err(e) = registry().build_destination(&def, &conn, fake_client_settings("http://127.0.0.1:9")) {
                    prop_assert_eq!(e.kind(), ErrorKind::Config, "{}", e);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Config);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    /// A real connection with one value replaced or removed: a destination, or a `Config`
    /// error that never shows the credential.
    #[test]
    fn mutated_connections_never_show_the_credential((kind, text) in mutated(connections())) {
        let def = definitions()
            .into_iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, d)| d)
            .expect("a definition per kind");
        let def = parse_definition(&def.to_string(), Some(kind)).expect("the real definition parses");
        let error = match AppConnectionDefinition::from_json(&text) {
            Ok(conn) => {
                let shown = format!("{conn:?}");
                prop_assert!(!shown.contains(CREDENTIAL));
                registry().build_destination(&def, &conn, fake_client_settings("http://127.0.0.1:9")).err()
            }
            Err(e) => Some(e),
        };
        if let Some(e) = error {
            prop_assert_eq!(e.kind(), ErrorKind::Config, "{}", e);
            let shown = format!("{} {:?}", e, e);
            prop_assert!(!shown.contains(CREDENTIAL), "the credential leaked: {}", shown);
        }
    }
}
