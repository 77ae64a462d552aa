//! Changes to an existing cloud disk: modifyDiskAttribute, extendDisk, restoreDisk.
//!
//! JD's rules (disk API docs and the SDK's request comments): extendDisk and restoreDisk
//! need the disk `available` (so not attached, not busy with a snapshot); sizes only
//! grow, in steps of 10 GiB within the type's range; a disk is restored only from one of
//! its own `available` snapshots.

use super::spec;
use super::{Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{DiskStatus, SnapshotStatus};
use crate::store::{self, now_ms, Db, DiskRow, LayerRow};
use crate::tasks::{self, payload};

/// The one status extendDisk and restoreDisk accept.
const CHANGEABLE: &[DiskStatus] = &[DiskStatus::Available];

/// extendDisk's request.
#[derive(Debug, Clone, Default)]
pub struct ExtendInput {
    pub disk_size_gb: Option<i64>,
    /// `ssd.io1` only; ignored for other types (SDK: "当且仅当ssd.io1型的云盘类型有效").
    pub iops: Option<i64>,
}

fn check_disk_id(id: &str) -> ApiResult<()> {
    if id.starts_with("vol-") {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "Malformed disk id '{id}'"
        )))
    }
}

fn invalid_disk_status(disk: &DiskRow) -> ApiError {
    ApiError::FailedPrecondition(format!("Invalid disk status '{}'", disk.status))
}

/// The disk idle and `available`; a disk busy with a snapshot (JD: "当云硬盘正在创建快照时，
/// 不允许扩容") says what it is busy with.
fn check_changeable(disk: &DiskRow) -> ApiResult<()> {
    if let Some(task) = &disk.task {
        return Err(ApiError::FailedPrecondition(format!(
            "Disk '{}' busy in '{task}'",
            disk.id
        )));
    }
    if !CHANGEABLE.contains(&disk.status) {
        return Err(invalid_disk_status(disk));
    }
    Ok(())
}

async fn disk_of(db: &mut Db, scope: &Scope, id: &str) -> ApiResult<DiskRow> {
    store::disk::disk_get(db, &scope.pin, &scope.region, id)
        .await?
        .ok_or_else(|| ApiError::disk_not_found(id))
}

