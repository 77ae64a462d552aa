//! vpc service: elastic IPs and network interfaces (associate/disassociateElasticIp are
//! actions of the interface).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::vpc::ElasticIpSpec;
use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::vpc::{self as views, ElasticIpView, NetworkInterfaceView};
use crate::http::{Call, Reply};
use crate::service::vpc::NicQuery;
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateElasticIps {
    /// [1,100].
    #[schemars(required, example = 1)]
    pub max_count: Option<i64>,
    #[schemars(required)]
    pub elastic_ip_spec: Option<ElasticIpSpec>,
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    pub elastic_ip_name: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateElasticIpsResult {
    pub elastic_ip_ids: Vec<String>,
}

pub async fn create_elastic_ips(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateElasticIps = call.params.decode()?;
    let elastic_ip_ids = svc
        .elastic_ips_create(
            &call.scope,
            r.max_count,
            r.elastic_ip_spec.map(Into::into),
            r.elastic_ip_name,
        )
        .await?;
    Reply::serialize(&CreateElasticIpsResult { elastic_ip_ids })
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeElasticIpResult<'a> {
    pub elastic_ip: ElasticIpView<'a>,
}

pub async fn describe_elastic_ip(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let e = svc.elastic_ip_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeElasticIpResult {
        elastic_ip: views::elastic_ip(&e),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct ElasticIpFilters {
    pub elastic_ip_ids: Vec<String>,
    pub elastic_ip_address: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeElasticIps {
    pub filters: Option<Filters<ElasticIpFilters>>,
}

pub async fn describe_elastic_ips(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeElasticIps = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc
        .elastic_ip_list(&call.scope, &f.elastic_ip_ids, &f.elastic_ip_address, page)
        .await?;
    Reply::list(
        "elasticIps",
        list.iter().map(views::elastic_ip).collect(),
        total,
    )
}

pub async fn delete_elastic_ip(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.elastic_ip_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociateElasticIp {
    /// The elastic IP, by id or by address.
    #[schemars(example = &"fip-sample")]
    pub elastic_ip_id: Option<String>,
    pub elastic_ip_address: Option<String>,
    /// The interface's own address (default: its primary one).
    pub private_ip_address: Option<String>,
}

pub async fn associate_elastic_ip(svc: &Service, call: Call, nic: &str) -> ApiResult<Reply> {
    let r: AssociateElasticIp = call.params.decode()?;
    svc.elastic_ip_associate(
        &call.scope,
        nic,
        r.elastic_ip_id,
        r.elastic_ip_address,
        r.private_ip_address,
    )
    .await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisassociateElasticIp {
    /// By id or address; none: the one on the interface.
    pub elastic_ip_id: Option<String>,
    pub elastic_ip_address: Option<String>,
}

pub async fn disassociate_elastic_ip(svc: &Service, call: Call, nic: &str) -> ApiResult<Reply> {
    let r: DisassociateElasticIp = call.params.decode()?;
    svc.elastic_ip_disassociate(&call.scope, nic, r.elastic_ip_id, r.elastic_ip_address)
        .await?;
    Ok(Reply::Empty)
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeNetworkInterfaceResult<'a> {
    pub network_interface: NetworkInterfaceView<'a>,
}

pub async fn describe_network_interface(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let (n, eip) = svc.network_interface_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeNetworkInterfaceResult {
        network_interface: views::network_interface(&n, eip.as_ref()),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct NetworkInterfaceFilters {
    pub network_interface_ids: Vec<String>,
    pub vpc_id: Vec<String>,
    pub subnet_id: Vec<String>,
    pub instance_id: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeNetworkInterfaces {
    pub filters: Option<Filters<NetworkInterfaceFilters>>,
}

pub async fn describe_network_interfaces(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeNetworkInterfaces = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let q = NicQuery {
        ids: f.network_interface_ids,
        vpc_ids: f.vpc_id,
        subnet_ids: f.subnet_id,
        instance_ids: f.instance_id,
    };
    let (list, total) = svc.network_interface_list(&call.scope, &q, page).await?;
    Reply::list(
        "networkInterfaces",
        list.iter()
            .map(|(n, e)| views::network_interface(n, e.as_ref()))
            .collect(),
        total,
    )
}
