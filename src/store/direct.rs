//! SQLite reads run on the caller's own thread (rusqlite on the same libsqlite3), for the
//! hottest read paths: listing images and reading one by id.
//!
//! sqlx's SQLite driver runs every statement on the connection's own thread and sends each
//! row back as a message: a page of 100 images was 100 hand-offs between threads, and the
//! profile of listing with 8 clients showed half the server's CPU on that thread and a
//! tenth in context switches alone. A read here is one call: the statement runs where the
//! request is, and rows become [`ImageRow`]s directly. A page-cache-hit read of a page
//! takes about as long as serializing it, so it runs inline rather than on a blocking pool.
//!
//! Only reads: every write still goes through the store's one writer connection and its
//! gate. The connections are read-only (`SQLITE_OPEN_READ_ONLY`), so nothing here can
//! change the database even by mistake.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use super::{Arg, DbResult, Stmt};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

/// Read-only SQLite connections, kept for reuse (one per concurrent reader at most).
pub struct DirectReaders {
    path: PathBuf,
    busy: Duration,
    idle: Mutex<Vec<Connection>>,
}

/// Connections kept idle at most; more concurrent readers open and close their own.
const KEEP_IDLE: usize = 8;

impl DirectReaders {
    pub fn new(path: PathBuf, busy: Duration) -> DirectReaders {
        DirectReaders {
            path,
            busy,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read-only connection, on this thread.
    pub fn run<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> DbResult<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open().map_err(db_error)?,
        };
        let out = f(&conn).map_err(db_error);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        out
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }
}

impl Stmt {
    /// Runs the statement on `conn` and maps every row with `row`.
    pub fn query_direct<T>(
        &self,
        conn: &Connection,
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let mut st = conn.prepare_cached(self.sql())?;
        self.bind_direct(&mut st)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row(r)?);
        }
        Ok(out)
    }

    /// Binds the arguments to `st`, prepared from this statement's SQL.
    pub(super) fn bind_direct(&self, st: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
        let args = self.args();
        for i in 1..=st.parameter_count() {
            // `$N` is a named parameter to SQLite, numbered by first appearance; bind it
            // by its name's number, as sqlx does.
            let n = st
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(i);
            let value = args
                .get(n.wrapping_sub(1))
                .ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
            st.raw_bind_parameter(i, sql_value(value))?;
        }
        Ok(())
    }
}

fn sql_value(v: &Arg) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match v {
        Arg::NullInt | Arg::NullBool | Arg::NullText => ValueRef::Null,
        Arg::Bool(b) => ValueRef::Integer(*b as i64),
        Arg::Int(n) => ValueRef::Integer(*n),
        Arg::Text(s) => ValueRef::Text(s.as_bytes()),
    })
}

/// A rusqlite error as the store's error type. SQLite's own failures keep their extended
/// code (so `is_transient` sees BUSY as it would from sqlx); the rest are protocol errors.
pub(super) fn db_error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => sqlx::Error::Database(Box::new(SqliteFailure {
            code: f.extended_code,
            message: msg.unwrap_or_else(|| f.to_string()),
        })),
        other => sqlx::Error::Protocol(format!("sqlite: {other}")),
    }
}

#[derive(Debug)]
struct SqliteFailure {
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(code: {}) {}", self.code, self.message)
    }
}

impl std::error::Error for SqliteFailure {}

impl sqlx::error::DatabaseError for SqliteFailure {
    fn message(&self) -> &str {
        &self.message
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.code.to_string().into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `$N` binds by its number wherever it appears, and a busy database keeps SQLite's
    /// code (transient to the task runner).
    #[test]
    fn binds_by_placeholder_number_and_keeps_sqlite_codes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let rw = Connection::open(&path).unwrap();
        rw.execute_batch(
            "CREATE TABLE t(a TEXT, b INTEGER); INSERT INTO t VALUES ('x', 2), ('y', 3);",
        )
        .unwrap();
        let readers = DirectReaders::new(path, Duration::from_millis(10));
        let stmt = Stmt::new("SELECT a FROM t WHERE b = $2 OR a = $1 ORDER BY a")
            .bind("y")
            .bind(2i64);
        let got = readers
            .run(|c| stmt.query_direct(c, |r| r.get::<_, String>(0)))
            .unwrap();
        assert_eq!(got, vec!["x".to_string(), "y".to_string()]);

        let missing = Stmt::new("SELECT a FROM t WHERE b = $1");
        assert!(readers
            .run(|c| missing.query_direct(c, |r| r.get::<_, String>(0)))
            .is_err());

        let ro = readers.run(|c| c.execute("DELETE FROM t", []));
        assert!(ro.is_err(), "a direct reader must not write");

        rw.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES ('z', 4);")
            .unwrap();
        let busy = readers
            .run(|c| stmt.query_direct(c, |r| r.get::<_, String>(0)))
            .unwrap_err();
        assert!(super::super::is_transient(&busy), "{busy}");
    }
}
