//! The per-key apply helper every per-key destination uses.

use std::future::Future;

use futures::stream::{self, StreamExt};

use crate::destination::{Applied, ApplyContext, Change, Outcome};
use crate::error::Result;

/// Applies changes one request per key with bounded concurrency: every create and update
/// first, then — only if every write succeeded — every delete. Returns one [`Outcome`] per
/// change, in the order of `changes`. Never fail-fast: a failed write does not stop the other
/// writes; it only holds the deletes back (they are reported as skipped, naming the failed
/// keys), so a sync that could not write a new key never removes the old one. Each finished
/// change advances the context's [`Progress`](crate::Progress), if any.
///
/// ```
/// use kms_sync_core::{apply_each, Applied, ApplyContext, Change, RemoteEntry, RemoteValue, SecretValue};
/// # tokio_test_block_on(async {
/// let changes = vec![
///     Change::create("NEW", SecretValue::new("v")),
///     Change::delete(RemoteEntry::new("OLD", RemoteValue::Hidden)),
/// ];
/// let outcomes = apply_each(&changes, &ApplyContext::new(4), |change| async move {
///     Ok(Applied::with_id(format!("id-{}", change.key)))
/// })
/// .await;
/// assert!(outcomes.iter().all(|o| o.is_applied()));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output { futures::executor::block_on(f) }
/// ```
pub async fn apply_each<'a, F, Fut>(
    changes: &'a [Change],
    context: &ApplyContext,
    apply_one: F,
) -> Vec<Outcome>
where
    F: Fn(&'a Change) -> Fut,
    Fut: Future<Output = Result<Applied>> + 'a,
{
    let concurrency = context.concurrency.max(1);
    let progress = context.progress.as_deref();
    let mut outcomes: Vec<Option<Outcome>> = (0..changes.len()).map(|_| None).collect();

    let writes: Vec<usize> = (0..changes.len())
        .filter(|&i| changes[i].kind.is_write())
        .collect();
    let deletes: Vec<usize> = (0..changes.len())
        .filter(|&i| !changes[i].kind.is_write())
        .collect();

    let mut failed_writes = Vec::new();
    for (i, outcome) in run_all(changes, &writes, concurrency, &apply_one).await {
        if let Some(p) = progress {
            p.advance(1);
        }
        if !outcome.is_applied() {
            failed_writes.push(changes[i].key.clone());
        }
        outcomes[i] = Some(outcome);
    }

    if failed_writes.is_empty() {
        for (i, outcome) in run_all(changes, &deletes, concurrency, &apply_one).await {
            if let Some(p) = progress {
                p.advance(1);
            }
            outcomes[i] = Some(outcome);
        }
    } else {
        failed_writes.sort();
        let reason = format!(
            "deletes held back because {} write(s) failed: {}",
            failed_writes.len(),
            failed_writes.join(", ")
        );
        for &i in &deletes {
            outcomes[i] = Some(Outcome::skipped(&changes[i], reason.clone()));
        }
    }

    outcomes
        .into_iter()
        .zip(changes)
        .map(|(outcome, change)| {
            outcome.unwrap_or_else(|| Outcome::skipped(change, "not attempted"))
        })
        .collect()
}

async fn run_all<'a, F, Fut>(
    changes: &'a [Change],
    indices: &[usize],
    concurrency: usize,
    apply_one: &F,
) -> Vec<(usize, Outcome)>
where
    F: Fn(&'a Change) -> Fut,
    Fut: Future<Output = Result<Applied>> + 'a,
{
    let indices: Vec<usize> = indices.to_vec();
    stream::iter(indices.into_iter().map(|i| {
        let change = &changes[i];
        let fut = apply_one(change);
        async move { (i, Outcome::of(change, fut.await)) }
    }))
    .buffer_unordered(concurrency)
    .collect()
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::destination::{ChangeKind, OutcomeStatus, RemoteEntry, RemoteValue};
    use crate::error::{Error, ErrorKind};
    use crate::secret::SecretValue;

    fn changes() -> Vec<Change> {
        vec![
            Change::delete(RemoteEntry::new("D1", RemoteValue::Hidden)),
            Change::create("C1", SecretValue::new("1")),
            Change::update(
                RemoteEntry::new("U1", RemoteValue::Hidden),
                SecretValue::new("2"),
            ),
            Change::delete(RemoteEntry::new("D2", RemoteValue::Hidden)),
            Change::create("C2", SecretValue::new("3")),
        ]
    }

    #[tokio::test]
    async fn writes_before_deletes_and_order_kept() {
        let changes = changes();
        let log = Mutex::new(Vec::new());
        let outcomes = apply_each(&changes, &ApplyContext::new(3), |c| {
            let log = &log;
            async move {
                log.lock()
                    .map_err(|_| Error::unexpected("poisoned"))?
                    .push(c.kind);
                Ok(Applied::default())
            }
        })
        .await;
        let keys: Vec<_> = outcomes.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["D1", "C1", "U1", "D2", "C2"]);
        assert!(outcomes.iter().all(Outcome::is_applied));
        let log = log.into_inner().unwrap_or_default();
        let first_delete = log.iter().position(|k| *k == ChangeKind::Delete);
        let last_write = log.iter().rposition(|k| k.is_write());
        assert!(first_delete > last_write, "{log:?}");
    }

    #[tokio::test]
    async fn failed_write_holds_deletes_back() {
        let changes = changes();
        let deletes_run = AtomicUsize::new(0);
        let outcomes = apply_each(&changes, &ApplyContext::new(2), |c| {
            let deletes_run = &deletes_run;
            async move {
                if c.kind == ChangeKind::Delete {
                    deletes_run.fetch_add(1, Ordering::SeqCst);
                }
                if c.key == "U1" {
                    return Err(Error::new(ErrorKind::Unavailable, "boom").with_key(&c.key));
                }
                Ok(Applied::default())
            }
        })
        .await;
        assert_eq!(deletes_run.load(Ordering::SeqCst), 0);
        assert!(
            matches!(&outcomes[2].status, OutcomeStatus::Failed(e) if e.kind() == ErrorKind::Unavailable)
        );
        assert!(
            outcomes[1].is_applied() && outcomes[4].is_applied(),
            "other writes still run"
        );
        for i in [0, 3] {
            match &outcomes[i].status {
                OutcomeStatus::Skipped(reason) => assert!(reason.contains("U1"), "{reason}"),
                other => panic!("delete should be skipped, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let changes: Vec<Change> = (0..40)
            .map(|i| Change::create(format!("K{i}"), SecretValue::new("v")))
            .collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let outcomes = apply_each(&changes, &ApplyContext::new(5), |_| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(Applied::default())
            }
        })
        .await;
        assert_eq!(outcomes.len(), 40);
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=5).contains(&peak), "peak concurrency {peak}");
    }
}
