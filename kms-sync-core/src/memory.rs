//! The in-memory reference destination.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::destination::{
    Applied, BatchWriter, Capabilities, CaseRule, Change, ChangeKind, Destination,
    DestinationIdentity, DestinationInfo, KeyRule, KeyRules, PerKeyWriter, RemoteEntry,
    RemoteValue, Snapshot, StandardRules, Version, WriteMode, Writer,
};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretValue;
use crate::stats::{count_request, RequestCounter, RequestStats};

#[derive(Debug, Clone)]
struct Stored {
    id: String,
    value: SecretValue,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<String, Stored>,
    version: u64,
    next_id: u64,
    fail_writes: BTreeMap<String, ErrorKind>,
    fail_list: Option<ErrorKind>,
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("mem-{}", self.next_id)
    }
}

/// Builds a [`MemoryDestination`]. Defaults: readable values, per-key writes, page size 100,
/// [`KeyRule::Any`], case-sensitive keys, empty values allowed, concurrency 4.
#[derive(Debug, Clone)]
pub struct MemoryDestinationBuilder {
    kind: String,
    target: String,
    readable: bool,
    write_mode: WriteMode,
    page_size: usize,
    key_rule: KeyRule,
    case_insensitive: bool,
    reject_empty_values: bool,
    import: bool,
    concurrency: usize,
    replaces_whole_set: bool,
    identity: Option<DestinationIdentity>,
}

impl MemoryDestinationBuilder {
    /// The kind shown in plans (default `memory`).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }
    /// The target shown in plans (default `default`).
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }
    /// The identity a ledger is bound to (default `<kind>:name=<target>`, so
    /// `memory:name=default`). Two memory destinations of different identities never share
    /// a sync's ledger.
    ///
    /// ```
    /// use kms_sync_core::{DestinationIdentity, MemoryDestination, Destination};
    /// assert_eq!(MemoryDestination::builder().build().info().identity.to_string(), "memory:name=default");
    /// let other = MemoryDestination::builder()
    ///     .identity(DestinationIdentity::new("memory").with("name", "staging"))
    ///     .build();
    /// assert_eq!(other.info().identity.to_string(), "memory:name=staging");
    /// ```
    pub fn identity(mut self, identity: DestinationIdentity) -> Self {
        self.identity = Some(identity);
        self
    }
    /// Whether values are returned on list (`false`: hidden, like secured variables).
    pub fn readable_values(mut self, readable: bool) -> Self {
        self.readable = readable;
        self
    }
    /// Per-key or batch writes.
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = mode;
        self
    }
    /// Entries per list page (each page counts as one GET).
    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }
    /// The key rule.
    pub fn key_rule(mut self, rule: KeyRule) -> Self {
        self.key_rule = rule;
        self
    }
    /// Whether keys differing only in case are the same key.
    pub fn case_insensitive_keys(mut self, insensitive: bool) -> Self {
        self.case_insensitive = insensitive;
        self
    }
    /// Whether empty values are refused.
    pub fn reject_empty_values(mut self, reject: bool) -> Self {
        self.reject_empty_values = reject;
        self
    }
    /// Whether import is offered (needs readable values).
    pub fn import(mut self, import: bool) -> Self {
        self.import = import;
        self
    }
    /// Reports [`Capabilities::with_replaces_whole_set`], so plans for this destination re-send
    /// hidden values whenever anything changes (the map itself keeps every entry either way).
    pub fn replaces_whole_set(mut self, replaces: bool) -> Self {
        self.replaces_whole_set = replaces;
        self
    }
    /// The default concurrency.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }
    /// Builds the destination.
    pub fn build(self) -> MemoryDestination {
        let capabilities = Capabilities::new()
            .with_values_readable(self.readable)
            .with_import(self.import && self.readable)
            .with_default_concurrency(self.concurrency)
            .with_replaces_whole_set(self.replaces_whole_set);
        let mut rules = StandardRules::new(self.key_rule).case(if self.case_insensitive {
            CaseRule::Insensitive
        } else {
            CaseRule::Sensitive
        });
        if self.reject_empty_values {
            rules = rules.non_empty_values();
        }
        let identity = self.identity.unwrap_or_else(|| {
            DestinationIdentity::new(self.kind.clone()).with("name", self.target.clone())
        });
        MemoryDestination {
            info: DestinationInfo::new(self.kind, self.target, capabilities)
                .with_identity(identity),
            rules,
            write_mode: self.write_mode,
            page_size: self.page_size,
            state: Arc::new(Mutex::new(State::default())),
            requests: Arc::new(RequestCounter::default()),
        }
    }
}

