//! Why a plan updates or skips a key: [`PlanReason`], shown in plans and reports as words.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::destination::Reason;

/// Why a key is updated or skipped. `Display` and JSON give the words.
///
/// ```
/// use kms_sync_core::PlanReason;
/// assert_eq!(PlanReason::ValueDiffers.to_string(), "value differs");
/// assert_eq!(PlanReason::Replace("stored unsecured".into()).to_string(), "stored unsecured");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanReason {
    /// The destination shows a different value.
    ValueDiffers,
    /// The value is hidden and the sync keeps no ledger.
    HiddenNoLedger,
    /// The value is hidden and the ledger has no record of it.
    HiddenNotInLedger,
    /// The value is hidden and the destination's id is not the one the ledger recorded.
    HiddenIdChanged,
    /// The source value is not the one the ledger recorded.
    ValueChanged,
    /// The last write of this key was not confirmed by the service.
    LastWriteUnconfirmed,
    /// The destination says the entry must be replaced (its words).
    Replace(Reason),
    /// The set is written whole and this hidden value would be lost if not sent again.
    WholeSetResend,
    /// The destination protects the entry (its words): skipped.
    Protected(Reason),
}

impl PlanReason {
    /// The reason in words.
    pub fn text(&self) -> &str {
        match self {
            PlanReason::ValueDiffers => "value differs",
            PlanReason::HiddenNoLedger => "hidden value, no ledger",
            PlanReason::HiddenNotInLedger => "hidden value, not in the ledger",
            PlanReason::HiddenIdChanged => "hidden value, destination id changed",
            PlanReason::ValueChanged => "value changed since last sync",
            PlanReason::LastWriteUnconfirmed => "hidden value, last write not confirmed",
            PlanReason::WholeSetResend => {
                "the set is written whole and this value cannot be read back"
            }
            PlanReason::Replace(words) | PlanReason::Protected(words) => words,
        }
    }
}

impl fmt::Display for PlanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for PlanReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text())
    }
}
