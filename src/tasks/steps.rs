//! The steps of each task kind, and what a failure leaves behind.
//!
//! Each step first does its (idempotent) file work outside the metadata lock, then applies
//! its metadata changes and records its progress in one transaction.

use serde_json::Value;

use super::{collect_layers, finish_step, kind, Outcome, StepError, TaskCtx};
use crate::store::{self, disk, instance, snapshot, TaskRow};

type StepResult = Result<(), StepError>;

pub(super) async fn run_step(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    match (task.kind.as_str(), task.step) {
        (kind::INSTANCE_CREATE, 0) => instance_create_materialize(ctx, task).await,
        (kind::INSTANCE_CREATE, _) => instance_create_finish(ctx, task).await,
        (kind::INSTANCE_TRANSITION, _) => instance_transition_finish(ctx, task).await,
        (kind::INSTANCE_DELETE, _) => instance_delete(ctx, task).await,
        (kind::DISK_CREATE, 0) => disk_create_materialize(ctx, task).await,
        (kind::DISK_CREATE, _) => disk_create_finish(ctx, task).await,
        (kind::DISK_DELETE, _) => disk_delete(ctx, task).await,
        (kind::DISK_ATTACH, _) => disk_attach_finish(ctx, task).await,
        (kind::DISK_DETACH, _) => disk_detach_finish(ctx, task).await,
        (kind::SNAPSHOT_CREATE, _) => snapshot_create_finish(ctx, task).await,
        (kind::SNAPSHOT_DELETE, _) => snapshot_delete(ctx, task).await,
        (kind::IMAGE_CREATE, 0) => super::image_steps::copy_local_system_disk(ctx, task).await,
        (kind::IMAGE_CREATE, _) => super::image_steps::finish_image(ctx, task).await,
        (kind::IMAGE_IMPORT, 0) => super::transfer_steps::import_layers(ctx, task).await,
        (kind::IMAGE_IMPORT, _) => super::transfer_steps::finish_import(ctx, task).await,
        (kind::IMAGE_EXPORT, 0) => super::transfer_steps::export_files(ctx, task).await,
        (kind::IMAGE_EXPORT, _) => super::transfer_steps::finish_export(ctx, task).await,
        (kind::IMAGE_DELETE, _) => super::image_steps::delete_image(ctx, task).await,
        (other, step) => Err(StepError::Invalid(format!(
            "unknown task {other} step {step}"
        ))),
    }
}

pub(super) fn payload_str(task: &TaskRow, key: &str) -> Result<String, StepError> {
    let v: Value = serde_json::from_str(&task.payload)
        .map_err(|e| StepError::Invalid(format!("task payload: {e}")))?;
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| StepError::Invalid(format!("task payload lacks {key}")))
}

/// Creates the file of a layer recorded in metadata, if it is not there yet.
async fn materialize_layer(ctx: &TaskCtx, layer_id: &str) -> StepResult {
    if ctx.block.exists(layer_id) {
        return Ok(());
    }
    let mut conn = ctx.store.read().await?;
    let layer = store::layer::layer_get(&mut conn, layer_id)
        .await?
        .ok_or_else(|| StepError::Invalid(format!("layer {layer_id} has no record")))?;
    drop(conn);
    let size = layer.size_bytes as u64;
    match &layer.backing_id {
        Some(b) => ctx.block.create_overlay(layer_id, b, Some(size)).await?,
        None => ctx.block.create_blank(layer_id, size).await?,
    }
    Ok(())
}

async fn instance_create_materialize(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut conn = ctx.store.read().await?;
    let disks = disk::attachments_of_instance(&mut conn, &task.target_id).await?;
    drop(conn);
    for (_, d) in &disks {
        materialize_layer(ctx, d.top_layer()).await?;
    }
    let mut tx = ctx.store.write().await?;
    finish_step(&mut tx, task, Outcome::Next(ctx.delays.transition)).await?;
    tx.commit().await?;
    Ok(())
}

async fn instance_create_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    let disks = disk::attachments_of_instance(&mut tx, &task.target_id).await?;
    for (a, d) in &disks {
        disk::attachment_set_status(&mut tx, &a.disk_id, &a.instance_id, "attached").await?;
        disk::disk_set_state(&mut tx, &d.id, "in-use", None).await?;
    }
    instance::instance_end_task(&mut tx, &task.target_id, "create", "running").await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn instance_transition_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let name = payload_str(task, "task")?;
    let final_status = payload_str(task, "final")?;
    let mut tx = ctx.store.write().await?;
    instance::instance_end_task(&mut tx, &task.target_id, &name, &final_status).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the instance with its local disks and its auto-delete cloud disks; other cloud
/// disks are detached and become `available`.
async fn instance_delete(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    let disks = disk::attachments_of_instance(&mut tx, &task.target_id).await?;
    let mut freed_layers = Vec::new();
    for (a, d) in disks {
        disk::attachment_delete(&mut tx, &a.disk_id, &a.instance_id).await?;
        let shared_elsewhere = !disk::attachments_of_disk(&mut tx, &d.id).await?.is_empty();
        let never_created = d.status == "error_create";
        if (d.category == "local" || a.auto_delete || never_created) && !shared_elsewhere {
            disk::disk_delete(&mut tx, &d.id).await?;
            freed_layers.extend(d.top_layer_id);
        } else if !shared_elsewhere {
            disk::disk_set_state(&mut tx, &d.id, "available", None).await?;
        }
    }
    instance::instance_delete(&mut tx, &task.target_id).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    collect_layers(ctx, freed_layers).await?;
    Ok(())
}

