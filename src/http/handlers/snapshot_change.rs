//! modifySnapshotAttribute, deleteSnapshots, describeSnapshotChain.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::http::{Call, Reply};
use crate::service::Service;

/// At least one of `name`, `description` and `expireTime`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifySnapshotAttribute {
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_-]{1,32}$"), example = &"snap-2")]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// Accepted; Kiln expires no snapshot.
    pub expire_time: Option<String>,
}

pub async fn modify_snapshot(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifySnapshotAttribute = call.params.decode()?;
    svc.snapshot_modify(&call.scope, id, r.name, r.description, r.expire_time)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteSnapshots {
    /// The snapshots to delete (at least one).
    #[serde(default)]
    #[schemars(example = ["snapshot-sample"])]
    pub snapshot_ids: Vec<String>,
}

/// One snapshot's outcome (JD's `DelSnapshot`).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelSnapshot {
    pub snapshot_id: String,
    pub success: bool,
    /// Why it was not deleted (deleteSnapshot's message); empty on success.
    pub detail: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteSnapshotsResult {
    pub snapshots: Vec<DelSnapshot>,
    pub success_count: i64,
    pub failed_count: i64,
}

pub async fn delete_snapshots(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DeleteSnapshots = call.params.decode()?;
    let done = svc.snapshots_delete(&call.scope, r.snapshot_ids).await?;
    let success_count = done.iter().filter(|d| d.success).count() as i64;
    Reply::serialize(&DeleteSnapshotsResult {
        failed_count: done.len() as i64 - success_count,
        success_count,
        snapshots: done
            .into_iter()
            .map(|d| DelSnapshot {
                snapshot_id: d.snapshot_id,
                success: d.success,
                detail: d.detail,
            })
            .collect(),
    })
}

/// One of `diskId` and `snapshotId` (`diskId` wins when both are given).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSnapshotChain {
    pub disk_id: Option<String>,
    /// The chain of the disk this snapshot was taken of.
    pub snapshot_id: Option<String>,
}

/// JD's `SnapshotChain`.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotChainView {
    pub disk_id: String,
    /// How many snapshots of the disk there are.
    pub snapshot_total_count: i64,
    /// Bytes the snapshots hold.
    pub snapshot_chain_size: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSnapshotChainResult {
    pub snapshot_chain: SnapshotChainView,
}

pub async fn describe_snapshot_chain(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DescribeSnapshotChain = call.params.decode()?;
    let c = svc
        .snapshot_chain(&call.scope, r.disk_id, r.snapshot_id)
        .await?;
    Reply::serialize(&DescribeSnapshotChainResult {
        snapshot_chain: SnapshotChainView {
            disk_id: c.disk_id,
            snapshot_total_count: c.snapshot_count,
            snapshot_chain_size: c.size_bytes,
        },
    })
}
