//! The destination contract: what a service can do ([`Capabilities`]), what it holds
//! ([`Snapshot`]), what to change ([`Change`]) and what happened ([`Outcome`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::SecretValue;
use crate::stats::RequestStats;

/// How a destination writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteMode {
    /// One request per key (Bitbucket variables, Checkly account variables).
    PerKey,
    /// One write replaces the whole set (Octopus variable set, Checkly group); it succeeds
    /// or fails whole.
    Batch,
}

/// A request budget: `requests` per `per`, as a service documents it.
///
/// ```
/// use kms_sync_core::RateBudget;
/// use std::time::Duration;
/// let checkly = RateBudget::new(600, Duration::from_secs(60));
/// assert_eq!(checkly.requests(), 600);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateBudget {
    requests: u32,
    #[serde(with = "duration_secs")]
    per: Duration,
}

mod duration_secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl RateBudget {
    /// `requests` per `per`. A zero count or window is clamped to one request per second, so
    /// a budget can always make progress.
    pub fn new(requests: u32, per: Duration) -> Self {
        if requests == 0 || per.is_zero() {
            return RateBudget {
                requests: 1,
                per: Duration::from_secs(1),
            };
        }
        RateBudget { requests, per }
    }

    /// Requests allowed per window.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The window.
    pub fn per(&self) -> Duration {
        self.per
    }
}

/// What a destination can do, so the engine and the conformance suite know what to expect.
///
/// Built with [`Capabilities::new`] and `with_*` setters:
///
/// ```
/// use kms_sync_core::{Capabilities, WriteMode};
/// let caps = Capabilities::new(WriteMode::PerKey)
///     .with_values_readable(false)
///     .with_case_insensitive_keys(true)
///     .with_key_rule("letters, digits and _, not starting with a digit")
///     .with_default_concurrency(8);
/// assert!(!caps.values_readable());
/// assert_eq!(caps.default_concurrency(), 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    write_mode: WriteMode,
    values_readable: bool,
    import: bool,
    case_insensitive_keys: bool,
    key_rule: String,
    value_rule: String,
    rate_budget: Option<RateBudget>,
    default_concurrency: usize,
    replaces_whole_set: bool,
}

impl Capabilities {
    /// Defaults: values hidden on read, no import, case-sensitive keys, no documented
    /// budget, concurrency 4.
    pub fn new(write_mode: WriteMode) -> Self {
        Capabilities {
            write_mode,
            values_readable: false,
            import: false,
            case_insensitive_keys: false,
            key_rule: "any non-empty key".to_owned(),
            value_rule: "any value".to_owned(),
            rate_budget: None,
            default_concurrency: 4,
            replaces_whole_set: false,
        }
    }

    /// Whether one write replaces every entry and values that cannot be read back must be
    /// sent again (a Checkly group's `environmentVariables`). When set, a plan with any change
    /// also rewrites the managed keys whose values are hidden: same single write, nothing lost.
    pub fn with_replaces_whole_set(mut self, replaces: bool) -> Self {
        self.replaces_whole_set = replaces;
        self
    }

    /// Whether one write replaces every entry (see [`with_replaces_whole_set`](Self::with_replaces_whole_set)).
    pub fn replaces_whole_set(&self) -> bool {
        self.replaces_whole_set
    }

    /// Whether values can be read back (`RemoteValue::Known`).
    pub fn with_values_readable(mut self, readable: bool) -> Self {
        self.values_readable = readable;
        self
    }

    /// Whether import from the destination is supported (needs readable values).
    pub fn with_import(mut self, import: bool) -> Self {
        self.import = import;
        self
    }

    /// Whether two keys that differ only in case are the same key at this destination.
    pub fn with_case_insensitive_keys(mut self, insensitive: bool) -> Self {
        self.case_insensitive_keys = insensitive;
        self
    }

    /// A human description of the key rule (shown in errors and docs).
    pub fn with_key_rule(mut self, rule: impl Into<String>) -> Self {
        self.key_rule = rule.into();
        self
    }

    /// A human description of the value rule.
    pub fn with_value_rule(mut self, rule: impl Into<String>) -> Self {
        self.value_rule = rule.into();
        self
    }

    /// The service's documented request budget.
    pub fn with_rate_budget(mut self, budget: RateBudget) -> Self {
        self.rate_budget = Some(budget);
        self
    }

    /// A sane number of concurrent requests (at least 1).
    pub fn with_default_concurrency(mut self, concurrency: usize) -> Self {
        self.default_concurrency = concurrency.max(1);
        self
    }

