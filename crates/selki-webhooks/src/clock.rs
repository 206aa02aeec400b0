//! The only place that reads a clock, and only for the convenience `verify`.

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) fn now_unix() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `SystemTime::now` panics on wasm32-unknown-unknown: ask JavaScript instead.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) fn now_unix() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}
