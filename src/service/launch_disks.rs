//! The disks of a new instance, resolved from its image and the request (createInstances):
//! the system disk, the instance type's local data disk, the image's data disks (unless
//! the request names their device) and the requested data disks, each device named.

use std::collections::HashSet;

use super::catalog::InstanceType;
use super::instance::InstanceSpecInput;
use super::spec::{self, AttachmentSpecInput};
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::status::SnapshotStatus;
use crate::store::{self, Db, ImageBlockDevice, ImageRow};

/// One disk to create for a new instance, resolved from the request.
pub(super) struct PlannedDisk {
    /// Empty until [`name_open_devices`] gives it the first free name.
    pub device: String,
    pub category: &'static str,
    pub disk_type: String,
    pub size_gb: i64,
    pub iops: i64,
    pub auto_delete: bool,
    pub backing_layer: Option<String>,
    pub snapshot_id: String,
    pub name: String,
    pub description: String,
}

impl PlannedDisk {
    /// A local disk (the system disk of a localDisk launch, or the type's data disk).
    fn local(device: &str, size_gb: i64, backing_layer: Option<String>) -> PlannedDisk {
        PlannedDisk {
            device: device.into(),
            category: "local",
            disk_type: "local".into(),
            size_gb,
            iops: 0,
            auto_delete: true,
            backing_layer,
            snapshot_id: String::new(),
            name: String::new(),
            description: String::new(),
        }
    }
}

impl Service {
    /// Resolves every disk of a new instance, checking every documented rule before
    /// anything is created.
    pub(super) async fn plan_disks(
        &self,
        db: &mut Db,
        scope: &Scope,
        spec: &InstanceSpecInput,
        image: &ImageRow,
        itype: &InstanceType,
    ) -> ApiResult<Vec<PlannedDisk>> {
        let sys = spec.system_disk.clone().unwrap_or_default();
        let category = system_disk_category(&sys, image)?;
        let boot_layer = image_boot_layer(db, image).await?;
        let mut plan = vec![system_disk(&sys, category, image, boot_layer)?];
        if let Some(gb) = itype.local_data_disk_gb {
            plan.push(PlannedDisk::local("vdb", gb, None));
        }
        let from_image = image_data_disks(db, spec, image, &plan).await?;
        let mut used: HashSet<String> = plan.iter().map(|d| d.device.clone()).collect();
        used.extend(from_image.iter().map(|d| d.device.clone()));
        plan.extend(from_image);
        let before = plan.len();
        for dd in spec.data_disks.iter().filter(|d| d.no_device != Some(true)) {
            plan.push(requested_data_disk(db, scope, dd, &mut used).await?);
        }
        let cloud_data = plan.len() - before
            + plan[..before]
                .iter()
                .filter(|d| d.device != "vda" && d.category == "cloud")
                .count();
        if cloud_data > itype.max_data_disks {
            return Err(ApiError::FailedPrecondition(
                "DataDisks out of range".into(),
            ));
        }
        name_open_devices(&mut plan, &used)?;
        Ok(plan)
    }
}

/// `local` or `cloud`: as asked, else as the image's root device; a private image allows
/// only its own kind.
fn system_disk_category(sys: &AttachmentSpecInput, image: &ImageRow) -> ApiResult<&'static str> {
    let category = match sys.disk_category.as_deref() {
        Some("local") => "local",
        Some("cloud") => "cloud",
        Some(other) => {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid disk category '{other}'"
            )))
        }
        None if sys.cloud_disk_spec.is_some() => "cloud",
        None if image.root_device_type == "cloudDisk" => "cloud",
        None => "local",
    };
    if image.image_source != "public" {
        if image.root_device_type == "cloudDisk" && category == "local" {
            return Err(ApiError::FailedPrecondition(
                "Image constraints. Only support cloud system disk".into(),
            ));
        }
        if image.root_device_type == "localDisk" && category == "cloud" {
            return Err(ApiError::FailedPrecondition(
                "Image constraints. Only support local system disk".into(),
            ));
        }
    }
    Ok(category)
}

