//! `kiln eip …` (vpc service): createElasticIps, describeElasticIps/describeElasticIp,
//! deleteElasticIp, and associate/disassociate, onto an instance (vm associateElasticIp)
//! or onto a network interface (vpc associateElasticIp).

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::{ElasticIpId, Paging};
use super::output::{dash, fields, items, s, table, time, Query};
use super::{Ctx, Failure, Outcome};

pub const GROUP_HELP: &str = "\
Example:
  EIP=$(kiln eip create --bandwidth 5 -q)
  kiln eip associate $EIP --instance i-abc123
  kiln eip list";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Allocate elastic IPs (createElasticIps).
    #[command(after_help = "\
Examples:
  kiln eip create
  kiln eip create --bandwidth 10 --count 3 -q")]
    Create(CreateArgs),
    /// List elastic IPs (describeElasticIps; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln eip list
  kiln eip list --address 114.67.0.12 -o json")]
    List(ListArgs),
    /// Show one elastic IP and what it is on (describeElasticIp).
    #[command(after_help = "Example:\n  kiln eip show fip-abc123")]
    Show {
        #[command(flatten)]
        id: ElasticIpId,
    },
    /// Release an elastic IP (deleteElasticIp); one still associated lets go first.
    #[command(after_help = "Example:\n  kiln eip delete fip-abc123")]
    Delete {
        #[command(flatten)]
        id: ElasticIpId,
    },
    /// Put an elastic IP on an instance's primary interface (vm associateElasticIp) or on a
    /// network interface (vpc associateElasticIp).
    #[command(after_help = "\
Examples:
  kiln eip associate fip-abc123 --instance i-def456
  kiln eip associate fip-abc123 --interface port-ghi789")]
    Associate(Target),
    /// Take an elastic IP off an instance or a network interface (disassociateElasticIp).
    #[command(after_help = "\
Examples:
  kiln eip disassociate fip-abc123 --instance i-def456
  kiln eip disassociate fip-abc123 --interface port-ghi789")]
    Disassociate(Target),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Bandwidth in Mbps (1–200).
    #[arg(
        long,
        visible_alias = "bandwidth-mbps",
        value_name = "MBPS",
        default_value_t = 1
    )]
    pub bandwidth: i64,
    /// How many (1–100).
    #[arg(long, visible_alias = "max-count", default_value_t = 1)]
    pub count: u32,
    /// Name (1–32 of Chinese, letters, digits, `_`, `-`).
    #[arg(long, visible_alias = "elastic-ip-name")]
    pub name: Option<String>,
    /// Line provider.
    #[arg(long, default_value = "bgp")]
    pub provider: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    /// Only with this address (repeatable).
    #[arg(long, value_name = "IP")]
    pub address: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

/// An elastic IP and what it goes on (or comes off).
#[derive(Args, Debug)]
pub struct Target {
    #[command(flatten)]
    pub id: ElasticIpId,
    #[command(flatten)]
    pub on: On,
}

/// An instance or a network interface, one of them.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct On {
    /// The instance (its primary network interface).
    #[arg(long, visible_alias = "instance-id", value_name = "INSTANCE_ID")]
    pub instance: Option<String>,
    /// A network interface (`port-…`).
    #[arg(
        long,
        visible_alias = "network-interface-id",
        value_name = "INTERFACE_ID"
    )]
    pub interface: Option<String>,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create(ctx, a).await,
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Delete { id } => {
            let id = id.get();
            let r = ctx.delete("vpc", &format!("/elasticIps/{id}"), "").await?;
            Ok(ctx.finished(vec![id.clone()], r, || format!("Released elastic IP {id}")))
        }
        Cmd::Associate(t) => associate(ctx, t, true).await,
        Cmd::Disassociate(t) => associate(ctx, t, false).await,
    }
}

async fn associate(ctx: &Ctx, t: Target, on: bool) -> Result<Outcome, Failure> {
    let id = t.id.get();
    let action = if on {
        "associateElasticIp"
    } else {
        "disassociateElasticIp"
    };
    let body = json!({ "elasticIpId": id });
    let (r, what) = match (&t.on.instance, &t.on.interface) {
        (Some(i), _) => (
            ctx.post("vm", &format!("/instances/{i}:{action}"), &body)
                .await?,
            format!("instance {i}"),
        ),
        (None, Some(n)) => (
            ctx.post("vpc", &format!("/networkInterfaces/{n}:{action}"), &body)
                .await?,
            format!("network interface {n}"),
        ),
        (None, None) => {
            return Err(Failure::Usage("say --instance or --interface".into()));
        }
    };
    Ok(ctx.finished(vec![id.clone()], r, || {
        if on {
            format!("Associated elastic IP {id} with {what}")
        } else {
            format!("Disassociated elastic IP {id} from {what}")
        }
    }))
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let mut body = json!({
        "maxCount": a.count,
        "elasticIpSpec": { "bandwidthMbps": a.bandwidth, "provider": a.provider },
    });
    if let Some(n) = &a.name {
        body["elasticIpName"] = json!(n);
    }
    let r = ctx.post("vpc", "/elasticIps/", &body).await?;
    let ids: Vec<String> = items(&r, "elasticIpIds")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let lines = ids
        .iter()
        .map(|id| format!("Created elastic IP {id} ({} Mbps)", a.bandwidth))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(ctx.finished(ids, r, || lines))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("elasticIpIds", &a.id)
        .filter("elasticIpAddress", &a.address);
    let r = ctx
        .get_all("vpc", "/elasticIps/", &q, "elasticIps", a.paging)
        .await?;
    let list = items(&r, "elasticIps");
    let ids: Vec<String> = list.iter().map(|e| s(e, "/elasticIpId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|e| {
                vec![
                    s(e, "/elasticIpId"),
                    s(e, "/elasticIpAddress"),
                    format!("{} Mbps", s(e, "/bandwidthMbps")),
                    s(e, "/status"),
                    dash(s(e, "/instanceId")),
                    dash(s(e, "/networkInterfaceId")),
                    dash(s(e, "/privateIpAddress")),
                    time(e, "/createdTime"),
                ]
            })
            .collect();
        table(
            &[
                "id",
                "address",
                "bandwidth",
                "status",
                "instance",
                "interface",
                "private ip",
                "created",
            ],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("vpc", &format!("/elasticIps/{id}"), "").await?;
    let e = &r["elasticIp"];
    let ids = vec![s(e, "/elasticIpId")];
    ctx.emit(&ids, &r, || {
        fields(&[
            ("ID", s(e, "/elasticIpId")),
            ("Name", dash(s(e, "/elasticIpName"))),
            ("Address", s(e, "/elasticIpAddress")),
            ("Bandwidth", format!("{} Mbps", s(e, "/bandwidthMbps"))),
            ("Provider", s(e, "/provider")),
            ("Status", s(e, "/status")),
            ("Instance", dash(s(e, "/instanceId"))),
            ("Interface", dash(s(e, "/networkInterfaceId"))),
            ("Private IP", dash(s(e, "/privateIpAddress"))),
            ("Created", time(e, "/createdTime")),
        ])
    });
    Ok(Outcome::new(ids, r))
}
