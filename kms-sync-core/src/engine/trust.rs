//! What the engine checks of a read before it plans anything from it: every entry complete
//! (as the destination's [`Capabilities`](crate::Capabilities) declare), and a ledger that
//! describes this very destination.

use crate::destination::{DestinationInfo, Snapshot};
use crate::error::{Error, ErrorKind, Result};
use crate::state::Ledger;

/// Refuses a snapshot with an entry lacking what the destination's writes need: its id,
/// when the destination addresses entries by id.
pub(crate) fn check_complete(info: &DestinationInfo, snapshot: &Snapshot) -> Result<()> {
    if !info.capabilities.entry_ids_required() {
        return Ok(());
    }
    let Some(entry) = snapshot.entries().iter().find(|e| e.id().is_none()) else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::IncompleteRead,
        format!(
            "the list of {info} gave entry `{}` without its `id`, and {} addresses every write by id; \
             a write built from this read could lose that entry's value, so nothing was written",
            entry.key(),
            info.kind
        ),
    )
    .with_key(entry.key())
    .with_destination(info.to_string()))
}

/// Refuses a ledger bound to another destination than `info`'s.
pub(crate) fn check_bound(sync_id: &str, info: &DestinationInfo, ledger: &Ledger) -> Result<()> {
    match ledger.destination() {
        Some(bound) if *bound != info.identity => Err(Error::config(format!(
            "the ledger of sync `{sync_id}` describes destination `{bound}`, not `{}`; using it \
             here would apply one destination's claims to another, so nothing was written. \
             Give this sync its own id (or ledger file), or delete that ledger if the \
             destination really is the same one",
            info.identity
        ))
        .with_destination(info.to_string())),
        _ => Ok(()),
    }
}
