use super::{Conn, DbResult, LayerRow, Stmt, LAYER_COLUMNS};

pub async fn layer_insert(conn: &mut Conn, l: &LayerRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO layers(id, backing_id, size_bytes, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&l.id)
    .bind(&l.backing_id)
    .bind(l.size_bytes)
    .bind(l.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The insert of `rows` (none for no rows); it changes `rows.len()` rows.
pub fn layer_insert_many_stmt(rows: &[LayerRow]) -> Option<Stmt> {
    if rows.is_empty() {
        return None;
    }
    let mut q = Stmt::new("INSERT INTO layers(id, backing_id, size_bytes, created_at) VALUES ");
    for (i, l) in rows.iter().enumerate() {
        q.push(if i == 0 { "" } else { ", " });
        q.push_tuple(|t| {
            t.bind(l.id.clone())
                .bind(l.backing_id.clone())
                .bind(l.size_bytes)
                .bind(l.created_at);
        });
    }
    Some(q)
}

pub async fn layer_get(conn: &mut Conn, id: &str) -> DbResult<Option<LayerRow>> {
    Ok(layer_get_stmt(id).fetch_all(conn).await?.into_iter().next())
}

/// [`layer_get`] as a statement.
pub fn layer_get_stmt(id: &str) -> Stmt {
    Stmt::new(format!("SELECT {LAYER_COLUMNS} FROM layers WHERE id = $1")).bind(id)
}

/// True when a disk, snapshot, image or another layer still depends on the layer.
pub async fn layer_is_referenced(conn: &mut Conn, id: &str) -> DbResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM disks WHERE top_layer_id = $1)
              + (SELECT COUNT(*) FROM snapshots WHERE layer_id = $1)
              + (SELECT COUNT(*) FROM images WHERE layer_id = $1)
              + (SELECT COUNT(*) FROM layers WHERE backing_id = $1)",
    )
    .bind(id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

pub async fn layer_delete(conn: &mut Conn, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM layers WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn layer_ids(conn: &mut Conn) -> DbResult<Vec<String>> {
    sqlx::query_scalar("SELECT id FROM layers ORDER BY id")
        .fetch_all(conn)
        .await
}

/// Layers nothing depends on (no disk, snapshot, image or layer names them), in one
/// set-based query: the start-up sweep's candidates, without a probe per layer.
pub async fn layer_unreferenced(conn: &mut Conn) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "SELECT l.id FROM layers l
         WHERE NOT EXISTS (SELECT 1 FROM disks d WHERE d.top_layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM images i WHERE i.layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM layers b WHERE b.backing_id = l.id)
         ORDER BY l.id",
    )
    .fetch_all(conn)
    .await
}

/// The layer `top` and every layer under it, top first: the files a reader of `top` sees.
pub async fn layer_chain(conn: &mut Conn, top: &str) -> DbResult<Vec<String>> {
    sqlx::query_scalar(
        "WITH RECURSIVE chain(id, backing_id, depth) AS (
             SELECT id, backing_id, 0 FROM layers WHERE id = $1
             UNION ALL
             SELECT l.id, l.backing_id, c.depth + 1 FROM layers l JOIN chain c ON l.id = c.backing_id
         )
         SELECT id FROM chain ORDER BY depth",
    )
    .bind(top)
    .fetch_all(conn)
    .await
}
