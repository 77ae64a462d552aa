//! vpc service: network security groups and their rules.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Paging;
use crate::error::ApiResult;
use crate::http::params::Filters;
use crate::http::views::vpc::{self as views, SecurityGroupView};
use crate::http::{Call, Reply};
use crate::service::vpc::{Renamable, RuleSpecInput};
use crate::service::Service;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateNetworkSecurityGroup {
    #[schemars(required, example = &"vpc-sample")]
    pub vpc_id: Option<String>,
    /// 1–32 of Chinese, letters, digits, `_`, `-`.
    #[schemars(required, example = &"web")]
    pub network_security_group_name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateNetworkSecurityGroupResult {
    pub network_security_group_id: String,
}

pub async fn create_security_group(svc: &Service, call: Call) -> ApiResult<Reply> {
    let r: CreateNetworkSecurityGroup = call.params.decode()?;
    let network_security_group_id = svc
        .security_group_create(
            &call.scope,
            r.vpc_id,
            r.network_security_group_name,
            r.description,
        )
        .await?;
    Reply::serialize(&CreateNetworkSecurityGroupResult {
        network_security_group_id,
    })
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescribeNetworkSecurityGroupResult<'a> {
    pub network_security_group: SecurityGroupView<'a>,
}

pub async fn describe_security_group(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let (g, rules) = svc.security_group_fetch(&call.scope, id).await?;
    Reply::serialize(&DescribeNetworkSecurityGroupResult {
        network_security_group: views::security_group(&g, &rules),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct SecurityGroupFilters {
    pub network_security_group_ids: Vec<String>,
    pub vpc_id: Vec<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DescribeNetworkSecurityGroups {
    pub filters: Option<Filters<SecurityGroupFilters>>,
}

pub async fn describe_security_groups(svc: &Service, call: Call) -> ApiResult<Reply> {
    let page = call.params.decode::<Paging>()?.page()?;
    let r: DescribeNetworkSecurityGroups = call.params.decode()?;
    let f = r.filters.map(|f| f.0).unwrap_or_default();
    let (list, total) = svc
        .security_group_list(&call.scope, &f.network_security_group_ids, &f.vpc_id, page)
        .await?;
    Reply::list(
        "networkSecurityGroups",
        list.iter()
            .map(|(g, rules)| views::security_group(g, rules))
            .collect(),
        total,
    )
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModifyNetworkSecurityGroup {
    pub network_security_group_name: Option<String>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

pub async fn modify_security_group(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: ModifyNetworkSecurityGroup = call.params.decode()?;
    let what = Renamable::SecurityGroup;
    svc.vpc_resource_modify(
        &call.scope,
        what,
        id,
        r.network_security_group_name,
        r.description,
    )
    .await?;
    Ok(Reply::Empty)
}

pub async fn delete_security_group(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    svc.security_group_delete(&call.scope, id).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// 300 all, 6 TCP, 17 UDP, 1 ICMP.
    #[schemars(required, example = 6)]
    pub protocol: Option<i64>,
    /// 0 in, 1 out.
    #[schemars(required, example = 0)]
    pub direction: Option<i64>,
    /// An IPv4 address or range.
    #[schemars(required, example = &"0.0.0.0/0")]
    pub address_prefix: Option<String>,
    /// TCP/UDP: [1,65535], default 1.
    pub from_port: Option<i64>,
    /// TCP/UDP: [fromPort,65535], default 65535.
    pub to_port: Option<i64>,
    #[schemars(length(max = 256))]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddNetworkSecurityGroupRules {
    #[serde(default)]
    #[schemars(required)]
    pub network_security_group_rule_specs: Vec<RuleSpec>,
}

pub async fn add_rules(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: AddNetworkSecurityGroupRules = call.params.decode()?;
    let specs = r
        .network_security_group_rule_specs
        .into_iter()
        .map(|s| RuleSpecInput {
            protocol: s.protocol,
            direction: s.direction,
            address_prefix: s.address_prefix,
            from_port: s.from_port,
            to_port: s.to_port,
            description: s.description,
        })
        .collect();
    svc.security_group_rules_add(&call.scope, id, specs).await?;
    Ok(Reply::Empty)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoveNetworkSecurityGroupRules {
    #[serde(default)]
    #[schemars(required)]
    pub rule_ids: Vec<String>,
}

pub async fn remove_rules(svc: &Service, call: Call, id: &str) -> ApiResult<Reply> {
    let r: RemoveNetworkSecurityGroupRules = call.params.decode()?;
    svc.security_group_rules_remove(&call.scope, id, r.rule_ids)
        .await?;
    Ok(Reply::Empty)
}
