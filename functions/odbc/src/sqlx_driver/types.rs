//! The types sqlx's `Database` asks of a driver. This driver is used through sqlx's `Any` (see
//! [`super`]); these carry what a row or a statement holds, and bind nothing by themselves.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use sqlx_core::arguments::Arguments;
use sqlx_core::column::Column;
use sqlx_core::database::Database;
use sqlx_core::encode::Encode;
use sqlx_core::error::BoxDynError;
use sqlx_core::row::Row;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::statement::Statement;
use sqlx_core::type_info::TypeInfo;
use sqlx_core::types::Type;
use sqlx_core::value::{Value as SqlxValue, ValueRef};
use sqlx_core::{
    Either, impl_column_index_for_row, impl_column_index_for_statement, impl_statement_query,
};

use super::Odbc;
use super::connection::{OdbcConnection, OdbcTransactionManager};
use crate::value::{Kind, Value};

impl Database for Odbc {
    type Connection = OdbcConnection;
    type TransactionManager = OdbcTransactionManager;
    type Row = OdbcRow;
    type QueryResult = OdbcQueryResult;
    type Column = OdbcColumn;
    type TypeInfo = OdbcTypeInfo;
    type Value = OdbcValue;
    type ValueRef<'r> = OdbcValueRef<'r>;
    type Arguments = OdbcArguments;
    type ArgumentBuffer = Vec<Value>;
    type Statement = OdbcStatement;
    const NAME: &'static str = "ODBC";
    const URL_SCHEMES: &'static [&'static str] = super::URL_SCHEMES;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OdbcTypeInfo(pub Kind);

impl fmt::Display for OdbcTypeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TypeInfo for OdbcTypeInfo {
    fn is_null(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        match self.0 {
            Kind::Integer => "INTEGER",
            Kind::Text => "TEXT",
            Kind::Bytes => "BINARY",
        }
    }
}

#[derive(Debug, Clone)]
pub struct OdbcColumn {
    pub(crate) ordinal: usize,
    pub(crate) name: String,
    pub(crate) type_info: OdbcTypeInfo,
}

impl Column for OdbcColumn {
    type Database = Odbc;

    fn ordinal(&self) -> usize {
        self.ordinal
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn type_info(&self) -> &OdbcTypeInfo {
        &self.type_info
    }
}

pub struct OdbcRow {
    pub(crate) columns: Arc<Vec<OdbcColumn>>,
    pub(crate) values: Vec<Value>,
}

impl Row for OdbcRow {
    type Database = Odbc;

    fn columns(&self) -> &[OdbcColumn] {
        &self.columns
    }

    fn try_get_raw<I>(&self, index: I) -> Result<OdbcValueRef<'_>, sqlx_core::Error>
    where
        I: sqlx_core::column::ColumnIndex<Self>,
    {
        let index = index.index(self)?;
        Ok(OdbcValueRef(&self.values[index]))
    }
}

impl_column_index_for_row!(OdbcRow);

#[derive(Debug, Clone)]
pub struct OdbcValue(pub Value);

pub struct OdbcValueRef<'r>(pub &'r Value);

fn type_of(value: &Value) -> OdbcTypeInfo {
    OdbcTypeInfo(match value {
        Value::Null(kind) => *kind,
        Value::Integer(_) => Kind::Integer,
        Value::Text(_) => Kind::Text,
        Value::Bytes(_) => Kind::Bytes,
    })
}

impl SqlxValue for OdbcValue {
    type Database = Odbc;

    fn as_ref(&self) -> OdbcValueRef<'_> {
        OdbcValueRef(&self.0)
    }

    fn type_info(&self) -> Cow<'_, OdbcTypeInfo> {
        Cow::Owned(type_of(&self.0))
    }

    fn is_null(&self) -> bool {
        matches!(self.0, Value::Null(_))
    }
}

impl<'r> ValueRef<'r> for OdbcValueRef<'r> {
    type Database = Odbc;

    fn to_owned(&self) -> OdbcValue {
        OdbcValue(self.0.clone())
    }

    fn type_info(&self) -> Cow<'_, OdbcTypeInfo> {
        Cow::Owned(type_of(self.0))
    }

    fn is_null(&self) -> bool {
        matches!(self.0, Value::Null(_))
    }
}

#[derive(Default)]
pub struct OdbcArguments {
    pub(crate) values: Vec<Value>,
}

impl Arguments for OdbcArguments {
    type Database = Odbc;

    fn reserve(&mut self, additional: usize, _size: usize) {
        self.values.reserve(additional);
    }

    fn add<'t, T>(&mut self, value: T) -> Result<(), BoxDynError>
    where
        T: Encode<'t, Odbc> + Type<Odbc>,
    {
        let _ = value.encode(&mut self.values)?;
        Ok(())
    }

    fn len(&self) -> usize {
        self.values.len()
    }
}

#[derive(Debug, Default)]
pub struct OdbcQueryResult {
    pub(crate) rows_affected: u64,
}

impl Extend<OdbcQueryResult> for OdbcQueryResult {
    fn extend<T: IntoIterator<Item = OdbcQueryResult>>(&mut self, results: T) {
        for result in results {
            self.rows_affected += result.rows_affected;
        }
    }
}

#[derive(Debug, Clone)]
pub struct OdbcStatement {
    pub(crate) sql: SqlStr,
    pub(crate) columns: Arc<Vec<OdbcColumn>>,
}

impl Statement for OdbcStatement {
    type Database = Odbc;

    fn into_sql(self) -> SqlStr {
        self.sql
    }

    fn sql(&self) -> &SqlStr {
        &self.sql
    }

    fn parameters(&self) -> Option<Either<&[OdbcTypeInfo], usize>> {
        None
    }

    fn columns(&self) -> &[OdbcColumn] {
        &self.columns
    }

    impl_statement_query!(OdbcArguments);
}

impl_column_index_for_statement!(OdbcStatement);
sqlx_core::impl_into_arguments_for_arguments!(OdbcArguments);
