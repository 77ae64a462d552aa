//! The SQLite backend: `<data-dir>/kiln.db` on rusqlite, one node.
//!
//! Every statement runs on the caller's own thread. sqlx's SQLite driver ran each one on
//! its connection's own thread, so a transaction was a hand-off there and back per
//! statement while it held the writer slot every other writer waits for (with 32 clients
//! calling createImage a request waited 9 ms p50 for the slot; inline, 4 µs), and a page
//! of 100 images was 100 hand-offs. A statement here is a few microseconds of SQLite;
//! only what may wait — `BEGIN IMMEDIATE` for another process's lock, opening a
//! connection — leaves the async runtime's thread ([`off_runtime`]).
//!
//! Writers: one at a time in this process, through [`WriteGate`] (API requests first),
//! on the one writer connection it keeps. Readers: read-only connections
//! (`SQLITE_OPEN_READ_ONLY`, so a read cannot change the database even by mistake),
//! kept for reuse.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection as _, Executor};
use tokio::sync::{Mutex, MutexGuard};

use super::db::{Conn, Db, Row};
use super::{Arg, DbResult, Stmt};

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// A commit checkpoints by itself only past this many WAL pages (SQLite's default is
/// 1,000): with the background checkpointer running that never happens, and it is the
/// safety net if the checkpointer falls behind.
const AUTOCHECKPOINT_PAGES: u32 = 20_000;
/// The writer connection's page cache (SQLite's default is 2,000 KiB): alone, the
/// writer's cache stays warm and holds the indexes the writes touch.
const WRITER_CACHE_KIB: u32 = 16 * 1024;
/// Statements kept prepared per connection.
const WRITER_PREPARED: usize = 64;
const READER_PREPARED: usize = 32;
/// Reader connections kept idle at most; more concurrent readers open and close their own.
const READERS_IDLE: usize = 8;
/// How long a background writer defers to API requests at most.
const BACKGROUND_PATIENCE: Duration = Duration::from_millis(50);

/// The settings every connection of a store runs with.
fn pragmas(busy: Duration) -> String {
    format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {}; \
         PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES};",
        busy.as_millis()
    )
}

/// What a SQLite store keeps: its writer gate, its readers, its checkpointer.
pub(super) struct Sqlite {
    pub(super) gate: WriteGate,
    readers: Readers,
    _checkpointer: CheckpointerAlive,
}

/// Creates or opens `path`: WAL mode, migrations applied (with sqlx's migrator, the one
/// place SQLite meets sqlx), the background checkpointer started.
pub(super) async fn open(path: &Path, busy: Duration) -> DbResult<Sqlite> {
    let url = format!("sqlite://{}", path.display());
    let opts = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(busy);
    migrate(&opts).await?;
    Ok(Sqlite {
        gate: WriteGate::for_database(path.to_path_buf(), busy),
        readers: Readers {
            path: path.to_path_buf(),
            busy,
            idle: StdMutex::new(Vec::new()),
        },
        _checkpointer: spawn_checkpointer(opts).await?,
    })
}

/// Migrations run with foreign keys off, as SQLite's own procedure for rebuilding a table
/// asks (sqlite.org/lang_altertable.html, section 7: a rebuilt parent table otherwise
/// fails its children's keys), and are checked whole afterwards.
async fn migrate(opts: &SqliteConnectOptions) -> DbResult<()> {
    let mut c = opts.clone().foreign_keys(false).connect().await?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut c)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut c)
        .await?;
    if let Some((table,)) = broken.first() {
        return Err(sqlx::Error::Protocol(format!(
            "after migrating, table {table} breaks a foreign key ({} rows)",
            broken.len()
        )));
    }
    c.close().await
}

