use std::collections::HashMap;

use super::{
    AttachmentRow, AttachmentStatus, Db, DbResult, DiskRow, DiskStatus, Stmt, ATTACHMENT_COLUMNS,
    DISK_COLUMNS,
};

/// describeDisks conditions: ANDed across fields, ORed within one.
#[derive(Debug, Default, Clone)]
pub struct DiskQuery {
    pub pin: String,
    pub region: String,
    pub ids: Vec<String>,
    pub disk_types: Vec<String>,
    pub instance_ids: Vec<String>,
    pub statuses: Vec<String>,
    pub azs: Vec<String>,
    pub names: Vec<String>,
    pub multi_attach: Option<bool>,
    pub encrypted: Option<bool>,
    /// Deleted disks listed (status filter `deleted`) are those deleted after this (ms).
    pub deleted_after: i64,
    pub offset: i64,
    pub limit: i64,
}

pub async fn disk_insert(db: &mut Db, d: &DiskRow) -> DbResult<()> {
    db.execute(Stmt::new("INSERT INTO disks(id, pin, region, az, category, name, description, disk_type, size_gb,
            iops, status, task, top_layer_id, snapshot_id, multi_attachable, encrypted,
            charge_mode, created_at, seq)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)",).bind(&d.id).bind(&d.pin).bind(&d.region).bind(&d.az).bind(&d.category).bind(&d.name).bind(&d.description).bind(&d.disk_type).bind(d.size_gb).bind(d.iops).bind(d.status).bind(&d.task).bind(&d.top_layer_id).bind(&d.snapshot_id).bind(d.multi_attachable).bind(d.encrypted).bind(&d.charge_mode).bind(d.created_at).bind(d.seq)).await?;
    Ok(())
}

/// A cloud disk of this account and region; a `deleted` one (kept only so describeDisk can
/// show it for a while) is gone for every rule.
pub async fn disk_get(db: &mut Db, pin: &str, region: &str, id: &str) -> DbResult<Option<DiskRow>> {
    db.fetch_optional(Stmt::new(format!("SELECT {DISK_COLUMNS} FROM disks WHERE id = $1 AND pin = $2 AND region = $3 AND category = 'cloud' AND status <> 'deleted'",)).bind(id).bind(pin).bind(region)).await
}

/// `disk_get`, a disk deleted after `deleted_after` (ms) included: describeDisk shows it
/// reading `deleted` for the retention window.
pub async fn disk_get_or_deleted(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
    deleted_after: i64,
) -> DbResult<Option<DiskRow>> {
    db.fetch_optional(Stmt::new(format!("SELECT {DISK_COLUMNS} FROM disks WHERE id = $1 AND pin = $2 AND region = $3 AND category = 'cloud'
         AND (status <> 'deleted' OR deleted_at > $4)",)).bind(id).bind(pin).bind(region).bind(deleted_after)).await
}

pub async fn disk_by_id(db: &mut Db, id: &str) -> DbResult<Option<DiskRow>> {
    db.fetch_optional(Stmt::new(format!("SELECT {DISK_COLUMNS} FROM disks WHERE id = $1")).bind(id))
        .await
}

pub async fn disk_list(db: &mut Db, q: &DiskQuery) -> DbResult<(Vec<DiskRow>, i64)> {
    let select = |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "disks", &q.pin, &q.region);
        st.push(" AND category = 'cloud'");
        // Deleted disks are listed only when asked for by status, and only within their
        // retention window.
        if q.statuses.iter().any(|s| s == DiskStatus::Deleted.as_str()) {
            st.push(" AND (status <> 'deleted' OR deleted_at > ")
                .push_bind(q.deleted_after)
                .push(")");
        } else {
            st.push(" AND status <> 'deleted'");
        }
        st.push_in("id", &q.ids)
            .push_in("disk_type", &q.disk_types)
            .push_in("status", &q.statuses)
            .push_in("az", &q.azs)
            .push_like_any("name", &q.names);
        if let Some(m) = q.multi_attach {
            st.push(" AND multi_attachable = ").push_bind(m);
        }
        if let Some(e) = q.encrypted {
            st.push(" AND encrypted = ").push_bind(e);
        }
        if !q.instance_ids.is_empty() {
            st.push(" AND id IN (SELECT disk_id FROM attachments WHERE 1=1")
                .push_in("instance_id", &q.instance_ids)
                .push(")");
        }
        st
    };
    super::list_page(db, select, DISK_COLUMNS, "seq, id", (q.limit, q.offset)).await
}

/// Marks a disk busy with `task` (and a new status) if it is idle and in one of `from`.
pub async fn disk_begin_task(
    db: &mut Db,
    id: &str,
    from: &[DiskStatus],
    task: &str,
    status: DiskStatus,
) -> DbResult<bool> {
    let sets = [("task", task.into()), ("status", status.into())];
    super::guarded_update(db, "disks", id, &sets, true, from).await
}

pub async fn disk_set_state(
    db: &mut Db,
    id: &str,
    status: DiskStatus,
    task: Option<&str>,
) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE disks SET status = $1, task = $2 WHERE id = $3")
            .bind(status)
            .bind(task)
            .bind(id),
    )
    .await?;
    Ok(())
}

