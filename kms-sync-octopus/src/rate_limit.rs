//! Octopus's rate-limit headers (servers from 2026.3 with the rate limiter on), read for the
//! shared client's pacer.
//!
//! On every rate-limited route the server sends `Octopus-RateLimit-Policy: l=<burst>;rpm=<rate>`
//! and `Octopus-RateLimit: r=<remaining>;t=<seconds until full>`. The policy becomes the
//! client's pacing (at [`BUDGET_SHARE`] of it); nothing remaining pauses every request until
//! the bucket has refilled (at most a minute). Older servers send neither: the assumed budget
//! stays.

use std::time::Duration;

use kms_sync_core::http::{Advisory, Pacing, ResponseHeaders, BUDGET_SHARE};

/// The policy header: `l=<burst>;rpm=<requests per minute>`.
const POLICY: &str = "octopus-ratelimit-policy";
/// The state header: `r=<remaining>;t=<seconds until the bucket is full>`.
const STATE: &str = "octopus-ratelimit";
/// The longest pause the state header can ask for.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// Octopus's rate-limit header dialect, for
/// [`HttpClientBuilder::rate_limit_headers`](kms_sync_core::http::HttpClientBuilder::rate_limit_headers):
/// the pacing the server's policy announces and, when nothing remains, how long to pause.
///
/// ```
/// use kms_sync_core::http::ResponseHeaders;
/// let headers = ResponseHeaders::new()
///     .with("Octopus-RateLimit-Policy", "l=200;rpm=600")
///     .with("Octopus-RateLimit", "r=0;t=3");
/// let advice = kms_sync_octopus::rate_limit_headers(&headers);
/// assert_eq!(advice.pacing.map(|p| p.burst()), Some(180.0));
/// assert_eq!(advice.pause, Some(std::time::Duration::from_secs(3)));
/// ```
pub fn rate_limit_headers(headers: &ResponseHeaders) -> Advisory {
    let pacing = headers.get(POLICY).and_then(|p| {
        let burst = field(p, "l")?;
        let rpm = field(p, "rpm")?;
        (burst > 0.0 && rpm > 0.0)
            .then(|| Pacing::new((burst * BUDGET_SHARE).floor(), rpm / 60.0 * BUDGET_SHARE))
    });
    let pause = headers.get(STATE).and_then(|s| {
        let remaining = field(s, "r")?;
        let until_full = field(s, "t")?;
        // With nothing left, wait for one request's worth of refill at least.
        (remaining < 1.0 && until_full > 0.0)
            .then(|| Duration::from_secs_f64(until_full.min(MAX_PAUSE.as_secs_f64())))
    });
    Advisory::new(pacing, pause)
}

/// The number in `name=<number>` among `;`-separated fields.
fn field(text: &str, name: &str) -> Option<f64> {
    text.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name))
            .then(|| v.trim().parse::<f64>().ok())
            .flatten()
            .filter(|n| n.is_finite())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(policy: Option<&str>, state: Option<&str>) -> Advisory {
        let mut headers = ResponseHeaders::new();
        if let Some(p) = policy {
            headers = headers.with("Octopus-RateLimit-Policy", p);
        }
        if let Some(s) = state {
            headers = headers.with("Octopus-RateLimit", s);
        }
        rate_limit_headers(&headers)
    }

    #[test]
    fn the_policy_is_adopted_and_an_empty_bucket_pauses() {
        let advice = read(Some("l=200;rpm=600"), Some("r=0;t=3"));
        let pacing = advice.pacing.expect("policy read");
        assert_eq!(pacing.burst(), 180.0);
        assert!((pacing.rate_per_second() - 9.0).abs() < 1e-9);
        assert_eq!(advice.pause, Some(Duration::from_secs(3)));
        assert_eq!(read(None, Some("r=12;t=3")), Advisory::default());
        assert_eq!(read(Some("garbage"), Some("r=x")), Advisory::default());
    }

    #[test]
    fn fields_in_any_order_and_case_and_long_waits_capped() {
        let advice = read(Some(" RPM = 60 ; L = 10 "), Some("t=600;r=0"));
        let pacing = advice.pacing.expect("policy read");
        assert_eq!(pacing.burst(), 9.0);
        assert!((pacing.rate_per_second() - 0.9).abs() < 1e-9);
        assert_eq!(advice.pause, Some(MAX_PAUSE));
        assert_eq!(read(None, Some("r=0;t=1e30")).pause, Some(MAX_PAUSE));
    }

    #[test]
    fn nonsense_is_ignored() {
        for (policy, state) in [
            ("l=0;rpm=600", "r=0;t=0"),
            ("l=200;rpm=-1", "r=0;t=-3"),
            ("l=NaN;rpm=600", "r=0;t=inf"),
            ("l=200", "t=3"),
            ("", ""),
        ] {
            assert_eq!(
                read(Some(policy), Some(state)),
                Advisory::default(),
                "{policy} / {state}"
            );
        }
        assert_eq!(
            rate_limit_headers(&ResponseHeaders::new().with("X-RateLimit-Limit", "1000")),
            Advisory::default(),
            "another service's headers"
        );
    }
}
