//! Metadata: the one place that writes SQL.
//!
//! One interface over two backends, each a module of its own: SQLite on rusqlite
//! ([`sqlite`], one node) and PostgreSQL on sqlx ([`postgres`], any number of nodes).
//! Callers take a [`Read`] (`Store::read`) or a [`WriteTx`] (`Store::write`); both
//! dereference to [`Db`], which every store function takes: `async fn op(db: &mut Db, …)`,
//! built from [`Stmt`]s with `$N` placeholders (valid on both backends). Caches are kept
//! right by the commits that change their table (see [`image::ImageCache`]).

// First, so that its `direct_row!` serves the modules below.
#[macro_use]
pub mod rows;

pub mod account;
mod db;
pub mod disk;
pub mod elastic_ip;
pub mod fault;
pub mod fsck;
pub mod image;
pub mod image_share;
pub mod image_task;
pub mod instance;
pub mod keypair;
pub mod layer;
pub mod network_interface;
pub mod node;
pub mod nonce;
mod postgres;
pub mod security_group;
pub mod snapshot;
mod sqlite;
pub mod status;
pub mod stmt;
pub mod task;
#[cfg(test)]
mod tests;
pub mod token;
pub mod vpc;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

pub use db::{Column, Db, Row};
pub use instance::{instance_page, instance_with_disks, InstanceWithDisks};
pub use rows::*;
pub use status::{
    AttachmentStatus, DiskStatus, ImageStatus, ImageTaskStatus, InstanceStatus, SnapshotStatus,
    TaskKind, TaskState,
};
pub use stmt::{Arg, Stmt};

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
    engine: Arc<Engine>,
    /// Whether this handle's writes are background work (task steps), which let API
    /// requests' writes go first.
    background: bool,
    seq: Arc<AtomicI64>,
    /// SQLite only: image rows as last read (with PostgreSQL other nodes change rows
    /// behind this process's back).
    images: Option<Arc<image::ImageCache>>,
}

enum Engine {
    Sqlite(Box<sqlite::Sqlite>),
    Postgres(AnyPool),
}

/// A write transaction: every statement run on it (through [`Db`]) commits together or
/// not at all. On SQLite it holds the in-process writer gate until commit or drop.
pub struct WriteTx<'a> {
    db: Db,
    /// SQLite: the gate, with the writer connection's slot the connection goes back to.
    gate: Option<sqlite::GateHeld<'a>>,
    images: Option<&'a image::ImageCache>,
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.db
    }
}

impl WriteTx<'_> {
    pub async fn commit(mut self) -> DbResult<()> {
        let done = match &mut self.gate {
            Some((slot, _)) => sqlite::commit(&mut self.db, slot),
            None => postgres::commit(&mut self.db).await,
        };
        if let Some(cache) = self.images.filter(|_| self.db.changed_images()) {
            cache.changed();
        }
        done
    }
}

impl Drop for WriteTx<'_> {
    /// A transaction dropped before its commit (an error, a request cut short) is rolled
    /// back before the gate opens for the next writer (PostgreSQL's rolls back on drop).
    fn drop(&mut self) {
        if let Some((slot, _)) = &mut self.gate {
            sqlite::abandon(&mut self.db, slot);
        }
    }
}

/// A connection for reads and statements outside a write transaction; on SQLite a
/// read-only one.
pub struct Read {
    db: Db,
    engine: Arc<Engine>,
}

impl std::ops::Deref for Read {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl std::ops::DerefMut for Read {
    fn deref_mut(&mut self) -> &mut Db {
        &mut self.db
    }
}

impl Drop for Read {
    fn drop(&mut self) {
        if let Engine::Sqlite(s) = &*self.engine {
            s.reader_done(&mut self.db);
        }
    }
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
        let engine = Engine::Sqlite(Box::new(sqlite::open(path, busy_timeout).await?));
        Ok(Store::with(engine, Some(Arc::default())))
    }

    /// Opens a PostgreSQL database (`postgres://user@host:port/db`), applying migrations.
    pub async fn open_postgres(url: &str, busy_timeout: Duration) -> DbResult<Store> {
        let engine = Engine::Postgres(postgres::open(url, busy_timeout).await?);
        Ok(Store::with(engine, None))
    }

    fn with(engine: Engine, images: Option<Arc<image::ImageCache>>) -> Store {
        Store {
            engine: Arc::new(engine),
            background: false,
            seq: Arc::new(AtomicI64::new(now_ms() * 1000)),
            images,
        }
    }

    /// The image `id` if the caller (`pin`, `region`) may see it: public, or its own. From
    /// the cache when it can answer (SQLite), else read on `db` when the caller is inside a
    /// transaction, else on a reader. On PostgreSQL every pooled connection may be a
    /// transaction waiting for the writer lock the caller holds (32 createImage calls on
    /// a node of 16 connections waited out their lock timeout that way), so a caller in a
    /// transaction reads on it.
    pub async fn image_visible(
        &self,
        db: Option<&mut Db>,
        pin: &str,
        region: &str,
        id: &str,
    ) -> DbResult<Option<ImageRow>> {
        if let Some(cache) = &self.images {
            return cache.get_visible(self, pin, region, id).await;
        }
        match db {
            Some(db) => image::image_get_visible(db, pin, region, id).await,
            None => image::image_get_visible(&mut *self.read().await?, pin, region, id).await,
        }
    }

    /// The same store, for background work: its writes let API requests' go first.
    pub fn background(&self) -> Store {
        Store {
            background: true,
            ..self.clone()
        }
    }

