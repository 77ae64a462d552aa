//! `kiln vpc …` (vpc service): createVpc, describeVpcs/describeVpc, modifyVpc, deleteVpc.

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{NewName, Paging, VpcId};
use super::output::{dash, fields, items, s, table, time, Query};
use super::{Ctx, Failure, Outcome};

pub const GROUP_HELP: &str = "\
Example:
  VPC=$(kiln vpc create --name build --cidr 192.168.0.0/16 -q)
  SUBNET=$(kiln subnet create --vpc $VPC --name build-a --cidr 192.168.0.0/24 -q)
  kiln instance create --image img-ubuntu2204 --name web --subnet $SUBNET --wait";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a VPC (createVpc).
    #[command(after_help = "\
Examples:
  kiln vpc create --name build --cidr 192.168.0.0/16
  kiln vpc create --name anywhere -q      # its subnets may use any private range")]
    Create(CreateArgs),
    /// List VPCs (describeVpcs; every page, or the one --page-number names).
    #[command(after_help = "Examples:\n  kiln vpc list\n  kiln vpc list -o json")]
    List(ListArgs),
    /// Show one VPC with its subnets (describeVpc).
    #[command(after_help = "Example:\n  kiln vpc show vpc-abc123")]
    Show {
        #[command(flatten)]
        id: VpcId,
    },
    /// Rename a VPC or change its description (modifyVpc).
    #[command(after_help = "Example:\n  kiln vpc rename vpc-abc123 --name build-2")]
    Rename {
        #[command(flatten)]
        id: VpcId,
        #[command(flatten)]
        to: NewName,
    },
    /// Delete a VPC (deleteVpc); its subnets must be deleted first.
    #[command(after_help = "Example:\n  kiln vpc delete vpc-abc123")]
    Delete {
        #[command(flatten)]
        id: VpcId,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// VPC name (1–32 of Chinese, letters, digits, `_`, `-`).
    #[arg(long, visible_alias = "vpc-name")]
    pub name: String,
    /// Address range: within 10/8, 172.16/12 or 192.168/16, prefix 16–28 [default: none,
    /// its subnets may use any private range].
    #[arg(long, visible_alias = "address-prefix", value_name = "CIDR")]
    pub cidr: Option<String>,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => {
            let mut body = json!({ "vpcName": a.name });
            if let Some(c) = &a.cidr {
                body["addressPrefix"] = json!(c);
            }
            if let Some(d) = &a.description {
                body["description"] = json!(d);
            }
            let r = ctx.post("vpc", "/vpcs/", &body).await?;
            let id = s(&r, "/vpcId");
            Ok(ctx.finished(vec![id.clone()], r, || format!("Created vpc {id}")))
        }
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Rename { id, to } => {
            let id = id.get();
            let r = ctx
                .patch("vpc", &format!("/vpcs/{id}"), &to.body("vpcName"))
                .await?;
            Ok(ctx.finished(vec![id.clone()], r, || format!("Modified vpc {id}")))
        }
        Cmd::Delete { id } => {
            let id = id.get();
            let r = ctx.delete("vpc", &format!("/vpcs/{id}"), "").await?;
            Ok(ctx.finished(vec![id.clone()], r, || format!("Deleted vpc {id}")))
        }
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("vpcIds", &a.id);
    let r = ctx.get_all("vpc", "/vpcs/", &q, "vpcs", a.paging).await?;
    let list = items(&r, "vpcs");
    let ids: Vec<String> = list.iter().map(|v| s(v, "/vpcId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|v| {
                vec![
                    s(v, "/vpcId"),
                    s(v, "/vpcName"),
                    dash(s(v, "/addressPrefix")),
                    items(v, "subnets").len().to_string(),
                    time(v, "/createdTime"),
                ]
            })
            .collect();
        table(&["id", "name", "cidr", "subnets", "created"], &rows)
    });
    Ok(Outcome::new(ids, r))
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("vpc", &format!("/vpcs/{id}"), "").await?;
    let v = &r["vpc"];
    let ids = vec![s(v, "/vpcId")];
    ctx.emit(&ids, &r, || {
        let mut out = fields(&[
            ("ID", s(v, "/vpcId")),
            ("Name", s(v, "/vpcName")),
            ("CIDR", dash(s(v, "/addressPrefix"))),
            ("Created", time(v, "/createdTime")),
            ("Description", dash(s(v, "/description"))),
        ]);
        let rows: Vec<Vec<String>> = items(v, "subnets")
            .iter()
            .map(|sn| {
                vec![
                    s(sn, "/subnetId"),
                    s(sn, "/subnetName"),
                    s(sn, "/addressPrefix"),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&table(&["subnet", "name", "cidr"], &rows));
        }
        out
    });
    Ok(Outcome::new(ids, r))
}
