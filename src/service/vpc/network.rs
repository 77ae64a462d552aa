//! VPCs and subnets: createVpc / describeVpc(s) / modifyVpc / deleteVpc, createSubnet /
//! describeSubnet(s) / modifySubnet / deleteSubnet, the default network, and describeQuota.

use super::cidr;
use super::{
    check_description, check_name, limits, missing, subnet_not_found, vpc_not_found, VpcQuota,
    VpcQuotaType,
};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::service::listing::Page;
use crate::service::{Scope, Service};
use crate::store::security_group::{self, SecurityGroupRow};
use crate::store::vpc::{self, SubnetQuery, SubnetRow, VpcRow};
use crate::store::{network_interface, now_ms, Db};

/// A VPC with its subnets (describeVpc lists them).
#[derive(Debug, Clone)]
pub struct VpcDetail {
    pub vpc: VpcRow,
    pub subnets: Vec<SubnetRow>,
}

#[derive(Debug, Clone, Default)]
pub struct SubnetCreateInput {
    pub vpc_id: Option<String>,
    pub subnet_name: Option<String>,
    pub address_prefix: Option<String>,
    pub description: Option<String>,
}

/// The network Kiln makes for an account in a region that names none.
const DEFAULT_VPC: (&str, &str) = ("default", "10.0.0.0/16");
const DEFAULT_SUBNET: (&str, &str) = ("default", "10.0.0.0/20");

