use super::{
    AttachmentRow, Db, DbResult, DiskRow, InstanceRow, InstanceStatus, Stmt, INSTANCE_COLUMNS,
};

/// describeInstances conditions: ANDed across fields, ORed within one.
#[derive(Debug, Default, Clone)]
pub struct InstanceQuery {
    pub pin: String,
    pub region: String,
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    pub azs: Vec<String>,
    pub names: Vec<String>,
    pub private_ips: Vec<String>,
    pub image_ids: Vec<String>,
    pub instance_types: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub vpc_ids: Vec<String>,
    pub elastic_ip_addresses: Vec<String>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn instance_insert(db: &mut Db, i: &InstanceRow) -> DbResult<()> {
    db.execute(
        Stmt::new(
            "INSERT INTO instances(id, pin, region, az, name, hostname, description, instance_type,
            image_id, status, task, private_ip, primary_nic, charge_mode, charge_on_stopped,
            created_at, seq, vpc_id, subnet_id, elastic_ip_id, elastic_ip_address, key_names)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)",
        )
        .bind(&i.id)
        .bind(&i.pin)
        .bind(&i.region)
        .bind(&i.az)
        .bind(&i.name)
        .bind(&i.hostname)
        .bind(&i.description)
        .bind(&i.instance_type)
        .bind(&i.image_id)
        .bind(i.status)
        .bind(&i.task)
        .bind(&i.private_ip)
        .bind(&i.primary_nic)
        .bind(&i.charge_mode)
        .bind(&i.charge_on_stopped)
        .bind(i.created_at)
        .bind(i.seq)
        .bind(&i.vpc_id)
        .bind(&i.subnet_id)
        .bind(&i.elastic_ip_id)
        .bind(&i.elastic_ip_address)
        .bind(&i.key_names),
    )
    .await?;
    Ok(())
}

/// The instance if it exists in this account and region.
pub async fn instance_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<InstanceRow>> {
    let st = Stmt::new(format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1 AND pin = $2 AND region = $3"
    ))
    .bind(id)
    .bind(pin)
    .bind(region);
    db.fetch_optional(st).await
}

/// The instance by id, whichever account it is in (for task steps).
pub async fn instance_by_id(db: &mut Db, id: &str) -> DbResult<Option<InstanceRow>> {
    let st = Stmt::new(format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1"
    ))
    .bind(id);
    db.fetch_optional(st).await
}

pub async fn instance_list(db: &mut Db, q: &InstanceQuery) -> DbResult<(Vec<InstanceRow>, i64)> {
    let page = (q.limit, q.offset);
    super::list_page(db, instance_select(q), INSTANCE_COLUMNS, "seq, id", page).await
}

/// describeInstances' query for `cols`, every condition of `q` applied.
fn instance_select(q: &InstanceQuery) -> impl Fn(&str) -> Stmt + '_ {
    move |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "instances", &q.pin, &q.region);
        st.push_in("id", &q.ids)
            .push_in("status", &q.statuses)
            .push_in("az", &q.azs)
            .push_in("image_id", &q.image_ids)
            .push_in("instance_type", &q.instance_types)
            .push_like_any("name", &q.names)
            .push_like_any("private_ip", &q.private_ips)
            .push_in("subnet_id", &q.subnet_ids)
            .push_in("vpc_id", &q.vpc_ids)
            .push_in("elastic_ip_address", &q.elastic_ip_addresses);
        st
    }
}

/// Starts an underlay task: sets `task` and the transitional status only if the instance
/// is idle and in one of `from`. Returns false when someone else got there first.
pub async fn instance_begin_task(
    db: &mut Db,
    id: &str,
    from: &[InstanceStatus],
    task: &str,
    status: InstanceStatus,
) -> DbResult<bool> {
    let sets = [("task", task.into()), ("status", status.into())];
    super::guarded_update(db, "instances", id, &sets, true, from).await
}

/// Ends the underlay task `task` with a final status.
pub async fn instance_end_task(
    db: &mut Db,
    id: &str,
    task: &str,
    status: InstanceStatus,
) -> DbResult<bool> {
    let r = db
        .execute(
            Stmt::new("UPDATE instances SET status = $1, task = NULL WHERE id = $2 AND task = $3")
                .bind(status)
                .bind(id)
                .bind(task),
        )
        .await?;
    Ok(r == 1)
}

pub async fn instance_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM instances WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

pub async fn instance_count(db: &mut Db, pin: &str, region: &str) -> DbResult<i64> {
    let st = Stmt::new("SELECT COUNT(*) FROM instances WHERE pin = $1 AND region = $2")
        .bind(pin)
        .bind(region);
    db.fetch_i64(st).await
}

