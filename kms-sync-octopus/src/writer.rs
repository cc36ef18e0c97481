//! The batch writer: every change in one PUT of the whole variable set, built from the set
//! the sync listed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use kms_sync_core::{
    async_trait, Applied, BatchWriter, Change, ChangeKind, Error, ErrorKind, Result, SecretValue,
    Version,
};
use serde_json::Value;

use crate::destination::{OctopusDestination, Resolved};
use crate::model::{Variable, VariableSet};

/// The note on a create whose new `Id` Octopus's answer did not show.
const NO_ID: &str = "created; Octopus's answer did not show the new variable's Id";

/// The changes of one write, by what they do to the set: updates and deletes by variable
/// `Id`, creates by name.
#[derive(Debug, Default)]
struct Edits<'a> {
    updates: BTreeMap<&'a str, &'a SecretValue>,
    deletes: BTreeSet<&'a str>,
    creates: Vec<(&'a str, &'a SecretValue)>,
}

impl<'a> Edits<'a> {
    fn of(changes: &'a [Change]) -> Result<Self> {
        let mut edits = Edits::default();
        let mut seen = HashSet::new();
        for change in changes {
            match change.kind {
                ChangeKind::Create => edits.creates.push((&change.key, change.value_or_error()?)),
                ChangeKind::Update => {
                    let id = unique_id(change, &mut seen)?;
                    edits.updates.insert(id, change.value_or_error()?);
                }
                ChangeKind::Delete => {
                    edits.deletes.insert(unique_id(change, &mut seen)?);
                }
            }
        }
        Ok(edits)
    }

    /// How many existing variables the edits touch.
    fn touching(&self) -> usize {
        self.updates.len() + self.deletes.len()
    }
}

/// The listed `Id` of an update or delete, refused when another change has it too.
fn unique_id<'a>(change: &'a Change, seen: &mut HashSet<&'a str>) -> Result<&'a str> {
    let id = change.current_id()?;
    if seen.insert(id) {
        Ok(id)
    } else {
        Err(Error::unexpected("two changes for one Octopus variable Id").with_key(&change.key))
    }
}

/// The `Id`s in a set.
fn ids(set: &VariableSet) -> HashSet<&str> {
    set.variables.iter().filter_map(Variable::id).collect()
}

impl OctopusDestination {
    /// The set to build the PUT from: the one `list` read when it has the expected version,
    /// otherwise a fresh GET, which must still have it.
    async fn base(
        &self,
        r: &Resolved,
        expect: Option<&Version>,
    ) -> Result<(Version, Arc<VariableSet>)> {
        if let Some(expected) = expect {
            if let Some(set) = self.recalled(expected) {
                return Ok((expected.clone(), set));
            }
        }
        let set = self.read_set(r).await?;
        let version = set.version();
        match expect {
            Some(expected) if *expected != version => Err(Error::new(
                ErrorKind::Conflict,
                format!("the variable set changed since it was read (version {expected}, now {version})"),
            )),
            _ => Ok((version, Arc::new(set))),
        }
    }

    /// A new managed variable.
    fn created(&self, name: &str, value: &SecretValue) -> Variable {
        Variable::new_sensitive(name, value, self.config.scope_values().to_scope())
    }

    /// The PUT body: the set as read, every variable that is not ours (and every one of ours
    /// the edits leave alone) exactly as read, ours updated or dropped by `Id`, new ones
    /// appended. A variable to change that is not in the set is a conflict.
    fn rewritten(&self, set: &VariableSet, edits: &Edits<'_>) -> Result<VariableSet> {
        let mut next = Vec::with_capacity(set.variables.len() + edits.creates.len());
        let mut touched = 0usize;
        for v in &set.variables {
            match v.id().filter(|_| self.ours(v)) {
                Some(id) if edits.deletes.contains(id) => touched += 1,
                Some(id) if edits.updates.contains_key(id) => {
                    touched += 1;
                    next.push(v.clone().with_sensitive_value(edits.updates[id]));
                }
                _ => next.push(v.clone()),
            }
        }
        if touched != edits.touching() {
            return Err(Error::new(
                ErrorKind::Conflict,
                "a variable to change is gone from the set",
            ));
        }
        next.extend(edits.creates.iter().map(|(n, v)| self.created(n, v)));
        Ok(VariableSet {
            version: set.version.clone(),
            variables: next,
            extra: set.extra.clone(),
        })
    }

