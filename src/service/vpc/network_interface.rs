//! Network interfaces: describeNetworkInterface(s), and each instance's primary interface —
//! its subnet and security groups checked when createInstances is validated, its address
//! handed out when the instance is written (lowest never-used first; a freed one is found
//! again once the subnet has gone round).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    cidr, limits, network_interface_not_found, security_group_not_found, subnet_not_found,
};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::service::listing::Page;
use crate::service::{Scope, Service};
use crate::store::elastic_ip::{self, ElasticIpRow};
use crate::store::network_interface::{self, NetworkInterfaceRow, NicQuery};
use crate::store::security_group;
use crate::store::vpc::{self, SubnetRow};
use crate::store::{self, now_ms, Db};

/// createInstances' `primaryNetworkInterface.networkInterface`.
#[derive(Debug, Clone, Default)]
pub struct PrimaryNicInput {
    pub subnet_id: Option<String>,
    pub primary_ip: Option<String>,
    pub security_groups: Vec<String>,
}

/// Where a launch's instances go: a subnet named by the caller (checked), or the default
/// one (made, if need be, when the instances are written).
#[derive(Debug, Clone)]
pub struct InstanceNetwork {
    pub subnet: Option<SubnetRow>,
    pub primary_ip: Option<Ipv4Addr>,
    pub security_groups: Vec<String>,
}

/// An instance's primary interface as written.
#[derive(Debug, Clone)]
pub struct PrimaryNic {
    pub row: NetworkInterfaceRow,
}

impl PrimaryNic {
    /// The instance's `primaryNetworkInterface` (vm's InstanceNetworkInterfaceAttachment),
    /// kept on its row; the elastic IP is added when it is shown, as it changes.
    pub async fn attachment_json(&self, db: &mut Db) -> ApiResult<String> {
        let n = &self.row;
        let mut groups = Vec::new();
        for id in n.security_groups() {
            let name = security_group::security_group_get(db, &n.pin, &n.region, &id)
                .await?
                .map(|g| g.name)
                .unwrap_or_default();
            groups.push(serde_json::json!({"groupId": id, "groupName": name}));
        }
        let v = serde_json::json!({
            "deviceIndex": 1,
            "autoDelete": true,
            "networkInterface": {
                "networkInterfaceId": n.id,
                "macAddress": n.mac,
                "vpcId": n.vpc_id,
                "subnetId": n.subnet_id,
                "securityGroups": groups,
                "sanityCheck": 1,
                "primaryIp": {"privateIpAddress": n.private_ip},
                "secondaryIps": [],
                "ipv6Addresses": [],
            }
        });
        Ok(v.to_string())
    }
}

impl Service {
    /// An interface with the elastic IP on it, if any.
    pub async fn network_interface_fetch(
        &self,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<(NetworkInterfaceRow, Option<ElasticIpRow>)> {
        let mut db = self.store.read().await?;
        let nic = network_interface::nic_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| network_interface_not_found(id))?;
        let eip = elastic_ip::eips_of_nic(&mut db, id)
            .await?
            .into_iter()
            .next();
        Ok((nic, eip))
    }

