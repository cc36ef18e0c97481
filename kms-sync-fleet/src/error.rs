//! PostgreSQL and pool failures as kms-sync [`Error`]s: a kind a caller can act on, what was
//! being done, the server's message and SQLSTATE. No query parameter is ever echoed, and
//! nothing kms-sync sends to PostgreSQL is a secret value.

use deadpool_postgres::PoolError;
use kms_sync_core::{Error, ErrorKind};
use tokio_postgres::error::SqlState;

/// `err`, raised while `doing` something, as a kms-sync error.
pub(crate) fn db(doing: &str, err: tokio_postgres::Error) -> Error {
    let message = format!("PostgreSQL: {doing}: {}", describe(&err));
    Error::new(kind_of(&err), message)
        .with_operation(doing.to_owned())
        .with_source(err)
}

/// A failure to open a connection to `server` (described without credentials).
pub(crate) fn connect(server: &str, doing: &str, err: tokio_postgres::Error) -> Error {
    let kind = match kind_of(&err) {
        ErrorKind::Unexpected => ErrorKind::Unavailable,
        kind => kind,
    };
    let message = format!("cannot connect to {server} ({doing}): {}", describe(&err));
    Error::new(kind, message)
        .with_operation(doing.to_owned())
        .with_source(err)
}

/// The server's message and SQLSTATE, or the client's own description.
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(cause) => format!("{err}: {cause}"),
            None => err.to_string(),
        },
    }
}

/// A pool failure (no free connection in time, or a new one could not be opened).
pub(crate) fn pool(doing: &str, err: PoolError) -> Error {
    match err {
        PoolError::Backend(err) => db(doing, err),
        PoolError::Timeout(_) => Error::new(
            ErrorKind::Timeout,
            format!("PostgreSQL: {doing}: no pooled connection became free in time"),
        )
        .with_operation(doing.to_owned()),
        other => Error::new(
            ErrorKind::Unavailable,
            format!("PostgreSQL: {doing}: the connection pool failed: {other}"),
        )
        .with_operation(doing.to_owned()),
    }
}

fn kind_of(err: &tokio_postgres::Error) -> ErrorKind {
    let Some(code) = err.code() else {
        // No SQLSTATE: the connection failed, closed or timed out.
        return ErrorKind::Unavailable;
    };
    kind_of_code(code)
}

fn kind_of_code(code: &SqlState) -> ErrorKind {
    let text = code.code();
    match text {
        _ if text.starts_with("08") || text.starts_with("53") => ErrorKind::Unavailable,
        // Shut down, crashed, cannot connect now; serialization failure and deadlock.
        "57P01" | "57P02" | "57P03" | "40001" | "40P01" => ErrorKind::Unavailable,
        // Lock not available (lock_timeout), statement cancelled (statement_timeout).
        "55P03" | "57014" => ErrorKind::Timeout,
        "28000" | "28P01" => ErrorKind::Unauthenticated,
        "42501" => ErrorKind::PermissionDenied,
        "3D000" => ErrorKind::Config,
        _ => ErrorKind::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_kinds_a_caller_can_act_on() {
        let cases = [
            (SqlState::CONNECTION_FAILURE, ErrorKind::Unavailable),
            (SqlState::TOO_MANY_CONNECTIONS, ErrorKind::Unavailable),
            (SqlState::ADMIN_SHUTDOWN, ErrorKind::Unavailable),
            (SqlState::T_R_SERIALIZATION_FAILURE, ErrorKind::Unavailable),
            (SqlState::LOCK_NOT_AVAILABLE, ErrorKind::Timeout),
            (SqlState::QUERY_CANCELED, ErrorKind::Timeout),
            (SqlState::INVALID_PASSWORD, ErrorKind::Unauthenticated),
            (
                SqlState::INSUFFICIENT_PRIVILEGE,
                ErrorKind::PermissionDenied,
            ),
            (SqlState::INVALID_CATALOG_NAME, ErrorKind::Config),
            (SqlState::UNIQUE_VIOLATION, ErrorKind::Unexpected),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of_code(&code), kind, "{}", code.code());
        }
    }
}
