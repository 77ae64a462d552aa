//! Network security groups and their rules (the vpc service). A group belongs to one VPC;
//! network interfaces name the groups they are in (`network_interfaces.security_group_ids`).

use sqlx::FromRow;

use super::vpc::{owned_get, owned_select};
use super::{Db, DbResult, Stmt};

#[derive(Debug, Clone, FromRow)]
pub struct SecurityGroupRow {
    pub id: String,
    pub pin: String,
    pub region: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    #[sqlx(try_from = "super::DbBool")]
    pub is_default: bool,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    SecurityGroupRow,
    SECURITY_GROUP_COLUMNS,
    [
        id,
        pin,
        region,
        vpc_id,
        name,
        description,
        is_default,
        created_at,
        seq
    ]
);

#[derive(Debug, Clone, FromRow)]
pub struct SecurityGroupRuleRow {
    pub id: String,
    pub group_id: String,
    /// 0 in, 1 out.
    pub direction: i64,
    /// 300 all, 6 TCP, 17 UDP, 1 ICMP.
    pub protocol: i64,
    pub address_prefix: String,
    pub from_port: i64,
    pub to_port: i64,
    pub description: String,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    SecurityGroupRuleRow,
    SECURITY_GROUP_RULE_COLUMNS,
    [
        id,
        group_id,
        direction,
        protocol,
        address_prefix,
        from_port,
        to_port,
        description,
        created_at,
        seq
    ]
);

pub async fn security_group_insert(db: &mut Db, g: &SecurityGroupRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO security_groups({SECURITY_GROUP_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
    ))
    .bind(&g.id)
    .bind(&g.pin)
    .bind(&g.region)
    .bind(&g.vpc_id)
    .bind(&g.name)
    .bind(&g.description)
    .bind(g.is_default)
    .bind(g.created_at)
    .bind(g.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn security_group_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    id: &str,
) -> DbResult<Option<SecurityGroupRow>> {
    owned_get(
        db,
        "security_groups",
        SECURITY_GROUP_COLUMNS,
        (pin, region, id),
    )
    .await
}

/// The VPC's default group (every interface of the VPC is in it unless told otherwise).
pub async fn security_group_default(
    db: &mut Db,
    vpc_id: &str,
) -> DbResult<Option<SecurityGroupRow>> {
    let st = Stmt::new(format!(
        "SELECT {SECURITY_GROUP_COLUMNS} FROM security_groups
         WHERE vpc_id = $1 AND is_default = $2"
    ))
    .bind(vpc_id)
    .bind(true);
    db.fetch_optional(st).await
}

pub async fn security_groups_of_vpc(db: &mut Db, vpc_id: &str) -> DbResult<Vec<String>> {
    let st =
        Stmt::new("SELECT id FROM security_groups WHERE vpc_id = $1 ORDER BY seq, id").bind(vpc_id);
    db.scalar_all(st).await
}

pub async fn security_group_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    ids: &[String],
    vpc_ids: &[String],
    page: (i64, i64),
) -> DbResult<(Vec<SecurityGroupRow>, i64)> {
    let select = |cols: &str| {
        let mut st = owned_select("security_groups", cols, pin, region, ids);
        st.push_in("vpc_id", vpc_ids);
        st
    };
    super::list_page(db, select, SECURITY_GROUP_COLUMNS, "seq, id", page).await
}

/// Deletes the group with its rules.
pub async fn security_group_delete(db: &mut Db, id: &str) -> DbResult<()> {
    db.execute(Stmt::new("DELETE FROM security_group_rules WHERE group_id = $1").bind(id))
        .await?;
    db.execute(Stmt::new("DELETE FROM security_groups WHERE id = $1").bind(id))
        .await?;
    Ok(())
}

pub async fn rule_insert(db: &mut Db, r: &SecurityGroupRuleRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO security_group_rules({SECURITY_GROUP_RULE_COLUMNS})
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
    ))
    .bind(&r.id)
    .bind(&r.group_id)
    .bind(r.direction)
    .bind(r.protocol)
    .bind(&r.address_prefix)
    .bind(r.from_port)
    .bind(r.to_port)
    .bind(&r.description)
    .bind(r.created_at)
    .bind(r.seq);
    db.execute(st).await?;
    Ok(())
}

/// The group's rules, in the order they were added.
pub async fn rules_of(db: &mut Db, group_id: &str) -> DbResult<Vec<SecurityGroupRuleRow>> {
    let st = Stmt::new(format!(
        "SELECT {SECURITY_GROUP_RULE_COLUMNS} FROM security_group_rules
         WHERE group_id = $1 ORDER BY seq, id"
    ))
    .bind(group_id);
    db.fetch_all(st).await
}

/// Removes the named rules of the group; how many there were.
pub async fn rules_delete(db: &mut Db, group_id: &str, ids: &[String]) -> DbResult<u64> {
    let mut st = Stmt::new("DELETE FROM security_group_rules WHERE group_id = ");
    st.push_bind(group_id.to_string()).push_in("id", ids);
    db.execute(st).await
}
