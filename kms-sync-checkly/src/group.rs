//! One check group's `environmentVariables`: listed with one GET, written whole with one PUT.
//!
//! Checkly has no version check on groups. Two guards stand in for one: the engine holds the
//! group's scope lock ([`GroupVariables::scope`]) from the list to the write, which keeps
//! other kms-sync runs out; and the writer reads the group once more right before its PUT
//! and compares it with the digest the plan was made from (the snapshot's [`Version`]), which
//! catches anyone else — a person in Checkly's UI, another tool. A changed group is a
//! [`Conflict`](ErrorKind::Conflict), which the engine answers by listing and planning
//! again. That check read costs one GET per change; it narrows the window in which an edit
//! made elsewhere could be overwritten to the PUT's own round trip, whatever the planning,
//! the ledger and the rate-limit pacing took in between.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use kms_sync_core::{
    async_trait, Applied, BatchWriter, Change, ChangeKind, Destination, DestinationInfo, Error,
    ErrorKind, KeyRules, NameLookup, Result, SecretValue, Snapshot, Version, Writer,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::config::GroupRef;
use crate::destination::Common;
use crate::listed::{incomplete, Listed};
use crate::model::Account;

/// The most variables a check group holds.
pub const GROUP_LIMIT: usize = 200;

/// Syncs to one check group's variables (`/v1/check-groups/{id}`): listed with one GET,
/// written whole with one PUT under the group's scope lock, every entry kms-sync does not
/// manage sent back exactly as read. Checkly has no version check on groups, so the write
/// reads the group once more first and refuses, as a [`Conflict`](ErrorKind::Conflict), a
/// group changed since it was listed.
/// Built by [`ChecklyDestinationBuilder::build`](crate::ChecklyDestinationBuilder::build)
/// for a config with a `groupId` or `groupName`; clones share the client and the group id
/// once resolved.
///
/// ```
/// use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
/// use kms_sync_core::{Destination, WriteMode};
/// let connection = ChecklyConnection::new("cu_example")?;
/// let config = ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a").with_group_id(42);
/// let ChecklyDestination::Group(group) = ChecklyDestination::builder(connection, config).build()? else {
///     unreachable!("a group is configured")
/// };
/// assert_eq!(group.writer().mode(), WriteMode::Batch);
/// assert!(group.info().capabilities.replaces_whole_set());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct GroupVariables {
    common: Common,
    reference: GroupRef,
    /// `checkly:{base_url}:account:{account_id}`: the scope name without the group.
    scope_prefix: String,
    id: Arc<OnceCell<u64>>,
}

impl fmt::Debug for GroupVariables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupVariables")
            .field("reference", &self.reference)
            .field("scope_prefix", &self.scope_prefix)
            .field("id", &self.id.get())
            .finish_non_exhaustive()
    }
}

impl GroupVariables {
    pub(crate) fn new(common: Common, reference: GroupRef) -> Self {
        GroupVariables {
            scope_prefix: scope_prefix(&common),
            common,
            reference,
            id: Arc::new(OnceCell::new()),
        }
    }

    /// As [`ChecklyDestination::validate_connection`](crate::ChecklyDestination::validate_connection).
    ///
    /// # Errors
    ///
    /// As [`ChecklyDestination::validate_connection`](crate::ChecklyDestination::validate_connection).
    pub async fn validate_connection(&self) -> Result<Account> {
        self.common.validate_connection().await
    }

    /// The group's id: configured, or resolved once from its name.
    async fn id(&self) -> Result<u64> {
        self.id
            .get_or_try_init(|| async {
                match &self.reference {
                    GroupRef::Id(id) => Ok(*id),
                    GroupRef::Name(name) => self.resolve(name).await,
                    GroupRef::IdNamed(id, name) => {
                        let group = self.common.client.group(*id).await?;
                        GroupRef::check_name(*id, name, &group.name)?;
                        Ok(*id)
                    }
                }
            })
            .await
            .copied()
    }

    async fn resolve(&self, name: &str) -> Result<u64> {
        let groups = self.common.client.groups().await?;
        let found =
            NameLookup::new("check group", "groupId").find(&groups, name, |g| (&g.name, None))?;
        Ok(found.id)
    }

    /// The name of the group's scope lock, the same for every destination writing it.
    async fn scope(&self) -> Result<String> {
        Ok(format!("{}:group:{}", self.scope_prefix, self.id().await?))
    }

