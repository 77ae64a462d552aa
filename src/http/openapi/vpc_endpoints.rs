//! The vpc service's endpoints in OpenAPI (see `endpoints` for the vm and disk ones). JD's
//! vpc collections end with a slash (`/vpcs/`), and so do the paths here.

use super::endpoints::{inline, schema, Answer, Doc};
use crate::http::endpoint::{Endpoint, ServiceName::Vpc};
use crate::http::handlers::{elastic_ip, security_group, vpc, Paging};
use crate::http::views::vpc as views;

pub(super) const SAMPLE_VPC: &str = "vpc-sample";
pub(super) const SAMPLE_SUBNET: &str = "subnet-sample";
pub(super) const SAMPLE_GROUP: &str = "sg-sample";
pub(super) const SAMPLE_ELASTIC_IP: &str = "fip-sample";
pub(super) const SAMPLE_INTERFACE: &str = "port-sample";

/// One value of every vpc `Endpoint` variant.
pub fn representatives() -> Vec<Endpoint> {
    use Endpoint::*;
    let v = || SAMPLE_VPC.to_string();
    let s = || SAMPLE_SUBNET.to_string();
    let g = || SAMPLE_GROUP.to_string();
    let e = || SAMPLE_ELASTIC_IP.to_string();
    let n = || SAMPLE_INTERFACE.to_string();
    vec![
        CreateVpc,
        DescribeVpcs,
        DescribeVpc { vpc_id: v() },
        ModifyVpc { vpc_id: v() },
        DeleteVpc { vpc_id: v() },
        CreateSubnet,
        DescribeSubnets,
        DescribeSubnet { subnet_id: s() },
        ModifySubnet { subnet_id: s() },
        DeleteSubnet { subnet_id: s() },
        CreateNetworkSecurityGroup,
        DescribeNetworkSecurityGroups,
        DescribeNetworkSecurityGroup { group_id: g() },
        ModifyNetworkSecurityGroup { group_id: g() },
        DeleteNetworkSecurityGroup { group_id: g() },
        AddNetworkSecurityGroupRules { group_id: g() },
        RemoveNetworkSecurityGroupRules { group_id: g() },
        CreateElasticIps,
        DescribeElasticIps,
        DescribeElasticIp { elastic_ip_id: e() },
        DeleteElasticIp { elastic_ip_id: e() },
        DescribeNetworkInterfaces,
        DescribeNetworkInterface {
            network_interface_id: n(),
        },
        AssociateElasticIp {
            network_interface_id: n(),
        },
        DisassociateElasticIp {
            network_interface_id: n(),
        },
        DescribeVpcQuota,
    ]
}