/// Lets go of a disk's top layer (a create that failed: the disk holds no data); its
/// former top layer, which the caller collects after the commit.
pub async fn disk_release_layer(db: &mut Db, id: &str) -> DbResult<Option<String>> {
    let top: Option<Option<String>> = db
        .scalar_optional(Stmt::new("SELECT top_layer_id FROM disks WHERE id = $1").bind(id))
        .await?;
    db.execute(Stmt::new("UPDATE disks SET top_layer_id = NULL WHERE id = $1").bind(id))
        .await?;
    Ok(top.flatten())
}

/// Points each disk of `tops` (disk, layer) at its new top layer.
pub async fn disks_set_top_layers(db: &mut Db, tops: &[(String, String)]) -> DbResult<()> {
    if tops.is_empty() {
        return Ok(());
    }
    let mut q = Stmt::new("UPDATE disks SET top_layer_id = CASE id");
    for (disk, layer) in tops {
        q.push(" WHEN ")
            .push_bind(disk.clone())
            .push(" THEN ")
            .push_bind(layer.clone());
    }
    let ids: Vec<String> = tops.iter().map(|(d, _)| d.clone()).collect();
    q.push(" END WHERE id IN ").push_list(&ids);
    db.execute(q).await?;
    Ok(())
}

pub async fn disk_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM disks WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// Cloud disks of the account in the region (local ones count as their instance's).
pub async fn disk_count(db: &mut Db, pin: &str, region: &str) -> DbResult<i64> {
    db.fetch_i64(
        Stmt::new(
            "SELECT COUNT(*) FROM disks WHERE pin = $1 AND region = $2 AND category = 'cloud'
             AND status <> 'deleted'",
        )
        .bind(pin)
        .bind(region),
    )
    .await
}

pub async fn attachment_insert(db: &mut Db, a: &AttachmentRow) -> DbResult<()> {
    db.execute(Stmt::new("INSERT INTO attachments(disk_id, instance_id, device_name, status, auto_delete, attached_at)
         VALUES ($1, $2, $3, $4, $5, $6)",).bind(&a.disk_id).bind(&a.instance_id).bind(&a.device_name).bind(a.status).bind(a.auto_delete).bind(a.attached_at)).await?;
    Ok(())
}

/// The disks of an instance with their attachments, system disk (`vda`) first.
pub async fn attachments_of_instance(
    db: &mut Db,
    instance_id: &str,
) -> DbResult<Vec<(AttachmentRow, DiskRow)>> {
    let mut by_instance = attachments_of_instances(db, &[instance_id.to_string()]).await?;
    Ok(by_instance.remove(instance_id).unwrap_or_default())
}

/// `attachments_of_instance` for many instances at once (a page of describeInstances):
/// two queries whatever the number of instances and disks.
pub async fn attachments_of_instances(
    db: &mut Db,
    instance_ids: &[String],
) -> DbResult<HashMap<String, Vec<(AttachmentRow, DiskRow)>>> {
    if instance_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let atts: Vec<AttachmentRow> = db.fetch_all(attachments_stmt(instance_ids)).await?;
    if atts.is_empty() {
        return Ok(HashMap::new());
    }
    let disks: Vec<DiskRow> = db.fetch_all(disks_stmt(&atts)).await?;
    Ok(pair_attachments(atts, disks))
}

fn attachments_stmt(instance_ids: &[String]) -> Stmt {
    let mut st = Stmt::new(format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE 1=1"
    ));
    st.push_in("instance_id", instance_ids)
        .push(" ORDER BY instance_id, LENGTH(device_name), device_name");
    st
}

fn disks_stmt(atts: &[AttachmentRow]) -> Stmt {
    let disk_ids: Vec<String> = atts.iter().map(|a| a.disk_id.clone()).collect();
    let mut st = Stmt::new(format!("SELECT {DISK_COLUMNS} FROM disks WHERE 1=1"));
    st.push_in("id", &disk_ids);
    st
}

/// Each instance's attachments (in their order) with their disks.
fn pair_attachments(
    atts: Vec<AttachmentRow>,
    disks: Vec<DiskRow>,
) -> HashMap<String, Vec<(AttachmentRow, DiskRow)>> {
    let disks: HashMap<String, DiskRow> = disks.into_iter().map(|d| (d.id.clone(), d)).collect();
    let mut out: HashMap<String, Vec<(AttachmentRow, DiskRow)>> = HashMap::new();
    for a in atts {
        // A disk attached to several instances (multi-attach) appears once per instance.
        let d = match disks.get(&a.disk_id) {
            Some(d) => d.clone(),
            None => continue,
        };
        out.entry(a.instance_id.clone()).or_default().push((a, d));
    }
    out
}

pub async fn attachments_of_disk(db: &mut Db, disk_id: &str) -> DbResult<Vec<AttachmentRow>> {
    db.fetch_all(
        Stmt::new(format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE disk_id = $1 ORDER BY attached_at"
        ))
        .bind(disk_id),
    )
    .await
}

