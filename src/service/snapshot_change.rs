//! modifySnapshotAttribute, deleteSnapshots (batch) and describeSnapshotChain.

use super::spec;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store;
use crate::store::status::SnapshotStatus;

/// One snapshot's outcome in deleteSnapshots (JD's `DelSnapshot`).
#[derive(Debug, Clone)]
pub struct SnapshotDeletion {
    pub snapshot_id: String,
    pub success: bool,
    /// Why it was not deleted: the message deleteSnapshot would have answered; empty on
    /// success.
    pub detail: String,
}

/// describeSnapshotChain's answer: a disk's snapshots, how many and how many bytes.
#[derive(Debug, Clone)]
pub struct SnapshotChain {
    pub disk_id: String,
    pub snapshot_count: i64,
    /// Bytes the snapshots' layers hold (allocated, not virtual).
    pub size_bytes: i64,
}

impl Service {
    /// modifySnapshotAttribute: a new name and/or description. `expireTime` is accepted
    /// with them and not kept (Kiln expires no snapshot).
    pub async fn snapshot_modify(
        &self,
        scope: &Scope,
        id: &str,
        name: Option<String>,
        description: Option<String>,
        expire_time: Option<String>,
    ) -> ApiResult<()> {
        if name.is_none() && description.is_none() && expire_time.is_none() {
            return Err(ApiError::InvalidArgument("Parameter name missing".into()));
        }
        if let Some(n) = name.as_deref().filter(|n| !spec::disk_name_ok(n)) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed snapshot name '{n}'"
            )));
        }
        if let Some(d) = description.as_deref().filter(|d| !spec::description_ok(d)) {
            return Err(ApiError::InvalidArgument(format!(
                "Malformed snapshot description '{d}'"
            )));
        }
        let mut tx = self.store.write().await?;
        let snap = store::snapshot::snapshot_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::snapshot_not_found(id))?;
        if snap.status == SnapshotStatus::Deleting {
            return Err(ApiError::FailedPrecondition(format!(
                "Invalid snapshot status '{}'",
                snap.status
            )));
        }
        store::snapshot::snapshot_set_attributes(
            &mut tx,
            id,
            name.as_deref(),
            description.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// deleteSnapshots: each snapshot by deleteSnapshot's rules, one by one; one that
    /// cannot go does not stop the others (JD answers `success`/`detail` per snapshot and
    /// the counts). An id given twice is tried once.
    pub async fn snapshots_delete(
        &self,
        scope: &Scope,
        ids: Vec<String>,
    ) -> ApiResult<Vec<SnapshotDeletion>> {
        if ids.is_empty() {
            return Err(ApiError::InvalidArgument(
                "Parameter snapshotIds missing".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for id in ids.into_iter().filter(|id| seen.insert(id.clone())) {
            let result = self.snapshot_delete(scope, &id).await;
            // Trouble of the service itself (database, storage) fails the call, as it would
            // deleteSnapshot: only the snapshot's own refusals are per-snapshot outcomes.
            let detail = match result {
                Ok(()) => String::new(),
                Err(e) if e.http_code() >= 500 => return Err(e),
                Err(e) => e.wire_message(),
            };
            out.push(SnapshotDeletion {
                success: detail.is_empty(),
                snapshot_id: id,
                detail,
            });
        }
        Ok(out)
    }

    /// describeSnapshotChain: the chain of the disk named, or of the disk the snapshot
    /// named was taken of. A disk that is gone keeps its chain while snapshots of it
    /// remain.
    pub async fn snapshot_chain(
        &self,
        scope: &Scope,
        disk_id: Option<String>,
        snapshot_id: Option<String>,
    ) -> ApiResult<SnapshotChain> {
        let mut db = self.store.read().await?;
        let disk_id = match (disk_id, snapshot_id) {
            (Some(d), _) => d,
            (None, Some(s)) => {
                store::snapshot::snapshot_get(&mut db, &scope.pin, &scope.region, &s)
                    .await?
                    .ok_or_else(|| ApiError::snapshot_not_found(&s))?
                    .disk_id
            }
            (None, None) => {
                return Err(ApiError::InvalidArgument("Parameter diskId missing".into()))
            }
        };
        let snaps =
            store::snapshot::snapshots_of_disk(&mut db, &scope.pin, &scope.region, &disk_id)
                .await?;
        if snaps.is_empty()
            && store::disk::disk_get(&mut db, &scope.pin, &scope.region, &disk_id)
                .await?
                .is_none()
        {
            return Err(ApiError::disk_not_found(&disk_id));
        }
        drop(db);
        let mut size_bytes = 0;
        for layer in snaps.iter().filter_map(|s| s.layer_id.as_deref()) {
            // A layer some snapshot shares with an image being made may not be written yet.
            size_bytes += self.block.allocated_bytes(layer).await.unwrap_or(0);
        }
        Ok(SnapshotChain {
            disk_id,
            snapshot_count: snaps.len() as i64,
            size_bytes: size_bytes as i64,
        })
    }
}
