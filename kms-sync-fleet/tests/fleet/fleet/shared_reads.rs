//! Shared reads against the fake KMS over HTTP: N syncs on K folders cost K reads per
//! round, `304`s while nothing changed, one round at a time across pollers on separate
//! pools, only the changed folder's syncs triggered; and the webhook trigger.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync_core::{Error, Result};
use kms_sync_fleet::metrics::ROUND_READS;
use kms_sync_fleet::{
    trigger_webhook, HanzoSources, PollAttempt, PollRound, SharedReads, SourceProvider,
    SyncRegistry, Triggered,
};
use kms_sync_hanzo::fake::{FakeKms, PROJECT_ID};
use kms_sync_hanzo::{sign_webhook, verify_webhook};
use secrecy::SecretString;

use super::{connection, recorder, registry, TrackedFactory, LEDGER_KEY};
use crate::support::{fail, TestDb};

const FOLDERS: usize = 6;
const PER_FOLDER: usize = 10;
const INTERVAL: Duration = Duration::from_millis(400);

fn ran(attempt: PollAttempt) -> Result<PollRound> {
    match attempt {
        PollAttempt::Ran(round) => Ok(round),
        other => Err(Error::unexpected(format!("no round ran: {other:?}"))),
    }
}

async fn count(db: &TestDb, sql: &str) -> Result<i64> {
    let sql = sql.replace("{s}", &format!("\"{}\"", db.schema()));
    Ok(db
        .admin()
        .await?
        .query_one(&sql, &[])
        .await
        .map_err(fail)?
        .get(0))
}

/// The triggers of `cause` queued for the syncs reading `path`.
async fn triggers(db: &TestDb, cause: &str, path: &str) -> Result<i64> {
    let sql = format!(
        "SELECT count(*) FROM {{s}}.sync_triggers t JOIN {{s}}.syncs s ON s.id = t.sync_id \
         WHERE t.cause = '{cause}' AND s.secret_path = '{path}'"
    );
    count(db, &sql).await
}

async fn kms_sync(
    registry: &SyncRegistry,
    conn: &kms_sync_fleet::ConnectionRecord,
    name: &str,
    folder: usize,
    auto: bool,
) -> Result<()> {
    let body = format!(
        r#"{{"name": "{name}", "projectId": "{PROJECT_ID}", "connectionId": "{}",
            "environment": "dev", "secretPath": "/f{folder}", "isAutoSyncEnabled": {auto},
            "destinationConfig": {{"target": "{name}"}}}}"#,
        conn.id
    );
    registry
        .syncs()
        .create("fleet-memory", &body)
        .await
        .map(|_| ())
}

/// The fake KMS with `FOLDERS` folders, `PER_FOLDER` auto syncs on each (and one manual
/// sync), a provider on it and the first poller.
struct Setup {
    kms: FakeKms,
    tracked: TrackedFactory,
    registry: SyncRegistry,
    provider: Arc<dyn SourceProvider>,
    reads: SharedReads,
}

async fn setup(db: &TestDb) -> Result<Setup> {
    let kms = FakeKms::start().await;
    for f in 0..FOLDERS {
        kms.set("dev", &format!("/f{f}"), "VALUE", &format!("v{f}"));
    }
    let tracked = TrackedFactory::default();
    let registry = registry(db, &tracked).await?;
    let conn = connection(&registry).await?;
    for f in 0..FOLDERS {
        for n in 0..PER_FOLDER {
            kms_sync(&registry, &conn, &format!("f{f}-s{n}"), f, true).await?;
        }
    }
    kms_sync(&registry, &conn, "manual-only", 2, false).await?;
    // One revision key across the fleet: a revision one poller stored means the same to
    // another poller's sources.
    let template = kms
        .source_builder("dev", "/")
        .revision_key([3; 32])
        .build()?;
    let provider: Arc<dyn SourceProvider> = Arc::new(HanzoSources::new(template));
    let reads = SharedReads::new(registry.clone(), provider.clone(), LEDGER_KEY.to_vec())?;
    Ok(Setup {
        kms,
        tracked,
        registry,
        provider,
        reads,
    })
}

/// Round 1: every folder seen for the first time: one read each, all triggered; not due
/// again before the interval, whoever asks.
async fn first_round_reads_every_folder_once(s: &Setup) -> Result<()> {
    let r1 = ran(s.reads.poll_round("reader-1", INTERVAL).await?)?;
    assert_eq!(
        (r1.sources, r1.reads, r1.changed, r1.errors),
        (FOLDERS, FOLDERS, FOLDERS, 0)
    );
    assert_eq!(r1.triggered, FOLDERS * PER_FOLDER);
    assert_eq!(
        s.kms.list_reads(),
        (FOLDERS, 0),
        "K reads for N = {} syncs",
        FOLDERS * PER_FOLDER
    );
    assert!(matches!(
        s.reads.poll_round("reader-2", INTERVAL).await?,
        PollAttempt::NotDue { .. }
    ));
    assert_eq!(s.kms.list_reads(), (FOLDERS, 0));
    Ok(())
}

/// The rounds `count` pollers, each on its own pool, ran when racing once.
async fn race(db: &TestDb, s: &Setup, count: usize) -> Result<Vec<PollRound>> {
    let mut racers = Vec::new();
    for _ in 0..count {
        let own = super::registry(db, &s.tracked).await?;
        racers.push(SharedReads::new(
            own,
            s.provider.clone(),
            LEDGER_KEY.to_vec(),
        )?);
    }
    let attempts = futures::future::join_all(
        racers
            .iter()
            .enumerate()
            .map(|(i, r)| async move { r.poll_round(&format!("racer-{i}"), INTERVAL).await }),
    )
    .await;
    Ok(attempts
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter_map(|a| match a {
            PollAttempt::Ran(r) => Some(r),
            _ => None,
        })
        .collect())
}

