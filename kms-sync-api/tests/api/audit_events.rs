//! `GET /api/v1/audit-events`: the API lists the events of the sink it records to — the
//! registry's table by default, the builder's sink when given one — and says clearly when
//! that sink cannot list.

use std::sync::Arc;

use kms_sync_api::Auth;
use kms_sync_core::{async_trait, Result};
use kms_sync_fleet::{AuditEvent, AuditEventKind, AuditQuery, AuditSink, MemoryAuditSink};

use crate::support::{expect, registry, text, Answer, Api, TestDb, SAMPLE_PROJECT, TOKEN};

/// A sink that forwards events and keeps nothing: it cannot list.
struct ForwardOnly;

#[async_trait]
impl AuditSink for ForwardOnly {
    async fn record(&self, _event: AuditEvent) -> Result<()> {
        Ok(())
    }
}

/// The API over `db` recording to `sink` (`None`: no audit).
async fn api_with_sink(db: &TestDb, sink: Option<Arc<dyn AuditSink>>) -> Result<Api> {
    let auth = Auth::bearer_tokens([TOKEN])?;
    Api::custom(registry(db).await?, auth, |b| match sink {
        Some(sink) => b.audit_sink(sink),
        None => b.without_audit(),
    })
    .await
}

async fn list_events(api: &Api) -> Result<Answer> {
    api.get(&format!("/api/v1/audit-events?projectId={SAMPLE_PROJECT}"))
        .await
}

/// The event names of an audit-events answer, in its order.
fn names(answer: &Answer) -> Vec<String> {
    let logs = answer.body["auditLogs"].as_array().cloned();
    logs.unwrap_or_default()
        .iter()
        .map(|e| text(e, "/event/type").to_owned())
        .collect()
}

/// 404 with the clear message, the KMS's envelope.
fn expect_cannot_list(answer: &Answer) -> Result<()> {
    expect(answer, 404, "audit events from a sink that cannot list")?;
    assert_eq!(text(&answer.body, "/error"), "NotFound");
    assert_eq!(
        text(&answer.body, "/message"),
        "this server's audit sink cannot list events"
    );
    Ok(())
}

#[tokio::test]
async fn audit_events_with_a_custom_sink_lists_exactly_that_sinks_events() -> Result<()> {
    let db = db!("audit_events_custom_sink");
    let sink = MemoryAuditSink::default();
    let api = api_with_sink(&db, Some(Arc::new(sink.clone()))).await?;
    let embedder = AuditEvent::new(AuditEventKind::DeleteSecretSync, "embedder");
    sink.record(embedder.project(SAMPLE_PROJECT)).await?;
    let call = api
        .get(&format!(
            "/api/v1/secret-syncs/bitbucket?projectId={SAMPLE_PROJECT}"
        ))
        .await?;
    expect(&call, 200, "list syncs")?;
    let listed = list_events(&api).await?;
    expect(&listed, 200, "audit events")?;
    assert_eq!(names(&listed), ["get-secret-syncs", "delete-secret-sync"]);
    assert_eq!(text(&listed.body, "/auditLogs/1/actor"), "embedder");
    // The registry's table, which the API does not record to here, stays empty.
    let table = api.registry.audit_log().list(&AuditQuery::new()).await?;
    assert!(table.is_empty(), "{table:?}");
    db.finish().await
}

#[tokio::test]
async fn audit_events_from_a_sink_that_cannot_list_answer_404_saying_so() -> Result<()> {
    let db = db!("audit_events_forward_only");
    let api = api_with_sink(&db, Some(Arc::new(ForwardOnly))).await?;
    expect_cannot_list(&list_events(&api).await?)?;
    db.finish().await
}

#[tokio::test]
async fn audit_events_without_audit_answer_404_saying_so() -> Result<()> {
    let db = db!("audit_events_without_audit");
    let api = api_with_sink(&db, None).await?;
    expect_cannot_list(&list_events(&api).await?)?;
    db.finish().await
}