impl Service {
    /// modifyDiskAttribute: a new name and/or description (at least one).
    pub async fn disk_modify(
        &self,
        scope: &Scope,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> ApiResult<()> {
        if name.is_none() && description.is_none() {
            return Err(ApiError::InvalidArgument("Parameter name missing".into()));
        }
        check_disk_id(id)?;
        if let Some(n) = name.as_deref().filter(|n| !spec::disk_name_ok(n)) {
            return Err(ApiError::InvalidArgument(format!("Malformed name '{n}'")));
        }
        if let Some(d) = description.as_deref().filter(|d| !spec::description_ok(d)) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed description '{d}'"
            )));
        }
        let mut tx = self.store.write().await?;
        disk_of(&mut tx, scope, id).await?;
        store::disk::disk_set_attributes(&mut tx, id, name.as_deref(), description.as_deref())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// extendDisk: the disk reads `extending` while its top layer grows (a task, after
    /// `--task-delay`), then `available` at the new size with its data kept.
    pub async fn disk_extend(&self, scope: &Scope, id: &str, input: ExtendInput) -> ApiResult<()> {
        let size_gb = input
            .disk_size_gb
            .ok_or_else(|| ApiError::InvalidArgument("Parameter diskSizeGB missing".into()))?;
        check_disk_id(id)?;
        let mut tx = self.store.write().await?;
        let disk = disk_of(&mut tx, scope, id).await?;
        // Only growth, by steps of 10 GiB, within the type's range.
        if size_gb <= disk.size_gb || !spec::size_ok(&disk.disk_type, size_gb) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid diskSizeGB '{size_gb}'"
            )));
        }
        let iops = match input.iops {
            Some(iops) if disk.disk_type == "ssd.io1" => {
                if !spec::iops_ok(size_gb, iops) {
                    return Err(ApiError::InvalidArgument(
                        "Invalid iops number for ssd.io1".into(),
                    ));
                }
                iops
            }
            _ => disk.iops,
        };
        check_changeable(&disk)?;
        if !store::disk::disk_begin_task(&mut tx, id, CHANGEABLE, "extend", DiskStatus::Extending)
            .await?
        {
            return Err(invalid_disk_status(&disk));
        }
        let work = payload::DiskExtend { size_gb, iops };
        tasks::enqueue(&mut tx, id, &work, self.cfg.delays.task).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }

    /// restoreDisk: the disk's data becomes exactly that of one of its own snapshots. A new
    /// empty top layer on the snapshot's layer replaces the disk's layers (collected when
    /// nothing else depends on them); the disk keeps its size and reads `restoring` until
    /// the task finishes (after `--task-delay`).
    pub async fn disk_restore(
        &self,
        scope: &Scope,
        id: &str,
        snapshot_id: Option<String>,
    ) -> ApiResult<()> {
        let snapshot_id = snapshot_id
            .ok_or_else(|| ApiError::InvalidArgument("Parameter snapshotId missing".into()))?;
        check_disk_id(id)?;
        if !snapshot_id.starts_with("snapshot-") {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed snapshot id '{snapshot_id}'"
            )));
        }
        let mut db = self.store.read().await?;
        let (disk, snap_layer) = restore_checks(&mut db, scope, id, &snapshot_id).await?;
        drop(db);

        // The new top layer's file first (constant time), outside any transaction; if the
        // record fails it is removed here (or by the start-up sweep after a crash).
        let layer = LayerRow {
            id: ids::layer_id(),
            backing_id: Some(snap_layer.clone()),
            size_bytes: disk.size_gb * GIB as i64,
            created_at: now_ms(),
        };
        self.block
            .create_overlay(&layer.id, &snap_layer, Some(layer.size_bytes as u64))
            .await?;
        let freed = match self.record_restore(scope, id, &snapshot_id, &layer).await {
            Ok(freed) => freed,
            Err(e) => {
                let _ = self.block.remove(&layer.id).await;
                return Err(e);
            }
        };
        self.wake_tasks();
        tasks::collect_layers(&self.task_ctx(), freed.into_iter().collect()).await?;
        Ok(())
    }

    /// restoreDisk's transaction: the rules again (things may have moved since the read),
    /// the new layer recorded and made the disk's top, the disk `restoring`. The disk's old
    /// top layer, to collect.
    async fn record_restore(
        &self,
        scope: &Scope,
        id: &str,
        snapshot_id: &str,
        layer: &LayerRow,
    ) -> ApiResult<Option<String>> {
        let mut tx = self.store.write().await?;
        let (disk, snap_layer) = restore_checks(&mut tx, scope, id, snapshot_id).await?;
        if layer.backing_id.as_deref() != Some(snap_layer.as_str()) {
            return Err(ApiError::internal("snapshot layer moved during restore"));
        }
        if !store::disk::disk_begin_task(&mut tx, id, CHANGEABLE, "restore", DiskStatus::Restoring)
            .await?
        {
            return Err(invalid_disk_status(&disk));
        }
        store::layer::layer_insert(&mut tx, layer).await?;
        let old = store::disk::disk_release_layer(&mut tx, id).await?;
        store::disk::disk_set_top_layer(&mut tx, id, &layer.id, disk.size_gb).await?;
        tasks::enqueue(&mut tx, id, &payload::DiskRestore {}, self.cfg.delays.task).await?;
        tx.commit().await?;
        Ok(old)
    }
}

/// restoreDisk's rules, in JD's order of its error table: the disk, the snapshot, the
/// snapshot being the disk's own, the disk's status, the snapshot's. The disk and the
/// snapshot's layer.
async fn restore_checks(
    db: &mut Db,
    scope: &Scope,
    id: &str,
    snapshot_id: &str,
) -> ApiResult<(DiskRow, String)> {
    let disk = disk_of(db, scope, id).await?;
    let snap = store::snapshot::snapshot_get(db, &scope.pin, &scope.region, snapshot_id)
        .await?
        .ok_or_else(|| ApiError::snapshot_not_found(snapshot_id))?;
    if snap.disk_id != disk.id {
        return Err(ApiError::FailedPrecondition(
            "Snapshot was not created by this disk".into(),
        ));
    }
    check_changeable(&disk)?;
    let layer = match (&snap.status, &snap.layer_id) {
        (SnapshotStatus::Available, Some(layer)) => layer.clone(),
        _ => {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot status '{}'",
                snap.status
            )))
        }
    };
    Ok((disk, layer))
}
