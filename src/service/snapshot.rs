//! Snapshots: createSnapshot, describe, deleteSnapshot.

use super::quota::QuotaKind;
use super::spec;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::store::snapshot::SnapshotQuery;
use crate::store::status::{DiskStatus, SnapshotStatus};
use crate::store::{self, now_ms, SnapshotRow};
use crate::tasks::{self, payload};

#[derive(Debug, Clone, Default)]
pub struct CreateSnapshotInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub disk_id: Option<String>,
    pub has_spec: bool,
    pub client_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SnapshotDetail {
    pub row: SnapshotRow,
    /// Private images that use the snapshot.
    pub images: Vec<String>,
}

const TOKEN_OP: &str = "createSnapshot";
const DELETABLE: &[SnapshotStatus] = &[
    SnapshotStatus::Available,
    SnapshotStatus::ErrorCreate,
    SnapshotStatus::ErrorDelete,
];

impl Service {
    pub async fn snapshot_fetch(&self, scope: &Scope, id: &str) -> ApiResult<SnapshotDetail> {
        let mut conn = self.store.read().await?;
        let row = store::snapshot::snapshot_get(&mut conn, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::snapshot_not_found(id))?;
        let images = store::snapshot::snapshot_image_ids(&mut conn, id).await?;
        Ok(SnapshotDetail { row, images })
    }

    pub async fn snapshot_list(&self, q: SnapshotQuery) -> ApiResult<(Vec<SnapshotDetail>, i64)> {
        for s in &q.statuses {
            if s.parse::<SnapshotStatus>().is_err() {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid snapshot status '{s}'"
                )));
            }
        }
        let mut conn = self.store.read().await?;
        let (rows, total) = store::snapshot::snapshot_list(&mut conn, &q).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let images = store::snapshot::snapshot_image_ids(&mut conn, &row.id).await?;
            out.push(SnapshotDetail { row, images });
        }
        Ok((out, total))
    }

    pub async fn snapshot_create(
        &self,
        scope: &Scope,
        input: CreateSnapshotInput,
    ) -> ApiResult<String> {
        if !input.has_spec {
            return Err(ApiError::InvalidArgument(
                "Parameter snapshot spec missing".into(),
            ));
        }
        let name = input
            .name
            .ok_or_else(|| ApiError::InvalidArgument("Parameter snapshot name missing".into()))?;
        if !spec::disk_name_ok(&name) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed snapshot name '{name}'"
            )));
        }
        let description = input.description.unwrap_or_default();
        if !spec::description_ok(&description) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed snapshot description '{description}'"
            )));
        }
        let disk_id = input
            .disk_id
            .ok_or_else(|| ApiError::InvalidArgument("Parameter disk id missing".into()))?;
        super::idempotency::check_token(input.client_token.as_deref())?;
        let mut tx = self.store.write().await?;
        if let Some(r) =
            super::idempotency::replay(&mut tx, scope, TOKEN_OP, input.client_token.as_deref())
                .await?
        {
            return Ok(r);
        }
        let disk = store::disk::disk_get(&mut tx, &scope.pin, &scope.region, &disk_id)
            .await?
            .ok_or_else(|| ApiError::disk_not_found(&disk_id))?;
        if let Some(task) = &disk.task {
            return Err(ApiError::FailedPrecondition(format!(
                "Disk '{disk_id}' busy in '{task}'"
            )));
        }
        if ![DiskStatus::Available, DiskStatus::InUse].contains(&disk.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid disk status '{}'",
                disk.status
            )));
        }
        self.quota_check(&mut tx, scope, QuotaKind::Snapshot, 1)
            .await?;
        if !store::disk::disk_set_task(
            &mut tx,
            &disk_id,
            &[DiskStatus::Available, DiskStatus::InUse],
            "createSnapshot",
        )
        .await?
        {
            return Err(ApiError::FailedPrecondition(format!(
                "Disk '{disk_id}' busy in 'createSnapshot'"
            )));
        }
        // The snapshot's instant: the disk's top layer is frozen now, in this transaction.
        let frozen = self
            .freeze_top_layers(&mut tx, std::slice::from_ref(&disk))
            .await?;
        let id = ids::snapshot_id();
        store::snapshot::snapshot_insert(
            &mut tx,
            &SnapshotRow {
                id: id.clone(),
                pin: scope.pin.clone(),
                region: scope.region.clone(),
                disk_id: disk_id.clone(),
                name,
                description,
                status: SnapshotStatus::Creating,
                size_gb: disk.size_gb,
                layer_id: Some(frozen[0].frozen_layer.clone()),
                encrypted: disk.encrypted,
                made_for_image: String::new(),
                created_at: now_ms(),
                seq: self.store.next_seq(),
            },
        )
        .await?;
        tasks::enqueue(
            &mut tx,
            &id,
            &payload::SnapshotCreate {},
            self.cfg.delays.task,
        )
        .await?;
        super::idempotency::remember(&mut tx, scope, TOKEN_OP, input.client_token.as_deref(), &id)
            .await?;
        self.commit_with_live_switch(tx, &frozen)
            .await
            .map_err(|f| f.error)?;
        self.wake_tasks();
        Ok(id)
    }

    pub async fn snapshot_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let snap = store::snapshot::snapshot_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::snapshot_not_found(id))?;
        if !DELETABLE.contains(&snap.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot status '{}'",
                snap.status
            )));
        }
        let images = store::snapshot::snapshot_image_ids(&mut tx, id).await?;
        if let Some(img) = images.first() {
            return Err(ApiError::FailedPrecondition(format!(
                "Snapshot '{id}' is used by image '{img}'"
            )));
        }
        if !store::snapshot::snapshot_transition(&mut tx, id, DELETABLE, SnapshotStatus::Deleting)
            .await?
        {
            return Err(ApiError::FailedPrecondition(
                "Invalid snapshot status 'deleting'".into(),
            ));
        }
        tasks::enqueue(
            &mut tx,
            id,
            &payload::SnapshotDelete {},
            self.cfg.delays.task,
        )
        .await?;
        tx.commit().await?;
        self.wake_tasks();
        Ok(())
    }
}
