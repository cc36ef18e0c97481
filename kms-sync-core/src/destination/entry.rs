//! What a destination holds: [`Snapshot`]s of [`RemoteEntry`]s, each with a typed
//! [`EntryState`], and the set's [`Version`] where the service has one.

use std::borrow::Cow;
use std::fmt;

use crate::secret::SecretValue;

/// A value as the destination shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum RemoteValue {
    /// The service returned the value.
    Known(SecretValue),
    /// The service never returns this value (secured, secret, sensitive).
    Hidden,
}

impl fmt::Debug for RemoteValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteValue::Known(_) => f.write_str("Known([REDACTED])"),
            RemoteValue::Hidden => f.write_str("Hidden"),
        }
    }
}

/// Why an entry is in a state other than [`EntryState::Writable`], in words for plans and
/// reports. Never a value.
pub type Reason = Cow<'static, str>;

/// What kms-sync may do with an existing entry. `plan`, `remove` and `import` all read it.
///
/// ```
/// use kms_sync_core::EntryState;
/// let state = EntryState::protected("a non-sensitive variable of this name exists");
/// assert!(state.is_protected());
/// assert_eq!(state.reason(), Some("a non-sensitive variable of this name exists"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EntryState {
    /// May be updated in place and deleted.
    #[default]
    Writable,
    /// Must be rewritten even if its value is right, and the writer replaces it rather than
    /// updating it in place (a Bitbucket variable stored unsecured).
    MustReplace(Reason),
    /// Never written and never deleted by anything: a managed key on it is skipped with the
    /// reason (Octopus's non-sensitive variable of the same name and scope).
    Protected(Reason),
}

impl EntryState {
    /// [`EntryState::MustReplace`] with a reason.
    pub fn must_replace(reason: impl Into<Reason>) -> Self {
        EntryState::MustReplace(reason.into())
    }

    /// [`EntryState::Protected`] with a reason.
    pub fn protected(reason: impl Into<Reason>) -> Self {
        EntryState::Protected(reason.into())
    }

    /// Whether the entry is protected.
    pub fn is_protected(&self) -> bool {
        matches!(self, EntryState::Protected(_))
    }

    /// Whether the entry must be replaced.
    pub fn must_be_replaced(&self) -> bool {
        matches!(self, EntryState::MustReplace(_))
    }

    /// The reason, for states that have one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            EntryState::Writable => None,
            EntryState::MustReplace(r) | EntryState::Protected(r) => Some(r),
        }
    }
}

/// One entry at the destination.
///
/// ```
/// use kms_sync_core::{EntryState, RemoteEntry, RemoteValue};
/// let e = RemoteEntry::new("API_KEY", RemoteValue::Hidden)
///     .with_id("{1234}")
///     .with_state(EntryState::must_replace("stored unsecured"));
/// assert_eq!(e.id(), Some("{1234}"));
/// assert!(e.state().must_be_replaced());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    key: String,
    id: Option<String>,
    value: RemoteValue,
    state: EntryState,
}

impl RemoteEntry {
    /// A writable entry with a key and a value.
    pub fn new(key: impl Into<String>, value: RemoteValue) -> Self {
        RemoteEntry {
            key: key.into(),
            id: None,
            value,
            state: EntryState::Writable,
        }
    }

    /// The destination's id for the entry (uuid, Octopus `Id`).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The entry's state.
    pub fn with_state(mut self, state: EntryState) -> Self {
        self.state = state;
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The destination id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The value as read.
    pub fn value(&self) -> &RemoteValue {
        &self.value
    }
    /// What kms-sync may do with it.
    pub fn state(&self) -> &EntryState {
        &self.state
    }
}

/// The version of a whole set as listed (Octopus's `Version`, or a digest of a list the
/// service does not version). A batch write carries it as its precondition.
///
/// ```
/// use kms_sync_core::Version;
/// let v = Version::new("7");
/// assert_eq!(v.as_str(), "7");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(String);

impl Version {
    /// A version from the service's representation.
    pub fn new(version: impl Into<String>) -> Self {
        Version(version.into())
    }

    /// The representation.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a destination holds in scope, read completely (never a partial list).
///
/// ```
/// use kms_sync_core::{RemoteEntry, RemoteValue, Snapshot, Version};
/// let snap = Snapshot::new(vec![RemoteEntry::new("A", RemoteValue::Hidden)]).with_version(Version::new("7"));
/// assert_eq!(snap.len(), 1);
/// assert_eq!(snap.version().map(Version::as_str), Some("7"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    entries: Vec<RemoteEntry>,
    version: Option<Version>,
}

impl Snapshot {
    /// A snapshot of these entries.
    pub fn new(entries: Vec<RemoteEntry>) -> Self {
        Snapshot {
            entries,
            version: None,
        }
    }

    /// The version of the whole set, handed back to the batch writer as its precondition.
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = Some(version);
        self
    }

    /// The entries.
    pub fn entries(&self) -> &[RemoteEntry] {
        &self.entries
    }

    /// The entry of a key (exact match).
    pub fn get(&self, key: &str) -> Option<&RemoteEntry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The version, if the destination has one.
    pub fn version(&self) -> Option<&Version> {
        self.version.as_ref()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
