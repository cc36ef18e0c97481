//! The decision for each desired key: create, update (and why), unchanged, or skip.

use std::collections::HashMap;

use super::reason::PlanReason;
use super::types::{PlanAction, PlanCounts};
use crate::destination::{Change, EntryState, RemoteEntry, RemoteValue};
use crate::secret::SecretValue;
use crate::state::{Fingerprinter, Ledger};

pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub(super) fn fast_map<K, V>(capacity: usize) -> FastMap<K, V> {
    HashMap::with_capacity_and_hasher(capacity, foldhash::fast::RandomState::default())
}

/// One source key rendered for the destination.
pub(super) struct Desired<'a> {
    pub key: String,
    pub source_key: &'a str,
    pub value: &'a SecretValue,
}

/// What a key's plan says, and why.
pub(super) type Decision = (PlanAction, Option<PlanReason>);

/// Below this many keys one thread does the work; above, it is split across the cores
/// (fingerprints and lookups are independent per key).
pub(super) const PARALLEL_FROM: usize = 8_192;

/// What deciding a key reads; all shared, nothing written.
pub(super) struct Lookup<'a, 'b> {
    pub exact: &'b FastMap<&'a str, &'a RemoteEntry>,
    pub ledger: Option<&'b Ledger>,
    pub fingerprinter: Option<&'b Fingerprinter>,
}

impl Lookup<'_, '_> {
    fn decide(&self, desired: &Desired<'_>, changes: &mut Vec<Change>) -> Decision {
        let (key, value) = (desired.key.as_str(), desired.value);
        let Some(entry) = self.exact.get(key) else {
            changes.push(Change::create(key.to_owned(), value.clone()));
            return (PlanAction::Create, None);
        };
        if let EntryState::Protected(why) = entry.state() {
            return (PlanAction::Skip, Some(PlanReason::Protected(why.clone())));
        }
        match self.why_update(key, value, entry) {
            None => (PlanAction::Unchanged, None),
            Some(reason) => {
                changes.push(Change::update((*entry).clone(), value.clone()));
                (PlanAction::Update, Some(reason))
            }
        }
    }

    /// `None` if the entry already holds `value`; otherwise why it must be written.
    fn why_update(
        &self,
        key: &str,
        value: &SecretValue,
        entry: &RemoteEntry,
    ) -> Option<PlanReason> {
        if let EntryState::MustReplace(why) = entry.state() {
            return Some(PlanReason::Replace(why.clone()));
        }
        match entry.value() {
            RemoteValue::Known(current) if current == value => None,
            RemoteValue::Known(_) => Some(PlanReason::ValueDiffers),
            RemoteValue::Hidden => self.why_update_hidden(key, value, entry),
        }
    }

    fn why_update_hidden(
        &self,
        key: &str,
        value: &SecretValue,
        entry: &RemoteEntry,
    ) -> Option<PlanReason> {
        let (Some(ledger), Some(fp)) = (self.ledger, self.fingerprinter) else {
            return Some(PlanReason::HiddenNoLedger);
        };
        let Some(recorded) = ledger.get(key) else {
            return Some(PlanReason::HiddenNotInLedger);
        };
        if recorded.id.as_deref() != entry.id() {
            return Some(PlanReason::HiddenIdChanged);
        }
        match &recorded.fingerprint {
            None => Some(PlanReason::LastWriteUnconfirmed),
            Some(f) if *f != fp.fingerprint(key, value) => Some(PlanReason::ValueChanged),
            Some(_) => None,
        }
    }
}

/// Decides every desired key, on several threads for large inputs. Decisions come back in
/// the order of `desired`; changes in no particular order.
pub(super) fn decide_all(
    desired: &[Desired<'_>],
    lookup: &Lookup<'_, '_>,
) -> (Vec<Decision>, Vec<Change>) {
    let decide_chunk = |chunk: &[Desired<'_>]| {
        let mut changes = Vec::new();
        let decisions = chunk
            .iter()
            .map(|d| lookup.decide(d, &mut changes))
            .collect::<Vec<_>>();
        (decisions, changes)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if desired.len() < PARALLEL_FROM || threads < 2 {
        return decide_chunk(desired);
    }
    let chunk_len = desired.len().div_ceil(threads);
    let parts: Vec<(Vec<Decision>, Vec<Change>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = desired
            .chunks(chunk_len)
            .map(|chunk| scope.spawn(move || decide_chunk(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(part) => part,
                // A panic in a worker is a bug; carry it to the caller unchanged.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut decisions = Vec::with_capacity(desired.len());
    let mut changes = Vec::new();
    for (d, c) in parts {
        decisions.extend(d);
        changes.extend(c);
    }
    (decisions, changes)
}

/// For destinations whose one write replaces the whole set: unchanged managed entries whose
/// values are hidden must be sent again, or the write would lose them.
pub(super) fn resend_hidden(
    desired: &[Desired<'_>],
    exact: &FastMap<&str, &RemoteEntry>,
    decisions: &mut [Decision],
    changes: &mut Vec<Change>,
    counts: &mut PlanCounts,
) {
    for (d, decision) in desired.iter().zip(decisions.iter_mut()) {
        if decision.0 != PlanAction::Unchanged {
            continue;
        }
        if let Some(entry) = exact.get(d.key.as_str()) {
            if *entry.value() == RemoteValue::Hidden {
                changes.push(Change::update((*entry).clone(), d.value.clone()));
                *decision = (PlanAction::Update, Some(PlanReason::WholeSetResend));
                counts.unchanged -= 1;
                counts.update += 1;
            }
        }
    }
}

/// Counts one action.
pub(super) fn count(counts: &mut PlanCounts, action: PlanAction) {
    match action {
        PlanAction::Create => counts.create += 1,
        PlanAction::Update => counts.update += 1,
        PlanAction::Delete => counts.delete += 1,
        PlanAction::Unchanged => counts.unchanged += 1,
        PlanAction::Skip => counts.skip += 1,
    }
}
