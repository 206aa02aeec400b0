//! What an API key may call within its reach (every organization for an
//! admin key, one for an organization key).

/// A key's access. The database stores [`KeyAccess::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAccess {
    /// Everything (and, for an admin key, making keys).
    Full,
    /// Submitting events only: what the services reporting events hold.
    Ingest,
    /// Reading only: gets, lists, statistics and streams.
    Read,
}

crate::names!(KeyAccess {
    Full => "full",
    Ingest => "ingest",
    Read => "read",
});

/// What an RPC does, to be matched against a key's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// SubmitEvent, SubmitEvents.
    Ingest,
    /// Gets, lists, statistics, streams.
    Read,
    /// Everything that changes or sends something.
    Write,
}

impl KeyAccess {
    /// Whether a key with this access may do `operation`.
    pub fn allows(self, operation: Operation) -> bool {
        match self {
            Self::Full => true,
            Self::Ingest => operation == Operation::Ingest,
            Self::Read => operation == Operation::Read,
        }
    }
}
