//! A connection and the blocking thread its calls run on.

use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

use odbc_api::handles::{Statement, StatementImpl, StatementRef};
use odbc_api::parameter::InputParameter;
use odbc_api::{
    Connection, ConnectionOptions, Cursor, CursorImpl, IntoParameter, Nullable, Preallocated,
    ResultSetMetadata,
};

use tokio::sync::oneshot;

use crate::error::OdbcError;
use crate::value::{Column, Kind, Outcome, Value};

/// What a text column's buffer starts at: most values fit, so a row is read with one call per
/// column (a longer value is read in parts).
const TEXT_BUFFER: usize = 4096;

/// An ODBC connection string (`Driver={…};Server=…;Pwd=…`). It holds a password: it is never
/// shown, in its `Debug` or in an error.
#[derive(Clone)]
pub struct ConnectionString(String);

impl ConnectionString {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionString(…)")
    }
}

/// A job for a session's thread.
type Job = Box<dyn FnOnce(&Connection<'static>) + Send>;

/// One open connection, owned by a thread of its own that runs the session's calls in the order
/// they were made. One thread, not tokio's pool of blocking threads: MariaDB's driver (3.1.15)
/// can leave a lock to be released by the connection's next call, and hangs for good when that
/// call comes from another thread (a `ROLLBACK` after a statement with several results, one run
/// in twenty to eighty). A call whose future is dropped still runs; the next call waits for it.
pub struct Session {
    jobs: Option<mpsc::Sender<Job>>,
    /// Told when the thread has closed the connection.
    closed: Option<oneshot::Receiver<()>>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("open", &self.jobs.is_some())
            .finish()
    }
}

impl Session {
    /// Connects with `connection_string`, waiting at most `login_timeout` (whole seconds, at
    /// least one) where the driver honours ODBC's login timeout.
    pub async fn connect(
        connection_string: &ConnectionString,
        login_timeout: Duration,
    ) -> Result<Self, OdbcError> {
        let text = connection_string.0.clone();
        let seconds = login_timeout.as_secs().clamp(1, u32::MAX as u64) as u32;
        let (connected, connecting) = oneshot::channel();
        let (jobs, queue) = mpsc::channel::<Job>();
        let (closing, closed) = oneshot::channel();
        std::thread::Builder::new()
            .name("odbc-session".into())
            .spawn(move || {
                let open = match connect(&text, seconds) {
                    Ok(connection) => Open(Some(connection)),
                    Err(error) => {
                        let _ = connected.send(Err(error));
                        return;
                    }
                };
                let _ = connected.send(Ok(()));
                for job in queue {
                    job(open.connection());
                }
                drop(open);
                let _ = closing.send(());
            })
            .map_err(|e| OdbcError::Other(format!("no thread for the connection: {e}")))?;
        connecting.await.map_err(|_| ended())??;
        Ok(Self {
            jobs: Some(jobs),
            closed: Some(closed),
        })
    }

    /// Runs `sql` with `values` bound to its `?`s, in order, and returns every result it gave.
    pub async fn run(
        &mut self,
        sql: String,
        values: Vec<Value>,
    ) -> Result<Vec<Outcome>, OdbcError> {
        self.call(move |connection| run(connection, &sql, &values))
            .await
    }

    /// Whether each statement commits on its own (ODBC's default) or waits for
    /// [`Session::commit`] / [`Session::rollback`]; turning it back on commits what waits.
    pub async fn set_autocommit(&mut self, on: bool) -> Result<(), OdbcError> {
        self.call(move |connection| Ok(connection.set_autocommit(on)?))
            .await
    }

    pub async fn commit(&mut self) -> Result<(), OdbcError> {
        self.call(|connection| Ok(connection.commit()?)).await
    }

    pub async fn rollback(&mut self) -> Result<(), OdbcError> {
        self.call(|connection| Ok(connection.rollback()?)).await
    }

