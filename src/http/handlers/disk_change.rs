//! modifyDiskAttribute, extendDisk, restoreDisk: requests as the SDK sends them.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::ApiResult;
use crate::http::{Call, Reply};
use crate::service::disk_change::ExtendInput;
use crate::service::Service;

/// At least one of `name` and `description`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyDiskAttribute {
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_-]{1,32}$"), example = &"data-2")]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

pub async fn modify_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyDiskAttribute = call.params.decode()?;
    svc.disk_modify(&call.scope, id, r.name, r.description)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtendDisk {
    /// The new size in GiB: larger than the current one, a multiple of 10, within the
    /// disk type's range ([20,16000] for current types).
    #[serde(rename = "diskSizeGB")]
    #[schemars(required, example = 30)]
    pub disk_size_gb: Option<i64>,
    /// `ssd.io1` only: the new IOPS, [200, min(32000, 50×size)], step 10; default: as now.
    pub iops: Option<i64>,
}

pub async fn extend_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ExtendDisk = call.params.decode()?;
    let input = ExtendInput {
        disk_size_gb: r.disk_size_gb,
        iops: r.iops,
    };
    svc.disk_extend(&call.scope, id, input).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreDisk {
    /// An `available` snapshot taken of this disk.
    #[schemars(required, example = &"snapshot-sample")]
    pub snapshot_id: Option<String>,
}

pub async fn restore_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: RestoreDisk = call.params.decode()?;
    svc.disk_restore(&call.scope, id, r.snapshot_id).await?;
    Ok(Reply::Empty)
}
