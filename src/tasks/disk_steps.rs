//! The steps of extendDisk and restoreDisk, and what their failure leaves.

use super::payload::{self, decode};
use super::{finish_step, Outcome, StepError, TaskCtx};
use crate::block::GIB;
use crate::store::status::DiskStatus;
use crate::store::{disk, layer, TaskRow};

type StepResult = Result<(), StepError>;

/// Grows the disk's top layer (idempotent: a re-run after a crash finds it grown), then
/// records the new size and IOPS and makes the disk `available` again.
pub(super) async fn extend(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let want = decode::<payload::DiskExtend>(task)?;
    let mut conn = ctx.store.read().await?;
    let d = disk::disk_by_id(&mut conn, &task.target_id)
        .await?
        .ok_or_else(|| StepError::Invalid(format!("disk {} vanished", task.target_id)))?;
    drop(conn);
    let top = d.top_layer().to_string();
    let bytes = want.size_gb as u64 * GIB;
    ctx.block.grow(&top, bytes).await?;
    let mut tx = ctx.store.write().await?;
    layer::layer_set_size(&mut tx, &top, bytes as i64).await?;
    disk::disk_set_size(&mut tx, &d.id, want.size_gb, want.iops).await?;
    disk::disk_set_state(&mut tx, &d.id, DiskStatus::Available, None).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// The restore's data switch was made by the call; this ends `restoring`.
pub(super) async fn restore(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    disk::disk_set_state(&mut tx, &task.target_id, DiskStatus::Available, None).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}