    /// Per-key or batch writes.
    pub fn write_mode(&self) -> WriteMode {
        self.write_mode
    }
    /// Whether values can be read back.
    pub fn values_readable(&self) -> bool {
        self.values_readable
    }
    /// Whether import is supported.
    pub fn import(&self) -> bool {
        self.import
    }
    /// Whether keys compare case-insensitively.
    pub fn case_insensitive_keys(&self) -> bool {
        self.case_insensitive_keys
    }
    /// The key rule, in words.
    pub fn key_rule(&self) -> &str {
        &self.key_rule
    }
    /// The value rule, in words.
    pub fn value_rule(&self) -> &str {
        &self.value_rule
    }
    /// The documented budget, if any.
    pub fn rate_budget(&self) -> Option<RateBudget> {
        self.rate_budget
    }
    /// The default concurrency.
    pub fn default_concurrency(&self) -> usize {
        self.default_concurrency
    }
}

/// Which destination this is and what it can do.
///
/// ```
/// use kms_sync_core::{Capabilities, DestinationInfo, WriteMode};
/// let info = DestinationInfo::new("bitbucket", "acme/api", Capabilities::new(WriteMode::PerKey));
/// assert_eq!(info.to_string(), "bitbucket:acme/api");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationInfo {
    /// The service kind, e.g. `bitbucket` (the KMS's `destination` value).
    pub kind: String,
    /// Where in the service, e.g. `workspace/repo[/environment]`.
    pub target: String,
    /// What it can do.
    pub capabilities: Capabilities,
}

impl DestinationInfo {
    /// A new description.
    pub fn new(
        kind: impl Into<String>,
        target: impl Into<String>,
        capabilities: Capabilities,
    ) -> Self {
        DestinationInfo {
            kind: kind.into(),
            target: target.into(),
            capabilities,
        }
    }
}

impl fmt::Display for DestinationInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.target)
    }
}

/// The result of checking one key (or value) against a destination's rules.
///
/// ```
/// use kms_sync_core::Verdict;
/// assert!(Verdict::Valid.is_valid());
/// assert!(Verdict::Warn("overrides a built-in variable".into()).is_valid());
/// assert!(!Verdict::Invalid("starts with a digit".into()).is_valid());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Acceptable.
    Valid,
    /// Acceptable, but the plan carries a warning with this text.
    Warn(String),
    /// Not acceptable; the text says why. The whole sync is refused before any write.
    Invalid(String),
}

impl Verdict {
    /// `Valid` or `Warn`.
    pub fn is_valid(&self) -> bool {
        !matches!(self, Verdict::Invalid(_))
    }
}

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

/// One entry at the destination.
///
/// ```
/// use kms_sync_core::{RemoteEntry, RemoteValue};
/// let e = RemoteEntry::new("API_KEY", RemoteValue::Hidden).with_id("{1234}");
/// assert_eq!(e.id(), Some("{1234}"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    key: String,
    id: Option<String>,
    value: RemoteValue,
    attributes: BTreeMap<String, String>,
    blocked: Option<String>,
    rewrite: Option<String>,
}

impl RemoteEntry {
    /// An entry with a key and a value.
    pub fn new(key: impl Into<String>, value: RemoteValue) -> Self {
        RemoteEntry {
            key: key.into(),
            id: None,
            value,
            attributes: BTreeMap::new(),
            blocked: None,
            rewrite: None,
        }
    }

    /// The destination's id for the entry (uuid, Octopus `Id`).
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Non-secret metadata a destination wants back at apply time (scope, type, flags).
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Marks the entry as one kms-sync must not replace, with the reason. A managed key whose
    /// entry is blocked appears in the plan as skipped with this reason (a conflict named in
    /// the plan, never a silent duplicate).
    pub fn with_blocked(mut self, reason: impl Into<String>) -> Self {
        self.blocked = Some(reason.into());
        self
    }

    /// Marks the entry as needing a rewrite even when its value is right (e.g. a Bitbucket
    /// variable stored unsecured under a managed key). A managed key whose entry carries this
    /// is planned as an update with the reason.
    pub fn with_rewrite(mut self, reason: impl Into<String>) -> Self {
        self.rewrite = Some(reason.into());
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// Why the entry must be rewritten whatever its value, if so.
    pub fn rewrite(&self) -> Option<&str> {
        self.rewrite.as_deref()
    }
    /// The destination id.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The value as read.
    pub fn value(&self) -> &RemoteValue {
        &self.value
    }
    /// A metadata attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
    /// All metadata attributes.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.attributes
    }
    /// Why the entry must not be replaced, if so.
    pub fn blocked(&self) -> Option<&str> {
        self.blocked.as_deref()
    }
}