/// Held by a SQLite store; the checkpointer stops once the store is gone.
struct CheckpointerAlive(#[allow(dead_code)] Arc<()>);

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a connection of its own. SQLite's own
/// automatic checkpoint runs inside whichever commit crosses the threshold, so one request
/// in a few hundred paid for copying megabytes (the p99 of createImage); in the background
/// (PASSIVE: it never blocks readers or the writer) no request does.
async fn spawn_checkpointer(opts: SqliteConnectOptions) -> DbResult<CheckpointerAlive> {
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let mut conn = opts.connect().await?;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if weak.upgrade().is_none() {
                break;
            }
            if let Err(e) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
                tracing::debug!("background checkpoint: {e}");
            }
        }
        let _ = conn.close().await;
    });
    Ok(CheckpointerAlive(alive))
}

/// Runs `f`, which may wait (a lock held by another process, a file to open), off the
/// async runtime's worker threads when the runtime has others to keep going.
fn off_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The read-only connections `Store::read` lends.
struct Readers {
    path: PathBuf,
    busy: Duration,
    idle: StdMutex<Vec<Connection>>,
}

impl Sqlite {
    /// A reader (kept idle for reuse, else opened).
    pub(super) fn reader(&self) -> DbResult<Db> {
        let idle = self
            .readers
            .idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => off_runtime(|| self.readers.open()).map_err(db_error)?,
        };
        Ok(Db::new(Conn::Sqlite(conn)))
    }

    /// Takes back a reader's connection (unless enough are idle already).
    pub(super) fn reader_done(&self, db: &mut Db) {
        if let Conn::Sqlite(c) = db.take_conn() {
            let mut idle = self.readers.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < READERS_IDLE {
                idle.push(c);
            }
        }
    }
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy)?;
        conn.set_prepared_statement_cache_capacity(READER_PREPARED);
        Ok(conn)
    }
}

/// In-process writer gate: one writer at a time, API requests first.
///
/// A request waits for at most the one transaction in progress; background writers (task
/// steps, claims) take the gate only while no request is waiting for it, or once they have
/// waited [`BACKGROUND_PATIENCE`] (so a stream of requests cannot starve the tasks).
/// Without this, a createImage queued behind every task step of 32 images in flight.
#[derive(Default)]
pub(super) struct WriteGate {
    lock: Mutex<WriterSlot>,
    /// API writers waiting for or holding the gate.
    urgent: AtomicUsize,
    /// Signalled when `urgent` drops to zero.
    quiet: tokio::sync::Notify,
}

/// What the gate guards: the writer connection (opened on first use; out of the slot
/// while a transaction has it).
#[derive(Default)]
pub(super) struct WriterSlot {
    db: Option<(PathBuf, Duration)>,
    conn: Option<Connection>,
}

/// The gate as a writer holds it: the writer slot, and the claim of an API writer.
pub(super) type GateHeld<'a> = (MutexGuard<'a, WriterSlot>, Option<Urgent<'a>>);

/// An API writer's claim on the gate, from the wait to the end of its transaction.
pub(super) struct Urgent<'a>(&'a WriteGate);

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        if self.0.urgent.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.quiet.notify_waiters();
        }
    }
}

impl WriteGate {
    fn for_database(path: PathBuf, busy: Duration) -> WriteGate {
        WriteGate {
            lock: Mutex::new(WriterSlot {
                db: Some((path, busy)),
                conn: None,
            }),
            ..WriteGate::default()
        }
    }

    pub(super) async fn enter(&self, background: bool) -> GateHeld<'_> {
        if !background {
            self.urgent.fetch_add(1, Ordering::SeqCst);
            let urgent = Urgent(self);
            return (self.lock.lock().await, Some(urgent));
        }
        let deadline = tokio::time::Instant::now() + BACKGROUND_PATIENCE;
        loop {
            let quiet = self.quiet.notified();
            tokio::pin!(quiet);
            quiet.as_mut().enable();
            if self.urgent.load(Ordering::SeqCst) == 0 {
                let guard = self.lock.lock().await;
                if self.urgent.load(Ordering::SeqCst) == 0 {
                    return (guard, None);
                }
                // A request arrived while this writer waited for the lock: let it go first.
                drop(guard);
                continue;
            }
            if tokio::time::timeout_at(deadline, quiet).await.is_err() {
                return (self.lock.lock().await, None);
            }
        }
    }
}

