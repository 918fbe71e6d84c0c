//! The connection sqlx's `Any` drives: statements as the store writes them (placeholders made
//! positional), rows and results as `Any` reads them, transactions as the statements the native
//! drivers send (`BEGIN`, savepoints, `COMMIT`, `ROLLBACK`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx_core::any::{
    AnyArguments, AnyColumn, AnyConnectOptions, AnyConnectionBackend, AnyQueryResult, AnyRow,
    AnyStatement, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind,
};
use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::database::Database;
use sqlx_core::ext::ustr::UStr;
use sqlx_core::sql_str::SqlStr;
use sqlx_core::transaction::TransactionManager;
use sqlx_core::{Either, HashMap};
use url::Url;

use super::Odbc;
use super::error::{OdbcDatabaseError, database_error};
use super::placeholders::{Rules, scan};
use crate::session::{ConnectionString, Session};
use crate::value::{Column, Kind, Outcome, Value};
use odbc_api::DataType;

/// How long a login may take where the driver honours ODBC's login timeout.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What an `odbc+…:` URL says: the connection string, percent-encoded after the scheme (see
/// [`super::database_url`]).
#[derive(Clone)]
pub struct OdbcConnectOptions {
    connection_string: ConnectionString,
    /// The URL's scheme, one of [`super::URL_SCHEMES`].
    scheme: &'static str,
}

impl fmt::Debug for OdbcConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OdbcConnectOptions(…)")
    }
}

impl FromStr for OdbcConnectOptions {
    type Err = sqlx_core::Error;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(url)
            .map_err(|_| sqlx_core::Error::Configuration("not an odbc+… URL".into()))?;
        Self::from_url(&url)
    }
}

impl ConnectOptions for OdbcConnectOptions {
    type Connection = OdbcConnection;

    fn from_url(url: &Url) -> Result<Self, sqlx_core::Error> {
        let scheme = super::URL_SCHEMES
            .iter()
            .find(|scheme| **scheme == url.scheme())
            .ok_or_else(|| sqlx_core::Error::Configuration("not an odbc+… URL".into()))?;
        let text = super::connection_string_of(url).ok_or_else(|| {
            sqlx_core::Error::Configuration(
                "an odbc+… URL holds a connection string after its scheme".into(),
            )
        })?;
        Ok(Self {
            connection_string: ConnectionString::new(super::with_required_options(scheme, text)),
            scheme,
        })
    }

    async fn connect(&self) -> Result<OdbcConnection, sqlx_core::Error> {
        let session = Session::connect(&self.connection_string, LOGIN_TIMEOUT)
            .await
            .map_err(|e| database_error(e, self.scheme))?;
        Ok(OdbcConnection {
            session,
            depth: 0,
            scheme: self.scheme,
        })
    }

    fn log_statements(self, _level: log::LevelFilter) -> Self {
        self
    }

    fn log_slow_statements(self, _level: log::LevelFilter, _duration: Duration) -> Self {
        self
    }
}

impl TryFrom<&AnyConnectOptions> for OdbcConnectOptions {
    type Error = sqlx_core::Error;

    fn try_from(options: &AnyConnectOptions) -> Result<Self, Self::Error> {
        Self::from_url(&options.database_url)
    }
}

/// One connection, its transactions counted as sqlx counts them.
pub struct OdbcConnection {
    session: Session,
    depth: usize,
    scheme: &'static str,
}

impl fmt::Debug for OdbcConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OdbcConnection")
            .field("depth", &self.depth)
            .finish()
    }
}

