//! createImage, as `seed/createImage.zh.md` says. Every precondition and error row is
//! checked here, before anything changes; the data work (freezing every disk at one
//! instant, copying a local system disk) is the `image_create` task.

use std::collections::HashSet;

use super::freeze::{switch_tops, Frozen, Overlays};
use super::quota::QuotaKind;
use super::spec::{self, AttachmentSpecInput};
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{
    AttachmentStatus, DiskStatus, ImageStatus, InstanceStatus, SnapshotStatus,
};
use crate::store::{
    self, now_ms, AttachmentRow, DiskRow, ImageBlockDevice, ImageRow, InstanceRow, SnapshotRow,
};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct CreateImageInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub data_disks: Vec<AttachmentSpecInput>,
}

/// A disk of the instance whose current data goes into the image.
struct Capture {
    disk: DiskRow,
    device: String,
    auto_delete: bool,
}

impl Service {
    pub async fn image_create(
        &self,
        scope: &Scope,
        instance_id: &str,
        input: CreateImageInput,
    ) -> ApiResult<String> {
        let name = input
            .name
            .ok_or_else(|| ApiError::InvalidArgument("Parameter name missing".into()))?;
        if !spec::image_name_ok(&name) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid image name '{name}'"
            )));
        }
        let description = input.description.unwrap_or_default();
        if !spec::description_ok(&description) {
            return Err(ApiError::InvalidArgument(
                "Invalid image description: at most 256 characters".into(),
            ));
        }
        let copy = self.full_copy_bytes(scope, instance_id).await?;
        self.ensure_room(copy, "copying the local system disk")?;
        // Creating the overlay files is most of the time a freeze takes, and every other
        // write waits while a transaction holds SQLite's one writer slot: they are made
        // first, on the disks as a read sees them. The transaction takes each one whose
        // disk still has that top (nearly always: a disk busy elsewhere refuses createImage
        // anyway) and makes the others itself; whatever it did not take is removed.
        let mut overlays = Overlays {
            premade: self.premake_overlays(scope, instance_id).await,
            made: Vec::new(),
        };
        let created = self
            .image_create_in_tx(
                scope,
                instance_id,
                name,
                description,
                &input.data_disks,
                &mut overlays,
            )
            .await;
        let taken: HashSet<&str> = match &created {
            Ok((_, plan)) => plan.iter().map(|f| f.new_top.as_str()).collect(),
            Err(_) => HashSet::new(),
        };
        let unused: Vec<String> = overlays
            .premade
            .iter()
            .map(|f| f.new_top.as_str())
            .chain(overlays.made.iter().map(String::as_str))
            .filter(|l| !taken.contains(l))
            .map(str::to_string)
            .collect();
        if !unused.is_empty() {
            let this = self.clone();
            tokio::spawn(async move { this.remove_overlays(unused).await });
        }
        created.map(|(id, _)| id)
    }

    /// createImage's checks and records, in one write transaction; the image id and the
    /// overlays it froze the disks with.
    async fn image_create_in_tx(
        &self,
        scope: &Scope,
        instance_id: &str,
        name: String,
        description: String,
        data_disks: &[AttachmentSpecInput],
        overlays: &mut Overlays,
    ) -> ApiResult<(String, Vec<Frozen>)> {
        let mut tx = self.store.write().await?;
        let (inst, disks) =
            store::instance_with_disks(&mut tx, &scope.pin, &scope.region, instance_id)
                .await?
                .ok_or_else(|| ApiError::instance_not_found(instance_id))?;
        let (sys_att, sys_disk) = check_instance(&inst, &disks)?;
        let local_system = sys_disk.category == "local";
        let specified = check_device_names(data_disks)?;
        let captures = captures(sys_att, sys_disk, &disks, &specified);
        let inserted = inserted_devices(&mut tx, scope, data_disks, &disks, &specified).await?;
        check_captures_idle(&captures)?;
        let snapshot_count = captures
            .iter()
            .filter(|c| c.disk.category == "cloud")
            .count();
        self.quota_check(&mut tx, scope, QuotaKind::Image, 1)
            .await?;
        self.quota_check(&mut tx, scope, QuotaKind::Snapshot, snapshot_count as i64)
            .await?;

        let image_id = ids::image_id();
        let snapshots = self.plan_snapshots(scope, &image_id, &captures);
        // The image's instant: every captured disk is frozen in this transaction.
        let capture_disks: Vec<DiskRow> = captures.iter().map(|c| c.disk.clone()).collect();
        let capture_ids: Vec<String> = capture_disks.iter().map(|d| d.id.clone()).collect();
        let frozen = self.take_overlays(&capture_disks, overlays).await?;
        let freeze: Vec<_> = frozen
            .iter()
            .zip(&snapshots.ids)
            .map(|(f, sid)| payload::Freeze {
                disk_id: f.disk_id.clone(),
                frozen_layer_id: f.frozen_layer.clone(),
                snapshot_id: sid.clone(),
            })
            .collect();
        let mut devices = snapshots.devices;
        devices.extend(inserted);
        devices[1..].sort_by_key(|d| device_order(&d.device_name));
        let source_image = self
            .store
            .image_visible(Some(&mut tx), &scope.pin, &scope.region, &inst.image_id)
            .await?;
        let image = ImageRow {
            id: image_id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            name,
            description,
            image_source: "private".into(),
            platform: source_image
                .as_ref()
                .map_or("Other Linux".into(), |i| i.platform.clone()),
            os_version: source_image
                .as_ref()
                .map_or(String::new(), |i| i.os_version.clone()),
            os_type: source_image
                .as_ref()
                .map_or("linux".into(), |i| i.os_type.clone()),
            architecture: source_image
                .as_ref()
                .map_or("x86_64".into(), |i| i.architecture.clone()),
            system_disk_size_gb: sys_disk.size_gb,
            status: ImageStatus::Pending,
            root_device_type: if local_system {
                "localDisk"
            } else {
                "cloudDisk"
            }
            .into(),
            layer_id: None,
            snapshot_id: snapshots.system,
            instance_id: instance_id.to_string(),
            size_mb: 0,
            login_name: source_image
                .as_ref()
                .map_or(String::new(), |i| i.login_name.clone()),
            imported: false,
            block_devices: serde_json::to_string(&devices).map_err(ApiError::internal)?,
            created_at: now_ms(),
            seq: self.store.next_seq(),
            released: false,
            progress: 0,
        };
        let payload = payload::ImageCreate {
            instance_id: instance_id.to_string(),
            freeze,
        };
        let task = tasks::new_task(&image_id, &payload, Default::default());
        self.record_image_create(
            &mut tx,
            &snapshots.rows,
            &capture_ids,
            &frozen,
            &image,
            &task,
        )
        .await?;
        // A running guest's disks switch to their overlays here: its instant.
        if let Err(failed) = self.commit_with_live_switch(tx, &frozen).await {
            // Overlays a guest went on writing to are recorded, not removed.
            if failed.overlays_in_use {
                overlays
                    .premade
                    .retain(|f| !frozen.iter().any(|g| g.new_top == f.new_top));
                overlays
                    .made
                    .retain(|l| !frozen.iter().any(|g| &g.new_top == l));
            }
            return Err(failed.error);
        }
        self.wake_tasks();
        Ok((image_id, frozen))
    }

    /// A snapshot for each captured cloud disk, holding the layer about to be frozen (its
    /// current top), and the image's device for each capture.
    fn plan_snapshots(&self, scope: &Scope, image_id: &str, captures: &[Capture]) -> Snapshots {
        let now = now_ms();
        let mut out = Snapshots::default();
        for cap in captures {
            let snapshot_id = if cap.disk.category == "cloud" {
                let sid = ids::snapshot_id();
                out.rows.push(SnapshotRow {
                    id: sid.clone(),
                    pin: scope.pin.clone(),
                    region: scope.region.clone(),
                    disk_id: cap.disk.id.clone(),
                    name: format!("{image_id}-{}", cap.device),
                    description: format!("Created by createImage {image_id}"),
                    status: SnapshotStatus::Creating,
                    size_gb: cap.disk.size_gb,
                    layer_id: Some(cap.disk.top_layer().to_string()),
                    encrypted: cap.disk.encrypted,
                    made_for_image: image_id.to_string(),
                    created_at: now,
                    seq: self.store.next_seq(),
                });
                sid
            } else {
                String::new()
            };
            if cap.device == "vda" {
                out.system = snapshot_id.clone();
            }
            out.ids.push(snapshot_id.clone());
            out.devices.push(ImageBlockDevice {
                device_name: cap.device.clone(),
                disk_category: cap.disk.category.clone(),
                disk_type: cap.disk.disk_type.clone(),
                disk_size_gb: cap.disk.size_gb,
                iops: cap.disk.iops,
                snapshot_id,
                auto_delete: cap.auto_delete,
                encrypted: cap.disk.encrypted,
            });
        }
        out
    }
}

