//! The destination contract: a destination describes itself ([`DestinationInfo`],
//! [`KeyRules`]), lists what it holds ([`Snapshot`]) and writes through a typed [`Writer`];
//! the engine decides everything else (ordering, concurrency, progress, confirmation,
//! preconditions, the ledger).

mod change;
mod entry;
mod identity;
mod info;
mod race;
mod resolve;
mod rules;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

pub use change::{Applied, Change, ChangeKind};
pub use entry::{EntryState, Reason, RemoteEntry, RemoteValue, Snapshot, Version};
pub use identity::DestinationIdentity;
pub use info::{Capabilities, DestinationInfo, RateBudget};
pub use race::create_or_update;
pub use resolve::NameLookup;
pub use rules::{CaseRule, KeyRule, KeyRules, StandardRules, Verdict};

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

/// Writes one change per call: one change, one result. The engine calls it concurrently
/// (up to the sync's concurrency), all creates and updates first, deletes only after every
/// write succeeded, and stops at the deadline.
///
/// Return [`Applied`] only when the service confirmed the change. A service that answers
/// 409 to a create (created elsewhere meanwhile) or 404 to an update (deleted meanwhile) is
/// best answered with the other operation ([`create_or_update`] does that); a delete
/// answered 404 is done.
#[async_trait]
pub trait PerKeyWriter: Send + Sync {
    /// Applies one change.
    async fn write(&self, change: &Change) -> Result<Applied>;
}

/// Writes every change at once: all changes plus the snapshot's [`Version`] as the
/// precondition, one result. On success return one [`Applied`] per change, in order; a
/// set changed since it was listed is a [`Conflict`](crate::ErrorKind::Conflict), which
/// the engine answers by listing and planning again (a bounded number of times).
#[async_trait]
pub trait BatchWriter: Send + Sync {
    /// Applies every change in one write.
    async fn write_all(&self, changes: &[Change], expect: Option<&Version>)
        -> Result<Vec<Applied>>;
}

/// How a destination writes: per key or as a batch.
#[derive(Clone, Copy)]
pub enum Writer<'a> {
    /// One change per request.
    PerKey(&'a dyn PerKeyWriter),
    /// All changes in one write.
    Batch(&'a dyn BatchWriter),
}

impl Writer<'_> {
    /// Per-key or batch.
    pub fn mode(&self) -> WriteMode {
        match self {
            Writer::PerKey(_) => WriteMode::PerKey,
            Writer::Batch(_) => WriteMode::Batch,
        }
    }
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer::{:?}", self.mode())
    }
}

/// A place secrets are synced to.
///
/// Implemented once per service (Bitbucket, Checkly, Octopus,
/// [`MemoryDestination`](crate::MemoryDestination)) and used as `Arc<dyn Destination>`.
/// It describes itself and does I/O; it never calls back into the engine.
///
/// Requests made through [`http::HttpClient`](crate::http::HttpClient) are counted
/// against the run that makes them; a destination that talks to its service another way
/// calls [`count_request`](crate::count_request) once per request.
///
/// ```
/// use std::sync::Arc;
/// use kms_sync_core::{Destination, MemoryDestination, WriteMode};
/// let dest: Arc<dyn Destination> = Arc::new(MemoryDestination::builder().build());
/// assert_eq!(dest.info().kind, "memory");
/// assert_eq!(dest.writer().mode(), WriteMode::PerKey);
/// ```
#[async_trait]
pub trait Destination: Send + Sync {
    /// Which destination this is and what it can do.
    fn info(&self) -> &DestinationInfo;

    /// Its key and value rules.
    fn rules(&self) -> &dyn KeyRules;

    /// Reads every entry in scope, all pages. A list that cannot be completed is an error.
    async fn list(&self) -> Result<Snapshot>;

    /// How it writes.
    fn writer(&self) -> Writer<'_>;

    /// The name of the remote list this destination rewrites whole with no version check
    /// (a Checkly group), if any. The engine holds the [`ScopeLocks`](crate::ScopeLocks)
    /// lock of this name from the list to the last write, so two syncs of that list never
    /// undo each other's writes. Name it so that every destination writing the same list
    /// gets the same name (the service's base URL and the list's id). Default: none.
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        Ok(None)
    }
}