impl OdbcConnection {
    /// Runs `sql`: with `values` (an sqlx `query`, which native drivers prepare) only if it is
    /// one statement, as they refuse a second; without (`raw_sql`), all it holds. PostgreSQL's
    /// numbered placeholders are made positional where there are values to bind.
    async fn run(
        &mut self,
        sql: &str,
        values: Option<Vec<Value>>,
    ) -> Result<Vec<Outcome>, sqlx_core::Error> {
        let scheme = self.scheme;
        let rules = Rules::of(scheme);
        let scanned = scan(sql, rules, rules == Rules::Postgres && values.is_some());
        let refused = |detail: &str| {
            sqlx_core::Error::Database(Box::new(OdbcDatabaseError::refused(scheme, detail)))
        };
        if scanned.several_statements && values.is_some() {
            return Err(refused(
                "a statement with values holds one statement, and this one holds more or \
                 cannot be read for sure (refused before it reached the driver)",
            ));
        }
        let mut values = values.unwrap_or_default();
        if !scanned.numbers.is_empty() {
            values = scanned
                .numbers
                .iter()
                .map(|&number| number.checked_sub(1).and_then(|i| values.get(i)).cloned())
                .collect::<Option<Vec<Value>>>()
                .ok_or_else(|| refused("a placeholder's number has no value bound to it"))?;
        }
        self.session
            .run(scanned.sql, values)
            .await
            .map_err(|e| database_error(e, scheme))
    }

    /// Begins a transaction (or a savepoint in one). The depth is claimed before the round
    /// trip and kept if the begin fails or is stopped: sqlx's transaction, made before it
    /// begins, then rolls back (queued) that one level. A begin that ran on the session's thread
    /// after its caller gave up, or a `BEGIN; SET …` whose second part failed, so leaves no
    /// transaction open behind the pool's back.
    async fn begin_transaction(
        &mut self,
        statement: Option<SqlStr>,
    ) -> Result<(), sqlx_core::Error> {
        let sql = match (self.depth, statement) {
            (0, Some(statement)) => statement.as_str().to_owned(),
            (0, None) => "BEGIN".to_owned(),
            (_, Some(_)) => {
                return Err(sqlx_core::Error::InvalidSavePointStatement);
            }
            (depth, None) => format!("SAVEPOINT _sqlx_savepoint_{depth}"),
        };
        self.depth += 1;
        self.run(&sql, None).await.map(drop)
    }

    async fn end_transaction(&mut self, commit: bool) -> Result<(), sqlx_core::Error> {
        if self.depth == 0 {
            return Ok(());
        }
        let sql = end_statement(self.depth, commit);
        self.run(&sql, None).await?;
        self.depth -= 1;
        Ok(())
    }
}

fn end_statement(depth: usize, commit: bool) -> String {
    match (depth, commit) {
        (1, true) => "COMMIT".to_owned(),
        (1, false) => "ROLLBACK".to_owned(),
        (depth, true) => format!("RELEASE SAVEPOINT _sqlx_savepoint_{}", depth - 1),
        (depth, false) => format!("ROLLBACK TO SAVEPOINT _sqlx_savepoint_{}", depth - 1),
    }
}

impl Connection for OdbcConnection {
    type Database = Odbc;
    type Options = OdbcConnectOptions;

    async fn close(self) -> Result<(), sqlx_core::Error> {
        self.session.close().await;
        Ok(())
    }

    async fn close_hard(self) -> Result<(), sqlx_core::Error> {
        // Not waiting for the session's thread: a call stuck in the driver would hold it.
        drop(self.session);
        Ok(())
    }

    async fn ping(&mut self) -> Result<(), sqlx_core::Error> {
        self.run("SELECT 1", None).await.map(drop)
    }

    async fn begin(
        &mut self,
    ) -> Result<sqlx_core::transaction::Transaction<'_, Odbc>, sqlx_core::Error> {
        sqlx_core::transaction::Transaction::begin(self, None).await
    }

    fn shrink_buffers(&mut self) {}

    async fn flush(&mut self) -> Result<(), sqlx_core::Error> {
        Ok(())
    }

    fn should_flush(&self) -> bool {
        false
    }
}

pub struct OdbcTransactionManager;

impl TransactionManager for OdbcTransactionManager {
    type Database = Odbc;

    async fn begin(
        conn: &mut OdbcConnection,
        statement: Option<SqlStr>,
    ) -> Result<(), sqlx_core::Error> {
        conn.begin_transaction(statement).await
    }