impl WriterSlot {
    /// The writer connection, taken out of the slot, opened with the settings of every
    /// other connection of the store if the slot had none.
    fn take(&mut self) -> rusqlite::Result<Connection> {
        if let Some(c) = self.conn.take() {
            return Ok(c);
        }
        let Some((path, busy)) = &self.db else {
            return Err(rusqlite::Error::InvalidPath(PathBuf::new()));
        };
        let c = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.busy_timeout(*busy)?;
        c.execute_batch(&pragmas(*busy))?;
        c.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB};"))?;
        c.set_prepared_statement_cache_capacity(WRITER_PREPARED);
        Ok(c)
    }
}

/// Begins a write transaction on the gate's connection. IMMEDIATE: take SQLite's write
/// lock now, waiting (busy timeout) if another process (`kiln account …`) holds it; a
/// deferred transaction that read first would instead fail with SQLITE_BUSY_SNAPSHOT on
/// its first write.
///
/// The lock is free unless another process holds it (the gate orders this process's
/// writers), so the first try runs inline without waiting; only when it is busy does the
/// wait leave the runtime's thread ([`off_runtime`] costs a thread hand-off, which no
/// transaction should pay for a lock that is free).
pub(super) fn begin(slot: &mut WriterSlot) -> DbResult<Db> {
    let conn = match slot.conn.take() {
        Some(c) => c,
        None => off_runtime(|| slot.take()).map_err(db_error)?,
    };
    let busy = slot.db.as_ref().map_or(Duration::ZERO, |(_, b)| *b);
    match begin_immediate(&conn, busy) {
        Ok(()) => Ok(Db::new(Conn::Sqlite(conn))),
        Err(e) => {
            slot.conn = Some(conn);
            Err(db_error(e))
        }
    }
}

/// `BEGIN IMMEDIATE`: at once if the lock is free, else waiting up to `busy` off the
/// runtime's thread.
fn begin_immediate(conn: &Connection, busy: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::ZERO)?;
    let first = conn.execute_batch("BEGIN IMMEDIATE");
    conn.busy_timeout(busy)?;
    match first {
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            off_runtime(|| conn.execute_batch("BEGIN IMMEDIATE"))
        }
        other => other,
    }
}

/// Commits the transaction of `db` and gives the connection back to `slot`. Whatever
/// happened, the connection goes back outside any transaction (a failed COMMIT after
/// SQLite rolled back by itself — storage full — or one SQLite kept open — busy).
pub(super) fn commit(db: &mut Db, slot: &mut WriterSlot) -> DbResult<()> {
    let Conn::Sqlite(conn) = db.take_conn() else {
        return Ok(());
    };
    let done = conn.execute_batch("COMMIT").map_err(db_error);
    rollback_if_open(&conn);
    slot.conn = Some(conn);
    done
}

/// A transaction ended without its commit (an error, a request dropped midway): rolled
/// back before the gate opens for the next writer.
pub(super) fn abandon(db: &mut Db, slot: &mut WriterSlot) {
    if let Conn::Sqlite(conn) = db.take_conn() {
        rollback_if_open(&conn);
        slot.conn = Some(conn);
    }
}

fn rollback_if_open(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!("rolling back a transaction failed: {e}");
        }
    }
}

/// Runs `stmt`; how many rows it changed (not counting its triggers').
pub(super) fn execute(conn: &Connection, stmt: &Stmt) -> DbResult<u64> {
    let run = || -> rusqlite::Result<u64> {
        let mut st = conn.prepare_cached(stmt.sql())?;
        bind(stmt, &mut st)?;
        Ok(st.raw_execute()? as u64)
    };
    run().map_err(db_error)
}

/// Runs the query `stmt`; every row.
pub(super) fn fetch_all<R: Row>(conn: &Connection, stmt: &Stmt) -> DbResult<Vec<R>> {
    let run = || -> rusqlite::Result<Vec<R>> {
        let mut st = conn.prepare_cached(stmt.sql())?;
        bind(stmt, &mut st)?;
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(R::from_sqlite(r)?);
        }
        Ok(out)
    };
    run().map_err(db_error)
}