impl Service {
    pub async fn vpc_create(
        &self,
        scope: &Scope,
        name: Option<String>,
        address_prefix: Option<String>,
        description: Option<String>,
    ) -> ApiResult<String> {
        let name = name.ok_or_else(|| missing("vpcName"))?;
        check_name("vpcName", &name)?;
        check_description(description.as_deref())?;
        let prefix = address_prefix.unwrap_or_default();
        if !prefix.is_empty() && cidr::parse_private(&prefix).is_none() {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid addressPrefix '{prefix}'"
            )));
        }
        let mut tx = self.store.write().await?;
        let used = vpc::count_owned(&mut tx, "vpcs", &scope.pin, &scope.region).await?;
        if used >= limits::VPCS {
            return Err(VpcQuotaType::Vpc.exceeded());
        }
        let row = self.new_vpc(scope, name, prefix, description.unwrap_or_default(), false);
        self.record_vpc(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row.id)
    }

    pub async fn vpc_fetch(&self, scope: &Scope, id: &str) -> ApiResult<VpcDetail> {
        let mut db = self.store.read().await?;
        let vpc = vpc::vpc_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| vpc_not_found(id))?;
        let subnets = vpc::subnets_of_vpc(&mut db, id).await?;
        Ok(VpcDetail { vpc, subnets })
    }

    pub async fn vpc_list(
        &self,
        scope: &Scope,
        ids: &[String],
        page: Page,
    ) -> ApiResult<(Vec<VpcDetail>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = vpc::vpc_list(
            &mut db,
            &scope.pin,
            &scope.region,
            ids,
            (page.limit(), page.offset()),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for v in rows {
            let subnets = vpc::subnets_of_vpc(&mut db, &v.id).await?;
            out.push(VpcDetail { vpc: v, subnets });
        }
        Ok((out, total))
    }

    /// deleteVpc: only an empty VPC (no subnets; no security groups but its default one,
    /// which goes with it).
    pub async fn vpc_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        vpc::vpc_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| vpc_not_found(id))?;
        if !vpc::subnets_of_vpc(&mut tx, id).await?.is_empty() {
            return Err(ApiError::FailedPrecondition(format!(
                "Vpc '{id}' has subnets, delete them first"
            )));
        }
        let default = security_group::security_group_default(&mut tx, id).await?;
        let groups = security_group::security_groups_of_vpc(&mut tx, id).await?;
        if groups
            .iter()
            .any(|g| Some(g) != default.as_ref().map(|d| &d.id))
        {
            return Err(ApiError::FailedPrecondition(format!(
                "Vpc '{id}' has security groups, delete them first"
            )));
        }
        for g in &groups {
            security_group::security_group_delete(&mut tx, g).await?;
        }
        vpc::vpc_delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn subnet_create(
        &self,
        scope: &Scope,
        input: SubnetCreateInput,
    ) -> ApiResult<String> {
        let vpc_id = input.vpc_id.ok_or_else(|| missing("vpcId"))?;
        let name = input.subnet_name.ok_or_else(|| missing("subnetName"))?;
        check_name("subnetName", &name)?;
        let prefix = input
            .address_prefix
            .ok_or_else(|| missing("addressPrefix"))?;
        let net = cidr::parse_private(&prefix).ok_or_else(|| {
            ApiError::InvalidArgument(format!("Invalid addressPrefix '{prefix}'"))
        })?;
        check_description(input.description.as_deref())?;
        let mut tx = self.store.write().await?;
        let vpc = vpc::vpc_get(&mut tx, &scope.pin, &scope.region, &vpc_id)
            .await?
            .ok_or_else(|| vpc_not_found(&vpc_id))?;
        if let Some(outer) = cidr::parse_private(&vpc.address_prefix) {
            if !outer.contains(&net) {
                return Err(ApiError::InvalidArgument(format!(
                    "AddressPrefix '{prefix}' not in vpc addressPrefix '{}'",
                    vpc.address_prefix
                )));
            }
        }
        let siblings = vpc::subnets_of_vpc(&mut tx, &vpc_id).await?;
        if siblings.len() as i64 >= limits::SUBNETS_PER_VPC {
            return Err(VpcQuotaType::Subnet.exceeded());
        }
        if let Some(other) = siblings.iter().find(|s| {
            cidr::parse_private(&s.address_prefix).is_some_and(|o| cidr::overlaps(&o, &net))
        }) {
            return Err(ApiError::Conflict(format!(
                "AddressPrefix '{prefix}' overlaps with subnet '{}'",
                other.id
            )));
        }
        let row = self.new_subnet(scope, &vpc_id, name, prefix, input.description, false);
        vpc::subnet_insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row.id)
    }

    pub async fn subnet_fetch(&self, scope: &Scope, id: &str) -> ApiResult<(SubnetRow, i64)> {
        let mut db = self.store.read().await?;
        let s = vpc::subnet_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| subnet_not_found(id))?;
        let used = network_interface::count_in_subnet(&mut db, id).await?;
        Ok((s, used))
    }

    /// A page of subnets, each with how many of its addresses are handed out.
    pub async fn subnet_list(
        &self,
        scope: &Scope,
        q: &SubnetQuery,
        page: Page,
    ) -> ApiResult<(Vec<(SubnetRow, i64)>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = vpc::subnet_list(
            &mut db,
            &scope.pin,
            &scope.region,
            q,
            (page.limit(), page.offset()),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for s in rows {
            let used = network_interface::count_in_subnet(&mut db, &s.id).await?;
            out.push((s, used));
        }
        Ok((out, total))
    }

    /// deleteSubnet: only a subnet no network interface (so no instance) uses.
    pub async fn subnet_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        vpc::subnet_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| subnet_not_found(id))?;
        if network_interface::count_in_subnet(&mut tx, id).await? > 0 {
            return Err(ApiError::FailedPrecondition(format!(
                "Subnet '{id}' has network interfaces, delete them first"
            )));
        }
        vpc::subnet_delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// vpc describeQuota of one resource type (subnets and security groups per VPC).
    pub async fn vpc_quota(
        &self,
        scope: &Scope,
        kind: Option<String>,
        parent: Option<String>,
    ) -> ApiResult<VpcQuota> {
        let raw = kind.ok_or_else(|| missing("type"))?;
        let kind = VpcQuotaType::parse(&raw)
            .ok_or_else(|| ApiError::InvalidArgument(format!("Invalid type '{raw}'")))?;
        let mut db = self.store.read().await?;
        let (pin, region) = (&scope.pin, &scope.region);
        let parent = parent.unwrap_or_default();
        let count = match kind {
            VpcQuotaType::Vpc => vpc::count_owned(&mut db, "vpcs", pin, region).await?,
            VpcQuotaType::ElasticIp => {
                vpc::count_owned(&mut db, "elastic_ips", pin, region).await?
            }
            VpcQuotaType::NetworkInterface => {
                vpc::count_owned(&mut db, "network_interfaces", pin, region).await?
            }
            VpcQuotaType::Subnet | VpcQuotaType::SecurityGroup => {
                if parent.is_empty() {
                    return Err(missing("parentResourceId"));
                }
                vpc::vpc_get(&mut db, pin, region, &parent)
                    .await?
                    .ok_or_else(|| vpc_not_found(&parent))?;
                if kind == VpcQuotaType::Subnet {
                    vpc::subnets_of_vpc(&mut db, &parent).await?.len() as i64
                } else {
                    security_group::security_groups_of_vpc(&mut db, &parent)
                        .await?
                        .len() as i64
                }
            }
        };
        Ok(VpcQuota {
            kind,
            parent_resource_id: if kind.per_vpc() {
                parent
            } else {
                String::new()
            },
            max_limit: kind.limit(),
            count,
        })
    }

    /// The account's default VPC and subnet in the region, made (with the VPC's default
    /// security group) the first time they are needed, in the caller's transaction.
    pub(crate) async fn default_network(
        &self,
        tx: &mut Db,
        scope: &Scope,
    ) -> ApiResult<(VpcRow, SubnetRow)> {
        let vpc = match vpc::vpc_default(tx, &scope.pin, &scope.region).await? {
            Some(v) => v,
            None => {
                let (name, prefix) = DEFAULT_VPC;
                let v = self.new_vpc(scope, name.into(), prefix.into(), String::new(), true);
                self.record_vpc(tx, &v).await?;
                v
            }
        };
        let subnets = vpc::subnets_of_vpc(tx, &vpc.id).await?;
        let subnet = match subnets.into_iter().find(|s| s.is_default) {
            Some(s) => s,
            None => {
                let (name, prefix) = DEFAULT_SUBNET;
                let s = self.new_subnet(scope, &vpc.id, name.into(), prefix.into(), None, true);
                vpc::subnet_insert(tx, &s).await?;
                s
            }
        };
        Ok((vpc, subnet))
    }

    /// A VPC with its default security group.
    async fn record_vpc(&self, tx: &mut Db, v: &VpcRow) -> ApiResult<()> {
        vpc::vpc_insert(tx, v).await?;
        let group = SecurityGroupRow {
            id: ids::security_group_id(),
            pin: v.pin.clone(),
            region: v.region.clone(),
            vpc_id: v.id.clone(),
            name: "default".into(),
            description: "default security group".into(),
            is_default: true,
            created_at: v.created_at,
            seq: self.store.next_seq(),
        };
        security_group::security_group_insert(tx, &group).await?;
        Ok(())
    }

    fn new_vpc(
        &self,
        scope: &Scope,
        name: String,
        address_prefix: String,
        description: String,
        is_default: bool,
    ) -> VpcRow {
        VpcRow {
            id: ids::vpc_id(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            name,
            description,
            address_prefix,
            is_default,
            created_at: now_ms(),
            seq: self.store.next_seq(),
        }
    }

    fn new_subnet(
        &self,
        scope: &Scope,
        vpc_id: &str,
        name: String,
        address_prefix: String,
        description: Option<String>,
        is_default: bool,
    ) -> SubnetRow {
        SubnetRow {
            id: ids::subnet_id(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            vpc_id: vpc_id.to_string(),
            name,
            description: description.unwrap_or_default(),
            address_prefix,
            is_default,
            created_at: now_ms(),
            seq: self.store.next_seq(),
        }
    }
}
