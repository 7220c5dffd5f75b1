//! Retries as a value: how many attempts, how long between them, until when.

use std::time::Duration;

/// When and how often to retry. Reads use it on every retryable error;
/// batch stop only on errors that prove nothing was applied.
///
/// ```
/// use std::time::Duration;
/// let policy = phala_cloud::RetryPolicy::default()
///     .with_max_attempts(6)
///     .with_base_delay(Duration::from_millis(200))
///     .with_deadline(Duration::from_secs(30));
/// assert_eq!(policy.max_attempts(), 6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    jitter: f64,
    deadline: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 4 attempts, 500 ms doubling to at most 20 s, 50 % jitter, 150 s
    /// overall (room for a retry after a request that used its whole 60 s
    /// timeout).
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            jitter: 0.5,
            deadline: Some(Duration::from_secs(150)),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
    /// Attempts in all, the first included (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// The first backoff delay; it doubles each attempt.
    pub fn with_base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }
    /// The longest delay between attempts (also caps `Retry-After`).
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }
    /// Relative jitter, 0 (none) to 1 (delay anywhere in 0..2x).
    pub fn with_jitter(mut self, j: f64) -> Self {
        self.jitter = if j.is_finite() { j.clamp(0.0, 1.0) } else { 0.0 };
        self
    }
    /// Give up once this much time has passed since the first attempt.
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }
    /// Retry until attempts run out, however long that takes.
    pub fn without_deadline(mut self) -> Self {
        self.deadline = None;
        self
    }
    /// Attempts in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// The overall time limit, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1);
    /// `Retry-After` wins over backoff but is capped by `max_delay`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let capped = exp.min(self.max_delay);
        let factor = 1.0 + self.jitter * (2.0 * unit_random() - 1.0);
        capped.mul_f64(factor.max(0.0)).min(self.max_delay)
    }
}

/// A cheap uniform value in [0, 1) for jitter: no RNG crate needed.
fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default()
            .with_jitter(0.0)
            .with_base_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(20));
        let delays: Vec<u64> = (1..=7).map(|a| p.delay(a, None).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 20, 20]);
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let p = RetryPolicy::default()
            .with_jitter(0.5)
            .with_base_delay(Duration::from_secs(2));
        for _ in 0..100 {
            let d = p.delay(1, None);
            assert!(d >= Duration::from_secs(1) && d <= Duration::from_secs(3), "{d:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("5"), Some(Duration::from_secs(5)));
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .to_rfc2822()
            .replace("+0000", "GMT");
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(25) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("Tue, 01 Jan 2019 00:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        let p = RetryPolicy::default().with_max_delay(Duration::from_secs(10));
        assert_eq!(p.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(10));
    }
}
