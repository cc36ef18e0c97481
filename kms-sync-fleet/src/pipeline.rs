//! The crate's one SQL idiom: statements written once per handle with the schema spliced in
//! (a `Statements` struct beside the code that runs them), prepared through the pool's
//! per-connection cache ([`prepare`]), and sent so that one unit of work costs one round
//! trip: a single statement, or several in a transaction sent together with its `BEGIN` and
//! `COMMIT` ([`one_trip`]).
//!
//! Why this idiom: a statement sent as text is parsed and described first (a round trip of
//! its own) before it runs; a cached prepared statement is not, after its first use on a
//! connection. And tokio-postgres sends a request as soon as its future is first polled, so
//! statements polled together leave in one write and their answers come back together: a
//! transaction of several statements costs what one statement costs, as long as no
//! statement needs the answer of an earlier one in Rust (those decisions are made in SQL,
//! from rows locked by an earlier statement of the same transaction).

use std::future::Future;

use deadpool_postgres::{ClientWrapper, Object};
use kms_sync_core::Result;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::error;
use crate::pool::PgPool;

/// Runs one statement on a pooled connection, prepared through its cache: one round trip.
pub(crate) async fn query(
    pool: &PgPool,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    doing: &str,
) -> Result<Vec<Row>> {
    let client = pool.get(doing).await?;
    let statement = prepare(&client, sql, doing).await?;
    client
        .query(&statement, params)
        .await
        .map_err(|e| error::db(doing, e))
}

/// Prepares `sql` through the connection's statement cache: a round trip the first time on
/// a connection, none after.
pub(crate) async fn prepare(client: &ClientWrapper, sql: &str, doing: &str) -> Result<Statement> {
    client
        .prepare_cached(sql)
        .await
        .map_err(|e| error::db(doing, e))
}

/// Prepares each of `sqls` (see [`prepare`]), in order.
pub(crate) async fn prepare_all<const N: usize>(
    client: &Object,
    sqls: [&str; N],
    doing: &str,
) -> Result<[Statement; N]> {
    let mut prepared = Vec::with_capacity(N);
    for sql in sqls {
        prepared.push(prepare(client, sql, doing).await?);
    }
    prepared
        .try_into()
        .map_err(|_| kms_sync_core::Error::unexpected("a statement could not be prepared"))
}

/// Runs `work` in a transaction whose `BEGIN`, statements and `COMMIT` leave together: one
/// round trip. Every statement of `work` must already be prepared (see [`prepare`]), so
/// that its first poll sends it; a failed statement aborts the transaction and the `COMMIT`
/// then rolls it back, so nothing of a failed `work` is kept.
pub(crate) async fn one_trip<T, F>(client: &Object, doing: &str, work: F) -> Result<T>
where
    F: Future<Output = std::result::Result<T, tokio_postgres::Error>>,
{
    let (begun, done, committed) = futures::join!(
        client.batch_execute("BEGIN"),
        work,
        client.batch_execute("COMMIT")
    );
    let e = |err| error::db(doing, err);
    begun.map_err(e)?;
    let value = done.map_err(e)?;
    committed.map_err(e)?;
    Ok(value)
}
