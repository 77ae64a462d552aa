//! Metadata: the one place that writes SQL.
//!
//! Functions take a `&mut Conn` so the service can group several writes in one transaction
//! (`Store::write`). SQLite allows one writer at a time; taking an in-process gate before
//! `BEGIN` turns the would-be `SQLITE_BUSY` upgrade failures into a short wait instead.
//! Placeholders are `$N` so the statements stay valid PostgreSQL.

pub mod account;
pub mod batch;
pub mod direct;
pub mod disk;
pub mod fault;
pub mod fsck;
pub mod image;
pub mod image_task;
pub mod inline_tx;
pub mod instance;
pub mod layer;
pub mod node;
pub mod nonce;
pub mod rows;
pub mod snapshot;
pub mod task;
pub mod token;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Any, AnyPool, ConnectOptions, Connection, Executor, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use batch::{Arg, Batch, Stmt};
pub use inline_tx::{DirectRow, StmtTx};
pub use rows::*;

/// One set of store functions for both backends: sqlx's `Any` driver. Its types are
/// `i64`, `f64`, `String`, `bool` and bytes; booleans stored as SQLite integers are read
/// through [`DbBool`].
pub type Conn = sqlx::AnyConnection;
pub type Db = Any;
pub type DbResult<T> = Result<T, sqlx::Error>;

/// Where the metadata lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `<data-dir>/kiln.db`, one node.
    Sqlite,
    /// A PostgreSQL database shared by any number of nodes.
    Postgres,
}

/// The file in a data directory that names its database when it is not the embedded
/// SQLite (written by `kiln serve --database`, so admin commands find it from the data
/// directory alone).
pub const DATABASE_URL_FILE: &str = "database-url";

/// Records `url` as the data directory's database (mode 0600: a URL may hold a password).
pub fn record_database_url(data_dir: &Path, url: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(DATABASE_URL_FILE);
    if std::fs::read_to_string(&path)
        .ok()
        .as_deref()
        .map(str::trim)
        == Some(url.trim())
    {
        return Ok(());
    }
    let tmp = data_dir.join(format!("{DATABASE_URL_FILE}.tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(format!("{}\n", url.trim()).as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)
}

/// The database URL recorded in the data directory, if any.
pub fn recorded_database_url(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join(DATABASE_URL_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Whether the data directory has metadata (an SQLite file or a recorded database).
pub fn has_metadata(data_dir: &Path) -> bool {
    data_dir.join("kiln.db").exists() || recorded_database_url(data_dir).is_some()
}

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
                // and lock_not_available (lock_timeout, the busy timeout's counterpart).
                Err(_) => matches!(code.as_ref(), "40001" | "40P01" | "55P03"),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        _ => false,
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: one writer at a time in this process.
    write_gate: Option<Arc<WriteGate>>,
    /// Whether this handle's writes are background work (task steps), which let API
    /// requests' writes go first.
    background: bool,
    seq: Arc<AtomicI64>,
    /// SQLite only: image rows as last read (see [`image::ImageCache`]).
    images: Option<Arc<image::ImageCache>>,
    /// SQLite only: the connections `read` lends (see [`Readers`]).
    readers: Option<Arc<Readers>>,
    /// SQLite only: reads run on the caller's thread (see [`direct`]).
    direct: Option<Arc<direct::DirectReaders>>,
    /// SQLite only: keeps the background checkpointer running while the store lives.
    checkpointer: Option<Arc<CheckpointerAlive>>,
}

/// Held by every clone of a SQLite [`Store`]; the checkpointer stops once all are gone.
pub struct CheckpointerAlive;

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// A commit checkpoints by itself only past this many WAL pages (SQLite's default is
/// 1,000): with the background checkpointer running that never happens, and it is the
/// safety net if the checkpointer falls behind.
const AUTOCHECKPOINT_PAGES: u32 = 20_000;

/// The writer connection's page cache (SQLite's default is 2,000 KiB).
const WRITER_CACHE_KIB: u32 = 16 * 1024;

/// The settings every SQLite connection of a store runs with (pool and readers alike).
fn sqlite_pragmas(busy_ms: u64) -> String {
    format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = {busy_ms}; \
         PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES};"
    )
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] on a connection of its own. SQLite's own
/// automatic checkpoint runs inside whichever commit crosses the threshold, so one request
/// in a few hundred paid for copying megabytes (the p99 of createImage); in the background
/// (PASSIVE: it never blocks readers or the writer) no request does.
async fn spawn_checkpointer(opts: SqliteConnectOptions) -> DbResult<Arc<CheckpointerAlive>> {
    let alive = Arc::new(CheckpointerAlive);
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
    Ok(alive)
}

/// SQLite's in-process writer gate: one writer at a time, API requests first.
///
/// A request waits for at most the one transaction in progress; background writers (task
/// steps, claims) take the gate only while no request is waiting for it, or once they have
/// waited [`BACKGROUND_PATIENCE`] (so a stream of requests cannot starve the tasks).
/// Without this, a createImage queued behind every task step of 32 images in flight.
#[derive(Default)]
pub struct WriteGate {
    lock: Mutex<inline_tx::WriterSlot>,
    /// API writers waiting for or holding the gate.
    urgent: std::sync::atomic::AtomicUsize,
    /// Signalled when `urgent` drops to zero.
    quiet: tokio::sync::Notify,
}

/// How long a background writer defers to API requests at most.
const BACKGROUND_PATIENCE: Duration = Duration::from_millis(50);

/// The gate as a writer holds it: the writer slot, and the claim of an API writer.
type GateHeld<'a> = (MutexGuard<'a, inline_tx::WriterSlot>, Option<Urgent<'a>>);

/// An API writer's claim on the gate, from the wait to the end of its transaction.
struct Urgent<'a>(&'a WriteGate);

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        if self.0.urgent.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.quiet.notify_waiters();
        }
    }
}