    /// The `Id`s of the variables just created, by name: ours, named as a create, and not in
    /// the set we sent. Read from the PUT's answer (the set as saved).
    fn created_ids(
        &self,
        saved: Value,
        edits: &Edits<'_>,
        sent: &VariableSet,
    ) -> Result<BTreeMap<String, String>> {
        let saved = VariableSet::variables_of(saved)?;
        let before = ids(sent);
        let wanted: HashSet<&str> = edits.creates.iter().map(|(name, _)| *name).collect();
        Ok(saved
            .iter()
            .filter(|v| self.ours(v))
            .filter_map(|v| Some((v.name()?, v.id()?)))
            .filter(|(name, id)| wanted.contains(name) && !before.contains(id))
            .map(|(name, id)| (name.to_owned(), id.to_owned()))
            .collect())
    }

    async fn write_inner(
        &self,
        changes: &[Change],
        expect: Option<&Version>,
    ) -> Result<Vec<Applied>> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let edits = Edits::of(changes)?;
        let r = self.resolved().await?;
        let (version, set) = self.base(r, expect).await?;
        let body = self.rewritten(&set, &edits)?;
        drop(set);
        let json = body.to_json()?;
        // Whatever the PUT's fate, the set read before it is no base for another write.
        self.forget(&version);
        let saved = self
            .client
            .put_variable_set(&r.space, &r.set, &json)
            .await?;
        drop(json);
        // The PUT was confirmed: a failure to read the new Ids back is a note, not an error.
        let created = if edits.creates.is_empty() {
            Ok(BTreeMap::new())
        } else {
            self.created_ids(saved, &edits, &body)
        };
        Ok(changes.iter().map(|c| applied(c, &created)).collect())
    }
}

/// What one change of a confirmed PUT reports: its variable's `Id`, or for a create whose
/// new `Id` is unknown, a note saying so.
fn applied(change: &Change, created: &Result<BTreeMap<String, String>>) -> Applied {
    if change.kind != ChangeKind::Create {
        return change
            .current_id()
            .map_or_else(|_| Applied::default(), Applied::with_id);
    }
    match created {
        Ok(ids) => ids
            .get(&change.key)
            .map_or_else(|| Applied::default().noted(NO_ID), Applied::with_id),
        Err(err) => {
            Applied::default().noted(format!("created; reading its new Id back failed: {err}"))
        }
    }
}

