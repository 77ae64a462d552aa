//! Write transactions made of [`Stmt`]s, which on SQLite run inline: on the caller's own
//! thread, on a rusqlite connection that lives inside the writer gate.
//!
//! sqlx's SQLite driver runs each statement on its connection's own thread, so every
//! statement of a transaction (BEGIN and COMMIT included) was a hand-off there and back
//! while the transaction held the gate that every other writer waits for. With 32 clients
//! calling createImage, a request waited 9 ms (p50) for the gate, held by transactions
//! that were mostly waiting for their hand-offs; the sqlx thread was a third of the
//! server's CPU and the context switches a fifth. Inline, a transaction is a few
//! microseconds of SQLite per statement and holds the gate only for that: createImage's
//! holds it 0.3 ms, and the wait for it is gone (p50 4 µs).
//!
//! Only the hot write paths (createImage, its task's last step, the task claim) use
//! [`StmtTx`]; every other write still runs through sqlx under the same gate, so the two
//! connections never write at once. On PostgreSQL a `StmtTx` is an ordinary [`WriteTx`].

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::MutexGuard;

use super::direct::db_error;
use super::{
    image, Batch, DbResult, GateHeld, ImageRow, InstanceWithDisks, Stmt, Store, Urgent, WriteTx,
};

/// A row a [`StmtTx`] can return: read by sqlx on PostgreSQL, by position on SQLite.
pub trait DirectRow: Sized + Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> {
    fn from_direct(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl DirectRow for (i64,) {
    fn from_direct(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((r.get(0)?,))
    }
}

impl DirectRow for (String,) {
    fn from_direct(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((r.get(0)?,))
    }
}

/// What the writer gate guards: on SQLite, the inline writer connection (opened on first
/// use); empty for a gate without a database (tests of the gate alone).
#[derive(Default)]
pub struct WriterSlot {
    db: Option<(PathBuf, Duration)>,
    conn: Option<Connection>,
}

/// Statements kept prepared on the inline writer.
const PREPARED: usize = 64;

impl WriterSlot {
    pub fn for_database(path: PathBuf, busy: Duration) -> WriterSlot {
        WriterSlot {
            db: Some((path, busy)),
            conn: None,
        }
    }

    /// The connection, opened with the settings of every other connection of the store.
    fn conn(&mut self) -> rusqlite::Result<Option<&mut Connection>> {
        let Some((path, busy)) = &self.db else {
            return Ok(None);
        };
        if self.conn.is_none() {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            c.busy_timeout(*busy)?;
            c.execute_batch(&super::sqlite_pragmas(busy.as_millis() as u64))?;
            c.execute_batch(&format!(
                "PRAGMA cache_size = -{};",
                super::WRITER_CACHE_KIB
            ))?;
            c.set_prepared_statement_cache_capacity(PREPARED);
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut())
    }
}

/// A write transaction of [`Stmt`]s (see the module doc).
pub struct StmtTx<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    /// SQLite: `BEGIN IMMEDIATE` done on the slot's connection, the gate held.
    Inline {
        slot: MutexGuard<'a, WriterSlot>,
        _urgent: Option<Urgent<'a>>,
        images: image::ImagesWatch,
    },
    Pooled(WriteTx<'a>),
    /// Committed.
    Done,
}

impl<'a> StmtTx<'a> {
    /// Begins inline on the gate's connection if it has one; otherwise hands the gate
    /// back (`Err`) for an ordinary transaction.
    pub(super) fn begin_inline(
        mut slot: MutexGuard<'a, WriterSlot>,
        urgent: Option<Urgent<'a>>,
    ) -> DbResult<Result<StmtTx<'a>, GateHeld<'a>>> {
        let Some(conn) = slot.conn().map_err(db_error)? else {
            return Ok(Err((slot, urgent)));
        };
        // IMMEDIATE, as `Store::write`: take SQLite's write lock now.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(db_error)?;
        Ok(Ok(StmtTx {
            inner: Inner::Inline {
                slot,
                _urgent: urgent,
                images: image::ImagesWatch::begin(),
            },
        }))
    }

    pub(super) fn pooled(tx: WriteTx<'a>) -> StmtTx<'a> {
        StmtTx {
            inner: Inner::Pooled(tx),
        }
    }

    fn inline_conn<'s>(slot: &'s mut MutexGuard<'a, WriterSlot>) -> &'s mut Connection {
        slot.conn
            .as_mut()
            .expect("an inline transaction has its connection")
    }

    /// Runs the statement; how many rows it changed.
    pub async fn execute(&mut self, stmt: Stmt) -> DbResult<u64> {
        match &mut self.inner {
            Inner::Inline { slot, .. } => {
                stmt_execute(Self::inline_conn(slot), &stmt).map_err(db_error)
            }
            Inner::Pooled(tx) => stmt.execute(tx.conn()).await,
            Inner::Done => Err(committed()),
        }
    }

    /// Runs every statement of `batch` in order; how many rows they changed together.
    pub async fn run(&mut self, batch: Batch) -> DbResult<u64> {
        match &mut self.inner {
            Inner::Inline { slot, .. } => {
                let conn = Self::inline_conn(slot);
                let mut changed = 0;
                for stmt in batch.into_stmts() {
                    changed += stmt_execute(conn, &stmt).map_err(db_error)?;
                }
                Ok(changed)
            }
            Inner::Pooled(tx) => batch.run(tx.conn()).await,
            Inner::Done => Err(committed()),
        }
    }

    /// Runs the query; every row.
    pub async fn fetch_all<R: DirectRow>(&mut self, stmt: Stmt) -> DbResult<Vec<R>> {
        match &mut self.inner {
            Inner::Inline { slot, .. } => stmt
                .query_direct(Self::inline_conn(slot), R::from_direct)
                .map_err(db_error),
            Inner::Pooled(tx) => stmt.fetch_all(tx.conn()).await,
            Inner::Done => Err(committed()),
        }
    }

    /// Runs the query; its first row, if any.
    pub async fn fetch_optional<R: DirectRow>(&mut self, stmt: Stmt) -> DbResult<Option<R>> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    /// Runs a query of one number (a count).
    pub async fn fetch_i64(&mut self, stmt: Stmt) -> DbResult<i64> {
        let row: Option<(i64,)> = self.fetch_optional(stmt).await?;
        row.map(|(n,)| n).ok_or(sqlx::Error::RowNotFound)
    }

    /// [`WriteTx::instance_with_disks_before_writes`]; inline, on the transaction's own
    /// connection (so also after writes).
    pub async fn instance_with_disks(
        &mut self,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<InstanceWithDisks>> {
        match &mut self.inner {
            Inner::Inline { slot, .. } => {
                super::instance_with_disks_direct(Self::inline_conn(slot), pin, region, id)
                    .map_err(db_error)
            }
            Inner::Pooled(tx) => tx.instance_with_disks_before_writes(pin, region, id).await,
            Inner::Done => Err(committed()),
        }
    }

    /// [`Store::image_visible_in`] for a caller inside this transaction that has not
    /// written to images yet: `store`'s cache (SQLite), else the transaction itself.
    pub async fn image_visible(
        &mut self,
        store: &Store,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<ImageRow>> {
        match &mut self.inner {
            Inner::Pooled(tx) => {
                store
                    .image_visible_in(Some(tx.conn()), pin, region, id)
                    .await
            }
            _ => store.image_visible_in(None, pin, region, id).await,
        }
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&mut self) -> bool {
        match &mut self.inner {
            Inner::Pooled(tx) => tx.conn().backend_name() == "PostgreSQL",
            _ => false,
        }
    }

    /// Whether this transaction runs inline (tests).
    pub fn is_inline(&self) -> bool {
        matches!(self.inner, Inner::Inline { .. })
    }

    pub async fn commit(mut self) -> DbResult<()> {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pooled(tx) => tx.commit().await,
            Inner::Inline {
                mut slot,
                _urgent,
                images,
            } => {
                let conn = Self::inline_conn(&mut slot);
                let done = conn.execute_batch("COMMIT").map_err(db_error);
                rollback_if_open(conn);
                images.committed();
                done
            }
            Inner::Done => Ok(()),
        }
    }
}

impl Drop for StmtTx<'_> {
    /// An inline transaction not committed (an error, or a request dropped midway) is
    /// rolled back before the gate opens for the next writer.
    fn drop(&mut self) {
        if let Inner::Inline { slot, .. } = &mut self.inner {
            if let Some(conn) = slot.conn.as_mut() {
                rollback_if_open(conn);
            }
        }
    }
}

/// A statement on a committed transaction (`commit` takes the transaction, so only a
/// bug in this module could get here).
fn committed() -> sqlx::Error {
    sqlx::Error::Protocol("statement on a committed transaction".into())
}

fn rollback_if_open(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::warn!("rolling back an inline transaction failed: {e}");
        }
    }
}

/// Runs `stmt` on `conn`; how many rows it changed (not counting its triggers').
fn stmt_execute(conn: &Connection, stmt: &Stmt) -> rusqlite::Result<u64> {
    let mut st = conn.prepare_cached(stmt.sql())?;
    stmt.bind_direct(&mut st)?;
    Ok(st.raw_execute()? as u64)
}

#[cfg(test)]
mod tests {
    use super::super::{image, is_transient, ImageRow, Stmt, Store};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        (dir, store)
    }

