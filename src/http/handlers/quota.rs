use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::{Call, Reply};
use crate::service::listing::QuotaFilters;
use crate::service::Service;

/// resourceTypes: `instance`, `instance_cpu`, `instance_memory`, `instance_local_disk`,
/// `keypair`, `image`, `instanceTemplate`, `imageShare`; none means all.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeQuotas {
    pub filters: Option<Filters<QuotaFilters>>,
    /// Required when `resourceTypes` includes `imageShare`.
    pub image_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub resource_type: String,
    pub limit: i64,
    pub used: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeQuotasResult {
    pub quotas: Vec<Quota>,
}

pub async fn describe_quotas(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DescribeQuotas = call.params.decode()?;
    let types = r.filters.map(|f| f.0.resource_types).unwrap_or_default();
    let quotas = svc
        .vm_quotas(&call.scope, &types, r.image_id.as_deref())
        .await?;
    let quotas = quotas
        .into_iter()
        .map(|(resource_type, limit, used)| Quota {
            resource_type,
            limit,
            used,
        })
        .collect();
    Reply::serialize(&DescribeQuotasResult { quotas })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeQuota {
    /// Required for the disk service.
    #[serde(rename = "type")]
    #[schemars(schema_with = "quota_type")]
    #[serde(default)]
    pub kind: Option<String>,
}

fn quota_type(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    crate::http::schema::one_of(&["disk", "snapshot", "snapshot_policy"], "")
}

#[derive(Serialize, JsonSchema)]
pub struct DiskQuota {
    pub limit: i64,
    pub used: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeQuotaResult {
    pub quota: DiskQuota,
}

pub async fn describe_quota(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DescribeQuota = call.params.decode()?;
    let (limit, used) = svc.disk_quota(&call.scope, r.kind.as_deref()).await?;
    Reply::serialize(&DescribeQuotaResult {
        quota: DiskQuota { limit, used },
    })
}
