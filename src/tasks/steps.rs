//! The steps of each task kind, and what a failure leaves behind.
//!
//! Each step first does its (idempotent) file work outside the metadata lock, then applies
//! its metadata changes and records its progress in one transaction.

use super::guest_steps;
use super::payload::{self, decode};
use super::{collect_layers, finish_step, Outcome, StepError, TaskCtx};
use crate::store::status::{
    AttachmentStatus, DiskStatus, ImageStatus, ImageTaskStatus, SnapshotStatus, TaskKind, TaskState,
};
use crate::store::{self, disk, elastic_ip, instance, network_interface, snapshot, TaskRow};

type StepResult = Result<(), StepError>;

/// Where a task is: the data work of a two-step kind (step 0), or the step that records
/// the outcome (a one-step kind's only step; a two-step kind's step 1, after
/// `--task-delay` or `--transition-delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Work,
    Finish,
}

impl Step {
    /// The step of `task`, by its kind: which kinds have a work step is said here once.
    pub(super) fn of(task: &TaskRow) -> Step {
        let two_steps = matches!(
            task.kind,
            TaskKind::InstanceCreate
                | TaskKind::DiskCreate
                | TaskKind::ImageCreate
                | TaskKind::ImageImport
                | TaskKind::ImageExport
                | TaskKind::ImageCopy
        );
        if two_steps && task.step == 0 {
            Step::Work
        } else {
            Step::Finish
        }
    }
}