async fn disk_create_materialize(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut conn = ctx.store.read().await?;
    let d = disk::disk_by_id(&mut conn, &task.target_id)
        .await?
        .ok_or_else(|| StepError::Invalid(format!("disk {} vanished", task.target_id)))?;
    drop(conn);
    materialize_layer(ctx, d.top_layer()).await?;
    let mut tx = ctx.store.write().await?;
    finish_step(&mut tx, task, Outcome::Next(ctx.delays.task)).await?;
    tx.commit().await?;
    Ok(())
}

async fn disk_create_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    disk::disk_set_state(&mut tx, &task.target_id, "available", None).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn disk_delete(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    let freed = match disk::disk_by_id(&mut tx, &task.target_id).await? {
        Some(d) => {
            disk::disk_delete(&mut tx, &d.id).await?;
            d.top_layer_id.into_iter().collect()
        }
        None => vec![],
    };
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}

async fn disk_attach_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let instance_id = payload_str(task, "instanceId")?;
    let mut tx = ctx.store.write().await?;
    disk::attachment_set_status(&mut tx, &task.target_id, &instance_id, "attached").await?;
    disk::disk_set_state(&mut tx, &task.target_id, "in-use", None).await?;
    instance::instance_clear_task(&mut tx, &instance_id, "attachDisk").await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn disk_detach_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let instance_id = payload_str(task, "instanceId")?;
    let mut tx = ctx.store.write().await?;
    disk::attachment_delete(&mut tx, &task.target_id, &instance_id).await?;
    let still = disk::attachments_of_disk(&mut tx, &task.target_id).await?;
    let status = if still.is_empty() {
        "available"
    } else {
        "in-use"
    };
    disk::disk_set_state(&mut tx, &task.target_id, status, None).await?;
    instance::instance_clear_task(&mut tx, &instance_id, "detachDisk").await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn snapshot_create_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    if let Some(snap) = snapshot::snapshot_by_id(&mut tx, &task.target_id).await? {
        snapshot::snapshot_transition(&mut tx, &snap.id, &["creating"], "available").await?;
        disk::disk_clear_task(&mut tx, &snap.disk_id, "createSnapshot").await?;
    }
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn snapshot_delete(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    let freed = match snapshot::snapshot_by_id(&mut tx, &task.target_id).await? {
        Some(s) => {
            snapshot::snapshot_delete(&mut tx, &s.id).await?;
            s.layer_id.into_iter().collect()
        }
        None => vec![],
    };
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}

/// Leaves the resources of a failed task in their documented error state, idle, and
/// removes what the failed step may have half-made.
pub(super) async fn fail(ctx: &TaskCtx, task: &TaskRow, error: &str) -> StepResult {
    // These open their own transactions (the writer gate is not re-entrant).
    match task.kind.as_str() {
        kind::IMAGE_CREATE => return super::image_steps::fail_image(ctx, task, error).await,
        kind::IMAGE_IMPORT | kind::IMAGE_EXPORT => {
            return super::transfer_steps::fail_transfer(ctx, task, error).await
        }
        _ => {}
    }
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    // Layers made for disks that never came to be: collected once the failure commits.
    let mut freed = Vec::new();
    match task.kind.as_str() {
        kind::INSTANCE_CREATE => {
            // Its disks never came to be and were never attached: no attachment stays
            // `attaching` (nothing would ever finish it).
            for (_, d) in disk::attachments_of_instance(c, &task.target_id).await? {
                disk::attachment_set_status(c, &d.id, &task.target_id, "error_attach").await?;
                disk::disk_set_state(c, &d.id, "error_create", None).await?;
                freed.extend(disk::disk_release_layer(c, &d.id).await?);
            }
            instance::instance_set_error(c, &task.target_id).await?;
        }
        kind::INSTANCE_TRANSITION | kind::INSTANCE_DELETE => {
            instance::instance_set_error(c, &task.target_id).await?;
        }
        kind::DISK_CREATE => {
            disk::disk_set_state(c, &task.target_id, "error_create", None).await?;
            freed.extend(disk::disk_release_layer(c, &task.target_id).await?);
        }
        kind::DISK_DELETE => disk::disk_set_state(c, &task.target_id, "error_delete", None).await?,
        kind::DISK_ATTACH | kind::DISK_DETACH => {
            let instance_id = payload_str(task, "instanceId").unwrap_or_default();
            let (att_status, inst_task) = if task.kind == kind::DISK_ATTACH {
                ("error_attach", "attachDisk")
            } else {
                ("error_detach", "detachDisk")
            };
            disk::attachment_set_status(c, &task.target_id, &instance_id, att_status).await?;
            if let Some(d) = disk::disk_by_id(c, &task.target_id).await? {
                disk::disk_set_state(c, &d.id, &d.status, None).await?;
            }
            instance::instance_clear_task(c, &instance_id, inst_task).await?;
        }
        kind::SNAPSHOT_CREATE => {
            if let Some(s) = snapshot::snapshot_by_id(c, &task.target_id).await? {
                snapshot::snapshot_transition(c, &s.id, &["creating"], "error_create").await?;
                disk::disk_clear_task(c, &s.disk_id, "createSnapshot").await?;
            }
        }
        kind::SNAPSHOT_DELETE => {
            snapshot::snapshot_transition(c, &task.target_id, &["deleting"], "error_delete")
                .await?;
        }
        kind::IMAGE_DELETE => {
            store::image::image_transition(c, &task.target_id, &["deleting"], "error").await?;
        }
        _ => {}
    }
    store::task::task_finish(&mut tx, &task.id, "failed", Some(error)).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}
