//! The `image_create` and `image_delete` tasks.
//!
//! image_create (the disks were frozen by the createImage call itself):
//! (0) for a localDisk image, flatten the frozen system disk into a standalone layer;
//! (1) after `--task-delay`, snapshots `available`, image `ready`, instance and disks idle
//!     (with no delay, in step 0's own transaction).

use super::payload::{decode, ImageConvert, ImageCreate, ImageDelete, ImageFromSnapshots};
use super::{collect_layers, finish_step, Outcome, StepError, TaskCtx};
use crate::block::GIB;
use crate::store::status::{ImageStatus, ImageTaskStatus, SnapshotStatus, TaskState};
use crate::store::{self, disk, image, instance, snapshot, LayerRow, TaskRow};

type StepResult = Result<(), StepError>;

/// The standalone layer of a localDisk image; named after the image so a retried copy
/// overwrites its own earlier attempt.
fn image_layer_id(image_id: &str) -> String {
    format!("lyr-{image_id}")
}

pub(super) async fn copy_local_system_disk(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let plan = decode::<ImageCreate>(task)?.freeze;
    let img = image::image_by_id(&mut *ctx.store.read().await?, &task.target_id)
        .await?
        .ok_or_else(|| StepError::Invalid(format!("image {} vanished", task.target_id)))?;
    let mut copied = None;
    if img.root_device_type == "localDisk" && img.layer_id.is_none() {
        let mut conn = ctx.store.read().await?;
        // The local system disk is the one frozen without a snapshot.
        let f = plan
            .iter()
            .find(|f| f.snapshot_id.is_empty())
            .ok_or_else(|| StepError::Invalid("no local system disk to copy".into()))?;
        let frozen = f.frozen_layer_id.clone();
        let size = store::layer::layer_get(&mut conn, &frozen)
            .await?
            .map_or(img.system_disk_size_gb * GIB as i64, |l| l.size_bytes);
        drop(conn);
        let layer = image_layer_id(&img.id);
        let bytes = ctx.block.flatten(&layer, &frozen).await?;
        copied = Some((layer, size, bytes));
    }
    let mut tx = ctx.store.write().await?;
    if let Some((layer, size, bytes)) = copied {
        if store::layer::layer_get(&mut tx, &layer).await?.is_none() {
            let row = LayerRow {
                id: layer.clone(),
                backing_id: None,
                size_bytes: size,
                created_at: store::now_ms(),
            };
            store::layer::layer_insert(&mut tx, &row).await?;
        }
        let size_mb = (bytes as i64 + (1 << 20) - 1) >> 20;
        image::image_set_layer(&mut tx, &img.id, Some(&layer), size_mb).await?;
    }
    if ctx.delays.task.is_zero() {
        // Nothing to wait for: one transaction (and one turn at the writer slot) less.
        mark_image_ready(&mut tx, task).await?;
    } else {
        finish_step(&mut tx, task, Outcome::Next(ctx.delays.task)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// convertImage's end: the system disk's snapshot `available`, the new image `ready` (and
/// the source, the task's target, free again).
pub(super) async fn finish_convert(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let p: ImageConvert = decode(task)?;
    let mut tx = ctx.store.write().await?;
    let made = [p.snapshot_id.clone()];
    mark_made_image_ready(&mut tx, &made, &p.image_id, &p.image_task_id).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// The end of an image made of snapshots made for it (convert, copy): the snapshots
/// `available`, the image `ready`, its imageTasks record (if it has one) finished.
pub(super) async fn mark_made_image_ready(
    tx: &mut store::Db,
    snapshots: &[String],
    image_id: &str,
    image_task_id: &str,
) -> StepResult {
    let (creating, available) = (SnapshotStatus::Creating, SnapshotStatus::Available);
    snapshot::snapshots_transition(tx, snapshots, creating, available).await?;
    image::image_transition(tx, image_id, &[ImageStatus::Pending], ImageStatus::Ready).await?;
    if !image_task_id.is_empty() {
        let (finished, now) = (ImageTaskStatus::Finished, store::now_ms());
        store::image_task::image_task_update(tx, image_task_id, finished, 100, None, "", now)
            .await?;
    }
    Ok(())
}

/// createImageFromSnapshots' end: the image `ready`.
pub(super) async fn finish_from_snapshots(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    decode::<ImageFromSnapshots>(task)?;
    let mut tx = ctx.store.write().await?;
    image::image_transition(
        &mut tx,
        &task.target_id,
        &[ImageStatus::Pending],
        ImageStatus::Ready,
    )
    .await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn finish_image(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    mark_image_ready(&mut tx, task).await?;
    tx.commit().await?;
    Ok(())
}

/// The snapshots `available`, the image `ready`, the instance and disks idle, the task
/// done: one transaction, one turn at the writer.
async fn mark_image_ready(tx: &mut store::Db, task: &TaskRow) -> StepResult {
    let ImageCreate {
        instance_id,
        freeze: plan,
    } = decode(task)?;
    let snapshots: Vec<String> = plan
        .iter()
        .filter(|f| !f.snapshot_id.is_empty())
        .map(|f| f.snapshot_id.clone())
        .collect();
    let disks: Vec<String> = plan.iter().map(|f| f.disk_id.clone()).collect();
    snapshot::snapshots_transition(
        tx,
        &snapshots,
        SnapshotStatus::Creating,
        SnapshotStatus::Available,
    )
    .await?;
    disk::disks_clear_task(tx, &disks, "createImage").await?;
    image::image_transition(
        tx,
        &task.target_id,
        &[ImageStatus::Pending],
        ImageStatus::Ready,
    )
    .await?;
    instance::instance_clear_task(tx, &instance_id, "createImage").await?;
    finish_step(tx, task, Outcome::Done).await?;
    Ok(())
}

/// A failed image ends `error` with nothing of it left: its snapshots and its copy are
/// removed, and the instance and disks are idle again.
pub(super) async fn fail_image(ctx: &TaskCtx, task: &TaskRow, error: &str) -> StepResult {
    // A payload that does not decode still fails the image (with nothing to undo).
    let ImageCreate {
        instance_id,
        freeze: plan,
    } = decode(task).unwrap_or_else(|_| ImageCreate {
        instance_id: String::new(),
        freeze: Vec::new(),
    });
    let mut freed = Vec::new();
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    for f in &plan {
        if !f.snapshot_id.is_empty() {
            if let Some(s) = snapshot::snapshot_by_id(c, &f.snapshot_id).await? {
                snapshot::snapshot_delete(c, &s.id).await?;
                freed.extend(s.layer_id);
            }
        }
        disk::disk_clear_task(c, &f.disk_id, "createImage").await?;
    }
    if let Some(img) = image::image_by_id(c, &task.target_id).await? {
        if let Some(l) = img.layer_id {
            image::image_set_layer(c, &img.id, None, 0).await?;
            freed.push(l);
        }
    }
    image::image_transition(
        c,
        &task.target_id,
        &[ImageStatus::Pending],
        ImageStatus::Error,
    )
    .await?;
    instance::instance_clear_task(c, &instance_id, "createImage").await?;
    store::task::task_finish(c, &task.id, TaskState::Failed, Some(error)).await?;
    tx.commit().await?;
    // A copy that failed before it was recorded may have left its file behind.
    let layer = image_layer_id(&task.target_id);
    let mut conn = ctx.store.read().await?;
    if store::layer::layer_get(&mut conn, &layer).await?.is_none() {
        ctx.block.remove(&layer).await?;
    }
    drop(conn);
    collect_layers(ctx, freed).await?;
    Ok(())
}

pub(super) async fn delete_image(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let delete_snapshots = decode::<ImageDelete>(task)?.delete_snapshot;
    let mut freed = Vec::new();
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    if let Some(img) = image::image_by_id(c, &task.target_id).await? {
        image::image_delete(c, &img.id).await?;
        freed.extend(img.layer_id.clone());
        if delete_snapshots {
            for d in img.devices() {
                if d.snapshot_id.is_empty() {
                    continue;
                }
                let still_used = !snapshot::snapshot_image_ids(c, &d.snapshot_id)
                    .await?
                    .is_empty();
                if still_used {
                    continue;
                }
                if let Some(s) = snapshot::snapshot_by_id(c, &d.snapshot_id).await? {
                    // Only the snapshots this image made; a user's own snapshot named in
                    // dataDisks stays theirs.
                    if s.made_for_image == img.id {
                        snapshot::snapshot_delete(c, &s.id).await?;
                        freed.extend(s.layer_id);
                    }
                }
            }
        }
    }
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}
