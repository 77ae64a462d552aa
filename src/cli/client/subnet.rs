//! `kiln subnet …` (vpc service): createSubnet, describeSubnets/describeSubnet,
//! modifySubnet, deleteSubnet.

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{NewName, Paging, SubnetId};
use super::output::{dash, fields, items, s, table, time, Query};
use super::{Ctx, Failure, Outcome};

pub const GROUP_HELP: &str = "\
Example:
  SUBNET=$(kiln subnet create --vpc vpc-abc123 --name build-a --cidr 192.168.0.0/24 -q)
  kiln subnet show $SUBNET
  kiln instance create --image img-ubuntu2204 --name web --subnet $SUBNET --wait";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a subnet in a VPC (createSubnet).
    #[command(after_help = "\
Example:
  kiln subnet create --vpc vpc-abc123 --name build-a --cidr 192.168.0.0/24")]
    Create(CreateArgs),
    /// List subnets (describeSubnets; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln subnet list
  kiln subnet list --vpc vpc-abc123 -q")]
    List(ListArgs),
    /// Show one subnet: its range, the addresses left, the first and last one handed out
    /// (describeSubnet).
    #[command(after_help = "Example:\n  kiln subnet show subnet-abc123")]
    Show {
        #[command(flatten)]
        id: SubnetId,
    },
    /// Rename a subnet or change its description (modifySubnet).
    #[command(after_help = "Example:\n  kiln subnet rename subnet-abc123 --name build-b")]
    Rename {
        #[command(flatten)]
        id: SubnetId,
        #[command(flatten)]
        to: NewName,
    },
    /// Delete a subnet (deleteSubnet); no instance may be in it.
    #[command(after_help = "Example:\n  kiln subnet delete subnet-abc123")]
    Delete {
        #[command(flatten)]
        id: SubnetId,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The VPC.
    #[arg(long, visible_alias = "vpc-id", value_name = "VPC_ID")]
    pub vpc: String,
    /// Subnet name (1–32 of Chinese, letters, digits, `_`, `-`).
    #[arg(long, visible_alias = "subnet-name")]
    pub name: String,
    /// Address range inside the VPC's, overlapping none of its other subnets; prefix 16–28.
    #[arg(long, visible_alias = "address-prefix", value_name = "CIDR")]
    pub cidr: String,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only in this VPC (repeatable).
    #[arg(long, visible_alias = "vpc-id", value_name = "VPC_ID")]
    pub vpc: Vec<String>,
    /// Only with this name (repeatable).
    #[arg(long)]
    pub name: Vec<String>,
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => {
            let mut body = json!({
                "vpcId": a.vpc,
                "subnetName": a.name,
                "addressPrefix": a.cidr,
            });
            if let Some(d) = &a.description {
                body["description"] = json!(d);
            }
            let r = ctx.post("vpc", "/subnets/", &body).await?;
            let id = s(&r, "/subnetId");
            Ok(ctx.finished(vec![id.clone()], r, || {
                format!("Created subnet {id} ({}) in {}", a.cidr, a.vpc)
            }))
        }
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Rename { id, to } => {
            let id = id.get();
            let r = ctx
                .patch("vpc", &format!("/subnets/{id}"), &to.body("subnetName"))
                .await?;
            Ok(ctx.finished(vec![id.clone()], r, || format!("Modified subnet {id}")))
        }
        Cmd::Delete { id } => {
            let id = id.get();
            let r = ctx.delete("vpc", &format!("/subnets/{id}"), "").await?;
            Ok(ctx.finished(vec![id.clone()], r, || format!("Deleted subnet {id}")))
        }
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("subnetIds", &a.id)
        .filter("vpcId", &a.vpc)
        .filter("subnetNames", &a.name);
    let r = ctx
        .get_all("vpc", "/subnets/", &q, "subnets", a.paging)
        .await?;
    let list = items(&r, "subnets");
    let ids: Vec<String> = list.iter().map(|v| s(v, "/subnetId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|v| {
                vec![
                    s(v, "/subnetId"),
                    s(v, "/subnetName"),
                    s(v, "/vpcId"),
                    s(v, "/addressPrefix"),
                    s(v, "/availableIpCount"),
                    time(v, "/createdTime"),
                ]
            })
            .collect();
        table(
            &["id", "name", "vpc", "cidr", "available", "created"],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("vpc", &format!("/subnets/{id}"), "").await?;
    let v = &r["subnet"];
    let ids = vec![s(v, "/subnetId")];
    ctx.emit(&ids, &r, || {
        fields(&[
            ("ID", s(v, "/subnetId")),
            ("Name", s(v, "/subnetName")),
            ("VPC", s(v, "/vpcId")),
            ("CIDR", s(v, "/addressPrefix")),
            ("Available IPs", s(v, "/availableIpCount")),
            ("Start IP", dash(s(v, "/startIp"))),
            ("End IP", dash(s(v, "/endIp"))),
            ("Created", time(v, "/createdTime")),
            ("Description", dash(s(v, "/description"))),
        ])
    });
    Ok(Outcome::new(ids, r))
}