/// Clears the underlay task `task`, leaving the status as it is.
pub async fn instance_clear_task(db: &mut Db, id: &str, task: &str) -> DbResult<()> {
    let st = Stmt::new("UPDATE instances SET task = NULL WHERE id = $1 AND task = $2")
        .bind(id)
        .bind(task);
    db.execute(st).await?;
    Ok(())
}

/// Marks an instance failed (`error`) and idle.
pub async fn instance_set_error(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(
        Stmt::new("UPDATE instances SET status = 'error', task = NULL WHERE id = $1").bind(id),
    )
    .await?;
    Ok(())
}

/// Starts an underlay task without changing the status (attach, detach, createImage):
/// only if the instance is idle and its status is one of `from`.
pub async fn instance_set_task(
    db: &mut Db,
    id: &str,
    from: &[InstanceStatus],
    task: &str,
) -> DbResult<bool> {
    super::guarded_update(db, "instances", id, &[("task", task.into())], true, from).await
}

/// Instance types of every instance in the account and region (for cpu/memory quotas).
pub async fn instance_types_in_use(db: &mut Db, pin: &str, region: &str) -> DbResult<Vec<String>> {
    db.scalar_all(
        Stmt::new("SELECT instance_type FROM instances WHERE pin = $1 AND region = $2")
            .bind(pin)
            .bind(region),
    )
    .await
}

/// An instance with its attachments and their disks (in device order).
pub type InstanceWithDisks = (InstanceRow, Vec<(AttachmentRow, DiskRow)>);

/// The caller's instance `id` with its attachments and their disks.
pub async fn instance_with_disks(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<InstanceWithDisks>> {
    let Some(inst) = instance_get(db, pin, region, id).await? else {
        return Ok(None);
    };
    Ok(Some((
        inst,
        super::disk::attachments_of_instance(db, id).await?,
    )))
}

/// A page of describeInstances, each instance with its disks (the page's disks in two
/// queries, not a query per instance), and how many instances match.
pub async fn instance_page(
    db: &mut Db,
    q: &InstanceQuery,
) -> DbResult<(Vec<InstanceWithDisks>, i64)> {
    let (rows, total) = instance_list(db, q).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut disks = super::disk::attachments_of_instances(db, &ids).await?;
    let page = rows
        .into_iter()
        .map(|r| {
            let d = disks.remove(&r.id).unwrap_or_default();
            (r, d)
        })
        .collect();
    Ok((page, total))
}

/// modifyInstanceAttribute: each `Some` replaces its column.
pub async fn instance_set_attributes(
    db: &mut Db,
    id: &str,
    name: Option<&str>,
    description: Option<&str>,
    hostname: Option<&str>,
) -> DbResult<()> {
    let st = Stmt::new(
        "UPDATE instances SET name = COALESCE($1, name),
           description = COALESCE($2, description), hostname = COALESCE($3, hostname)
         WHERE id = $4",
    )
    .bind(name)
    .bind(description)
    .bind(hostname)
    .bind(id);
    db.execute(st).await?;
    Ok(())
}

pub async fn instance_set_password_hash(db: &mut Db, id: &str, hash: &str) -> DbResult<()> {
    let st = Stmt::new("UPDATE instances SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// resizeInstance: a new type, only while the instance is idle and stopped.
pub async fn instance_set_type(db: &mut Db, id: &str, instance_type: &str) -> DbResult<bool> {
    let sets = [("instance_type", instance_type.into())];
    super::guarded_update(db, "instances", id, &sets, true, &[InstanceStatus::Stopped]).await
}

/// rebuildInstance: the image it now runs, only while idle and stopped.
pub async fn instance_set_image(db: &mut Db, id: &str, image_id: &str) -> DbResult<bool> {
    let sets = [("image_id", image_id.into())];
    super::guarded_update(db, "instances", id, &sets, true, &[InstanceStatus::Stopped]).await
}

pub async fn instance_set_key_names(db: &mut Db, id: &str, key_names: &str) -> DbResult<()> {
    let st = Stmt::new("UPDATE instances SET key_names = $1 WHERE id = $2")
        .bind(key_names)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// Sets `status` if the instance is in `from` (whatever its task): a guest that ended on
/// its own makes a running instance `stopped`. Whether it changed.
pub async fn instance_set_status_if(
    db: &mut Db,
    id: &str,
    from: InstanceStatus,
    status: InstanceStatus,
) -> DbResult<bool> {
    let st = Stmt::new("UPDATE instances SET status = $1 WHERE id = $2 AND status = $3")
        .bind(status)
        .bind(id)
        .bind(from);
    Ok(db.execute(st).await? == 1)
}

/// Every instance (of any account) in `status`: `(id, task)`.
pub async fn instances_in_status(
    db: &mut Db,
    status: InstanceStatus,
) -> DbResult<Vec<(String, Option<String>)>> {
    db.fetch_all(Stmt::new("SELECT id, task FROM instances WHERE status = $1").bind(status))
        .await
}
