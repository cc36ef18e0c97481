//! A variable as a list answered it, read strictly.
//!
//! Every listed variable needs its `key` and `environment_scope` (together they are its
//! identity: without the scope, a variable of another environment could be taken for
//! ours). A variable of the sync's scope also needs what a write must compare or keep: its
//! `value` (unless `hidden`), `protected`, `masked` and `variable_type`. `raw` (GitLab
//! 15.7+) and `hidden` (17.4+) count as false when a server does not send them. A missing
//! field is an incomplete read, never a guess.

use kms_sync_core::{EntryState, Error, ErrorKind, RemoteEntry, RemoteValue, Result, SecretValue};
use serde::Deserialize;

use crate::scope::{Attributes, VariableType};

/// Why a visible variable is deleted and created again: GitLab hides a variable only when
/// it is created.
pub(crate) const MUST_HIDE: &str =
    "stored visible; deleted and created again masked and hidden (GitLab hides a variable only when creating it)";

/// A listed variable as it came, every field optional only so that a missing one can be
/// named.
#[derive(Deserialize)]
pub(crate) struct ListedVariable {
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    environment_scope: Option<String>,
    #[serde(default)]
    variable_type: Option<VariableType>,
    #[serde(default)]
    protected: Option<bool>,
    #[serde(default)]
    masked: Option<bool>,
    #[serde(default)]
    hidden: Option<bool>,
    #[serde(default)]
    raw: Option<bool>,
}

/// A variable of the sync's scope with everything a write needs of it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub key: String,
    /// Held as a `SecretValue` from the moment it is read (its `Debug` shows no value);
    /// `None` when hidden (never shown again).
    pub value: Option<SecretValue>,
    pub attributes: Attributes,
}

/// The key and environment scope of a listed variable.
pub(crate) struct Identity {
    pub key: String,
    pub environment_scope: String,
}

impl ListedVariable {
    /// The variable's identity, or an [`IncompleteRead`](ErrorKind::IncompleteRead) naming
    /// the missing field.
    pub fn identity(&self) -> Result<Identity> {
        let Some(key) = self.key.clone().filter(|k| !k.is_empty()) else {
            return Err(incomplete("a variable without its `key`", None));
        };
        let Some(environment_scope) = self.environment_scope.clone() else {
            let what = format!("variable `{key}` without its `environment_scope`");
            return Err(incomplete(&what, Some(&key)));
        };
        Ok(Identity {
            key,
            environment_scope,
        })
    }

    /// The complete variable, or an [`IncompleteRead`](ErrorKind::IncompleteRead) naming
    /// the missing field (and the key); never a value.
    pub fn complete(self) -> Result<Listed> {
        let Identity { key, .. } = self.identity()?;
        let missing = |field: &str| {
            incomplete(
                &format!("variable `{key}` without its `{field}`"),
                Some(&key),
            )
        };
        let hidden = self.hidden.unwrap_or(false);
        let attributes = Attributes {
            protected: self.protected.ok_or_else(|| missing("protected"))?,
            masked: self.masked.ok_or_else(|| missing("masked"))?,
            hidden,
            raw: self.raw.unwrap_or(false),
            variable_type: self.variable_type.ok_or_else(|| missing("variable_type"))?,
        };
        if !hidden && self.value.is_none() {
            return Err(missing("value"));
        }
        Ok(Listed {
            key,
            value: self.value.map(SecretValue::new).filter(|_| !hidden),
            attributes,
        })
    }
}

impl Listed {
    /// The entry: a hidden value is [`RemoteValue::Hidden`]; a variable whose attributes
    /// differ from `wanted` must be written again even when its value is right
    /// ([`EntryState::MustReplace`], saying which attributes), and a visible one the sync
    /// wants hidden must be re-created.
    pub fn entry(self, wanted: &Attributes) -> RemoteEntry {
        let state = self.state(wanted);
        let value = match self.value {
            Some(value) => RemoteValue::Known(value),
            None => RemoteValue::Hidden,
        };
        RemoteEntry::new(self.key, value).with_state(state)
    }

    fn state(&self, wanted: &Attributes) -> EntryState {
        let have = &self.attributes;
        if wanted.hidden && !have.hidden {
            return EntryState::must_replace(MUST_HIDE);
        }
        let mut differ = Vec::new();
        if have.protected != wanted.protected {
            differ.push("protected");
        }
        // A hidden variable is masked for good; its `masked` is not compared.
        if !have.hidden && have.masked != wanted.masked {
            differ.push("masked");
        }
        if have.raw != wanted.raw {
            differ.push("raw");
        }
        if have.variable_type != wanted.variable_type {
            differ.push("variable_type");
        }
        if differ.is_empty() {
            EntryState::Writable
        } else {
            EntryState::must_replace(format!(
                "{} differ from the destinationConfig; written again",
                differ.join(", ")
            ))
        }
    }
}

fn incomplete(what: &str, key: Option<&str>) -> Error {
    let err = Error::new(
        ErrorKind::IncompleteRead,
        format!(
            "GitLab listed {what}; refusing to plan from an incomplete list (nothing was written)"
        ),
    );
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn listed(v: Value) -> Result<Listed> {
        let parsed: ListedVariable =
            serde_json::from_value(v).map_err(|e| Error::unexpected(e.to_string()))?;
        parsed.complete()
    }

    fn full() -> Value {
        json!({"key": "K", "value": "v", "environment_scope": "*", "variable_type": "env_var",
               "protected": false, "masked": false, "raw": false, "hidden": false})
    }

    #[test]
    fn a_missing_field_is_named() {
        for field in [
            "key",
            "environment_scope",
            "protected",
            "masked",
            "variable_type",
            "value",
        ] {
            let mut v = full();
            if let Some(o) = v.as_object_mut() {
                o.remove(field);
            }
            let err = listed(v).expect_err(field);
            assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{field}");
            assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        }
        let mut old_server = full();
        if let Some(o) = old_server.as_object_mut() {
            o.remove("raw");
            o.remove("hidden");
        }
        assert!(listed(old_server).is_ok());
    }

    #[test]
    fn hidden_values_are_hidden_even_when_null() -> Result<()> {
        let mut v = full();
        v["hidden"] = json!(true);
        v["masked"] = json!(true);
        v["value"] = Value::Null;
        let wanted = Attributes {
            masked: true,
            hidden: true,
            ..Attributes::default()
        };
        let entry = listed(v)?.entry(&wanted);
        assert_eq!(entry.value(), &RemoteValue::Hidden);
        assert_eq!(entry.state(), &EntryState::Writable);
        Ok(())
    }

    #[test]
    fn attribute_drift_is_named_and_visible_ones_are_re_created_hidden() -> Result<()> {
        let wanted = Attributes {
            protected: true,
            raw: true,
            ..Attributes::default()
        };
        let entry = listed(full())?.entry(&wanted);
        assert_eq!(
            entry.state().reason(),
            Some("protected, raw differ from the destinationConfig; written again")
        );
        let entry = listed(full())?.entry(&Attributes::default());
        assert_eq!(entry.state(), &EntryState::Writable);
        let hide = Attributes {
            masked: true,
            hidden: true,
            ..Attributes::default()
        };
        assert_eq!(
            listed(full())?.entry(&hide).state().reason(),
            Some(MUST_HIDE)
        );
        Ok(())
    }
}
