//! Cloud disks: createDisks, describe, deleteDisk (a deleted disk reads `deleted` for
//! `--deleted-retention`, then is gone).

use super::catalog;
use super::spec::{self, DiskSpecInput};
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::disk::DiskQuery;
use crate::store::status::DiskStatus;
use crate::store::{self, AttachmentRow, Db, DiskRow};
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
        let deleted_after = self.deleted_after();
        let row = store::disk::disk_get_or_deleted(
            &mut conn,
            &scope.pin,
            &scope.region,
            id,
            deleted_after,
        )
        .await?
        .ok_or_else(|| ApiError::disk_not_found(id))?;
        disk_detail(&mut conn, row).await
    }

    /// Disks deleted after this instant (ms) still read `deleted`; older ones are gone.
    pub(crate) fn deleted_after(&self) -> i64 {
        store::now_ms() - self.cfg.delays.deleted_retention.as_millis() as i64
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
