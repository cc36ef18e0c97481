//! An in-memory sink: for tests, and for embedders that forward events themselves.

use std::sync::{Arc, Mutex};

use kms_sync_core::Result;

use super::{AuditEvent, AuditSink};

/// Keeps every event in memory, in order; clones share them.
///
/// ```
/// use kms_sync_fleet::{AuditEvent, AuditEventKind, AuditSink, MemoryAuditSink};
/// # async fn f() -> kms_sync_core::Result<()> {
/// let sink = MemoryAuditSink::default();
/// sink.record(AuditEvent::new(AuditEventKind::CreateSecretSync, "ci")).await?;
/// assert_eq!(sink.events()[0].kind, AuditEventKind::CreateSecretSync);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryAuditSink {
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl MemoryAuditSink {
    /// Every event recorded so far, oldest first.
    ///
    /// ```
    /// assert!(kms_sync_fleet::MemoryAuditSink::default().events().is_empty());
    /// ```
    pub fn events(&self) -> Vec<AuditEvent> {
        match self.events.lock() {
            Ok(events) => events.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

#[kms_sync_core::async_trait]
impl AuditSink for MemoryAuditSink {
    async fn record(&self, event: AuditEvent) -> Result<()> {
        match self.events.lock() {
            Ok(mut events) => events.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
        Ok(())
    }
}
