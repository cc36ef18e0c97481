//! Runs through a worker with the audit trail and failure notices on: a failing
//! destination fires one notice per failure episode (not per retry) and one when it
//! recovers, each signed; every run is in the audit trail with its keys; and neither a
//! notice nor an audit row carries a secret value or a credential.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use kms_sync_api::axum;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN};
use kms_sync_core::{Error, Result};
use kms_sync_fleet::{
    AuditQuery, AuditRecord, AuditRuns, FailureNotices, WebhookNotifier, Worker, SIGNATURE_HEADER,
};
use kms_sync_hanzo::fake::FakeKms;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::{expect, fixture, scan, text, with_connection, Api, TestDb, SAMPLE_PROJECT};
use crate::worker_loop::{bitbucket_fakes, until, FakeSources};

const HOOK_KEY: &[u8] = b"notice-signing-key";
const WRONG_TOKEN: &str = "wrong-bitbucket-token-canary";

/// What the loopback webhook received: the signature header and the body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on 127.0.0.1; its URL and what it received.
async fn receiver() -> Result<(String, Received)> {
    let got: Received = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sig = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if let Ok(mut v) = sink.lock() {
                    v.push((sig, body));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(crate::support::fail)?;
    let url = format!(
        "http://{}/hook",
        listener.local_addr().map_err(crate::support::fail)?
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, got))
}

pub(crate) struct Harness {
    pub api: Api,
    received: Received,
    pub stop: tokio::sync::oneshot::Sender<()>,
    _kms: Arc<FakeKms>,
    _bitbucket: FakeBitbucket,
}

pub(crate) async fn harness(db: &TestDb) -> Result<Harness> {
    let (kms, bitbucket, builder) = bitbucket_fakes(db).await?;
    let registry = builder
        .backoff(Duration::from_millis(100), Duration::from_millis(300))
        .build()?;
    let (url, received) = receiver().await?;
    let hook = WebhookNotifier::with_backoff(&url, HOOK_KEY.to_vec(), Duration::from_millis(20))?;
    let worker = Worker::builder(registry.clone(), Arc::new(FakeSources(kms.clone())))
        .worker_id("audit-worker")
        .ledger_key(vec![7u8; 32])
        .fallback_poll(Duration::from_millis(100))
        .source_poll(None)
        .run_listener(Arc::new(AuditRuns::new(
            registry.clone(),
            Arc::new(registry.audit_log()),
        )))
        .run_listener(Arc::new(FailureNotices::new(
            registry.clone(),
            Arc::new(hook),
        )))
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        worker
            .run_until(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Harness {
        api: Api::with_registry(registry).await?,
        received,
        stop,
        _kms: kms,
        _bitbucket: bitbucket,
    })
}

/// The notices received so far, their signatures checked.
fn notices(h: &Harness) -> Result<Vec<Value>> {
    let got = h.received.lock().map(|v| v.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for (sig, body) in got {
        let (t, v1) = sig
            .strip_prefix("t=")
            .and_then(|rest| rest.split_once(",v1="))
            .ok_or_else(|| Error::unexpected(format!("signature header `{sig}`")))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_KEY).map_err(crate::support::fail)?;
        mac.update(format!("{t}.{body}").as_bytes());
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if want != v1 {
            return Err(Error::unexpected("a notice's signature does not verify"));
        }
        scan("a notice", &body)?;
        if body.contains(WRONG_TOKEN) {
            return Err(Error::unexpected("a notice carries the refused token"));
        }
        out.push(serde_json::from_str(&body).map_err(crate::support::fail)?);
    }
    Ok(out)
}

/// A metadata field of a recorded event (null when absent).
fn meta<'a>(record: &'a kms_sync_fleet::AuditRecord, field: &str) -> &'a Value {
    record.event.metadata.get(field).unwrap_or(&Value::Null)
}

fn count(list: &[Value], event: &str) -> usize {
    list.iter().filter(|n| n["event"] == json!(event)).count()
}

