//! GitLab's rate-limit headers, read for the shared client's pacer.
//!
//! GitLab (RackAttack's user and IP throttles) sends, on throttled answers and — where the
//! instance turned it on — on every answer:
//!
//! - `RateLimit-Limit`: requests allowed per period (GitLab's throttle periods are a minute
//!   by default, which is what is assumed here);
//! - `RateLimit-Remaining` (and `RateLimit-Observed`): what is left in this period;
//! - `RateLimit-Reset`: when the period ends, in **Unix epoch seconds** (not a delta);
//! - `RateLimit-ResetTime`: the same as an HTTP date;
//! - `Retry-After` on a 429, in seconds (the shared client honours it by itself).
//!
//! The limit becomes the client's pacing ([`Pacing::from_budget`]); nothing remaining pauses
//! every request until the reset (at most a minute). Some 429s come with none of these
//! headers: the client's backoff then does the waiting.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_sync_core::http::{Advisory, Pacing, ResponseHeaders};
use kms_sync_core::RateBudget;

const LIMIT: &str = "ratelimit-limit";
const REMAINING: &str = "ratelimit-remaining";
const RESET: &str = "ratelimit-reset";
const RESET_TIME: &str = "ratelimit-resettime";
/// The period a limit is assumed to count over.
const PERIOD: Duration = Duration::from_secs(60);
/// The longest pause the headers can ask for.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// GitLab's rate-limit header dialect, for
/// [`HttpClientBuilder::rate_limit_headers`](kms_sync_core::http::HttpClientBuilder::rate_limit_headers):
/// the pacing for the announced limit and, when nothing remains, a pause until the reset.
///
/// ```
/// use kms_sync_core::http::ResponseHeaders;
/// let headers = ResponseHeaders::new()
///     .with("RateLimit-Limit", "600")
///     .with("RateLimit-Remaining", "0")
///     .with("RateLimit-ResetTime", "Thu, 01 Jan 1970 00:00:00 GMT");
/// let advice = kms_sync_gitlab::rate_limit_headers(&headers);
/// assert_eq!(advice.pacing.map(|p| p.burst()), Some(60.0));
/// // A reset in the past: nothing to wait for.
/// assert_eq!(advice.pause, None);
/// ```
pub fn rate_limit_headers(headers: &ResponseHeaders) -> Advisory {
    pace_at(headers, SystemTime::now())
}

/// [`rate_limit_headers`] with the clock given.
pub(crate) fn pace_at(headers: &ResponseHeaders, now: SystemTime) -> Advisory {
    let pacing = number(headers, LIMIT)
        .filter(|n| *n >= 1)
        .map(|n| Pacing::from_budget(RateBudget::new(n, PERIOD)));
    let spent = number(headers, REMAINING).is_some_and(|n| n == 0);
    let pause = spent
        .then(|| reset_at(headers))
        .flatten()
        .and_then(|at| at.duration_since(now).ok())
        .filter(|d| !d.is_zero())
        .map(|d| d.min(MAX_PAUSE));
    Advisory::new(pacing, pause)
}

fn number(headers: &ResponseHeaders, name: &str) -> Option<u32> {
    headers.get(name).and_then(|v| v.trim().parse::<u32>().ok())
}

/// When the period ends: `RateLimit-Reset` (epoch seconds), else `RateLimit-ResetTime`.
fn reset_at(headers: &ResponseHeaders) -> Option<SystemTime> {
    let epoch = headers
        .get(RESET)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
    epoch.or_else(|| {
        headers
            .get(RESET_TIME)
            .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn read(pairs: &[(&str, &str)]) -> Advisory {
        let headers = pairs
            .iter()
            .fold(ResponseHeaders::new(), |h, (k, v)| h.with(*k, *v));
        pace_at(&headers, now())
    }

    #[test]
    fn the_announced_limit_becomes_the_pacing() {
        let advice = read(&[("RateLimit-Limit", "2000"), ("RateLimit-Remaining", "1500")]);
        assert_eq!(
            advice.pacing,
            Some(Pacing::from_budget(RateBudget::new(2_000, PERIOD)))
        );
        assert_eq!(advice.pause, None);
    }

    #[test]
    fn nothing_remaining_pauses_until_the_reset() {
        let advice = read(&[
            ("RateLimit-Limit", "600"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "1700000007"),
        ]);
        assert_eq!(advice.pause, Some(Duration::from_secs(7)));
        let date = httpdate::fmt_http_date(now() + Duration::from_secs(12));
        let advice = read(&[("RateLimit-Remaining", "0"), ("RateLimit-ResetTime", &date)]);
        assert_eq!(advice.pause, Some(Duration::from_secs(12)));
        assert_eq!(advice.pacing, None);
        let far = read(&[
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "1700009999"),
        ]);
        assert_eq!(far.pause, Some(MAX_PAUSE), "capped");
    }

    #[test]
    fn nothing_to_adopt() {
        for pairs in [
            &[][..],
            &[("RateLimit-Limit", "0")][..],
            &[("RateLimit-Limit", "lots")][..],
            &[("RateLimit-Remaining", "0")][..],
            &[
                ("RateLimit-Remaining", "3"),
                ("RateLimit-Reset", "1700000007"),
            ][..],
            &[
                ("RateLimit-Remaining", "0"),
                ("RateLimit-Reset", "1600000000"),
            ][..],
            &[("X-RateLimit-Limit", "1000")][..],
        ] {
            assert_eq!(read(pairs), Advisory::default(), "{pairs:?}");
        }
    }
}