impl WriteGate {
    /// The gate of a SQLite database at `path`, keeping the inline writer (see
    /// [`inline_tx`]).
    fn for_database(path: PathBuf, busy: Duration) -> WriteGate {
        WriteGate {
            lock: Mutex::new(inline_tx::WriterSlot::for_database(path, busy)),
            ..WriteGate::default()
        }
    }

    async fn enter(&self, background: bool) -> GateHeld<'_> {
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

/// SQLite's read connections, lent by `Store::read` without sqlx's pool. The pool pings a
/// connection every time it comes back (one more hand-off to the connection's thread per
/// request: as much as the query itself for describeImage); a SQLite connection to a local
/// file does not go stale, and a statement cut short by a dropped request is reset by the
/// driver on the connection's next use.
pub struct Readers {
    url: String,
    busy_ms: u64,
    idle: std::sync::Mutex<Vec<sqlx::AnyConnection>>,
    permits: Arc<tokio::sync::Semaphore>,
}

const READERS: usize = 8;

impl Readers {
    fn new(url: String, busy_ms: u64) -> Readers {
        Readers {
            url,
            busy_ms,
            idle: std::sync::Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(READERS)),
        }
    }

    async fn acquire(self: &Arc<Self>) -> DbResult<ReadConn> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle.lock().expect("readers").pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let mut c = sqlx::AnyConnection::connect(&self.url).await?;
                c.execute(sqlite_pragmas(self.busy_ms).as_str()).await?;
                c
            }
        };
        Ok(ReadConn::Lent {
            conn: Some(conn),
            home: self.clone(),
            _permit: permit,
        })
    }
}

/// A connection from `Store::read`.
pub enum ReadConn {
    /// SQLite: one of [`Readers`], back to them on drop.
    Lent {
        conn: Option<sqlx::AnyConnection>,
        home: Arc<Readers>,
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
    /// PostgreSQL: sqlx's pool, which also notices connections the server closed.
    Pooled(sqlx::pool::PoolConnection<Any>),
}

impl std::ops::Deref for ReadConn {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &Self::Target {
        match self {
            ReadConn::Lent { conn, .. } => conn.as_ref().expect("lent connection"),
            ReadConn::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            ReadConn::Lent { conn, .. } => conn.as_mut().expect("lent connection"),
            ReadConn::Pooled(c) => c,
        }
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        if let ReadConn::Lent { conn, home, .. } = self {
            if let Some(c) = conn.take() {
                home.idle.lock().expect("readers").push(c);
            }
        }
    }
}

/// A write transaction (holding SQLite's in-process writer gate until commit or drop).
pub struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    /// Held until commit or drop; present exactly on SQLite (see [`commit_sqlite`]).
    gate: Option<GateHeld<'a>>,
    /// SQLite: the store's direct readers (see `instance_with_disks_before_writes`).
    direct: Option<Arc<direct::DirectReaders>>,
    images: image::ImagesWatch,
}

/// An instance with its attachments and their disks (in device order).
pub type InstanceWithDisks = (InstanceRow, Vec<(AttachmentRow, DiskRow)>);

fn instance_with_disks_direct(
    c: &rusqlite::Connection,
    pin: &str,
    region: &str,
    id: &str,
) -> rusqlite::Result<Option<InstanceWithDisks>> {
    let Some(inst) = instance::instance_get_direct(c, pin, region, id)? else {
        return Ok(None);
    };
    let mut disks = disk::attachments_of_instances_direct(c, &[id.to_string()])?;
    Ok(Some((inst, disks.remove(id).unwrap_or_default())))
}

