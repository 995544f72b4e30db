//! When and how long to wait before another attempt at a request.

use std::time::{Duration, SystemTime};

/// Limits on retrying one request.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// The delay before the first retry; each later retry doubles it.
    pub base_delay: Duration,
    /// The cap on the computed backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` the client sleeps through. A longer one ends the request with
    /// a rate-limit error, because a cron run should not hang for an hour.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Returns the backoff before retry number `retry` (1 for the first retry): exponential,
    /// capped, with "equal jitter" (half fixed, half random) so that parallel requests that
    /// failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let full = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// Parses a `Retry-After` header: a number of seconds or an HTTP date. A date in the past
/// means no wait. Returns `None` for a value that is neither, so the caller falls back to its
/// own backoff.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("2", SystemTime::now()), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 ", SystemTime::now()), Some(Duration::from_secs(120)));
    }

    #[test]
    fn retry_after_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));

        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_past_date_is_zero() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_784_000_000);
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));

        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_garbage_is_none() {
        assert_eq!(parse_retry_after("soon", SystemTime::now()), None);
        assert_eq!(parse_retry_after("-5", SystemTime::now()), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy::default();

        for retry in 1..=12 {
            let delay = policy.backoff(retry);
            let full = policy.base_delay.saturating_mul(1 << (retry - 1)).min(policy.max_delay);
            assert!(delay >= full / 2, "retry {retry}: {delay:?}");
            assert!(delay <= full, "retry {retry}: {delay:?}");
        }
    }
}
