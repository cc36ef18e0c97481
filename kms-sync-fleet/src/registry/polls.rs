//! [`Polls`]: the poll tables (`source_polls`, `source_revisions`) and the source-to-syncs
//! lookup, for the shared reads and the triggers an embedder fires. Their SQL lives here,
//! with the registry's other statements, so nothing outside the registry writes SQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{Error, Result};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::ids::SyncId;
use super::Shared;
use crate::error;
use crate::pipeline::query;
use crate::sources::SourceKey;

/// The poll tables' statements, the schema spliced in.
#[derive(Debug)]
pub(crate) struct PollStatements {
    take: String,
    revisions: String,
    finish: String,
    end: String,
    request: String,
    syncs_of: String,
}

impl PollStatements {
    /// The statements with `{s}` replaced by `schema` (quoted).
    pub fn new(schema: &str) -> PollStatements {
        let sql = |template: &str| template.replace("{s}", schema);
        PollStatements {
            take: sql(TAKE),
            revisions: sql("SELECT project_id, environment, secret_path, revision \
                 FROM {s}.source_revisions"),
            finish: sql(FINISH),
            end: sql(
                "UPDATE {s}.source_polls SET holder = NULL, lease_until = NULL, \
                 next_at = now() + $1::bigint * interval '1 millisecond' \
                 WHERE id AND holder = $2",
            ),
            request: sql(
                "WITH u AS (UPDATE {s}.source_polls SET next_at = now() WHERE id \
                 RETURNING 1) SELECT pg_notify($1::text, 'poll') FROM u",
            ),
            syncs_of: sql("SELECT id FROM {s}.syncs \
                 WHERE coalesce(project_id, '') = coalesce($1::text, '') \
                 AND environment = $2 AND rtrim(secret_path, '/') = rtrim($3::text, '/') \
                 AND is_enabled ORDER BY id"),
        }
    }
}

/// Takes the next round when due and free (`$1` worker, `$2` lease ms): its number, or
/// none and how long until one is due.
const TAKE: &str = "WITH c AS ( \
        UPDATE {s}.source_polls SET round = round + 1, holder = $1, \
            lease_until = now() + $2::bigint * interval '1 millisecond' \
        WHERE id AND next_at <= now() AND (lease_until IS NULL OR lease_until <= now()) \
        RETURNING round) \
     SELECT (SELECT round FROM c) AS round, \
        greatest(0, (extract(epoch FROM greatest(p.next_at, coalesce(p.lease_until, p.next_at)) \
            - now()) * 1000))::bigint AS wait_ms \
     FROM {s}.source_polls p";

/// Ends a round: the revisions of sources no longer read dropped, the changed ones stored,
/// the round released and the next one due after the interval.
const FINISH: &str = "WITH keys AS ( \
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS k(project_id, environment, secret_path) \
     ), gone AS ( \
        DELETE FROM {s}.source_revisions r WHERE NOT EXISTS (SELECT 1 FROM keys k \
            WHERE k.project_id = r.project_id AND k.environment = r.environment \
            AND k.secret_path = r.secret_path) RETURNING 1 \
     ), up AS ( \
        INSERT INTO {s}.source_revisions (project_id, environment, secret_path, revision) \
        SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) \
        ON CONFLICT (project_id, environment, secret_path) DO UPDATE SET \
            revision = EXCLUDED.revision, changed_at = now(), checked_at = now() \
        RETURNING 1 \
     ), done AS ( \
        UPDATE {s}.source_polls SET holder = NULL, lease_until = NULL, \
            next_at = now() + $8::bigint * interval '1 millisecond', \
            last_sources = $9, last_reads = $9, last_changed = $10, last_finished = now() \
        WHERE id AND holder = $11 RETURNING 1 \
     ) SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM up) AS up, \
        (SELECT count(*) FROM done) AS done";

/// What taking a round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// This worker runs round `n`.
    Round(u64),
    /// Not due, or another worker runs it: the next is due after this.
    NotDue(Duration),
}

/// What a round ends with: the sources it read (each key's columns), the revisions to
/// store, how many changed.
pub(crate) struct RoundEnd<'a> {
    pub read: &'a [(SourceKey, Vec<SyncId>)],
    pub store: &'a [(&'a SourceKey, String)],
    pub changed: usize,
}

/// The poll tables of a registry. Get one from `SyncRegistry::polls`.
#[derive(Clone)]
pub(crate) struct Polls {
    shared: Arc<Shared>,
}

impl Polls {
    pub(crate) fn new(shared: Arc<Shared>) -> Polls {
        Polls { shared }
    }