fn instance_page_direct(
    c: &rusqlite::Connection,
    q: &instance::InstanceQuery,
) -> rusqlite::Result<(Vec<InstanceWithDisks>, i64)> {
    let (rows, total) = instance::instance_list_direct(c, q)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut disks = disk::attachments_of_instances_direct(c, &ids)?;
    Ok((with_disks(rows, &mut disks), total))
}

/// Each row with its disks (none if it has none).
fn with_disks(
    rows: Vec<InstanceRow>,
    disks: &mut std::collections::HashMap<String, Vec<(AttachmentRow, DiskRow)>>,
) -> Vec<InstanceWithDisks> {
    rows.into_iter()
        .map(|r| {
            let d = disks.remove(&r.id).unwrap_or_default();
            (r, d)
        })
        .collect()
}

async fn instance_with_disks_in(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<InstanceWithDisks>> {
    let Some(inst) = instance::instance_get(conn, pin, region, id).await? else {
        return Ok(None);
    };
    Ok(Some((inst, disk::attachments_of_instance(conn, id).await?)))
}

impl<'a> WriteTx<'a> {
    fn begun(
        tx: Transaction<'static, Any>,
        gate: Option<GateHeld<'a>>,
        direct: Option<Arc<direct::DirectReaders>>,
    ) -> WriteTx<'a> {
        WriteTx {
            tx,
            gate,
            direct,
            images: image::ImagesWatch::begin(),
        }
    }

    /// [`Store::instance_with_disks`] as this transaction sees it, for a transaction that
    /// has not written yet. On SQLite it runs on a direct reader: with the gate and
    /// `BEGIN IMMEDIATE` held nobody else can commit, so until this transaction writes,
    /// the last committed state is exactly what it sees, and the read costs the writer
    /// (whom every other writer waits for) no hand-off to its connection's thread.
    pub async fn instance_with_disks_before_writes(
        &mut self,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<InstanceWithDisks>> {
        match &self.direct {
            Some(direct) => direct.run(|c| instance_with_disks_direct(c, pin, region, id)),
            None => instance_with_disks_in(&mut self.tx, pin, region, id).await,
        }
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.tx
    }
    pub async fn commit(self) -> DbResult<()> {
        let done = match self.gate {
            Some(_) => commit_sqlite(self.tx).await,
            None => self.tx.commit().await,
        };
        self.images.committed();
        done
    }
}

/// Commits a SQLite transaction so that a failed COMMIT cannot spoil its connection.
/// sqlx's SQLite driver counts transaction depth itself: when a COMMIT fails after SQLite
/// has already rolled the transaction back (storage full, I/O error), the count stays at
/// one, the ROLLBACK sqlx sends on drop fails as well ("no transaction is active"), and the
/// pooled connection refuses every later BEGIN ("attempted to call begin_with at non-zero
/// transaction depth") — met with the storage filled mid-write by the crash test. So the
/// COMMIT is sent as SQL, and sqlx's own ROLLBACK then always finds a transaction to end:
/// an empty one opened here after the transaction ended (committed, or rolled back by
/// SQLite), or the failed transaction itself when SQLite kept it open (BUSY), whose BEGIN
/// here fails.
async fn commit_sqlite(mut tx: Transaction<'static, Any>) -> DbResult<()> {
    let conn: &mut Conn = &mut tx;
    let done = sqlx::query("COMMIT").execute(&mut *conn).await.map(drop);
    let _ = sqlx::query("BEGIN").execute(conn).await;
    let ended = tx.rollback().await;
    done.and(ended)
}

impl Store {
    /// Opens the data directory's metadata: the database recorded in it (see
    /// [`record_database_url`]), else `<data_dir>/kiln.db`, creating it. Applies migrations.
    pub async fn open(data_dir: &Path) -> DbResult<Store> {
        Store::open_at(data_dir, None, Duration::from_secs(10)).await
    }

    /// `open`, with how long a write waits for another writer before failing.
    pub async fn open_with(data_dir: &Path, busy_timeout: Duration) -> DbResult<Store> {
        Store::open_at(data_dir, None, busy_timeout).await
    }

    /// Like `open_with`, with `database` (a PostgreSQL URL) taking precedence over the
    /// data directory's record.
    pub async fn open_at(
        data_dir: &Path,
        database: Option<&str>,
        busy_timeout: Duration,
    ) -> DbResult<Store> {
        match database
            .map(str::to_string)
            .or_else(|| recorded_database_url(data_dir))
        {
            Some(url) => Store::open_postgres(&url, busy_timeout).await,
            None => Store::open_sqlite(&data_dir.join("kiln.db"), busy_timeout).await,
        }
    }

    /// `path` (SQLite), with how long a write waits for another writer before failing.
    pub async fn open_sqlite(path: &Path, busy_timeout: Duration) -> DbResult<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        // Create the file, switch it to WAL (persistent) and migrate with the SQLite driver;
        // the pool below then speaks `Any`.
        // Migrations run with foreign keys off, as SQLite's own procedure for rebuilding a
        // table asks (sqlite.org/lang_altertable.html, section 7: a rebuilt parent table
        // otherwise fails its children's keys), and are checked whole afterwards.
        let mut c = opts.clone().foreign_keys(false).connect().await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut c)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        let broken: Vec<(String,)> =
            sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&mut c)
                .await?;
        if let Some((table,)) = broken.first() {
            return Err(sqlx::Error::Protocol(format!(
                "after migrating, table {table} breaks a foreign key ({} rows)",
                broken.len()
            )));
        }
        c.close().await?;
        let busy_ms = busy_timeout.as_millis() as u64;
        // The pool is the writers' (reads go through `Readers`), and the gate lets one
        // write at a time: one connection, kept for good. SQLite empties a connection's page
        // cache whenever another connection has written since its last transaction, so with
        // eight the next writer usually started cold and read every index page it touched
        // back from the file (createImage held the writer slot 0.84 ms instead of 0.63 with
        // one client). Alone, the writer's cache stays warm; it gets room for the indexes
        // the writes touch.
        // Every statement of sqlx's SQLite driver is a hand-off to the connection's own
        // thread, so the pool does not ping a connection before lending it (one hand-off
        // less per request; a broken file shows on the first statement anyway). (Mapping
        // the file with mmap_size was tried: no faster here, and every connection's mapping
        // counted in the RSS, 150 MiB after load A instead of 67.)
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(sqlite_pragmas(busy_ms).as_str()).await?;
                    conn.execute(format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let mut store = Store::with_pool(pool, Backend::Sqlite);
        store.checkpointer = Some(spawn_checkpointer(opts).await?);
        store.readers = Some(Arc::new(Readers::new(url, busy_ms)));
        store.direct = Some(Arc::new(direct::DirectReaders::new(
            path.to_path_buf(),
            busy_timeout,
        )));
        store.images = Some(Arc::new(image::ImageCache::default()));
        store.write_gate = Some(Arc::new(WriteGate::for_database(
            path.to_path_buf(),
            busy_timeout,
        )));
        Ok(store)
    }

    /// Opens a PostgreSQL database (`postgres://user@host:port/db`), applying migrations.
    /// A write waits at most `busy_timeout` for a lock (`lock_timeout`), as SQLite's busy
    /// timeout.
    pub async fn open_postgres(url: &str, busy_timeout: Duration) -> DbResult<Store> {
        sqlx::any::install_default_drivers();
        let opts = PgConnectOptions::from_str(url)?;
        let mut c = opts.connect().await?;
        // Several nodes may start at once: sqlx takes an advisory lock around migrations.
        sqlx::migrate!("./migrations/postgres")
            .run(&mut c)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        c.close().await?;
        let lock_ms = busy_timeout.as_millis() as u64;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.execute(format!("SET lock_timeout = {lock_ms}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Store::with_pool(pool, Backend::Postgres))
    }

    fn with_pool(pool: AnyPool, backend: Backend) -> Store {
        Store {
            pool,
            backend,
            write_gate: (backend == Backend::Sqlite).then(|| Arc::new(WriteGate::default())),
            background: false,
            seq: Arc::new(AtomicI64::new(now_ms() * 1000)),
            checkpointer: None,
            readers: None,
            direct: None,
            images: None,
        }
    }

    /// The image `id` if the caller (`pin`, `region`) may see it: public, or its own.
    pub async fn image_visible(
        &self,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<ImageRow>> {
        self.image_visible_in(None, pin, region, id).await
    }

    /// `image_visible`, for a caller inside a write transaction (`tx`): the cache, or `tx`
    /// itself, never a second connection from the pool. On PostgreSQL every pooled
    /// connection may be a transaction waiting for the writer lock this one holds (32
    /// createImage calls on a node of 16 connections waited out their lock timeout that way).
    pub async fn image_visible_in(
        &self,
        tx: Option<&mut Conn>,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<ImageRow>> {
        if let Some(cache) = &self.images {
            return cache.get_visible(self, pin, region, id).await;
        }
        match tx {
            Some(conn) => image::image_get_visible(conn, pin, region, id).await,
            None => image::image_get_visible(&mut *self.read().await?, pin, region, id).await,
        }
    }

    /// One read through either driver: on SQLite `direct` on a direct reader, on this
    /// thread (see [`direct`]); on PostgreSQL `pooled` on a pooled connection. The two are
    /// the same read.
    async fn read_either<T>(
        &self,
        direct: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
        pooled: impl AsyncFnOnce(&mut Conn) -> DbResult<T>,
    ) -> DbResult<T> {
        match &self.direct {
            Some(readers) => readers.run(direct),
            None => pooled(&mut *self.read().await?).await,
        }
    }

    /// A page of the images `q` selects and how many it selects.
    pub async fn image_list(&self, q: &image::ImageQuery) -> DbResult<(Vec<ImageRow>, i64)> {
        self.read_either(
            |c| image::image_list_direct(c, q),
            async |c| image::image_list(c, q).await,
        )
        .await
    }

    /// The caller's instance `id` with its attachments and their disks.
    pub async fn instance_with_disks(
        &self,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<InstanceWithDisks>> {
        self.read_either(
            |c| instance_with_disks_direct(c, pin, region, id),
            async |c| instance_with_disks_in(c, pin, region, id).await,
        )
        .await
    }

    /// A page of describeInstances, each instance with its disks (the page's disks in two
    /// queries, not a query per instance), and how many instances match.
    pub async fn instance_page(
        &self,
        q: &instance::InstanceQuery,
    ) -> DbResult<(Vec<InstanceWithDisks>, i64)> {
        self.read_either(
            |c| instance_page_direct(c, q),
            async |c| {
                let (rows, total) = instance::instance_list(c, q).await?;
                let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
                let mut disks = disk::attachments_of_instances(c, &ids).await?;
                Ok((with_disks(rows, &mut disks), total))
            },
        )
        .await
    }

    /// The task `id`.
    pub async fn task_by_id(&self, id: &str) -> DbResult<Option<TaskRow>> {
        self.read_either(
            |c| task::task_get_direct(c, id),
            async |c| task::task_get(c, id).await,
        )
        .await
    }

    /// The image `id`, whoever owns it.
    pub async fn image_by_id(&self, id: &str) -> DbResult<Option<ImageRow>> {
        self.read_either(
            |c| image::image_by_id_direct(c, id),
            async |c| image::image_by_id(c, id).await,
        )
        .await
    }

    /// The same store, for background work: its writes let API requests' go first.
    pub fn background(&self) -> Store {
        Store {
            background: true,
            ..self.clone()
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether other nodes may share this store (and its storage root).
    pub fn shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// A transaction for changes that check invariants (conflicts, quotas, references).
    ///
    /// SQLite: the in-process gate, then `BEGIN IMMEDIATE` (one writer per database).
    /// PostgreSQL: the transaction first locks the `writer` row of `locks`
    /// (`SELECT … FOR UPDATE`), so metadata changes are serialized across all nodes exactly as
    /// SQLite serializes them: a check and the write it guards can never interleave with
    /// another node's. The transactions are short (no qemu-img inside), so this is not where
    /// a cluster spends its time; see the README for the limits.
    pub async fn write(&self) -> DbResult<WriteTx<'_>> {
        match &self.write_gate {
            Some(gate) => {
                let gate = gate.enter(self.background).await;
                self.begin_under_gate(gate).await
            }
            None => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT name FROM locks WHERE name = 'writer' FOR UPDATE")
                    .fetch_optional(&mut *tx)
                    .await?;
                Ok(WriteTx::begun(tx, None, None))
            }
        }
    }

    /// [`Store::write`] for a transaction of [`Stmt`]s: on SQLite it runs inline (see
    /// [`inline_tx`]).
    pub async fn write_stmts(&self) -> DbResult<StmtTx<'_>> {
        let Some(gate) = &self.write_gate else {
            return Ok(StmtTx::pooled(self.write().await?));
        };
        let (slot, urgent) = gate.enter(self.background).await;
        match StmtTx::begin_inline(slot, urgent)? {
            Ok(tx) => Ok(tx),
            Err(gate) => Ok(StmtTx::pooled(self.begin_under_gate(gate).await?)),
        }
    }

    /// SQLite: sqlx's transaction for a writer holding the gate. IMMEDIATE: take SQLite's
    /// write lock now, waiting (busy_timeout) if another process (`kiln account …`) holds
    /// it. A deferred transaction that read first would instead fail at once with
    /// SQLITE_BUSY(_SNAPSHOT) on its first write.
    async fn begin_under_gate<'a>(&'a self, gate: GateHeld<'a>) -> DbResult<WriteTx<'a>> {
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx::begun(tx, Some(gate), self.direct.clone()))
    }

    /// [`Store::write_unordered`] for a transaction of [`Stmt`]s.
    pub async fn write_stmts_unordered(&self) -> DbResult<StmtTx<'_>> {
        match self.backend {
            Backend::Sqlite => self.write_stmts().await,
            Backend::Postgres => Ok(StmtTx::pooled(self.write_unordered().await?)),
        }
    }

    /// A transaction for changes that need no cluster-wide order (claiming tasks with
    /// `FOR UPDATE SKIP LOCKED`, nonces): on PostgreSQL it does not take the writer lock.
    pub async fn write_unordered(&self) -> DbResult<WriteTx<'_>> {
        match self.backend {
            Backend::Sqlite => self.write().await,
            Backend::Postgres => Ok(WriteTx::begun(self.pool.begin().await?, None, None)),
        }
    }

    /// A connection for statements outside a write transaction (reads, single-statement
    /// bookkeeping).
    pub async fn read(&self) -> DbResult<ReadConn> {
        match &self.readers {
            Some(readers) => readers.acquire().await,
            None => Ok(ReadConn::Pooled(self.pool.acquire().await?)),
        }
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

/// A boolean as either backend stores it: PostgreSQL `BOOLEAN`, SQLite `INTEGER` 0/1.
/// Rows read it with `#[sqlx(try_from = "DbBool")]`; scalars with `query_scalar::<_, DbBool>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbBool(pub bool);

impl From<DbBool> for bool {
    fn from(b: DbBool) -> bool {
        b.0
    }
}

impl sqlx::Type<Any> for DbBool {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<Any>>::type_info()
    }
    fn compatible(_ty: &sqlx::any::AnyTypeInfo) -> bool {
        true
    }
}

impl<'r> sqlx::Decode<'r, Any> for DbBool {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        match <i64 as sqlx::Decode<Any>>::decode(value.clone()) {
            Ok(i) => Ok(DbBool(i != 0)),
            Err(_) => Ok(DbBool(<bool as sqlx::Decode<Any>>::decode(value)?)),
        }
    }
}

