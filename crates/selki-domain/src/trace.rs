//! W3C trace context: the `traceparent` a submitter sends with an event,
//! kept with it so that its deliveries join the submitter's trace.

/// A valid `traceparent`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>`, trace and parent ids not all zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

impl TraceParent {
    /// `None` for anything but a version-00 traceparent (a malformed one is
    /// ignored, as the W3C specification asks of a receiver).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let parts: Vec<&str> = text.split('-').collect();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        let zeros = |s: &str| s.bytes().all(|b| b == b'0');
        match parts.as_slice() {
            ["00", trace, parent, flags]
                if hex(trace, 32)
                    && hex(parent, 16)
                    && hex(flags, 2)
                    && !zeros(trace)
                    && !zeros(parent) =>
            {
                Some(Self(text))
            }
            _ => None,
        }
    }

    /// The 32 hex digits naming the trace.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