/// The reference destination: a map in memory that can be set to behave like each real
/// kind — values readable or hidden, per-key or batch writes, a page size, a key rule —
/// and to fail chosen operations, so the engine's failure paths are testable without HTTP.
///
/// It counts requests as a service would: one GET per list page, one POST / PUT / DELETE
/// per per-key change, one PUT per batch, both in its own log ([`requests`](Self::requests))
/// and against the run that makes them. A batch write checks the snapshot version the plan
/// was made from and fails whole with a [`Conflict`](ErrorKind::Conflict) if another writer
/// came first. Clones share state.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::*;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dest = Arc::new(MemoryDestination::builder().readable_values(false).build());
/// let syncer = Syncer::builder()
///     .source(Arc::new(StaticSource::new(SecretSet::new("dev").with("A", "1"))))
///     .destination(dest.clone())
///     .build()?;
/// syncer.sync().await?;
/// assert_eq!(dest.value("A")?.map(|v| v.expose_secret().to_owned()).as_deref(), Some("1"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryDestination {
    info: DestinationInfo,
    rules: StandardRules,
    write_mode: WriteMode,
    page_size: usize,
    state: Arc<Mutex<State>>,
    requests: Arc<RequestCounter>,
}

impl MemoryDestination {
    /// A builder with the defaults.
    pub fn builder() -> MemoryDestinationBuilder {
        MemoryDestinationBuilder {
            kind: "memory".to_owned(),
            target: "default".to_owned(),
            readable: true,
            write_mode: WriteMode::PerKey,
            page_size: 100,
            key_rule: KeyRule::Any,
            case_insensitive: false,
            reject_empty_values: false,
            import: false,
            concurrency: 4,
            replaces_whole_set: false,
            identity: None,
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::unexpected("memory destination lock poisoned"))
    }

    /// Puts an entry directly, as someone else writing to the service would (not counted).
    pub fn insert(&self, key: impl Into<String>, value: impl Into<SecretValue>) -> Result<()> {
        let mut state = self.lock()?;
        let id = state.new_id();
        state.entries.insert(
            key.into(),
            Stored {
                id,
                value: value.into(),
            },
        );
        state.version += 1;
        Ok(())
    }

    /// Removes an entry directly (not counted).
    pub fn remove(&self, key: &str) -> Result<()> {
        let mut state = self.lock()?;
        state.entries.remove(key);
        state.version += 1;
        Ok(())
    }

    /// The true value of a key, hidden or not.
    pub fn value(&self, key: &str) -> Result<Option<SecretValue>> {
        Ok(self.lock()?.entries.get(key).map(|s| s.value.clone()))
    }

    /// Every key and its true value.
    pub fn contents(&self) -> Result<BTreeMap<String, SecretValue>> {
        Ok(self
            .lock()?
            .entries
            .iter()
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect())
    }

    /// Makes every later write (create, update, delete, or a batch containing it) of `key`
    /// fail with `kind`.
    pub fn fail_writes_to(&self, key: impl Into<String>, kind: ErrorKind) -> Result<()> {
        self.lock()?.fail_writes.insert(key.into(), kind);
        Ok(())
    }

    /// Makes every later list fail with `kind` (`None` to stop).
    pub fn fail_list(&self, kind: Option<ErrorKind>) -> Result<()> {
        self.lock()?.fail_list = kind;
        Ok(())
    }

    /// Stops every injected failure.
    pub fn clear_failures(&self) -> Result<()> {
        let mut state = self.lock()?;
        state.fail_writes.clear();
        state.fail_list = None;
        Ok(())
    }

    /// The current version of the whole set (bumped by every change).
    pub fn version(&self) -> Result<u64> {
        Ok(self.lock()?.version)
    }

    /// Every request this destination's "service" received, from any run (its request log).
    pub fn requests(&self) -> RequestStats {
        self.requests.snapshot()
    }

    fn count(&self, method: &str) {
        self.requests.record(method);
        count_request(method);
    }

    fn same_key(&self, a: &str, b: &str) -> bool {
        if self.rules.case_rule() == CaseRule::Insensitive {
            a.to_lowercase() == b.to_lowercase()
        } else {
            a == b
        }
    }

    fn injected(&self, state: &State, change: &Change) -> Option<Error> {
        state.fail_writes.get(&change.key).map(|kind| {
            Error::new(*kind, format!("injected failure on {}", change.kind))
                .with_key(&change.key)
                .with_destination(self.info.to_string())
        })
    }

