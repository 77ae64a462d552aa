//! [`Db`]: what every store function runs its statements on, whatever the backend and
//! whether it is a read ([`super::Read`]) or a write transaction ([`super::WriteTx`]); both
//! dereference to it. A store function is `async fn op(db: &mut Db, …)` built from
//! [`Stmt`]s, and runs unchanged on SQLite (rusqlite, see [`super::sqlite`]) and
//! PostgreSQL (sqlx, see [`super::postgres`]).

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{postgres, sqlite, Backend, DbResult, Stmt};

/// A connection to run statements on: a reader, or a write transaction in progress.
pub struct Db {
    conn: Conn,
    /// Whether statements run here are checked for changes to `images`: only in a write
    /// transaction of a store with an image cache, whose commit is what invalidates it (a
    /// reader's statements would be checked for nothing, and the check is a pass over
    /// each statement's text).
    watch_images: bool,
    /// Whether a statement run here changed `images` (the image cache is invalidated
    /// when the transaction commits; see [`super::image::ImageCache`]).
    changed_images: bool,
}

pub(super) enum Conn {
    /// SQLite: a read-only reader, or the writer connection inside `BEGIN IMMEDIATE`.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL: a pooled connection (reads, autocommit statements).
    Postgres(sqlx::pool::PoolConnection<Any>),
    /// PostgreSQL: a transaction.
    PostgresTx(Transaction<'static, Any>),
    /// Handed back (a transaction committed); never seen by a caller.
    Gone,
}

/// A row a query can return, read by position from SQLite or by name through sqlx. Row
/// structs get it from `direct_row!` (rows.rs), tuples of one to four columns here.
pub trait Row: Sized + Send + Unpin + for<'r> sqlx::FromRow<'r, AnyRow> {
    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// A column type both drivers read.
pub trait Column:
    rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + Send + Unpin
{
}
impl<T> Column for T where
    T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + Send + Unpin
{
}

macro_rules! tuple_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column),+> Row for ($($t,)+) {
            fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($(r.get($i)?,)+))
            }
        }
    };
}
tuple_row!(A 0);
tuple_row!(A 0, B 1);
tuple_row!(A 0, B 1, C 2);
tuple_row!(A 0, B 1, C 2, D 3);
tuple_row!(A 0, B 1, C 2, D 3, E 4);
tuple_row!(A 0, B 1, C 2, D 3, E 4, F 5);

impl Db {
    pub(super) fn new(conn: Conn) -> Db {
        Db {
            conn,
            watch_images: false,
            changed_images: false,
        }
    }

    /// Checks the statements run from now on for changes to `images` (see
    /// [`Db::changed_images`]).
    pub(super) fn watch_images(&mut self) {
        self.watch_images = true;
    }

    pub fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            _ => Backend::Postgres,
        }
    }

    /// Runs the statement; how many rows it changed (not counting its triggers').
    pub async fn execute(&mut self, stmt: Stmt) -> DbResult<u64> {
        self.note_change(&stmt);
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::execute(c, &stmt),
            Conn::Postgres(c) => postgres::execute(c, stmt).await,
            Conn::PostgresTx(c) => postgres::execute(c, stmt).await,
            Conn::Gone => Err(gone()),
        }
    }

    /// Runs the statements in order; how many rows they changed together. An error stops
    /// the rest (and the caller's transaction then rolls back).
    pub async fn run(&mut self, stmts: impl IntoIterator<Item = Stmt>) -> DbResult<u64> {
        let mut changed = 0;
        for stmt in stmts {
            changed += self.execute(stmt).await?;
        }
        Ok(changed)
    }

    /// Runs the query; every row.
    pub async fn fetch_all<R: Row>(&mut self, stmt: Stmt) -> DbResult<Vec<R>> {
        self.note_change(&stmt);
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::fetch_all(c, &stmt),
            Conn::Postgres(c) => postgres::fetch_all(c, stmt).await,
            Conn::PostgresTx(c) => postgres::fetch_all(c, stmt).await,
            Conn::Gone => Err(gone()),
        }
    }

    /// Runs the query; its first row, if any.
    pub async fn fetch_optional<R: Row>(&mut self, stmt: Stmt) -> DbResult<Option<R>> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    /// Runs the query; its first row (`RowNotFound` if none).
    pub async fn fetch_one<R: Row>(&mut self, stmt: Stmt) -> DbResult<R> {
        self.fetch_optional(stmt)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs a query of one number (a count).
    pub async fn fetch_i64(&mut self, stmt: Stmt) -> DbResult<i64> {
        self.scalar(stmt).await
    }

    /// Runs a query of one column; its first row's value (`RowNotFound` if none).
    pub async fn scalar<T: Column>(&mut self, stmt: Stmt) -> DbResult<T> {
        let (v,): (T,) = self.fetch_one(stmt).await?;
        Ok(v)
    }

    /// Runs a query of one column; its first row's value, if any.
    pub async fn scalar_optional<T: Column>(&mut self, stmt: Stmt) -> DbResult<Option<T>> {
        let row: Option<(T,)> = self.fetch_optional(stmt).await?;
        Ok(row.map(|(v,)| v))
    }

    /// Runs a query of one column; every row's value.
    pub async fn scalar_all<T: Column>(&mut self, stmt: Stmt) -> DbResult<Vec<T>> {
        let rows: Vec<(T,)> = self.fetch_all(stmt).await?;
        Ok(rows.into_iter().map(|(v,)| v).collect())
    }

    /// Whether a statement run here since [`Db::watch_images`] changed `images`.
    pub(super) fn changed_images(&self) -> bool {
        self.changed_images
    }

    pub(super) fn take_conn(&mut self) -> Conn {
        std::mem::replace(&mut self.conn, Conn::Gone)
    }

    fn note_change(&mut self, stmt: &Stmt) {
        if self.watch_images && !self.changed_images && stmt.changes_table("images") {
            self.changed_images = true;
        }
    }
}

/// A statement on a committed transaction (`commit` takes the transaction, so only a bug
/// in the store could get here).
fn gone() -> sqlx::Error {
    sqlx::Error::Protocol("statement on a finished transaction".into())
}
