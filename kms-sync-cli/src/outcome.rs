//! Exit codes, and how errors and reports map to them and are shown.

use kms_sync::{Error, ErrorKind, KeyStatus, SyncReport};

/// Changes applied (or, for `plan`, changes to make; for `validate-connection`, all good).
pub const APPLIED: u8 = 0;
/// Failed.
pub const FAILED: u8 = 1;
/// A usage or configuration error (clap exits with 2 for bad arguments too).
pub const USAGE: u8 = 2;
/// Nothing to do.
pub const NOTHING_TO_DO: u8 = 3;
/// Refused: a guard, a destination that cannot write safely (an incomplete read too), or a
/// disabled sync.
pub const REFUSED: u8 = 4;
/// Interrupted: SIGINT (Ctrl-C) or SIGTERM stopped a `sync` or `remove` (128 + SIGINT's
/// number, as shells report Ctrl-C). No new write started after the signal, writes in
/// flight were given a grace, the ledger holds a claim on every key that may have been
/// written, and the report lists what was and was not done; running `sync` again finishes
/// the job. A second signal exits at once with the same code, losing no claim.
pub const INTERRUPTED: u8 = 130;

/// The exit code of an error that stopped an operation.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => USAGE,
        ErrorKind::Guard
        | ErrorKind::Unsupported
        | ErrorKind::Disabled
        | ErrorKind::IncompleteRead => REFUSED,
        _ => FAILED,
    }
}

/// Prints an error on stderr with what the user can do about it; returns its exit code.
pub fn report_error(err: &Error) -> u8 {
    eprintln!("kms-sync: {err}");
    match err.kind() {
        ErrorKind::Guard => eprintln!("kms-sync: {}", guard_hint(err)),
        // The engine adds this to source errors it wraps, not to those a source reports
        // with its own kind (a dotenv file that does not parse): say it here.
        ErrorKind::Source if !err.message().contains("nothing was written") => {
            eprintln!("kms-sync: the source could not be read whole, so nothing was written")
        }
        _ => {}
    }
    code_for(err.kind())
}

/// The deletion guard speaks of the library; the tool names its own flags.
pub fn guard_hint(err: &Error) -> &'static str {
    if err.message().contains("is empty") {
        "refused by the deletion guard: nothing was written. If the source really is meant to be \
         empty, run again with --allow-empty-source"
    } else {
        "refused by the deletion guard: nothing was written. If that many deletions are intended, \
         run again with --max-delete-share <SHARE> (a share of the managed keys, 0–1; 1 lifts the limit)"
    }
}

/// The exit code of a finished sync or remove.
///
/// A report whose every failure is a refusal ([`ErrorKind::Unsupported`]: a Checkly group
/// holding secrets this sync does not manage is refused whole, before writing) and that
/// applied nothing is a refusal, not a failure.
pub fn report_code(report: &SyncReport) -> u8 {
    if report.is_success() {
        return if report.counts.applied() == 0 {
            NOTHING_TO_DO
        } else {
            APPLIED
        };
    }
    let refused = report
        .keys
        .iter()
        .filter(|k| !matches!(k.status, KeyStatus::Unchanged | KeyStatus::Skipped))
        .all(|k| {
            k.status == KeyStatus::Failed
                && k.error
                    .as_ref()
                    .is_some_and(|e| matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::Guard))
        });
    if refused && report.counts.applied() == 0 {
        REFUSED
    } else {
        FAILED
    }
}

/// Prints a serializable value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::unexpected(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
