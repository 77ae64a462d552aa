//! vm: changes to an instance (attributes, password, disk auto-delete, type, rebuild,
//! elastic IP) and the brief listings (status, private addresses, brief instances, types).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::catalog::{self as catalog_views, InstanceTypeView};
use crate::http::views::{self, InstanceView};
use crate::http::{Call, Reply};
use crate::service::catalog;
use crate::service::instance_change::RebuildInput;
use crate::service::listing::InstanceFilters;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyInstanceAttribute {
    /// 2–128 of Chinese, letters, digits, `_`, `-`, `.`.
    pub name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
    /// 2–64 of letters, digits, `-`, `.`.
    pub hostname: Option<String>,
}

pub async fn modify_attribute(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyInstanceAttribute = call.params.decode()?;
    svc.instance_modify(&call.scope, id, r.name, r.description, r.hostname)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyInstancePassword {
    /// 8–30 characters of at least three of: upper case, lower case, digits, specials.
    #[schemars(required, example = &"Kiln-2026-ok")]
    pub password: Option<String>,
}

pub async fn modify_password(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyInstancePassword = call.params.decode()?;
    svc.instance_set_password(&call.scope, id, r.password)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceDiskAttribute {
    #[schemars(required)]
    pub disk_id: Option<String>,
    pub auto_delete: Option<bool>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyInstanceDiskAttribute {
    #[serde(default)]
    pub data_disks: Vec<InstanceDiskAttribute>,
}

pub async fn modify_disk_attribute(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyInstanceDiskAttribute = call.params.decode()?;
    let disks = r
        .data_disks
        .into_iter()
        .map(|d| (d.disk_id, d.auto_delete))
        .collect();
    svc.instance_disk_auto_delete(&call.scope, id, disks)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResizeInstance {
    #[schemars(required, schema_with = "crate::http::schema::instance_type")]
    #[serde(default)]
    pub instance_type: Option<String>,
    /// Accepted; Kiln keeps local data disks.
    pub force: Option<bool>,
}

pub async fn resize(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ResizeInstance = call.params.decode()?;
    let _ = r.force;
    svc.instance_resize(&call.scope, id, r.instance_type)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebuildInstance {
    /// Default: the image the instance runs.
    pub image_id: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub key_names: Vec<String>,
    pub hostname: Option<String>,
}

pub async fn rebuild(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: RebuildInstance = call.params.decode()?;
    let input = RebuildInput {
        image_id: r.image_id,
        password: r.password,
        hostname: r.hostname,
        key_names: r.key_names,
    };
    svc.instance_rebuild(&call.scope, id, input).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceElasticIp {
    #[schemars(required, example = &"fip-sample")]
    pub elastic_ip_id: Option<String>,
}

pub async fn associate_elastic_ip(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: InstanceElasticIp = call.params.decode()?;
    svc.instance_associate_elastic_ip(&call.scope, id, r.elastic_ip_id)
        .await?;
    Ok(Reply::Empty)
}

pub async fn disassociate_elastic_ip(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: InstanceElasticIp = call.params.decode()?;
    svc.instance_disassociate_elastic_ip(&call.scope, id, r.elastic_ip_id)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct InstanceTypeFilters {
    pub instance_types: Vec<String>,
    pub az: Vec<String>,
    pub architecture: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeInstanceTypes {
    pub filters: Option<Filters<InstanceTypeFilters>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeInstanceTypesResult {
    pub instance_types: Vec<InstanceTypeView>,
    pub specific_instance_types: Vec<InstanceTypeView>,
    pub total_count: usize,
}

pub async fn describe_instance_types(_svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DescribeInstanceTypes = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let zones: Vec<String> = catalog::zones_of(&call.scope.region)
        .into_iter()
        .filter(|z| f.az.is_empty() || f.az.contains(z))
        .collect();
    let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    let instance_types: Vec<InstanceTypeView> = catalog::INSTANCE_TYPES
        .iter()
        .filter(|t| any(&f.instance_types, t.name) && any(&f.architecture, "x86_64"))
        .filter(|_| !zones.is_empty())
        .map(|t| catalog_views::instance_type(t, &zones))
        .collect();
    Reply::serialize(&DescribeInstanceTypesResult {
        total_count: instance_types.len(),
        instance_types,
        specific_instance_types: vec![],
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeInstanceList {
    pub filters: Option<Filters<InstanceFilters>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstanceStatus")]
pub struct InstanceStatusView<'a> {
    instance_id: &'a str,
    status: crate::service::InstanceStatus,
}

pub async fn describe_instance_status(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeInstanceList = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.instances_describe(&call.scope, f, page).await?;
    let items = list
        .iter()
        .map(|i| InstanceStatusView {
            instance_id: &i.row.id,
            status: i.row.status,
        })
        .collect();
    Reply::list("instanceStatuses", items, total)
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "InstancePrivateIpAddress")]
pub struct InstancePrivateIpView<'a> {
    instance_id: &'a str,
    private_ip_address: &'a str,
}

pub async fn describe_private_ip_address(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeInstanceList = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.instances_describe(&call.scope, f, page).await?;
    let items = list
        .iter()
        .map(|i| InstancePrivateIpView {
            instance_id: &i.row.id,
            private_ip_address: &i.row.private_ip,
        })
        .collect();
    Reply::list("instancePrivateIpAddress", items, total)
}

/// describeBriefInstances: the instances as describeInstances shows them (a superset of
/// the BriefInstance model's fields).
pub async fn describe_brief_instances(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeInstanceList = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc.instances_describe(&call.scope, f, page).await?;
    let items: Vec<InstanceView> = list.iter().map(views::instance).collect();
    Reply::list("instances", items, total)
}
