//! VPCs and their subnets (the vpc service). A VPC or subnet marked `is_default` is the one
//! Kiln makes for an account in a region the first time it needs one (as JD makes a
//! default network), so calls that name no subnet still get a real one.

use sqlx::FromRow;

use super::{Db, DbResult, Stmt};

#[derive(Debug, Clone, FromRow)]
pub struct VpcRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub name: String,
    pub description: String,
    /// `""`: no restriction on its subnets' ranges.
    pub address_prefix: String,
    #[sqlx(try_from = "super::DbBool")]
    pub is_default: bool,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    VpcRow,
    VPC_COLUMNS,
    [
        id,
        pin,
        region,
        name,
        description,
        address_prefix,
        is_default,
        created_at,
        seq
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct SubnetRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub address_prefix: String,
    #[sqlx(try_from = "super::DbBool")]
    pub is_default: bool,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    SubnetRow,
    SUBNET_COLUMNS,
    [
        id,
        pin,
        region,
        vpc_id,
        name,
        description,
        address_prefix,
        is_default,
        created_at,
        seq
    ]
);

pub async fn vpc_insert(db: &mut Db, v: &VpcRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO vpcs({VPC_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
    ))
    .bind(&v.id)
    .bind(&v.pin)
    .bind(&v.region)
    .bind(&v.name)
    .bind(&v.description)
    .bind(&v.address_prefix)
    .bind(v.is_default)
    .bind(v.created_at)
    .bind(v.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn vpc_get(db: &mut Db, pin: &str, region: &str, id: &str) -> DbResult<Option<VpcRow>> {
    owned_get(db, "vpcs", VPC_COLUMNS, (pin, region, id)).await
}

pub async fn vpc_default(db: &mut Db, pin: &str, region: &str) -> DbResult<Option<VpcRow>> {
    let st = Stmt::new(format!(
        "SELECT {VPC_COLUMNS} FROM vpcs WHERE pin = $1 AND region = $2 AND is_default = $3"
    ))
    .bind(pin)
    .bind(region)
    .bind(true);
    db.fetch_optional(st).await
}

/// A page of the account's VPCs in the region (`ids` empty: all), `seq` order.
pub async fn vpc_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    ids: &[String],
    page: (i64, i64),
) -> DbResult<(Vec<VpcRow>, i64)> {
    let select = |cols: &str| owned_select("vpcs", cols, pin, region, ids);
    super::list_page(db, select, VPC_COLUMNS, "seq, id", page).await
}

pub async fn vpc_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM vpcs WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

pub async fn subnet_insert(db: &mut Db, s: &SubnetRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO subnets({SUBNET_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
    ))
    .bind(&s.id)
    .bind(&s.pin)
    .bind(&s.region)
    .bind(&s.vpc_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(&s.address_prefix)
    .bind(s.is_default)
    .bind(s.created_at)
    .bind(s.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn subnet_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<SubnetRow>> {
    owned_get(db, "subnets", SUBNET_COLUMNS, (pin, region, id)).await
}

/// Every subnet of the VPC, `seq` order.
pub async fn subnets_of_vpc(db: &mut Db, vpc_id: &str) -> DbResult<Vec<SubnetRow>> {
    let st = Stmt::new(format!(
        "SELECT {SUBNET_COLUMNS} FROM subnets WHERE vpc_id = $1 ORDER BY seq, id"
    ))
    .bind(vpc_id);
    db.fetch_all(st).await
}

/// What describeSubnets filters on besides the owner.
#[derive(Debug, Clone, Default)]
pub struct SubnetQuery {
    pub ids: Vec<String>,
    pub vpc_ids: Vec<String>,
    pub names: Vec<String>,
}

pub async fn subnet_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    q: &SubnetQuery,
    page: (i64, i64),
) -> DbResult<(Vec<SubnetRow>, i64)> {
    let select = |cols: &str| {
        let mut st = owned_select("subnets", cols, pin, region, &q.ids);
        st.push_in("vpc_id", &q.vpc_ids)
            .push_like_any("name", &q.names);
        st
    };
    super::list_page(db, select, SUBNET_COLUMNS, "seq, id", page).await
}

pub async fn subnet_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM subnets WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

/// How many of the account's `table` rows are in the region (quota use).
pub async fn count_owned(db: &mut Db, table: &str, pin: &str, region: &str) -> DbResult<i64> {
    let st = Stmt::new(format!(
        "SELECT COUNT(*) FROM {table} WHERE pin = $1 AND region = $2"
    ))
    .bind(pin)
    .bind(region);
    db.fetch_i64(st).await
}

/// The row `id` of `table` if it is the owner's, in the region (another account's id reads
/// as none, as a nonexistent one does).
pub(super) async fn owned_get<T: super::Row>(
    db: &mut Db,
    table: &str,
    cols: &str,
    (pin, region, id): (&str, &str, &str),
) -> DbResult<Option<T>> {
    let st = Stmt::new(format!(
        "SELECT {cols} FROM {table} WHERE id = $1 AND pin = $2 AND region = $3"
    ))
    .bind(id)
    .bind(pin)
    .bind(region);
    db.fetch_optional(st).await
}

/// `SELECT cols FROM table` of the owner's rows in the region, limited to `ids` if any.
pub(super) fn owned_select(
    table: &str,
    cols: &str,
    pin: &str,
    region: &str,
    ids: &[String],
) -> Stmt {
    let mut st = Stmt::new(format!("SELECT {cols} FROM {table} WHERE pin = "));
    st.push_bind(pin.to_string())
        .push(" AND region = ")
        .push_bind(region.to_string())
        .push_in("id", ids);
    st
}

/// Whether `id` is one of the owner's `table` rows in the region.
pub async fn owned_exists(
    db: &mut Db,
    table: &str,
    (pin, region, id): (&str, &str, &str),
) -> DbResult<bool> {
    let st = Stmt::new(format!(
        "SELECT COUNT(*) FROM {table} WHERE id = $1 AND pin = $2 AND region = $3"
    ))
    .bind(id)
    .bind(pin)
    .bind(region);
    Ok(db.fetch_i64(st).await? > 0)
}