pub(super) async fn run_step(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    use super::{image_steps as image, transfer_steps as transfer};
    use Step::{Finish, Work};
    match (task.kind, Step::of(task)) {
        (TaskKind::InstanceCreate, Work) => instance_create_materialize(ctx, task).await,
        (TaskKind::InstanceCreate, Finish) => instance_create_finish(ctx, task).await,
        (TaskKind::InstanceTransition, _) => instance_transition_finish(ctx, task).await,
        (TaskKind::InstanceDelete, _) => instance_delete(ctx, task).await,
        (TaskKind::DiskCreate, Work) => disk_create_materialize(ctx, task).await,
        (TaskKind::DiskCreate, Finish) => disk_create_finish(ctx, task).await,
        (TaskKind::DiskDelete, _) => disk_delete(ctx, task).await,
        (TaskKind::DiskAttach, _) => disk_attach_finish(ctx, task).await,
        (TaskKind::DiskDetach, _) => disk_detach_finish(ctx, task).await,
        (TaskKind::DiskExtend, _) => super::disk_steps::extend(ctx, task).await,
        (TaskKind::DiskRestore, _) => super::disk_steps::restore(ctx, task).await,
        (TaskKind::SnapshotCreate, _) => snapshot_create_finish(ctx, task).await,
        (TaskKind::SnapshotDelete, _) => snapshot_delete(ctx, task).await,
        (TaskKind::ImageCreate, Work) => image::copy_local_system_disk(ctx, task).await,
        (TaskKind::ImageCreate, Finish) => image::finish_image(ctx, task).await,
        (TaskKind::ImageImport, Work) => transfer::import_layers(ctx, task).await,
        (TaskKind::ImageImport, Finish) => transfer::finish_import(ctx, task).await,
        (TaskKind::ImageExport, Work) => transfer::export_files(ctx, task).await,
        (TaskKind::ImageExport, Finish) => transfer::finish_export(ctx, task).await,
        (TaskKind::ImageDelete, _) => image::delete_image(ctx, task).await,
        (TaskKind::ImageConvert, _) => image::finish_convert(ctx, task).await,
        (TaskKind::ImageFromSnapshots, _) => image::finish_from_snapshots(ctx, task).await,
        (TaskKind::ImageCopy, Work) => super::copy_steps::copy_layers(ctx, task).await,
        (TaskKind::ImageCopy, Finish) => super::copy_steps::finish_copy(ctx, task).await,
    }
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
    let status = guest_steps::boot(ctx, &task.target_id).await?;
    let mut tx = ctx.store.write().await?;
    let disks = disk::attachments_of_instance(&mut tx, &task.target_id).await?;
    for (a, d) in &disks {
        disk::attachment_set_status(
            &mut tx,
            &a.disk_id,
            &a.instance_id,
            AttachmentStatus::Attached,
        )
        .await?;
        disk::disk_set_state(&mut tx, &d.id, DiskStatus::InUse, None).await?;
    }
    instance::instance_end_task(&mut tx, &task.target_id, "create", status).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn instance_transition_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let p: payload::InstanceTransition = decode(task)?;
    let id = &task.target_id;
    let status = match p.task.as_str() {
        "start" => guest_steps::boot(ctx, id).await?,
        "reboot" => guest_steps::reset(ctx, id).await?,
        "stop" => {
            guest_steps::power_down(ctx, id).await?;
            p.final_status
        }
        _ => p.final_status,
    };
    let mut tx = ctx.store.write().await?;
    instance::instance_end_task(&mut tx, id, &p.task, status).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the instance with its local disks, its auto-delete cloud disks and its network
/// interfaces; other cloud disks are detached and become `available`.
async fn instance_delete(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    guest_steps::discard(ctx, &task.target_id).await;
    let mut tx = ctx.store.write().await?;
    let disks = disk::attachments_of_instance(&mut tx, &task.target_id).await?;
    let mut freed_layers = Vec::new();
    for (a, d) in disks {
        disk::attachment_delete(&mut tx, &a.disk_id, &a.instance_id).await?;
        let shared_elsewhere = !disk::attachments_of_disk(&mut tx, &d.id).await?.is_empty();
        let never_created = d.status == DiskStatus::ErrorCreate;
        if (d.category == "local" || a.auto_delete || never_created) && !shared_elsewhere {
            disk::disk_delete(&mut tx, &d.id).await?;
            freed_layers.extend(d.top_layer_id);
        } else if !shared_elsewhere {
            disk::disk_set_state(&mut tx, &d.id, DiskStatus::Available, None).await?;
        }
    }
    // Its network interfaces go with it; so do the elastic IPs made with it.
    elastic_ip::eips_let_go_of_instance(&mut tx, &task.target_id).await?;
    network_interface::nics_delete_of_instance(&mut tx, &task.target_id).await?;
    disk::recent_detachments_clear(&mut tx, &task.target_id).await?;
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
    disk::disk_set_state(&mut tx, &task.target_id, DiskStatus::Available, None).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

/// The disk reads `deleted` (JD's last status, which Terraform waits for) and lets go of
/// its data; its row is purged by a later deleteDisk once `--deleted-retention` is over
/// (reads treat it as gone from then on).
async fn disk_delete(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let mut tx = ctx.store.write().await?;
    let now = store::now_ms();
    let freed = match disk::disk_by_id(&mut tx, &task.target_id).await? {
        Some(d) if d.status != DiskStatus::Deleted => disk::disk_mark_deleted(&mut tx, &d.id, now)
            .await?
            .into_iter()
            .collect(),
        _ => vec![],
    };
    let retention = ctx.delays.deleted_retention.as_millis() as i64;
    disk::disks_purge_deleted(&mut tx, now - retention).await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}

async fn disk_attach_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let instance_id = decode::<payload::DiskAttach>(task)?.instance_id;
    guest_steps::plug(ctx, &instance_id, &task.target_id).await?;
    let mut tx = ctx.store.write().await?;
    disk::attachment_set_status(
        &mut tx,
        &task.target_id,
        &instance_id,
        AttachmentStatus::Attached,
    )
    .await?;
    disk::disk_set_state(&mut tx, &task.target_id, DiskStatus::InUse, None).await?;
    instance::instance_clear_task(&mut tx, &instance_id, "attachDisk").await?;
    finish_step(&mut tx, task, Outcome::Done).await?;
    tx.commit().await?;
    Ok(())
}

async fn disk_detach_finish(ctx: &TaskCtx, task: &TaskRow) -> StepResult {
    let instance_id = decode::<payload::DiskDetach>(task)?.instance_id;
    guest_steps::unplug(ctx, &instance_id, &task.target_id).await?;
    let mut tx = ctx.store.write().await?;
    let ended = disk::attachments_of_disk(&mut tx, &task.target_id)
        .await?
        .into_iter()
        .find(|a| a.instance_id == instance_id);
    if let Some(a) = ended {
        let now = store::now_ms();
        let purge_before = now - crate::service::instance::DETACHED_SHOWN_FOR_MS;
        disk::recent_detachment_record(&mut tx, &a, now, purge_before).await?;
    }
    disk::attachment_delete(&mut tx, &task.target_id, &instance_id).await?;
    let still = disk::attachments_of_disk(&mut tx, &task.target_id).await?;
    let status = if still.is_empty() {
        DiskStatus::Available
    } else {
        DiskStatus::InUse
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
        snapshot::snapshot_transition(
            &mut tx,
            &snap.id,
            &[SnapshotStatus::Creating],
            SnapshotStatus::Available,
        )
        .await?;
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
    match task.kind {
        TaskKind::ImageCreate => return super::image_steps::fail_image(ctx, task, error).await,
        TaskKind::ImageImport | TaskKind::ImageExport => {
            return super::transfer_steps::fail_transfer(ctx, task, error).await
        }
        TaskKind::ImageCopy => return super::copy_steps::fail_copy(ctx, task, error).await,
        _ => {}
    }
    let mut tx = ctx.store.write().await?;
    let c = &mut *tx;
    // Layers made for disks that never came to be: collected once the failure commits.
    let mut freed = Vec::new();
    match task.kind {
        TaskKind::InstanceCreate => {
            // Its disks never came to be and were never attached: no attachment stays
            // `attaching` (nothing would ever finish it).
            for (_, d) in disk::attachments_of_instance(c, &task.target_id).await? {
                disk::attachment_set_status(
                    c,
                    &d.id,
                    &task.target_id,
                    AttachmentStatus::ErrorAttach,
                )
                .await?;
                disk::disk_set_state(c, &d.id, DiskStatus::ErrorCreate, None).await?;
                freed.extend(disk::disk_release_layer(c, &d.id).await?);
            }
            instance::instance_set_error(c, &task.target_id).await?;
        }
        TaskKind::InstanceTransition | TaskKind::InstanceDelete => {
            instance::instance_set_error(c, &task.target_id).await?;
        }
        TaskKind::DiskCreate => {
            disk::disk_set_state(c, &task.target_id, DiskStatus::ErrorCreate, None).await?;
            freed.extend(disk::disk_release_layer(c, &task.target_id).await?);
        }
        TaskKind::DiskDelete => {
            disk::disk_set_state(c, &task.target_id, DiskStatus::ErrorDelete, None).await?
        }
        // The disk keeps its size (a failed extend) or the data the call switched to (a
        // failed restore); its status says the operation failed, as JD's does.
        TaskKind::DiskExtend => {
            disk::disk_set_state(c, &task.target_id, DiskStatus::ErrorExtend, None).await?
        }
        TaskKind::DiskRestore => {
            disk::disk_set_state(c, &task.target_id, DiskStatus::ErrorRestore, None).await?
        }
        TaskKind::DiskAttach | TaskKind::DiskDetach => {
            // A payload that does not decode still fails the task (nothing to detach from).
            let instance_id = match task.kind {
                TaskKind::DiskAttach => decode::<payload::DiskAttach>(task).map(|p| p.instance_id),
                _ => decode::<payload::DiskDetach>(task).map(|p| p.instance_id),
            }
            .unwrap_or_default();
            let (att_status, inst_task) = if task.kind == TaskKind::DiskAttach {
                (AttachmentStatus::ErrorAttach, "attachDisk")
            } else {
                (AttachmentStatus::ErrorDetach, "detachDisk")
            };
            disk::attachment_set_status(c, &task.target_id, &instance_id, att_status).await?;
            if let Some(d) = disk::disk_by_id(c, &task.target_id).await? {
                disk::disk_set_state(c, &d.id, d.status, None).await?;
            }
            instance::instance_clear_task(c, &instance_id, inst_task).await?;
        }
        TaskKind::SnapshotCreate => {
            if let Some(s) = snapshot::snapshot_by_id(c, &task.target_id).await? {
                snapshot::snapshot_transition(
                    c,
                    &s.id,
                    &[SnapshotStatus::Creating],
                    SnapshotStatus::ErrorCreate,
                )
                .await?;
                disk::disk_clear_task(c, &s.disk_id, "createSnapshot").await?;
            }
        }
        TaskKind::SnapshotDelete => {
            snapshot::snapshot_transition(
                c,
                &task.target_id,
                &[SnapshotStatus::Deleting],
                SnapshotStatus::ErrorDelete,
            )
            .await?;
        }
        TaskKind::ImageDelete => {
            store::image::image_transition(
                c,
                &task.target_id,
                &[ImageStatus::Deleting],
                ImageStatus::Error,
            )
            .await?;
        }
        TaskKind::ImageConvert => {
            // The new image fails; the snapshot made for it goes (its layer is the
            // source image's, which keeps it).
            if let Ok(p) = decode::<payload::ImageConvert>(task) {
                let (pending, failed) = (&[ImageStatus::Pending], ImageStatus::Error);
                store::image::image_transition(c, &p.image_id, pending, failed).await?;
                snapshot::snapshot_delete(c, &p.snapshot_id).await?;
                if !p.image_task_id.is_empty() {
                    let (failed, now) = (ImageTaskStatus::Failed, store::now_ms());
                    let message: String = error.chars().take(500).collect();
                    store::image_task::image_task_update(
                        c,
                        &p.image_task_id,
                        failed,
                        0,
                        None,
                        &message,
                        now,
                    )
                    .await?;
                }
            }
        }
        TaskKind::ImageFromSnapshots => {
            let (pending, error) = (&[ImageStatus::Pending], ImageStatus::Error);
            store::image::image_transition(c, &task.target_id, pending, error).await?;
        }
        _ => {}
    }
    store::task::task_finish(&mut tx, &task.id, TaskState::Failed, Some(error)).await?;
    tx.commit().await?;
    collect_layers(ctx, freed).await?;
    Ok(())
}
