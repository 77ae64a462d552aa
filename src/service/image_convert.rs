//! Images made from other images' data without copying it: convertImage (a localDisk image
//! → a new cloudDisk image whose system-disk snapshot holds the source's flattened layer)
//! and createImageFromSnapshots (an image of the caller's snapshots). Snapshots are frozen
//! layers, so both images share the data they name; a snapshot an image names cannot be
//! deleted while the image exists.

use super::quota::QuotaKind;
use super::{spec, Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{ImageStatus, ImageTaskStatus, SnapshotStatus, TaskKind};
use crate::store::{self, now_ms, Db, ImageBlockDevice, ImageRow, ImageTaskRow, SnapshotRow};
use crate::tasks::{self, payload};

/// One disk of createImageFromSnapshots.
#[derive(Debug, Clone, Default)]
pub struct SnapshotDiskInput {
    pub snapshot_id: Option<String>,
    pub device_name: Option<String>,
    pub disk_type: Option<String>,
    pub disk_size_gb: Option<i64>,
    pub auto_delete: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct FromSnapshotsInput {
    pub name: Option<String>,
    pub platform: Option<String>,
    pub architecture: Option<String>,
    pub boot_mode: Option<String>,
    pub description: Option<String>,
    pub os_version: Option<String>,
    pub cloud_disks: Vec<SnapshotDiskInput>,
}

const FROM_SNAPSHOTS_PLATFORMS: &[&str] = &[
    "CentOS",
    "Ubuntu",
    "Windows Server",
    "OpenEuler",
    "Rocky Linux",
    "Others Linux",
];

impl Service {
    /// Whether an image task (export, convert) holds the image.
    pub(crate) async fn image_busy(&self, db: &mut Db, id: &str) -> ApiResult<bool> {
        for kind in [
            TaskKind::ImageExport,
            TaskKind::ImageConvert,
            TaskKind::ImageCopy,
        ] {
            if store::task::task_in_flight(db, kind, id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// convertImage: a new cloudDisk image of a ready localDisk image; the source is busy
    /// until the new one is ready.
    pub async fn image_convert(&self, scope: &Scope, id: &str) -> ApiResult<String> {
        let mut tx = self.store.write().await?;
        let source = self
            .image_for_change(&mut tx, scope, id, "Can't use this image")
            .await?;
        if source.root_device_type != "localDisk" {
            return Err(ApiError::FailedPrecondition(
                "Only support localDisk image".into(),
            ));
        }
        if source.status != ImageStatus::Ready {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid image status '{}'",
                source.status
            )));
        }
        if self.image_busy(&mut tx, id).await? {
            return Err(ApiError::FailedPrecondition(format!(
                "The image '{id}' is busy"
            )));
        }
        let layer = source.layer_id.clone().ok_or_else(|| {
            ApiError::FailedPrecondition(format!("Invalid image status '{}'", source.status))
        })?;
        self.quota_check(&mut tx, scope, QuotaKind::Image, 1)
            .await?;
        self.quota_check(&mut tx, scope, QuotaKind::Snapshot, 1)
            .await?;

        let image_id = ids::image_id();
        let snapshot = self.system_snapshot(scope, &image_id, &source, layer);
        let devices = converted_devices(&source, &snapshot);
        store::snapshot::snapshot_insert(&mut tx, &snapshot).await?;
        let image = ImageRow {
            id: image_id.clone(),
            root_device_type: "cloudDisk".into(),
            layer_id: None,
            snapshot_id: snapshot.id.clone(),
            status: ImageStatus::Pending,
            block_devices: serde_json::to_string(&devices).map_err(ApiError::internal)?,
            created_at: now_ms(),
            seq: self.store.next_seq(),
            released: false,
            progress: 0,
            ..source
        };
        store::image::image_insert(&mut tx, &image).await?;
        let image_task_id = self
            .record_image_task(&mut tx, scope, &image, "ConvertImage")
            .await?;
        let p = payload::ImageConvert {
            image_id: image_id.clone(),
            snapshot_id: snapshot.id,
            image_task_id,
        };
        tasks::enqueue(&mut tx, id, &p, self.cfg.delays.task).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(image_id)
    }

    /// An imageTasks record of `action` for `image`, pending; its id.
    pub(crate) async fn record_image_task(
        &self,
        tx: &mut Db,
        scope: &Scope,
        image: &ImageRow,
        action: &str,
    ) -> ApiResult<String> {
        let id = store::counter_next(tx, "image_task").await?.to_string();
        let record = ImageTaskRow {
            id: id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            action: action.into(),
            status: ImageTaskStatus::Pending,
            progress: 0,
            image_id: image.id.clone(),
            image_name: image.name.clone(),
            url: String::new(),
            objects: "[]".into(),
            error: String::new(),
            created_at: now_ms(),
            finished_at: 0,
            seq: self.store.next_seq(),
        };
        store::image_task::image_task_insert(tx, &record).await?;
        Ok(id)
    }

    /// The new image's system-disk snapshot: the source's flattened layer, frozen already.
    fn system_snapshot(
        &self,
        scope: &Scope,
        image_id: &str,
        source: &ImageRow,
        layer: String,
    ) -> SnapshotRow {
        SnapshotRow {
            id: ids::snapshot_id(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            disk_id: String::new(),
            // Named as createImage names the snapshots it makes for an image.
            name: format!("{image_id}-vda"),
            description: format!("Created by convertImage {image_id}"),
            status: SnapshotStatus::Creating,
            size_gb: source.system_disk_size_gb,
            layer_id: Some(layer),
            encrypted: false,
            made_for_image: image_id.to_string(),
            created_at: now_ms(),
            seq: self.store.next_seq(),
        }
    }

    /// createImageFromSnapshots: an image of the caller's available snapshots (1–8, one on
    /// `vda`).
    pub async fn image_from_snapshots(
        &self,
        scope: &Scope,
        input: FromSnapshotsInput,
    ) -> ApiResult<String> {
        let valid = validate_from_snapshots(&input)?;
        let mut tx = self.store.write().await?;
        let devices = snapshot_devices(&mut tx, scope, &input.cloud_disks).await?;
        self.quota_check(&mut tx, scope, QuotaKind::Image, 1)
            .await?;
        let image_id = ids::image_id();
        let system = &devices[0];
        let image = ImageRow {
            id: image_id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            name: valid.name,
            description: input.description.clone().unwrap_or_default(),
            image_source: "private".into(),
            platform: valid.platform,
            os_version: input.os_version.clone().unwrap_or_default(),
            os_type: if valid.windows { "windows" } else { "linux" }.into(),
            architecture: valid.architecture,
            system_disk_size_gb: system.disk_size_gb,
            status: ImageStatus::Pending,
            root_device_type: "cloudDisk".into(),
            layer_id: None,
            snapshot_id: system.snapshot_id.clone(),
            instance_id: String::new(),
            size_mb: 0,
            login_name: if valid.windows {
                "Administrator"
            } else {
                "root"
            }
            .into(),
            imported: false,
            block_devices: serde_json::to_string(&devices).map_err(ApiError::internal)?,
            created_at: now_ms(),
            seq: self.store.next_seq(),
            released: false,
            progress: 0,
        };
        store::image::image_insert(&mut tx, &image).await?;
        let p = payload::ImageFromSnapshots {};
        tasks::enqueue(&mut tx, &image_id, &p, self.cfg.delays.task).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(image_id)
    }
}

/// The converted image's devices: a cloud system disk on the new snapshot, then the source's
/// data disks as they are (their snapshots now serve both images).
fn converted_devices(source: &ImageRow, system: &SnapshotRow) -> Vec<ImageBlockDevice> {
    let vda = ImageBlockDevice {
        device_name: "vda".into(),
        disk_category: "cloud".into(),
        disk_type: "ssd.gp1".into(),
        disk_size_gb: system.size_gb,
        iops: spec::default_iops("ssd.gp1", system.size_gb),
        snapshot_id: system.id.clone(),
        auto_delete: true,
        encrypted: false,
    };
    let data = source
        .devices()
        .into_iter()
        .filter(|d| d.device_name != "vda");
    std::iter::once(vda).chain(data).collect()
}

struct ValidFromSnapshots {
    name: String,
    platform: String,
    architecture: String,
    windows: bool,
}

/// createImageFromSnapshots' checks of the request itself.
fn validate_from_snapshots(input: &FromSnapshotsInput) -> ApiResult<ValidFromSnapshots> {
    let missing = |p: &str| ApiError::InvalidArgument(format!("Parameter {p} missing"));
    let name = input.name.clone().ok_or_else(|| missing("name"))?;
    if !spec::image_name_ok(&name) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid image name '{name}'"
        )));
    }
    let platform = input.platform.clone().ok_or_else(|| missing("platform"))?;
    if !FROM_SNAPSHOTS_PLATFORMS.contains(&platform.as_str()) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid platform '{platform}'"
        )));
    }
    let architecture = input
        .architecture
        .clone()
        .ok_or_else(|| missing("architecture"))?;
    if !["x86_64", "arm64"].contains(&architecture.as_str()) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid architecture '{architecture}'"
        )));
    }
    let boot_mode = input.boot_mode.clone().ok_or_else(|| missing("bootMode"))?;
    if !["uefi", "bios"].contains(&boot_mode.as_str()) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid bootMode '{boot_mode}'"
        )));
    }
    if input
        .description
        .as_deref()
        .is_some_and(|d| !spec::description_ok(d))
    {
        return Err(ApiError::InvalidArgument(
            "Invalid description: at most 256 characters".into(),
        ));
    }
    if !(1..=8).contains(&input.cloud_disks.len()) {
        return Err(ApiError::OutOfRange("CloudDisks out of range".into()));
    }
    Ok(ValidFromSnapshots {
        windows: platform == "Windows Server",
        name,
        platform,
        architecture,
    })
}

