//! A per-key write that lost a race with someone else: the other operation instead.

use std::future::Future;

use super::change::{Applied, ChangeKind};
use crate::error::{Error, ErrorKind, Result};

/// What the report says when a create answered 409 was written as an update instead.
const CREATED_MEANWHILE: &str = "created elsewhere meanwhile";

/// What the report says when an update answered 404 was written as a create instead.
const DELETED_MEANWHILE: &str = "deleted elsewhere meanwhile";

/// Writes one key with `kind`'s operation, recovering from a race with another writer:
///
/// - a create answered [`Conflict`](ErrorKind::Conflict) (the key was created elsewhere
///   since the list) is done again as `update`, noted "created elsewhere meanwhile; updated
///   instead";
/// - an update answered [`NotFound`](ErrorKind::NotFound) (the key was deleted elsewhere
///   since the list) is done again as `create`, noted "deleted elsewhere meanwhile; created
///   again".
///
/// The second operation is tried once; its answer, error or not, is the result. A note of
/// its own is kept after the race's ("created elsewhere meanwhile; re-created as secured").
/// Any other error of the first operation — an [`Unconfirmed`](ErrorKind::Unconfirmed)
/// write included, which may well have been applied — is returned as is, with no second
/// request. Deletes are not writes: a [`ChangeKind::Delete`] is refused as
/// [`Unexpected`](ErrorKind::Unexpected) without calling either operation.
///
/// ```
/// use kms_sync_core::{create_or_update, Applied, ChangeKind, Error, ErrorKind};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> kms_sync_core::Result<()> {
/// let taken = || async { Err(Error::new(ErrorKind::Conflict, "the key exists")) };
/// let update = || async { Ok(Applied::with_id("KEY")) };
/// let applied = create_or_update(ChangeKind::Create, taken, update).await?;
/// assert_eq!(applied.id.as_deref(), Some("KEY"));
/// assert_eq!(applied.note.as_deref(), Some("created elsewhere meanwhile; updated instead"));
///
/// let lost = || async { Err(Error::new(ErrorKind::Unconfirmed, "no answer")) };
/// let never = || async { unreachable!("an unconfirmed create is not retried") };
/// let err = create_or_update(ChangeKind::Create, lost, never).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unconfirmed);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The first operation's error when it is not the race's; otherwise the second's.
pub async fn create_or_update<C, CF, U, UF>(
    kind: ChangeKind,
    create: C,
    update: U,
) -> Result<Applied>
where
    C: FnOnce() -> CF,
    CF: Future<Output = Result<Applied>>,
    U: FnOnce() -> UF,
    UF: Future<Output = Result<Applied>>,
{
    match kind {
        ChangeKind::Create => match create().await {
            Err(e) if e.kind() == ErrorKind::Conflict => {
                Ok(raced(update().await?, CREATED_MEANWHILE, "updated instead"))
            }
            other => other,
        },
        ChangeKind::Update => match update().await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(raced(create().await?, DELETED_MEANWHILE, "created again"))
            }
            other => other,
        },
        ChangeKind::Delete => Err(Error::unexpected(
            "create_or_update was given a delete, which is neither",
        )),
    }
}

/// The second operation's result, noted with the race and what was done instead (or the
/// operation's own note, when it has one).
fn raced(applied: Applied, race: &str, instead: &str) -> Applied {
    let note = match &applied.note {
        Some(own) => format!("{race}; {own}"),
        None => format!("{race}; {instead}"),
    };
    applied.noted(note)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn failing(kind: ErrorKind) -> Result<Applied> {
        Err(Error::new(kind, "answered"))
    }

    #[tokio::test]
    async fn an_update_answered_404_creates() -> Result<()> {
        let applied = create_or_update(
            ChangeKind::Update,
            || async { Ok(Applied::with_id("new-id")) },
            || failing(ErrorKind::NotFound),
        )
        .await?;
        assert_eq!(applied.id.as_deref(), Some("new-id"));
        assert_eq!(
            applied.note.as_deref(),
            Some("deleted elsewhere meanwhile; created again")
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_second_operations_own_note_is_kept() -> Result<()> {
        let applied = create_or_update(
            ChangeKind::Create,
            || failing(ErrorKind::Conflict),
            || async { Ok(Applied::with_id("id").noted("re-created as secured")) },
        )
        .await?;
        assert_eq!(
            applied.note.as_deref(),
            Some("created elsewhere meanwhile; re-created as secured")
        );
        Ok(())
    }

    #[tokio::test]
    async fn other_errors_and_the_second_attempts_errors_are_returned_as_is() {
        let calls = AtomicUsize::new(0);
        let count = || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(Applied::default()) }
        };
        for (kind, error) in [
            (ChangeKind::Create, ErrorKind::Unconfirmed),
            (ChangeKind::Create, ErrorKind::NotFound),
            (ChangeKind::Update, ErrorKind::Unconfirmed),
            (ChangeKind::Update, ErrorKind::Conflict),
            (ChangeKind::Update, ErrorKind::PermissionDenied),
        ] {
            let result = match kind {
                ChangeKind::Create => create_or_update(kind, || failing(error), count).await,
                _ => create_or_update(kind, count, || failing(error)).await,
            };
            assert_eq!(result.map_err(|e| e.kind()), Err(error), "{kind} {error:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no second request");
        // The second attempt fails too: its error, and no third.
        let err = create_or_update(
            ChangeKind::Create,
            || failing(ErrorKind::Conflict),
            || failing(ErrorKind::Unconfirmed),
        )
        .await
        .expect_err("second failed");
        assert_eq!(err.kind(), ErrorKind::Unconfirmed);
        let err = create_or_update(ChangeKind::Delete, count, count)
            .await
            .expect_err("a delete");
        assert_eq!(err.kind(), ErrorKind::Unexpected);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
