use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DiskSpec, Paging};
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::schema::{Empty, NONE};
use crate::http::views::{self, DiskView};
use crate::http::{Call, Reply};
use crate::service::disk::CreateDisksInput;
use crate::service::listing::DiskFilters;
use crate::service::Service;

/// Required: `diskSpec` with `az`, `name`, `diskType`, `diskSizeGB`, and `maxCount`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDisks {
    #[schemars(required)]
    pub disk_spec: Option<DiskSpec>,
    /// [1,100]; names get `-1`, `-2`, … suffixes.
    #[schemars(required, example = 1)]
    pub max_count: Option<i64>,
    /// Idempotency token: a retry with the same token answers the first result.
    #[schemars(length(min = 1, max = 64))]
    pub client_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDisksResult {
    /// Disk ids (`vol-…`).
    pub disk_ids: Vec<String>,
    pub policy_relations: Empty,
    pub tagmsg: &'static str,
}

pub async fn create_disks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateDisks = call.params.decode()?;
    let input = CreateDisksInput {
        disk_spec: r.disk_spec.map(Into::into),
        max_count: r.max_count,
        client_token: r.client_token,
    };
    let disk_ids = svc.disks_create(&call.scope, input).await?;
    Reply::serialize(&CreateDisksResult {
        disk_ids,
        policy_relations: NONE,
        tagmsg: "",
    })
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeDiskResult<'a> {
    pub disk: DiskView<'a>,
}

pub async fn describe_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let d = svc.disk_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeDiskResult {
        disk: views::disk_detail(&d),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeDisks {
    pub filters: Option<Filters<DiskFilters>>,
}

pub async fn describe_disks(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeDisks = call.params.decode()?;
    let filters = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.disks_describe(&call.scope, filters, page).await?;
    Reply::list(
        "disks",
        list.iter().map(views::disk_detail).collect(),
        total,
    )
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteDisk {
    /// Validated; Kiln has no recycle bin and deletes the disk.
    #[expect(dead_code, reason = "validated, then ignored")]
    pub put_in_recycle_bin: Option<bool>,
}

pub async fn delete_disk(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    call.params.decode::<DeleteDisk>()?;
    svc.disk_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}
