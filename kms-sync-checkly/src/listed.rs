//! A variable as a list answered it (account or check group), read strictly: a variable
//! without its `key`, or a non-secret one without its `value`, is an incomplete read — never
//! a key-less entry or an empty value, which a later write would send back or act on.

use kms_sync_core::{EntryState, Error, ErrorKind, RemoteEntry, RemoteValue, Result, SecretValue};
use serde_json::Value;

/// Why a non-secret variable under a managed key is rewritten even when its value is right.
pub(crate) const NOT_SECRET: &str = "stored as non-secret; rewritten as secret";

/// What kms-sync reads of one listed variable.
#[derive(Clone)]
pub(crate) struct Listed {
    pub key: String,
    /// The value, for a non-secret variable; `None` for a secret one (Checkly answers null).
    pub value: Option<String>,
    pub secret: bool,
}

impl Listed {
    /// Reads one variable of `scope` (e.g. `check group 12`, `the account's variables`).
    /// `secret` defaults to `false` where absent, as Checkly documents; a secret variable's
    /// value is never read.
    ///
    /// # Errors
    ///
    /// [`IncompleteRead`](ErrorKind::IncompleteRead) naming the field: a variable without a
    /// string `key`, or a non-secret one without a string `value`.
    pub fn from_json(raw: &Value, scope: &str) -> Result<Listed> {
        let Some(key) = raw.get("key").and_then(Value::as_str) else {
            return Err(incomplete(scope, "a variable without its `key`", None));
        };
        let secret = raw.get("secret").and_then(Value::as_bool).unwrap_or(false);
        if secret {
            return Ok(Listed {
                key: key.to_owned(),
                value: None,
                secret,
            });
        }
        let Some(value) = raw.get("value").and_then(Value::as_str) else {
            let what = format!("non-secret variable `{key}` without its `value`");
            return Err(incomplete(scope, &what, Some(key)));
        };
        Ok(Listed {
            key: key.to_owned(),
            value: Some(value.to_owned()),
            secret,
        })
    }

    /// The entry: a secret value hidden; a non-secret variable known and to be replaced
    /// (written again as secret).
    pub fn entry(self) -> RemoteEntry {
        let entry = match self.value {
            Some(value) if !self.secret => RemoteEntry::new(
                self.key.clone(),
                RemoteValue::Known(SecretValue::new(value)),
            )
            .with_state(EntryState::must_replace(NOT_SECRET)),
            _ => RemoteEntry::new(self.key.clone(), RemoteValue::Hidden),
        };
        entry.with_id(self.key)
    }
}

/// The error of a read that lacks something: names the field and the scope, never a value.
pub(crate) fn incomplete(scope: &str, what: &str, key: Option<&str>) -> Error {
    let err = Error::new(
        ErrorKind::IncompleteRead,
        format!(
            "Checkly's answer for {scope} has {what}; refusing to plan or write from an incomplete read, so nothing was written"
        ),
    );
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strict_about_key_and_non_secret_value() {
        let scope = "check group 7";
        for (raw, field) in [
            (json!({"value": "x"}), "`key`"),
            (json!({"key": "A", "secret": false}), "`value`"),
            (json!({"key": "A", "value": null}), "`value`"),
        ] {
            let err = Listed::from_json(&raw, scope).err().expect("refused");
            assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{raw}");
            let shown = err.to_string();
            assert!(shown.contains(field) && shown.contains(scope), "{shown}");
        }
    }

    #[test]
    fn secret_values_are_hidden_and_non_secret_ones_known() -> Result<()> {
        let secret = Listed::from_json(&json!({"key": "S", "value": null, "secret": true}), "g")?;
        assert_eq!(secret.entry().value(), &RemoteValue::Hidden);
        let plain = Listed::from_json(&json!({"key": "P", "value": "", "secret": false}), "g")?;
        let entry = plain.entry();
        assert!(entry.state().must_be_replaced());
        assert_eq!(entry.id(), Some("P"));
        assert!(matches!(entry.value(), RemoteValue::Known(_)));
        Ok(())
    }
}
