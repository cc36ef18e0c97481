//! What to change ([`Change`]) and what a writer reports back when the service confirmed it
//! ([`Applied`]).

use std::fmt;

use serde::Serialize;

use super::entry::RemoteEntry;
use crate::error::{Error, Result};
use crate::secret::SecretValue;

/// What to do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Write a key that does not exist.
    Create,
    /// Overwrite an existing key.
    Update,
    /// Remove a key.
    Delete,
}

impl ChangeKind {
    /// Create and Update write; Delete removes.
    pub fn is_write(self) -> bool {
        !matches!(self, ChangeKind::Delete)
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        })
    }
}

/// One change to apply at the destination.
///
/// `value` is set for creates and updates; `current` is the snapshot entry the plan saw
/// (for updates and deletes), with its id and [`EntryState`](crate::EntryState).
///
/// ```
/// use kms_sync_core::{Change, ChangeKind, SecretValue};
/// let change = Change::create("API_KEY", SecretValue::new("v"));
/// assert_eq!(change.kind, ChangeKind::Create);
/// assert!(change.value_or_error().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Create, update or delete.
    pub kind: ChangeKind,
    /// The destination key.
    pub key: String,
    /// The value to write (creates and updates).
    pub value: Option<SecretValue>,
    /// The entry as listed (updates and deletes).
    pub current: Option<RemoteEntry>,
}

impl Change {
    /// A create of `key` with `value`.
    pub fn create(key: impl Into<String>, value: SecretValue) -> Self {
        Change {
            kind: ChangeKind::Create,
            key: key.into(),
            value: Some(value),
            current: None,
        }
    }

    /// An update of `current` to `value`.
    pub fn update(current: RemoteEntry, value: SecretValue) -> Self {
        Change {
            kind: ChangeKind::Update,
            key: current.key().to_owned(),
            value: Some(value),
            current: Some(current),
        }
    }

    /// A delete of `current`.
    pub fn delete(current: RemoteEntry) -> Self {
        Change {
            kind: ChangeKind::Delete,
            key: current.key().to_owned(),
            value: None,
            current: Some(current),
        }
    }

    /// The value to write, or an error naming the key (a create or update without one).
    pub fn value_or_error(&self) -> Result<&SecretValue> {
        self.value.as_ref().ok_or_else(|| {
            Error::unexpected(format!("{} without a value", self.kind)).with_key(&self.key)
        })
    }

    /// The listed entry's id, or an error naming the key (an update or delete of an entry
    /// the service listed without one).
    pub fn current_id(&self) -> Result<&str> {
        self.current
            .as_ref()
            .and_then(RemoteEntry::id)
            .ok_or_else(|| {
                Error::unexpected(format!("{} of an entry listed without an id", self.kind))
                    .with_key(&self.key)
            })
    }
}

/// What a writer returns for a change the service confirmed: the entry's id (for the
/// ledger) and an optional note for the report. Return it only when the service's answer
/// was read and says the change is done; an answer that cannot be read is an
/// [`Unconfirmed`](crate::ErrorKind::Unconfirmed) error.
///
/// ```
/// use kms_sync_core::Applied;
/// let applied = Applied::with_id("{uuid}").noted("re-created as secured");
/// assert_eq!(applied.id.as_deref(), Some("{uuid}"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The destination id of the entry written (for the ledger).
    pub id: Option<String>,
    /// Something the report should say, e.g. "re-created as secured".
    pub note: Option<String>,
}

impl Applied {
    /// Success with the entry's id.
    pub fn with_id(id: impl Into<String>) -> Self {
        Applied {
            id: Some(id.into()),
            note: None,
        }
    }

    /// Adds a note for the report.
    pub fn noted(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}
