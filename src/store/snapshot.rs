use super::{Conn, DbResult, SnapshotRow, Stmt, SNAPSHOT_COLUMNS};

#[derive(Debug, Default, Clone)]
pub struct SnapshotQuery {
    pub pin: String,
    pub region: String,
    pub ids: Vec<String>,
    pub disk_ids: Vec<String>,
    pub statuses: Vec<String>,
    pub names: Vec<String>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn snapshot_insert(conn: &mut Conn, s: &SnapshotRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO snapshots(id, pin, region, disk_id, name, description, status, size_gb,
            layer_id, encrypted, created_at, seq, made_for_image)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&s.id)
    .bind(&s.pin)
    .bind(&s.region)
    .bind(&s.disk_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.status)
    .bind(s.size_gb)
    .bind(&s.layer_id)
    .bind(s.encrypted)
    .bind(s.created_at)
    .bind(s.seq)
    .bind(&s.made_for_image)
    .execute(conn)
    .await?;
    Ok(())
}

/// The insert of `rows` (none for no rows); it changes `rows.len()` rows.
pub fn snapshot_insert_many_stmt(rows: &[SnapshotRow]) -> Option<Stmt> {
    if rows.is_empty() {
        return None;
    }
    let mut q = Stmt::new(
        "INSERT INTO snapshots(id, pin, region, disk_id, name, description, status, size_gb,
            layer_id, encrypted, created_at, seq, made_for_image) VALUES ",
    );
    for (i, s) in rows.iter().enumerate() {
        q.push(if i == 0 { "" } else { ", " });
        q.push_tuple(|t| {
            t.bind(s.id.clone())
                .bind(s.pin.clone())
                .bind(s.region.clone())
                .bind(s.disk_id.clone())
                .bind(s.name.clone())
                .bind(s.description.clone())
                .bind(s.status.clone())
                .bind(s.size_gb)
                .bind(s.layer_id.clone())
                .bind(s.encrypted)
                .bind(s.created_at)
                .bind(s.seq)
                .bind(s.made_for_image.clone());
        });
    }
    Some(q)
}

/// Moves every snapshot of `ids` that is in `from` to `status`; how many moved.
pub async fn snapshots_transition(
    conn: &mut Conn,
    ids: &[String],
    from: &str,
    status: &str,
) -> DbResult<u64> {
    match snapshots_transition_stmt(ids, from, status) {
        Some(st) => st.execute(conn).await,
        None => Ok(0),
    }
}

/// [`snapshots_transition`] as a statement (none for no snapshots).
pub fn snapshots_transition_stmt(ids: &[String], from: &str, status: &str) -> Option<Stmt> {
    if ids.is_empty() {
        return None;
    }
    let mut st = Stmt::new("UPDATE snapshots SET status = ");
    st.push_bind(status)
        .push(" WHERE status = ")
        .push_bind(from)
        .push_in("id", ids);
    Some(st)
}

pub async fn snapshot_get(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<SnapshotRow>> {
    Ok(snapshot_get_stmt(pin, region, id)
        .fetch_all(conn)
        .await?
        .into_iter()
        .next())
}

/// [`snapshot_get`] as a statement.
pub fn snapshot_get_stmt(pin: &str, region: &str, id: &str) -> Stmt {
    let mut q = Stmt::new(format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = "
    ));
    q.push_bind(id)
        .push(" AND pin = ")
        .push_bind(pin)
        .push(" AND region = ")
        .push_bind(region);
    q
}

pub async fn snapshot_by_id(conn: &mut Conn, id: &str) -> DbResult<Option<SnapshotRow>> {
    sqlx::query_as("SELECT * FROM snapshots WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn snapshot_list(
    conn: &mut Conn,
    q: &SnapshotQuery,
) -> DbResult<(Vec<SnapshotRow>, i64)> {
    let select = |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "snapshots", &q.pin, &q.region);
        st.push_in("id", &q.ids)
            .push_in("disk_id", &q.disk_ids)
            .push_in("status", &q.statuses)
            .push_like_any("name", &q.names);
        st
    };
    super::list_page(conn, select, "*", "seq, id", (q.limit, q.offset)).await
}

pub async fn snapshot_set_layer(conn: &mut Conn, id: &str, layer_id: &str) -> DbResult<()> {
    sqlx::query("UPDATE snapshots SET layer_id = $1 WHERE id = $2")
        .bind(layer_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a snapshot to `status` only from one of `from`; false if it was not there.
pub async fn snapshot_transition(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    status: &str,
) -> DbResult<bool> {
    super::guarded_update(
        conn,
        "snapshots",
        id,
        &[("status", Some(status))],
        false,
        from,
    )
    .await
}

pub async fn snapshot_delete(conn: &mut Conn, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM snapshots WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Private images whose block-device mapping names the snapshot.
pub async fn snapshot_image_ids(conn: &mut Conn, snapshot_id: &str) -> DbResult<Vec<String>> {
    let pattern = format!("%\"{snapshot_id}\"%");
    sqlx::query_scalar(
        "SELECT id FROM images WHERE snapshot_id = $1 OR block_devices LIKE $2 ORDER BY seq",
    )
    .bind(snapshot_id)
    .bind(pattern)
    .fetch_all(conn)
    .await
}
