//! The vpc service, on the same listener as vm and disk: VPCs and subnets (`network`),
//! network security groups (`security_group`), elastic IPs (`elastic_ip`) and network
//! interfaces (`network_interface`), with the rules JD documents. Each instance has a
//! primary network interface with a real address of its subnet; an account that names no
//! subnet gets its region's default VPC and subnet, made the first time one is needed.

pub mod cidr;
mod elastic_ip;
mod network;
mod network_interface;
mod security_group;

pub(crate) use elastic_ip::check_eip_spec;
pub use elastic_ip::ElasticIpSpecInput;
pub use network::{SubnetCreateInput, VpcDetail};
pub use network_interface::{InstanceNetwork, PrimaryNic, PrimaryNicInput};
pub use security_group::RuleSpecInput;

use crate::error::ApiError;

/// Per account and region (VPCs, elastic IPs) or per VPC (subnets, security groups):
/// JD's documented defaults.
pub mod limits {
    pub const VPCS: i64 = 10;
    pub const SUBNETS_PER_VPC: i64 = 100;
    pub const SECURITY_GROUPS_PER_VPC: i64 = 50;
    pub const ELASTIC_IPS: i64 = 20;
    /// Rules of one security group.
    pub const RULES_PER_GROUP: i64 = 100;
    /// Security groups of one network interface.
    pub const GROUPS_PER_INTERFACE: usize = 5;
    pub const NETWORK_INTERFACES: i64 = 200;
}

pub(crate) fn vpc_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Vpc '{id}' not found"))
}
pub(crate) fn subnet_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Subnet '{id}' not found"))
}
pub(crate) fn security_group_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("SecurityGroups '{id}' not found"))
}
pub(crate) fn elastic_ip_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("ElasticIp '{id}' not found"))
}
pub(crate) fn network_interface_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("NetworkInterface '{id}' not found"))
}

/// Names of VPCs, subnets, security groups and elastic IPs: the rule of disk names
/// (Chinese, letters, digits, `_`, `-`; 1–32 characters).
fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if super::spec::disk_name_ok(name) {
        Ok(())
    } else {
        Err(ApiError::InvalidArgument(format!(
            "Invalid {what} '{name}'"
        )))
    }
}

fn check_description(d: Option<&str>) -> Result<(), ApiError> {
    match d {
        Some(d) if !super::spec::description_ok(d) => Err(ApiError::InvalidArgument(
            "Invalid description: at most 256 characters".into(),
        )),
        _ => Ok(()),
    }
}

/// The vpc resources modify* renames (modifyVpc, modifySubnet, modifyNetworkSecurityGroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamable {
    Vpc,
    Subnet,
    SecurityGroup,
}

impl Renamable {
    /// The request parameter that carries the name.
    fn name_param(self) -> &'static str {
        match self {
            Renamable::Vpc => "vpcName",
            Renamable::Subnet => "subnetName",
            Renamable::SecurityGroup => "networkSecurityGroupName",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Renamable::Vpc => "vpcs",
            Renamable::Subnet => "subnets",
            Renamable::SecurityGroup => "security_groups",
        }
    }

    fn not_found(self, id: &str) -> ApiError {
        match self {
            Renamable::Vpc => vpc_not_found(id),
            Renamable::Subnet => subnet_not_found(id),
            Renamable::SecurityGroup => security_group_not_found(id),
        }
    }
}

impl super::Service {
    /// modifyVpc / modifySubnet / modifyNetworkSecurityGroup: a new name and/or description.
    pub async fn vpc_resource_modify(
        &self,
        scope: &super::Scope,
        what: Renamable,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(), ApiError> {
        if let Some(n) = &name {
            check_name(what.name_param(), n)?;
        }
        check_description(description.as_deref())?;
        let mut tx = self.store.write().await?;
        let key = (scope.pin.as_str(), scope.region.as_str(), id);
        if !crate::store::vpc::owned_exists(&mut tx, what.table(), key).await? {
            return Err(what.not_found(id));
        }
        crate::store::set_name_and_description(
            &mut tx,
            what.table(),
            id,
            name.as_deref(),
            description.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn missing(what: &str) -> ApiError {
    ApiError::InvalidArgument(format!("Parameter {what} missing"))
}

/// vpc describeQuota: the resource types it answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcQuotaType {
    Vpc,
    Subnet,
    SecurityGroup,
    ElasticIp,
    NetworkInterface,
}

impl VpcQuotaType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "vpc" => VpcQuotaType::Vpc,
            "subnet" => VpcQuotaType::Subnet,
            "security_group" => VpcQuotaType::SecurityGroup,
            "elastic_ip" => VpcQuotaType::ElasticIp,
            "network_interface" => VpcQuotaType::NetworkInterface,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VpcQuotaType::Vpc => "vpc",
            VpcQuotaType::Subnet => "subnet",
            VpcQuotaType::SecurityGroup => "security_group",
            VpcQuotaType::ElasticIp => "elastic_ip",
            VpcQuotaType::NetworkInterface => "network_interface",
        }
    }

    /// Subnets and security groups are counted per VPC (`parentResourceId`).
    pub fn per_vpc(self) -> bool {
        matches!(self, VpcQuotaType::Subnet | VpcQuotaType::SecurityGroup)
    }

    pub fn limit(self) -> i64 {
        match self {
            VpcQuotaType::Vpc => limits::VPCS,
            VpcQuotaType::Subnet => limits::SUBNETS_PER_VPC,
            VpcQuotaType::SecurityGroup => limits::SECURITY_GROUPS_PER_VPC,
            VpcQuotaType::ElasticIp => limits::ELASTIC_IPS,
            VpcQuotaType::NetworkInterface => limits::NETWORK_INTERFACES,
        }
    }

    fn exceeded(self) -> ApiError {
        let what = match self {
            VpcQuotaType::Vpc => "Vpc",
            VpcQuotaType::Subnet => "Subnet",
            VpcQuotaType::SecurityGroup => "SecurityGroup",
            VpcQuotaType::ElasticIp => "ElasticIp",
            VpcQuotaType::NetworkInterface => "NetworkInterface",
        };
        ApiError::QuotaExceeded(format!("{what} quota limit exceeded"))
    }
}

/// One vpc describeQuota answer.
#[derive(Debug, Clone)]
pub struct VpcQuota {
    pub kind: VpcQuotaType,
    pub parent_resource_id: String,
    pub max_limit: i64,
    pub count: i64,
}

/// The records the vpc service answers with (the http layer renders them).
pub use crate::store::elastic_ip::ElasticIpRow;
pub use crate::store::network_interface::{NetworkInterfaceRow, NicQuery};
pub use crate::store::security_group::{SecurityGroupRow, SecurityGroupRuleRow};
pub use crate::store::vpc::{SubnetQuery, SubnetRow, VpcRow};
