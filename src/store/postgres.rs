//! The PostgreSQL backend: a database shared by any number of nodes, on sqlx.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AnyConnection, AnyPool, Arguments, ConnectOptions, Connection, Executor};

use super::db::{Conn, Db, Row};
use super::{Arg, DbResult, Stmt};

/// Connections per node.
const POOL_SIZE: u32 = 16;

/// Opens `url` (`postgres://user@host:port/db`), applying migrations. A write waits at
/// most `busy` for a lock (`lock_timeout`), as SQLite's busy timeout.
pub(super) async fn open(url: &str, busy: Duration) -> DbResult<AnyPool> {
    sqlx::any::install_default_drivers();
    let mut c = PgConnectOptions::from_str(url)?.connect().await?;
    // Several nodes may start at once: sqlx takes an advisory lock around migrations.
    sqlx::migrate!("./migrations/postgres")
        .run(&mut c)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
    c.close().await?;
    let lock_ms = busy.as_millis() as u64;
    AnyPoolOptions::new()
        .max_connections(POOL_SIZE)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(format!("SET lock_timeout = {lock_ms}").as_str())
                    .await?;
                Ok(())
            })
        })
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
}

/// A pooled connection for reads and single statements.
pub(super) async fn reader(pool: &AnyPool) -> DbResult<Db> {
    Ok(Db::new(Conn::Postgres(pool.acquire().await?)))
}

/// A write transaction. `ordered`: it first locks the `writer` row of `locks`, so metadata
/// changes are serialized across all nodes exactly as SQLite serializes them: a check and
/// the write it guards can never interleave with another node's. The transactions are
/// short (no qemu-img inside). Unordered transactions (claiming tasks with
/// `FOR UPDATE SKIP LOCKED`, nonces) skip the lock.
pub(super) async fn begin(pool: &AnyPool, ordered: bool) -> DbResult<Db> {
    let mut tx = pool.begin().await?;
    if ordered {
        sqlx::query("SELECT name FROM locks WHERE name = 'writer' FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    }
    Ok(Db::new(Conn::PostgresTx(tx)))
}

/// Commits the transaction of `db` (a reader has none to commit).
pub(super) async fn commit(db: &mut Db) -> DbResult<()> {
    match db.take_conn() {
        Conn::PostgresTx(tx) => tx.commit().await,
        _ => Ok(()),
    }
}

/// `args` as sqlx's.
fn arguments(stmt: &Stmt) -> DbResult<AnyArguments<'static>> {
    let mut out = AnyArguments::default();
    for a in stmt.args() {
        let added = match a {
            Arg::NullInt => out.add(None::<i64>),
            Arg::NullBool => out.add(None::<bool>),
            Arg::NullText => out.add(None::<String>),
            Arg::Int(n) => out.add(*n),
            Arg::Bool(b) => out.add(*b),
            Arg::Text(t) => out.add(t.clone()),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

pub(super) async fn execute(conn: &mut AnyConnection, stmt: Stmt) -> DbResult<u64> {
    Ok(sqlx::query_with(stmt.sql(), arguments(&stmt)?)
        .execute(conn)
        .await?
        .rows_affected())
}

pub(super) async fn fetch_all<R: Row>(conn: &mut AnyConnection, stmt: Stmt) -> DbResult<Vec<R>> {
    sqlx::query_as_with(stmt.sql(), arguments(&stmt)?)
        .fetch_all(conn)
        .await
}