    /// Queues `sql` to run before the next call, without waiting for it (a rollback asked for
    /// where nothing can wait); what it returns is dropped.
    pub fn queue(&mut self, sql: String) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Box::new(move |connection| {
                let _ = run(connection, &sql, &[]);
            }));
        }
    }

    /// Whether the driver knows the connection to be dead (without a round trip, for most).
    pub async fn is_dead(&mut self) -> Result<bool, OdbcError> {
        self.call(|connection| Ok(connection.is_dead()?)).await
    }

    /// Closes the connection once the calls made before have run, rolling back what waits for
    /// a commit.
    pub async fn close(mut self) {
        self.jobs = None;
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
    }

    async fn call<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&Connection<'static>) -> Result<T, OdbcError> + Send + 'static,
    ) -> Result<T, OdbcError> {
        let jobs = self.jobs.as_ref().ok_or_else(ended)?;
        let (done, result) = oneshot::channel();
        jobs.send(Box::new(move |connection| {
            let _ = done.send(work(connection));
        }))
        .map_err(|_| ended())?;
        result.await.map_err(|_| ended())?
    }
}

fn ended() -> OdbcError {
    OdbcError::Lost("the connection's thread has ended".into())
}

fn connect(text: &str, login_timeout_sec: u32) -> Result<Connection<'static>, OdbcError> {
    // MariaDB's Connector/ODBC 3.1.15 (Debian 12's; mended in 3.1.19 by its commit 9b96270a)
    // reads a connection string's last value up to the next `;` or NUL, past the length it is
    // given: a digit in the next byte of memory turned `OPTION=67108866` into another number,
    // and a connection came up without multi-statements now and then. A NUL after the text,
    // outside the length passed, ends that read.
    let terminated = format!("{text}\0");
    let text = &terminated[..text.len()];
    let environment = odbc_api::environment()?;
    let options = ConnectionOptions {
        login_timeout_sec: Some(login_timeout_sec),
        ..ConnectionOptions::default()
    };
    Ok(environment.connect_with_connection_string(text, options)?)
}

/// A connection that closes without panicking: `odbc-api`'s own drop panics where the driver
/// fails to disconnect (a connection the server dropped, with some drivers), and a panic aborts
/// a release build. Where the disconnect fails, the handle is left to the process's end.
struct Open(Option<Connection<'static>>);

impl Open {
    fn connection(&self) -> &Connection<'static> {
        self.0.as_ref().expect("held until dropped")
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let Some(connection) = self.0.take() else {
            return;
        };
        let _ = connection.rollback();
        let mut handle = connection.into_handle();
        match handle.disconnect() {
            odbc_api::handles::SqlResult::Success(())
            | odbc_api::handles::SqlResult::SuccessWithInfo(()) => drop(handle),
            _ => std::mem::forget(handle),
        }
    }
}