    /// Takes the next round for `worker`, leased for `lease`, if it is due and free.
    pub async fn take(&self, worker: &str, lease: Duration) -> Result<Taken> {
        let doing = "starting a source poll round";
        let params: [&(dyn ToSql + Sync); 2] = [&worker, &millis(lease)];
        let row = query(&self.shared.pool, &self.shared.polls.take, &params, doing)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::unexpected("the source_polls row is missing"))?;
        let round: Option<i64> = row.try_get("round").map_err(|e| error::db(doing, e))?;
        Ok(match round {
            Some(n) => Taken::Round(u64::try_from(n).unwrap_or(0)),
            None => {
                let wait: i64 = row.try_get("wait_ms").map_err(|e| error::db(doing, e))?;
                Taken::NotDue(Duration::from_millis(u64::try_from(wait).unwrap_or(0)))
            }
        })
    }

    /// The revisions (HMAC'd) the fleet stored, by source.
    pub async fn revisions(&self) -> Result<HashMap<SourceKey, String>> {
        let doing = "reading the stored source revisions";
        let rows = query(&self.shared.pool, &self.shared.polls.revisions, &[], doing).await?;
        let mut stored = HashMap::new();
        for row in rows {
            let get = |c: &str| row.try_get::<_, String>(c).map_err(|e| error::db(doing, e));
            let project = get("project_id")?;
            let key = SourceKey::new(
                (!project.is_empty()).then_some(project.as_str()),
                get("environment")?,
                get("secret_path")?,
            );
            stored.insert(key, get("revision")?);
        }
        Ok(stored)
    }

    /// Ends `worker`'s round (see [`RoundEnd`]); the next is due after `interval`.
    pub async fn finish(&self, worker: &str, interval: Duration, end: RoundEnd<'_>) -> Result<()> {
        let doing = "ending a source poll round";
        let [kp, ke, ks] = key_columns(end.read.iter().map(|(k, _)| k));
        let [sp, se, ss] = key_columns(end.store.iter().map(|(k, _)| *k));
        let sr: Vec<&str> = end.store.iter().map(|(_, r)| r.as_str()).collect();
        let n = i32::try_from(end.read.len()).unwrap_or(i32::MAX);
        let c = i32::try_from(end.changed).unwrap_or(i32::MAX);
        let params: [&(dyn ToSql + Sync); 11] = [
            &kp,
            &ke,
            &ks,
            &sp,
            &se,
            &ss,
            &sr,
            &millis(interval),
            &n,
            &c,
            &worker,
        ];
        query(&self.shared.pool, &self.shared.polls.finish, &params, doing).await?;
        Ok(())
    }

    /// Ends `worker`'s failed round so the next is due after `interval`.
    pub async fn end_failed(&self, worker: &str, interval: Duration) -> Result<()> {
        let doing = "ending a failed source poll round";
        let params: [&(dyn ToSql + Sync); 2] = [&millis(interval), &worker];
        query(&self.shared.pool, &self.shared.polls.end, &params, doing).await?;
        Ok(())
    }

    /// Makes a round due now, and wakes the workers.
    pub async fn request(&self) -> Result<()> {
        let doing = "requesting a source poll round";
        let params: [&(dyn ToSql + Sync); 1] = [&self.shared.channel];
        query(
            &self.shared.pool,
            &self.shared.polls.request,
            &params,
            doing,
        )
        .await?;
        Ok(())
    }

    /// The enabled syncs reading `source` (its path with or without a trailing `/`).
    pub async fn syncs_of(&self, source: &SourceKey) -> Result<Vec<SyncId>> {
        let doing = format!("finding the syncs of source {source}");
        let params: [&(dyn ToSql + Sync); 3] =
            [&source.project_id, &source.environment, &source.secret_path];
        let rows = query(
            &self.shared.pool,
            &self.shared.polls.syncs_of,
            &params,
            &doing,
        )
        .await?;
        rows.iter()
            .map(|r| r.try_get::<_, Uuid>("id").map(SyncId))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| error::db(&doing, e))
    }
}

/// The project (empty for none), environment and path columns of `keys`.
fn key_columns<'a>(keys: impl Iterator<Item = &'a SourceKey>) -> [Vec<&'a str>; 3] {
    let mut columns: [Vec<&str>; 3] = Default::default();
    for k in keys {
        columns[0].push(k.project_id.as_deref().unwrap_or_default());
        columns[1].push(&k.environment);
        columns[2].push(&k.secret_path);
    }
    columns
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_columns_keep_the_order_and_an_empty_project() {
        let a = SourceKey::new(Some("p"), "prod", "/");
        let b = SourceKey::new(None, "dev", "/api");
        let [p, e, s] = key_columns([&a, &b].into_iter());
        assert_eq!(
            (p, e, s),
            (vec!["p", ""], vec!["prod", "dev"], vec!["/", "/api"])
        );
    }
}