/// Waits until `n` notices of `event` arrived (10 s at most).
async fn until_notices(h: &Harness, event: &str, n: usize) -> Result<Vec<Value>> {
    for _ in 0..100 {
        let got = notices(h)?;
        if count(&got, event) >= n {
            return Ok(got);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::unexpected(format!(
        "no {event} notice: {:?}",
        notices(h)?
    )))
}

/// A sync on a connection Bitbucket refuses; its URL and the connection's.
pub(crate) async fn failing_sync(h: &Harness) -> Result<(String, String)> {
    let conn = fixture("bitbucket-connection.json")?.replace("<YOUR-API-TOKEN>", WRONG_TOKEN);
    let conn = h
        .api
        .post("/api/v1/app-connections/bitbucket", &conn)
        .await?;
    expect(&conn, 200, "connection")?;
    let conn_id = text(&conn.body, "/appConnection/id").to_owned();
    let created = h
        .api
        .post(
            "/api/v1/secret-syncs/bitbucket",
            &with_connection(&fixture("bitbucket-sync.json")?, &conn_id),
        )
        .await?;
    expect(&created, 200, "sync")?;
    let url = format!(
        "/api/v1/secret-syncs/bitbucket/{}",
        text(&created.body, "/secretSync/id")
    );
    Ok((url, format!("/api/v1/app-connections/bitbucket/{conn_id}")))
}

/// Fails the sync `times` more times by hand (waiting for each run to fail).
async fn fail_again(h: &Harness, url: &str, times: usize) -> Result<()> {
    for _ in 0..times {
        let queued = h.api.post(&format!("{url}/sync-secrets"), "").await?;
        if queued.status != 200 && queued.status != 400 {
            return Err(Error::unexpected(format!("trigger: {}", queued.body)));
        }
        let job = text(&queued.body, "/secretSync/lastSyncJobId").to_owned();
        until(&h.api, url, "the run fails", |s| {
            s["syncStatus"] == "failed" && (job.is_empty() || s["lastSyncJobId"] == json!(job))
        })
        .await?;
    }
    Ok(())
}

/// Fixes the connection and syncs by hand until it succeeds.
pub(crate) async fn recover(h: &Harness, url: &str, conn_url: &str) -> Result<()> {
    let creds = json!({"credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}).to_string();
    expect(
        &h.api.call(Method::PATCH, conn_url, Some(&creds)).await?,
        200,
        "new credentials",
    )?;
    for _ in 0..20 {
        let _ = h.api.post(&format!("{url}/sync-secrets"), "").await?;
        let got = h.api.get(url).await?;
        if got.body["secretSync"]["syncStatus"] == json!("succeeded") {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    until(&h.api, url, "the sync succeeds", |s| {
        s["syncStatus"] == "succeeded"
    })
    .await
    .map(|_| ())
}

/// A sync whose first run fails (a wrong token), then recovers (the right one): its URL.
pub(crate) async fn failed_then_recovered(h: &Harness) -> Result<String> {
    let (url, conn_url) = failing_sync(h).await?;
    until(&h.api, &url, "the first run fails", |s| {
        s["syncStatus"] == "failed"
    })
    .await?;
    recover(h, &url, &conn_url).await?;
    Ok(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_destination_fires_one_notice_per_episode_and_one_on_recovery() -> Result<()> {
    let db = db!("a_failing_destination_fires_one_notice_per_episode_and_one_on_recovery");
    let h = harness(&db).await?;
    let (url, conn_url) = failing_sync(&h).await?;
    until(&h.api, &url, "the first run fails", |s| {
        s["syncStatus"] == "failed"
    })
    .await?;
    fail_again(&h, &url, 2).await?;
    until_notices(&h, "secret-sync-failed", 1).await?;
    recover(&h, &url, &conn_url).await?;
    until_notices(&h, "secret-sync-recovered", 1).await?;
    // Give a late duplicate the time to arrive, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = notices(&h)?;
    let (failed, recovered) = (
        count(&got, "secret-sync-failed"),
        count(&got, "secret-sync-recovered"),
    );
    if failed != 1 || recovered != 1 {
        return Err(Error::unexpected(format!(
            "{failed} failed, {recovered} recovered: {got:?}"
        )));
    }
    let failure = got
        .iter()
        .find(|n| n["event"] == json!("secret-sync-failed"))
        .cloned()
        .unwrap_or_default();
    if !text(&failure, "/text").contains("my-bitbucket-sync")
        || failure["projectId"] != json!(SAMPLE_PROJECT)
    {
        return Err(Error::unexpected(format!("{failure}")));
    }
    let _ = h.stop.send(());
    db.finish().await
}

/// The audit events of sync `sync_id`'s runs, once one has succeeded (5 s at most).
async fn audited_runs(h: &Harness, sync_id: &str) -> Result<Vec<AuditRecord>> {
    let mut runs = Vec::new();
    for _ in 0..50 {
        runs = h
            .api
            .registry
            .audit_log()
            .list(
                &AuditQuery::new()
                    .sync(sync_id)
                    .event("secret-sync-sync-secrets"),
            )
            .await?;
        if runs
            .iter()
            .any(|r| *meta(r, "status") == json!("succeeded"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(runs)
}

/// The audit route lists the calls and the runs, newest first, in the KMS's names.
async fn route_lists_calls_and_runs(h: &Harness) -> Result<()> {
    let listed = h
        .api
        .get(&format!(
            "/api/v1/audit-events?projectId={SAMPLE_PROJECT}&limit=1000"
        ))
        .await?;
    expect(&listed, 200, "audit events")?;
    let names: Vec<&str> = listed.body["auditLogs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["event"]["type"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for want in [
        "create-app-connection",
        "create-secret-sync",
        "update-app-connection",
        "secret-sync-sync-secrets",
        "get-secret-sync",
    ] {
        if !names.contains(&want) {
            return Err(Error::unexpected(format!("no {want} in {names:?}")));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_run_is_audited_with_its_keys_and_no_value() -> Result<()> {
    let db = db!("every_run_is_audited_with_its_keys_and_no_value");
    let h = harness(&db).await?;
    let url = failed_then_recovered(&h).await?;
    let sync_id = url.rsplit('/').next().unwrap_or_default().to_owned();
    let runs = audited_runs(&h, &sync_id).await?;
    // The run that wrote the key names it (later runs found it unchanged).
    let wrote = runs.iter().find(|r| {
        *meta(r, "status") == json!("succeeded")
            && r.event.actor.starts_with("fleet:")
            && r.event.project_id.as_deref() == Some(SAMPLE_PROJECT)
            && meta(r, "created")
                .as_array()
                .is_some_and(|keys| keys.len() == 1 && text(&keys[0], "").contains("DB_URL"))
    });
    if wrote.is_none() {
        return Err(Error::unexpected(format!(
            "no run event names the key it created: {runs:?}"
        )));
    }
    route_lists_calls_and_runs(&h).await?;
    // The canary: no audit row holds a secret value or a credential.
    let every = h
        .api
        .registry
        .audit_log()
        .list(&AuditQuery::new().limit(1000))
        .await?;
    let text_of_rows = format!("{every:?}");
    scan("the audit trail", &text_of_rows)?;
    if text_of_rows.contains(WRONG_TOKEN) || text_of_rows.contains("postgres://v1") {
        return Err(Error::unexpected(
            "an audit row carries a value or a credential",
        ));
    }
    let _ = h.stop.send(());
    db.finish().await
}