/// Everything a destination holds in scope, read completely (never a partial list).
///
/// ```
/// use kms_sync_core::{RemoteEntry, RemoteValue, Snapshot};
/// let snap = Snapshot::new(vec![RemoteEntry::new("A", RemoteValue::Hidden)]).with_version("7");
/// assert_eq!(snap.len(), 1);
/// assert_eq!(snap.version(), Some("7"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    entries: Vec<RemoteEntry>,
    version: Option<String>,
}

impl Snapshot {
    /// A snapshot of these entries.
    pub fn new(entries: Vec<RemoteEntry>) -> Self {
        Snapshot {
            entries,
            version: None,
        }
    }

    /// The destination's version of the whole set (Octopus `Version`), checked at apply time.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
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
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
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
/// (for updates and deletes), with its id, attributes and whether its value was hidden.
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
            key: current.key.clone(),
            value: Some(value),
            current: Some(current),
        }
    }

    /// A delete of `current`.
    pub fn delete(current: RemoteEntry) -> Self {
        Change {
            kind: ChangeKind::Delete,
            key: current.key.clone(),
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
}

/// What a destination did with a change that succeeded.
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

/// The result of one change.
#[derive(Debug, Clone)]
pub enum OutcomeStatus {
    /// Done.
    Applied(Applied),
    /// Tried and failed.
    Failed(Error),
    /// Not tried; the reason says why (e.g. deletes held back after a failed write).
    Skipped(String),
}

/// One outcome per change, in the order of the changes.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The destination key.
    pub key: String,
    /// What was attempted.
    pub kind: ChangeKind,
    /// What happened.
    pub status: OutcomeStatus,
}

impl Outcome {
    /// The outcome of `change` from a result.
    pub fn of(change: &Change, result: Result<Applied>) -> Self {
        Outcome {
            key: change.key.clone(),
            kind: change.kind,
            status: match result {
                Ok(applied) => OutcomeStatus::Applied(applied),
                Err(err) => OutcomeStatus::Failed(err),
            },
        }
    }

    /// A skipped change.
    pub fn skipped(change: &Change, reason: impl Into<String>) -> Self {
        Outcome {
            key: change.key.clone(),
            kind: change.kind,
            status: OutcomeStatus::Skipped(reason.into()),
        }
    }

    /// Whether the change was applied.
    pub fn is_applied(&self) -> bool {
        matches!(self.status, OutcomeStatus::Applied(_))
    }
}

/// Settings the engine passes to [`Destination::apply`].
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// How many requests may run at once.
    pub concurrency: usize,
    /// The snapshot version the plan was made from (batch destinations re-check it).
    pub snapshot_version: Option<String>,
    /// Where to count finished changes ([`apply_each`](crate::apply_each) does it).
    pub progress: Option<std::sync::Arc<crate::progress::Progress>>,
}

impl ApplyContext {
    /// A context with a concurrency and no version.
    pub fn new(concurrency: usize) -> Self {
        ApplyContext {
            concurrency: concurrency.max(1),
            snapshot_version: None,
            progress: None,
        }
    }
}

/// A place secrets are synced to.
///
/// Implemented once per service (Bitbucket, Checkly, Octopus, [`MemoryDestination`](crate::MemoryDestination))
/// and used as `Arc<dyn Destination>`. Every method must be implemented; there are no
/// defaults to forget.
///
/// A per-key destination implements [`apply`](Destination::apply) with
/// [`apply_each`](crate::apply_each); a batch destination builds one write that contains every
/// change and reports the same outcome for each.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::{Destination, MemoryDestination};
/// let dest: Arc<dyn Destination> = Arc::new(MemoryDestination::builder().build());
/// assert_eq!(dest.info().kind, "memory");
/// ```
#[async_trait]
pub trait Destination: Send + Sync {
    /// Which destination this is and what it can do.
    fn info(&self) -> DestinationInfo;

    /// Checks a destination key against the service's naming rules. Pure.
    fn validate_key(&self, key: &str) -> Verdict;

    /// Checks a value against the service's value rules. Pure; must not format the value.
    fn validate_value(&self, value: &SecretValue) -> Verdict;

    /// Reads every entry in scope, all pages. A list that cannot be completed is an error.
    async fn list(&self) -> Result<Snapshot>;

    /// Applies changes: one outcome per change, in order, never fail-fast.
    async fn apply(&self, changes: &[Change], context: &ApplyContext) -> Vec<Outcome>;

    /// Requests made so far by this destination instance (for reports and benches).
    fn request_stats(&self) -> RequestStats;
}
