//! Errors of the storage layer.

/// Result type of the kv crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A storage-layer error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, corruption). Never deterministic: the node should not
    /// continue as if the write happened.
    #[error("storage engine error: {0}")]
    Engine(String),
    /// Bytes read from disk or the network could not be decoded.
    #[error("corrupt or undecodable data: {0}")]
    Decode(String),
    /// A key outside the space the operation may touch, e.g. an MVCC user key in the local
    /// (per-store, unversioned) span. A caller bug, never caused by stored data.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A remote clock reading was further ahead than the maximum clock offset allows.
    #[error("clock offset too large: remote clock is {offset_ms} ms ahead, max offset {max_offset_ms} ms")]
    ClockOffset {
        /// How far ahead the remote clock was.
        offset_ms: u64,
        /// The configured maximum offset.
        max_offset_ms: u64,
    },
}
