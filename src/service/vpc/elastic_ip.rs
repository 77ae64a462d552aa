//! Elastic IPs: createElasticIps, describeElasticIp(s), deleteElasticIp, and associating
//! one with a network interface (vpc associate/disassociateElasticIp; vm's instance calls
//! go through the same two functions). Addresses come from a public block of the region,
//! each handed out once.

use super::VpcQuotaType;
use super::{check_name, elastic_ip_not_found, limits, missing, network_interface_not_found};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::service::catalog;
use crate::service::listing::Page;
use crate::service::{Scope, Service};
use crate::store::elastic_ip::{self, ElasticIpRow};
use crate::store::network_interface::{self, NetworkInterfaceRow};
use crate::store::{self, now_ms, vpc, Db};

/// The `elasticIpSpec` of createElasticIps (and createInstances' `elasticIp`).
#[derive(Debug, Clone, Default)]
pub struct ElasticIpSpecInput {
    pub bandwidth_mbps: Option<i64>,
    pub provider: Option<String>,
}

/// Lines Kiln offers (JD's standard BGP line).
const PROVIDERS: [&str; 1] = ["bgp"];

impl Service {
    pub async fn elastic_ips_create(
        &self,
        scope: &Scope,
        max_count: Option<i64>,
        spec: Option<ElasticIpSpecInput>,
        name: Option<String>,
    ) -> ApiResult<Vec<String>> {
        let count = max_count.ok_or_else(|| missing("maxCount"))?;
        if !(1..=100).contains(&count) {
            return Err(ApiError::OutOfRange("MaxCount out of range".into()));
        }
        let spec = spec.ok_or_else(|| missing("elasticIpSpec"))?;
        check_eip_spec(&spec)?;
        if let Some(n) = &name {
            check_name("elasticIpName", n)?;
        }
        let mut tx = self.store.write().await?;
        let mut out = Vec::new();
        for _ in 0..count {
            let row = self
                .record_elastic_ip(
                    &mut tx,
                    scope,
                    &spec,
                    name.clone().unwrap_or_default(),
                    false,
                )
                .await?;
            out.push(row.id);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn elastic_ip_fetch(&self, scope: &Scope, id: &str) -> ApiResult<ElasticIpRow> {
        let mut db = self.store.read().await?;
        elastic_ip::eip_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| elastic_ip_not_found(id))
    }

    pub async fn elastic_ip_list(
        &self,
        scope: &Scope,
        ids: &[String],
        addresses: &[String],
        page: Page,
    ) -> ApiResult<(Vec<ElasticIpRow>, i64)> {
        let mut db = self.store.read().await?;
        Ok(elastic_ip::eip_list(
            &mut db,
            &scope.pin,
            &scope.region,
            ids,
            addresses,
            (page.limit(), page.offset()),
        )
        .await?)
    }

    /// deleteElasticIp: an associated one is let go from its interface first (Packer
    /// deletes the elastic IP of its build instance before the instance).
    pub async fn elastic_ip_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let eip = elastic_ip::eip_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| elastic_ip_not_found(id))?;
        if eip.nic_id.is_some() {
            elastic_ip::eip_set_association(&mut tx, &eip, None).await?;
        }
        elastic_ip::eip_delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// associateElasticIp on a network interface: by id or address; onto the interface's
    /// primary address unless `private_ip` names another of its own.
    pub async fn elastic_ip_associate(
        &self,
        scope: &Scope,
        nic_id: &str,
        eip_id: Option<String>,
        eip_address: Option<String>,
        private_ip: Option<String>,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let nic = network_interface::nic_get(&mut tx, &scope.pin, &scope.region, nic_id)
            .await?
            .ok_or_else(|| network_interface_not_found(nic_id))?;
        let eip = self
            .named_elastic_ip(&mut tx, scope, eip_id, eip_address)
            .await?;
        if let Some(ip) = private_ip.filter(|ip| *ip != nic.private_ip) {
            return Err(ApiError::InvalidArgument(format!(
                "PrivateIpAddress '{ip}' is not an address of network interface '{nic_id}'"
            )));
        }
        self.associate_in(&mut tx, &eip, &nic).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn elastic_ip_disassociate(
        &self,
        scope: &Scope,
        nic_id: &str,
        eip_id: Option<String>,
        eip_address: Option<String>,
    ) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        network_interface::nic_get(&mut tx, &scope.pin, &scope.region, nic_id)
            .await?
            .ok_or_else(|| network_interface_not_found(nic_id))?;
        let eip = match (eip_id, eip_address) {
            (None, None) => elastic_ip::eips_of_nic(&mut tx, nic_id)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::FailedPrecondition(format!(
                        "Network interface '{nic_id}' has no elastic ip"
                    ))
                })?,
            (id, address) => self.named_elastic_ip(&mut tx, scope, id, address).await?,
        };
        if eip.nic_id.as_deref() != Some(nic_id) {
            return Err(ApiError::FailedPrecondition(format!(
                "ElasticIp '{}' is not associated with network interface '{nic_id}'",
                eip.id
            )));
        }
        elastic_ip::eip_set_association(&mut tx, &eip, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The elastic IP onto the interface, in the caller's transaction: one per interface,
    /// and an elastic IP on one interface at a time.
    pub(crate) async fn associate_in(
        &self,
        tx: &mut Db,
        eip: &ElasticIpRow,
        nic: &NetworkInterfaceRow,
    ) -> ApiResult<()> {
        if let Some(other) = &eip.nic_id {
            return Err(ApiError::FailedPrecondition(format!(
                "ElasticIp '{}' is already associated with network interface '{other}'",
                eip.id
            )));
        }
        if !elastic_ip::eips_of_nic(tx, &nic.id).await?.is_empty() {
            return Err(ApiError::FailedPrecondition(format!(
                "Network interface '{}' already has an elastic ip",
                nic.id
            )));
        }
        let instance = nic.instance_id.as_deref().unwrap_or("");
        elastic_ip::eip_set_association(tx, eip, Some((&nic.id, &nic.private_ip, instance)))
            .await?;
        Ok(())
    }

    /// A new elastic IP of the region, in the caller's transaction; `with_instance`: made
    /// by createInstances, released with the instance.
    pub(crate) async fn record_elastic_ip(
        &self,
        tx: &mut Db,
        scope: &Scope,
        spec: &ElasticIpSpecInput,
        name: String,
        with_instance: bool,
    ) -> ApiResult<ElasticIpRow> {
        let used = vpc::count_owned(tx, "elastic_ips", &scope.pin, &scope.region).await?;
        if used >= limits::ELASTIC_IPS {
            return Err(VpcQuotaType::ElasticIp.exceeded());
        }
        let n = store::counter_next(tx, &format!("eip:{}", scope.region)).await?;
        let row = ElasticIpRow {
            id: ids::elastic_ip_id(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            name,
            address: public_address(&scope.region, n)?,
            bandwidth_mbps: spec.bandwidth_mbps.unwrap_or(1),
            provider: spec.provider.clone().unwrap_or_else(|| "bgp".into()),
            nic_id: None,
            private_ip: String::new(),
            instance_id: None,
            with_instance,
            created_at: now_ms(),
            seq: self.store.next_seq(),
        };
        elastic_ip::eip_insert(tx, &row).await?;
        Ok(row)
    }

    /// The caller's elastic IP named by id or by address (one of them is required).
    pub(crate) async fn named_elastic_ip(
        &self,
        tx: &mut Db,
        scope: &Scope,
        id: Option<String>,
        address: Option<String>,
    ) -> ApiResult<ElasticIpRow> {
        match (id, address) {
            (Some(id), _) => elastic_ip::eip_get(tx, &scope.pin, &scope.region, &id)
                .await?
                .ok_or_else(|| elastic_ip_not_found(&id)),
            (None, Some(a)) => elastic_ip::eip_by_address(tx, &scope.pin, &scope.region, &a)
                .await?
                .ok_or_else(|| elastic_ip_not_found(&a)),
            (None, None) => Err(missing("elasticIpId")),
        }
    }
}

/// `bandwidthMbps` [1,200] and a known line.
pub(crate) fn check_eip_spec(spec: &ElasticIpSpecInput) -> ApiResult<()> {
    let bw = spec
        .bandwidth_mbps
        .ok_or_else(|| missing("elasticIpSpec.bandwidthMbps"))?;
    if !(1..=200).contains(&bw) {
        return Err(ApiError::OutOfRange("BandwidthMbps out of range".into()));
    }
    let provider = spec
        .provider
        .as_deref()
        .ok_or_else(|| missing("elasticIpSpec.provider"))?;
    if !PROVIDERS.contains(&provider) {
        return Err(ApiError::InvalidArgument(format!(
            "Invalid provider '{provider}'"
        )));
    }
    Ok(())
}

/// The `n`th (1-based) public address of the region: 16,256 per region, in a /18 of its
/// own (`114.67.0.0/16` split four ways, as the regions are).
fn public_address(region: &str, n: i64) -> ApiResult<String> {
    const PER_REGION: i64 = 64 * 254;
    if !(1..=PER_REGION).contains(&n) {
        return Err(ApiError::InsufficientCapacity(
            "No public address left in this region".into(),
        ));
    }
    let k = n - 1;
    let third = catalog::region_index(region) as i64 * 64 + k / 254;
    Ok(format!("114.67.{third}.{}", k % 254 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_are_distinct_per_region_and_number() {
        let mut seen = std::collections::HashSet::new();
        for region in catalog::REGIONS {
            for n in [1, 2, 254, 255, 64 * 254] {
                assert!(seen.insert(public_address(region, n).unwrap()));
            }
        }
        assert!(public_address("cn-north-1", 64 * 254 + 1).is_err());
    }
}
