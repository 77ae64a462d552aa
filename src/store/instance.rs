use super::{Conn, DbResult, InstanceRow, Stmt, INSTANCE_COLUMNS};

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
    pub offset: i64,
    pub limit: i64,
}

pub async fn instance_insert(conn: &mut Conn, i: &InstanceRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO instances(id, pin, region, az, name, hostname, description, instance_type,
            image_id, status, task, private_ip, primary_nic, charge_mode, charge_on_stopped,
            created_at, seq)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
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
    .bind(&i.status)
    .bind(&i.task)
    .bind(&i.private_ip)
    .bind(&i.primary_nic)
    .bind(&i.charge_mode)
    .bind(&i.charge_on_stopped)
    .bind(i.created_at)
    .bind(i.seq)
    .execute(conn)
    .await?;
    Ok(())
}

/// The instance if it exists in this account and region.
pub async fn instance_get(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<InstanceRow>> {
    Ok(instance_get_stmt(pin, region, id)
        .fetch_all(conn)
        .await?
        .pop())
}

/// [`instance_get`] on a direct SQLite reader (see [`super::direct`]).
pub fn instance_get_direct(
    conn: &rusqlite::Connection,
    pin: &str,
    region: &str,
    id: &str,
) -> rusqlite::Result<Option<InstanceRow>> {
    Ok(instance_get_stmt(pin, region, id)
        .query_direct(conn, InstanceRow::from_direct)?
        .pop())
}

fn instance_get_stmt(pin: &str, region: &str, id: &str) -> Stmt {
    Stmt::new(format!(
        "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1 AND pin = $2 AND region = $3"
    ))
    .bind(id)
    .bind(pin)
    .bind(region)
}

pub async fn instance_by_id(conn: &mut Conn, id: &str) -> DbResult<Option<InstanceRow>> {
    sqlx::query_as("SELECT * FROM instances WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn instance_list(
    conn: &mut Conn,
    q: &InstanceQuery,
) -> DbResult<(Vec<InstanceRow>, i64)> {
    let page = (q.limit, q.offset);
    super::list_page(conn, instance_select(q), INSTANCE_COLUMNS, "seq, id", page).await
}

/// [`instance_list`] on a direct SQLite reader (see [`super::direct`]).
pub fn instance_list_direct(
    conn: &rusqlite::Connection,
    q: &InstanceQuery,
) -> rusqlite::Result<(Vec<InstanceRow>, i64)> {
    super::list_page_direct(
        conn,
        instance_select(q),
        INSTANCE_COLUMNS,
        "seq, id",
        (q.limit, q.offset),
        InstanceRow::from_direct,
    )
}

/// describeInstances' query for `cols`, every condition of `q` applied.
fn instance_select(q: &InstanceQuery) -> impl Fn(&str) -> Stmt + '_ {
    let subnets: Vec<String> = q
        .subnet_ids
        .iter()
        .map(|s| format!("\"subnetId\":\"{s}\""))
        .collect();
    move |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "instances", &q.pin, &q.region);
        st.push_in("id", &q.ids)
            .push_in("status", &q.statuses)
            .push_in("az", &q.azs)
            .push_in("image_id", &q.image_ids)
            .push_in("instance_type", &q.instance_types)
            .push_like_any("name", &q.names)
            .push_like_any("private_ip", &q.private_ips)
            .push_like_any("COALESCE(primary_nic, '')", &subnets);
        st
    }
}

/// Starts an underlay task: sets `task` and the transitional status only if the instance
/// is idle and in one of `from`. Returns false when someone else got there first.
pub async fn instance_begin_task(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    task: &str,
    status: &str,
) -> DbResult<bool> {
    let sets = [("task", Some(task)), ("status", Some(status))];
    super::guarded_update(conn, "instances", id, &sets, true, from).await
}

/// Ends the underlay task `task` with a final status.
pub async fn instance_end_task(
    conn: &mut Conn,
    id: &str,
    task: &str,
    status: &str,
) -> DbResult<bool> {
    let r =
        sqlx::query("UPDATE instances SET status = $1, task = NULL WHERE id = $2 AND task = $3")
            .bind(status)
            .bind(id)
            .bind(task)
            .execute(conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn instance_delete(conn: &mut Conn, id: &str) -> DbResult<()> {
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn instance_count(conn: &mut Conn, pin: &str, region: &str) -> DbResult<i64> {
    let (n,): (i64,) = instance_count_stmt(pin, region).fetch_one(conn).await?;
    Ok(n)
}

/// [`instance_count`] as a statement.
pub fn instance_count_stmt(pin: &str, region: &str) -> Stmt {
    Stmt::new("SELECT COUNT(*) FROM instances WHERE pin = $1 AND region = $2")
        .bind(pin)
        .bind(region)
}

/// Clears the underlay task `task`, leaving the status as it is.
pub async fn instance_clear_task(conn: &mut Conn, id: &str, task: &str) -> DbResult<()> {
    instance_clear_task_stmt(id, task).execute(conn).await?;
    Ok(())
}

/// [`instance_clear_task`] as a statement.
pub fn instance_clear_task_stmt(id: &str, task: &str) -> Stmt {
    Stmt::new("UPDATE instances SET task = NULL WHERE id = $1 AND task = $2")
        .bind(id)
        .bind(task)
}

/// Marks an instance failed (`error`) and idle.
pub async fn instance_set_error(conn: &mut Conn, id: &str) -> DbResult<()> {
    sqlx::query("UPDATE instances SET status = 'error', task = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Starts an underlay task without changing the status (attach, detach, createImage):
/// only if the instance is idle and its status is one of `from`.
pub async fn instance_set_task(
    conn: &mut Conn,
    id: &str,
    from: &[&str],
    task: &str,
) -> DbResult<bool> {
    super::guarded_update(conn, "instances", id, &[("task", Some(task))], true, from).await
}

/// `instance_set_task` as a statement: one row changed when the instance was idle in `from`.
pub fn instance_set_task_stmt(id: &str, from: &[&str], task: &str) -> Stmt {
    super::guarded_update_stmt("instances", id, &[("task", Some(task))], true, from)
}

/// Instance types of every instance in the account and region (for cpu/memory quotas).
pub async fn instance_types_in_use(
    conn: &mut Conn,
    pin: &str,
    region: &str,
) -> DbResult<Vec<String>> {
    sqlx::query_scalar("SELECT instance_type FROM instances WHERE pin = $1 AND region = $2")
        .bind(pin)
        .bind(region)
        .fetch_all(conn)
        .await
}