/// The documentation of one vpc endpoint (`endpoints::doc` sends each vpc variant here).
pub fn doc(e: &Endpoint) -> Doc {
    use Endpoint::*;
    const VPCS: &str = "/v1/regions/{regionId}/vpcs/";
    const VPC: &str = "/v1/regions/{regionId}/vpcs/{vpcId}";
    const SUBNETS: &str = "/v1/regions/{regionId}/subnets/";
    const SUBNET: &str = "/v1/regions/{regionId}/subnets/{subnetId}";
    const GROUPS: &str = "/v1/regions/{regionId}/networkSecurityGroups/";
    const GROUP: &str = "/v1/regions/{regionId}/networkSecurityGroups/{networkSecurityGroupId}";
    const EIPS: &str = "/v1/regions/{regionId}/elasticIps/";
    const EIP: &str = "/v1/regions/{regionId}/elasticIps/{elasticIpId}";
    const NICS: &str = "/v1/regions/{regionId}/networkInterfaces/";
    const NIC: &str = "/v1/regions/{regionId}/networkInterfaces/{networkInterfaceId}";
    let d = |method, path, summary| Doc {
        method,
        path,
        operation_id: e.action(),
        service: Vpc,
        summary,
        description: "",
        query: vec![],
        body: None,
        result: Answer::Nothing,
        creates: None,
    };
    match e {
        CreateVpc => Doc {
            description: "Every VPC gets a default security group.",
            body: Some((schema::<vpc::CreateVpc>, true)),
            result: Answer::One(schema::<vpc::CreateVpcResult>),
            creates: Some(("vpcId", "/result/vpcId")),
            ..d("POST", VPCS, "Create a VPC")
        },
        DescribeVpcs => Doc {
            query: vec![inline::<Paging>, inline::<vpc::DescribeVpcs>],
            result: Answer::List("vpcs", schema::<views::VpcView>),
            ..d("GET", VPCS, "List VPCs")
        },
        DescribeVpc { .. } => Doc {
            result: Answer::One(schema::<vpc::DescribeVpcResult>),
            ..d("GET", VPC, "Describe a VPC")
        },
        ModifyVpc { .. } => Doc {
            body: Some((schema::<vpc::ModifyVpc>, true)),
            ..d("PATCH", VPC, "Rename a VPC")
        },
        DeleteVpc { .. } => Doc {
            description: "Only a VPC without subnets or security groups but its default one.",
            ..d("DELETE", VPC, "Delete a VPC")
        },
        CreateSubnet => Doc {
            description: "The range lies inside the VPC's and overlaps no other subnet of it.",
            body: Some((schema::<vpc::CreateSubnet>, true)),
            result: Answer::One(schema::<vpc::CreateSubnetResult>),
            creates: Some(("subnetId", "/result/subnetId")),
            ..d("POST", SUBNETS, "Create a subnet")
        },
        DescribeSubnets => Doc {
            query: vec![inline::<Paging>, inline::<vpc::DescribeSubnets>],
            result: Answer::List("subnets", schema::<views::SubnetView>),
            ..d("GET", SUBNETS, "List subnets")
        },
        DescribeSubnet { .. } => Doc {
            result: Answer::One(schema::<vpc::DescribeSubnetResult>),
            ..d("GET", SUBNET, "Describe a subnet")
        },
        ModifySubnet { .. } => Doc {
            body: Some((schema::<vpc::ModifySubnet>, true)),
            ..d("PATCH", SUBNET, "Rename a subnet")
        },
        DeleteSubnet { .. } => Doc {
            description: "Only a subnet no network interface uses.",
            ..d("DELETE", SUBNET, "Delete a subnet")
        },
        CreateNetworkSecurityGroup => Doc {
            body: Some((schema::<security_group::CreateNetworkSecurityGroup>, true)),
            result: Answer::One(schema::<security_group::CreateNetworkSecurityGroupResult>),
            creates: Some(("networkSecurityGroupId", "/result/networkSecurityGroupId")),
            ..d("POST", GROUPS, "Create a security group")
        },
        DescribeNetworkSecurityGroups => Doc {
            query: vec![
                inline::<Paging>,
                inline::<security_group::DescribeNetworkSecurityGroups>,
            ],
            result: Answer::List(
                "networkSecurityGroups",
                schema::<views::SecurityGroupView>,
            ),
            ..d("GET", GROUPS, "List security groups")
        },
        DescribeNetworkSecurityGroup { .. } => Doc {
            result: Answer::One(schema::<security_group::DescribeNetworkSecurityGroupResult>),
            ..d("GET", GROUP, "Describe a security group")
        },
        ModifyNetworkSecurityGroup { .. } => Doc {
            body: Some((schema::<security_group::ModifyNetworkSecurityGroup>, true)),
            ..d("PATCH", GROUP, "Rename a security group")
        },
        DeleteNetworkSecurityGroup { .. } => Doc {
            description: "Not a VPC's default group; not one a network interface is in.",
            ..d("DELETE", GROUP, "Delete a security group")
        },
        AddNetworkSecurityGroupRules { .. } => Doc {
            body: Some((schema::<security_group::AddNetworkSecurityGroupRules>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/networkSecurityGroups/{networkSecurityGroupId}:addNetworkSecurityGroupRules",
                "Add security group rules",
            )
        },
        RemoveNetworkSecurityGroupRules { .. } => Doc {
            body: Some((schema::<security_group::RemoveNetworkSecurityGroupRules>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/networkSecurityGroups/{networkSecurityGroupId}:removeNetworkSecurityGroupRules",
                "Remove security group rules",
            )
        },
        CreateElasticIps => Doc {
            body: Some((schema::<elastic_ip::CreateElasticIps>, true)),
            result: Answer::One(schema::<elastic_ip::CreateElasticIpsResult>),
            creates: Some(("elasticIpId", "/result/elasticIpIds/0")),
            ..d("POST", EIPS, "Create elastic IPs")
        },
        DescribeElasticIps => Doc {
            query: vec![inline::<Paging>, inline::<elastic_ip::DescribeElasticIps>],
            result: Answer::List("elasticIps", schema::<views::ElasticIpView>),
            ..d("GET", EIPS, "List elastic IPs")
        },
        DescribeElasticIp { .. } => Doc {
            result: Answer::One(schema::<elastic_ip::DescribeElasticIpResult>),
            ..d("GET", EIP, "Describe an elastic IP")
        },
        DeleteElasticIp { .. } => Doc {
            description: "An associated elastic IP is let go from its interface first.",
            ..d("DELETE", EIP, "Delete an elastic IP")
        },
        DescribeNetworkInterfaces => Doc {
            query: vec![
                inline::<Paging>,
                inline::<elastic_ip::DescribeNetworkInterfaces>,
            ],
            result: Answer::List("networkInterfaces", schema::<views::NetworkInterfaceView>),
            ..d("GET", NICS, "List network interfaces")
        },
        DescribeNetworkInterface { .. } => Doc {
            result: Answer::One(schema::<elastic_ip::DescribeNetworkInterfaceResult>),
            ..d("GET", NIC, "Describe a network interface")
        },
        AssociateElasticIp { .. } => Doc {
            description: "One elastic IP per interface; one interface per elastic IP.",
            body: Some((schema::<elastic_ip::AssociateElasticIp>, true)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/networkInterfaces/{networkInterfaceId}:associateElasticIp",
                "Associate an elastic IP",
            )
        },
        DisassociateElasticIp { .. } => Doc {
            body: Some((schema::<elastic_ip::DisassociateElasticIp>, false)),
            ..d(
                "POST",
                "/v1/regions/{regionId}/networkInterfaces/{networkInterfaceId}:disassociateElasticIp",
                "Disassociate an elastic IP",
            )
        },
        DescribeVpcQuota => Doc {
            description: "vpc describeQuota: chosen when the signature's credential scope \
                 names `vpc`, or (unsigned) by the trailing slash.",
            query: vec![inline::<vpc::DescribeVpcQuota>],
            result: Answer::One(schema::<vpc::DescribeVpcQuotaResult>),
            ..d("GET", "/v1/regions/{regionId}/quotas/", "vpc quota")
        },
        other => unreachable!("{} is not a vpc endpoint", other.action()),
    }
}