fn run(
    connection: &Connection<'_>,
    sql: &str,
    values: &[Value],
) -> Result<Vec<Outcome>, OdbcError> {
    // Declared before the statement: bound, they must outlive every call on it.
    let bound: Vec<Box<dyn InputParameter>> = values.iter().map(parameter).collect();
    let mut owned = OwnedStatement(Some(connection.preallocate()?.into_handle()));
    let statement = owned.0.as_mut().expect("just allocated");
    let mut outcomes = Vec::new();
    {
        // Safety: a handle allocated on the connection; `Preallocated` over a reference to it
        // frees nothing when dropped.
        let mut first = unsafe { Preallocated::new(statement.as_stmt_ref()) };
        if let Some(cursor) = first.execute(sql, bound.as_slice())? {
            outcomes.push(read_rows(cursor)?);
        }
    }
    if outcomes.is_empty() {
        outcomes.push(changed(statement)?);
    }
    while unsafe { statement.more_results() }.into_result_bool(statement)? {
        let columns = statement.num_result_cols().into_result(statement)?;
        let outcome = match columns {
            0 => changed(statement)?,
            // Safety: the statement has a result set; the cursor is taken apart once read, so
            // the statement outlives it.
            _ => read_rows(unsafe { CursorImpl::new(statement.as_stmt_ref()) })?,
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A statement handle freed without `odbc-api`'s drop, which panics where the driver fails to
/// free it (see the crate's docs): on a failure the handle is left to the connection's end.
struct OwnedStatement<'c>(Option<StatementImpl<'c>>);

impl Drop for OwnedStatement<'_> {
    fn drop(&mut self) {
        if let Some(statement) = self.0.take() {
            let handle = statement.into_sys();
            // Safety: the handle was allocated on the connection and is freed once, here.
            unsafe {
                let _ = odbc_api::sys::SQLFreeHandle(
                    odbc_api::sys::HandleType::Stmt,
                    handle.as_handle(),
                );
            }
        }
    }
}

fn parameter(value: &Value) -> Box<dyn InputParameter> {
    match value {
        Value::Null(Kind::Integer) => Box::new(Nullable::<i64>::null()),
        Value::Null(Kind::Text) => Box::new(None::<String>.into_parameter()),
        Value::Null(Kind::Bytes) => Box::new(None::<Vec<u8>>.into_parameter()),
        Value::Integer(value) => Box::new(*value),
        Value::Text(text) => Box::new(text.clone().into_parameter()),
        Value::Bytes(bytes) => Box::new(bytes.clone().into_parameter()),
    }
}

fn changed(statement: &mut impl Statement) -> Result<Outcome, OdbcError> {
    let count = statement.row_count().into_result(statement)?;
    Ok(Outcome::Changed(u64::try_from(count).ok()))
}

/// Reads every row of `cursor`'s result set, then takes the cursor apart without closing it: the
/// statement may have more results, and closing is the statement's (see the crate's docs).
fn read_rows(mut cursor: CursorImpl<StatementRef<'_>>) -> Result<Outcome, OdbcError> {
    let read = read_all(&mut cursor);
    let _ = cursor.into_stmt();
    read
}

fn read_all(cursor: &mut CursorImpl<StatementRef<'_>>) -> Result<Outcome, OdbcError> {
    let count = u16::try_from(cursor.num_result_cols()?).unwrap_or(0);
    let mut columns = Vec::with_capacity(count.into());
    for number in 1..=count {
        let data_type = cursor.col_data_type(number)?;
        columns.push(Column {
            name: cursor.col_name(number)?,
            kind: Kind::of(data_type),
            data_type,
        });
    }
    let mut rows = Vec::new();
    let mut buffer = Vec::with_capacity(TEXT_BUFFER);
    while let Some(mut row) = cursor.next_row()? {
        let mut values = Vec::with_capacity(columns.len());
        for (number, column) in (1..).zip(&columns) {
            let value = match column.kind {
                Kind::Integer => {
                    let mut integer = Nullable::<i64>::null();
                    row.get_data(number, &mut integer)?;
                    integer.into_opt().map(Value::Integer)
                }
                Kind::Text => match row.get_text(number, &mut buffer)? {
                    true => Some(Value::Text(String::from_utf8(buffer.clone()).map_err(
                        |_| {
                            OdbcError::Other(format!(
                                "column {} holds text that is not UTF-8",
                                column.name
                            ))
                        },
                    )?)),
                    false => None,
                },
                Kind::Bytes => match row.get_binary(number, &mut buffer)? {
                    true => Some(Value::Bytes(buffer.clone())),
                    false => None,
                },
            };
            values.push(value.unwrap_or(Value::Null(column.kind)));
        }
        rows.push(values);
    }
    Ok(Outcome::Rows { columns, rows })
}

#[cfg(test)]
mod tests {
    /// The MariaDB server of TEST_MYSQL_URL (`mysql://user@host:port/database`) as a connection
    /// string that ends with its `OPTION`.
    fn mariadb() -> Option<String> {
        let url = url::Url::parse(&std::env::var("TEST_MYSQL_URL").ok()?).ok()?;
        Some(format!(
            "Driver={{MariaDB Unicode}};Server={};Port={};Database={};Uid={};OPTION=67108864",
            url.host_str()?,
            url.port().unwrap_or(3306),
            url.path().trim_start_matches('/'),
            url.username(),
        ))
    }

    #[test]
    fn a_digit_after_the_connection_string_does_not_change_its_last_value() {
        let Some(text) = mariadb() else {
            return;
        };
        // The connection string's last byte followed in memory by a digit, as a heap allocation
        // may be: Connector/ODBC 3.1.15 then read OPTION=671088645, without multi-statements.
        let followed = format!("{text}5");
        let connection = super::connect(&followed[..text.len()], 5).unwrap();
        let two = connection.execute("SELECT 1 AS one; SELECT 'two' AS two", (), None);
        assert!(two.is_ok(), "{:?}", two.err());
    }
}
