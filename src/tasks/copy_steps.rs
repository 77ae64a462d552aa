//! The `image_copy` task (copyImages; its target is the source image, busy meanwhile):
//! (0) flatten each source disk's layer chain into a standalone layer of the copy's
//! snapshot, reporting progress from the bytes written; (1) after `--task-delay`, the
//! snapshots `available`, the copy `ready`, its imageTasks record `finished`.

use std::time::Duration;

use super::payload::{decode, CopyDisk, ImageCopy};
use super::{collect_layers, finish_step, Outcome, StepError, TaskCtx};
use crate::block::GIB;
use crate::store::status::{ImageStatus, ImageTaskStatus, TaskState};
use crate::store::{self, image, image_task, now_ms, snapshot, LayerRow, TaskRow};

type StepResult = Result<(), StepError>;

/// How often a running copy reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub(super) async fn copy_layers(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let p: ImageCopy = decode(task)?;
    let n = p.disks.len().max(1) as i64;
    for (i, disk) in p.disks.iter().enumerate() {
        let recorded = store::layer::layer_get(&mut *ctx.store.read().await?, &disk.layer_id)
            .await?
            .is_some();
        if !recorded {
            let done_before = i as i64 * 100 / n;
            copy_one(ctx, &p, disk, |pct| done_before + pct / n).await?;
        }
        report(ctx, &p, (i as i64 + 1) * 100 / n).await?;
    }
    let mut tx = ctx.store.write().await?;
    finish_step(&mut tx, task, Outcome::Next(ctx.delays.task)).await?;
    tx.commit().await?;
    Ok(())
}

/// Copies one disk, reporting `overall(percent of this disk)` as it goes, and records the
/// new layer as the copy's snapshot's.
async fn copy_one(
    ctx: &TaskCtx,
    p: &ImageCopy,
    disk: &CopyDisk,
    overall: impl Fn(i64) -> i64,
) -> StepResult {
    let chain =
        store::layer::layer_chain(&mut *ctx.store.read().await?, &disk.source_layer_id).await?;
    let total = ctx.block.chain_allocated_bytes(&chain).await?.max(1);
    let copying = ctx.block.flatten(&disk.layer_id, &disk.source_layer_id);
    tokio::pin!(copying);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    loop {
        tokio::select! {
            done = &mut copying => {
                done?;
                break;
            }
            _ = tick.tick() => {
                let written = ctx.block.partial_bytes(&disk.layer_id).await;
                let pct = (written.saturating_mul(100) / total).min(99) as i64;
                report(ctx, p, overall(pct)).await?;
            }
        }
    }
    let size_gb = snapshot::snapshot_by_id(&mut *ctx.store.read().await?, &disk.snapshot_id)
        .await?
        .map_or(0, |s| s.size_gb);
    let mut tx = ctx.store.write().await?;
    let layer = LayerRow {
        id: disk.layer_id.clone(),
        backing_id: None,
        size_bytes: size_gb * GIB as i64,
        created_at: now_ms(),
    };
    store::layer::layer_insert(&mut tx, &layer).await?;
    snapshot::snapshot_set_layer(&mut tx, &disk.snapshot_id, &disk.layer_id).await?;
    tx.commit().await?;
    Ok(())
}

/// The copy's progress, on the image and its imageTasks record.
async fn report(ctx: &TaskCtx, p: &ImageCopy, progress: i64) -> StepResult {
    let mut tx = ctx.store.write().await?;
    image::image_set_progress(&mut tx, &p.image_id, progress).await?;
    let running = ImageTaskStatus::Running;
    image_task::image_task_update(&mut tx, &p.image_task_id, running, progress, None, "", 0)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn finish_copy(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let p: ImageCopy = decode(task)?;
    let snapshots: Vec<String> = p.disks.iter().map(|d| d.snapshot_id.clone()).collect();
    let mut tx = ctx.store.write().await?;
    super::image_steps::mark_made_image_ready(&mut tx, &snapshots, &p.image_id, &p.image_task_id)
        .await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// A failed copy leaves an `error` image with nothing behind it: its snapshots and the
/// layers copied so far go; the imageTasks record says `failed` and why.
pub(super) async fn fail_copy(ctx: &TaskCtx, task: &TaskRow, error: &str) -> StepResult {
    let p: Option<ImageCopy> = decode(task).ok();
    let mut freed = Vec::new();
    let mut tx = ctx.store.write().await?;
    if let Some(p) = &p {
        let (pending, failed) = (&[ImageStatus::Pending], ImageStatus::Error);
        image::image_transition(&mut tx, &p.image_id, pending, failed).await?;
        for d in &p.disks {
            snapshot::snapshot_delete(&mut tx, &d.snapshot_id).await?;
            freed.push(d.layer_id.clone());
        }
        let message: String = error.chars().take(500).collect();
        let status = ImageTaskStatus::Failed;
        image_task::image_task_update(
            &mut tx,
            &p.image_task_id,
            status,
            0,
            None,
            &message,
            now_ms(),
        )
        .await?;
    }
    store::task::task_finish(&mut tx, &task.id, TaskState::Failed, Some(error)).await?;
    tx.commit().await?;
    // A layer made but not recorded yet has only its file; a recorded one is collected.
    for l in &freed {
        if store::layer::layer_get(&mut *ctx.store.read().await?, l)
            .await?
            .is_none()
        {
            let _ = ctx.block.remove(l).await;
        }
    }
    collect_layers(ctx, freed).await?;
    Ok(())
}
