//! attachDisk and detachDisk, on the instance side (vm API).

use std::collections::HashSet;

use super::{catalog, spec, Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::status::{AttachmentStatus, DiskStatus, InstanceStatus};
use crate::store::{self, now_ms, AttachmentRow};
use crate::tasks::{self, payload};

impl Service {
    pub async fn instance_attach_disk(
        &self,
        scope: &Scope,
        instance_id: &str,
        disk_id: &str,
        device_name: Option<String>,
        auto_delete: bool,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let c = &mut *tx;
        let (inst, disk) = idle_pair(c, scope, instance_id, disk_id).await?;
        let disk_atts = store::disk::attachments_of_disk(c, disk_id).await?;
        if disk_atts.iter().any(|a| a.instance_id == instance_id)
            || (!disk.multi_attachable && !disk_atts.is_empty())
        {
            return Err(ApiError::FailedPrecondition(format!(
                "Disk '{disk_id}' already attached"
            )));
        }
        if disk.multi_attachable && disk_atts.len() >= 16 {
            return Err(ApiError::FailedPrecondition(
                "Disk attachment limit exceeded".into(),
            ));
        }
        let ok_status = if disk.multi_attachable {
            &[DiskStatus::Available, DiskStatus::InUse][..]
        } else {
            &[DiskStatus::Available][..]
        };
        if !ok_status.contains(&disk.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid disk status '{}'",
                disk.status
            )));
        }
        if disk.az != inst.az {
            return Err(ApiError::FailedPrecondition(
                "The instance and disk are not in the same az".into(),
            ));
        }
        let inst_disks = store::disk::attachments_of_instance(c, instance_id).await?;
        let used: HashSet<String> = inst_disks
            .iter()
            .map(|(a, _)| a.device_name.clone())
            .collect();
        let device = match device_name {
            Some(d) if d == "vda" => {
                if inst.status != InstanceStatus::Stopped {
                    return Err(ApiError::invalid_instance_status(inst.status));
                }
                if used.contains("vda") {
                    return Err(ApiError::FailedPrecondition(
                        "Duplicated system disk".into(),
                    ));
                }
                if disk.multi_attachable {
                    return Err(ApiError::FailedPrecondition(
                        "The system disk does not support shared disk".into(),
                    ));
                }
                if !spec::system_size_ok(disk.size_gb) {
                    return Err(ApiError::FailedPrecondition(
                        "System disk size constraints".into(),
                    ));
                }
                d
            }
            Some(d) => {
                if !spec::is_data_device_name(&d) {
                    return Err(ApiError::FailedPrecondition(
                        "DataDisks out of range".into(),
                    ));
                }
                if used.contains(&d) {
                    return Err(ApiError::FailedPrecondition(format!(
                        "DeviceName '{d}' has been used"
                    )));
                }
                d
            }
            None => spec::data_device_names()
                .find(|n| !used.contains(n))
                .ok_or_else(|| {
                    ApiError::FailedPrecondition("Disk attachment limit exceeded".into())
                })?,
        };
        if device != "vda" {
            let limit = catalog::instance_type(&inst.instance_type).map_or(8, |t| t.max_data_disks);
            let cloud_data = inst_disks
                .iter()
                .filter(|(a, d)| a.device_name != "vda" && d.category == "cloud")
                .count();
            if cloud_data >= limit {
                return Err(ApiError::FailedPrecondition(
                    "Disk attachment limit exceeded".into(),
                ));
            }
        }
        if !store::instance::instance_set_task(
            c,
            instance_id,
            &[InstanceStatus::Running, InstanceStatus::Stopped],
            "attachDisk",
        )
        .await?
        {
            return Err(ApiError::underlay_conflict("attachDisk"));
        }
        if !store::disk::disk_set_task(c, disk_id, ok_status, "attach").await? {
            return Err(ApiError::FailedPrecondition("Disk busy in 'attach'".into()));
        }
        store::disk::attachment_insert(
            c,
            &AttachmentRow {
                disk_id: disk_id.into(),
                instance_id: instance_id.into(),
                device_name: device,
                status: AttachmentStatus::Attaching,
                auto_delete,
                attached_at: now_ms(),
            },
        )
        .await?;
        tasks::enqueue(
            c,
            disk_id,
            &payload::DiskAttach {
                instance_id: instance_id.into(),
            },
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }

    pub async fn instance_detach_disk(
        &self,
        scope: &Scope,
        instance_id: &str,
        disk_id: &str,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let c = &mut *tx;
        let (inst, disk) = idle_pair(c, scope, instance_id, disk_id).await?;
        let att = store::disk::attachments_of_disk(c, disk_id)
            .await?
            .into_iter()
            .find(|a| a.instance_id == instance_id)
            .ok_or_else(|| {
                ApiError::FailedPrecondition(format!("Invalid disk status '{}'", disk.status))
            })?;
        if att.status != AttachmentStatus::Attached {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid disk status '{}'",
                att.status
            )));
        }
        if att.device_name == "vda" && inst.status != InstanceStatus::Stopped {
            return Err(ApiError::FailedPrecondition(
                "Please stop the instance first".into(),
            ));
        }
        if !store::instance::instance_set_task(
            c,
            instance_id,
            &[InstanceStatus::Running, InstanceStatus::Stopped],
            "detachDisk",
        )
        .await?
        {
            return Err(ApiError::underlay_conflict("detachDisk"));
        }
        if !store::disk::disk_set_task(c, disk_id, &[disk.status], "detach").await? {
            return Err(ApiError::FailedPrecondition("Disk busy in 'detach'".into()));
        }
        store::disk::attachment_set_status(c, disk_id, instance_id, AttachmentStatus::Detaching)
            .await?;
        tasks::enqueue(
            c,
            disk_id,
            &payload::DiskDetach {
                instance_id: instance_id.into(),
            },
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }
}

/// attachDisk's and detachDisk's first checks, in JD's order: both exist (the caller's),
/// the instance idle and running or stopped, the disk idle.
async fn idle_pair(
    c: &mut store::Db,
    scope: &Scope,
    instance_id: &str,
    disk_id: &str,
) -> ApiResult<(store::InstanceRow, store::DiskRow)> {
    let inst = store::instance::instance_get(c, &scope.pin, &scope.region, instance_id)
        .await?
        .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
    let disk = store::disk::disk_get(c, &scope.pin, &scope.region, disk_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Disk '{disk_id}' not found.")))?;
    if let Some(t) = &inst.task {
        return Err(ApiError::underlay_conflict(t));
    }
    if ![InstanceStatus::Running, InstanceStatus::Stopped].contains(&inst.status) {
        return Err(ApiError::invalid_instance_status(inst.status));
    }
    if let Some(t) = &disk.task {
        return Err(ApiError::FailedPrecondition(format!("Disk busy in '{t}'")));
    }
    Ok((inst, disk))
}