/// Binds the statement's arguments to `st`, prepared from its SQL.
fn bind(stmt: &Stmt, st: &mut rusqlite::Statement<'_>) -> rusqlite::Result<()> {
    let args = stmt.args();
    for i in 1..=st.parameter_count() {
        // `$N` is a named parameter to SQLite, numbered by first appearance; bind it by
        // its name's number (PostgreSQL's meaning).
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

fn sql_value(v: &Arg) -> ToSqlOutput<'_> {
    ToSqlOutput::Borrowed(match v {
        Arg::NullInt | Arg::NullBool | Arg::NullText => ValueRef::Null,
        Arg::Bool(b) => ValueRef::Integer(i64::from(*b)),
        Arg::Int(n) => ValueRef::Integer(*n),
        Arg::Text(s) => ValueRef::Text(s.as_bytes()),
    })
}

/// A rusqlite error as the store's error type. SQLite's own failures keep their extended
/// code (so `is_transient` sees BUSY and FULL); the rest are protocol errors.
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
        // What `error.rs` maps to 400 CONFLICT, as sqlx's own driver says it.
        if self.code == 2067 || self.code == 1555 {
            sqlx::error::ErrorKind::UniqueViolation
        } else {
            sqlx::error::ErrorKind::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as TestMutex;

    /// `$N` binds by its number wherever it appears; a reader cannot write; a busy
    /// database keeps SQLite's code (transient to the task runner).
    #[tokio::test]
    async fn binds_by_placeholder_number_and_keeps_sqlite_codes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let rw = Connection::open(&path).unwrap();
        rw.execute_batch(
            "CREATE TABLE t(a TEXT, b INTEGER); INSERT INTO t VALUES ('x', 2), ('y', 3);",
        )
        .unwrap();
        let readers = Readers {
            path,
            busy: Duration::from_millis(10),
            idle: StdMutex::new(Vec::new()),
        };
        let reader = readers.open().unwrap();
        let stmt = Stmt::new("SELECT a FROM t WHERE b = $2 OR a = $1 ORDER BY a")
            .bind("y")
            .bind(2i64);
        let got: Vec<(String,)> = fetch_all(&reader, &stmt).unwrap();
        assert_eq!(got, vec![("x".to_string(),), ("y".to_string(),)]);

        let missing = Stmt::new("SELECT a FROM t WHERE b = $1");
        assert!(fetch_all::<(String,)>(&reader, &missing).is_err());
        assert!(
            execute(&reader, &Stmt::new("DELETE FROM t")).is_err(),
            "a reader must not write"
        );

        rw.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t VALUES ('z', 4);")
            .unwrap();
        let busy = fetch_all::<(String,)>(&reader, &stmt).unwrap_err();
        assert!(super::super::is_transient(&busy), "{busy}");
    }
    #[tokio::test]
    async fn api_writers_go_before_background_writers() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(TestMutex::new(Vec::new()));
        let held = gate.enter(false).await;
        let (g, o) = (gate.clone(), order.clone());
        let background = tokio::spawn(async move {
            let _in = g.enter(true).await;
            o.lock().unwrap().push("background");
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (g, o) = (gate.clone(), order.clone());
        let api = tokio::spawn(async move {
            let _in = g.enter(false).await;
            o.lock().unwrap().push("api");
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        background.await.unwrap();
        api.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["api", "background"]);
    }

    #[tokio::test]
    async fn a_stream_of_api_writers_does_not_starve_the_background() {
        let gate = Arc::new(WriteGate::default());
        let g = gate.clone();
        // Requests one after another for far longer than the background's patience.
        let stream = tokio::spawn(async move {
            for _ in 0..2_000 {
                let _in = g.enter(false).await;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let _in = gate.enter(true).await;
        assert!(
            !stream.is_finished(),
            "the background writer waited for every request"
        );
        stream.abort();
    }
}