pub async fn attachment_set_status(
    db: &mut Db,
    disk_id: &str,
    instance_id: &str,
    status: AttachmentStatus,
) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE attachments SET status = $1 WHERE disk_id = $2 AND instance_id = $3")
            .bind(status)
            .bind(disk_id)
            .bind(instance_id),
    )
    .await?;
    Ok(())
}

pub async fn attachment_delete(db: &mut Db, disk_id: &str, instance_id: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM attachments WHERE disk_id = $1 AND instance_id = $2")
            .bind(disk_id)
            .bind(instance_id),
    )
    .await?;
    Ok(())
}

/// Clears the disk's task `task`, leaving the status as it is.
pub async fn disk_clear_task(db: &mut Db, id: &str, task: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE disks SET task = NULL WHERE id = $1 AND task = $2")
            .bind(id)
            .bind(task),
    )
    .await?;
    Ok(())
}

/// Clears the underlay task `task` of every disk of `ids`.
pub async fn disks_clear_task(db: &mut Db, ids: &[String], task: &str) -> DbResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut st = Stmt::new("UPDATE disks SET task = NULL WHERE task = ");
    st.push_bind(task).push_in("id", ids);
    db.execute(st).await?;
    Ok(())
}

/// Sets `task` on those of `ids` that are idle; whether all of them were (and now have it).
pub async fn disks_set_task(db: &mut Db, ids: &[String], task: &str) -> DbResult<bool> {
    if ids.is_empty() {
        return Ok(true);
    }
    let mut q = Stmt::new("UPDATE disks SET task = ");
    q.push_bind(task.to_string())
        .push(" WHERE task IS NULL AND id IN ")
        .push_list(ids);
    Ok(db.execute(q).await? == ids.len() as u64)
}

/// Sets the task on an idle disk without changing its status.
pub async fn disk_set_task(
    db: &mut Db,
    id: &str,
    from: &[DiskStatus],
    task: &str,
) -> DbResult<bool> {
    super::guarded_update(db, "disks", id, &[("task", task.into())], true, from).await
}

/// Total GiB of local disks in the account and region.
pub async fn local_disk_gb(db: &mut Db, pin: &str, region: &str) -> DbResult<i64> {
    db.scalar(
        Stmt::new(
            "SELECT CAST(COALESCE(SUM(size_gb), 0) AS BIGINT) FROM disks
         WHERE pin = $1 AND region = $2 AND category = 'local'",
        )
        .bind(pin)
        .bind(region),
    )
    .await
}

/// modifyInstanceDiskAttribute: whether the disk goes with the instance.
pub async fn attachment_set_auto_delete(
    db: &mut Db,
    disk_id: &str,
    instance_id: &str,
    auto_delete: bool,
) -> DbResult<()> {
    let st = Stmt::new(
        "UPDATE attachments SET auto_delete = $1 WHERE disk_id = $2 AND instance_id = $3",
    )
    .bind(auto_delete)
    .bind(disk_id)
    .bind(instance_id);
    db.execute(st).await?;
    Ok(())
}