use std::str::FromStr;

/// How many `kind` rows (`image`, `snapshot`) the account has in the region, every source
/// together, from the `resource_counts` the triggers keep.
pub async fn resource_count(conn: &mut Conn, kind: &str, pin: &str, region: &str) -> DbResult<i64> {
    let (n,): (i64,) = resource_count_stmt(kind, pin, region)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// [`resource_count`] as a statement.
pub fn resource_count_stmt(kind: &str, pin: &str, region: &str) -> Stmt {
    Stmt::new(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM resource_counts
         WHERE kind = $1 AND pin = $2 AND region = $3",
    )
    .bind(kind)
    .bind(pin)
    .bind(region)
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

/// `%v%` for `LIKE … ESCAPE '\'`: `v` anywhere, its own `%`, `_` and `\` taken literally.
pub(crate) fn like_contains(v: &str) -> String {
    let escaped = v
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// A page of a listing and how many rows match: `select(cols)` is the query with every
/// condition, selecting `cols`; the page selects `page_cols` in `order` (`seq, id`, or
/// reversed).
pub(crate) async fn list_page<T>(
    conn: &mut Conn,
    select: impl Fn(&str) -> Stmt,
    page_cols: &str,
    order: &str,
    (limit, offset): (i64, i64),
) -> DbResult<(Vec<T>, i64)>
where
    T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let (total,): (i64,) = select("COUNT(*)").fetch_one(&mut *conn).await?;
    let page = page_stmt(&select, page_cols, order, (limit, offset));
    Ok((page.fetch_all(conn).await?, total))
}

/// [`list_page`] on a direct SQLite reader, each row read by `row`.
pub(crate) fn list_page_direct<T>(
    conn: &rusqlite::Connection,
    select: impl Fn(&str) -> Stmt,
    page_cols: &str,
    order: &str,
    (limit, offset): (i64, i64),
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<(Vec<T>, i64)> {
    let total = select("COUNT(*)")
        .query_direct(conn, |r| r.get::<_, i64>(0))?
        .pop()
        .unwrap_or(0);
    let page = page_stmt(&select, page_cols, order, (limit, offset));
    Ok((page.query_direct(conn, row)?, total))
}

fn page_stmt(
    select: &impl Fn(&str) -> Stmt,
    cols: &str,
    order: &str,
    (limit, offset): (i64, i64),
) -> Stmt {
    let mut page = select(cols);
    page.push(&format!(" ORDER BY {order} LIMIT "))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    page
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
    Ok(guarded_update_stmt(table, id, sets, idle_only, from)
        .execute(conn)
        .await?
        == 1)
}

/// `guarded_update` as a statement: it changes one row when the guard held, else none.
pub(crate) fn guarded_update_stmt(
    table: &str,
    id: &str,
    sets: &[(&str, Option<&str>)],
    idle_only: bool,
    from: &[&str],
) -> Stmt {
    let mut q = Stmt::new(format!("UPDATE {table} SET "));
    for (i, (col, value)) in sets.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push(&format!("{col} = "));
        q.push_bind(value.map(str::to_string));
    }
    q.push(" WHERE id = ").push_bind(id.to_string());
    if idle_only {
        q.push(" AND task IS NULL");
    }
    let from: Vec<String> = from.iter().map(|s| s.to_string()).collect();
    q.push(" AND status IN ").push_list(&from);
    q
}

#[cfg(test)]
mod tests {
    use super::{is_transient, WriteGate};
    use sqlx::Connection;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// The planner statistics of migration 0102: a list filtered by ids looks the ids up
    /// instead of walking the account's whole index range.
    #[tokio::test]
    async fn id_filters_are_primary_key_lookups() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(dir.path()).await.unwrap();
        let mut conn = store.read().await.unwrap();
        for (table, pk) in [
            ("images", "sqlite_autoindex_images_1"),
            ("instances", "sqlite_autoindex_instances_1"),
            ("disks", "sqlite_autoindex_disks_1"),
            ("snapshots", "sqlite_autoindex_snapshots_1"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
                "EXPLAIN QUERY PLAN SELECT id FROM {table} WHERE pin = 'p' AND region = 'r'
                 AND id IN ('a', 'b') ORDER BY seq, id"
            ))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            let text: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
            assert!(text.iter().any(|d| d.contains(pk)), "{table}: {text:?}");
        }
    }

    /// The image cache never answers a row older than the last committed change, and hides
    /// another account's images like the query does.
    #[tokio::test]
    async fn cached_images_follow_every_change() {
        use super::image;
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(dir.path()).await.unwrap();
        let row = super::ImageRow::for_test("img-cache", "p1", "r", 1);
        let status = |r: Option<super::ImageRow>| r.map(|r| r.status);
        assert_eq!(
            status(store.image_visible("p1", "r", "img-cache").await.unwrap()),
            None
        );
        let mut tx = store.write().await.unwrap();
        image::image_insert(tx.conn(), &row).await.unwrap();
        tx.commit().await.unwrap();
        let seen = store.image_visible("p1", "r", "img-cache").await.unwrap();
        assert_eq!(status(seen), Some("pending".into()));
        // Cached now; another account and another region still do not see it.
        assert!(store
            .image_visible("p2", "r", "img-cache")
            .await
            .unwrap()
            .is_none());
        assert!(store
            .image_visible("p1", "r2", "img-cache")
            .await
            .unwrap()
            .is_none());

        // A change rolled back leaves the row as it was; a committed one shows at once.
        let mut tx = store.write().await.unwrap();
        image::image_transition(tx.conn(), "img-cache", &["pending"], "ready")
            .await
            .unwrap();
        drop(tx);
        let seen = store.image_visible("p1", "r", "img-cache").await.unwrap();
        assert_eq!(status(seen), Some("pending".into()));
        let mut tx = store.write().await.unwrap();
        image::image_transition(tx.conn(), "img-cache", &["pending"], "ready")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let seen = store.image_visible("p1", "r", "img-cache").await.unwrap();
        assert_eq!(status(seen), Some("ready".into()));
        let mut tx = store.write().await.unwrap();
        image::image_delete(tx.conn(), "img-cache").await.unwrap();
        tx.commit().await.unwrap();
        assert!(store
            .image_visible("p1", "r", "img-cache")
            .await
            .unwrap()
            .is_none());
    }

    /// An instance with its disks read by a direct reader is what sqlx reads, every
    /// column in its place.
    #[tokio::test]
    async fn direct_instance_with_disks_is_the_sqlx_read() {
        use super::{disk, instance, layer, AttachmentRow, DiskRow, InstanceRow, LayerRow};
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(dir.path()).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let inst = InstanceRow {
            id: "i-1".into(),
            pin: "p1".into(),
            region: "r1".into(),
            az: "az".into(),
            name: "name".into(),
            hostname: "host".into(),
            description: "desc".into(),
            instance_type: "g.n2.medium".into(),
            image_id: "img-x".into(),
            status: "running".into(),
            task: Some("task-1".into()),
            private_ip: "10.0.0.1".into(),
            primary_nic: None,
            charge_mode: "postpaid_by_duration".into(),
            charge_on_stopped: "keepCharging".into(),
            created_at: 11,
            seq: 12,
        };
        instance::instance_insert(tx.conn(), &inst).await.unwrap();
        for (n, dev) in ["vdb", "vda", "vdc"].iter().enumerate() {
            let n = n as i64;
            let lyr = format!("lyr-{n}");
            layer::layer_insert(
                tx.conn(),
                &LayerRow {
                    id: lyr.clone(),
                    backing_id: None,
                    size_bytes: 1,
                    created_at: 0,
                },
            )
            .await
            .unwrap();
            let d = DiskRow {
                id: format!("vol-{n}"),
                pin: "p1".into(),
                region: "r1".into(),
                az: format!("az{n}"),
                category: "cloud".into(),
                name: format!("n{n}"),
                description: format!("d{n}"),
                disk_type: "ssd".into(),
                size_gb: 20 + n,
                iops: 100 + n,
                status: "in-use".into(),
                task: (n == 1).then(|| "task-2".to_string()),
                top_layer_id: Some(lyr),
                snapshot_id: format!("snap-{n}"),
                multi_attachable: n == 2,
                encrypted: n == 0,
                charge_mode: "postpaid_by_duration".into(),
                created_at: 30 + n,
                seq: 40 + n,
            };
            disk::disk_insert(tx.conn(), &d).await.unwrap();
            disk::attachment_insert(
                tx.conn(),
                &AttachmentRow {
                    disk_id: d.id.clone(),
                    instance_id: "i-1".into(),
                    device_name: dev.to_string(),
                    status: "attached".into(),
                    auto_delete: n != 1,
                    attached_at: 50 + n,
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let direct = store
            .instance_with_disks("p1", "r1", "i-1")
            .await
            .unwrap()
            .unwrap();
        let mut conn = store.read().await.unwrap();
        let via_sqlx = (
            instance::instance_get(&mut conn, "p1", "r1", "i-1")
                .await
                .unwrap()
                .unwrap(),
            disk::attachments_of_instance(&mut conn, "i-1")
                .await
                .unwrap(),
        );
        assert_eq!(format!("{direct:?}"), format!("{via_sqlx:?}"));
        // describeInstances' page: the same through either driver, filters included.
        for names in [vec![], vec!["nam".to_string()], vec!["zzz".to_string()]] {
            let q = instance::InstanceQuery {
                pin: "p1".into(),
                region: "r1".into(),
                names,
                limit: 10,
                ..Default::default()
            };
            let (page, total) = store.instance_page(&q).await.unwrap();
            let (rows, sqlx_total) = instance::instance_list(&mut conn, &q).await.unwrap();
            let mut disks = disk::attachments_of_instances(&mut conn, &["i-1".to_string()])
                .await
                .unwrap();
            let via_sqlx: Vec<_> = rows
                .into_iter()
                .map(|r| (r, disks.remove("i-1").unwrap_or_default()))
                .collect();
            assert_eq!(
                (format!("{page:?}"), total),
                (format!("{via_sqlx:?}"), sqlx_total)
            );
            assert_eq!(total, if q.names == ["zzz"] { 0 } else { 1 });
        }
        let devices: Vec<&str> = direct
            .1
            .iter()
            .map(|(a, _)| a.device_name.as_str())
            .collect();
        assert_eq!(devices, ["vda", "vdb", "vdc"]);
        assert!(store
            .instance_with_disks("p2", "r1", "i-1")
            .await
            .unwrap()
            .is_none());
        drop(conn);

        // Inside a write transaction, before it writes: the last commit, whoever made it.
        let mut tx = store.write().await.unwrap();
        instance::instance_clear_task(tx.conn(), "i-1", "task-1")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        let (inst, disks) = tx
            .instance_with_disks_before_writes("p1", "r1", "i-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(inst.task, None);
        assert_eq!(disks.len(), 3);
    }

    /// A task read by a direct reader is the row sqlx reads; a claim leases every due
    /// task once, in one statement.
    #[tokio::test]
    async fn direct_task_read_and_one_statement_claim() {
        use super::task;
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(dir.path()).await.unwrap();
        let mut tx = store.write().await.unwrap();
        let now = super::now_ms();
        for (i, run_after) in [now - 5, now - 1, now + 60_000].into_iter().enumerate() {
            let mut t = crate::tasks::new_task(
                "k",
                &format!("target-{i}"),
                serde_json::json!({"i": i}),
                std::time::Duration::ZERO,
            );
            t.id = format!("t-{i}");
            t.run_after = run_after;
            t.error = (i == 1).then(|| "boom".to_string());
            task::task_insert(tx.conn(), &t).await.unwrap();
        }
        tx.commit().await.unwrap();
        for id in ["t-0", "t-1", "t-2", "t-none"] {
            let direct = store.task_by_id(id).await.unwrap();
            let via_sqlx = task::task_get(&mut store.read().await.unwrap(), id)
                .await
                .unwrap();
            assert_eq!(format!("{direct:?}"), format!("{via_sqlx:?}"));
        }
        let mut tx = store.write_stmts().await.unwrap();
        assert!(tx.is_inline());
        let claimed = task::task_claim_due(&mut tx, 60_000, 10).await.unwrap();
        tx.commit().await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t-0", "t-1"]);
        for t in &claimed {
            let stored = store.task_by_id(&t.id).await.unwrap().unwrap();
            assert_eq!(stored.lease_until, t.lease_until);
            assert!(t.lease_until > now);
        }
        let mut tx = store.write_stmts().await.unwrap();
        assert!(task::task_claim_due(&mut tx, 60_000, 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn api_writers_go_before_background_writers() {
        let gate = Arc::new(WriteGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
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