    async fn status_via_sqlx(store: &Store, id: &str) -> Option<String> {
        let mut conn = store.read().await.unwrap();
        image::image_by_id(&mut conn, id)
            .await
            .unwrap()
            .map(|i| i.status)
    }

    /// The status `Store::image_by_id` answers (the image cache, or a direct read).
    async fn status_via_cache(store: &Store, id: &str) -> String {
        store.image_by_id(id).await.unwrap().unwrap().status
    }

    /// What an inline transaction commits, every other connection (sqlx's writer and
    /// readers, the direct readers) and the image cache see; and the inline writer sees
    /// what sqlx's writer committed in between (SQLite drops its stale page cache).
    #[tokio::test]
    async fn inline_commits_and_sqlx_commits_see_each_other() {
        let (_dir, store) = store().await;
        let mut tx = store.write_stmts().await.unwrap();
        assert!(tx.is_inline());
        let row = ImageRow::for_test("img-inline", "p", "r", 1);
        assert_eq!(tx.execute(image::image_insert_stmt(&row)).await.unwrap(), 1);
        tx.commit().await.unwrap();
        assert_eq!(
            status_via_sqlx(&store, "img-inline").await.as_deref(),
            Some("pending")
        );
        // Fills the cache with `pending`.
        assert_eq!(status_via_cache(&store, "img-inline").await, "pending");

        let mut tx = store.write_stmts().await.unwrap();
        let moved = image::image_transition_stmt("img-inline", &["pending"], "error");
        assert_eq!(tx.execute(moved).await.unwrap(), 1);
        tx.commit().await.unwrap();
        assert_eq!(status_via_cache(&store, "img-inline").await, "error");
        assert_eq!(
            status_via_sqlx(&store, "img-inline").await.as_deref(),
            Some("error")
        );

        let mut w = store.write().await.unwrap();
        image::image_transition(w.conn(), "img-inline", &["error"], "ready")
            .await
            .unwrap();
        w.commit().await.unwrap();
        let mut tx = store.write_stmts().await.unwrap();
        let seen: Vec<ImageRow> = tx
            .fetch_all(
                Stmt::new(format!(
                    "SELECT {} FROM images WHERE id = $1",
                    super::super::IMAGE_COLUMNS
                ))
                .bind("img-inline"),
            )
            .await
            .unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].status, "ready");
    }

    /// A transaction dropped before its commit (an error, a request cut short) leaves no
    /// trace, and the next writer of either kind gets the database at once.
    #[tokio::test]
    async fn a_dropped_inline_transaction_rolls_back_and_frees_the_writer() {
        let (_dir, store) = store().await;
        {
            let mut tx = store.write_stmts().await.unwrap();
            let row = ImageRow::for_test("img-dropped", "p", "r", 1);
            tx.execute(image::image_insert_stmt(&row)).await.unwrap();
        }
        assert_eq!(status_via_sqlx(&store, "img-dropped").await, None);
        assert!(store.image_by_id("img-dropped").await.unwrap().is_none());
        // sqlx's writer would wait out the busy timeout (and fail) if the rolled-back
        // transaction still held SQLite's write lock.
        let started = std::time::Instant::now();
        let mut w = store.write().await.unwrap();
        let row = ImageRow::for_test("img-after", "p", "r", 2);
        image::image_insert_stmt(&row)
            .execute(w.conn())
            .await
            .unwrap();
        w.commit().await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(
            status_via_sqlx(&store, "img-after").await.as_deref(),
            Some("pending")
        );
    }

    /// A statement that fails inline reports SQLite's own code (a constraint is not
    /// transient, so a task step fails rather than retrying forever), and its transaction
    /// changes nothing.
    #[tokio::test]
    async fn a_failed_inline_statement_keeps_its_code_and_changes_nothing() {
        let (_dir, store) = store().await;
        let row = ImageRow::for_test("img-dup", "p", "r", 1);
        let mut tx = store.write_stmts().await.unwrap();
        tx.execute(image::image_insert_stmt(&row)).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = store.write_stmts().await.unwrap();
        let other = ImageRow::for_test("img-other", "p", "r", 2);
        tx.execute(image::image_insert_stmt(&other)).await.unwrap();
        let err = tx
            .execute(image::image_insert_stmt(&row))
            .await
            .unwrap_err();
        let sqlx::Error::Database(db) = &err else {
            panic!("not a database error: {err}");
        };
        // SQLITE_CONSTRAINT_PRIMARYKEY (1555) or _UNIQUE (2067): primary code 19.
        let code: i64 = db.code().unwrap().parse().unwrap();
        assert_eq!(code & 0xff, 19, "{err}");
        assert!(!is_transient(&err));
        drop(tx);
        assert_eq!(status_via_sqlx(&store, "img-other").await, None);
    }
}