/// Each disk of createImageFromSnapshots on its snapshot, `vda` first: the caller's,
/// available, not smaller than the disk; devices once each; sizes in range.
async fn snapshot_devices(
    db: &mut Db,
    scope: &Scope,
    disks: &[SnapshotDiskInput],
) -> ApiResult<Vec<ImageBlockDevice>> {
    let mut out: Vec<ImageBlockDevice> = Vec::new();
    for d in disks {
        let missing =
            |p: &str| ApiError::InvalidArgument(format!("Parameter cloudDisks.{p} missing"));
        let sid = d.snapshot_id.clone().ok_or_else(|| missing("snapshotId"))?;
        let device = d.device_name.clone().ok_or_else(|| missing("deviceName"))?;
        if device != "vda" && !spec::is_data_device_name(&device) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid deviceName '{device}'"
            )));
        }
        if out.iter().any(|o| o.device_name == device) {
            return Err(ApiError::Duplicate("Duplicate deviceName".into()));
        }
        let snap = store::snapshot::snapshot_get(db, &scope.pin, &scope.region, &sid)
            .await?
            .ok_or_else(|| ApiError::snapshot_not_found(&sid))?;
        if snap.status != SnapshotStatus::Available {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot '{sid}' status '{}'",
                snap.status
            )));
        }
        let disk_type = d.disk_type.clone().unwrap_or_else(|| "ssd.gp1".into());
        if !spec::is_disk_type(&disk_type) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid disk type '{disk_type}'"
            )));
        }
        let size = d.disk_size_gb.unwrap_or(snap.size_gb);
        let in_range = if device == "vda" {
            (40..=500).contains(&size)
        } else {
            (20..=32000).contains(&size)
        };
        if !in_range || size < snap.size_gb {
            return Err(ApiError::OutOfRange(format!(
                "Device '{device}' size out of range"
            )));
        }
        out.push(ImageBlockDevice {
            device_name: device.clone(),
            disk_category: "cloud".into(),
            iops: spec::default_iops(&disk_type, size),
            disk_type,
            disk_size_gb: size,
            snapshot_id: sid,
            auto_delete: d.auto_delete.unwrap_or(device == "vda"),
            encrypted: snap.encrypted,
        });
    }
    let Some(system) = out.iter().position(|d| d.device_name == "vda") else {
        return Err(ApiError::InvalidArgument(
            "Parameter cloudDisks.vda missing".into(),
        ));
    };
    let vda = out.remove(system);
    out.sort_by_key(|d| (d.device_name.len(), d.device_name.clone()));
    out.insert(0, vda);
    Ok(out)
}
