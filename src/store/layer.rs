use super::{Conn, DbResult, LayerRow};

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

pub async fn layer_get(conn: &mut Conn, id: &str) -> DbResult<Option<LayerRow>> {
    sqlx::query_as("SELECT * FROM layers WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
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
