//! Elastic IPs (the vpc service): a public address of the region, associated with at most
//! one network interface (and so one instance) at a time. The instance's row repeats the
//! association (`instances.elastic_ip_id/_address`) so that listing instances stays one
//! query; both are written in one transaction.

use sqlx::FromRow;

use super::vpc::{owned_get, owned_select};
use super::{Db, DbResult, Stmt};

#[derive(Debug, Clone, FromRow)]
pub struct ElasticIpRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub name: String,
    pub address: String,
    pub bandwidth_mbps: i64,
    pub provider: String,
    pub nic_id: Option<String>,
    pub private_ip: String,
    pub instance_id: Option<String>,
    /// Made by createInstances' `elasticIp`: released with the instance.
    #[sqlx(try_from = "super::DbBool")]
    pub with_instance: bool,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    ElasticIpRow,
    ELASTIC_IP_COLUMNS,
    [
        id,
        pin,
        region,
        name,
        address,
        bandwidth_mbps,
        provider,
        nic_id,
        private_ip,
        instance_id,
        with_instance,
        created_at,
        seq
    ]
);

pub async fn eip_insert(db: &mut Db, e: &ElasticIpRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO elastic_ips({ELASTIC_IP_COLUMNS})
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
    ))
    .bind(&e.id)
    .bind(&e.pin)
    .bind(&e.region)
    .bind(&e.name)
    .bind(&e.address)
    .bind(e.bandwidth_mbps)
    .bind(&e.provider)
    .bind(&e.nic_id)
    .bind(&e.private_ip)
    .bind(&e.instance_id)
    .bind(e.with_instance)
    .bind(e.created_at)
    .bind(e.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn eip_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<ElasticIpRow>> {
    owned_get(db, "elastic_ips", ELASTIC_IP_COLUMNS, (pin, region, id)).await
}

pub async fn eip_by_address(
    db: &mut Db,
    pin: &str,
    region: &str,
    address: &str,
) -> DbResult<Option<ElasticIpRow>> {
    let st = Stmt::new(format!(
        "SELECT {ELASTIC_IP_COLUMNS} FROM elastic_ips
         WHERE address = $1 AND pin = $2 AND region = $3"
    ))
    .bind(address)
    .bind(pin)
    .bind(region);
    db.fetch_optional(st).await
}

/// The elastic IPs on the interface.
pub async fn eips_of_nic(db: &mut Db, nic_id: &str) -> DbResult<Vec<ElasticIpRow>> {
    let st = Stmt::new(format!(
        "SELECT {ELASTIC_IP_COLUMNS} FROM elastic_ips WHERE nic_id = $1 ORDER BY seq, id"
    ))
    .bind(nic_id);
    db.fetch_all(st).await
}

pub async fn eips_of_instance(db: &mut Db, instance_id: &str) -> DbResult<Vec<ElasticIpRow>> {
    let st = Stmt::new(format!(
        "SELECT {ELASTIC_IP_COLUMNS} FROM elastic_ips WHERE instance_id = $1 ORDER BY seq, id"
    ))
    .bind(instance_id);
    db.fetch_all(st).await
}

pub async fn eip_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    ids: &[String],
    addresses: &[String],
    page: (i64, i64),
) -> DbResult<(Vec<ElasticIpRow>, i64)> {
    let select = |cols: &str| {
        let mut st = owned_select("elastic_ips", cols, pin, region, ids);
        st.push_in("address", addresses);
        st
    };
    super::list_page(db, select, ELASTIC_IP_COLUMNS, "seq, id", page).await
}

/// Associates the elastic IP with the interface (`Some`) or frees it (`None`), and says
/// so on the instance's row.
pub async fn eip_set_association(
    db: &mut Db,
    eip: &ElasticIpRow,
    to: Option<(&str, &str, &str)>,
) -> DbResult<()> {
    let (nic, ip, instance) = match to {
        Some((nic, ip, instance)) => (Some(nic), ip, Some(instance)),
        None => (None, "", None),
    };
    let st = Stmt::new(
        "UPDATE elastic_ips SET nic_id = $1, private_ip = $2, instance_id = $3 WHERE id = $4",
    )
    .bind(nic)
    .bind(ip)
    .bind(instance)
    .bind(&eip.id);
    db.execute(st).await?;
    let (id, address) = if to.is_some() {
        (eip.id.as_str(), eip.address.as_str())
    } else {
        ("", "")
    };
    let on_instance = instance.or(eip.instance_id.as_deref());
    if let Some(inst) = on_instance {
        let st = Stmt::new(
            "UPDATE instances SET elastic_ip_id = $1, elastic_ip_address = $2 WHERE id = $3",
        )
        .bind(id)
        .bind(address)
        .bind(inst);
        db.execute(st).await?;
    }
    Ok(())
}

pub async fn eip_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM elastic_ips WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// What becomes of an instance's elastic IPs when it is deleted: those made with it go,
/// the others stay, associated with nothing.
pub async fn eips_let_go_of_instance(db: &mut Db, instance_id: &str) -> DbResult<()> {
    let st = Stmt::new("DELETE FROM elastic_ips WHERE instance_id = $1 AND with_instance = $2")
        .bind(instance_id)
        .bind(true);
    db.execute(st).await?;
    let st = Stmt::new(
        "UPDATE elastic_ips SET nic_id = NULL, private_ip = '', instance_id = NULL
         WHERE instance_id = $1",
    )
    .bind(instance_id);
    db.execute(st).await?;
    Ok(())
}
