use super::{Db, DbResult, LayerRow, Stmt, LAYER_COLUMNS};

pub async fn layer_insert(db: &mut Db, l: &LayerRow) -> DbResult<()> {
    db.execute(
        Stmt::new(
            "INSERT INTO layers(id, backing_id, size_bytes, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&l.id)
        .bind(&l.backing_id)
        .bind(l.size_bytes)
        .bind(l.created_at),
    )
    .await?;
    Ok(())
}

/// Inserts `rows` in one statement.
pub async fn layer_insert_many(db: &mut Db, rows: &[LayerRow]) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
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
    db.execute(q).await?;
    Ok(())
}

pub async fn layer_get(db: &mut Db, id: &str) -> DbResult<Option<LayerRow>> {
    db.fetch_optional(
        Stmt::new(format!("SELECT {LAYER_COLUMNS} FROM layers WHERE id = $1")).bind(id),
    )
    .await
}

/// True when a disk, snapshot, image or another layer still depends on the layer.
pub async fn layer_is_referenced(db: &mut Db, id: &str) -> DbResult<bool> {
    let n: i64 = db
        .scalar(
            Stmt::new(
                "SELECT (SELECT COUNT(*) FROM disks WHERE top_layer_id = $1)
              + (SELECT COUNT(*) FROM snapshots WHERE layer_id = $1)
              + (SELECT COUNT(*) FROM images WHERE layer_id = $1)
              + (SELECT COUNT(*) FROM layers WHERE backing_id = $1)",
            )
            .bind(id),
        )
        .await?;
    Ok(n > 0)
}

pub async fn layer_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM layers WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

pub async fn layer_ids(db: &mut Db) -> DbResult<Vec<String>> {
    db.scalar_all(Stmt::new("SELECT id FROM layers ORDER BY id"))
        .await
}

/// Layers nothing depends on (no disk, snapshot, image or layer names them), in one
/// set-based query: the start-up sweep's candidates, without a probe per layer.
pub async fn layer_unreferenced(db: &mut Db) -> DbResult<Vec<String>> {
    db.scalar_all(Stmt::new(
        "SELECT l.id FROM layers l
         WHERE NOT EXISTS (SELECT 1 FROM disks d WHERE d.top_layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM images i WHERE i.layer_id = l.id)
           AND NOT EXISTS (SELECT 1 FROM layers b WHERE b.backing_id = l.id)
         ORDER BY l.id",
    ))
    .await
}

/// The layer `top` and every layer under it, top first: the files a reader of `top` sees.
pub async fn layer_chain(db: &mut Db, top: &str) -> DbResult<Vec<String>> {
    db.scalar_all(Stmt::new("WITH RECURSIVE chain(id, backing_id, depth) AS (
             SELECT id, backing_id, 0 FROM layers WHERE id = $1
             UNION ALL
             SELECT l.id, l.backing_id, c.depth + 1 FROM layers l JOIN chain c ON l.id = c.backing_id
         )
         SELECT id FROM chain ORDER BY depth",).bind(top)).await
}

/// A layer's virtual size after a resize (what re-creating its file would use).
pub async fn layer_set_size(db: &mut Db, id: &str, size_bytes: i64) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE layers SET size_bytes = $1 WHERE id = $2")
            .bind(size_bytes)
            .bind(id),
    )
    .await?;
    Ok(())
}
