//! Network security groups: createNetworkSecurityGroup, describeNetworkSecurityGroup(s),
//! modifyNetworkSecurityGroup, deleteNetworkSecurityGroup, add/removeNetworkSecurityGroupRules.

use super::{
    check_description, check_name, cidr, limits, missing, security_group_not_found, vpc_not_found,
    VpcQuotaType,
};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::service::listing::Page;
use crate::service::{Scope, Service};
use crate::store::security_group::{self, SecurityGroupRow, SecurityGroupRuleRow};
use crate::store::{network_interface, now_ms, vpc};

/// One rule of addNetworkSecurityGroupRules.
#[derive(Debug, Clone, Default)]
pub struct RuleSpecInput {
    pub protocol: Option<i64>,
    pub direction: Option<i64>,
    pub address_prefix: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub description: Option<String>,
}

/// Protocols: all, TCP, UDP, ICMP.
const PROTOCOLS: [i64; 4] = [300, 6, 17, 1];

impl Service {
    pub async fn security_group_create(
        &self,
        scope: &Scope,
        vpc_id: Option<String>,
        name: Option<String>,
        description: Option<String>,
    ) -> ApiResult<String> {
        let vpc_id = vpc_id.ok_or_else(|| missing("vpcId"))?;
        let name = name.ok_or_else(|| missing("networkSecurityGroupName"))?;
        check_name("networkSecurityGroupName", &name)?;
        check_description(description.as_deref())?;
        let mut tx = self.store.write().await?;
        vpc::vpc_get(&mut tx, &scope.pin, &scope.region, &vpc_id)
            .await?
            .ok_or_else(|| vpc_not_found(&vpc_id))?;
        let used = security_group::security_groups_of_vpc(&mut tx, &vpc_id)
            .await?
            .len() as i64;
        if used >= limits::SECURITY_GROUPS_PER_VPC {
            return Err(VpcQuotaType::SecurityGroup.exceeded());
        }
        let row = SecurityGroupRow {
            id: ids::security_group_id(),
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            vpc_id,
            name,
            description: description.unwrap_or_default(),
            is_default: false,
            created_at: now_ms(),
            seq: self.store.next_seq(),
        };
        security_group::security_group_insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row.id)
    }

    /// A group with its rules and the interfaces in it.
    pub async fn security_group_fetch(
        &self,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<(SecurityGroupRow, Vec<SecurityGroupRuleRow>)> {
        let mut db = self.store.read().await?;
        let g = security_group::security_group_get(&mut db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| security_group_not_found(id))?;
        let rules = security_group::rules_of(&mut db, id).await?;
        Ok((g, rules))
    }

    pub async fn security_group_list(
        &self,
        scope: &Scope,
        ids: &[String],
        vpc_ids: &[String],
        page: Page,
    ) -> ApiResult<(Vec<(SecurityGroupRow, Vec<SecurityGroupRuleRow>)>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = security_group::security_group_list(
            &mut db,
            &scope.pin,
            &scope.region,
            ids,
            vpc_ids,
            (page.limit(), page.offset()),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for g in rows {
            let rules = security_group::rules_of(&mut db, &g.id).await?;
            out.push((g, rules));
        }
        Ok((out, total))
    }

    /// deleteNetworkSecurityGroup: not a VPC's default group, not one in use.
    pub async fn security_group_delete(&self, scope: &Scope, id: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        let g = security_group::security_group_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| security_group_not_found(id))?;
        if g.is_default {
            return Err(ApiError::FailedPrecondition(format!(
                "Default security group '{id}' can't be deleted"
            )));
        }
        if network_interface::count_in_security_group(&mut tx, id).await? > 0 {
            return Err(ApiError::FailedPrecondition(format!(
                "SecurityGroup '{id}' is in use"
            )));
        }
        security_group::security_group_delete(&mut tx, id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn security_group_rules_add(
        &self,
        scope: &Scope,
        id: &str,
        specs: Vec<RuleSpecInput>,
    ) -> ApiResult<()> {
        if specs.is_empty() {
            return Err(missing("networkSecurityGroupRuleSpecs"));
        }
        let mut tx = self.store.write().await?;
        security_group::security_group_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| security_group_not_found(id))?;
        let existing = security_group::rules_of(&mut tx, id).await?.len() as i64;
        if existing + specs.len() as i64 > limits::RULES_PER_GROUP {
            return Err(ApiError::QuotaExceeded(
                "SecurityGroupRule quota limit exceeded".into(),
            ));
        }
        for spec in specs {
            let row = self.rule_row(id, spec)?;
            security_group::rule_insert(&mut tx, &row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn security_group_rules_remove(
        &self,
        scope: &Scope,
        id: &str,
        rule_ids: Vec<String>,
    ) -> ApiResult<()> {
        if rule_ids.is_empty() {
            return Err(missing("ruleIds"));
        }
        let mut tx = self.store.write().await?;
        security_group::security_group_get(&mut tx, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| security_group_not_found(id))?;
        let known: Vec<String> = security_group::rules_of(&mut tx, id)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        if let Some(unknown) = rule_ids.iter().find(|r| !known.contains(r)) {
            return Err(ApiError::NotFound(format!(
                "SecurityGroupRule '{unknown}' not found"
            )));
        }
        security_group::rules_delete(&mut tx, id, &rule_ids).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A rule as stored, after JD's checks: protocol and direction known, the address a
    /// valid IPv4 address or range, ports in [1,65535] and ordered for TCP and UDP (1 and
    /// 65535 by default), 0 for the others.
    fn rule_row(&self, group_id: &str, s: RuleSpecInput) -> ApiResult<SecurityGroupRuleRow> {
        let protocol = s.protocol.ok_or_else(|| missing("protocol"))?;
        if !PROTOCOLS.contains(&protocol) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid protocol '{protocol}'"
            )));
        }
        let direction = s.direction.ok_or_else(|| missing("direction"))?;
        if !(0..=1).contains(&direction) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid direction '{direction}'"
            )));
        }
        let prefix = s.address_prefix.ok_or_else(|| missing("addressPrefix"))?;
        if !cidr::is_ipv4_or_range(&prefix) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid addressPrefix '{prefix}'"
            )));
        }
        check_description(s.description.as_deref())?;
        let transport = matches!(protocol, 6 | 17);
        let (from, to) = if transport {
            (s.from_port.unwrap_or(1), s.to_port.unwrap_or(65535))
        } else {
            (0, 0)
        };
        if transport && !(1 <= from && from <= to && to <= 65535) {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid port range {from}-{to}"
            )));
        }
        Ok(SecurityGroupRuleRow {
            id: ids::security_group_rule_id(),
            group_id: group_id.to_string(),
            direction,
            protocol,
            address_prefix: prefix,
            from_port: from,
            to_port: to,
            description: s.description.unwrap_or_default(),
            created_at: now_ms(),
            seq: self.store.next_seq(),
        })
    }
}
