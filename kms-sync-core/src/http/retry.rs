//! When to retry and how long to wait.

use std::time::{Duration, SystemTime};

use super::config::RetryConfig;

/// Statuses worth another attempt: 408, 429 and 5xx.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// The ceiling of attempt `n`'s backoff (n = 1 for the first retry): base·2ⁿ⁻¹, capped.
pub(crate) fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    config
        .base_delay()
        .saturating_mul(factor)
        .min(config.max_delay())
}

/// Full jitter: a uniformly random wait between zero and the ceiling.
pub(crate) fn full_jitter(ceiling: Duration) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// Parses `Retry-After`: delta-seconds or an HTTP date. `None` if absent or unparseable.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let c = RetryConfig::default()
            .with_base_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_millis(700));
        let ceilings: Vec<u128> = (1..=5)
            .map(|n| backoff_ceiling(&c, n).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 700, 700]);
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_millis(50)) <= Duration::from_millis(50));
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
