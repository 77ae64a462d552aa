//! createDisks: validate → (in the write transaction) the snapshot to start from, quota
//! → write each disk with its layer → schedule its task.

use super::catalog;
use super::disk::CreateDisksInput;
use super::quota::QuotaKind;
use super::{spec, Scope, Service};
use crate::block::GIB;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::status::{DiskStatus, SnapshotStatus};
use crate::store::{self, now_ms, Db, DiskRow, LayerRow};
use crate::tasks::{self, payload};

const TOKEN_OP: &str = "createDisks";

/// A createDisks request that passed every check made before the transaction.
struct ValidDisks {
    spec: spec::DiskSpecInput,
    count: i64,
    az: String,
    name: String,
    disk_type: String,
    size: i64,
    description: String,
    charge_mode: String,
    iops: i64,
}

impl Service {
    pub async fn disks_create(
        &self,
        scope: &Scope,
        input: CreateDisksInput,
    ) -> ApiResult<Vec<String>> {
        let token = input.client_token.clone();
        let valid = validate(scope, input)?;
        let mut tx = self.store.write().await?;
        if let Some(r) =
            super::idempotency::replay(&mut tx, scope, TOKEN_OP, token.as_deref()).await?
        {
            return Ok(r.split(',').map(str::to_string).collect());
        }
        let backing = snapshot_layer(&mut tx, scope, &valid).await?;
        self.quota_check(&mut tx, scope, QuotaKind::Disk, valid.count)
            .await?;
        let mut out = Vec::new();
        for n in 0..valid.count {
            let id = self
                .record_disk(&mut tx, scope, &valid, backing.clone(), n)
                .await?;
            tasks::enqueue(&mut tx, &id, &payload::DiskCreate {}, Default::default()).await?;
            out.push(id);
        }
        super::idempotency::remember(&mut tx, scope, TOKEN_OP, token.as_deref(), &out.join(","))
            .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(out)
    }

    /// The `n`th disk of the call with its layer (on the snapshot's, or blank). Its id.
    async fn record_disk(
        &self,
        tx: &mut Db,
        scope: &Scope,
        valid: &ValidDisks,
        backing: Option<String>,
        n: i64,
    ) -> ApiResult<String> {
        let ValidDisks {
            spec,
            count,
            az,
            name,
            disk_type,
            size,
            description,
            charge_mode,
            iops,
        } = valid;
        let (count, size, iops) = (*count, *size, *iops);
        let now = now_ms();
        let id = ids::disk_id();
        let layer_id = ids::layer_id();
        store::layer::layer_insert(
            tx,
            &LayerRow {
                id: layer_id.clone(),
                backing_id: backing,
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
            tx,
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
        Ok(id)
    }
}

/// createDisks' checks, in the documented order.
fn validate(scope: &Scope, input: CreateDisksInput) -> ApiResult<ValidDisks> {
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

    Ok(ValidDisks {
        spec,
        count,
        az,
        name,
        disk_type,
        size,
        description,
        charge_mode,
        iops,
    })
}

/// The layer of the snapshot the disks start from (none: blank), checked in the
/// transaction: the caller's, available, no larger than the disks.
async fn snapshot_layer(
    tx: &mut Db,
    scope: &Scope,
    valid: &ValidDisks,
) -> ApiResult<Option<String>> {
    let (spec, size) = (&valid.spec, valid.size);
    let mut backing = None;
    if let Some(sid) = &spec.snapshot_id {
        let snap = store::snapshot::snapshot_get(tx, &scope.pin, &scope.region, sid)
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
    Ok(backing)
}