/// The snapshots createImage makes: their rows, each capture's snapshot id (empty for a
/// local system disk) and device, and the system disk's snapshot.
#[derive(Default)]
struct Snapshots {
    rows: Vec<SnapshotRow>,
    ids: Vec<String>,
    devices: Vec<ImageBlockDevice>,
    system: String,
}

/// The seed table's checks of the instance, in its order: task, status, system disk,
/// mount state, stop first (local system disk). The system disk with its attachment.
fn check_instance<'a>(
    inst: &InstanceRow,
    disks: &'a [(AttachmentRow, DiskRow)],
) -> ApiResult<(&'a AttachmentRow, &'a DiskRow)> {
    if let Some(task) = &inst.task {
        return Err(ApiError::underlay_conflict(task));
    }
    if ![InstanceStatus::Running, InstanceStatus::Stopped].contains(&inst.status) {
        return Err(ApiError::invalid_instance_status(inst.status));
    }
    let (sys_att, sys_disk) = disks
        .iter()
        .find(|(a, _)| a.device_name == "vda")
        .map(|(a, d)| (a, d))
        .ok_or_else(|| ApiError::FailedPrecondition("System disk not found".into()))?;
    if sys_att.status != AttachmentStatus::Attached {
        return Err(ApiError::FailedPrecondition(
            "Invalid system disk mount state".into(),
        ));
    }
    if sys_disk.category == "local" && inst.status == InstanceStatus::Running {
        return Err(ApiError::FailedPrecondition(
            "Please stop the instance first".into(),
        ));
    }
    Ok((sys_att, sys_disk))
}