#[async_trait]
impl BatchWriter for OctopusDestination {
    /// One PUT of the whole set carrying the listed `Version`; Octopus refuses a stale one
    /// (a [`Conflict`](ErrorKind::Conflict)).
    async fn write_all(
        &self,
        changes: &[Change],
        expect: Option<&Version>,
    ) -> Result<Vec<Applied>> {
        self.write_inner(changes, expect)
            .await
            .map_err(|e| e.with_destination(self.info.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use kms_sync_core::{RemoteEntry, RemoteValue};
    use serde_json::json;

    use super::*;
    use crate::{OctopusConfig, OctopusConnection, ScopeValues};

    fn destination() -> OctopusDestination {
        let connection = OctopusConnection::new("https://acme.octopus.app", "API-TEST")
            .unwrap_or_else(|e| panic!("{e}"));
        let scope = ScopeValues {
            environments: vec!["Environments-2".into()],
            ..ScopeValues::default()
        };
        let config = OctopusConfig::project("Spaces-1", "web").with_scope_values(scope);
        OctopusDestination::builder(connection, config)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn listed(name: &str, id: &str) -> RemoteEntry {
        RemoteEntry::new(name, RemoteValue::Hidden).with_id(id)
    }

    fn raw_set() -> Value {
        json!({
            "Id": "variableset-Projects-1", "Version": 7, "ScopeValues": {"Environments": []},
            "Variables": [
                {"Id": "a", "Name": "KMS_A", "Value": null, "Type": "Sensitive", "IsSensitive": true, "Scope": {"Environment": ["Environments-2"]}},
                {"Id": "b", "Name": "KMS_B", "Value": null, "Type": "Sensitive", "IsSensitive": true, "Scope": {"Environment": ["Environments-2"]}},
                {"Id": "c", "Name": "KMS_A", "Value": null, "Type": "Sensitive", "IsSensitive": true, "Scope": {"Environment": ["Environments-1"]}, "Description": "dev"},
                {"Id": "d", "Name": "Theirs", "Value": "x", "Type": "String", "IsSensitive": false, "Scope": {}, "Extra": [1, 2]}
            ]
        })
    }

    #[test]
    fn the_put_keeps_everything_else_as_read() -> Result<()> {
        let dest = destination();
        let changes = vec![
            Change::update(listed("KMS_A", "a"), SecretValue::new("new-a")),
            Change::delete(listed("KMS_B", "b")),
            Change::create("KMS_C", SecretValue::new("new-c")),
        ];
        let edits = Edits::of(&changes)?;
        let set = raw_set();
        let body = dest
            .rewritten(&VariableSet::from_json(set.clone())?, &edits)?
            .to_json()?;
        assert_eq!(body["Version"], 7);
        assert_eq!(body["ScopeValues"], set["ScopeValues"]);
        assert_eq!(body["Id"], set["Id"]);
        let vars = body["Variables"].as_array().map_or(&[][..], Vec::as_slice);
        assert_eq!(vars.len(), 4);
        assert_eq!(vars[0]["Id"], "a", "updated in place, Id kept");
        assert_eq!(vars[0]["Value"], "new-a");
        assert_eq!(vars[1], set["Variables"][2], "another scope: as read");
        assert_eq!(vars[2], set["Variables"][3], "foreign: as read");
        assert_eq!(vars[3]["Name"], "KMS_C");
        assert!(vars[3].get("Id").is_none(), "a create has no Id yet");
        assert_eq!(vars[3]["Scope"], json!({"Environment": ["Environments-2"]}));
        assert_eq!(vars[3]["IsSensitive"], true);
        assert_eq!(vars[0]["Type"], "Sensitive");
        Ok(())
    }

    #[test]
    fn a_variable_gone_from_the_set_is_a_conflict() -> Result<()> {
        let dest = destination();
        // `c` has our name but another scope: not ours to change.
        let changes = vec![Change::delete(listed("KMS_A", "c"))];
        let set = VariableSet::from_json(raw_set())?;
        let err = dest
            .rewritten(&set, &Edits::of(&changes)?)
            .err()
            .expect("not ours");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        Ok(())
    }

    #[test]
    fn two_changes_of_one_id_are_refused() {
        let changes = vec![
            Change::update(listed("KMS_A", "a"), SecretValue::new("1")),
            Change::delete(listed("kms_a", "a")),
        ];
        let err = Edits::of(&changes).expect_err("same id");
        assert_eq!(err.kind(), ErrorKind::Unexpected);
    }

    #[test]
    fn each_change_reports_its_id() {
        let update = Change::update(listed("KMS_A", "a"), SecretValue::new("1"));
        let create = Change::create("KMS_C", SecretValue::new("2"));
        let ids = Ok(BTreeMap::from([("KMS_C".to_owned(), "new".to_owned())]));
        assert_eq!(applied(&update, &ids), Applied::with_id("a"));
        assert_eq!(applied(&create, &ids), Applied::with_id("new"));
        let unknown = applied(&create, &Ok(BTreeMap::new()));
        assert_eq!((unknown.id, unknown.note.as_deref()), (None, Some(NO_ID)));
        let failed = applied(&create, &Err(Error::unexpected("boom")));
        assert!(failed.id.is_none() && failed.note.is_some_and(|n| n.contains("boom")));
    }
}
