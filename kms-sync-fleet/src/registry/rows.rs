//! Reading the registry's rows: typed columns, the status record, and errors that name the
//! table and column without echoing a value.

use std::time::SystemTime;

use kms_sync_core::{Error, Operation, Result, RunStatus, StatusRecord};
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use crate::error;

/// Column `name` of `row`, or an error saying which row could not be read.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, name: &str, what: &str) -> Result<T> {
    row.try_get(name)
        .map_err(|e| error::db(&format!("reading column `{name}` of {what}"), e))
}

/// A non-negative integer column as `u32`.
pub(crate) fn get_u32(row: &Row, name: &str, what: &str) -> Result<u32> {
    let v: i32 = get(row, name, what)?;
    u32::try_from(v).map_err(|_| Error::unexpected(format!("{what}: `{name}` is negative")))
}

/// A count column as `usize`.
pub(crate) fn get_count(row: &Row, name: &str, what: &str) -> Result<usize> {
    let v: i32 = get(row, name, what)?;
    usize::try_from(v).map_err(|_| Error::unexpected(format!("{what}: `{name}` is negative")))
}

/// A request count column as `u64`.
pub(crate) fn get_u64(row: &Row, name: &str, what: &str) -> Result<u64> {
    let v: i64 = get(row, name, what)?;
    u64::try_from(v).map_err(|_| Error::unexpected(format!("{what}: `{name}` is negative")))
}

/// The KMS's name of a run status.
pub(crate) fn status_text(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
    }
}

fn status_of(text: Option<String>, what: &str) -> Result<Option<RunStatus>> {
    Ok(match text.as_deref() {
        None => None,
        Some("pending") => Some(RunStatus::Pending),
        Some("running") => Some(RunStatus::Running),
        Some("succeeded") => Some(RunStatus::Succeeded),
        Some("failed") => Some(RunStatus::Failed),
        Some(_) => {
            return Err(Error::unexpected(format!(
                "{what}: a status column holds an unknown status"
            )))
        }
    })
}

/// The operation's name in the tables.
pub(crate) fn operation_text(operation: Operation) -> &'static str {
    match operation {
        Operation::Sync => "sync",
        Operation::Remove => "remove",
        Operation::Import => "import",
    }
}

/// An operation from its name in the tables.
pub(crate) fn operation_of(text: &str, what: &str) -> Result<Operation> {
    match text {
        "sync" => Ok(Operation::Sync),
        "remove" => Ok(Operation::Remove),
        "import" => Ok(Operation::Import),
        _ => Err(Error::unexpected(format!("{what}: an unknown operation"))),
    }
}

/// The status columns of an operation: status, job id, message, finished at.
pub(crate) fn status_columns(operation: Operation) -> [&'static str; 4] {
    match operation {
        Operation::Sync => [
            "sync_status",
            "last_sync_job_id",
            "last_sync_message",
            "last_synced_at",
        ],
        Operation::Remove => [
            "remove_status",
            "last_remove_job_id",
            "last_remove_message",
            "last_removed_at",
        ],
        Operation::Import => [
            "import_status",
            "last_import_job_id",
            "last_import_message",
            "last_imported_at",
        ],
    }
}

/// The status record from the twelve status columns of `row`.
pub(crate) fn status(row: &Row, what: &str) -> Result<StatusRecord> {
    let text = |name: &str| get::<Option<String>>(row, name, what);
    let at = |name: &str| get::<Option<SystemTime>>(row, name, what);
    Ok(StatusRecord {
        sync_status: status_of(text("sync_status")?, what)?,
        last_sync_job_id: text("last_sync_job_id")?,
        last_sync_message: text("last_sync_message")?,
        last_synced_at: at("last_synced_at")?,
        import_status: status_of(text("import_status")?, what)?,
        last_import_job_id: text("last_import_job_id")?,
        last_import_message: text("last_import_message")?,
        last_imported_at: at("last_imported_at")?,
        remove_status: status_of(text("remove_status")?, what)?,
        last_remove_job_id: text("last_remove_job_id")?,
        last_remove_message: text("last_remove_message")?,
        last_removed_at: at("last_removed_at")?,
    })
}

/// The status columns, qualified with `alias`, for a SELECT list.
pub(crate) fn status_select(alias: &str) -> String {
    [Operation::Sync, Operation::Import, Operation::Remove]
        .iter()
        .flat_map(|op| status_columns(*op))
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The longest message kept (longer ones are cut at a character boundary).
pub(crate) const MAX_MESSAGE: usize = 4000;

/// `message` cut to [`MAX_MESSAGE`] characters.
pub(crate) fn bounded(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() -> Result<()> {
        for op in [Operation::Sync, Operation::Remove, Operation::Import] {
            assert_eq!(operation_of(operation_text(op), "t")?, op);
        }
        for status in [
            RunStatus::Pending,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
        ] {
            assert_eq!(
                status_of(Some(status_text(status).to_owned()), "t")?,
                Some(status)
            );
        }
        assert!(status_of(Some("weird".to_owned()), "t").is_err());
        Ok(())
    }

    #[test]
    fn messages_are_bounded_on_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE + 10);
        let cut = bounded(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE + 1);
        assert_eq!(bounded("short"), "short");
    }

    #[test]
    fn the_status_select_lists_twelve_columns() {
        assert_eq!(status_select("st").split(", ").count(), 12);
    }
}
