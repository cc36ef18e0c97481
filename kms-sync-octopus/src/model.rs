//! Octopus's JSON types for the paths kms-sync uses. A variable set and its variables are
//! typed where kms-sync reads or writes them and keep every other field as read (`extra`),
//! and each typed field remembers whether it was absent, null or set: a variable kms-sync
//! does not manage goes back exactly as it came, `Id` included.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use kms_sync_core::{Error, Result, SecretValue, Version};

use crate::config::ScopeKind;

/// A field as read: absent, `null`, or a value — and written back the same way (an absent
/// field is left out with `skip_serializing_if = "Field::is_absent"`).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Set(value) => Some(value),
            Field::Absent | Field::Null => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Field::Null, Field::Set))
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Field::Set(value) => value.serialize(serializer),
            Field::Absent | Field::Null => serializer.serialize_none(),
        }
    }
}

/// A variable's `Scope`: singular scope keys (`Environment`, `Role`, `TenantTag`, …) to
/// arrays of ids, kept as read — including kinds kms-sync does not configure.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct VariableScope(pub Map<String, Value>);

/// A scope in normal form: each kind's string ids sorted and deduplicated, kinds without
/// ids left out, kinds sorted by name. Two scopes Octopus treats alike are equal here.
pub(crate) type NormalScope = Vec<(String, Vec<String>)>;

impl VariableScope {
    /// The scope whose kinds hold these ids.
    pub fn of(kinds: impl IntoIterator<Item = (ScopeKind, Vec<String>)>) -> Self {
        VariableScope(
            kinds
                .into_iter()
                .map(|(kind, ids)| (kind.scope_key().to_owned(), Value::from(ids)))
                .collect(),
        )
    }

    /// The normal form; entries that are not arrays of strings count as no ids.
    pub fn normalized(&self) -> NormalScope {
        let mut out: NormalScope = self
            .0
            .iter()
            .filter_map(|(kind, ids)| {
                let mut ids: Vec<String> = ids
                    .as_array()?
                    .iter()
                    .filter_map(|id| id.as_str().map(str::to_owned))
                    .collect();
                ids.sort();
                ids.dedup();
                (!ids.is_empty()).then(|| (kind.clone(), ids))
            })
            .collect();
        out.sort();
        out
    }
}

/// One variable of a set. Only the fields kms-sync reads or writes are typed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Variable {
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub id: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub name: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub value: Field<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Field::is_absent")]
    pub kind: Field<String>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub is_sensitive: Field<bool>,
    #[serde(default, skip_serializing_if = "Field::is_absent")]
    pub scope: Field<VariableScope>,
    /// Every other field (`Description`, `IsEditable`, `Prompt`, …), as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Variable {
    /// A new sensitive variable: no `Id` yet (Octopus assigns one).
    pub fn new_sensitive(name: &str, value: &SecretValue, scope: VariableScope) -> Self {
        let extra = [
            ("IsEditable", Value::Bool(true)),
            ("Prompt", Value::Null),
            ("Description", Value::Null),
        ];
        Variable {
            id: Field::Absent,
            name: Field::Set(name.to_owned()),
            value: Field::Absent,
            kind: Field::Absent,
            is_sensitive: Field::Absent,
            scope: Field::Set(scope),
            extra: extra.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
        .with_sensitive_value(value)
    }

    /// This variable holding `value`, made sensitive; every other field as it was.
    pub fn with_sensitive_value(mut self, value: &SecretValue) -> Self {
        self.value = Field::Set(value.expose_secret().to_owned());
        self.kind = Field::Set("Sensitive".to_owned());
        self.is_sensitive = Field::Set(true);
        self
    }

    pub fn id(&self) -> Option<&str> {
        self.id.get().map(String::as_str)
    }

    pub fn name(&self) -> Option<&str> {
        self.name.get().map(String::as_str)
    }

    /// Sensitive by `IsSensitive` or by `Type`.
    pub fn is_sensitive(&self) -> bool {
        self.is_sensitive.get() == Some(&true)
            || self.kind.get().map(String::as_str) == Some("Sensitive")
    }

    /// The scope's normal form; no scope is unscoped.
    pub fn normal_scope(&self) -> NormalScope {
        self.scope
            .get()
            .map(VariableScope::normalized)
            .unwrap_or_default()
    }
}

