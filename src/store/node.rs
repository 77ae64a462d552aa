//! Live nodes of a cluster (one row per running `kiln serve`).
use super::{now_ms, Conn, DbResult};

/// Records (or renews) this node as live. A row of another id at the same `addr` (host
/// and listener) is this node's dead predecessor — two live processes cannot hold one
/// listener — and is removed.
pub async fn node_beat(conn: &mut Conn, id: &str, addr: &str, lease_ms: i64) -> DbResult<()> {
    sqlx::query("DELETE FROM nodes WHERE addr = $1 AND id <> $2")
        .bind(addr)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO nodes(id, addr, seen_at, lease_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, addr = excluded.addr",
    )
    .bind(id)
    .bind(addr)
    .bind(now_ms())
    .bind(lease_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// Other nodes seen within their lease.
pub async fn nodes_alive_except(conn: &mut Conn, id: &str) -> DbResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM nodes WHERE id <> $1 AND seen_at + lease_ms > $2")
        .bind(id)
        .bind(now_ms())
        .fetch_one(conn)
        .await
}

/// Removes this node's row (clean stop) and rows of nodes long dead.
pub async fn node_leave(conn: &mut Conn, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM nodes WHERE id = $1 OR seen_at + 10 * lease_ms < $2")
        .bind(id)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}
