//! What a receiver answered, kept short for Recent Calls.

/// Bytes of a response body kept.
pub const EXCERPT_BYTES: usize = 16 * 1024;

/// The first `max` bytes of a body as text that any database stores. A
/// body that is not UTF-8 is marked as such (invalid bytes shown as
/// U+FFFD), and so is one with NUL bytes, which PostgreSQL refuses in text
/// (shown as U+FFFD too); a cut is marked.
pub fn excerpt(body: &[u8]) -> String {
    excerpt_of(body, EXCERPT_BYTES)
}

/// [`excerpt`] cut at `max` bytes instead.
pub fn excerpt_of(body: &[u8], max: usize) -> String {
    let cut = body.len() > max;
    let kept = &body[..body.len().min(max)];
    let (text, binary) = match std::str::from_utf8(kept) {
        Ok(text) => (text.to_owned(), false),
        // A multi-byte character split by the cut is not a binary body.
        Err(e) if cut && e.error_len().is_none() => (
            String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned(),
            false,
        ),
        Err(_) => (String::from_utf8_lossy(kept).into_owned(), true),
    };
    let nul = text.contains('\0');
    let mut out = String::with_capacity(text.len() + 40);
    match (binary, nul) {
        (true, _) => out.push_str("[not UTF-8] "),
        (false, true) => out.push_str("[NUL bytes replaced] "),
        (false, false) => {}
    }
    if nul {
        out.push_str(&text.replace('\0', "\u{fffd}"));
    } else {
        out.push_str(&text);
    }
    if cut {
        // The reader stops early, so the full length is not known here.
        out.push_str(&format!(" [cut at {max} bytes]"));
    }
    out
}
