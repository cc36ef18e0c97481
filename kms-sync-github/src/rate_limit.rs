//! GitHub's rate-limit headers, read for the shared client's pacer.
//!
//! Every answer carries `x-ratelimit-limit` (the hourly quota of the token: 5,000 for a
//! personal access token, 5,000–12,500 for an App installation, 15,000 on Enterprise
//! Cloud), `x-ratelimit-remaining`, `x-ratelimit-used`, `x-ratelimit-reset` (when the
//! window resets, in UTC epoch seconds) and `x-ratelimit-resource` (the pool: `core` for
//! every route a sync uses). A secondary limit answers 403 or 429 with `retry-after`.
//!
//! - The announced quota becomes the client's pacing, as [`Pacing::from_budget`] makes it
//!   from a documented budget (a token with 15,000 an hour is no longer held to 5,000).
//! - `x-ratelimit-remaining: 0` pauses every request until `x-ratelimit-reset`.
//! - `retry-after` (seconds) pauses every request that long, on any status: a secondary
//!   limit's 403 included, which the shared client does not retry by itself.
//! - A limit announced for another pool (`search`, `graphql`) is not this client's.

use std::time::Duration;

use kms_sync_core::http::{Advisory, Pacing, ResponseHeaders};
use kms_sync_core::RateBudget;

use crate::app_auth::unix_now;

const LIMIT: &str = "x-ratelimit-limit";
const REMAINING: &str = "x-ratelimit-remaining";
const RESET: &str = "x-ratelimit-reset";
const RESOURCE: &str = "x-ratelimit-resource";
const RETRY_AFTER: &str = "retry-after";
/// The pool of the REST routes a sync uses.
const CORE: &str = "core";
/// The window the quota counts over.
const WINDOW: Duration = Duration::from_secs(3_600);

fn number(headers: &ResponseHeaders, name: &str) -> Option<u64> {
    headers.get(name).and_then(|v| v.trim().parse::<u64>().ok())
}

/// GitHub's rate-limit header dialect, for
/// [`HttpClientBuilder::rate_limit_headers`](kms_sync_core::http::HttpClientBuilder::rate_limit_headers):
/// the pacing for the announced hourly quota, and a pause when the quota is spent or a
/// secondary limit asks for one.
///
/// ```
/// use kms_sync_core::http::ResponseHeaders;
/// let headers = ResponseHeaders::new()
///     .with("x-ratelimit-limit", "15000")
///     .with("x-ratelimit-remaining", "14000")
///     .with("x-ratelimit-resource", "core");
/// let advice = kms_sync_github::rate_limit_headers(&headers);
/// assert!(advice.pacing.is_some());
/// assert_eq!(advice.pause, None);
/// ```
pub fn rate_limit_headers(headers: &ResponseHeaders) -> Advisory {
    let foreign = headers
        .get(RESOURCE)
        .is_some_and(|r| !r.trim().eq_ignore_ascii_case(CORE));
    if foreign {
        return Advisory::default();
    }
    let pacing = number(headers, LIMIT)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .map(|n| Pacing::from_budget(RateBudget::new(n, WINDOW)));
    let spent = number(headers, REMAINING) == Some(0);
    let until_reset = number(headers, RESET)
        .filter(|_| spent)
        .map(|reset| Duration::from_secs(reset.saturating_sub(unix_now()).max(1)));
    let asked = number(headers, RETRY_AFTER).map(Duration::from_secs);
    let pause = match (asked, until_reset) {
        (Some(a), Some(r)) => Some(a.max(r)),
        (a, r) => a.or(r),
    };
    Advisory::new(pacing, pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Advisory {
        let headers = pairs
            .iter()
            .fold(ResponseHeaders::new(), |h, (k, v)| h.with(*k, *v));
        rate_limit_headers(&headers)
    }

    #[test]
    fn the_announced_quota_becomes_the_pacing() {
        let advice = read(&[
            ("X-RateLimit-Limit", "5000"),
            ("X-RateLimit-Remaining", "4999"),
            ("X-RateLimit-Reset", "1"),
            ("X-RateLimit-Resource", "core"),
        ]);
        let want = Pacing::from_budget(RateBudget::new(5_000, WINDOW));
        assert_eq!(advice, Advisory::new(Some(want), None));
    }

    #[test]
    fn a_spent_quota_pauses_until_the_reset() {
        let reset = (unix_now() + 120).to_string();
        let advice = read(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let pause = advice.pause.expect("a pause");
        assert!(
            pause > Duration::from_secs(100) && pause <= Duration::from_secs(120),
            "{pause:?}"
        );
        // A reset already past still pauses a moment rather than not at all.
        let advice = read(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "5")]);
        assert_eq!(advice.pause, Some(Duration::from_secs(1)));
    }

    #[test]
    fn retry_after_pauses_on_any_status() {
        let advice = read(&[("retry-after", "30"), ("x-ratelimit-remaining", "12")]);
        assert_eq!(advice, Advisory::new(None, Some(Duration::from_secs(30))));
    }

    #[test]
    fn nothing_to_adopt() {
        for pairs in [
            &[][..],
            &[("x-ratelimit-limit", "0")][..],
            &[("x-ratelimit-limit", "lots")][..],
            &[("x-ratelimit-remaining", "0")][..],
            &[
                ("x-ratelimit-limit", "30"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-resource", "search"),
            ][..],
        ] {
            assert_eq!(read(pairs), Advisory::default(), "{pairs:?}");
        }
    }
}
