//! Error types.

/// Errors from parsing code tables and range specifications.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// A table row could not be parsed. `line` is 1-based and counts the header.
    #[error("line {line}: {reason}")]
    Table {
        /// 1-based line number in the source.
        line: usize,
        /// What is wrong with the line.
        reason: TableErrorReason,
    },
    /// A code range specification (`O00-O9A`) is malformed.
    #[error("invalid code range {spec:?}: {reason}")]
    Range {
        /// The specification as given.
        spec: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading the source failed (including invalid UTF-8).
    #[error("reading code table: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a table line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableErrorReason {
    /// The line has no tab between code and second column.
    #[error("missing tab separator")]
    MissingTab,
    /// The code column is empty (after normalisation).
    #[error("empty code")]
    EmptyCode,
    /// The code (after normalisation) already appeared on an earlier line.
    #[error("duplicate code {code:?}, first defined on line {first_line}")]
    DuplicateCode {
        /// The normalised code.
        code: String,
        /// 1-based line of the first definition.
        first_line: usize,
    },
    /// The table has more rows than a `u32` id can number.
    #[error("too many rows")]
    TooManyRows,
}

impl CodeError {
    /// The 1-based line number for table errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            CodeError::Table { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The reason for table errors.
    pub fn table_reason(&self) -> Option<&TableErrorReason> {
        match self {
            CodeError::Table { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
