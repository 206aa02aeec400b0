use std::time::Duration;

use selki_delivery::{EXCERPT_BYTES, excerpt, next_delay, parse_retry_after};
use selki_domain::{RetryPolicy, UnixMs};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn check(
    policy: RetryPolicy,
    attempt: u32,
    retry_after: Option<u64>,
    jitter: f64,
    want: Option<u64>,
) {
    let got = next_delay(policy, attempt, retry_after.map(secs), jitter);
    assert_eq!(
        got,
        want.map(secs),
        "attempt {attempt}, retry-after {retry_after:?}, jitter {jitter}"
    );
}

#[test]
fn a_fixed_delay_repeats_until_the_attempts_are_used_up() {
    let fixed = RetryPolicy::new(3, secs(30), false, None).expect("policy");
    check(fixed, 1, None, 0.9, Some(30));
    check(fixed, 3, None, 0.0, Some(30));
    check(fixed, 4, None, 0.0, None);
    let none = RetryPolicy::new(0, secs(30), false, None).expect("policy");
    check(none, 1, None, 0.0, None);
}

#[test]
fn exponential_backoff_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
    let exp = RetryPolicy::new(10, secs(10), true, Some(secs(100))).expect("policy");
    check(exp, 1, None, 0.0, Some(5));
    check(exp, 1, None, 1.0, Some(10));
    check(exp, 2, None, 1.0, Some(20));
    check(exp, 3, None, 1.0, Some(40));
    check(exp, 4, None, 1.0, Some(80));
    check(exp, 5, None, 1.0, Some(100));
    check(exp, 10, None, 0.0, Some(50));
    check(exp, 11, None, 0.5, None);
}

#[test]
fn retry_after_wins_within_a_second_and_an_hour() {
    let exp = RetryPolicy::new(5, secs(10), true, None).expect("policy");
    check(exp, 1, Some(120), 0.0, Some(120));
    check(exp, 1, Some(0), 0.0, Some(1));
    check(exp, 1, Some(86_400), 0.0, Some(3600));
    check(exp, 6, Some(5), 0.0, None);
}

#[test]
fn retry_after_is_read_as_seconds_or_an_http_date() {
    let now = UnixMs::from_millis(784_111_777_000); // Sun, 06 Nov 1994 08:49:37 GMT
    assert_eq!(parse_retry_after("120", now), Some(secs(120)));
    assert_eq!(parse_retry_after(" 7 ", now), Some(secs(7)));
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
        Some(secs(120))
    );
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
        Some(Duration::ZERO)
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-5", now), None);
}

#[test]
fn excerpts_never_hold_a_nul_byte_and_say_they_were_changed() {
    assert_eq!(excerpt(b"ok\0"), "[NUL bytes replaced] ok\u{fffd}");
    assert_eq!(excerpt(b"\0\xff"), "[not UTF-8] \u{fffd}\u{fffd}");
    assert!(!excerpt(b"a\0b\0c").contains('\0'));
}

#[test]
fn excerpts_keep_text_mark_binary_and_say_where_they_were_cut() {
    assert_eq!(excerpt(b"ok"), "ok");
    assert_eq!(excerpt("grüße".as_bytes()), "grüße");
    assert_eq!(excerpt(b"\xff\xfeok"), "[not UTF-8] \u{fffd}\u{fffd}ok");
    let long = "é".repeat(EXCERPT_BYTES); // 2 bytes each: cut mid-character
    let cut = excerpt(long.as_bytes());
    assert!(
        cut.starts_with("éé") && !cut.starts_with("[not UTF-8]"),
        "{}",
        &cut[..20]
    );
    assert!(
        cut.ends_with(&format!("[cut at {EXCERPT_BYTES} bytes]")),
        "{}",
        &cut[cut.len() - 40..]
    );
}
