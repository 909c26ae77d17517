//! SQL errors, each carrying its PostgreSQL SQLSTATE.
//!
//! Every error that reaches a client goes through [`Error`]: the pgwire edge turns `code` into
//! the ErrorResponse's SQLSTATE field. Lower-layer errors are classified by their type
//! (`From<txn::Error>`), never by matching message strings.

use std::fmt;

/// Result type of the sql crate.
pub type Result<T> = std::result::Result<T, Error>;

/// SQLSTATE codes used by Meridian (PostgreSQL's values).
pub mod code {
    pub const SUCCESSFUL_COMPLETION: &str = "00000";
    pub const CONNECTION_EXCEPTION: &str = "08000";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const CARDINALITY_VIOLATION: &str = "21000";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const INVALID_ESCAPE_SEQUENCE: &str = "22025";
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    pub const INTEGRITY_CONSTRAINT_VIOLATION: &str = "23000";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const INVALID_TRANSACTION_STATE: &str = "25000";
    pub const ACTIVE_SQL_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
    pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
    pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const INVALID_CURSOR_NAME: &str = "34000";
    pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const INVALID_SAVEPOINT: &str = "3B001";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const STATEMENT_COMPLETION_UNKNOWN: &str = "40003";
    /// CockroachDB's code for a range that cannot serve (no quorum); clients written for it
    /// recognise it.
    pub const RANGE_UNAVAILABLE: &str = "XXUUU";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const UNDEFINED_PARAMETER: &str = "42P02";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DUPLICATE_DATABASE: &str = "42P04";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const CANNOT_COERCE: &str = "42846";
    pub const GROUPING_ERROR: &str = "42803";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const UNDEFINED_DATABASE: &str = "3D000";
    pub const WRONG_OBJECT_TYPE: &str = "42809";
    pub const INVALID_PARAMETER: &str = "42P18";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const DISK_FULL: &str = "53100";
    pub const QUERY_CANCELED: &str = "57014";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const SNAPSHOT_TOO_OLD: &str = "72000";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const DATA_CORRUPTED: &str = "XX001";
}

/// A SQL error: SQLSTATE, message, and optional detail and hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// The five-character SQLSTATE.
    pub code: &'static str,
    /// The primary message, lower case, no trailing period (PostgreSQL's style).
    pub message: String,
    /// Optional detail line.
    pub detail: Option<String>,
    /// Optional hint line.
    pub hint: Option<String>,
}

impl Error {
    /// An error with the given SQLSTATE and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// Adds a detail line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// 42601 syntax error.
    pub fn syntax(message: impl Into<String>) -> Self {
        Self::new(code::SYNTAX_ERROR, message)
    }

    /// 0A000 feature not supported.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(code::FEATURE_NOT_SUPPORTED, message)
    }

    /// XX000 internal error: a broken invariant reported instead of panicking.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }

    /// Whether the client may retry the transaction (SQLSTATE 40001).
    pub fn is_retryable(&self) -> bool {
        self.code == code::SERIALIZATION_FAILURE
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<txn::Error> for Error {
    fn from(e: txn::Error) -> Self {
        match &e {
            txn::Error::Retry { .. } => Error::new(code::SERIALIZATION_FAILURE, e.to_string())
                .with_hint("retry the transaction"),
            txn::Error::ReadOnly => Error::new(code::READ_ONLY_SQL_TRANSACTION, e.to_string()),
            txn::Error::Ambiguous(_) => {
                Error::new(code::STATEMENT_COMPLETION_UNKNOWN, e.to_string())
            }
            // An AS OF SYSTEM TIME read older than the GC threshold: PostgreSQL's
            // "snapshot too old".
            txn::Error::BelowGcThreshold { .. } => {
                Error::new(code::SNAPSHOT_TOO_OLD, e.to_string())
            }
            txn::Error::Internal(_) => Error::new(code::INTERNAL_ERROR, e.to_string()),
            txn::Error::Unavailable(_) => Error::new(code::RANGE_UNAVAILABLE, e.to_string()),
            // The distributed sender retries these itself; one that escapes ran out of
            // attempts while ranges kept moving, and the statement may simply be retried.
            txn::Error::RangeKeyMismatch(_) | txn::Error::NotLeaseholder { .. } => {
                Error::new(code::SERIALIZATION_FAILURE, e.to_string())
                    .with_hint("routing changed while the statement ran; retry it")
            }
            txn::Error::Storage(kv::Error::Decode(_)) => {
                Error::new(code::DATA_CORRUPTED, e.to_string())
            }
            txn::Error::Storage(kv::Error::Engine(msg)) if msg.contains("No space left") => {
                Error::new(code::DISK_FULL, e.to_string())
            }
            txn::Error::Storage(_) => Error::new(code::INTERNAL_ERROR, e.to_string()),
        }
    }
}

impl From<kv::Error> for Error {
    fn from(e: kv::Error) -> Self {
        Error::from(txn::Error::Storage(e))
    }
}
