//! The one ownership policy: which destination entries a sync may delete. `plan`, `remove`
//! and `import` all ask [`Ownership`].

use crate::destination::RemoteEntry;
use crate::schema::KeySchema;
use crate::state::Ledger;

/// What a sync may do with an entry it does not want any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This sync's: delete it when the source no longer has it.
    Owned,
    /// Not this sync's (outside the schema, or not in this sync's ledger): never touched.
    Foreign,
    /// Protected by the destination: never deleted by anything.
    Protected,
}

/// Decides whether a sync owns an entry.
///
/// An entry is owned when the key schema owns its key and, where the sync keeps a ledger,
/// the ledger records that this sync wrote it. Without a ledger the schema alone decides;
/// the initial `overwrite-destination` sync also claims schema-owned entries the ledger
/// does not record (it removes them, as the KMS documents). A protected entry is never
/// owned.
///
/// ```
/// use kms_sync_core::{Claim, Fingerprinter, Ledger, Ownership, RemoteEntry, RemoteValue, SecretValue, TemplateKeySchema};
/// let schema = TemplateKeySchema::parse("APP_{{secretKey}}")?;
/// let fp = Fingerprinter::new(vec![7; 32])?;
/// let mut ledger = Ledger::default();
/// ledger.record("APP_A", None, fp.fingerprint("APP_A", &SecretValue::new("1")));
/// let ours = Ownership::new(&schema, "prod").with_ledger(&ledger, false);
/// let entry = |k: &str| RemoteEntry::new(k, RemoteValue::Hidden);
/// assert_eq!(ours.claim(&entry("APP_A")), Claim::Owned);
/// assert_eq!(ours.claim(&entry("APP_X_B")), Claim::Foreign); // schema-shaped, never written by us
/// assert_eq!(ours.claim(&entry("OTHER")), Claim::Foreign);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct Ownership<'a> {
    schema: &'a dyn KeySchema,
    environment: &'a str,
    ledger: Option<&'a Ledger>,
}

impl<'a> Ownership<'a> {
    /// The schema decides alone (no ledger).
    pub fn new(schema: &'a dyn KeySchema, environment: &'a str) -> Self {
        Ownership {
            schema,
            environment,
            ledger: None,
        }
    }

    /// The ledger decides among schema-owned keys, unless `claim_unrecorded` (the initial
    /// `overwrite-destination` sync).
    pub fn with_ledger(mut self, ledger: &'a Ledger, claim_unrecorded: bool) -> Self {
        self.ledger = (!claim_unrecorded).then_some(ledger);
        self
    }

    /// Whether the ledger (rather than the schema alone) decides.
    pub fn uses_ledger(&self) -> bool {
        self.ledger.is_some()
    }

    /// What this sync may do with `entry`.
    pub fn claim(&self, entry: &RemoteEntry) -> Claim {
        if entry.state().is_protected() {
            return Claim::Protected;
        }
        if !self.schema.owns(entry.key(), self.environment) {
            return Claim::Foreign;
        }
        match self.ledger {
            Some(ledger) if ledger.get(entry.key()).is_none() => Claim::Foreign,
            _ => Claim::Owned,
        }
    }
}

impl std::fmt::Debug for Ownership<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership")
            .field("schema", &self.schema.describe())
            .field("environment", &self.environment)
            .field("ledger", &self.ledger.map(Ledger::len))
            .finish()
    }
}