/// The devices `dataDisks` names (each once, each a data device name).
fn check_device_names(data_disks: &[AttachmentSpecInput]) -> ApiResult<HashSet<String>> {
    let mut specified = HashSet::new();
    for dev in data_disks.iter().filter_map(|dd| dd.device_name.as_ref()) {
        if !specified.insert(dev.clone()) {
            return Err(ApiError::Duplicate("Duplicate deviceName".into()));
        }
        if !spec::is_data_device_name(dev) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid deviceName '{dev}'"
            )));
        }
    }
    Ok(specified)
}

/// Whether createImage captures a disk of the instance unless `dataDisks` names its
/// device: the system disk and every attached cloud data disk; local data disks never.
/// The one rule, also for the overlays made ahead of the call (`premake_overlays`).
pub(crate) fn captured_by_default(a: &AttachmentRow, d: &DiskRow) -> bool {
    a.status == AttachmentStatus::Attached && (a.device_name == "vda" || d.category == "cloud")
}

/// The disks whose current data goes into the image: the system disk first, then each
/// disk [`captured_by_default`] whose device `dataDisks` does not name (it excludes
/// with noDevice, or replaces).
fn captures(
    sys_att: &AttachmentRow,
    sys_disk: &DiskRow,
    disks: &[(AttachmentRow, DiskRow)],
    specified: &HashSet<String>,
) -> Vec<Capture> {
    let system = Capture {
        disk: sys_disk.clone(),
        device: "vda".into(),
        auto_delete: sys_att.auto_delete,
    };
    let data = disks
        .iter()
        .filter(|(a, d)| a.device_name != "vda" && captured_by_default(a, d))
        .filter(|(a, _)| !specified.contains(&a.device_name))
        .map(|(a, d)| Capture {
            disk: d.clone(),
            device: a.device_name.clone(),
            auto_delete: a.auto_delete,
        });
    std::iter::once(system).chain(data).collect()
}

/// The disks `dataDisks` puts into the image instead of (known device) or beside (new
/// device, or none: the first free name) the instance's.
async fn inserted_devices(
    tx: &mut store::Db,
    scope: &Scope,
    data_disks: &[AttachmentSpecInput],
    disks: &[(AttachmentRow, DiskRow)],
    specified: &HashSet<String>,
) -> ApiResult<Vec<ImageBlockDevice>> {
    let instance_devices: Vec<&(AttachmentRow, DiskRow)> = disks
        .iter()
        .filter(|(a, _)| a.device_name != "vda")
        .collect();
    let mut taken: HashSet<String> = instance_devices
        .iter()
        .map(|(a, _)| a.device_name.clone())
        .collect();
    taken.insert("vda".into());
    let mut free_names =
        spec::data_device_names().filter(|n| !taken.contains(n) && !specified.contains(n));
    let mut devices = Vec::new();
    for dd in data_disks {
        if dd.no_device == Some(true) {
            if dd.device_name.is_none() {
                return Err(ApiError::InvalidArgument(
                    "Parameter DataDisks.DeviceName missing".into(),
                ));
            }
            continue;
        }
        let original = dd
            .device_name
            .as_ref()
            .and_then(|dev| instance_devices.iter().find(|(a, _)| &a.device_name == dev))
            .map(|(_, d)| d.clone());
        let device = match &dd.device_name {
            Some(d) => d.clone(),
            None => free_names
                .next()
                .ok_or_else(|| ApiError::OutOfRange("DataDisks out of range".into()))?,
        };
        devices.push(inserted_device(tx, scope, dd, device, original.as_ref()).await?);
    }
    Ok(devices)
}

