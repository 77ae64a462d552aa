//! vpc service: VPCs, subnets and describeQuota; the network specs createInstances takes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::vpc::{self as views, SubnetView, VpcQuotaView, VpcView};
use crate::http::{Call, Reply};
use crate::service::vpc::{
    ElasticIpSpecInput, PrimaryNicInput, Renamable, SubnetCreateInput, SubnetQuery,
};
use crate::service::Service;

/// `elasticIpSpec` (createElasticIps) and `elasticIp` (createInstances).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ElasticIpSpec {
    /// [1,200].
    #[schemars(required, example = 1)]
    pub bandwidth_mbps: Option<i64>,
    /// `bgp`.
    #[schemars(required, example = &"bgp")]
    pub provider: Option<String>,
    /// Accepted, not used: Kiln does not bill.
    #[schemars(schema_with = "crate::http::schema::free_object")]
    #[serde(default)]
    pub charge_spec: Option<serde_json::Value>,
}

impl From<ElasticIpSpec> for ElasticIpSpecInput {
    fn from(s: ElasticIpSpec) -> Self {
        ElasticIpSpecInput {
            bandwidth_mbps: s.bandwidth_mbps,
            provider: s.provider,
        }
    }
}

/// createInstances' `primaryNetworkInterface`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceAttachmentSpec {
    /// Accepted (the primary interface is always device 1 and deleted with the instance).
    #[expect(dead_code, reason = "accepted, not used")]
    pub device_index: Option<i64>,
    #[expect(dead_code, reason = "accepted, not used")]
    pub auto_delete: Option<bool>,
    #[schemars(required)]
    pub network_interface: Option<NetworkInterfaceSpec>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterfaceSpec {
    /// A subnet of the caller's in the region.
    #[schemars(required, example = &"subnet-sample")]
    pub subnet_id: Option<String>,
    /// A free address of the subnet (only with maxCount 1).
    pub primary_ip_address: Option<String>,
    /// At most 5 security groups of the subnet's VPC; default: the VPC's default group.
    #[serde(default)]
    pub security_groups: Vec<String>,
}

impl From<NetworkInterfaceSpec> for PrimaryNicInput {
    fn from(s: NetworkInterfaceSpec) -> Self {
        PrimaryNicInput {
            subnet_id: s.subnet_id,
            primary_ip: s.primary_ip_address,
            security_groups: s.security_groups,
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateVpc {
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(required, example = &"packer-vpc")]
    pub vpc_name: Option<String>,
    /// A range of 10/8, 172.16/12 or 192.168/16 with a prefix of 16–28; none: any.
    #[schemars(example = &"192.168.0.0/16")]
    pub address_prefix: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateVpcResult {
    pub vpc_id: String,
}

pub async fn create_vpc(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateVpc = call.params.decode()?;
    let vpc_id = svc
        .vpc_create(&call.scope, r.vpc_name, r.address_prefix, r.description)
        .await?;
    Reply::serialize(&CreateVpcResult { vpc_id })
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeVpcResult<'a> {
    pub vpc: VpcView<'a>,
}

pub async fn describe_vpc(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let d = svc.vpc_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeVpcResult {
        vpc: views::vpc(&d),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct VpcFilters {
    pub vpc_ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeVpcs {
    pub filters: Option<Filters<VpcFilters>>,
}

pub async fn describe_vpcs(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeVpcs = call.params.decode()?;
    let ids = r.filters.map(|f| f.0.vpc_ids).unwrap_or_default();
    let (list, total) = svc.vpc_list(&call.scope, &ids, page).await?;
    Reply::list("vpcs", list.iter().map(views::vpc).collect(), total)
}

/// modifyVpc / modifySubnet / modifyNetworkSecurityGroup: a new name and/or description.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyVpc {
    pub vpc_name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

pub async fn modify_vpc(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyVpc = call.params.decode()?;
    svc.vpc_resource_modify(&call.scope, Renamable::Vpc, id, r.vpc_name, r.description)
        .await?;
    Ok(Reply::Empty)
}

pub async fn delete_vpc(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.vpc_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSubnet {
    #[schemars(required, example = &"vpc-sample")]
    pub vpc_id: Option<String>,
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(required, example = &"packer-subnet")]
    pub subnet_name: Option<String>,
    /// Inside the VPC's range, overlapping no other subnet of it; prefix 16–28.
    #[schemars(required, example = &"192.168.0.0/20")]
    pub address_prefix: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSubnetResult {
    pub subnet_id: String,
}

pub async fn create_subnet(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateSubnet = call.params.decode()?;
    let input = SubnetCreateInput {
        vpc_id: r.vpc_id,
        subnet_name: r.subnet_name,
        address_prefix: r.address_prefix,
        description: r.description,
    };
    let subnet_id = svc.subnet_create(&call.scope, input).await?;
    Reply::serialize(&CreateSubnetResult { subnet_id })
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeSubnetResult<'a> {
    pub subnet: SubnetView<'a>,
}

pub async fn describe_subnet(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let (s, used) = svc.subnet_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeSubnetResult {
        subnet: views::subnet(&s, used),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SubnetFilters {
    pub subnet_ids: Vec<String>,
    pub subnet_names: Vec<String>,
    pub vpc_id: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeSubnets {
    pub filters: Option<Filters<SubnetFilters>>,
}

pub async fn describe_subnets(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeSubnets = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let q = SubnetQuery {
        ids: f.subnet_ids,
        vpc_ids: f.vpc_id,
        names: f.subnet_names,
    };
    let (list, total) = svc.subnet_list(&call.scope, &q, page).await?;
    Reply::list(
        "subnets",
        list.iter()
            .map(|(s, used)| views::subnet(s, *used))
            .collect(),
        total,
    )
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifySubnet {
    pub subnet_name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

pub async fn modify_subnet(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifySubnet = call.params.decode()?;
    svc.vpc_resource_modify(
        &call.scope,
        Renamable::Subnet,
        id,
        r.subnet_name,
        r.description,
    )
    .await?;
    Ok(Reply::Empty)
}

pub async fn delete_subnet(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.subnet_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeVpcQuota {
    /// `vpc`, `subnet`, `security_group`, `elastic_ip` or `network_interface`.
    #[schemars(required, example = &"vpc")]
    pub r#type: Option<String>,
    /// The VPC, for `subnet` and `security_group`.
    pub parent_resource_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct DescribeVpcQuotaResult {
    pub quota: VpcQuotaView,
}

pub async fn describe_vpc_quota(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: DescribeVpcQuota = call.params.decode()?;
    let q = svc
        .vpc_quota(&call.scope, r.r#type, r.parent_resource_id)
        .await?;
    Reply::serialize(&DescribeVpcQuotaResult {
        quota: views::vpc_quota(q),
    })
}