/// Round 2: four pollers on their own pools race; exactly one runs the round; nothing
/// changed, so nothing is triggered (the racers' sources are new: bodies, same revisions).
/// The KMS's `(bodies, not_modified)` reads after it.
async fn racing_pollers_run_one_round(db: &TestDb, s: &Setup) -> Result<(usize, usize)> {
    tokio::time::sleep(INTERVAL).await;
    db.execute(&format!("DELETE FROM \"{}\".sync_triggers", db.schema()))
        .await?;
    let rounds = race(db, s, 4).await?;
    assert_eq!(rounds.len(), 1, "one round at a time: {rounds:?}");
    assert_eq!(
        (rounds[0].reads, rounds[0].changed, rounds[0].triggered),
        (FOLDERS, 0, 0)
    );
    let (bodies, not_modified) = s.kms.list_reads();
    assert_eq!(bodies + not_modified, 2 * FOLDERS);
    Ok((bodies, not_modified))
}

/// Round 3, by the first poller again: its ETags are current, so six 304s.
async fn unchanged_round_reads_304s(
    s: &Setup,
    (bodies, not_modified): (usize, usize),
) -> Result<()> {
    tokio::time::sleep(INTERVAL).await;
    let r3 = ran(s.reads.poll_round("reader-1", INTERVAL).await?)?;
    assert_eq!((r3.reads, r3.changed, r3.triggered), (FOLDERS, 0, 0));
    assert_eq!(
        s.kms.list_reads(),
        (bodies, not_modified + FOLDERS),
        "304s, no bodies"
    );
    Ok(())
}

/// One folder changes: the next round reads one body and triggers its syncs only.
async fn changed_folder_triggers_its_syncs_only(
    db: &TestDb,
    s: &Setup,
    (bodies, not_modified): (usize, usize),
) -> Result<()> {
    s.kms.set("dev", "/f2", "VALUE", "changed");
    tokio::time::sleep(INTERVAL).await;
    let r4 = ran(s.reads.poll_round("reader-1", INTERVAL).await?)?;
    assert_eq!(
        (r4.reads, r4.changed, r4.triggered),
        (FOLDERS, 1, PER_FOLDER)
    );
    assert_eq!(
        s.kms.list_reads(),
        (bodies + 1, not_modified + 2 * FOLDERS - 1)
    );
    assert_eq!(
        triggers(db, "source-change", "/f2").await?,
        PER_FOLDER as i64
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM {s}.sync_triggers").await?,
        PER_FOLDER as i64,
        "auto-sync off and other folders: not triggered"
    );
    assert_eq!(
        count(db, "SELECT count(*) FROM {s}.source_revisions").await?,
        FOLDERS as i64
    );
    Ok(())
}

/// `body` signed at `ms` with `key`, verified as the webhook route would.
fn signed_event(key: &SecretString, body: &str, ms: u64) -> Result<kms_sync_hanzo::WebhookEvent> {
    let header = sign_webhook(key, body.as_bytes(), ms);
    verify_webhook(key, &header, body.as_bytes(), Duration::from_secs(60))
}

/// The webhook: a signed secrets.modified for /f4 triggers its syncs, and asks for a round;
/// a signed test event does neither.
async fn webhook_triggers_the_folders_syncs(db: &TestDb, s: &Setup) -> Result<()> {
    db.execute(&format!("DELETE FROM \"{}\".sync_triggers", db.schema()))
        .await?;
    let key = SecretString::from("webhook-signing-key".to_owned());
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(fail)?
        .as_millis() as u64;
    let body = format!(
        r#"{{"event":"secrets.modified","project":{{"workspaceId":"{PROJECT_ID}","projectId":"{PROJECT_ID}","projectName":"app","environment":"dev","secretPath":"/f4/"}},"timestamp":{ms}}}"#
    );
    let done = trigger_webhook(&s.registry, &signed_event(&key, &body, ms)?).await?;
    assert!(done.poll_requested);
    assert_eq!(done.triggered.len(), PER_FOLDER);
    assert!(
        done.triggered
            .iter()
            .all(|(_, t)| matches!(t, Triggered::Queued(_))),
        "{done:?}"
    );
    assert_eq!(triggers(db, "webhook", "/f4").await?, PER_FOLDER as i64);
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM {s}.source_polls WHERE next_at <= now()"
        )
        .await?,
        1,
        "the next round is due now"
    );
    let test_body = format!(r#"{{"event":"test","timestamp":{ms}}}"#);
    let nothing = trigger_webhook(&s.registry, &signed_event(&key, &test_body, ms)?).await?;
    assert!(nothing.triggered.is_empty() && !nothing.poll_requested);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_syncs_on_k_sources_cost_k_reads_per_round() -> Result<()> {
    let db = db!("fleet::shared_reads::n_syncs_on_k_sources_cost_k_reads_per_round");
    let metrics = recorder();
    let s = setup(&db).await?;
    first_round_reads_every_folder_once(&s).await?;
    let after_race = racing_pollers_run_one_round(&db, &s).await?;
    unchanged_round_reads_304s(&s, after_race).await?;
    changed_folder_triggers_its_syncs_only(&db, &s, after_race).await?;
    let samples = metrics.samples(ROUND_READS, "worker=reader-1");
    assert_eq!(
        samples,
        vec![FOLDERS as f64; 3],
        "reads per round, as the metric reports them"
    );
    webhook_triggers_the_folders_syncs(&db, &s).await?;
    db.finish().await
}
