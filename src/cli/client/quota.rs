//! `kiln quota show`: vm describeQuotas plus the disk service's describeQuota for disks
//! and snapshots, in one table.

use clap::Subcommand;
use serde_json::{json, Value};

use super::output::{items, s, table, Query};
use super::{Ctx, Failure, Outcome};

pub const GROUP_HELP: &str = "Example:\n  kiln quota show\n  kiln quota show -o json";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Used and limit per resource type in the region. JSON output is vm describeQuotas'
    /// result with `disk` and `snapshot` (from the disk service) appended to `quotas`.
    #[command(after_help = "\
Examples:
  kiln quota show
  kiln quota show --region cn-east-2 -o json")]
    Show {
        /// Only these vm resource types (instance, image, …; repeatable). Disk and
        /// snapshot quotas are shown when no type, or `disk`/`snapshot`, is asked for.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    let Cmd::Show { types } = cmd;
    let disk_kinds = ["disk", "snapshot"];
    let vm_types: Vec<String> = types
        .iter()
        .filter(|t| !disk_kinds.contains(&t.as_str()))
        .cloned()
        .collect();
    let mut quotas: Vec<Value> = Vec::new();
    if types.is_empty() || !vm_types.is_empty() {
        let mut q = Query::new();
        q.filter("resourceTypes", &vm_types);
        let r = ctx.get("vm", "/quotas", &q.encode()).await?;
        quotas.extend(items(&r, "quotas").iter().cloned());
    }
    for kind in disk_kinds {
        if types.is_empty() || types.iter().any(|t| t == kind) {
            let r = ctx.get("disk", "/quotas", &format!("type={kind}")).await?;
            quotas.push(json!({
                "resourceType": kind,
                "limit": r["quota"]["limit"],
                "used": r["quota"]["used"],
            }));
        }
    }
    let result = json!({ "quotas": quotas });
    let ids: Vec<String> = quotas.iter().map(|q| s(q, "/resourceType")).collect();
    ctx.emit(&ids, &result, || {
        let rows: Vec<Vec<String>> = quotas
            .iter()
            .map(|q| vec![s(q, "/resourceType"), s(q, "/used"), s(q, "/limit")])
            .collect();
        table(&["resource", "used", "limit"], &rows)
    });
    Ok(Outcome::new(ids, result))
}