    async fn commit(conn: &mut OdbcConnection) -> Result<(), sqlx_core::Error> {
        conn.end_transaction(true).await
    }

    async fn rollback(conn: &mut OdbcConnection) -> Result<(), sqlx_core::Error> {
        conn.end_transaction(false).await
    }

    fn start_rollback(conn: &mut OdbcConnection) {
        start_rollback(conn);
    }

    fn get_transaction_depth(conn: &OdbcConnection) -> usize {
        conn.depth
    }
}

/// Queues the rollback of the innermost transaction: it runs before the connection's next call.
fn start_rollback(conn: &mut OdbcConnection) {
    if conn.depth == 0 {
        return;
    }
    conn.session.queue(end_statement(conn.depth, false));
    conn.depth -= 1;
}

impl AnyConnectionBackend for OdbcConnection {
    fn name(&self) -> &str {
        <Odbc as Database>::NAME
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, sqlx_core::Result<()>> {
        Box::pin(Connection::close(*self))
    }

    fn close_hard(self: Box<Self>) -> BoxFuture<'static, sqlx_core::Result<()>> {
        Box::pin(Connection::close_hard(*self))
    }

    fn ping(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(Connection::ping(self))
    }

    fn begin(&mut self, statement: Option<SqlStr>) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.begin_transaction(statement))
    }

    fn commit(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.end_transaction(true))
    }

    fn rollback(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(self.end_transaction(false))
    }

    fn start_rollback(&mut self) {
        start_rollback(self);
    }

    fn get_transaction_depth(&self) -> usize {
        self.depth
    }

    fn shrink_buffers(&mut self) {}

    fn flush(&mut self) -> BoxFuture<'_, sqlx_core::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn should_flush(&self) -> bool {
        false
    }

    fn fetch_many(
        &mut self,
        query: SqlStr,
        _persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxStream<'_, sqlx_core::Result<Either<AnyQueryResult, AnyRow>>> {
        Box::pin(
            futures_util::stream::once(async move {
                let values = values_of(arguments)?;
                let outcomes = self.run(query.as_str(), values).await?;
                Ok::<_, sqlx_core::Error>(futures_util::stream::iter(
                    outcomes.into_iter().flat_map(any_results).map(Ok),
                ))
            })
            .try_flatten(),
        )
    }

    fn fetch_optional(
        &mut self,
        query: SqlStr,
        _persistent: bool,
        arguments: Option<AnyArguments>,
    ) -> BoxFuture<'_, sqlx_core::Result<Option<AnyRow>>> {
        Box::pin(async move {
            let values = values_of(arguments)?;
            let outcomes = self.run(query.as_str(), values).await?;
            Ok(outcomes
                .into_iter()
                .flat_map(any_results)
                .find_map(|result| result.right()))
        })
    }

    fn prepare_with<'c, 'q: 'c>(
        &'c mut self,
        _sql: SqlStr,
        _parameters: &[AnyTypeInfo],
    ) -> BoxFuture<'c, sqlx_core::Result<AnyStatement>> {
        Box::pin(async {
            Err(sqlx_core::Error::Configuration(
                "the ODBC driver runs statements directly; it prepares none ahead".into(),
            ))
        })
    }
}

