//! [`PostgresScopeLocks`]: scope locks across processes and machines, on PostgreSQL
//! session-level advisory locks.

mod holder;
pub(crate) mod key;

use std::fmt;
use std::time::Duration;

use kms_sync_core::{async_trait, Error, ErrorKind, Result, ScopeGuard, ScopeLocks};
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error;
use crate::pool::PgPool;
pub use holder::LockHolder;
use key::advisory_key;

/// The key space of scope locks (migrations use another).
const SPACE: &str = "kms-sync scope lock";
/// Beyond the lock wait, how long PostgreSQL may take to answer before the wait is
/// abandoned (and the connection, with anything it might still be granted, closed).
const NETWORK_GRACE: Duration = Duration::from_secs(10);
/// The least time given to finding the holder after a timeout.
const MIN_LOOKUP: Duration = Duration::from_millis(200);

/// The [`ScopeLocks`] of a fleet: two syncs of one scope (one remote group of checks, say) never
/// overlap, whichever process or machine runs them.
///
/// - **Advisory locks on a dedicated connection.** Each lock opens a connection of its own
///   (outside the pool) and takes `pg_advisory_lock` on a 64-bit hash of the scope name.
///   The key does not depend on the schema: every kms-sync on one database excludes every
///   other from a scope, whichever schema it keeps its tables in.
/// - **Released by the server if the holder dies**: the lock belongs to the session, so a
///   crashed process, a dropped connection or a terminated backend releases it.
/// - **Released on drop** by closing that connection: dropping the guard never blocks and
///   needs no runtime.
/// - **Waits up to the given time** (PostgreSQL's `lock_timeout`, so a released lock is
///   granted at once, without polling); a timeout is an [`ErrorKind::Timeout`] naming the
///   scope and the holder's `application_name`, backend pid and address, returned within
///   the wait (a tenth of it, at most 1 s, is kept for finding the holder). A zero wait
///   tries once.
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
/// use kms_sync_core::ScopeLocks;
/// use kms_sync_fleet::{PgPool, PostgresConfig, PostgresScopeLocks};
/// # async fn run() -> kms_sync_core::Result<()> {
/// let pool = PgPool::connect(PostgresConfig::builder().url("postgres://postgres@127.0.0.1/test").build()?).await?;
/// let locks = Arc::new(PostgresScopeLocks::new(pool));
/// let guard = locks.lock("checkly:…:group:7", Duration::from_secs(30)).await?;
/// // read, merge and write the group's variables here
/// drop(guard);
/// // or give them to every syncer: Syncer::builder().scope_locks(locks.clone())
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresScopeLocks {
    pool: PgPool,
}

impl PostgresScopeLocks {
    /// Scope locks on `pool`'s database.
    ///
    /// ```no_run
    /// # fn build(pool: kms_sync_fleet::PgPool) {
    /// let locks = kms_sync_fleet::PostgresScopeLocks::new(pool);
    /// # }
    /// ```
    pub fn new(pool: PgPool) -> PostgresScopeLocks {
        PostgresScopeLocks { pool }
    }

    /// The session holding `scope` now, if any.
    ///
    /// # Errors
    ///
    /// The database's, when it cannot be asked.
    ///
    /// ```no_run
    /// # async fn run(locks: kms_sync_fleet::PostgresScopeLocks) -> kms_sync_core::Result<()> {
    /// assert!(locks.holder("a scope nobody holds").await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn holder(&self, scope: &str) -> Result<Option<LockHolder>> {
        let doing = format!("finding who holds the scope lock `{scope}`");
        let client = self.pool.get(&doing).await?;
        holder::find(&client, advisory_key(SPACE, scope))
            .await
            .map_err(|e| error::db(&doing, e))
    }

    async fn take(&self, scope: &str, wait: Duration) -> Result<ScopeGuard> {
        // A wait too long to represent is as good as forever (30 years).
        let deadline = (Instant::now().checked_add(wait))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(30 * 365 * 86_400));
        let doing = format!("taking the scope lock `{scope}`");
        let key = advisory_key(SPACE, scope);
        let client = self.pool.dedicated(&doing).await?;
        // What is left of the wait, less a reserve for naming the holder, so the timeout
        // reaches the caller within `wait` (a caller racing the same deadline sees it).
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(reserve(wait));
        if acquire(&client, key, budget)
            .await
            .map_err(|e| error::db(&doing, e))?
        {
            tracing::debug!(scope, "took a scope lock");
            return Ok(ScopeGuard::new(Held {
                _client: client,
                scope: scope.to_owned(),
            }));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let holder = tokio::time::timeout(left.max(MIN_LOOKUP), holder::find(&client, key)).await;
        Err(timed_out(
            scope,
            wait,
            holder.ok().and_then(Result::ok).flatten(),
        ))
    }
}

/// The part of a wait kept for finding the holder after a timeout: a tenth, at most 1 s.
fn reserve(wait: Duration) -> Duration {
    (wait / 10).min(Duration::from_secs(1))
}

#[async_trait]
impl ScopeLocks for PostgresScopeLocks {
    async fn lock(&self, scope: &str, wait: Duration) -> Result<ScopeGuard> {
        let limit = wait.saturating_add(NETWORK_GRACE);
        match tokio::time::timeout(limit, self.take(scope, wait)).await {
            Ok(taken) => taken,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the scope lock `{scope}`: PostgreSQL did not answer within {} s",
                    limit.as_secs()
                ),
            )),
        }
    }
}

/// Takes the lock within `wait`: `Ok(false)` when it stayed held by another session.
async fn acquire(client: &Client, key: i64, wait: Duration) -> Result<bool, tokio_postgres::Error> {
    if wait.is_zero() {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await?;
        return row.try_get(0);
    }
    // lock_timeout 0 would mean "wait forever": at least 1 ms.
    let millis = wait.as_millis().clamp(1, i32::MAX as u128);
    let sql = format!("SET lock_timeout = {millis}; SELECT pg_advisory_lock({key}::bigint)");
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
        Err(e) => Err(e),
    }
}

fn timed_out(scope: &str, wait: Duration, holder: Option<LockHolder>) -> Error {
    let holder = match holder {
        Some(holder) => format!("is held by {holder}"),
        None => "was held by another session, which could not be identified".to_owned(),
    };
    Error::new(
        ErrorKind::Timeout,
        format!(
            "the scope lock `{scope}` {holder}; waited {:.1} s",
            wait.as_secs_f64()
        ),
    )
}

/// A held lock: its connection. Dropping it closes the connection, and the server releases
/// the lock as the session ends.
struct Held {
    _client: Client,
    scope: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        tracing::debug!(scope = %self.scope, "releasing a scope lock");
    }
}

impl fmt::Debug for PostgresScopeLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresScopeLocks")
            .field("pool", &self.pool)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_the_scope_and_the_holder() {
        let holder = LockHolder {
            application_name: "kms-sync worker-2".to_owned(),
            pid: 4242,
            client: "127.0.0.1".to_owned(),
        };
        let err = timed_out("group:7", Duration::from_millis(1500), Some(holder));
        assert_eq!(err.kind(), ErrorKind::Timeout);
        let text = err.to_string();
        for part in ["group:7", "kms-sync worker-2", "4242", "1.5 s"] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let unknown = timed_out("group:7", Duration::ZERO, None).to_string();
        assert!(unknown.contains("could not be identified"), "{unknown}");
    }
}