    fn apply_one(&self, state: &mut State, change: &Change) -> Result<Applied> {
        if let Some(err) = self.injected(state, change) {
            return Err(err);
        }
        let dest = self.info.to_string();
        match change.kind {
            ChangeKind::Create => {
                if state.entries.keys().any(|k| self.same_key(k, &change.key)) {
                    return Err(Error::new(ErrorKind::Conflict, "the key already exists")
                        .with_key(&change.key)
                        .with_destination(dest));
                }
                let value = change.value_or_error()?.clone();
                let id = state.new_id();
                state.entries.insert(
                    change.key.clone(),
                    Stored {
                        id: id.clone(),
                        value,
                    },
                );
                state.version += 1;
                Ok(Applied::with_id(id))
            }
            ChangeKind::Update => {
                let value = change.value_or_error()?.clone();
                let stored = state.entries.get_mut(&change.key).ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, "the key does not exist")
                        .with_key(&change.key)
                        .with_destination(dest)
                })?;
                stored.value = value;
                let id = stored.id.clone();
                state.version += 1;
                Ok(Applied::with_id(id))
            }
            ChangeKind::Delete => {
                if state.entries.remove(&change.key).is_none() {
                    return Err(Error::new(ErrorKind::NotFound, "the key does not exist")
                        .with_key(&change.key)
                        .with_destination(dest));
                }
                state.version += 1;
                Ok(Applied::default())
            }
        }
    }

    fn apply_batch(&self, changes: &[Change], expect: Option<&Version>) -> Result<Vec<Applied>> {
        self.count("PUT");
        let mut state = self.lock()?;
        if let Some(expected) = expect {
            if expected.as_str() != state.version.to_string() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    "the set changed since it was listed (version mismatch)",
                )
                .with_destination(self.info.to_string()));
            }
        }
        if let Some(err) = changes.iter().find_map(|c| self.injected(&state, c)) {
            return Err(err);
        }
        // Work on a copy so a failing change leaves the set as it was.
        let mut draft = State {
            entries: state.entries.clone(),
            version: state.version,
            next_id: state.next_id,
            fail_writes: BTreeMap::new(),
            fail_list: None,
        };
        let applied = changes
            .iter()
            .map(|change| self.apply_one(&mut draft, change))
            .collect::<Result<Vec<_>>>()?;
        state.entries = draft.entries;
        state.next_id = draft.next_id;
        state.version += 1;
        Ok(applied)
    }
}

#[async_trait]
impl Destination for MemoryDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        let state = self.lock()?;
        let pages = state.entries.len().div_ceil(self.page_size).max(1);
        for _ in 0..pages {
            self.count("GET");
        }
        if let Some(kind) = state.fail_list {
            return Err(Error::new(kind, "injected list failure")
                .with_destination(self.info.to_string())
                .with_operation("list"));
        }
        let readable = self.info.capabilities.values_readable();
        let entries = state
            .entries
            .iter()
            .map(|(k, s)| {
                let value = if readable {
                    RemoteValue::Known(s.value.clone())
                } else {
                    RemoteValue::Hidden
                };
                RemoteEntry::new(k.clone(), value).with_id(s.id.clone())
            })
            .collect();
        let snapshot = Snapshot::new(entries);
        Ok(match self.write_mode {
            WriteMode::Batch => snapshot.with_version(Version::new(state.version.to_string())),
            WriteMode::PerKey => snapshot,
        })
    }

    fn writer(&self) -> Writer<'_> {
        match self.write_mode {
            WriteMode::PerKey => Writer::PerKey(self),
            WriteMode::Batch => Writer::Batch(self),
        }
    }
}

#[async_trait]
impl PerKeyWriter for MemoryDestination {
    async fn write(&self, change: &Change) -> Result<Applied> {
        self.count(match change.kind {
            ChangeKind::Create => "POST",
            ChangeKind::Update => "PUT",
            ChangeKind::Delete => "DELETE",
        });
        tokio::task::yield_now().await;
        let mut state = self.lock()?;
        self.apply_one(&mut state, change)
    }
}

#[async_trait]
impl BatchWriter for MemoryDestination {
    async fn write_all(
        &self,
        changes: &[Change],
        expect: Option<&Version>,
    ) -> Result<Vec<Applied>> {
        self.apply_batch(changes, expect)
    }
}

/// A [`DestinationFactory`](crate::DestinationFactory) for [`MemoryDestination`]s, kind
/// `memory`: for trying definitions and registries without a service. Its
/// `destinationConfig` is `{"target"?: string, "readableValues"?: bool}`; any connection is
/// accepted. Every build is a new, empty destination.
///
/// ```
/// use kms_sync_core::{DestinationFactory, MemoryFactory};
/// assert!(MemoryFactory.check_config(r#"{"target": "t", "readableValues": false}"#).is_ok());
/// assert!(MemoryFactory.check_config(r#"{"targit": "t"}"#).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryFactory;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MemoryConfig {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    readable_values: Option<bool>,
}

impl crate::registry::DestinationFactory for MemoryFactory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn check_config(&self, destination_config: &str) -> Result<()> {
        crate::json::parse_json::<MemoryConfig>(destination_config, "memory destinationConfig")
            .map(|_| ())
    }

    fn build(
        &self,
        _connection: &crate::definition::AppConnectionDefinition,
        destination_config: &str,
        _settings: crate::http::ClientSettings,
    ) -> Result<Arc<dyn Destination>> {
        let config: MemoryConfig =
            crate::json::parse_json(destination_config, "memory destinationConfig")?;
        let mut builder = MemoryDestination::builder();
        if let Some(target) = config.target {
            builder = builder.target(target);
        }
        if let Some(readable) = config.readable_values {
            builder = builder.readable_values(readable);
        }
        Ok(Arc::new(builder.build()))
    }
}