    pub async fn network_interface_list(
        &self,
        scope: &Scope,
        q: &NicQuery,
        page: Page,
    ) -> ApiResult<(Vec<(NetworkInterfaceRow, Option<ElasticIpRow>)>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = network_interface::nic_list(
            &mut db,
            &scope.pin,
            &scope.region,
            q,
            (page.limit(), page.offset()),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for n in rows {
            let eip = elastic_ip::eips_of_nic(&mut db, &n.id)
                .await?
                .into_iter()
                .next();
            out.push((n, eip));
        }
        Ok((out, total))
    }

    /// createInstances' network, checked on a reader: the subnet and security groups are
    /// the caller's (404 as JD words it otherwise), the groups of the subnet's VPC, at most
    /// five; a fixed address is one the subnet hands out, for one instance only.
    pub(crate) async fn check_instance_network(
        &self,
        db: &mut Db,
        scope: &Scope,
        given: Option<PrimaryNicInput>,
        count: i64,
    ) -> ApiResult<InstanceNetwork> {
        let Some(given) = given else {
            return Ok(InstanceNetwork {
                subnet: None,
                primary_ip: None,
                security_groups: vec![],
            });
        };
        let subnet_id = given.subnet_id.ok_or_else(|| {
            ApiError::InvalidArgument(
                "Parameter PrimaryNetworkInterface.NetworkInterface.SubnetId missing".into(),
            )
        })?;
        let subnet = vpc::subnet_get(db, &scope.pin, &scope.region, &subnet_id)
            .await?
            .ok_or_else(|| subnet_not_found(&subnet_id))?;
        if given.security_groups.len() > limits::GROUPS_PER_INTERFACE {
            return Err(ApiError::OutOfRange("SecurityGroups out of range".into()));
        }
        for g in &given.security_groups {
            let found =
                security_group::security_group_get(db, &scope.pin, &scope.region, g).await?;
            if found.is_none_or(|f| f.vpc_id != subnet.vpc_id) {
                return Err(security_group_not_found(g));
            }
        }
        let primary_ip = match given.primary_ip {
            None => None,
            Some(_) if count > 1 => {
                return Err(ApiError::InvalidArgument(
                    "MaxCount must be 1 when primaryIpAddress is set".into(),
                ))
            }
            Some(ip) => {
                let net = subnet_net(&subnet)?;
                let addr = ip
                    .parse::<Ipv4Addr>()
                    .ok()
                    .filter(|a| cidr::is_usable(&net, *a))
                    .ok_or_else(|| {
                        ApiError::InvalidArgument(format!("Invalid primaryIpAddress '{ip}'"))
                    })?;
                Some(addr)
            }
        };
        Ok(InstanceNetwork {
            subnet: Some(subnet),
            primary_ip,
            security_groups: given.security_groups,
        })
    }

    /// The subnet the launch's instances go into (the default one if none was named),
    /// checked to have `count` addresses left; in the write transaction.
    pub(crate) async fn launch_subnet(
        &self,
        tx: &mut Db,
        scope: &Scope,
        network: &InstanceNetwork,
        count: i64,
    ) -> ApiResult<SubnetRow> {
        let subnet = match &network.subnet {
            Some(s) => s.clone(),
            None => self.default_network(tx, scope).await?.1,
        };
        let net = subnet_net(&subnet)?;
        let used = network_interface::count_in_subnet(tx, &subnet.id).await?;
        if used + count > cidr::usable_count(&net) as i64 {
            return Err(ApiError::FailedPrecondition(
                "Available Ip in segments not enough".into(),
            ));
        }
        if let Some(ip) = network.primary_ip {
            if network_interface::address_taken(tx, &subnet.id, &ip.to_string()).await? {
                return Err(ApiError::Conflict(format!(
                    "PrimaryIpAddress '{ip}' is in use"
                )));
            }
        }
        Ok(subnet)
    }

    /// The instance's primary interface, with an address of the subnet, in its VPC's
    /// default security group unless groups were named.
    pub(crate) async fn record_primary_nic(
        &self,
        tx: &mut Db,
        scope: &Scope,
        subnet: &SubnetRow,
        network: &InstanceNetwork,
        instance_id: &str,
    ) -> ApiResult<PrimaryNic> {
        let ip = match network.primary_ip {
            Some(ip) => ip,
            None => self.free_address(tx, subnet).await?,
        };
        let groups = if network.security_groups.is_empty() {
            security_group::security_group_default(tx, &subnet.vpc_id)
                .await?
                .map(|g| vec![g.id])
                .unwrap_or_default()
        } else {
            network.security_groups.clone()
        };
        let id = ids::network_interface_id();
        let row = NetworkInterfaceRow {
            mac: mac_of(&id),
            id,
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            vpc_id: subnet.vpc_id.clone(),
            subnet_id: subnet.id.clone(),
            instance_id: Some(instance_id.to_string()),
            role: "Primary".into(),
            private_ip: ip.to_string(),
            security_group_ids: serde_json::to_string(&groups).map_err(ApiError::internal)?,
            created_at: now_ms(),
            seq: self.store.next_seq(),
        };
        network_interface::nic_insert(tx, &row).await?;
        Ok(PrimaryNic { row })
    }

    /// The next address of the subnet: the subnet's counter gives the next never-used one
    /// (one indexed probe); once it has gone round, the lowest free one is searched for.
    async fn free_address(&self, tx: &mut Db, subnet: &SubnetRow) -> ApiResult<Ipv4Addr> {
        let net = subnet_net(subnet)?;
        let n = store::counter_next(tx, &format!("ip:{}", subnet.id)).await?;
        if let Some(ip) = u32::try_from(n - 1)
            .ok()
            .and_then(|k| cidr::nth_usable(&net, k))
        {
            if !network_interface::address_taken(tx, &subnet.id, &ip.to_string()).await? {
                return Ok(ip);
            }
        }
        let taken: std::collections::HashSet<String> =
            network_interface::addresses_in_subnet(tx, &subnet.id)
                .await?
                .into_iter()
                .collect();
        (0..cidr::usable_count(&net))
            .filter_map(|k| cidr::nth_usable(&net, k))
            .find(|ip| !taken.contains(&ip.to_string()))
            .ok_or_else(|| {
                ApiError::FailedPrecondition("Available Ip in segments not enough".into())
            })
    }
}

fn subnet_net(subnet: &SubnetRow) -> ApiResult<Ipv4Net> {
    cidr::parse_private(&subnet.address_prefix).ok_or_else(|| {
        ApiError::internal(format!(
            "subnet {} has an unreadable range '{}'",
            subnet.id, subnet.address_prefix
        ))
    })
}

/// A locally administered MAC address derived from the interface id (`fa:16:3e:…`, as
/// OpenStack's ports have).
fn mac_of(id: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(id.as_bytes());
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", h[0], h[1], h[2])
}
