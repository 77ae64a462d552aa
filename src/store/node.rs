//! Live nodes of a cluster (one row per running `kiln serve`).
use super::{now_ms, Db, DbResult, Stmt};

/// Records (or renews) this node as live. A row of another id at the same `addr` (host
/// and listener) is this node's dead predecessor — two live processes cannot hold one
/// listener — and is removed.
pub async fn node_beat(db: &mut Db, id: &str, addr: &str, lease_ms: i64) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM nodes WHERE addr = $1 AND id <> $2")
            .bind(addr)
            .bind(id),
    )
    .await?;
    db.execute(
        Stmt::new(
            "INSERT INTO nodes(id, addr, seen_at, lease_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, addr = excluded.addr",
        )
        .bind(id)
        .bind(addr)
        .bind(now_ms())
        .bind(lease_ms),
    )
    .await?;
    Ok(())
}

/// Other nodes seen within their lease.
pub async fn nodes_alive_except(db: &mut Db, id: &str) -> DbResult<i64> {
    db.scalar(
        Stmt::new("SELECT COUNT(*) FROM nodes WHERE id <> $1 AND seen_at + lease_ms > $2")
            .bind(id)
            .bind(now_ms()),
    )
    .await
}

/// Removes this node's row (clean stop) and rows of nodes long dead.
pub async fn node_leave(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM nodes WHERE id = $1 OR seen_at + 10 * lease_ms < $2")
            .bind(id)
            .bind(now_ms()),
    )
    .await?;
    Ok(())
}

/// Renews this node's row (its address as recorded).
pub async fn node_touch(db: &mut Db, id: &str) -> DbResult<()> {
    let st = Stmt::new("UPDATE nodes SET seen_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(id);
    db.execute(st).await?;
    Ok(())
}