/// A project's variable set, from `GET /api/{space}/variables/{id}`: what a PUT sends back
/// whole, with its `Version`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VariableSet {
    pub version: Number,
    pub variables: Vec<Variable>,
    /// Every other field (`Id`, `OwnerId`, `ScopeValues`, `Links`, …), as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VariableSet {
    /// Reads a set the client checked the outline of (a `Variables` array, a numeric
    /// `Version`).
    ///
    /// # Errors
    ///
    /// [`Unexpected`](kms_sync_core::ErrorKind::Unexpected) naming where a field has a type
    /// Octopus does not send — never the value there.
    pub fn from_json(set: Value) -> Result<Self> {
        typed(set, "the variable set")
    }

    /// The `Variables` of a set as a PUT answered it (whose other fields may be missing).
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    pub fn variables_of(mut answer: Value) -> Result<Vec<Variable>> {
        typed(
            answer["Variables"].take(),
            "the saved variable set's Variables",
        )
    }

    /// The body of a PUT.
    pub fn to_json(&self) -> Result<Value> {
        serde_json::to_value(self)
            .map_err(|e| Error::unexpected(format!("writing the variable set: {e}")))
    }

    pub fn version(&self) -> Version {
        Version::new(self.version.to_string())
    }

    /// Whether the set's `ScopeValues` (the ids this project knows) list `id` for `kind`.
    pub fn knows(&self, kind: ScopeKind, id: &str) -> bool {
        self.extra
            .get("ScopeValues")
            .and_then(|values| values.get(kind.reference_key()))
            .and_then(Value::as_array)
            .is_some_and(|known| {
                known
                    .iter()
                    .any(|v| v.get("Id").and_then(Value::as_str) == Some(id))
            })
    }
}

/// `json` as `T`; an error names where a field has a type Octopus does not send — never
/// the value there.
fn typed<T: serde::de::DeserializeOwned>(json: Value, what: &str) -> Result<T> {
    serde_path_to_error::deserialize(json).map_err(|e| {
        Error::unexpected(format!(
            "{what} has a field of a type Octopus does not send, at `{}`; refusing to use it",
            e.path()
        ))
    })
}

/// A space, from `GET /api/spaces/all`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Space {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
}

/// A project, from `GET /api/{space}/projects/{idOrSlug}` or `/projects/all`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Project {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub variable_set_id: Option<String>,
    #[serde(default)]
    pub is_version_controlled: bool,
}

/// The signed-in user, from `GET /api/users/me`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// The user's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The user's name.
    #[serde(default)]
    pub username: Option<String>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    #[test]
    fn the_2016_fixtures_parse() {
        let project: Project =
            serde_json::from_str(&fixture("project-octopus3x-terra-farm.json")).expect("project");
        assert_eq!(
            project.variable_set_id.as_deref(),
            Some("variableset-Projects-501")
        );
        assert!(!project.is_version_controlled);
        let set: Value =
            serde_json::from_str(&fixture("variableset-octopus3x-terra-farm.json")).expect("set");
        assert_eq!(set["Version"], 173);
        assert!(set["Variables"].as_array().is_some_and(|v| v.len() >= 2));
        let typed = VariableSet::from_json(set.clone()).expect("typed");
        assert_eq!(typed.version().as_str(), "173");
        assert!(typed.knows(ScopeKind::Environment, "Environments-130"));
        assert!(!typed.knows(ScopeKind::Role, "Environments-130"));
        assert_eq!(typed.to_json().ok(), Some(set), "sent back exactly as read");
    }

    #[test]
    fn absent_null_and_unknown_fields_survive() -> Result<()> {
        let raw = json!({
            "Version": 1.5,
            "Variables": [
                {"Name": "A", "Value": null, "Scope": null, "Prompt": {"Label": "x"}, "Extra": [1, {"b": null}]},
                {"Id": "v2", "Name": "B", "IsSensitive": false, "Type": "String"},
                {}
            ],
            "ScopeValues": null
        });
        let set = VariableSet::from_json(raw.clone())?;
        assert_eq!(set.to_json()?, raw);
        let a = &set.variables[0];
        assert!(a.value == Field::Null && a.id.is_absent() && a.normal_scope().is_empty());
        Ok(())
    }

    #[test]
    fn a_field_of_the_wrong_type_is_refused_naming_where_not_what() {
        let raw =
            json!({"Version": 1, "Variables": [{"Name": "A"}, {"Name": "B", "Value": 424242}]});
        let err = VariableSet::from_json(raw).err().expect("refused");
        assert_eq!(err.kind(), kms_sync_core::ErrorKind::Unexpected);
        assert!(err.to_string().contains("Variables[1].Value"), "{err}");
        assert!(!err.to_string().contains("424242"), "{err}");
    }

    #[test]
    fn a_new_variable_is_sensitive_and_scoped() -> Result<()> {
        let scope =
            VariableScope::of([(ScopeKind::Environment, vec!["Environments-2".to_owned()])]);
        let v = Variable::new_sensitive("KMS_A", &SecretValue::new("s"), scope);
        assert_eq!(
            serde_json::to_value(&v).map_err(|e| Error::unexpected(e.to_string()))?,
            json!({"Name": "KMS_A", "Value": "s", "Type": "Sensitive", "IsSensitive": true,
                   "Scope": {"Environment": ["Environments-2"]}, "IsEditable": true, "Prompt": null, "Description": null})
        );
        assert!(v.is_sensitive() && v.id().is_none());
        Ok(())
    }

    #[test]
    fn scopes_normalise_whatever_the_order() {
        let a = VariableScope(
            json!({"Role": ["web", "db", "web"], "Environment": ["E-1"], "Machine": [], "TenantTag": "odd"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(
            a.normalized(),
            vec![
                ("Environment".to_owned(), vec!["E-1".to_owned()]),
                ("Role".to_owned(), vec!["db".to_owned(), "web".to_owned()]),
            ]
        );
    }
}
