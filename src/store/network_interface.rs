//! Network interfaces (the vpc service): each instance has a primary one, made with it and
//! deleted with it, holding an address of its subnet. `UNIQUE (subnet_id, private_ip)`
//! keeps two interfaces from ever holding one address.

use sqlx::FromRow;

use super::vpc::{owned_get, owned_select};
use super::{Db, DbResult, Stmt};

#[derive(Debug, Clone, FromRow)]
pub struct NetworkInterfaceRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub instance_id: Option<String>,
    /// `Primary` or `Secondary`.
    pub role: String,
    pub private_ip: String,
    pub mac: String,
    /// Security group ids, a JSON list.
    pub security_group_ids: String,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    NetworkInterfaceRow,
    NETWORK_INTERFACE_COLUMNS,
    [
        id,
        pin,
        region,
        vpc_id,
        subnet_id,
        instance_id,
        role,
        private_ip,
        mac,
        security_group_ids,
        created_at,
        seq
    ]
);

impl NetworkInterfaceRow {
    pub fn security_groups(&self) -> Vec<String> {
        serde_json::from_str(&self.security_group_ids).unwrap_or_default()
    }
}

pub async fn nic_insert(db: &mut Db, n: &NetworkInterfaceRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO network_interfaces({NETWORK_INTERFACE_COLUMNS})
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"
    ))
    .bind(&n.id)
    .bind(&n.pin)
    .bind(&n.region)
    .bind(&n.vpc_id)
    .bind(&n.subnet_id)
    .bind(&n.instance_id)
    .bind(&n.role)
    .bind(&n.private_ip)
    .bind(&n.mac)
    .bind(&n.security_group_ids)
    .bind(n.created_at)
    .bind(n.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn nic_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<NetworkInterfaceRow>> {
    owned_get(
        db,
        "network_interfaces",
        NETWORK_INTERFACE_COLUMNS,
        (pin, region, id),
    )
    .await
}

pub async fn nics_of_instance(
    db: &mut Db,
    instance_id: &str,
) -> DbResult<Vec<NetworkInterfaceRow>> {
    let st = Stmt::new(format!(
        "SELECT {NETWORK_INTERFACE_COLUMNS} FROM network_interfaces
         WHERE instance_id = $1 ORDER BY seq, id"
    ))
    .bind(instance_id);
    db.fetch_all(st).await
}

/// What describeNetworkInterfaces filters on besides the owner.
#[derive(Debug, Clone, Default)]
pub struct NicQuery {
    pub ids: Vec<String>,
    pub vpc_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub instance_ids: Vec<String>,
}

pub async fn nic_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    q: &NicQuery,
    page: (i64, i64),
) -> DbResult<(Vec<NetworkInterfaceRow>, i64)> {
    let select = |cols: &str| {
        let mut st = owned_select("network_interfaces", cols, pin, region, &q.ids);
        st.push_in("vpc_id", &q.vpc_ids)
            .push_in("subnet_id", &q.subnet_ids)
            .push_in("instance_id", &q.instance_ids);
        st
    };
    super::list_page(db, select, NETWORK_INTERFACE_COLUMNS, "seq, id", page).await
}

/// The addresses handed out in the subnet.
pub async fn addresses_in_subnet(db: &mut Db, subnet_id: &str) -> DbResult<Vec<String>> {
    let st =
        Stmt::new("SELECT private_ip FROM network_interfaces WHERE subnet_id = $1").bind(subnet_id);
    db.scalar_all(st).await
}

pub async fn count_in_subnet(db: &mut Db, subnet_id: &str) -> DbResult<i64> {
    let st =
        Stmt::new("SELECT COUNT(*) FROM network_interfaces WHERE subnet_id = $1").bind(subnet_id);
    db.fetch_i64(st).await
}

/// Whether an interface holds `ip` in the subnet.
pub async fn address_taken(db: &mut Db, subnet_id: &str, ip: &str) -> DbResult<bool> {
    let st = Stmt::new(
        "SELECT COUNT(*) FROM network_interfaces WHERE subnet_id = $1 AND private_ip = $2",
    )
    .bind(subnet_id)
    .bind(ip);
    Ok(db.fetch_i64(st).await? > 0)
}

/// How many interfaces are in the security group.
pub async fn count_in_security_group(db: &mut Db, group_id: &str) -> DbResult<i64> {
    // The ids are a JSON list of quoted ids; a quoted match cannot hit a longer id.
    let st = Stmt::new("SELECT COUNT(*) FROM network_interfaces WHERE security_group_ids LIKE $1")
        .bind(format!("%\"{group_id}\"%"));
    db.fetch_i64(st).await
}

pub async fn nics_delete_of_instance(db: &mut Db, instance_id: &str) -> DbResult<()> {
    let st = Stmt::new("DELETE FROM network_interfaces WHERE instance_id = $1").bind(instance_id);
    db.execute(st).await?;
    Ok(())
}
