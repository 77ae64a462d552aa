//! Queries for `kiln admin fsck`: what metadata references, and what is marked busy or in
//! transition without a task to finish it.
use super::{Db, DbResult, Stmt};

/// Every layer id some disk, snapshot, image or layer depends on.
pub async fn referenced_layers(db: &mut Db) -> DbResult<Vec<String>> {
    db.scalar_all(Stmt::new(
        "SELECT top_layer_id FROM disks WHERE top_layer_id IS NOT NULL
         UNION SELECT layer_id FROM snapshots WHERE layer_id IS NOT NULL
         UNION SELECT layer_id FROM images WHERE layer_id IS NOT NULL
         UNION SELECT backing_id FROM layers WHERE backing_id IS NOT NULL",
    ))
    .await
}

/// `(table, id, marker)` for rows busy or in a transitional status while no pending task
/// names them (as target or in its payload).
pub async fn stuck_rows(db: &mut Db) -> DbResult<Vec<(String, String, String)>> {
    const ORPHANED: &str = "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.state = 'pending'
          AND (t.target_id = x.id OR t.payload LIKE '%\"' || x.id || '\"%'))";
    let mut out = Vec::new();
    for (table, cond) in [
        ("instances", "x.task IS NOT NULL OR x.status IN ('pending','starting','stopping','rebooting','deleting')"),
        ("disks", "x.task IS NOT NULL OR x.status IN ('creating','deleting','extending','restoring')"),
        ("snapshots", "x.status IN ('creating','deleting')"),
        ("images", "x.status IN ('pending','deleting')"),
    ] {
        let task_col = if table == "instances" || table == "disks" { "COALESCE(x.task, '')" } else { "''" };
        let rows: Vec<(String, String, String)> = db.fetch_all(Stmt::new(format!(
            "SELECT '{table}', x.id, x.status || CASE WHEN {task_col} = '' THEN '' ELSE ' (task ' || {task_col} || ')' END
             FROM {table} x WHERE ({cond}) AND {ORPHANED}"
        ))).await?;
        out.extend(rows);
    }
    Ok(out)
}

/// Snapshots that say `available` but hold no layer; ready images whose data is missing.
pub async fn hollow_rows(db: &mut Db) -> DbResult<Vec<(String, String)>> {
    db.fetch_all(Stmt::new("SELECT 'snapshot', id FROM snapshots WHERE status = 'available' AND layer_id IS NULL
         UNION ALL
         SELECT 'image', i.id FROM images i WHERE i.status = 'ready' AND i.pin <> ''
           AND ((i.root_device_type = 'localDisk' AND i.layer_id IS NULL)
             OR (i.root_device_type = 'cloudDisk' AND NOT EXISTS
                  (SELECT 1 FROM snapshots s WHERE s.id = i.snapshot_id AND s.layer_id IS NOT NULL)))",)).await
}

/// Marks a stuck row failed and idle, in the error status of its kind.
pub async fn mark_stuck_failed(db: &mut Db, table: &str, id: &str) -> DbResult<()> {
    let sql = match table {
        "instances" => "UPDATE instances SET status = 'error', task = NULL WHERE id = $1",
        "disks" => {
            "UPDATE disks SET task = NULL, status = CASE status WHEN 'creating' THEN 'error_create'
                 WHEN 'deleting' THEN 'error_delete' WHEN 'extending' THEN 'error_extend'
                 WHEN 'restoring' THEN 'error_restore' ELSE status END WHERE id = $1"
        }
        "snapshots" => {
            "UPDATE snapshots SET status = CASE status WHEN 'creating' THEN 'error_create'
                 ELSE 'error_delete' END WHERE id = $1"
        }
        _ => "UPDATE images SET status = 'error' WHERE id = $1",
    };
    db.execute(Stmt::new(sql).bind(id)).await?;
    Ok(())
}

/// `(kind, pin, region, source, recorded, actual)` for every counter of `resource_counts`
/// that disagrees with the rows it counts (triggers keep them equal; this is the proof).
pub async fn miscounted(db: &mut Db) -> DbResult<Vec<(String, String, String, String, i64, i64)>> {
    db.fetch_all(Stmt::new(
        "WITH actual AS (
             SELECT 'image' AS kind, pin, region, image_source AS source, COUNT(*) AS n
               FROM images GROUP BY pin, region, image_source
             UNION ALL
             SELECT 'snapshot', pin, region, '', COUNT(*) FROM snapshots GROUP BY pin, region)
         SELECT a.kind, a.pin, a.region, a.source, CAST(COALESCE(c.n, 0) AS BIGINT),
                CAST(a.n AS BIGINT)
           FROM actual a LEFT JOIN resource_counts c ON c.kind = a.kind AND c.pin = a.pin
                AND c.region = a.region AND c.source = a.source
          WHERE COALESCE(c.n, 0) <> a.n
         UNION ALL
         SELECT c.kind, c.pin, c.region, c.source, CAST(c.n AS BIGINT), CAST(0 AS BIGINT)
           FROM resource_counts c
          WHERE c.n <> 0 AND NOT EXISTS (SELECT 1 FROM actual a WHERE a.kind = c.kind
                AND a.pin = c.pin AND a.region = c.region AND a.source = c.source)",
    ))
    .await
}

/// Recounts `resource_counts` from the rows.
pub async fn recount(db: &mut Db) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM resource_counts")).await?;
    db.execute(Stmt::new(
        "INSERT INTO resource_counts(kind, pin, region, source, n)
             SELECT 'image', pin, region, image_source, COUNT(*) FROM images
              GROUP BY pin, region, image_source
         UNION ALL
             SELECT 'snapshot', pin, region, '', COUNT(*) FROM snapshots GROUP BY pin, region",
    ))
    .await?;
    Ok(())
}
