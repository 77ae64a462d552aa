//! `kiln security-group …` (vpc service): createNetworkSecurityGroup,
//! describeNetworkSecurityGroups/describeNetworkSecurityGroup, modifyNetworkSecurityGroup,
//! deleteNetworkSecurityGroup, addNetworkSecurityGroupRules, removeNetworkSecurityGroupRules.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::args::{expand_ids, NewName, Paging, SecurityGroupId};
use super::output::{dash, fields, items, s, table, time, Query};
use super::{Ctx, Failure, Outcome};

pub const GROUP_HELP: &str = "\
Example:
  SG=$(kiln security-group create --vpc vpc-abc123 --name ssh -q)
  kiln security-group add-rule $SG --protocol tcp --direction in --cidr 0.0.0.0/0 --ports 22
  kiln instance create --image img-ubuntu2204 --subnet subnet-def456 --security-group $SG --wait";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a security group in a VPC (createNetworkSecurityGroup).
    #[command(after_help = "Example:\n  kiln security-group create --vpc vpc-abc123 --name ssh")]
    Create(CreateArgs),
    /// List security groups (describeNetworkSecurityGroups; every page, or the one
    /// --page-number names).
    #[command(after_help = "\
Examples:
  kiln security-group list
  kiln security-group list --vpc vpc-abc123 -q")]
    List(ListArgs),
    /// Show one security group with its rules (describeNetworkSecurityGroup).
    #[command(after_help = "Example:\n  kiln security-group show sg-abc123")]
    Show {
        #[command(flatten)]
        id: SecurityGroupId,
    },
    /// Rename a security group or change its description (modifyNetworkSecurityGroup).
    #[command(after_help = "Example:\n  kiln security-group rename sg-abc123 --name web")]
    Rename {
        #[command(flatten)]
        id: SecurityGroupId,
        #[command(flatten)]
        to: NewName,
    },
    /// Delete a security group (deleteNetworkSecurityGroup); no interface may use it.
    #[command(after_help = "Example:\n  kiln security-group delete sg-abc123")]
    Delete {
        #[command(flatten)]
        id: SecurityGroupId,
    },
    /// Add an allow rule (addNetworkSecurityGroupRules); `-q` prints the new rule's id.
    #[command(after_help = "\
Examples:
  kiln security-group add-rule sg-abc123 --protocol tcp --direction in --cidr 0.0.0.0/0 --ports 22
  kiln security-group add-rule sg-abc123 --protocol udp --direction in --cidr 10.0.0.0/8 --ports 1000-2000
  kiln security-group add-rule sg-abc123 --protocol all --direction out --cidr 0.0.0.0/0")]
    AddRule(AddRuleArgs),
    /// Remove rules by id (removeNetworkSecurityGroupRules; ids from `show`).
    #[command(
        after_help = "Example:\n  kiln security-group remove-rule sg-abc123 sgr-def456 sgr-ghi789"
    )]
    RemoveRule {
        /// Security group id.
        #[arg(value_name = "GROUP_ID")]
        group: String,
        /// Rule ids (one or more, or a JSON list).
        #[arg(required = true, value_name = "RULE_ID")]
        rules: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The VPC.
    #[arg(long, visible_alias = "vpc-id", value_name = "VPC_ID")]
    pub vpc: String,
    /// Group name (1–32 of Chinese, letters, digits, `_`, `-`).
    #[arg(long, visible_alias = "network-security-group-name")]
    pub name: String,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only in this VPC (repeatable).
    #[arg(long, visible_alias = "vpc-id", value_name = "VPC_ID")]
    pub vpc: Vec<String>,
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

impl Protocol {
    /// JD's number: 6 TCP, 17 UDP, 1 ICMP, 300 all.
    fn code(self) -> i64 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::All => 300,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Inbound (0).
    #[value(alias = "ingress")]
    In,
    /// Outbound (1).
    #[value(alias = "egress")]
    Out,
}

#[derive(Args, Debug)]
pub struct AddRuleArgs {
    #[command(flatten)]
    pub id: SecurityGroupId,
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    #[arg(long, value_enum)]
    pub direction: Direction,
    /// The remote addresses: an IPv4 address or range.
    #[arg(long, visible_alias = "address-prefix", value_name = "CIDR")]
    pub cidr: String,
    /// tcp and udp: a port or a range FROM-TO [default: all, 1-65535].
    #[arg(long, value_name = "PORTS", value_parser = parse_ports)]
    pub ports: Option<(i64, i64)>,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
}

/// `22` or `1000-2000`.
fn parse_ports(s: &str) -> Result<(i64, i64), String> {
    let bad = || format!("'{s}': say a port (22) or a range (1000-2000), ports 1-65535");
    let port = |p: &str| {
        p.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=65535).contains(n))
            .ok_or_else(bad)
    };
    let (from, to) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if from > to {
        return Err(bad());
    }
    Ok((from, to))
}

fn protocol_name(code: &str) -> String {
    match code {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "300" => "all".into(),
        other => other.into(),
    }
}

