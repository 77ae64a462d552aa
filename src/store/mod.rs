//! Metadata: the one place that writes SQL.
//!
//! Functions take a `&mut Conn` so the service can group several writes in one transaction
//! (`Store::write`). SQLite allows one writer at a time; taking an in-process gate before
//! `BEGIN` turns the would-be `SQLITE_BUSY` upgrade failures into a short wait instead.
//! Placeholders are `$N` so the statements stay valid PostgreSQL.

pub mod account;
pub mod disk;
pub mod fsck;
pub mod image;
pub mod image_task;
pub mod instance;
pub mod layer;
pub mod rows;
pub mod snapshot;
pub mod task;
pub mod token;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use rows::*;

pub type Conn = sqlx::SqliteConnection;
pub type DbResult<T> = Result<T, sqlx::Error>;

/// Whether a database error says "not now" rather than "never": the database busy or
/// locked past the busy timeout, its storage full, a serialization conflict, the pool out
/// of connections or closing. A task step that meets one is run again later, not failed.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            // SQLite primary codes BUSY 5, LOCKED 6, FULL 13, IOERR 10 (extended codes keep
            // the primary in the low byte); PostgreSQL serialization failure and deadlock.
            let code = d.code().unwrap_or_default();
            match code.parse::<i64>() {
                Ok(n) => matches!(n & 0xff, 5 | 6 | 10 | 13),
                Err(_) => matches!(code.as_ref(), "40001" | "40P01"),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        _ => false,
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    write_gate: Arc<Mutex<()>>,
    seq: Arc<AtomicI64>,
}

/// A write transaction holding the writer gate until commit or drop.
pub struct WriteTx<'a> {
    pub tx: Transaction<'static, Sqlite>,
    _gate: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }
    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }
}

impl Store {
    /// Opens `<data_dir>/kiln.db`, creating it and applying migrations.
    pub async fn open(data_dir: &Path) -> DbResult<Store> {
        Store::open_with(data_dir, Duration::from_secs(10)).await
    }

    /// `open`, with how long a write waits for another writer before failing.
    pub async fn open_with(data_dir: &Path, busy_timeout: Duration) -> DbResult<Store> {
        let url = format!("sqlite://{}", data_dir.join("kiln.db").display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        Ok(Store {
            pool,
            write_gate: Arc::new(Mutex::new(())),
            seq: Arc::new(AtomicI64::new(now_ms() * 1000)),
        })
    }

    pub async fn write(&self) -> DbResult<WriteTx<'_>> {
        let gate = self.write_gate.lock().await;
        // IMMEDIATE: take SQLite's write lock now, waiting (busy_timeout) if another
        // process (`kiln account …`) holds it. A deferred transaction that read first would
        // instead fail at once with SQLITE_BUSY(_SNAPSHOT) on its first write.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _gate: gate })
    }

    pub async fn read(&self) -> DbResult<sqlx::pool::PoolConnection<Sqlite>> {
        self.pool.acquire().await
    }

    /// A strictly increasing number for stable listing order.
    pub fn next_seq(&self) -> i64 {
        let floor = now_ms() * 1000;
        let mut cur = self.seq.load(Ordering::Relaxed);
        loop {
            let next = cur.max(floor) + 1;
            match self
                .seq
                .compare_exchange(cur, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Returns the counter's next value (starting at 1).
pub async fn counter_next(conn: &mut Conn, name: &str) -> DbResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO counters(name, value) VALUES ($1, 1)
         ON CONFLICT(name) DO UPDATE SET value = counters.value + 1
         RETURNING value",
    )
    .bind(name)
    .fetch_one(conn)
    .await
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Appends ` AND col IN ($..)` for a non-empty value list.
pub(crate) fn push_in(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, col: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    qb.push(format!(" AND {col} IN ("));
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    sep.push_unseparated(")");
}

/// Appends ` AND (col LIKE %v1% OR …)` for a non-empty list of fuzzy patterns.
pub(crate) fn push_like_any(qb: &mut sqlx::QueryBuilder<'_, Sqlite>, col: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    qb.push(" AND (");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        let escaped = v
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        qb.push(format!("{col} LIKE "));
        qb.push_bind(format!("%{escaped}%"));
        qb.push(" ESCAPE '\\'");
    }
    qb.push(")");
}

/// The one shape of every guarded state change:
/// `UPDATE table SET col = value, … WHERE id = $id [AND task IS NULL] AND status IN (from)`.
/// A `None` value sets NULL. Returns whether the row was in an allowed state (and changed).
pub(crate) async fn guarded_update(
    conn: &mut Conn,
    table: &str,
    id: &str,
    sets: &[(&str, Option<&str>)],
    idle_only: bool,
    from: &[&str],
) -> DbResult<bool> {
    let mut qb = sqlx::QueryBuilder::<Sqlite>::new(format!("UPDATE {table} SET "));
    for (i, (col, value)) in sets.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        qb.push(format!("{col} = "));
        qb.push_bind(value.map(str::to_string));
    }
    qb.push(" WHERE id = ");
    qb.push_bind(id.to_string());
    if idle_only {
        qb.push(" AND task IS NULL");
    }
    qb.push(" AND status IN (");
    let mut sep = qb.separated(", ");
    for f in from {
        sep.push_bind(f.to_string());
    }
    sep.push_unseparated(")");
    Ok(qb.build().execute(conn).await?.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::is_transient;
    use sqlx::Connection;

    #[tokio::test]
    async fn busy_is_transient_a_constraint_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut a = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(&mut a)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut a)
            .await
            .unwrap();
        let dup = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut a)
            .await
            .unwrap_err();
        assert!(!is_transient(&dup), "{dup}");

        // A second connection meets the first one's exclusive lock: SQLITE_BUSY.
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let mut b = sqlx::SqliteConnection::connect_with(
            &opts.busy_timeout(std::time::Duration::from_millis(10)),
        )
        .await
        .unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut a)
            .await
            .unwrap();
        let busy = sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut b)
            .await
            .unwrap_err();
        assert!(is_transient(&busy), "{busy}");
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }
}
