//! What goes into a statement and what comes out of it.

use odbc_api::DataType;

/// The kinds of value this crate reads and binds: every column is read as one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Whole numbers (`SMALLINT`, `INTEGER`, `BIGINT`, `BIT`, …), as `i64`.
    Integer,
    /// Everything else a driver can render as text (numbers with a scale, dates, strings).
    Text,
    /// `BINARY`, `VARBINARY`, `BLOB`, …
    Bytes,
}

impl Kind {
    pub(crate) fn of(data_type: DataType) -> Self {
        match data_type {
            DataType::TinyInt
            | DataType::SmallInt
            | DataType::Integer
            | DataType::BigInt
            | DataType::Bit => Self::Integer,
            DataType::Binary { .. }
            | DataType::Varbinary { .. }
            | DataType::LongVarbinary { .. } => Self::Bytes,
            _ => Self::Text,
        }
    }
}

/// A value bound to a statement's `?`, or read from a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A NULL, bound with the SQL type of its kind (a server may refuse an untyped NULL for an
    /// integer column).
    Null(Kind),
    Integer(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A column of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    /// The SQL type the driver gave the column.
    pub data_type: DataType,
}

/// One result of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A result set, all of its rows.
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
    },
    /// A statement without a result set, and the rows it changed where the driver says.
    Changed(Option<u64>),
}
