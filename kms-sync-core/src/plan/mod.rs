//! Planning: the pure function that decides what to change ([`plan()`]), in named stages
//! (render and check, collisions, decisions, owned deletes, the guard, whole-set resends),
//! and the [`Plan`] it returns.

mod decide;
pub(crate) mod ownership;
mod reason;
mod stages;
pub(crate) mod stored;
mod types;

use crate::destination::{Destination, Snapshot};
use crate::error::Result;
use crate::schema::KeySchema;
use crate::secret::SecretSet;
use crate::state::{Fingerprinter, Ledger};

pub use reason::PlanReason;
pub use types::{DeletionGuard, Plan, PlanAction, PlanCounts, PlanItem, PlanOptions, PlanWarning};

/// Everything [`plan`] looks at.
pub struct PlanInput<'a> {
    /// What the source holds.
    pub source: &'a SecretSet,
    /// A description of the source for the plan's header.
    pub source_name: &'a str,
    /// What the destination holds.
    pub snapshot: &'a Snapshot,
    /// Which keys are managed and how they are named.
    pub schema: &'a dyn KeySchema,
    /// The destination's description and rules. Only its pure methods are called.
    pub destination: &'a dyn Destination,
    /// What this sync wrote before, if a ledger is kept.
    pub ledger: Option<&'a Ledger>,
    /// Whether schema-owned entries the ledger does not record count as this sync's (the
    /// initial `overwrite-destination` sync); see [`Ownership`](crate::Ownership). Ignored
    /// without a ledger.
    pub claim_unrecorded: bool,
    /// The fingerprinter matching the ledger.
    pub fingerprinter: Option<&'a Fingerprinter>,
    /// Deletion and guard options.
    pub options: PlanOptions,
}

/// Decides what to change. Pure: no I/O, same input, same plan.
///
/// For each key, following the table in the design:
///
/// | desired | at destination | plan |
/// |---|---|---|
/// | present | absent | create |
/// | present | known, equal | unchanged |
/// | present | known, different | update |
/// | present | hidden, ledger fingerprint equal and id unchanged | unchanged |
/// | present | hidden, otherwise | update |
/// | present | protected | skipped, with the destination's reason |
/// | absent | owned ([`Ownership`](crate::Ownership)) | delete (unless deletion is disabled) |
/// | — | not owned | untouched, not in the plan |
///
/// # Errors
///
/// The whole plan is refused — so nothing is written — with one error naming every key
/// involved when: a rendered key breaks the destination's key rule
/// ([`InvalidKey`](crate::ErrorKind::InvalidKey)); two source keys render to one destination key, or
/// to keys equal under the destination's case rule, or a desired key equals an existing
/// destination key of another spelling under that rule ([`InvalidKey`](crate::ErrorKind::InvalidKey));
/// the destination lists one managed key twice ([`Conflict`](crate::ErrorKind::Conflict)); a value
/// breaks the value rule ([`InvalidValue`](crate::ErrorKind::InvalidValue), naming keys only); or the
/// [`DeletionGuard`] trips ([`Guard`](crate::ErrorKind::Guard)); or the creates would take
/// the destination past its [`max_entries`](crate::Capabilities::max_entries)
/// ([`Config`](crate::ErrorKind::Config), naming the limit and the counts).
///
/// Keys are planned by the names the destination stores
/// ([`KeyRules::stored_key`](crate::KeyRules::stored_key)): two source keys stored under one
/// name collide ([`InvalidKey`](crate::ErrorKind::InvalidKey)).
///
/// ```
/// use kms_sync_core::*;
/// let source = SecretSet::new("dev").with("A", "1");
/// let dest = MemoryDestination::builder().build();
/// let plan = plan(PlanInput {
///     source: &source,
///     source_name: "example",
///     snapshot: &Snapshot::default(),
///     schema: &NoKeySchema,
///     destination: &dest,
///     ledger: None,
///     claim_unrecorded: false,
///     fingerprinter: None,
///     options: PlanOptions::default(),
/// })?;
/// assert_eq!(plan.counts().create, 1);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub fn plan(input: PlanInput<'_>) -> Result<Plan> {
    stages::run(input)
}
