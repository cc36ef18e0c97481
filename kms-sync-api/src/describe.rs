//! The OpenAPI document as served: the generated one, with the kinds the registry serves
//! and each kind's config and credentials texts written in from the factories' facts.

use kms_sync_core::{DestinationFacts, DestinationRegistry};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, RefOr};

/// The facts of every kind `destinations` serves, in its order.
pub(crate) fn all_facts(destinations: &DestinationRegistry) -> Vec<DestinationFacts> {
    destinations
        .kinds()
        .into_iter()
        .filter_map(|kind| destinations.factory(kind).ok())
        .map(|factory| factory.facts())
        .collect()
}

/// `doc` with its `{destination}` and `{app}` parameters naming the kinds of `facts`, and
/// the request schemas' `destinationConfig` and `credentials` describing each kind's.
pub(crate) fn describe(doc: &mut OpenApi, facts: &[DestinationFacts]) {
    let kinds = kinds_text(facts);
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            name_kinds(operation, &kinds);
        }
    }
    let configs = per_kind(facts, DestinationFacts::config_text);
    let credentials = per_kind(facts, DestinationFacts::credentials_text);
    for (schema, field, text) in [
        ("CreateSecretSyncRequest", "destinationConfig", &configs),
        ("UpdateSecretSyncRequest", "destinationConfig", &configs),
        ("CreateAppConnectionRequest", "credentials", &credentials),
        ("UpdateAppConnectionRequest", "credentials", &credentials),
    ] {
        describe_field(doc, schema, field, text);
    }
}

/// `doc` with every operation needing the bearer token (declared here once, not in each
/// handler's annotation).
pub(crate) fn secure(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for operation in operations(item) {
            let bearer = SecurityRequirement::new("bearerAuth", Vec::<String>::new());
            operation.security = Some(vec![bearer]);
        }
    }
}

/// "`a` (A), `b` (B)".
fn kinds_text(facts: &[DestinationFacts]) -> String {
    facts
        .iter()
        .map(|f| format!("`{}` ({})", f.kind(), f.display_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One Markdown line per kind with a text: "- **A** (`a`): text".
fn per_kind(facts: &[DestinationFacts], text: fn(&DestinationFacts) -> &'static str) -> String {
    facts
        .iter()
        .filter(|f| !text(f).is_empty())
        .map(|f| format!("- **{}** (`{}`): {}", f.display_name(), f.kind(), text(f)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
        item.put.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn name_kinds(operation: &mut Operation, kinds: &str) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.name == "destination" || parameter.name == "app" {
            let base = parameter.description.take().unwrap_or_default();
            parameter.description = Some(format!("{base}. Served here: {kinds}."));
        }
    }
}

fn describe_field(doc: &mut OpenApi, schema: &str, field: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
        return;
    };
    let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) else {
        return;
    };
    let base = property.description.take().unwrap_or_default();
    property.description = Some(format!("{base}\n\n{text}").trim().to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAULT: DestinationFacts = DestinationFacts::new("vault", "Vault")
        .config_description("`mount` and `path`")
        .credentials_description("`token`");

    #[test]
    fn every_kind_is_named_with_its_display_name() {
        let two = [VAULT, DestinationFacts::new("memory", "Memory")];
        assert_eq!(kinds_text(&two), "`vault` (Vault), `memory` (Memory)");
    }

    #[test]
    fn kinds_without_a_text_are_left_out_of_the_field_description() {
        let two = [VAULT, DestinationFacts::new("memory", "Memory")];
        assert_eq!(
            per_kind(&two, DestinationFacts::config_text),
            "- **Vault** (`vault`): `mount` and `path`"
        );
    }

    #[test]
    fn the_served_document_names_the_registrys_kinds() {
        let mut doc = crate::openapi();
        describe(&mut doc, &[VAULT]);
        let json = doc.to_json().unwrap_or_default();
        assert!(json.contains("`vault` (Vault)"), "path parameters");
        assert!(
            json.contains("- **Vault** (`vault`): `token`"),
            "credentials"
        );
    }
}