/// The values sqlx's `Any` bound, as ODBC binds them; `None` for a `raw_sql`.
fn values_of(arguments: Option<AnyArguments>) -> sqlx_core::Result<Option<Vec<Value>>> {
    let Some(arguments) = arguments else {
        return Ok(None);
    };
    arguments
        .values
        .0
        .into_iter()
        .map(|value| {
            Ok(match value {
                AnyValueKind::Null(kind) => Value::Null(match kind {
                    AnyTypeInfoKind::Bool
                    | AnyTypeInfoKind::SmallInt
                    | AnyTypeInfoKind::Integer
                    | AnyTypeInfoKind::BigInt => Kind::Integer,
                    AnyTypeInfoKind::Blob => Kind::Bytes,
                    _ => Kind::Text,
                }),
                AnyValueKind::Bool(value) => Value::Integer(value.into()),
                AnyValueKind::SmallInt(value) => Value::Integer(value.into()),
                AnyValueKind::Integer(value) => Value::Integer(value.into()),
                AnyValueKind::BigInt(value) => Value::Integer(value),
                AnyValueKind::Real(value) => Value::Text(value.to_string()),
                AnyValueKind::Double(value) => Value::Text(value.to_string()),
                AnyValueKind::Text(text) => Value::Text(text.as_ref().clone()),
                AnyValueKind::TextSlice(text) => Value::Text(text.as_ref().to_owned()),
                AnyValueKind::Blob(bytes) => Value::Bytes(bytes.as_ref().clone()),
                other => {
                    return Err(sqlx_core::Error::Encode(
                        format!("the ODBC driver cannot bind {other:?}").into(),
                    ));
                }
            })
        })
        .collect::<sqlx_core::Result<Vec<Value>>>()
        .map(Some)
}

/// One statement's result as `Any` reads it: a count, or its rows.
fn any_results(outcome: Outcome) -> Vec<Either<AnyQueryResult, AnyRow>> {
    match outcome {
        Outcome::Changed(count) => vec![Either::Left(AnyQueryResult {
            rows_affected: count.unwrap_or(0),
            last_insert_id: None,
        })],
        Outcome::Rows { columns, rows } => {
            let any_columns: Vec<AnyColumn> = columns
                .iter()
                .enumerate()
                .map(|(ordinal, column)| AnyColumn {
                    ordinal,
                    name: UStr::from(column.name.clone()),
                    type_info: AnyTypeInfo {
                        kind: any_kind(column),
                    },
                })
                .collect();
            let names: Arc<HashMap<UStr, usize>> = Arc::new(
                any_columns
                    .iter()
                    .map(|column| (column.name.clone(), column.ordinal))
                    .collect(),
            );
            rows.into_iter()
                .map(|values| {
                    Either::Right(AnyRow {
                        column_names: names.clone(),
                        columns: any_columns.clone(),
                        values: values
                            .into_iter()
                            .zip(&columns)
                            .map(|(value, column)| AnyValue {
                                kind: any_value(value, column),
                            })
                            .collect(),
                    })
                })
                .collect()
        }
    }
}

fn any_kind(column: &Column) -> AnyTypeInfoKind {
    match (column.kind, column.data_type) {
        (Kind::Integer, DataType::Bit) => AnyTypeInfoKind::Bool,
        (Kind::Integer, DataType::TinyInt | DataType::SmallInt) => AnyTypeInfoKind::SmallInt,
        (Kind::Integer, DataType::Integer) => AnyTypeInfoKind::Integer,
        (Kind::Integer, _) => AnyTypeInfoKind::BigInt,
        (Kind::Text, _) => AnyTypeInfoKind::Text,
        (Kind::Bytes, _) => AnyTypeInfoKind::Blob,
    }
}

/// A value as `Any` holds it: integers at the column's width where they fit in it (SQLite's
/// driver calls 64-bit values `INTEGER`).
fn any_value(value: Value, column: &Column) -> AnyValueKind {
    match value {
        Value::Null(_) => AnyValueKind::Null(any_kind(column)),
        Value::Integer(integer) => match any_kind(column) {
            AnyTypeInfoKind::Bool => AnyValueKind::Bool(integer != 0),
            AnyTypeInfoKind::SmallInt => i16::try_from(integer)
                .map(AnyValueKind::SmallInt)
                .unwrap_or(AnyValueKind::BigInt(integer)),
            AnyTypeInfoKind::Integer => i32::try_from(integer)
                .map(AnyValueKind::Integer)
                .unwrap_or(AnyValueKind::BigInt(integer)),
            _ => AnyValueKind::BigInt(integer),
        },
        Value::Text(text) => AnyValueKind::Text(Arc::new(text)),
        Value::Bytes(bytes) => AnyValueKind::Blob(Arc::new(bytes)),
    }
}
