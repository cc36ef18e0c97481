//! The audit trail: an [`AuditEvent`] per API call that reads or changes a sync or a
//! connection, and per run of the fleet, named with the KMS's event names
//! ([`AuditEventKind`]), sent to an [`AuditSink`] — by default the PostgreSQL table of
//! [`PgAuditSink`], with retention. Events carry ids, names, counts and key lists; never a
//! secret value or a credential.

mod event;
mod memory;
mod postgres;
mod runs;

pub use event::{AuditEvent, AuditEventKind, AuditRecord};
pub use memory::MemoryAuditSink;
pub use postgres::{AuditQuery, PgAuditSink, DEFAULT_AUDIT_RETENTION};
pub(crate) use runs::tell_listeners;
pub use runs::{AuditRuns, RunEnd, RunListener};

use kms_sync_core::{Error, ErrorKind, Result};

/// Where audit events go. Implement it to send them to your own log pipeline; the fleet
/// and the API call [`record`](Self::record) and log (never propagate to the caller's
/// answer) a failure. The API's `GET /api/v1/audit-events` reads back through
/// [`list`](Self::list), which a write-only sink leaves to its default (an
/// [`ErrorKind::Unsupported`] error).
///
/// ```
/// use kms_sync_fleet::{AuditEvent, AuditEventKind, AuditSink, MemoryAuditSink};
/// # async fn f() -> kms_sync_core::Result<()> {
/// let sink = MemoryAuditSink::default();
/// sink.record(AuditEvent::new(AuditEventKind::GetSecretSyncs, "ci").project("p1")).await?;
/// assert_eq!(sink.events().len(), 1);
/// # Ok(()) }
/// ```
#[kms_sync_core::async_trait]
pub trait AuditSink: Send + Sync {
    /// Records one event.
    ///
    /// # Errors
    ///
    /// The sink's own (a database failure for [`PgAuditSink`]).
    async fn record(&self, event: AuditEvent) -> Result<()>;

    /// The recorded events `query` selects, newest first. The default answers
    /// [`ErrorKind::Unsupported`]: a sink that only forwards events cannot list them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Unsupported`] for a sink that cannot list; the sink's own otherwise.
    ///
    /// ```
    /// use kms_sync_fleet::{AuditEvent, AuditEventKind, AuditQuery, AuditSink, MemoryAuditSink};
    /// # async fn f() -> kms_sync_core::Result<()> {
    /// let sink = MemoryAuditSink::default();
    /// sink.record(AuditEvent::new(AuditEventKind::GetSecretSyncs, "ci").project("p1")).await?;
    /// assert_eq!(sink.list(&AuditQuery::new().project("p1")).await?.len(), 1);
    /// # Ok(()) }
    /// ```
    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let _ = query;
        Err(Error::new(
            ErrorKind::Unsupported,
            "this audit sink cannot list events",
        ))
    }
}