    /// Reads the group (one GET) and lists its variables, with a digest of the list as the
    /// snapshot's version.
    async fn list_inner(&self) -> Result<Snapshot> {
        let group = self.id().await?;
        let variables = self.read(group).await?;
        let scope = scope_name(group);
        let entries = variables
            .iter()
            .map(|raw| Listed::from_json(raw, &scope).map(Listed::entry))
            .collect::<Result<Vec<_>>>()?;
        Ok(Snapshot::new(entries).with_version(digest(&variables)))
    }

    /// The group's `environmentVariables`. Checkly's document marks the field optional, but
    /// the PUT that follows replaces the whole list: a read without it is incomplete, never
    /// "no variables" (which would delete every entry of the group).
    async fn read(&self, group: u64) -> Result<Vec<Value>> {
        let read = self.common.client.group(group).await?;
        read.environment_variables
            .ok_or_else(|| incomplete(&scope_name(group), "no `environmentVariables` list", None))
    }

    /// The list to build the write on: a fresh read, which must still be the version the
    /// plan was made from.
    async fn base(&self, group: u64, expect: Option<&Version>) -> Result<Vec<Value>> {
        let fresh = self.read(group).await?;
        match expect {
            Some(expect) if digest(&fresh) != *expect => Err(Error::new(
                ErrorKind::Conflict,
                format!("check group {group}: the group changed since it was listed"),
            )),
            _ => Ok(fresh),
        }
    }
}

/// `checkly:{base_url}:account:{account_id}`: what names a group's scope lock, with the group
/// id appended, identically for every destination writing that group.
fn scope_prefix(common: &Common) -> String {
    format!(
        "checkly:{}:account:{}",
        common.client.http.base_url().as_str().trim_end_matches('/'),
        common.account_id.trim().to_ascii_lowercase()
    )
}

#[async_trait]
impl Destination for GroupVariables {
    fn info(&self) -> &DestinationInfo {
        &self.common.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.common.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        self.list_inner()
            .await
            .map_err(|e| e.with_destination(self.common.info.to_string()))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::Batch(self)
    }

    /// `checkly:{base_url}:account:{account_id}:group:{group_id}` (the group id resolved
    /// first when configured by name).
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        self.scope()
            .await
            .map(Some)
            .map_err(|e| e.with_destination(self.common.info.to_string()))
    }
}

#[async_trait]
impl BatchWriter for GroupVariables {
    async fn write_all(
        &self,
        changes: &[Change],
        expect: Option<&Version>,
    ) -> Result<Vec<Applied>> {
        let group = self.id().await?;
        let current = self.base(group, expect).await?;
        let next = next_variables(group, current, changes)?;
        self.common.client.put_group_variables(group, next).await?;
        Ok(changes
            .iter()
            .map(|c| match c.kind {
                ChangeKind::Delete => Applied::default(),
                _ => Applied::with_id(c.key.clone()),
            })
            .collect())
    }
}

/// How errors name a group.
fn scope_name(group: u64) -> String {
    format!("check group {group}")
}