/// rebuildInstance: the disk's new top layer and size.
pub async fn disk_set_top_layer(
    db: &mut Db,
    id: &str,
    layer_id: &str,
    size_gb: i64,
) -> DbResult<()> {
    let st = Stmt::new("UPDATE disks SET top_layer_id = $1, size_gb = $2 WHERE id = $3")
        .bind(layer_id)
        .bind(size_gb)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// deleteDisk done at `now` (ms): the disk reads `deleted`, holds no layer and is idle
/// until purged. Its former top layer, which the caller collects after the commit.
pub async fn disk_mark_deleted(db: &mut Db, id: &str, now: i64) -> DbResult<Option<String>> {
    let old = disk_release_layer(db, id).await?;
    let st = Stmt::new("UPDATE disks SET status = $1, task = NULL, deleted_at = $2 WHERE id = $3")
        .bind(DiskStatus::Deleted)
        .bind(now)
        .bind(id);
    db.execute(st).await?;
    Ok(old)
}

/// Removes the disks deleted at or before `deleted_before` (ms): their retention is over.
pub async fn disks_purge_deleted(db: &mut Db, deleted_before: i64) -> DbResult<u64> {
    db.execute(
        Stmt::new("DELETE FROM disks WHERE status = 'deleted' AND deleted_at <= $1")
            .bind(deleted_before),
    )
    .await
}

/// modifyDiskAttribute: the new name and/or description (`None` keeps the current one).
pub async fn disk_set_attributes(
    db: &mut Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
) -> DbResult<()> {
    super::set_name_and_description(db, "disks", id, name, description).await
}

/// extendDisk done: the disk's new size and IOPS.
pub async fn disk_set_size(db: &mut Db, id: &str, size_gb: i64, iops: i64) -> DbResult<()> {
    let st = Stmt::new("UPDATE disks SET size_gb = $1, iops = $2 WHERE id = $3")
        .bind(size_gb)
        .bind(iops)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// A detachment that just ended, shown as `detached` until `detached_at` + the retention
/// (see `recent_detachments_of`); older records are purged on the way.
pub async fn recent_detachment_record(
    db: &mut Db,
    a: &AttachmentRow,
    now: i64,
    purge_before: i64,
) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM recent_detachments WHERE detached_at < $1").bind(purge_before),
    )
    .await?;
    let st = Stmt::new(
        "INSERT INTO recent_detachments(disk_id, instance_id, device_name, auto_delete, detached_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (disk_id, instance_id) DO UPDATE
           SET device_name = excluded.device_name, auto_delete = excluded.auto_delete,
               detached_at = excluded.detached_at",
    )
    .bind(&a.disk_id)
    .bind(&a.instance_id)
    .bind(&a.device_name)
    .bind(a.auto_delete)
    .bind(now);
    db.execute(st).await?;
    Ok(())
}

/// The instance's disks detached since `since` and not attached to it again, as `detached`
/// attachments with their disks (a disk deleted meanwhile is left out).
pub async fn recent_detachments_of(
    db: &mut Db,
    instance_id: &str,
    since: i64,
) -> DbResult<Vec<(AttachmentRow, DiskRow)>> {
    let rows: Vec<(String, String, bool, i64)> = db
        .fetch_all(
            Stmt::new(
                "SELECT r.disk_id, r.device_name, r.auto_delete, r.detached_at
                 FROM recent_detachments r
                 WHERE r.instance_id = $1 AND r.detached_at >= $2
                   AND NOT EXISTS (SELECT 1 FROM attachments a
                                   WHERE a.disk_id = r.disk_id AND a.instance_id = r.instance_id)
                 ORDER BY LENGTH(r.device_name), r.device_name",
            )
            .bind(instance_id)
            .bind(since),
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (disk_id, device_name, auto_delete, detached_at) in rows {
        if let Some(d) = disk_by_id(db, &disk_id).await? {
            let a = AttachmentRow {
                disk_id,
                instance_id: instance_id.to_string(),
                device_name,
                status: AttachmentStatus::Detached,
                auto_delete,
                attached_at: detached_at,
            };
            out.push((a, d));
        }
    }
    Ok(out)
}

pub async fn recent_detachments_clear(db: &mut Db, instance_id: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM recent_detachments WHERE instance_id = $1").bind(instance_id),
    )
    .await?;
    Ok(())
}
