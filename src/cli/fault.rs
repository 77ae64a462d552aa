//! `kiln admin fault add|list|clear`: fault rules on demand (see `service::fault`). They
//! write the database of a data directory and work while `kiln serve` runs on it: a change
//! applies from the server's next request.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::out::{out, outln};
use crate::service::fault::{Fault, FaultEffect, FaultSpec};

pub const GROUP_HELP: &str = "\
Examples:
  kiln admin fault add --data-dir ./kiln-data --operation createImage --error 503:SERVICE_UNAVAILABLE:try later
      {\"faultId\":\"fault-ab12cd34ef\"}
  kiln admin fault add --data-dir ./kiln-data --operation describeImages --delay 300ms --probability 0.5
  kiln admin fault add --data-dir ./kiln-data --operation createImage --task-error --count 1
  kiln admin fault add --data-dir ./kiln-data --operation '*' --task-stall 30s
  kiln admin fault list --data-dir ./kiln-data
  kiln admin fault clear --data-dir ./kiln-data fault-ab12cd34ef
  kiln admin fault clear --data-dir ./kiln-data          (every rule)

They work while `kiln serve` runs on the same data directory; changes apply from the
server's next request on. The same rules over HTTP: GET/POST /kiln/v1/faults,
DELETE /kiln/v1/faults/{faultId} (signed, the server's first account only).";

#[derive(Subcommand, Debug)]
pub enum FaultCommand {
    /// Add a rule and print {"faultId": "…"}.
    #[command(after_help = GROUP_HELP)]
    Add(AddArgs),
    /// List the rules with how often each fired.
    #[command(
        after_help = "Examples:\n  kiln admin fault list --data-dir ./kiln-data\n  kiln admin fault list --data-dir ./kiln-data --output json"
    )]
    List {
        #[command(flatten)]
        at: DataDir,
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Remove one rule, or every rule without FAULT_ID.
    #[command(
        after_help = "Examples:\n  kiln admin fault clear --data-dir ./kiln-data fault-ab12cd34ef\n  kiln admin fault clear --data-dir ./kiln-data"
    )]
    Clear {
        #[command(flatten)]
        at: DataDir,
        fault_id: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct DataDir {
    /// The data directory of the server.
    #[arg(long, default_value = "./kiln-data")]
    data_dir: PathBuf,
    /// The PostgreSQL database of a cluster (default: the one recorded in the data
    /// directory by `kiln serve --database`).
    #[arg(long, env = "KILN_DATABASE", value_name = "URL")]
    database: Option<String>,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("effect").required(true).multiple(false))]
pub struct AddArgs {
    #[command(flatten)]
    at: DataDir,
    /// The API action as the SDKs spell it (createImage, describeImages, createInstances, …),
    /// or * for every one.
    #[arg(long)]
    operation: String,
    /// Only calls to this region.
    #[arg(long)]
    region: Option<String>,
    /// Only calls of this account.
    #[arg(long)]
    pin: Option<String>,
    /// The chance that one matching call fires the rule.
    #[arg(long, default_value_t = 1.0)]
    probability: f64,
    /// Stop after firing this many times (default: no limit).
    #[arg(long)]
    count: Option<u64>,
    /// Answer matching calls with this JD error and change nothing: CODE:STATUS[:MESSAGE].
    #[arg(long, group = "effect", value_name = "CODE:STATUS[:MESSAGE]", value_parser = FaultEffect::parse_error)]
    error: Option<FaultEffect>,
    /// Answer matching calls this much later (300ms, 2s).
    #[arg(long, group = "effect", value_parser = super::parse_duration)]
    delay: Option<Duration>,
    /// Accept matching calls; their asynchronous work ends in `error`.
    #[arg(long, group = "effect", value_name = "MESSAGE", num_args = 0..=1, default_missing_value = "Injected task failure")]
    task_error: Option<String>,
    /// Accept matching calls; their asynchronous work stays in flight this much longer.
    #[arg(long, group = "effect", value_parser = super::parse_duration)]
    task_stall: Option<Duration>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

impl AddArgs {
    fn spec(self) -> FaultSpec {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let effect = match (self.error, self.delay, self.task_error, self.task_stall) {
            (Some(e), ..) => e,
            (_, Some(d), ..) => FaultEffect::Delay {
                delay_ms: millis(d),
            },
            (_, _, Some(message), _) => FaultEffect::TaskError { message },
            (.., Some(d)) => FaultEffect::TaskStall {
                stall_ms: millis(d),
            },
            // clap's required "effect" group guarantees one of them.
            (None, None, None, None) => unreachable!("one effect is required"),
        };
        FaultSpec {
            operation: self.operation,
            region: self.region,
            pin: self.pin,
            probability: self.probability,
            count: self.count,
            effect,
        }
    }
}

pub async fn run(cmd: FaultCommand) -> anyhow::Result<()> {
    let wire = |e: crate::error::ApiError| anyhow::anyhow!("{}", e.wire_message());
    match cmd {
        FaultCommand::Add(args) => {
            let svc = super::open_existing(&args.at.data_dir, args.at.database.clone()).await?;
            let added = svc.fault_add(args.spec()).await;
            svc.store().close().await;
            let fault = added.map_err(wire)?;
            outln!("{}", serde_json::json!({ "faultId": fault.fault_id }));
        }
        FaultCommand::List { at, output } => {
            let svc = super::open_existing(&at.data_dir, at.database).await?;
            let list = svc.fault_list().await;
            svc.store().close().await;
            let list = list.map_err(wire)?;
            match output {
                Format::Json => outln!("{}", serde_json::to_string_pretty(&list)?),
                Format::Table => out!("{}", table(&list)),
            }
        }
        FaultCommand::Clear { at, fault_id } => {
            let svc = super::open_existing(&at.data_dir, at.database).await?;
            let n = svc.fault_clear(fault_id.as_deref()).await;
            svc.store().close().await;
            match (n.map_err(wire)?, fault_id) {
                (0, Some(id)) => anyhow::bail!("no fault {id}"),
                (n, _) => outln!("Removed {n} fault rule(s)."),
            }
        }
    }
    Ok(())
}

fn describe(effect: &FaultEffect) -> String {
    match effect {
        FaultEffect::Error {
            code,
            status,
            message,
        } => format!("error {code}:{status}:{message}"),
        FaultEffect::Delay { delay_ms } => format!("delay {delay_ms}ms"),
        FaultEffect::TaskError { message } => format!("task-error {message}"),
        FaultEffect::TaskStall { stall_ms } => format!("task-stall {stall_ms}ms"),
    }
}

fn table(list: &[Fault]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                f.fault_id.clone(),
                f.spec.operation.clone(),
                f.spec.region.clone().unwrap_or_else(|| "*".into()),
                f.spec.pin.clone().unwrap_or_else(|| "*".into()),
                f.spec.probability.to_string(),
                match f.spec.count {
                    Some(n) => format!("{}/{n}", f.fired),
                    None => f.fired.to_string(),
                },
                describe(&f.spec.effect),
            ]
        })
        .collect();
    super::client::table(
        &[
            "fault id",
            "operation",
            "region",
            "pin",
            "probability",
            "fired",
            "effect",
        ],
        &rows,
    )
}