/// The version of a listed variable list: the hex SHA-256 of its canonical JSON (object
/// keys sorted), so the same list always has the same version.
fn digest(variables: &[Value]) -> Version {
    let canonical = Value::Array(variables.iter().map(canonical).collect());
    Version::new(hex::encode(Sha256::digest(canonical.to_string())))
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The group's new list: `current` with the changes applied, every entry kms-sync does not
/// manage sent back exactly as read. Refused, with nothing written, when an unmanaged entry
/// is secret (its value cannot be sent back) or the list would exceed [`GROUP_LIMIT`].
fn next_variables(group: u64, current: Vec<Value>, changes: &[Change]) -> Result<Vec<Value>> {
    let mut writes: BTreeMap<&str, &SecretValue> = BTreeMap::new();
    let mut deletes: BTreeSet<&str> = BTreeSet::new();
    for change in changes {
        if change.kind == ChangeKind::Delete {
            deletes.insert(&change.key);
        } else {
            writes.insert(&change.key, change.value_or_error()?);
        }
    }
    let mut next: Vec<Value> = Vec::with_capacity(current.len() + writes.len());
    let mut unpreservable = Vec::new();
    let scope = scope_name(group);
    for raw in current {
        let Listed { key, secret, .. } = Listed::from_json(&raw, &scope)?;
        if deletes.contains(key.as_str()) {
            continue;
        }
        if let Some(value) = writes.remove(key.as_str()) {
            next.push(managed(&key, value));
            continue;
        }
        if secret {
            unpreservable.push(key);
        }
        next.push(raw);
    }
    next.extend(writes.into_iter().map(|(key, value)| managed(key, value)));
    refuse_unpreservable(group, unpreservable)?;
    check_limit(group, next.len())?;
    Ok(next)
}

/// A variable kms-sync writes: secret, unlocked. The value is exposed only here.
fn managed(key: &str, value: &SecretValue) -> Value {
    json!({"key": key, "value": value.expose_secret(), "locked": false, "secret": true})
}

fn refuse_unpreservable(group: u64, mut keys: Vec<String>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    keys.sort();
    Err(Error::new(
        ErrorKind::Unsupported,
        format!(
            "check group {group} holds secret variables kms-sync does not manage ({}); their values cannot be read, so replacing the group's variables would destroy them. Nothing was written: bring them under the key schema, or remove them in Checkly",
            keys.join(", ")
        ),
    )
    .with_keys(keys))
}

fn check_limit(group: u64, count: usize) -> Result<()> {
    if count <= GROUP_LIMIT {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidValue,
        format!(
            "check group {group} would hold {count} variables; Checkly allows {GROUP_LIMIT}. Nothing was written"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use kms_sync_core::{RemoteEntry, RemoteValue};

    fn hidden(key: &str) -> RemoteEntry {
        RemoteEntry::new(key, RemoteValue::Hidden).with_id(key)
    }

    #[test]
    fn the_digest_ignores_field_order_and_sees_any_change() {
        let a = vec![json!({"key": "A", "value": "1", "secret": false})];
        let reordered = vec![json!({"secret": false, "value": "1", "key": "A"})];
        let changed = vec![json!({"key": "A", "value": "2", "secret": false})];
        assert_eq!(digest(&a), digest(&reordered));
        assert_ne!(digest(&a), digest(&changed));
        assert_ne!(digest(&a), digest(&[]));
        assert_eq!(digest(&a).as_str().len(), 64);
    }

    #[test]
    fn unmanaged_entries_go_back_as_read_and_changes_apply() -> Result<()> {
        let foreign =
            json!({"key": "THEIRS", "value": "x", "locked": true, "secret": false, "extra": [1]});
        let current = vec![
            foreign.clone(),
            json!({"key": "OLD", "value": null, "locked": false, "secret": true}),
            json!({"key": "KEEP", "value": null, "locked": false, "secret": true}),
        ];
        let changes = [
            Change::update(hidden("KEEP"), SecretValue::new("k")),
            Change::create("NEW", SecretValue::new("n")),
            Change::delete(hidden("OLD")),
        ];
        let next = next_variables(7, current, &changes)?;
        assert_eq!(
            next,
            vec![
                foreign,
                json!({"key": "KEEP", "value": "k", "locked": false, "secret": true}),
                json!({"key": "NEW", "value": "n", "locked": false, "secret": true}),
            ]
        );
        Ok(())
    }

    #[test]
    fn an_unmanaged_secret_is_refused_naming_it() {
        let current = vec![
            json!({"key": "B_SECRET", "value": null, "secret": true}),
            json!({"key": "A_SECRET", "value": null, "secret": true}),
        ];
        let changes = [Change::create("NEW", SecretValue::new("n"))];
        let err = next_variables(7, current, &changes).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert_eq!(err.keys(), ["A_SECRET", "B_SECRET"]);
    }

    #[test]
    fn more_than_the_limit_is_refused() {
        let changes: Vec<Change> = (0..=GROUP_LIMIT)
            .map(|i| Change::create(format!("K{i}"), SecretValue::new("v")))
            .collect();
        let err = next_variables(7, Vec::new(), &changes).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        assert!(
            err.to_string().contains("would hold 201 variables"),
            "{err}"
        );
        assert!(next_variables(7, Vec::new(), &changes[..GROUP_LIMIT]).is_ok());
    }

    #[test]
    fn a_variable_without_a_key_is_an_incomplete_read() {
        let current = vec![json!({"value": "x", "secret": false})];
        let err = next_variables(7, current, &[]).expect_err("no key");
        assert_eq!(err.kind(), ErrorKind::IncompleteRead);
        assert!(err.to_string().contains("check group 7"), "{err}");
    }
}