    pub fn backend(&self) -> Backend {
        match &*self.engine {
            Engine::Sqlite(_) => Backend::Sqlite,
            Engine::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether other nodes may share this store (and its storage root).
    pub fn shared(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// A transaction for changes that check invariants (conflicts, quotas, references):
    /// one writer at a time, in this process (SQLite's gate, then `BEGIN IMMEDIATE`) or
    /// across the cluster (PostgreSQL's writer lock; see [`postgres::begin`]).
    pub async fn write(&self) -> DbResult<WriteTx<'_>> {
        self.begin(true).await
    }

    /// A transaction for changes that need no cluster-wide order (claiming tasks with
    /// `FOR UPDATE SKIP LOCKED`, nonces, node leases): on PostgreSQL it does not take the
    /// writer lock. On SQLite it is [`Store::write`].
    pub async fn write_unordered(&self) -> DbResult<WriteTx<'_>> {
        self.begin(false).await
    }

    async fn begin(&self, ordered: bool) -> DbResult<WriteTx<'_>> {
        match &*self.engine {
            Engine::Sqlite(s) => {
                let (mut slot, urgent) = s.gate.enter(self.background).await;
                let mut db = sqlite::begin(&mut slot)?;
                if self.images.is_some() {
                    db.watch_images();
                }
                Ok(WriteTx {
                    db,
                    gate: Some((slot, urgent)),
                    images: self.images.as_deref(),
                })
            }
            Engine::Postgres(pool) => Ok(WriteTx {
                db: postgres::begin(pool, ordered).await?,
                gate: None,
                images: None,
            }),
        }
    }

    /// A connection for reads.
    pub async fn read(&self) -> DbResult<Read> {
        let db = match &*self.engine {
            Engine::Sqlite(s) => s.reader()?,
            Engine::Postgres(pool) => postgres::reader(pool).await?,
        };
        Ok(Read {
            db,
            engine: self.engine.clone(),
        })
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
        if let Engine::Postgres(pool) = &*self.engine {
            pool.close().await;
        }
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

impl sqlx::Type<sqlx::Any> for DbBool {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <bool as sqlx::Type<sqlx::Any>>::type_info()
    }
    fn compatible(_ty: &sqlx::any::AnyTypeInfo) -> bool {
        true
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for DbBool {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        match <i64 as sqlx::Decode<sqlx::Any>>::decode(value.clone()) {
            Ok(i) => Ok(DbBool(i != 0)),
            Err(_) => Ok(DbBool(<bool as sqlx::Decode<sqlx::Any>>::decode(value)?)),
        }
    }
}

/// How many `kind` rows (`image`, `snapshot`) the account has in the region, every source
/// together, from the `resource_counts` the triggers keep.
pub async fn resource_count(db: &mut Db, kind: &str, pin: &str, region: &str) -> DbResult<i64> {
    db.fetch_i64(
        Stmt::new(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM resource_counts
             WHERE kind = $1 AND pin = $2 AND region = $3",
        )
        .bind(kind)
        .bind(pin)
        .bind(region),
    )
    .await
}

/// Returns the counter's next value (starting at 1).
pub async fn counter_next(db: &mut Db, name: &str) -> DbResult<i64> {
    db.fetch_i64(
        Stmt::new(
            "INSERT INTO counters(name, value) VALUES ($1, 1)
             ON CONFLICT(name) DO UPDATE SET value = counters.value + 1
             RETURNING value",
        )
        .bind(name),
    )
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
pub(crate) async fn list_page<T: Row>(
    db: &mut Db,
    select: impl Fn(&str) -> Stmt,
    page_cols: &str,
    order: &str,
    (limit, offset): (i64, i64),
) -> DbResult<(Vec<T>, i64)> {
    let total = db.fetch_i64(select("COUNT(*)")).await?;
    let mut page = select(page_cols);
    page.push(&format!(" ORDER BY {order} LIMIT "))
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    Ok((db.fetch_all(page).await?, total))
}

/// The one shape of every guarded state change:
/// `UPDATE table SET col = value, … WHERE id = $id [AND task IS NULL] AND status IN (from)`.
/// A `None` value sets NULL. Returns whether the row was in an allowed state (and changed).
pub(crate) async fn guarded_update<S: Copy + Into<Arg>>(
    db: &mut Db,
    table: &str,
    id: &str,
    sets: &[(&str, Arg)],
    idle_only: bool,
    from: &[S],
) -> DbResult<bool> {
    let mut q = Stmt::new(format!("UPDATE {table} SET "));
    for (i, (col, value)) in sets.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push(&format!("{col} = "));
        q.push_bind(value.clone());
    }
    q.push(" WHERE id = ").push_bind(id.to_string());
    if idle_only {
        q.push(" AND task IS NULL");
    }
    q.push(" AND status IN (");
    for (i, s) in from.iter().enumerate() {
        q.push(if i == 0 { "" } else { ", " }).push_bind(*s);
    }
    q.push(")");
    Ok(db.execute(q).await? == 1)
}

/// A new name and/or description of a `table` row (`None`: unchanged).
pub async fn set_name_and_description(
    db: &mut Db,
    table: &str,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> DbResult<()> {
    let st = Stmt::new(format!(
        "UPDATE {table} SET name = COALESCE($1, name), description = COALESCE($2, description)
         WHERE id = $3"
    ))
    .bind(name)
    .bind(description)
    .bind(id);
    db.execute(st).await?;
    Ok(())
}
