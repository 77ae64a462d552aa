//! copyImages: a real copy of each source image's data into the destination region (every
//! disk flattened into a standalone layer of its own, so nothing of the copy depends on a
//! file of the source), `pending` with a progress that moves until it is `ready`. Each
//! source is busy while its copy runs. The copy shows in imageTasks as `CopyImage`.

use super::quota::QuotaKind;
use super::{catalog, Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{ImageStatus, ImageTaskStatus, SnapshotStatus};
use crate::store::{self, now_ms, Db, ImageRow, ImageTaskRow, SnapshotRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct CopyImagesInput {
    pub source_image_ids: Vec<String>,
    pub destination_region: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
}

/// At most this many sources per call.
const MAX_SOURCES: usize = 10;

impl Service {
    /// copyImages; `(source, copy)` for each source, in order.
    pub async fn images_copy(
        &self,
        scope: &Scope,
        input: CopyImagesInput,
    ) -> ApiResult<Vec<(String, String)>> {
        let dest_region = check_copy_request(&input)?;
        let dest = Scope {
            pin: scope.pin.clone(),
            region: dest_region,
        };
        let mut tx = self.store.write().await?;
        let mut sources = Vec::new();
        for id in &input.source_image_ids {
            sources.push(self.copy_source(&mut tx, scope, id).await?);
        }
        let snapshots: usize = sources.iter().map(|(_, disks)| disks.len()).sum();
        self.quota_check(&mut tx, &dest, QuotaKind::Image, sources.len() as i64)
            .await?;
        self.quota_check(&mut tx, &dest, QuotaKind::Snapshot, snapshots as i64)
            .await?;
        let mut out = Vec::new();
        for (source, layers) in sources {
            let copy = self
                .record_copy(&mut tx, scope, &dest, &input, &source, layers)
                .await?;
            out.push((source.id, copy));
        }
        tx.commit().await?;
        self.wake_tasks();
        Ok(out)
    }

    /// A source the caller may copy (its own private image, or one shared with it): a
    /// ready cloudDisk image, idle, without encrypted snapshots. Its disks' snapshot
    /// layers, device by device.
    async fn copy_source(
        &self,
        db: &mut Db,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<(ImageRow, Vec<(store::ImageBlockDevice, String)>)> {
        let own = store::image::image_get_visible(db, &scope.pin, &scope.region, id).await?;
        let image = match own {
            Some(img) if img.image_source == "private" => img,
            Some(_) => return Err(ApiError::FailedPrecondition("Can't use this image".into())),
            None => store::image_share::image_get_received(db, &scope.pin, &scope.region, id)
                .await?
                .filter(|img| !img.released)
                .ok_or_else(|| ApiError::image_not_found(id))?,
        };
        if image.root_device_type != "cloudDisk" {
            return Err(ApiError::FailedPrecondition(
                "Only support cloudDisk image".into(),
            ));
        }
        if image.status != ImageStatus::Ready {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid image status '{}'",
                image.status
            )));
        }
        if self.image_busy(db, id).await? {
            return Err(ApiError::FailedPrecondition(format!(
                "The image '{id}' is busy"
            )));
        }
        let mut disks = Vec::new();
        for dev in image.devices() {
            if dev.encrypted {
                return Err(ApiError::FailedPrecondition(format!(
                    "Copy encrypted snapshot '{}' is not support.",
                    dev.snapshot_id
                )));
            }
            let layer = store::snapshot::snapshot_by_id(db, &dev.snapshot_id)
                .await?
                .and_then(|s| s.layer_id)
                .ok_or_else(|| ApiError::FailedPrecondition("Can't use this image".into()))?;
            disks.push((dev, layer));
        }
        Ok((image, disks))
    }

    /// The copy of `source` in `dest`: its snapshots (no data yet), the image `pending`,
    /// the imageTasks record and the task that copies. The copy's id.
    async fn record_copy(
        &self,
        tx: &mut Db,
        scope: &Scope,
        dest: &Scope,
        input: &CopyImagesInput,
        source: &ImageRow,
        disks: Vec<(store::ImageBlockDevice, String)>,
    ) -> ApiResult<String> {
        let now = now_ms();
        let image_id = ids::image_id();
        let mut devices = Vec::new();
        let mut plan = Vec::new();
        for (mut dev, source_layer) in disks {
            let snapshot = SnapshotRow {
                id: ids::snapshot_id(),
                pin: dest.pin.clone(),
                region: dest.region.clone(),
                disk_id: String::new(),
                name: format!("{image_id}-{}", dev.device_name),
                description: format!("Copied for {image_id}"),
                status: SnapshotStatus::Creating,
                size_gb: dev.disk_size_gb,
                layer_id: None,
                encrypted: false,
                made_for_image: image_id.clone(),
                created_at: now,
                seq: self.store.next_seq(),
            };
            store::snapshot::snapshot_insert(tx, &snapshot).await?;
            plan.push(payload::CopyDisk {
                source_layer_id: source_layer,
                snapshot_id: snapshot.id.clone(),
                layer_id: ids::layer_id(),
            });
            dev.snapshot_id = snapshot.id;
            devices.push(dev);
        }
        let image = ImageRow {
            id: image_id.clone(),
            pin: dest.pin.clone(),
            region: dest.region.clone(),
            name: input.name.clone().unwrap_or_else(|| source.name.clone()),
            description: input
                .description
                .clone()
                .unwrap_or_else(|| format!("Copied from {} in {}", source.id, scope.region)),
            image_source: "private".into(),
            status: ImageStatus::Pending,
            layer_id: None,
            snapshot_id: devices[0].snapshot_id.clone(),
            block_devices: serde_json::to_string(&devices).map_err(ApiError::internal)?,
            created_at: now,
            seq: self.store.next_seq(),
            released: false,
            progress: 0,
            ..source.clone()
        };
        store::image::image_insert(tx, &image).await?;
        let task_id = store::counter_next(tx, "image_task").await?.to_string();
        let record = ImageTaskRow {
            id: task_id.clone(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            action: "CopyImage".into(),
            status: ImageTaskStatus::Pending,
            progress: 0,
            image_id: image_id.clone(),
            image_name: image.name.clone(),
            url: String::new(),
            objects: "[]".into(),
            error: String::new(),
            created_at: now,
            finished_at: 0,
            seq: self.store.next_seq(),
        };
        store::image_task::image_task_insert(tx, &record).await?;
        let p = payload::ImageCopy {
            image_id: image_id.clone(),
            image_task_id: task_id,
            disks: plan,
        };
        tasks::enqueue(tx, &source.id, &p, Default::default()).await?;
        Ok(image_id)
    }
}

/// 1–10 sources, each once, and a region that exists: the destination region.
fn check_copy_request(input: &CopyImagesInput) -> ApiResult<String> {
    if input.source_image_ids.is_empty() {
        return Err(ApiError::InvalidArgument(
            "Parameter sourceImageIds missing".into(),
        ));
    }
    if input.source_image_ids.len() > MAX_SOURCES {
        return Err(ApiError::OutOfRange("SourceImageIds out of range".into()));
    }
    let mut seen = std::collections::HashSet::new();
    if !input.source_image_ids.iter().all(|id| seen.insert(id)) {
        return Err(ApiError::Duplicate("Duplicate sourceImageIds".into()));
    }
    let region = input
        .destination_region
        .clone()
        .ok_or_else(|| ApiError::InvalidArgument("Parameter destinationRegion missing".into()))?;
    catalog::check_region(&region)?;
    if let Some(n) = input
        .name
        .as_deref()
        .filter(|n| !super::spec::image_name_ok(n))
    {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid image name '{n}'"
        )));
    }
    Ok(region)
}
