//! What the ledger records around a write: the claim before it is sent, and what its outcome
//! means after. A run that dies between the two leaves claims, so no key written by a
//! stopped run is ever left unowned.

use super::outcome::{Outcome, OutcomeStatus};
use crate::destination::{Change, ChangeKind};
use crate::error::ErrorKind;
use crate::state::{Fingerprinter, Ledger, LedgerEntry, LedgerUpdate};

/// The id a claim on `change` records: the destination's current one, else the ledger's.
fn known_id(change: &Change, before: Option<&Ledger>) -> Option<String> {
    change
        .current
        .as_ref()
        .and_then(|c| c.id().map(str::to_owned))
        .or_else(|| before?.get(&change.key)?.id.clone())
}

/// One claim per create and update, recorded before any is sent: key and known id, no
/// fingerprint (so the next run rewrites the key), never a value.
pub(crate) fn intent(changes: &[Change], before: Option<&Ledger>) -> Vec<LedgerUpdate> {
    changes
        .iter()
        .filter(|c| c.kind.is_write())
        .map(|c| LedgerUpdate::Record {
            key: c.key.clone(),
            entry: LedgerEntry {
                id: known_id(c, before),
                fingerprint: None,
            },
        })
        .collect()
}

/// What one outcome means for the ledger, after the claim of [`intent`]:
///
/// - a confirmed write is recorded with its fingerprint; a confirmed delete is forgotten;
/// - a write never tried gives back what the ledger held before (the claim is withdrawn
///   from a key the sync did not own);
/// - a write the service refused keeps the sync's claim on a key it already owned, without
///   a fingerprint, and withdraws it from a key it did not own;
/// - a write not confirmed, or failed in a way that may have reached the service (a
///   timeout, an unavailable service), keeps its claim: the entry may exist.
pub(crate) fn after(
    change: &Change,
    outcome: &Outcome,
    before: Option<&Ledger>,
    fingerprinter: &Fingerprinter,
) -> Option<LedgerUpdate> {
    let key = change.key.clone();
    let owned = before.and_then(|l| l.get(&change.key));
    match (&outcome.status, change.kind) {
        (OutcomeStatus::Applied(_), ChangeKind::Delete) => Some(LedgerUpdate::Forget { key }),
        (OutcomeStatus::Applied(applied), _) => {
            let id = applied.id.clone().or_else(|| known_id(change, before));
            let value = change.value.as_ref()?;
            let fingerprint = Some(fingerprinter.fingerprint(&change.key, value));
            Some(LedgerUpdate::Record {
                key,
                entry: LedgerEntry { id, fingerprint },
            })
        }
        (_, ChangeKind::Delete) => None,
        (OutcomeStatus::NotAttempted(_) | OutcomeStatus::Skipped(_), _) => Some(match owned {
            Some(entry) => LedgerUpdate::Record {
                key,
                entry: entry.clone(),
            },
            None => LedgerUpdate::Forget { key },
        }),
        (OutcomeStatus::Failed(err), _) if owned.is_none() && is_refusal(err.kind()) => {
            Some(LedgerUpdate::Forget { key })
        }
        (OutcomeStatus::Failed(_) | OutcomeStatus::Unconfirmed(_), _) => {
            Some(LedgerUpdate::Record {
                key,
                entry: LedgerEntry {
                    id: owned
                        .and_then(|o| o.id.clone())
                        .or_else(|| known_id(change, None)),
                    fingerprint: None,
                },
            })
        }
    }
}

/// Whether a failed write surely did not reach the service's data: it answered with a
/// refusal. A timeout or an unavailable service may have applied it before failing.
fn is_refusal(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Timeout
            | ErrorKind::Unavailable
            | ErrorKind::Unexpected
            | ErrorKind::Unconfirmed
    )
}

/// The claims (entries without a fingerprint) of keys neither at the destination nor wanted:
/// left by a run that died before its write, they would otherwise claim a key someone else
/// creates later.
pub(crate) fn stale(
    ledger: &Ledger,
    at_destination: impl Fn(&str) -> bool,
    wanted: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut keys: Vec<String> = ledger
        .keys()
        .filter(|k| ledger.get(k).is_some_and(|e| e.fingerprint.is_none()))
        .filter(|k| !at_destination(k) && !wanted(k))
        .map(str::to_owned)
        .collect();
    keys.sort_unstable();
    keys
}
