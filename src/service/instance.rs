//! Instances: createInstances, describe, start/stop/reboot/delete, attach/detach.

use std::collections::HashSet;

use super::catalog::{self, InstanceType};
use super::quota::QuotaKind;
use super::spec::{self, AttachmentSpecInput};
use super::{idempotency, Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::instance::InstanceQuery;
use crate::store::status::{
    AttachmentStatus, DiskStatus, ImageStatus, InstanceStatus, SnapshotStatus,
};
use crate::store::{self, now_ms, AttachmentRow, Db, DiskRow, ImageRow, InstanceRow, LayerRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct InstanceSpecInput {
    pub az: Option<String>,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub description: Option<String>,
    pub system_disk: Option<AttachmentSpecInput>,
    pub data_disks: Vec<AttachmentSpecInput>,
    /// Echoed back as given (networking is out of scope): raw JSON text.
    pub primary_network_interface: Option<String>,
    pub charge_mode: Option<String>,
    pub charge_on_stopped: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateInstancesInput {
    pub instance_spec: Option<InstanceSpecInput>,
    pub max_count: Option<i64>,
    pub client_token: Option<String>,
}

/// An instance with its disks, as describeInstance shows it.
#[derive(Debug, Clone)]
pub struct InstanceDetail {
    pub row: InstanceRow,
    pub instance_type: Option<&'static InstanceType>,
    pub disks: Vec<(AttachmentRow, DiskRow)>,
}

impl InstanceDetail {
    pub fn system_disk(&self) -> Option<&(AttachmentRow, DiskRow)> {
        self.disks.iter().find(|(a, _)| a.device_name == "vda")
    }
}

/// One disk to create for a new instance, resolved from the request.
struct PlannedDisk {
    device: String,
    category: &'static str,
    disk_type: String,
    size_gb: i64,
    iops: i64,
    auto_delete: bool,
    backing_layer: Option<String>,
    snapshot_id: String,
    name: String,
    description: String,
}

const TOKEN_OP: &str = "createInstances";

impl Service {
    /// The caller's instance with its attachments and disks, on a reader.
    pub(crate) async fn instance_with_disks(
        &self,
        scope: &Scope,
        id: &str,
    ) -> store::DbResult<Option<store::InstanceWithDisks>> {
        let mut db = self.store.read().await?;
        store::instance_with_disks(&mut db, &scope.pin, &scope.region, id).await
    }

    pub async fn instance_fetch(&self, scope: &Scope, id: &str) -> ApiResult<InstanceDetail> {
        let mut conn = self.store.read().await?;
        let row = store::instance::instance_get(&mut conn, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        detail(&mut conn, row).await
    }

    pub async fn instance_list(&self, q: InstanceQuery) -> ApiResult<(Vec<InstanceDetail>, i64)> {
        let (page, total) = store::instance_page(&mut *self.store.read().await?, &q).await?;
        let out = page
            .into_iter()
            .map(|(row, disks)| InstanceDetail {
                instance_type: catalog::instance_type(&row.instance_type),
                disks,
                row,
            })
            .collect();
        Ok((out, total))
    }

    pub async fn instances_create(
        &self,
        scope: &Scope,
        input: CreateInstancesInput,
    ) -> ApiResult<Vec<String>> {
        let spec = input
            .instance_spec
            .ok_or_else(|| ApiError::InvalidArgument("Parameter InstanceSpec missing".into()))?;
        let count = input.max_count.unwrap_or(1);
        if !(1..=100).contains(&count) {
            return Err(ApiError::OutOfRange("Maxcount out of range".into()));
        }
        let token = input.client_token.as_deref();
        idempotency::check_token(token)?;
        // A retry answers with the first result before anything else is checked.
        let mut conn = self.store.read().await?;
        if let Some(r) = idempotency::replay(&mut conn, scope, TOKEN_OP, token).await? {
            return Ok(r.split(',').map(str::to_string).collect());
        }
        drop(conn);
        let image_id = spec.image_id.clone().ok_or_else(|| {
            ApiError::InvalidArgument("Parameter InstanceSpec.ImageId missing".into())
        })?;
        let name = spec.name.clone().ok_or_else(|| {
            ApiError::InvalidArgument("Parameter InstanceSpec.Name missing".into())
        })?;
        if !spec::instance_name_ok(&strip_placeholder(&name)) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid instance name '{name}'"
            )));
        }
        let az = spec
            .az
            .clone()
            .ok_or_else(|| ApiError::InvalidArgument("Parameter InstanceSpec.Az missing".into()))?;
        if !catalog::is_zone_of(&scope.region, &az) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid availability zone '{az}'"
            )));
        }
        let type_name = spec.instance_type.clone().ok_or_else(|| {
            ApiError::InvalidArgument("Parameter InstanceSpec.InstanceType missing".into())
        })?;
        let itype = catalog::instance_type(&type_name)
            .ok_or_else(|| ApiError::NotFound(format!("InstanceType '{type_name}' not found")))?;
        if let Some(d) = &spec.description {
            if !spec::description_ok(d) {
                return Err(ApiError::InvalidArgument(
                    "Invalid parameter InstanceSpec.Description".into(),
                ));
            }
        }
        let charge_mode = spec
            .charge_mode
            .clone()
            .unwrap_or_else(|| "postpaid_by_duration".into());
        if !["postpaid_by_duration", "prepaid_by_duration"].contains(&charge_mode.as_str()) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid charge mode '{charge_mode}'"
            )));
        }
        let charge_on_stopped = spec
            .charge_on_stopped
            .clone()
            .unwrap_or_else(|| "keepCharging".into());

        let mut conn = self.store.read().await?;
        let image =
            store::image::image_get_visible(&mut conn, &scope.pin, &scope.region, &image_id)
                .await?
                .ok_or_else(|| ApiError::image_not_found(&image_id))?;
        if image.status != ImageStatus::Ready {
            return Err(ApiError::FailedPrecondition(format!(
                "Image '{image_id}' not ready"
            )));
        }
        let plan = self
            .plan_disks(&mut conn, scope, &spec, &image, itype)
            .await?;
        drop(conn);
        if charge_on_stopped == "stopCharging" {
            if plan[0].category != "cloud" {
                return Err(ApiError::FailedPrecondition(
                    "stopCharging only applied to cloud system disk".into(),
                ));
            }
            if charge_mode != "postpaid_by_duration" {
                return Err(ApiError::FailedPrecondition(
                    "stopCharging only applied to postpaid by duration".into(),
                ));
            }
        } else if charge_on_stopped != "keepCharging" {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid chargeOnStopped '{charge_on_stopped}'"
            )));
        }
        let cloud_per_instance = plan.iter().filter(|d| d.category == "cloud").count() as i64;

        let mut tx = self.store.write().await?;
        // A concurrent retry may have won while we validated.
        if let Some(r) = idempotency::replay(&mut tx, scope, TOKEN_OP, token).await? {
            return Ok(r.split(',').map(str::to_string).collect());
        }
        self.quota_check(&mut tx, scope, QuotaKind::Instance, count)
            .await?;
        self.quota_check(&mut tx, scope, QuotaKind::Disk, count * cloud_per_instance)
            .await?;
        let mut ids_out = Vec::new();
        for n in 0..count {
            let now = now_ms();
            let id = ids::instance_id();
            let ip_n = store::counter_next(&mut tx, &format!("ip:{}", scope.region)).await?;
            let row = InstanceRow {
                id: id.clone(),
                pin: scope.pin.clone(),
                region: scope.region.clone(),
                az: az.clone(),
                name: expand_placeholder(&name, n),
                hostname: spec.hostname.clone().unwrap_or_else(|| id.clone()),
                description: spec.description.clone().unwrap_or_default(),
                instance_type: itype.name.to_string(),
                image_id: image.id.clone(),
                status: InstanceStatus::Pending,
                task: Some("create".into()),
                private_ip: private_ip(&scope.region, ip_n),
                primary_nic: spec.primary_network_interface.clone(),
                charge_mode: charge_mode.clone(),
                charge_on_stopped: charge_on_stopped.clone(),
                created_at: now,
                seq: self.store.next_seq(),
            };
            store::instance::instance_insert(&mut tx, &row).await?;
            for d in &plan {
                let disk_id = if d.category == "cloud" {
                    ids::disk_id()
                } else {
                    ids::local_disk_id()
                };
                let layer_id = ids::layer_id();
                store::layer::layer_insert(
                    &mut tx,
                    &LayerRow {
                        id: layer_id.clone(),
                        backing_id: d.backing_layer.clone(),
                        size_bytes: d.size_gb * GIB as i64,
                        created_at: now,
                    },
                )
                .await?;
                let disk_name = if d.name.is_empty() {
                    row.name.clone()
                } else {
                    d.name.clone()
                };
                store::disk::disk_insert(
                    &mut tx,
                    &DiskRow {
                        id: disk_id.clone(),
                        pin: scope.pin.clone(),
                        region: scope.region.clone(),
                        az: az.clone(),
                        category: d.category.into(),
                        name: disk_name,
                        description: d.description.clone(),
                        disk_type: d.disk_type.clone(),
                        size_gb: d.size_gb,
                        iops: d.iops,
                        status: DiskStatus::Creating,
                        task: Some("create".into()),
                        top_layer_id: Some(layer_id),
                        snapshot_id: d.snapshot_id.clone(),
                        multi_attachable: false,
                        encrypted: false,
                        charge_mode: charge_mode.clone(),
                        created_at: now,
                        seq: self.store.next_seq(),
                    },
                )
                .await?;
                store::disk::attachment_insert(
                    &mut tx,
                    &AttachmentRow {
                        disk_id,
                        instance_id: id.clone(),
                        device_name: d.device.clone(),
                        status: AttachmentStatus::Attaching,
                        auto_delete: d.auto_delete,
                        attached_at: now,
                    },
                )
                .await?;
            }
            tasks::enqueue(
                &mut tx,
                &id,
                &payload::InstanceCreate {},
                Default::default(),
            )
            .await?;
            ids_out.push(id);
        }
        idempotency::remember(&mut tx, scope, TOKEN_OP, token, &ids_out.join(",")).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(ids_out)
    }

    /// Resolves the system disk and data disks of a new instance from the image and the
    /// request, checking every documented rule before anything is created.
    async fn plan_disks(
        &self,
        conn: &mut Db,
        scope: &Scope,
        spec: &InstanceSpecInput,
        image: &ImageRow,
        itype: &InstanceType,
    ) -> ApiResult<Vec<PlannedDisk>> {
        let sys = spec.system_disk.clone().unwrap_or_default();
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
        let boot_layer = self.image_boot_layer(conn, image).await?;
        let mut plan = Vec::new();
        if category == "local" {
            plan.push(PlannedDisk {
                device: "vda".into(),
                category: "local",
                disk_type: "local".into(),
                size_gb: image.system_disk_size_gb,
                iops: 0,
                auto_delete: true,
                backing_layer: Some(boot_layer),
                snapshot_id: String::new(),
                name: String::new(),
                description: String::new(),
            });
        } else {
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
            plan.push(PlannedDisk {
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
            });
        }
        if let Some(gb) = itype.local_data_disk_gb {
            plan.push(PlannedDisk {
                device: "vdb".into(),
                category: "local",
                disk_type: "local".into(),
                size_gb: gb,
                iops: 0,
                auto_delete: true,
                backing_layer: None,
                snapshot_id: String::new(),
                name: String::new(),
                description: String::new(),
            });
        }
        // The image's own data disks, unless the launch names their device (to drop it
        // with noDevice, or to replace it).
        let launch_devices: HashSet<&str> = spec
            .data_disks
            .iter()
            .filter_map(|d| d.device_name.as_deref())
            .collect();
        let mut cloud_data = 0usize;
        for dev in image
            .devices()
            .into_iter()
            .filter(|d| d.device_name != "vda")
        {
            if launch_devices.contains(dev.device_name.as_str()) {
                continue;
            }
            let backing = if dev.snapshot_id.is_empty() {
                None
            } else {
                let snap = store::snapshot::snapshot_by_id(conn, &dev.snapshot_id)
                    .await?
                    .filter(|s| s.pin == image.pin || image.pin.is_empty())
                    .ok_or_else(|| ApiError::snapshot_not_found(&dev.snapshot_id))?;
                Some(snap.layer_id.ok_or_else(|| {
                    ApiError::FailedPrecondition(format!("Image '{}' not ready", image.id))
                })?)
            };
            cloud_data += 1;
            // The instance type's own local data disk holds its device (vdb): an image disk
            // recorded there moves to the first free name instead of colliding.
            let taken = plan.iter().any(|p| p.device == dev.device_name);
            plan.push(PlannedDisk {
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
        let mut used: HashSet<String> = plan.iter().map(|d| d.device.clone()).collect();
        for dd in &spec.data_disks {
            if dd.no_device == Some(true) {
                continue;
            }
            match dd.disk_category.as_deref() {
                None | Some("cloud") => {}
                Some(other) => {
                    return Err(ApiError::InvalidArgument(format!(
                        "Invalid disk category '{other}': data disks can only be cloud"
                    )))
                }
            }
            let cds = dd.cloud_disk_spec.clone().ok_or_else(|| {
                ApiError::InvalidArgument(
                    "Parameter InstanceSpec.DataDisks.CloudDiskSpec missing".into(),
                )
            })?;
            let mut snapshot_layer = None;
            let mut snap_size = 0;
            if let Some(sid) = &cds.snapshot_id {
                let snap = store::snapshot::snapshot_get(conn, &scope.pin, &scope.region, sid)
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
            cloud_data += 1;
            plan.push(PlannedDisk {
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
            });
        }
        if cloud_data > itype.max_data_disks {
            return Err(ApiError::FailedPrecondition(
                "DataDisks out of range".into(),
            ));
        }
        // Devices the client left open take the first free names, in order.
        let mut free = spec::data_device_names().filter(|n| !used.contains(n));
        for d in plan.iter_mut().filter(|d| d.device.is_empty()) {
            d.device = free
                .next()
                .ok_or_else(|| ApiError::FailedPrecondition("DataDisks out of range".into()))?;
        }
        Ok(plan)
    }

    /// The layer a new system disk overlays: the image's own layer (public or localDisk
    /// copy), or the frozen layer of its system-disk snapshot (cloudDisk).
    async fn image_boot_layer(&self, conn: &mut Db, image: &ImageRow) -> ApiResult<String> {
        if let Some(l) = &image.layer_id {
            return Ok(l.clone());
        }
        let snap = store::snapshot::snapshot_by_id(conn, &image.snapshot_id)
            .await?
            .ok_or_else(|| {
                ApiError::FailedPrecondition(format!("Image '{}' not ready", image.id))
            })?;
        snap.layer_id
            .ok_or_else(|| ApiError::FailedPrecondition(format!("Image '{}' not ready", image.id)))
    }

    /// start/stop/reboot: `from` status → transitional status for `--transition-delay` →
    /// final status.
    pub async fn instance_transition(
        &self,
        scope: &Scope,
        id: &str,
        op: InstanceOp,
    ) -> ApiResult<()> {
        let (from, task, during, final_status) = op.states();
        let mut tx = self.store.write().await?;
        let row = store::instance::instance_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if let Some(t) = &row.task {
            return Err(ApiError::underlay_conflict(t));
        }
        if !from.contains(&row.status) {
            return Err(ApiError::invalid_instance_status(row.status));
        }
        if let InstanceOp::Stop {
            charge_on_stopped: Some(c),
        } = &op
        {
            match c.as_str() {
                "keepCharging" => {}
                "stopCharging" => {
                    let disks = store::disk::attachments_of_instance(&mut tx, id).await?;
                    let cloud_sys = disks
                        .iter()
                        .any(|(a, d)| a.device_name == "vda" && d.category == "cloud");
                    if !cloud_sys {
                        return Err(ApiError::FailedPrecondition(
                            "stopCharging only applied to cloud system disk".into(),
                        ));
                    }
                    if row.charge_mode != "postpaid_by_duration" {
                        return Err(ApiError::FailedPrecondition(
                            "stopCharging only applied to postpaid by duration".into(),
                        ));
                    }
                }
                other => {
                    return Err(ApiError::InvalidArgument(format!(
                        "Invalid chargeOnStopped '{other}'"
                    )))
                }
            }
        }
        if matches!(op, InstanceOp::Start) {
            let disks = store::disk::attachments_of_instance(&mut tx, id).await?;
            match disks.iter().find(|(a, _)| a.device_name == "vda") {
                None => return Err(ApiError::NotFound("System disk not found".into())),
                Some((a, _)) if a.status != AttachmentStatus::Attached => {
                    return Err(ApiError::NotFound("Invalid system disk mount state".into()))
                }
                Some(_) => {}
            }
        }
        if !store::instance::instance_begin_task(&mut tx, id, from, task, during).await? {
            return Err(ApiError::underlay_conflict(task));
        }
        tasks::enqueue(
            &mut tx,
            id,
            &payload::InstanceTransition {
                task: task.into(),
                final_status,
            },
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }

    pub async fn instance_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let row = store::instance::instance_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if let Some(t) = &row.task {
            return Err(ApiError::underlay_conflict(t));
        }
        const FROM: [InstanceStatus; 3] = [
            InstanceStatus::Running,
            InstanceStatus::Stopped,
            InstanceStatus::Error,
        ];
        if !FROM.contains(&row.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid instance status '{}'",
                row.status
            )));
        }
        if !store::instance::instance_begin_task(
            &mut tx,
            id,
            &FROM,
            "delete",
            InstanceStatus::Deleting,
        )
        .await?
        {
            return Err(ApiError::underlay_conflict("delete"));
        }
        tasks::enqueue(
            &mut tx,
            id,
            &payload::InstanceDelete {},
            self.cfg.delays.transition,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }

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

#[derive(Debug, Clone)]
pub enum InstanceOp {
    Start,
    Stop { charge_on_stopped: Option<String> },
    Reboot,
}

impl InstanceOp {
    /// (allowed statuses, task name, transitional status, final status)
    fn states(
        &self,
    ) -> (
        &'static [InstanceStatus],
        &'static str,
        InstanceStatus,
        InstanceStatus,
    ) {
        use InstanceStatus::{Rebooting, Running, Starting, Stopped, Stopping};
        match self {
            InstanceOp::Start => (&[Stopped], "start", Starting, Running),
            InstanceOp::Stop { .. } => (&[Running], "stop", Stopping, Stopped),
            InstanceOp::Reboot => (&[Running], "reboot", Rebooting, Running),
        }
    }
}

async fn detail(conn: &mut Db, row: InstanceRow) -> ApiResult<InstanceDetail> {
    let disks = store::disk::attachments_of_instance(conn, &row.id).await?;
    Ok(InstanceDetail {
        instance_type: catalog::instance_type(&row.instance_type),
        row,
        disks,
    })
}

fn private_ip(region: &str, n: i64) -> String {
    let r = catalog::region_index(region);
    let host = n + 1; // .0.1 is the gateway
    format!("10.{}.{}.{}", r, (host / 254) % 256, host % 254 + 1)
}

/// `web-[001]` → `web-001`, `web-002`, …: JD's ordered batch names. Without a
/// placeholder every instance gets the same name.
fn expand_placeholder(name: &str, n: i64) -> String {
    let re = regex::Regex::new(r"\[(\d{1,4})\]").expect("static regex");
    match re.captures(name) {
        Some(c) => {
            let digits = &c[1];
            let start: i64 = digits.parse().unwrap_or(0);
            let v = format!("{:0width$}", start + n, width = digits.len());
            re.replace(name, v.as_str()).into_owned()
        }
        None => name.to_string(),
    }
}

fn strip_placeholder(name: &str) -> String {
    expand_placeholder(name, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_names() {
        assert_eq!(expand_placeholder("web-[001]", 4), "web-005");
        assert_eq!(expand_placeholder("web", 4), "web");
    }

    #[test]
    fn ips_are_distinct_per_counter() {
        let a = private_ip("cn-east-1", 1);
        let b = private_ip("cn-east-1", 300);
        assert_ne!(a, b);
        assert!(a.starts_with("10.1."));
    }
}
