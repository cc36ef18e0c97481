//! A variable set read strictly. The PUT that follows a read sends every variable back, so a
//! variable without its `Id` (Octopus would create it anew, and a sensitive one would lose its
//! value), without its `Name`, or non-sensitive without its `Value` makes the read
//! incomplete: refused before anything is planned or written.

use kms_sync_core::{Error, ErrorKind, Result};

use crate::model::{Variable, VariableSet};

/// The first field a variable lacks that its return trip needs.
fn missing_field(variable: &Variable) -> Option<&'static str> {
    if variable.id().is_none_or(str::is_empty) {
        Some("Id")
    } else if variable.name().is_none() {
        Some("Name")
    } else if !variable.is_sensitive() && variable.value.is_absent() {
        Some("Value")
    } else {
        None
    }
}

/// Refuses set `set_id` when one of its variables — ours or anyone's — lacks its `Id`, its
/// `Name`, or (non-sensitive) its `Value`.
///
/// # Errors
///
/// [`IncompleteRead`](ErrorKind::IncompleteRead) naming the field, the variable (by name,
/// or by position when it has none) and the set; never a value.
pub(crate) fn check_complete(set_id: &str, set: &VariableSet) -> Result<()> {
    for (index, variable) in set.variables.iter().enumerate() {
        let Some(field) = missing_field(variable) else {
            continue;
        };
        let which = variable
            .name()
            .map_or_else(|| format!("#{index}"), |name| format!("`{name}`"));
        let err = Error::new(
            ErrorKind::IncompleteRead,
            format!(
                "variable set {set_id} lists variable {which} without its `{field}`; the PUT that \
                 follows sends every variable back, and this one would not survive it, so \
                 nothing was written"
            ),
        );
        return Err(match variable.name() {
            Some(name) => err.with_key(name),
            None => err,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(variables: serde_json::Value) -> Result<VariableSet> {
        VariableSet::from_json(json!({"Version": 1, "Variables": variables}))
    }

    #[test]
    fn each_missing_field_is_named() -> Result<()> {
        for (variables, field) in [
            (
                json!([{"Name": "A", "Value": null, "IsSensitive": true}]),
                "`Id`",
            ),
            (json!([{"Id": "", "Name": "A", "Value": "x"}]), "`Id`"),
            (json!([{"Id": "v1", "Value": "x"}]), "`Name`"),
            (
                json!([{"Id": "v1", "Name": "A", "IsSensitive": false}]),
                "`Value`",
            ),
        ] {
            let err = check_complete("variableset-Projects-1", &set(variables.clone())?)
                .expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{variables}");
            let shown = err.to_string();
            assert!(
                shown.contains(field) && shown.contains("variableset-Projects-1"),
                "{shown}"
            );
        }
        Ok(())
    }

    #[test]
    fn complete_sets_pass_with_hidden_and_null_values() -> Result<()> {
        let variables = json!([
            {"Id": "v1", "Name": "S", "Type": "Sensitive", "IsSensitive": true},
            {"Id": "v2", "Name": "P", "Value": null, "IsSensitive": false},
        ]);
        check_complete("s", &set(variables)?)
    }
}
