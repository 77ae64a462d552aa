use super::{Db, DbResult, SnapshotRow, SnapshotStatus, Stmt, SNAPSHOT_COLUMNS};

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

pub async fn snapshot_insert(db: &mut Db, s: &SnapshotRow) -> DbResult<()> {
    db.execute(
        Stmt::new(
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
        .bind(s.status)
        .bind(s.size_gb)
        .bind(&s.layer_id)
        .bind(s.encrypted)
        .bind(s.created_at)
        .bind(s.seq)
        .bind(&s.made_for_image),
    )
    .await?;
    Ok(())
}

/// Inserts `rows` in one statement.
pub async fn snapshot_insert_many(db: &mut Db, rows: &[SnapshotRow]) -> DbResult<()> {
    if rows.is_empty() {
        return Ok(());
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
                .bind(s.status)
                .bind(s.size_gb)
                .bind(s.layer_id.clone())
                .bind(s.encrypted)
                .bind(s.created_at)
                .bind(s.seq)
                .bind(s.made_for_image.clone());
        });
    }
    db.execute(q).await?;
    Ok(())
}

/// Moves every snapshot of `ids` that is in `from` to `status`; how many moved.
pub async fn snapshots_transition(
    db: &mut Db,
    ids: &[String],
    from: SnapshotStatus,
    status: SnapshotStatus,
) -> DbResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut st = Stmt::new("UPDATE snapshots SET status = ");
    st.push_bind(status)
        .push(" WHERE status = ")
        .push_bind(from)
        .push_in("id", ids);
    db.execute(st).await
}

pub async fn snapshot_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<SnapshotRow>> {
    let mut q = Stmt::new(format!(
        "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = "
    ));
    q.push_bind(id)
        .push(" AND pin = ")
        .push_bind(pin)
        .push(" AND region = ")
        .push_bind(region);
    db.fetch_optional(q).await
}

pub async fn snapshot_by_id(db: &mut Db, id: &str) -> DbResult<Option<SnapshotRow>> {
    db.fetch_optional(
        Stmt::new(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = $1"
        ))
        .bind(id),
    )
    .await
}

pub async fn snapshot_list(db: &mut Db, q: &SnapshotQuery) -> DbResult<(Vec<SnapshotRow>, i64)> {
    let select = |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "snapshots", &q.pin, &q.region);
        st.push_in("id", &q.ids)
            .push_in("disk_id", &q.disk_ids)
            .push_in("status", &q.statuses)
            .push_like_any("name", &q.names);
        st
    };
    super::list_page(db, select, SNAPSHOT_COLUMNS, "seq, id", (q.limit, q.offset)).await
}

pub async fn snapshot_set_layer(db: &mut Db, id: &str, layer_id: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE snapshots SET layer_id = $1 WHERE id = $2")
            .bind(layer_id)
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Moves a snapshot to `status` only from one of `from`; false if it was not there.
pub async fn snapshot_transition(
    db: &mut Db,
    id: &str,
    from: &[SnapshotStatus],
    status: SnapshotStatus,
) -> DbResult<bool> {
    super::guarded_update(
        db,
        "snapshots",
        id,
        &[("status", status.into())],
        false,
        from,
    )
    .await
}

pub async fn snapshot_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM snapshots WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// Private images whose block-device mapping names the snapshot.
pub async fn snapshot_image_ids(db: &mut Db, snapshot_id: &str) -> DbResult<Vec<String>> {
    let pattern = format!("%\"{snapshot_id}\"%");
    db.scalar_all(
        Stmt::new(
            "SELECT id FROM images WHERE snapshot_id = $1 OR block_devices LIKE $2 ORDER BY seq",
        )
        .bind(snapshot_id)
        .bind(pattern),
    )
    .await
}

/// modifySnapshotAttribute: the new name and/or description (`None` keeps the current one).
pub async fn snapshot_set_attributes(
    db: &mut Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> DbResult<()> {
    super::set_name_and_description(db, "snapshots", id, name, description).await
}

/// The snapshots of one disk in the account and region, oldest first: its snapshot chain.
pub async fn snapshots_of_disk(
    db: &mut Db,
    pin: &str,
    region: &str,
    disk_id: &str,
) -> DbResult<Vec<SnapshotRow>> {
    db.fetch_all(
        Stmt::new(format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots
             WHERE pin = $1 AND region = $2 AND disk_id = $3 ORDER BY seq, id"
        ))
        .bind(pin)
        .bind(region)
        .bind(disk_id),
    )
    .await
}
