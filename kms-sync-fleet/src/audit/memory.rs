//! An in-memory sink: for tests, and for embedders that forward events themselves.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use kms_sync_core::Result;

use super::{AuditEvent, AuditQuery, AuditRecord, AuditSink};

/// Keeps every event in memory, in order; clones share them. Lists them as the
/// PostgreSQL sink does (newest first; ids from 1 in the order recorded).
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
    records: Arc<Mutex<Vec<AuditRecord>>>,
}

impl MemoryAuditSink {
    /// Every event recorded so far, oldest first.
    ///
    /// ```
    /// assert!(kms_sync_fleet::MemoryAuditSink::default().events().is_empty());
    /// ```
    pub fn events(&self) -> Vec<AuditEvent> {
        self.locked().iter().map(|r| r.event.clone()).collect()
    }

    fn locked(&self) -> MutexGuard<'_, Vec<AuditRecord>> {
        match self.records.lock() {
            Ok(records) => records,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[kms_sync_core::async_trait]
impl AuditSink for MemoryAuditSink {
    async fn record(&self, event: AuditEvent) -> Result<()> {
        let mut records = self.locked();
        let id = i64::try_from(records.len()).unwrap_or(i64::MAX - 1) + 1;
        records.push(AuditRecord {
            id,
            at: SystemTime::now(),
            event,
        });
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let records = self.locked();
        let selected = records.iter().rev().filter(|r| query.selects(r));
        Ok(selected.take(query.capped_limit()).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditEventKind;

    async fn sink_of(events: Vec<AuditEvent>) -> MemoryAuditSink {
        let sink = MemoryAuditSink::default();
        for event in events {
            let recorded = sink.record(event).await;
            assert!(recorded.is_ok(), "{recorded:?}");
        }
        sink
    }

    fn ids(records: &[AuditRecord]) -> Vec<i64> {
        records.iter().map(|r| r.id).collect()
    }

    #[tokio::test]
    async fn memory_audit_list_is_newest_first_and_filtered_by_project_sync_and_event() {
        let sink = sink_of(vec![
            AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").project("p1"),
            AuditEvent::new(AuditEventKind::GetSecretSync, "a")
                .project("p1")
                .sync("s1"),
            AuditEvent::new(AuditEventKind::GetSecretSyncs, "b").project("p2"),
            AuditEvent::new(AuditEventKind::DeleteSecretSync, "a")
                .project("p1")
                .sync("s2"),
        ])
        .await;
        let list = |q: AuditQuery| {
            let sink = sink.clone();
            async move { sink.list(&q).await.map(|r| ids(&r)).unwrap_or_default() }
        };
        assert_eq!(list(AuditQuery::new().project("p1")).await, [4, 2, 1]);
        assert_eq!(list(AuditQuery::new().sync("s1")).await, [2]);
        assert_eq!(
            list(AuditQuery::new().event("get-secret-syncs")).await,
            [3, 1]
        );
    }

    #[tokio::test]
    async fn memory_audit_list_pages_with_before_and_limit() {
        let events = (0..5)
            .map(|_| AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").project("p1"))
            .collect();
        let sink = sink_of(events).await;
        let page = sink.list(&AuditQuery::new().before(4).limit(2)).await;
        assert_eq!(page.map(|r| ids(&r)).ok(), Some(vec![3, 2]));
    }
}
