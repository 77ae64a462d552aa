//! Fault rules (see `service::fault`): the rule as JSON, and how often it fired.

use super::{Db, DbResult, FaultRow, Stmt, FAULT_COLUMNS};

pub async fn fault_insert(db: &mut Db, f: &FaultRow) -> DbResult<()> {
    db.execute(
        Stmt::new("INSERT INTO faults(id, spec, fired, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&f.id)
            .bind(&f.spec)
            .bind(f.fired)
            .bind(f.created_at),
    )
    .await?;
    Ok(())
}

/// The rules in the order they were added.
pub async fn fault_list(db: &mut Db) -> DbResult<Vec<FaultRow>> {
    db.fetch_all(Stmt::new(format!(
        "SELECT {FAULT_COLUMNS} FROM faults ORDER BY created_at, id"
    )))
    .await
}

/// Counts one firing unless the rule is gone or has fired `limit` times; whether it fired.
pub async fn fault_fire(db: &mut Db, id: &str, limit: Option<u64>) -> DbResult<bool> {
    let limit = limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let r = db
        .execute(
            Stmt::new("UPDATE faults SET fired = fired + 1 WHERE id = $1 AND fired < $2")
                .bind(id)
                .bind(limit),
        )
        .await?;
    Ok(r == 1)
}

/// Deletes one rule, or every rule with `None`; how many.
pub async fn fault_delete(db: &mut Db, id: Option<&str>) -> DbResult<u64> {
    let r = match id {
        Some(id) => {
            db.execute(Stmt::new("DELETE FROM faults WHERE id = $1").bind(id))
                .await?
        }
        None => db.execute(Stmt::new("DELETE FROM faults")).await?,
    };
    Ok(r)
}
