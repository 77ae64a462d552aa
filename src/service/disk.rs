//! Cloud disks: createDisks, describe, deleteDisk.

use super::catalog;
use super::quota::QuotaKind;
use super::spec::{self, DiskSpecInput};
use super::{Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::disk::DiskQuery;
use crate::store::status::{DiskStatus, SnapshotStatus};
use crate::store::{self, now_ms, AttachmentRow, Db, DiskRow, LayerRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct CreateDisksInput {
    pub disk_spec: Option<DiskSpecInput>,
    pub max_count: Option<i64>,
    pub client_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DiskDetail {
    pub row: DiskRow,
    pub attachments: Vec<AttachmentRow>,
}

const TOKEN_OP: &str = "createDisks";
const DELETABLE: &[DiskStatus] = &[
    DiskStatus::Available,
    DiskStatus::ErrorCreate,
    DiskStatus::ErrorDelete,
    DiskStatus::ErrorRestore,
    DiskStatus::ErrorExtend,
];

pub fn is_disk_status(s: &str) -> bool {
    s.parse::<DiskStatus>().is_ok()
}

impl Service {
    pub async fn disk_fetch(&self, scope: &Scope, id: &str) -> ApiResult<DiskDetail> {
        if !id.starts_with("vol-") {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed disk id '{id}'"
            )));
        }
        let mut conn = self.store.read().await?;
        let row = store::disk::disk_get(&mut conn, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::disk_not_found(id))?;
        disk_detail(&mut conn, row).await
    }

    pub async fn disk_list(&self, q: DiskQuery) -> ApiResult<(Vec<DiskDetail>, i64)> {
        for t in &q.disk_types {
            if !spec::is_disk_type(t) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid disk type '{t}'"
                )));
            }
        }
        for s in &q.statuses {
            if !is_disk_status(s) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid disk status '{s}'"
                )));
            }
        }
        for az in &q.azs {
            if !catalog::is_zone_of(&q.region, az) {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid availability zone '{az}'"
                )));
            }
        }
        let mut conn = self.store.read().await?;
        let (rows, total) = store::disk::disk_list(&mut conn, &q).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(disk_detail(&mut conn, r).await?);
        }
        Ok((out, total))
    }

    pub async fn disks_create(
        &self,
        scope: &Scope,
        input: CreateDisksInput,
    ) -> ApiResult<Vec<String>> {
        let spec = input
            .disk_spec
            .ok_or_else(|| ApiError::InvalidArgument("Parameter disk spec missing".into()))?;
        let count = input
            .max_count
            .ok_or_else(|| ApiError::InvalidArgument("Parameter max count missing".into()))?;
        let az = spec
            .az
            .clone()
            .ok_or_else(|| ApiError::InvalidArgument("Parameter az missing".into()))?;
        let name = spec
            .name
            .clone()
            .ok_or_else(|| ApiError::InvalidArgument("Parameter disk name missing".into()))?;
        let disk_type = spec
            .disk_type
            .clone()
            .ok_or_else(|| ApiError::InvalidArgument("Parameter disk type missing".into()))?;
        let size = spec
            .disk_size_gb
            .ok_or_else(|| ApiError::InvalidArgument("Parameter disk size missing".into()))?;
        if !spec::disk_name_ok(&name) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed disk name '{name}'"
            )));
        }
        let description = spec.description.clone().unwrap_or_default();
        if !spec::description_ok(&description) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed disk description '{description}'"
            )));
        }
        super::idempotency::check_token(input.client_token.as_deref())?;
        if !catalog::is_zone_of(&scope.region, &az) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid availability zone '{az}'"
            )));
        }
        if !spec::is_disk_type(&disk_type) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid disk type '{disk_type}'"
            )));
        }
        if !spec::size_ok(&disk_type, size) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid disk size '{size}'"
            )));
        }
        let charge_mode = spec
            .charge_mode
            .clone()
            .unwrap_or_else(|| "postpaid_by_duration".into());
        if ![
            "postpaid_by_duration",
            "prepaid_by_duration",
            "postpaid_by_usage",
        ]
        .contains(&charge_mode.as_str())
        {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid charge type '{charge_mode}'"
            )));
        }
        let iops = match spec.iops {
            Some(i) if disk_type == "ssd.io1" => {
                if !spec::iops_ok(size, i) {
                    return Err(ApiError::InvalidArgument(
                        "Invalid iops number for ssd.io1".into(),
                    ));
                }
                i
            }
            _ => spec::default_iops(&disk_type, size),
        };
        if !(1..=100).contains(&count) {
            return Err(ApiError::OutOfRange("Max count out of range".into()));
        }

        let mut tx = self.store.write().await?;
        if let Some(r) =
            super::idempotency::replay(&mut tx, scope, TOKEN_OP, input.client_token.as_deref())
                .await?
        {
            return Ok(r.split(',').map(str::to_string).collect());
        }
        let mut backing = None;
        if let Some(sid) = &spec.snapshot_id {
            let snap = store::snapshot::snapshot_get(&mut tx, &scope.pin, &scope.region, sid)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("Snapshot id '{sid}' not found")))?;
            if snap.status != SnapshotStatus::Available {
                return Err(ApiError::FailedPrecondition(format!(
                    "Invalid snapshot status '{}'",
                    snap.status
                )));
            }
            if size < snap.size_gb {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid disk size '{size}'"
                )));
            }
            backing = snap.layer_id.clone();
        }
        self.quota_check(&mut tx, scope, QuotaKind::Disk, count)
            .await?;
        let mut out = Vec::new();
        for n in 0..count {
            let now = now_ms();
            let id = ids::disk_id();
            let layer_id = ids::layer_id();
            store::layer::layer_insert(
                &mut tx,
                &LayerRow {
                    id: layer_id.clone(),
                    backing_id: backing.clone(),
                    size_bytes: size * GIB as i64,
                    created_at: now,
                },
            )
            .await?;
            let disk_name = if count > 1 {
                format!("{name}-{}", n + 1)
            } else {
                name.clone()
            };
            store::disk::disk_insert(
                &mut tx,
                &DiskRow {
                    id: id.clone(),
                    pin: scope.pin.clone(),
                    region: scope.region.clone(),
                    az: az.clone(),
                    category: "cloud".into(),
                    name: disk_name,
                    description: description.clone(),
                    disk_type: disk_type.clone(),
                    size_gb: size,
                    iops,
                    status: DiskStatus::Creating,
                    task: Some("create".into()),
                    top_layer_id: Some(layer_id),
                    snapshot_id: spec.snapshot_id.clone().unwrap_or_default(),
                    multi_attachable: spec.multi_attachable.unwrap_or(false),
                    encrypted: spec.encrypt.unwrap_or(false),
                    charge_mode: charge_mode.clone(),
                    created_at: now,
                    seq: self.store.next_seq(),
                },
            )
            .await?;
            tasks::enqueue(&mut tx, &id, &payload::DiskCreate {}, Default::default()).await?;
            out.push(id);
        }
        super::idempotency::remember(
            &mut tx,
            scope,
            TOKEN_OP,
            input.client_token.as_deref(),
            &out.join(","),
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(out)
    }

    pub async fn disk_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        if !id.starts_with("vol-") {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed disk id '{id}'"
            )));
        }
        let mut tx = self.store.write().await?;
        let disk = store::disk::disk_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::disk_not_found(id))?;
        let attached = !store::disk::attachments_of_disk(&mut tx, id)
            .await?
            .is_empty();
        if disk.task.is_some() || attached || !DELETABLE.contains(&disk.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Cannot delete disk in status '{}'",
                disk.status
            )));
        }
        if !store::disk::disk_begin_task(&mut tx, id, DELETABLE, "delete", DiskStatus::Deleting)
            .await?
        {
            return Err(ApiError::FailedPrecondition(format!(
                "Cannot delete disk in status '{}'",
                disk.status
            )));
        }
        tasks::enqueue(&mut tx, id, &payload::DiskDelete {}, self.cfg.delays.task).await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }
}

async fn disk_detail(conn: &mut Db, row: DiskRow) -> ApiResult<DiskDetail> {
    let attachments = store::disk::attachments_of_disk(conn, &row.id).await?;
    Ok(DiskDetail { row, attachments })
}
