//! When to try a failed delivery again.

use std::time::Duration;

use selki_domain::RetryPolicy;
use selki_domain::UnixMs;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

/// Bounds on a receiver's `Retry-After`: at least a second, at most an hour.
pub const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// The wait before the next attempt after attempt number `attempt` (from 1)
/// failed, or `None` when the policy's attempts are used up.
///
/// With exponential backoff the delay doubles each time up to the cap, and
/// `jitter` (in `[0, 1)`, drawn by the caller) spreads retries over the
/// upper half of it so that a recovering receiver is not hit all at once.
/// A `Retry-After` from the receiver (429, 503) wins, within bounds.
pub fn next_delay(
    policy: RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    if attempt > policy.attempts() {
        return None;
    }
    if let Some(asked) = retry_after {
        return Some(asked.clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX));
    }
    if !policy.exponential() {
        return Some(policy.delay());
    }
    let doublings = attempt.saturating_sub(1).min(30);
    let base = policy
        .delay()
        .saturating_mul(1 << doublings)
        .min(policy.max_delay());
    Some(base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: UnixMs) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    Some(UnixMs::from_datetime(at).since(now))
}