/// Every disk to freeze must be idle and (a cloud disk) in use.
fn check_captures_idle(captures: &[Capture]) -> ApiResult<()> {
    for cap in captures {
        if let Some(task) = &cap.disk.task {
            return Err(ApiError::FailedPrecondition(format!(
                "Disk '{}' busy in '{task}'",
                cap.disk.id
            )));
        }
        if cap.disk.category == "cloud" && cap.disk.status != DiskStatus::InUse {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid Disk '{}' status '{}'",
                cap.disk.id, cap.disk.status
            )));
        }
    }
    Ok(())
}

impl Service {
    /// createImage's rows: the snapshots, the captured disks busy and switched to their
    /// overlays, the image, the instance busy, the task. Every guard was checked in this
    /// transaction; a guarded change that finds its row taken all the same is a conflict.
    async fn record_image_create(
        &self,
        tx: &mut store::Db,
        snapshot_rows: &[SnapshotRow],
        capture_ids: &[String],
        frozen: &[Frozen],
        image: &ImageRow,
        task: &store::TaskRow,
    ) -> ApiResult<()> {
        let conflict = || ApiError::underlay_conflict("createImage");
        store::snapshot::snapshot_insert_many(tx, snapshot_rows).await?;
        if !store::disk::disks_set_task(tx, capture_ids, "createImage").await? {
            return Err(conflict());
        }
        switch_tops(tx, frozen).await?;
        store::image::image_insert(tx, image).await?;
        let idle = [InstanceStatus::Running, InstanceStatus::Stopped];
        if !store::instance::instance_set_task(tx, &image.instance_id, &idle, "createImage").await?
        {
            return Err(conflict());
        }
        store::task::task_insert(tx, task).await?;
        Ok(())
    }
}

/// A disk the image gets from the request rather than from the instance: a replacement
/// for an instance disk (`original`), or a new disk, blank or from a snapshot.
async fn inserted_device(
    tx: &mut store::Db,
    scope: &Scope,
    dd: &AttachmentSpecInput,
    device: String,
    original: Option<&DiskRow>,
) -> ApiResult<ImageBlockDevice> {
    if let Some(cat) = &dd.disk_category {
        if cat != "cloud" {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid DataDisks.DiskCategory '{cat}': data disks can only be cloud"
            )));
        }
    }
    let spec = dd.cloud_disk_spec.clone().unwrap_or_default();
    let mut snap_size = 0;
    if let Some(sid) = &spec.snapshot_id {
        let snap = store::snapshot::snapshot_get(tx, &scope.pin, &scope.region, sid).await?;
        let snap = snap.ok_or_else(|| ApiError::NotFound(format!("Snapshot '{sid}' not found")))?;
        if snap.status != SnapshotStatus::Available {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot '{sid}' status '{}'",
                snap.status
            )));
        }
        snap_size = snap.size_gb;
    }
    let disk_type = match (&spec.disk_type, original) {
        (Some(t), _) => t.clone(),
        (None, Some(o)) => o.disk_type.clone(),
        (None, None) if spec.snapshot_id.is_some() => "ssd.gp1".into(),
        (None, None) => {
            return Err(ApiError::InvalidArgument(
                "Parameter DataDisks.CloudDiskSpec.DiskType missing".into(),
            ))
        }
    };
    if !spec::is_disk_type(&disk_type) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid disk type '{disk_type}'"
        )));
    }
    let size = spec
        .disk_size_gb
        .or(original.map(|o| o.size_gb))
        .or((snap_size > 0).then_some(snap_size))
        .ok_or_else(|| {
            ApiError::OutOfRange("DataDisks.CloudDiskSpec.DiskSizeGB out of range".into())
        })?;
    if !spec::size_ok(&disk_type, size) || size < snap_size {
        return Err(ApiError::OutOfRange(
            "DataDisks.CloudDiskSpec.DiskSizeGB out of range".into(),
        ));
    }
    if let Some(o) = original {
        if size < o.size_gb {
            return Err(ApiError::OutOfRange(format!(
                "Device '{device}' size can only be larger than the original size"
            )));
        }
    }
    let iops = match spec.iops {
        Some(i) if disk_type == "ssd.io1" => {
            if !spec::iops_ok(size, i) {
                return Err(ApiError::OutOfRange(
                    "DataDisks.CloudDiskSpec.Iops out of range.".into(),
                ));
            }
            i
        }
        _ => spec::default_iops(&disk_type, size),
    };
    Ok(ImageBlockDevice {
        device_name: device,
        disk_category: "cloud".into(),
        disk_type,
        disk_size_gb: size,
        iops,
        snapshot_id: spec.snapshot_id.unwrap_or_default(),
        auto_delete: dd.auto_delete.unwrap_or(false),
        encrypted: spec.encrypt.unwrap_or(false),
    })
}

/// `vdb` < `vdz` < `vdaa` < `vdbm`.
fn device_order(name: &str) -> (usize, String) {
    (name.len(), name.to_string())
}
