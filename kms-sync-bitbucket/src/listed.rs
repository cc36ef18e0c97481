//! A variable as a list answered it, read strictly: a variable without its `uuid` (updates
//! and deletes address it by uuid), its `key`, its `secured` flag, or — stored unsecured —
//! its `value` is an incomplete read, never a guess.

use kms_sync_core::{EntryState, Error, ErrorKind, RemoteEntry, RemoteValue, Result, SecretValue};
use serde::Deserialize;

/// Why an unsecured variable under a key is listed as [`EntryState::MustReplace`].
pub(crate) const UNSECURED: &str = "stored unsecured; re-created as secured";

/// A listed variable as it came, every field optional only so that a missing one can be named.
#[derive(Deserialize)]
pub(crate) struct ListedVariable {
    uuid: Option<String>,
    key: Option<String>,
    value: Option<String>,
    secured: Option<bool>,
}

/// A listed variable with everything a write needs of it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub uuid: String,
    pub key: String,
    /// The value of a variable stored unsecured, held as a `SecretValue` from the moment it
    /// is read (its `Debug` shows no value); `None` when secured (never readable).
    pub value: Option<SecretValue>,
    pub secured: bool,
}

impl ListedVariable {
    /// The complete variable, or an [`IncompleteRead`](ErrorKind::IncompleteRead) naming the
    /// missing field (and the key, when there is one); never a value.
    pub fn complete(self) -> Result<Listed> {
        let Some(key) = self.key.filter(|k| !k.is_empty()) else {
            return Err(incomplete("a variable without its `key`", None));
        };
        let Some(uuid) = self.uuid.filter(|u| !u.trim().is_empty()) else {
            return Err(incomplete(
                &format!("variable `{key}` without its `uuid`"),
                Some(&key),
            ));
        };
        let Some(secured) = self.secured else {
            let what = format!("variable `{key}` without its `secured` flag");
            return Err(incomplete(&what, Some(&key)));
        };
        if !secured && self.value.is_none() {
            let what = format!("unsecured variable `{key}` without its `value`");
            return Err(incomplete(&what, Some(&key)));
        }
        Ok(Listed {
            uuid,
            key,
            value: self.value.map(SecretValue::new).filter(|_| !secured),
            secured,
        })
    }
}

impl Listed {
    /// The entry: secured values hidden; an unsecured variable known, to be re-created
    /// secured.
    pub fn entry(self) -> RemoteEntry {
        match self.value {
            Some(value) if !self.secured => RemoteEntry::new(self.key, RemoteValue::Known(value))
                .with_id(self.uuid)
                .with_state(EntryState::must_replace(UNSECURED)),
            _ => RemoteEntry::new(self.key, RemoteValue::Hidden).with_id(self.uuid),
        }
    }
}

fn incomplete(what: &str, key: Option<&str>) -> Error {
    let err = Error::new(
        ErrorKind::IncompleteRead,
        format!(
            "Bitbucket's variable list has {what}; refusing to plan or write from an incomplete read, so nothing was written"
        ),
    );
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// A page's `values`, or an [`IncompleteRead`](ErrorKind::IncompleteRead) naming the field:
/// a page without them is not an empty page.
pub(crate) fn page_values<T>(values: Option<Vec<T>>, what: &str) -> Result<Vec<T>> {
    values.ok_or_else(|| {
        Error::new(
            ErrorKind::IncompleteRead,
            format!(
                "Bitbucket answered a page of {what} without its `values` list; refusing to read it as empty, so nothing was written"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn listed(raw: serde_json::Value) -> Result<Listed> {
        serde_json::from_value::<ListedVariable>(raw)
            .map_err(|e| Error::unexpected(e.to_string()))?
            .complete()
    }

    #[test]
    fn each_missing_field_is_named() {
        for (raw, field) in [
            (json!({"uuid": "{1}", "secured": true}), "`key`"),
            (json!({"key": "A", "secured": true}), "`uuid`"),
            (json!({"uuid": "{1}", "key": "A"}), "`secured`"),
            (
                json!({"uuid": "{1}", "key": "A", "secured": false}),
                "`value`",
            ),
        ] {
            let err = listed(raw.clone()).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{raw}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn secured_values_are_hidden_and_unsecured_ones_replaced() -> Result<()> {
        let secured = listed(json!({"uuid": "{1}", "key": "S", "secured": true}))?.entry();
        assert_eq!(secured.value(), &RemoteValue::Hidden);
        assert_eq!(secured.id(), Some("{1}"));
        let plain = listed(json!({"uuid": "{2}", "key": "P", "value": "", "secured": false}))?;
        assert!(plain.entry().state().must_be_replaced());
        Ok(())
    }
}