/// The system disk (`vda`), on the image's boot layer.
fn system_disk(
    sys: &AttachmentSpecInput,
    category: &'static str,
    image: &ImageRow,
    boot_layer: String,
) -> ApiResult<PlannedDisk> {
    if category == "local" {
        return Ok(PlannedDisk::local(
            "vda",
            image.system_disk_size_gb,
            Some(boot_layer),
        ));
    }
    let cds = sys.cloud_disk_spec.clone().unwrap_or_default();
    let image_type = image
        .devices()
        .into_iter()
        .find(|d| d.device_name == "vda" && d.disk_category == "cloud")
        .map(|d| d.disk_type);
    let disk_type = cds
        .disk_type
        .clone()
        .or(image_type)
        .unwrap_or_else(|| "ssd.gp1".into());
    if !spec::is_disk_type(&disk_type) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid disk type '{disk_type}'"
        )));
    }
    let size = cds
        .disk_size_gb
        .unwrap_or(image.system_disk_size_gb.max(40));
    if !spec::system_size_ok(size) || size < image.system_disk_size_gb {
        return Err(ApiError::OutOfRange(
            "InstanceSpec.SystemDisk.CloudDiskSpec.DiskSizeGB out of range".into(),
        ));
    }
    Ok(PlannedDisk {
        device: "vda".into(),
        category: "cloud",
        iops: spec::default_iops(&disk_type, size),
        disk_type,
        size_gb: size,
        // The system disk goes with the instance unless the client says otherwise.
        auto_delete: sys.auto_delete.unwrap_or(true),
        backing_layer: Some(boot_layer),
        snapshot_id: image.snapshot_id.clone(),
        name: cds.name.clone().unwrap_or_default(),
        description: cds.description.clone().unwrap_or_default(),
    })
}

/// The layer a new system disk overlays: the image's own layer (public or localDisk
/// copy), or the frozen layer of its system-disk snapshot (cloudDisk).
pub(super) async fn image_boot_layer(db: &mut Db, image: &ImageRow) -> ApiResult<String> {
    if let Some(l) = &image.layer_id {
        return Ok(l.clone());
    }
    let not_ready = || ApiError::FailedPrecondition(format!("Image '{}' not ready", image.id));
    let snap = store::snapshot::snapshot_by_id(db, &image.snapshot_id)
        .await?
        .ok_or_else(not_ready)?;
    snap.layer_id.ok_or_else(not_ready)
}

/// The image's own data disks, unless the launch names their device (to drop it with
/// noDevice, or to replace it). `planned`: the disks planned so far.
async fn image_data_disks(
    db: &mut Db,
    spec: &InstanceSpecInput,
    image: &ImageRow,
    planned: &[PlannedDisk],
) -> ApiResult<Vec<PlannedDisk>> {
    let launch_devices: HashSet<&str> = spec
        .data_disks
        .iter()
        .filter_map(|d| d.device_name.as_deref())
        .collect();
    let mut out = Vec::new();
    for dev in image
        .devices()
        .into_iter()
        .filter(|d| d.device_name != "vda")
    {
        if launch_devices.contains(dev.device_name.as_str()) {
            continue;
        }
        let backing = image_disk_layer(db, image, &dev).await?;
        // The instance type's own local data disk holds its device (vdb): an image disk
        // recorded there moves to the first free name instead of colliding.
        let taken = planned.iter().any(|p| p.device == dev.device_name);
        out.push(PlannedDisk {
            device: if taken {
                String::new()
            } else {
                dev.device_name
            },
            category: "cloud",
            disk_type: dev.disk_type,
            size_gb: dev.disk_size_gb,
            iops: dev.iops,
            auto_delete: dev.auto_delete,
            backing_layer: backing,
            snapshot_id: dev.snapshot_id,
            name: String::new(),
            description: String::new(),
        });
    }
    Ok(out)
}

