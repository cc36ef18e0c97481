//! What a destination says about itself: [`DestinationInfo`] and its [`Capabilities`], plain
//! declarative data the engine reads.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::identity::DestinationIdentity;

/// A request budget: `requests` per `per`, as a service documents it.
///
/// ```
/// use kms_sync_core::RateBudget;
/// use std::time::Duration;
/// let checkly = RateBudget::new(600, Duration::from_secs(60));
/// assert_eq!(checkly.requests(), 600);
/// assert_eq!(checkly.time_for(1_200), Duration::from_secs(120));
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

    /// How long `count` requests take when sent at exactly this budget's pace.
    pub fn time_for(&self, count: usize) -> Duration {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.per.saturating_mul(count) / self.requests
    }
}

/// What a destination can do: only what the engine reads. Built with [`Capabilities::new`]
/// and `with_*` setters:
///
/// ```
/// use kms_sync_core::Capabilities;
/// let caps = Capabilities::new()
///     .with_values_readable(false)
///     .with_default_concurrency(8);
/// assert!(!caps.values_readable());
/// assert_eq!(caps.default_concurrency(), 8);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Capabilities {
    values_readable: bool,
    import: bool,
    rate_budget: Option<RateBudget>,
    default_concurrency: usize,
    replaces_whole_set: bool,
    entry_ids_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_entries: Option<usize>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::new()
    }
}

impl Capabilities {
    /// Defaults: values hidden on read, no import, no documented budget, concurrency 4, each
    /// write touching only its own entries.
    pub fn new() -> Self {
        Capabilities {
            values_readable: false,
            import: false,
            rate_budget: None,
            default_concurrency: 4,
            replaces_whole_set: false,
            entry_ids_required: false,
            max_entries: None,
        }
    }

    /// Whether one write replaces every entry, so values that cannot be read back must be
    /// sent again (a Checkly group's `environmentVariables`). When set, a plan with any change
    /// also rewrites the managed keys whose values are hidden: same single write, nothing lost.
    pub fn with_replaces_whole_set(mut self, replaces: bool) -> Self {
        self.replaces_whole_set = replaces;
        self
    }

    /// Whether every listed entry must carry the destination's id for it
    /// ([`RemoteEntry::id`](crate::RemoteEntry::id)): set by a destination whose writes
    /// address an entry by its id (an Octopus variable's `Id`, a Bitbucket variable's
    /// `uuid`). The engine checks every entry right after `list` and refuses the whole
    /// operation, before any write, with an [`IncompleteRead`](crate::ErrorKind::IncompleteRead)
    /// error naming the first key without one: a write built without the id would create a
    /// second entry or lose the value of the one it meant.
    ///
    /// ```
    /// use kms_sync_core::Capabilities;
    /// assert!(Capabilities::new().with_entry_ids_required(true).entry_ids_required());
    /// assert!(!Capabilities::new().entry_ids_required());
    /// ```
    pub fn with_entry_ids_required(mut self, required: bool) -> Self {
        self.entry_ids_required = required;
        self
    }

    /// How many entries the scope may hold (GitHub: 100 secrets per repository). The plan
    /// counts what the scope holds plus its creates — the engine writes every create before
    /// any delete — and refuses a plan past the limit before any write, with a
    /// [`Config`](crate::ErrorKind::Config) error naming the limit and the counts. Default: none.
    ///
    /// ```
    /// use kms_sync_core::Capabilities;
    /// assert_eq!(Capabilities::new().with_max_entries(100).max_entries(), Some(100));
    /// assert_eq!(Capabilities::new().max_entries(), None);
    /// ```
    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = Some(max);
        self
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

    /// The service's documented request budget (the engine's default deadline grows with it).
    pub fn with_rate_budget(mut self, budget: RateBudget) -> Self {
        self.rate_budget = Some(budget);
        self
    }

    /// A sane number of concurrent per-key writes (at least 1).
    pub fn with_default_concurrency(mut self, concurrency: usize) -> Self {
        self.default_concurrency = concurrency.max(1);
        self
    }

    /// Whether one write replaces every entry (see [`with_replaces_whole_set`](Self::with_replaces_whole_set)).
    pub fn replaces_whole_set(&self) -> bool {
        self.replaces_whole_set
    }
    /// Whether every listed entry must carry an id (see
    /// [`with_entry_ids_required`](Self::with_entry_ids_required)).
    pub fn entry_ids_required(&self) -> bool {
        self.entry_ids_required
    }
    /// The count limit, if any (see [`with_max_entries`](Self::with_max_entries)).
    pub fn max_entries(&self) -> Option<usize> {
        self.max_entries
    }
    /// Whether values can be read back.
    pub fn values_readable(&self) -> bool {
        self.values_readable
    }
    /// Whether import is supported.
    pub fn import(&self) -> bool {
        self.import
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
/// use kms_sync_core::{Capabilities, DestinationIdentity, DestinationInfo};
/// let info = DestinationInfo::new("bitbucket", "acme/api", Capabilities::new());
/// assert_eq!(info.to_string(), "bitbucket:acme/api");
/// // Without an identity of its own, a destination is identified by its kind and target.
/// assert_eq!(info.identity.to_string(), "bitbucket:target=acme/api");
/// let info = info.with_identity(
///     DestinationIdentity::new("bitbucket").with("workspace", "acme").with("repository", "api"),
/// );
/// assert_eq!(info.identity.to_string(), "bitbucket:workspace=acme,repository=api");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DestinationInfo {
    /// The service kind, e.g. `bitbucket` (the KMS's `destination` value).
    pub kind: String,
    /// Where in the service, e.g. `workspace/repo[/environment]`.
    pub target: String,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Which scope of which service this is, value-free: what a ledger is bound to.
    pub identity: DestinationIdentity,
}

impl DestinationInfo {
    /// A new description, identified by `kind` and `target` until
    /// [`with_identity`](Self::with_identity) says more precisely.
    pub fn new(
        kind: impl Into<String>,
        target: impl Into<String>,
        capabilities: Capabilities,
    ) -> Self {
        let kind = kind.into();
        let target = target.into();
        DestinationInfo {
            identity: DestinationIdentity::new(kind.clone()).with("target", target.clone()),
            kind,
            target,
            capabilities,
        }
    }

    /// The destination's identity: its kind and every field that picks its scope (see
    /// [`DestinationIdentity`]).
    pub fn with_identity(mut self, identity: DestinationIdentity) -> Self {
        self.identity = identity;
        self
    }
}

impl fmt::Display for DestinationInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.target)
    }
}
