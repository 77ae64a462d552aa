//! Durable tasks: insert, claim under a lease, record progress, finish.
use super::{now_ms, Backend, Db, DbResult, Stmt, TaskKind, TaskRow, TaskState, TASK_COLUMNS};

pub async fn task_insert(db: &mut Db, t: &TaskRow) -> DbResult<()> {
    let st = Stmt::new(
        "INSERT INTO tasks(id, kind, target_id, step, state, run_after, lease_until, payload,
                           error, created_at, fault)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(t.id.clone())
    .bind(t.kind)
    .bind(t.target_id.clone())
    .bind(t.step)
    .bind(t.state)
    .bind(t.run_after)
    .bind(t.lease_until)
    .bind(t.payload.clone())
    .bind(t.error.clone())
    .bind(t.created_at)
    .bind(t.fault.clone());
    db.execute(st).await?;
    Ok(())
}

/// Claims up to `limit` pending tasks that are due and not leased, leasing them until
/// `now + lease_ms`. On PostgreSQL the candidates are locked `FOR UPDATE SKIP LOCKED`, so
/// claimers on several nodes pass each other's rows by instead of waiting or sharing them;
/// on SQLite the write transaction alone makes the claim exclusive.
pub async fn task_claim_due(tx: &mut Db, lease_ms: i64, limit: i64) -> DbResult<Vec<TaskRow>> {
    let now = now_ms();
    let skip_locked = if tx.backend() == Backend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let rows: Vec<TaskRow> = tx
        .fetch_all(
            Stmt::new(format!(
                "SELECT {TASK_COLUMNS} FROM tasks
                 WHERE state = 'pending' AND run_after <= $1 AND lease_until < $1
                 ORDER BY run_after, id LIMIT $2{skip_locked}"
            ))
            .bind(now)
            .bind(limit),
        )
        .await?;
    if rows.is_empty() {
        return Ok(rows);
    }
    // One statement for the lot: it names the rows it leased, so the claim never hands
    // out a task whose lease it did not take.
    let ids: Vec<String> = rows.iter().map(|t| t.id.clone()).collect();
    let mut lease = Stmt::new("UPDATE tasks SET lease_until = ");
    lease
        .push_bind(now + lease_ms)
        .push(" WHERE state = 'pending' AND lease_until < ")
        .push_bind(now)
        .push_in("id", &ids)
        .push(" RETURNING id");
    let leased: std::collections::HashSet<String> = tx
        .fetch_all::<(String,)>(lease)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    Ok(rows
        .into_iter()
        .filter(|t| leased.contains(&t.id))
        .map(|mut t| {
            t.lease_until = now + lease_ms;
            t
        })
        .collect())
}

/// Extends the lease of a task this node is running (at `step`); false when it is no longer
/// ours to run (finished, advanced or released).
pub async fn task_renew_lease(db: &mut Db, id: &str, step: i64, lease_ms: i64) -> DbResult<bool> {
    let r = db.execute(Stmt::new("UPDATE tasks SET lease_until = $1 WHERE id = $2 AND step = $3 AND state = 'pending'
         AND lease_until > 0",).bind(now_ms() + lease_ms).bind(id).bind(step)).await?;
    Ok(r == 1)
}

/// Records that the task finished `step - 1` and keeps the lease: the node that ran it goes
/// on with `step` at once (a step due now needs no claim round).
pub async fn task_advance_held(db: &mut Db, id: &str, step: i64) -> DbResult<()> {
    let st = Stmt::new("UPDATE tasks SET step = $1, run_after = $2 WHERE id = $3")
        .bind(step)
        .bind(now_ms())
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// Records that the task finished `step - 1` and releases the lease.
pub async fn task_advance(
    db: &mut Db,
    id: &str,
    step: i64,
    run_after: i64,
    payload: &str,
) -> DbResult<()> {
    let st = Stmt::new(
        "UPDATE tasks SET step = $1, run_after = $2, payload = $3, lease_until = 0 WHERE id = $4",
    )
    .bind(step)
    .bind(run_after)
    .bind(payload)
    .bind(id);
    db.execute(st).await?;
    Ok(())
}

pub async fn task_finish(
    db: &mut Db,
    id: &str,
    state: TaskState,
    error: Option<&str>,
) -> DbResult<()> {
    let st = Stmt::new("UPDATE tasks SET state = $1, error = $2, lease_until = 0 WHERE id = $3")
        .bind(state)
        .bind(error)
        .bind(id);
    db.execute(st).await?;
    Ok(())
}

/// When the next pending task becomes due (ms), if any.
pub async fn task_next_due(db: &mut Db) -> DbResult<Option<i64>> {
    db.scalar(Stmt::new(
        "SELECT MIN(CASE WHEN lease_until > run_after THEN lease_until ELSE run_after END)
         FROM tasks WHERE state = 'pending'",
    ))
    .await
}

/// Whether a task of `kind` on `target_id` has not finished yet.
pub async fn task_in_flight(db: &mut Db, kind: TaskKind, target_id: &str) -> DbResult<bool> {
    let n: i64 = db.scalar(Stmt::new("SELECT COUNT(*) FROM tasks WHERE kind = $1 AND target_id = $2 AND state = 'pending'",).bind(kind).bind(target_id)).await?;
    Ok(n > 0)
}

pub async fn task_get(db: &mut Db, id: &str) -> DbResult<Option<TaskRow>> {
    db.fetch_optional(Stmt::new(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1")).bind(id))
        .await
}

/// Drops finished tasks older than `age_ms` so the table does not grow without bound.
pub async fn task_prune(db: &mut Db, age_ms: i64) -> DbResult<()> {
    db.execute(
        Stmt::new("DELETE FROM tasks WHERE state <> 'pending' AND created_at < $1")
            .bind(now_ms() - age_ms),
    )
    .await?;
    Ok(())
}

/// Releases every lease (a node alone at start: the leases are dead predecessors').
pub async fn task_release_leases(db: &mut Db) -> DbResult<()> {
    db.execute(Stmt::new(
        "UPDATE tasks SET lease_until = 0 WHERE state = 'pending'",
    ))
    .await?;
    Ok(())
}
