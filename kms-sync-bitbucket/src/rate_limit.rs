//! Bitbucket's rate-limit headers, read for the shared client's pacer.
//!
//! Bitbucket sends `X-RateLimit-Limit` (requests allowed per rolling hour — the whole
//! allowance, not what remains), `X-RateLimit-Resource` (the resource group the limit is
//! for) and `X-RateLimit-NearLimit` (`true` once less than a fifth of the allowance remains)
//! only to Repository, Project and Workspace Access Tokens (and Forge) on the endpoints whose
//! limits scale with the workspace's seats: `/2.0/repositories/*`, the `api` group, from
//! 1,000 up to 10,000 requests per hour. API tokens and OAuth get none of them; the
//! documented 1,000 per hour then stays.
//!
//! - The limit becomes the client's pacing, as [`Pacing::from_budget`] makes it from a
//!   documented budget (so a scaled workspace is no longer held to 1,000 an hour).
//! - Near the limit the pacing keeps its sustained rate but loses its burst: one request at
//!   a time at the rate the rolling hour frees capacity.
//! - A limit announced for another resource group is not this client's (every request a
//!   sync makes is under `/2.0/repositories/`), so it is ignored.

use std::time::Duration;

use kms_sync_core::http::{Advisory, Pacing, ResponseHeaders};
use kms_sync_core::RateBudget;

/// Requests allowed per rolling hour.
const LIMIT: &str = "x-ratelimit-limit";
/// `true` when less than 20% of the allowance remains.
const NEAR_LIMIT: &str = "x-ratelimit-nearlimit";
/// The resource group the limit is for.
const RESOURCE: &str = "x-ratelimit-resource";
/// The group of `/2.0/repositories/*`, whose limits scale.
const REPOSITORIES: &str = "api";
/// The window the limit counts over.
const WINDOW: Duration = Duration::from_secs(3_600);

/// Bitbucket's rate-limit header dialect, for
/// [`HttpClientBuilder::rate_limit_headers`](kms_sync_core::http::HttpClientBuilder::rate_limit_headers):
/// the pacing for the hourly limit an Access Token is told, with no burst near the limit.
///
/// ```
/// use kms_sync_core::http::ResponseHeaders;
/// let headers = ResponseHeaders::new()
///     .with("X-RateLimit-Limit", "2500")
///     .with("X-RateLimit-Resource", "api")
///     .with("X-RateLimit-NearLimit", "false");
/// let pacing = kms_sync_bitbucket::rate_limit_headers(&headers).pacing.expect("a limit");
/// assert_eq!(pacing.burst(), 250.0);
/// ```
pub fn rate_limit_headers(headers: &ResponseHeaders) -> Advisory {
    let foreign = headers
        .get(RESOURCE)
        .is_some_and(|r| !r.trim().eq_ignore_ascii_case(REPOSITORIES));
    let limit = headers
        .get(LIMIT)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n > 0);
    let Some(limit) = limit.filter(|_| !foreign) else {
        return Advisory::default();
    };
    let pacing = Pacing::from_budget(RateBudget::new(limit, WINDOW));
    let near = headers
        .get(NEAR_LIMIT)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let pacing = if near {
        Pacing::new(1.0, pacing.rate_per_second())
    } else {
        pacing
    };
    Advisory::new(Some(pacing), None)
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
    fn the_announced_limit_becomes_the_pacing() {
        let advice = read(&[
            ("X-RateLimit-Limit", "2500"),
            ("X-RateLimit-Resource", "api"),
            ("X-RateLimit-NearLimit", "false"),
        ]);
        let want = Pacing::from_budget(RateBudget::new(2_500, WINDOW));
        assert_eq!(advice.pacing, Some(want));
        assert_eq!(advice.pause, None);
        // Any hour sees at most 90% of the announced limit.
        assert!(want.burst() + want.rate_per_second() * 3_600.0 <= 2_250.0 + 1e-6);
        // Names in any case; the resource may be left out.
        let advice = read(&[("x-ratelimit-limit", " 10000 ")]);
        assert_eq!(
            advice.pacing,
            Some(Pacing::from_budget(RateBudget::new(10_000, WINDOW)))
        );
    }

    #[test]
    fn near_the_limit_there_is_no_burst() {
        let advice = read(&[
            ("X-RateLimit-Limit", "1000"),
            ("X-RateLimit-Resource", "api"),
            ("X-RateLimit-NearLimit", "True"),
        ]);
        let pacing = advice.pacing.expect("a limit");
        let usual = Pacing::from_budget(RateBudget::new(1_000, WINDOW));
        assert_eq!(pacing.burst(), 1.0);
        assert!((pacing.rate_per_second() - usual.rate_per_second()).abs() < 1e-12);
        assert_eq!(advice.pause, None);
    }

    #[test]
    fn nothing_to_adopt() {
        for pairs in [
            &[][..],
            &[("X-RateLimit-NearLimit", "true")][..],
            &[("X-RateLimit-Limit", "0")][..],
            &[("X-RateLimit-Limit", "-5")][..],
            &[("X-RateLimit-Limit", "lots")][..],
            &[
                ("X-RateLimit-Limit", "1000"),
                ("X-RateLimit-Resource", "webhooks"),
            ][..],
            &[("Octopus-RateLimit-Policy", "l=200;rpm=600")][..],
        ] {
            assert_eq!(read(pairs), Advisory::default(), "{pairs:?}");
        }
    }
}