fn rule_ids(group: &Value) -> Vec<String> {
    items(group, "securityGroupRules")
        .iter()
        .map(|r| s(r, "/ruleId"))
        .collect()
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => {
            let mut body = json!({
                "vpcId": a.vpc,
                "networkSecurityGroupName": a.name,
            });
            if let Some(d) = &a.description {
                body["description"] = json!(d);
            }
            let r = ctx.post("vpc", "/networkSecurityGroups/", &body).await?;
            let id = s(&r, "/networkSecurityGroupId");
            Ok(ctx.finished(vec![id.clone()], r, || {
                format!("Created security group {id} in {}", a.vpc)
            }))
        }
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Rename { id, to } => {
            let id = id.get();
            let body = to.body("networkSecurityGroupName");
            let r = ctx
                .patch("vpc", &format!("/networkSecurityGroups/{id}"), &body)
                .await?;
            Ok(ctx.finished(vec![id.clone()], r, || {
                format!("Modified security group {id}")
            }))
        }
        Cmd::Delete { id } => {
            let id = id.get();
            let r = ctx
                .delete("vpc", &format!("/networkSecurityGroups/{id}"), "")
                .await?;
            Ok(ctx.finished(vec![id.clone()], r, || {
                format!("Deleted security group {id}")
            }))
        }
        Cmd::AddRule(a) => add_rule(ctx, a).await,
        Cmd::RemoveRule { group, rules } => {
            let rules = expand_ids(&rules);
            let body = json!({ "ruleIds": rules });
            let r = ctx
                .post(
                    "vpc",
                    &format!("/networkSecurityGroups/{group}:removeNetworkSecurityGroupRules"),
                    &body,
                )
                .await?;
            Ok(ctx.finished(rules.clone(), r, || {
                format!("Removed {} from security group {group}", rules.join(", "))
            }))
        }
    }
}

async fn add_rule(ctx: &Ctx, a: AddRuleArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let mut spec = json!({
        "protocol": a.protocol.code(),
        "direction": match a.direction { Direction::In => 0, Direction::Out => 1 },
        "addressPrefix": a.cidr,
    });
    if let Some((from, to)) = a.ports {
        if !matches!(a.protocol, Protocol::Tcp | Protocol::Udp) {
            return Err(Failure::Usage(
                "--ports applies to --protocol tcp or udp only".into(),
            ));
        }
        spec["fromPort"] = json!(from);
        spec["toPort"] = json!(to);
    }
    if let Some(d) = &a.description {
        spec["description"] = json!(d);
    }
    let path = format!("/networkSecurityGroups/{id}");
    // The call answers no id: the new rule is the one the group did not have before.
    let before = rule_ids(&ctx.get("vpc", &path, "").await?["networkSecurityGroup"]);
    let body = json!({ "networkSecurityGroupRuleSpecs": [spec] });
    let r = ctx
        .post(
            "vpc",
            &format!("{path}:addNetworkSecurityGroupRules"),
            &body,
        )
        .await?;
    let after = rule_ids(&ctx.get("vpc", &path, "").await?["networkSecurityGroup"]);
    let new: Vec<String> = after.into_iter().filter(|r| !before.contains(r)).collect();
    Ok(ctx.finished(new.clone(), r, || {
        format!("Added rule {} to security group {id}", new.join(", "))
    }))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("networkSecurityGroupIds", &a.id)
        .filter("vpcId", &a.vpc);
    let r = ctx
        .get_all(
            "vpc",
            "/networkSecurityGroups/",
            &q,
            "networkSecurityGroups",
            a.paging,
        )
        .await?;
    let list = items(&r, "networkSecurityGroups");
    let ids: Vec<String> = list
        .iter()
        .map(|g| s(g, "/networkSecurityGroupId"))
        .collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|g| {
                vec![
                    s(g, "/networkSecurityGroupId"),
                    s(g, "/networkSecurityGroupName"),
                    s(g, "/vpcId"),
                    s(g, "/networkSecurityGroupType"),
                    items(g, "securityGroupRules").len().to_string(),
                    time(g, "/createdTime"),
                ]
            })
            .collect();
        table(&["id", "name", "vpc", "type", "rules", "created"], &rows)
    });
    Ok(Outcome::new(ids, r))
}

/// The rules of a group as a table.
fn rule_table(g: &Value) -> String {
    let rows: Vec<Vec<String>> = items(g, "securityGroupRules")
        .iter()
        .map(|r| {
            let proto = protocol_name(&s(r, "/protocol"));
            let ports = if proto == "tcp" || proto == "udp" {
                let (from, to) = (s(r, "/fromPort"), s(r, "/toPort"));
                if from == to {
                    from
                } else {
                    format!("{from}-{to}")
                }
            } else {
                "-".into()
            };
            vec![
                s(r, "/ruleId"),
                if s(r, "/direction") == "1" {
                    "out"
                } else {
                    "in"
                }
                .into(),
                proto,
                s(r, "/addressPrefix"),
                ports,
                dash(s(r, "/description")),
            ]
        })
        .collect();
    table(
        &[
            "rule",
            "direction",
            "protocol",
            "cidr",
            "ports",
            "description",
        ],
        &rows,
    )
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx
        .get("vpc", &format!("/networkSecurityGroups/{id}"), "")
        .await?;
    let g = &r["networkSecurityGroup"];
    let ids = vec![s(g, "/networkSecurityGroupId")];
    ctx.emit(&ids, &r, || {
        let mut out = fields(&[
            ("ID", s(g, "/networkSecurityGroupId")),
            ("Name", s(g, "/networkSecurityGroupName")),
            ("VPC", s(g, "/vpcId")),
            ("Type", s(g, "/networkSecurityGroupType")),
            ("Created", time(g, "/createdTime")),
            ("Description", dash(s(g, "/description"))),
        ]);
        out.push('\n');
        if items(g, "securityGroupRules").is_empty() {
            out.push_str("No rules.\n");
        } else {
            out.push_str(&rule_table(g));
        }
        out
    });
    Ok(Outcome::new(ids, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_ports("22"), Ok((22, 22)));
        assert_eq!(parse_ports("1000-2000"), Ok((1000, 2000)));
        for bad in ["", "0", "65536", "2000-1000", "a-b", "22-", "x"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }
}
