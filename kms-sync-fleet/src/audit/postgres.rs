//! The default sink: the `audit_events` table of the registry's schema, with retention.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kms_sync_core::Result;
use serde_json::{Map, Value};

use super::{AuditEvent, AuditEventKind, AuditRecord, AuditSink};
use crate::error;
use crate::registry::Shared;

/// How long events are kept unless configured: 90 days.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_AUDIT_RETENTION.as_secs(), 90 * 24 * 3600);
/// ```
pub const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Events are pruned after every this many inserts (by row id), so pruning costs little.
const PRUNE_EVERY: i64 = 256;

const COLUMNS: &str =
    "id, at, event, actor, project_id, sync_id, connection_id, destination, metadata";

/// The registry's audit table: [`SyncRegistry::audit_log`](crate::SyncRegistry::audit_log).
/// Events older than the retention are deleted as new ones arrive.
///
/// ```no_run
/// # async fn f(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// use kms_sync_fleet::AuditQuery;
/// let log = registry.audit_log().retention(std::time::Duration::from_secs(7 * 24 * 3600));
/// let recent = log.list(&AuditQuery::new().project("p1").limit(50)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgAuditSink {
    shared: Arc<Shared>,
    retention: Duration,
}

impl std::fmt::Debug for PgAuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuditSink")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// Which events [`PgAuditSink::list`] reads: newest first, filtered.
///
/// ```
/// let q = kms_sync_fleet::AuditQuery::new().project("p1").event("get-secret-sync").limit(10);
/// ```
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    project_id: Option<String>,
    sync_id: Option<String>,
    event: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

impl AuditQuery {
    /// Every event, the newest 100.
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new();
    /// ```
    pub fn new() -> AuditQuery {
        AuditQuery::default()
    }

    /// Only events of `project`.
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new().project("p1");
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> AuditQuery {
        self.project_id = Some(project.into());
        self
    }

    /// Only events about sync `id`.
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new().sync("0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d");
    /// ```
    pub fn sync(mut self, id: impl Into<String>) -> AuditQuery {
        self.sync_id = Some(id.into());
        self
    }

    /// Only events named `event` (the KMS's name).
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new().event("delete-secret-sync");
    /// ```
    pub fn event(mut self, event: impl Into<String>) -> AuditQuery {
        self.event = Some(event.into());
        self
    }

    /// Only events older than row `id` (paging).
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new().before(1000);
    /// ```
    pub fn before(mut self, id: i64) -> AuditQuery {
        self.before = Some(id);
        self
    }

    /// At most `n` events (1 to 1000; default 100).
    ///
    /// ```
    /// let q = kms_sync_fleet::AuditQuery::new().limit(20);
    /// ```
    pub fn limit(mut self, n: usize) -> AuditQuery {
        self.limit = Some(n);
        self
    }
}

impl AuditQuery {
    /// Whether `record` is one this query selects (its filters; not the limit).
    pub(crate) fn selects(&self, record: &AuditRecord) -> bool {
        let event = &record.event;
        let same = |want: &Option<String>, have: &Option<String>| {
            want.is_none() || want.as_deref() == have.as_deref()
        };
        same(&self.project_id, &event.project_id)
            && same(&self.sync_id, &event.sync_id)
            && self
                .event
                .as_deref()
                .is_none_or(|e| e == event.kind.as_str())
            && self.before.is_none_or(|before| record.id < before)
    }

    /// How many records the query reads at most: its limit, 1 to 1000 (default 100).
    pub(crate) fn capped_limit(&self) -> usize {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

impl PgAuditSink {
    pub(crate) fn new(shared: Arc<Shared>) -> PgAuditSink {
        PgAuditSink {
            shared,
            retention: DEFAULT_AUDIT_RETENTION,
        }
    }

    /// Keep events this long (default [`DEFAULT_AUDIT_RETENTION`]).
    ///
    /// ```no_run
    /// # fn f(registry: kms_sync_fleet::SyncRegistry) {
    /// let log = registry.audit_log().retention(std::time::Duration::from_secs(24 * 3600));
    /// # }
    /// ```
    pub fn retention(mut self, keep: Duration) -> PgAuditSink {
        self.retention = keep;
        self
    }

    /// Deletes the events older than the retention; how many.
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn f(log: kms_sync_fleet::PgAuditSink) -> kms_sync_core::Result<()> {
    /// let pruned = log.prune().await?;
    /// # Ok(()) }
    /// ```
    pub async fn prune(&self) -> Result<u64> {
        let doing = "pruning the audit trail";
        let client = self.shared.pool.get(doing).await?;
        let sql = self
            .shared
            .sql("DELETE FROM {s}.audit_events WHERE at < now() - make_interval(secs => $1)");
        let secs = self.retention.as_secs_f64();
        client
            .execute(&sql, &[&secs])
            .await
            .map_err(|e| error::db(doing, e))
    }

    /// The events `query` selects, newest first.
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn f(log: kms_sync_fleet::PgAuditSink) -> kms_sync_core::Result<()> {
    /// for r in log.list(&kms_sync_fleet::AuditQuery::new()).await? {
    ///     println!("{} {}", r.event.kind.as_str(), r.event.actor);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let doing = "reading the audit trail";
        let client = self.shared.pool.get(doing).await?;
        let sql = self.shared.sql(&format!(
            "SELECT {COLUMNS} FROM {{s}}.audit_events \
             WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR sync_id = $2) \
             AND ($3::text IS NULL OR event = $3) AND ($4::bigint IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ));
        let limit = i64::try_from(query.capped_limit()).unwrap_or(100);
        let rows = client
            .query(
                &sql,
                &[
                    &query.project_id,
                    &query.sync_id,
                    &query.event,
                    &query.before,
                    &limit,
                ],
            )
            .await
            .map_err(|e| error::db(doing, e))?;
        Ok(rows.iter().filter_map(record_of).collect())
    }
}

/// A row as a record; a row of an event this crate does not know (or of another shape)
/// is skipped.
fn record_of(row: &tokio_postgres::Row) -> Option<AuditRecord> {
    let kind = AuditEventKind::parse(row.try_get::<_, &str>("event").ok()?)?;
    let metadata = match row.try_get::<_, Value>("metadata").ok()? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Some(AuditRecord {
        id: row.try_get("id").ok()?,
        at: row.try_get::<_, SystemTime>("at").ok()?,
        event: AuditEvent {
            kind,
            actor: row.try_get("actor").ok()?,
            project_id: row.try_get("project_id").ok()?,
            sync_id: row.try_get("sync_id").ok()?,
            connection_id: row.try_get("connection_id").ok()?,
            destination: row.try_get("destination").ok()?,
            metadata,
        },
    })
}

#[kms_sync_core::async_trait]
impl AuditSink for PgAuditSink {
    async fn record(&self, event: AuditEvent) -> Result<()> {
        let doing = "recording an audit event";
        let client = self.shared.pool.get(doing).await?;
        let sql = self.shared.sql(
            "INSERT INTO {s}.audit_events \
             (event, actor, project_id, sync_id, connection_id, destination, metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        );
        let metadata = Value::Object(event.metadata);
        let row = client
            .query_one(
                &sql,
                &[
                    &event.kind.as_str(),
                    &event.actor,
                    &event.project_id,
                    &event.sync_id,
                    &event.connection_id,
                    &event.destination,
                    &metadata,
                ],
            )
            .await
            .map_err(|e| error::db(doing, e))?;
        drop(client);
        if row.try_get::<_, i64>("id").unwrap_or(1) % PRUNE_EVERY == 0 {
            self.prune().await?;
        }
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        PgAuditSink::list(self, query).await
    }
}
