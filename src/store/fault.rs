//! Fault rules (see `service::fault`): the rule as JSON, and how often it fired.

use super::{Conn, DbResult};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FaultRow {
    pub id: String,
    /// The `FaultSpec` as JSON.
    pub spec: String,
    pub fired: i64,
    pub created_at: i64,
}

pub async fn fault_insert(conn: &mut Conn, f: &FaultRow) -> DbResult<()> {
    sqlx::query("INSERT INTO faults(id, spec, fired, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&f.id)
        .bind(&f.spec)
        .bind(f.fired)
        .bind(f.created_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The rules in the order they were added.
pub async fn fault_list(conn: &mut Conn) -> DbResult<Vec<FaultRow>> {
    sqlx::query_as("SELECT * FROM faults ORDER BY created_at, id")
        .fetch_all(conn)
        .await
}

/// Counts one firing unless the rule is gone or has fired `limit` times; whether it fired.
pub async fn fault_fire(conn: &mut Conn, id: &str, limit: Option<u64>) -> DbResult<bool> {
    let limit = limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let r = sqlx::query("UPDATE faults SET fired = fired + 1 WHERE id = $1 AND fired < $2")
        .bind(id)
        .bind(limit)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Deletes one rule, or every rule with `None`; how many.
pub async fn fault_delete(conn: &mut Conn, id: Option<&str>) -> DbResult<u64> {
    let r = match id {
        Some(id) => {
            sqlx::query("DELETE FROM faults WHERE id = $1")
                .bind(id)
                .execute(conn)
                .await?
        }
        None => sqlx::query("DELETE FROM faults").execute(conn).await?,
    };
    Ok(r.rows_affected())
}