/// The layer an image's data disk starts from: its snapshot's (none for a blank disk).
async fn image_disk_layer(
    db: &mut Db,
    image: &ImageRow,
    dev: &ImageBlockDevice,
) -> ApiResult<Option<String>> {
    if dev.snapshot_id.is_empty() {
        return Ok(None);
    }
    let snap = store::snapshot::snapshot_by_id(db, &dev.snapshot_id)
        .await?
        .filter(|s| s.pin == image.pin || image.pin.is_empty())
        .ok_or_else(|| ApiError::snapshot_not_found(&dev.snapshot_id))?;
    let layer = snap
        .layer_id
        .ok_or_else(|| ApiError::FailedPrecondition(format!("Image '{}' not ready", image.id)))?;
    Ok(Some(layer))
}

/// A data disk the request asks for (cloud only), from a snapshot of the caller's or
/// blank. A device it names joins `used`.
async fn requested_data_disk(
    db: &mut Db,
    scope: &Scope,
    dd: &AttachmentSpecInput,
    used: &mut HashSet<String>,
) -> ApiResult<PlannedDisk> {
    match dd.disk_category.as_deref() {
        None | Some("cloud") => {}
        Some(other) => {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid disk category '{other}': data disks can only be cloud"
            )))
        }
    }
    let cds = dd.cloud_disk_spec.clone().ok_or_else(|| {
        ApiError::InvalidArgument("Parameter InstanceSpec.DataDisks.CloudDiskSpec missing".into())
    })?;
    let mut snapshot_layer = None;
    let mut snap_size = 0;
    if let Some(sid) = &cds.snapshot_id {
        let snap = store::snapshot::snapshot_get(db, &scope.pin, &scope.region, sid)
            .await?
            .ok_or_else(|| ApiError::snapshot_not_found(sid))?;
        if snap.status != SnapshotStatus::Available {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot '{sid}' status '{}'",
                snap.status
            )));
        }
        snapshot_layer = snap.layer_id.clone();
        snap_size = snap.size_gb;
    }
    let disk_type = cds.disk_type.clone().ok_or_else(|| {
        ApiError::InvalidArgument(
            "Parameter InstanceSpec.DataDisks.CloudDiskSpec.DiskType missing".into(),
        )
    })?;
    if !spec::is_disk_type(&disk_type) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid disk type '{disk_type}'"
        )));
    }
    let size = cds.disk_size_gb.unwrap_or(snap_size);
    if !spec::size_ok(&disk_type, size) || size < snap_size {
        return Err(ApiError::OutOfRange(
            "InstanceSpec.DataDisks.CloudDiskSpec.DiskSizeGB out of range".into(),
        ));
    }
    let iops = match cds.iops {
        Some(i) if disk_type == "ssd.io1" => {
            if !spec::iops_ok(size, i) {
                return Err(ApiError::OutOfRange(
                    "InstanceSpec.DataDisks.CloudDiskSpec.Iops out of range".into(),
                ));
            }
            i
        }
        _ => spec::default_iops(&disk_type, size),
    };
    let device = match &dd.device_name {
        Some(dev) => {
            if !spec::is_data_device_name(dev) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid deviceName '{dev}'"
                )));
            }
            if !used.insert(dev.clone()) {
                return Err(ApiError::Duplicate("Duplicate deviceName".into()));
            }
            dev.clone()
        }
        None => String::new(),
    };
    Ok(PlannedDisk {
        device,
        category: "cloud",
        disk_type,
        size_gb: size,
        iops,
        auto_delete: dd.auto_delete.unwrap_or(false),
        backing_layer: snapshot_layer,
        snapshot_id: cds.snapshot_id.clone().unwrap_or_default(),
        name: cds.name.clone().unwrap_or_default(),
        description: cds.description.clone().unwrap_or_default(),
    })
}

/// Devices the client left open take the first free names, in order.
fn name_open_devices(plan: &mut [PlannedDisk], used: &HashSet<String>) -> ApiResult<()> {
    let mut free = spec::data_device_names().filter(|n| !used.contains(n));
    for d in plan.iter_mut().filter(|d| d.device.is_empty()) {
        d.device = free
            .next()
            .ok_or_else(|| ApiError::FailedPrecondition("DataDisks out of range".into()))?;
    }
    Ok(())
}
