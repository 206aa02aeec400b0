//! What a receiver answered, kept short for Recent Calls.

/// Bytes of a response body kept.
pub const EXCERPT_BYTES: usize = 16 * 1024;

/// The first [`EXCERPT_BYTES`] of a body as text. A body that is not UTF-8
/// is marked as such (invalid bytes shown as U+FFFD); a cut is marked too.
pub fn excerpt(body: &[u8]) -> String {
    let cut = body.len() > EXCERPT_BYTES;
    let kept = &body[..body.len().min(EXCERPT_BYTES)];
    let (text, binary) = match std::str::from_utf8(kept) {
        Ok(text) => (text.to_owned(), false),
        // A multi-byte character split by the cut is not a binary body.
        Err(e) if cut && e.error_len().is_none() => (
            String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(),
            false,
        ),
        Err(_) => (String::from_utf8_lossy(kept).into_owned(), true),
    };
    let mut out = String::with_capacity(text.len() + 40);
    if binary {
        out.push_str("[not UTF-8] ");
    }
    out.push_str(&text);
    if cut {
        // The reader stops early, so the full length is not known here.
        out.push_str(&format!(" [cut at {EXCERPT_BYTES} bytes]"));
    }
    out
}
