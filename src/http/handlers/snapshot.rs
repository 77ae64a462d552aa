use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::{self, SnapshotView};
use crate::http::{Call, Reply};
use crate::service::listing::SnapshotFilters;
use crate::service::snapshot::CreateSnapshotInput;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSpec {
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(required, regex(pattern = r"^[\u4e00-\u9fa5A-Za-z0-9_-]{1,32}$"))]
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// The cloud disk to snapshot.
    #[schemars(required)]
    pub disk_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSnapshot {
    #[schemars(required)]
    pub snapshot_spec: Option<SnapshotSpec>,
    /// Idempotency token: a retry with the same token answers the first result.
    #[schemars(length(min = 1, max = 64))]
    pub client_token: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSnapshotResult {
    /// The new snapshot (`snapshot-…`).
    pub snapshot_id: String,
}

pub async fn create_snapshot(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateSnapshot = call.params.decode()?;
    let has_spec = r.snapshot_spec.is_some();
    let spec = r.snapshot_spec.unwrap_or_default();
    let input = CreateSnapshotInput {
        has_spec,
        name: spec.name,
        description: spec.description,
        disk_id: spec.disk_id,
        client_token: r.client_token,
    };
    let snapshot_id = svc.snapshot_create(&call.scope, input).await?;
    Reply::serialize(&CreateSnapshotResult { snapshot_id })
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeSnapshotResult<'a> {
    pub snapshot: SnapshotView<'a>,
}

pub async fn describe_snapshot(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let s = svc.snapshot_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeSnapshotResult {
        snapshot: views::snapshot(&s),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeSnapshots {
    pub filters: Option<Filters<SnapshotFilters>>,
    /// Default `private`; `others` and `shared` are always empty in Kiln.
    #[schemars(schema_with = "snapshot_source")]
    #[serde(default)]
    pub snapshot_source: Option<String>,
}

fn snapshot_source(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&crate::service::listing::SNAPSHOT_SOURCES, "")
}

pub async fn describe_snapshots(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeSnapshots = call.params.decode()?;
    let filters = r.filters.map(|f| f.0).unwrap_or_default();
    let source = r.snapshot_source.as_deref();
    let (list, total) = svc
        .snapshots_describe(&call.scope, source, filters, page)
        .await?;
    Reply::list(
        "snapshots",
        list.iter().map(views::snapshot).collect(),
        total,
    )
}

pub async fn delete_snapshot(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.snapshot_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}
