//! Writes the service did not confirm: answered by a redirect, or by an HTML page.

use kms_sync_core::{KeyStatus, SyncReport};

use super::bench::{ok, Bench};
use super::EdgeTarget;
use crate::proxy::{Action, Rule, Timing};

/// The query the edge cases' redirects carry, so the proxy's log tells a followed redirect
/// from the destination's own reads of the same path.
const REDIRECTED: &str = "kms-sync-edge=redirected";

/// One change of the source: a create, an update or a delete of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Update,
    Delete,
}

impl Step {
    const ALL: [Step; 3] = [Step::Create, Step::Update, Step::Delete];
}

fn change<T: EdgeTarget + ?Sized>(bench: &Bench<'_, T>, step: Step, key: &str) {
    let done = match step {
        Step::Create => bench.source.set(key, format!("{key}-created")),
        Step::Update => bench.source.set(key, format!("{key}-updated")),
        Step::Delete => bench.source.remove(key),
    };
    ok(done, "changing the source");
}

fn assert_unconfirmed(report: &SyncReport, key: &str, context: &str) {
    let status = report.key(&format!("KMS_{key}")).map(|k| k.status);
    assert_eq!(
        status,
        Some(KeyStatus::Unconfirmed),
        "{context}: the write of {key} was not confirmed, yet: {report}"
    );
    assert_eq!(report.counts.applied(), 0, "{context}: {report}");
    assert!(!report.is_success(), "{context}: {report}");
}

/// The source changes (`step` on `key`) and every write is bent by `action`: the report
/// says the write is unconfirmed; with the rule gone, the next run writes it again (when
/// `must_rewrite`), the service ends as the model says, and the run after writes nothing.
async fn unconfirmed_then_converges<T: EdgeTarget + ?Sized>(
    bench: &Bench<'_, T>,
    step: Step,
    key: &str,
    action: Action,
    must_rewrite: bool,
) {
    let context = format!("{step:?} of {key} answered by {action:?}");
    change(bench, step, key);
    bench.proxy.add_rule(Rule::writes("/", action));
    let bent = ok(bench.syncer.sync().await, &context);
    bench.proxy.clear_rules();
    assert_unconfirmed(&bent, key, &context);

    let clean = ok(bench.syncer.sync().await, "the clean run after");
    assert!(clean.is_success(), "{context}, the clean run: {clean}");
    if must_rewrite {
        let status = clean.key(&format!("KMS_{key}")).map(|k| k.status);
        let written = matches!(
            status,
            Some(KeyStatus::Created | KeyStatus::Updated | KeyStatus::Deleted)
        );
        assert!(
            written,
            "{context}: the clean run must write {key} again: {clean}"
        );
    }
    assert_eq!(
        bench.contents().await,
        bench.model(true).await,
        "{context}: the service after the clean run"
    );
    let settled = ok(bench.syncer.sync().await, "the run after");
    assert_eq!(settled.requests.writes(), 0, "{context}: {settled}");
}

/// A converged start: the foreign entries and one managed key the steps never touch.
async fn converged_bench<T: EdgeTarget + ?Sized>(target: &T) -> Bench<'_, T> {
    let bench = Bench::new(target, &[("KEEP", "keep-1")], true).await;
    let first = ok(bench.syncer.sync().await, "the first sync");
    assert!(first.is_success(), "{first}");
    bench
}

/// Creates, updates and deletes each answered `303 See Other`, then `307 Temporary
/// Redirect`, to a URL on the same host: never followed (the proxy's log shows the
/// `Location` was not requested), reported `Unconfirmed`, and rewritten by the next run —
/// with a ledger, so a run that believed the redirect would wrongly find nothing to do.
pub async fn write_redirect_is_unconfirmed<T: EdgeTarget + ?Sized>(target: &T) {
    let bench = converged_bench(target).await;
    let location = format!("{}?{REDIRECTED}", bench.answer.path);
    for status in [303, 307] {
        let key = format!("R{status}");
        for step in Step::ALL {
            let action = Action::Redirect {
                status,
                location: location.clone(),
            };
            unconfirmed_then_converges(&bench, step, &key, action, true).await;
        }
    }
    let followed: Vec<_> = bench
        .proxy
        .log()
        .into_iter()
        .filter(|r| r.query.as_deref() == Some(REDIRECTED))
        .collect();
    assert!(
        followed.is_empty(),
        "a write's redirect was followed: {followed:?}"
    );
}

/// Creates, updates and deletes each answered `200` with an HTML login page — without the
/// write reaching the service, and after it did — are `Unconfirmed`; the next clean run
/// converges, and rewrites what the ledger must not have recorded as done (every write that
/// never happened; hidden values written behind the page).
pub async fn write_answered_by_html_is_unconfirmed<T: EdgeTarget + ?Sized>(target: &T) {
    let bench = converged_bench(target).await;
    for (timing, name) in [(Timing::Instead, "I"), (Timing::AfterForwarding, "A")] {
        let key = format!("HTML_{name}");
        for step in Step::ALL {
            let must_rewrite =
                timing == Timing::Instead || (bench.hidden() && step != Step::Delete);
            let action = Action::html_login_page(timing);
            unconfirmed_then_converges(&bench, step, &key, action, must_rewrite).await;
        }
    }
}
