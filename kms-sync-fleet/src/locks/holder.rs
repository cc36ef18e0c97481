//! Who holds an advisory lock: `pg_locks` joined with `pg_stat_activity`.

use std::fmt;

use tokio_postgres::Client;

use super::key::halves;

/// The session holding a scope lock, as PostgreSQL shows it.
///
/// ```no_run
/// # async fn run(locks: kms_sync_fleet::PostgresScopeLocks) -> kms_sync_core::Result<()> {
/// if let Some(holder) = locks.holder("checkly:…:group:7").await? {
///     println!("held by {holder}: backend pid {}", holder.pid);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockHolder {
    /// The holder's `application_name` (set per worker with
    /// [`PostgresConfigBuilder::application_name`](crate::PostgresConfigBuilder::application_name)).
    pub application_name: String,
    /// The server process serving the holder's connection.
    pub pid: i32,
    /// The holder's client address, or `local` for a Unix socket.
    pub client: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` (PostgreSQL backend pid {}, client {})",
            self.application_name, self.pid, self.client
        )
    }
}

const HOLDER: &str = "\
    SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local') \
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
      AND l.classid::bigint = $1 AND l.objid::bigint = $2 \
    LIMIT 1";

/// The session holding the advisory lock `key` in this database, if any.
pub(crate) async fn find(
    client: &Client,
    key: i64,
) -> Result<Option<LockHolder>, tokio_postgres::Error> {
    let (class, object) = halves(key);
    let Some(row) = client.query_opt(HOLDER, &[&class, &object]).await? else {
        return Ok(None);
    };
    Ok(Some(LockHolder {
        pid: row.try_get(0)?,
        application_name: row.try_get(1)?,
        client: row.try_get(2)?,
    }))
}
