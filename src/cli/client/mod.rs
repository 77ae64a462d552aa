//! The client subcommands of the `kiln` binary, grouped by resource:
//! `kiln instance|image|disk|snapshot|keypair|quota …`, the vpc service's
//! `kiln vpc|subnet|security-group|eip …`, and `kiln completions`.
//!
//! They talk to a Kiln server or to JD Cloud itself through [`crate::client::Client`], which
//! signs like the official SDKs (JDCLOUD2) with the same code the server verifies with.
//! Every command is a function from parsed arguments and a [`Ctx`] to an [`Outcome`]; the
//! `kiln demo` drives the very same functions.

mod args;
mod config;
mod disk;
mod eip;
mod guest;
mod image;
mod image_lifecycle;
mod instance;
mod instance_change;
mod keypair;
mod output;
mod quota;
mod rules;
mod security_group;
mod snapshot;
mod subnet;
mod vpc;
mod wait;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::cli::out::errln;
use crate::client::{CallError, Client, Transport};

pub(crate) use output::table;
pub use output::Format;
pub use wait::Progress;

/// `kiln --help` epilogue: the three commands of the main job, configuration, exit codes.
pub const TOP_HELP: &str = "\
Bake an image and launch from it (after `kiln serve` in this directory):
  SRC=$(kiln instance create --image img-ubuntu2204 --name builder --system-disk cloud --disk vdb=20 --wait -q)
  IMG=$(kiln image create $SRC --name baked --wait -q)
  kiln instance create --image $IMG --name web --wait

Client configuration, first found wins, each setting on its own (the two keys as a pair):
  1. flags          --endpoint, --access-key, --secret-key, --region, --profile
  2. environment    KILN_ENDPOINT, KILN_ACCESS_KEY, KILN_SECRET_KEY, KILN_REGION
  3. jdc profile    ~/.jdc/config, the profile named by --profile, else in ~/.jdc/current,
                    else [default] (access_key, secret_key, region_id, endpoint, scheme, timeout)
  4. local server   <data-dir>/credentials (--data-dir, default ./kiln-data)
  Defaults: endpoint http://127.0.0.1:8700, region cn-north-1. A JD Cloud endpoint
  (https://www.jdcloud-api.com, vm., disk. or vpc.) is sent to vm./disk./vpc.jdcloud-api.com
  per service.

Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 failed precondition or invalid
argument, 5 quota or rate limit exceeded, 6 authentication or permission, 7 a waited-for
resource ended in an error state, 8 --wait timed out.";

/// The client subcommands; flattened into the top-level `kiln` command.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Instances: create (launch), list, show, start, stop, reboot, delete, attach-disk,
    /// detach-disk, modify, set-password, resize, rebuild, types; exec and console (guests).
    #[command(after_help = instance::GROUP_HELP)]
    Instance(InstanceArgs),
    /// Private images: create (bake from an instance), list, show, delete, import, export,
    /// wait.
    #[command(after_help = image::GROUP_HELP)]
    Image(ImageArgs),
    /// Cloud disks: create, list, show, delete.
    #[command(after_help = disk::GROUP_HELP)]
    Disk(DiskArgs),
    /// Disk snapshots: create, list, show, delete.
    #[command(after_help = snapshot::GROUP_HELP)]
    Snapshot(SnapshotArgs),
    /// SSH key pairs: create, import, list, delete, attach, detach.
    #[command(after_help = keypair::GROUP_HELP)]
    Keypair(KeypairArgs),
    /// Quotas of the account in the region: used and limit per resource.
    #[command(after_help = quota::GROUP_HELP)]
    Quota(QuotaArgs),
    /// VPCs (private networks): create, list, show, rename, delete.
    #[command(after_help = vpc::GROUP_HELP)]
    Vpc(VpcArgs),
    /// Subnets of a VPC, where instances get their addresses: create, list, show, rename,
    /// delete.
    #[command(after_help = subnet::GROUP_HELP)]
    Subnet(SubnetArgs),
    /// Security groups of a VPC and their rules: create, list, show, rename, delete,
    /// add-rule, remove-rule.
    #[command(after_help = security_group::GROUP_HELP)]
    SecurityGroup(SecurityGroupArgs),
    /// Elastic (public) IPs: create, list, show, delete, associate, disassociate.
    #[command(after_help = eip::GROUP_HELP)]
    Eip(EipArgs),
    /// Print a shell completion script for `kiln`.
    #[command(
        after_help = "Example:\n  kiln completions bash > ~/.local/share/bash-completion/completions/kiln\n  source <(kiln completions bash)"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug)]
pub struct InstanceArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: instance::Cmd,
}

#[derive(Args, Debug)]
pub struct ImageArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: image::Cmd,
}

#[derive(Args, Debug)]
pub struct DiskArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: disk::Cmd,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: snapshot::Cmd,
}

#[derive(Args, Debug)]
pub struct KeypairArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: keypair::Cmd,
}

#[derive(Args, Debug)]
pub struct QuotaArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: quota::Cmd,
}

#[derive(Args, Debug)]
pub struct VpcArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: vpc::Cmd,
}

#[derive(Args, Debug)]
pub struct SubnetArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: subnet::Cmd,
}

#[derive(Args, Debug)]
pub struct SecurityGroupArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: security_group::Cmd,
}

#[derive(Args, Debug)]
pub struct EipArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: eip::Cmd,
}

/// Connection and output options, accepted anywhere after the resource name.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Connection and output")]
pub struct Common {
    /// Kiln (http://127.0.0.1:8700) or JD Cloud (https://vm.jdcloud-api.com) endpoint
    /// [else KILN_ENDPOINT, the jdc profile, http://127.0.0.1:8700]
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Access key [else KILN_ACCESS_KEY, the jdc profile, <data-dir>/credentials]
    #[arg(long, global = true, value_name = "AK")]
    pub access_key: Option<String>,
    /// Secret key [else KILN_SECRET_KEY, the jdc profile, <data-dir>/credentials]
    #[arg(long, global = true, value_name = "SK")]
    pub secret_key: Option<String>,
    /// Region [else KILN_REGION, the jdc profile's region_id, cn-north-1]
    #[arg(
        long,
        visible_alias = "region-id",
        global = true,
        value_name = "REGION"
    )]
    pub region: Option<String>,
    /// jdc profile to read from ~/.jdc/config [default: the one named in ~/.jdc/current]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Data directory of a local `kiln serve`: its `credentials` file is the last resort
    #[arg(long, global = true, value_name = "DIR", default_value = "./kiln-data")]
    pub data_dir: PathBuf,
    /// Output: human tables, or the JD `result` object as JSON
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Print only resource ids, one per line
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Give up a --wait after this long (exit code 8)
    #[arg(long, global = true, value_name = "DURATION", default_value = "30m",
          value_parser = super::parse_duration)]
    pub wait_timeout: Duration,
    /// --wait display: a live line on a terminal (auto), always, or plain status lines (never)
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto, hide = true)]
    pub progress: Progress,
    /// Tell on stderr where each setting came from, and every request made
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

/// What a command did: the ids it created or acted on, and the JD `result` it printed.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub ids: Vec<String>,
    pub result: Value,
    /// The process's exit code when it is not 0 on success (`instance exec` passes the
    /// guest command's on).
    pub exit_code: Option<u8>,
}

impl Outcome {
    pub fn new(ids: Vec<String>, result: Value) -> Outcome {
        Outcome {
            ids,
            result,
            exit_code: None,
        }
    }
    pub fn id(&self) -> &str {
        self.ids.first().map(String::as_str).unwrap_or("")
    }
}

/// Why a client command failed; each kind has its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The API answered an error (or could not be reached: status `TRANSPORT`).
    Api(CallError),
    /// Bad arguments that clap could not catch (exit 2).
    Usage(String),
    /// No credentials anywhere (exit 6).
    NoCredentials(String),
    /// A waited-for resource ended in an error state, or vanished (exit 7).
    WaitFailed(String),
    /// `--wait` ran out of time (exit 8).
    Timeout(String),
    /// Anything else (exit 1).
    Other(String),
}

pub mod exit {
    pub const OK: u8 = 0;
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const PRECONDITION: u8 = 4;
    pub const QUOTA: u8 = 5;
    pub const AUTH: u8 = 6;
    pub const WAIT_FAILED: u8 = 7;
    pub const TIMEOUT: u8 = 8;
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Api(e) => api_exit_code(e),
            Failure::Usage(_) => exit::USAGE,
            Failure::NoCredentials(_) => exit::AUTH,
            Failure::WaitFailed(_) => exit::WAIT_FAILED,
            Failure::Timeout(_) => exit::TIMEOUT,
            Failure::Other(_) => exit::OTHER,
        }
    }
}

/// The exit code for a JD error: by `error.status`, else by the HTTP code.
pub fn api_exit_code(e: &CallError) -> u8 {
    match e.status.as_str() {
        "NOT_FOUND" => exit::NOT_FOUND,
        "FAILED_PRECONDITION" | "INVALID_ARGUMENT" | "OUT_OF_RANGE" | "DUPLICATE" | "CONFLICT" => {
            exit::PRECONDITION
        }
        "QUOTA_EXCEEDED" | "HTTP_RATE_LIMIT_EXCEEDED" => exit::QUOTA,
        "ACCESS_ERROR" | "UNAUTHENTICATED" | "PERMISSION_DENIED" | "HTTP_FORBIDDEN" => exit::AUTH,
        _ => match e.code {
            404 => exit::NOT_FOUND,
            400 => exit::PRECONDITION,
            429 => exit::QUOTA,
            401 | 403 => exit::AUTH,
            _ => exit::OTHER,
        },
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(e) if e.request_id.is_empty() => write!(f, "{}: {}", e.status, e.message),
            Failure::Api(e) => write!(f, "{e}"),
            Failure::Usage(m)
            | Failure::NoCredentials(m)
            | Failure::WaitFailed(m)
            | Failure::Timeout(m)
            | Failure::Other(m) => write!(f, "kiln: {m}"),
        }
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        Failure::Api(e)
    }
}

/// The error `run` returns once it has printed the failure: carries the exit code.
#[derive(Debug, thiserror::Error)]
#[error("exit code {0}")]
pub struct Exit(pub u8);

/// The exit code of an error returned by [`run`], for `cli::main`.
pub fn exit_code(e: &anyhow::Error) -> Option<ExitCode> {
    e.downcast_ref::<Exit>().map(|x| ExitCode::from(x.0))
}

/// Everything a command needs: the signed client and how to present results.
pub struct Ctx {
    pub client: Client,
    pub format: Format,
    pub quiet: bool,
    pub progress: Progress,
    pub wait_timeout: Duration,
    pub verbose: bool,
    /// Where the endpoint and the keys came from, for the hint after a transport error.
    pub origin: Origin,
}

/// Where a command's settings came from ([`config::Resolved`]'s `*_from`).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub endpoint_from: String,
    pub keys_from: String,
    pub timeout: Duration,
}

impl Ctx {
    /// A context for `client` with table output and an automatic progress display.
    pub fn new(client: Client) -> Ctx {
        Ctx {
            client,
            format: Format::Table,
            quiet: false,
            progress: Progress::Auto,
            wait_timeout: Duration::from_secs(1800),
            verbose: false,
            origin: Origin::default(),
        }
    }

    fn from_common(c: &Common) -> Result<Ctx, Failure> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let env = |k: &str| std::env::var(k).ok();
        let r = config::resolve(c, &env, home.as_deref())?;
        if c.verbose {
            for line in r.describe() {
                errln!("kiln: {line}");
            }
        }
        let client = Client::new(&r.endpoint, &r.access_key, &r.secret_key, &r.region)
            .with_timeout(r.timeout);
        Ok(Ctx {
            client,
            format: c.output,
            quiet: c.quiet,
            progress: c.progress,
            wait_timeout: c.wait_timeout,
            verbose: c.verbose,
            origin: Origin {
                endpoint_from: r.endpoint_from,
                keys_from: r.keys_from,
                timeout: r.timeout,
            },
        })
    }

    /// After a transport error: where the endpoint came from, then one hint line.
    fn explain_transport(&self, kind: Transport) -> [String; 2] {
        let endpoint = self.client.endpoint();
        let from = match self.origin.endpoint_from.as_str() {
            "" => String::new(),
            "default" => format!("kiln: {endpoint} is the default endpoint"),
            src => format!("kiln: the endpoint {endpoint} came from {src}"),
        };
        let host = endpoint.split_once("://").map_or(endpoint, |(_, h)| h);
        let jd = host.contains("jdcloud-api.com");
        let hint = match kind {
            Transport::Refused if !jd => {
                let data_dir = self
                    .origin
                    .keys_from
                    .strip_suffix("/credentials")
                    .map(|d| format!(" --data-dir {d}"))
                    .unwrap_or_default();
                format!(
                    "hint: is `kiln serve` running on {host}? Start it with `kiln serve --listen \
                     {host}{data_dir}`, or name another endpoint with --endpoint or KILN_ENDPOINT."
                )
            }
            Transport::Timeout => format!(
                "hint: {host} did not answer within {:?}; is it overloaded, or are packets \
                 to it dropped? (a jdc profile's `timeout` sets this limit)",
                self.origin.timeout
            ),
            Transport::UnknownHost => {
                format!("hint: check the host name in the endpoint ({host}) and your DNS.")
            }
            Transport::NotJd => format!(
                "hint: {endpoint} is not a Kiln or JD Cloud API endpoint; Kiln listens where \
                 `kiln serve --listen` says (default 127.0.0.1:8700)."
            ),
            Transport::Refused | Transport::Connect | Transport::Other => {
                format!("hint: check that {host} is reachable from here (network, proxy, TLS).")
            }
        };
        [from, hint]
    }

    pub fn region(&self) -> &str {
        &self.client.region
    }

    /// The default availability zone of the region (`<region>a`).
    pub fn default_az(&self) -> String {
        format!("{}a", self.client.region)
    }

    fn log(&self, method: &str, service: &str, path: &str, query: &str) {
        if self.verbose {
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            errln!(
                "kiln: {method} {}/v1/regions/{}{path}{q}",
                self.client.base_url(service),
                self.client.region
            );
        }
    }

    pub async fn get(&self, service: &str, path: &str, query: &str) -> Result<Value, CallError> {
        self.log("GET", service, path, query);
        self.client.get(service, path, query).await
    }

    pub async fn post(&self, service: &str, path: &str, body: &Value) -> Result<Value, CallError> {
        self.log("POST", service, path, "");
        self.client.post(service, path, body).await
    }

    pub async fn delete(&self, service: &str, path: &str, query: &str) -> Result<Value, CallError> {
        self.log("DELETE", service, path, query);
        self.client.delete(service, path, query).await
    }

    pub async fn patch(&self, service: &str, path: &str, body: &Value) -> Result<Value, CallError> {
        self.log("PATCH", service, path, "");
        self.client.patch(service, path, body).await
    }

    /// GETs every page of a describe call (`pageSize` 100) and returns the `result` with
    /// `key` holding all items and `totalCount`; or only the page `paging` names.
    pub async fn get_all(
        &self,
        service: &str,
        path: &str,
        query: &output::Query,
        key: &str,
        paging: args::Paging,
    ) -> Result<Value, CallError> {
        if let Some((number, size)) = paging.one_page() {
            let mut q = query.clone();
            q.push("pageNumber", number.to_string());
            q.push("pageSize", size.to_string());
            return self.get(service, path, &q.encode()).await;
        }
        let mut all: Vec<Value> = Vec::new();
        let mut total = 0;
        for page in 1..=1000u32 {
            let mut q = query.clone();
            q.push("pageNumber", page.to_string());
            q.push("pageSize", "100");
            let r = self.get(service, path, &q.encode()).await?;
            let items = r[key].as_array().cloned().unwrap_or_default();
            total = r["totalCount"].as_u64().unwrap_or(0);
            let n = items.len();
            all.extend(items);
            if n == 0 || all.len() as u64 >= total {
                break;
            }
        }
        Ok(serde_json::json!({ key: all, "totalCount": total }))
    }
}

/// Runs a client command; on failure prints `STATUS: message (requestId …)` (or
/// `kiln: …`) on stderr and returns [`Exit`] with the command's exit code.
pub async fn run(cmd: ClientCommand, top: fn() -> clap::Command) -> anyhow::Result<()> {
    let common = match &cmd {
        ClientCommand::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut top(), "kiln", &mut script);
            crate::cli::out::stdout_bytes(&script);
            return Ok(());
        }
        ClientCommand::Instance(a) => &a.common,
        ClientCommand::Image(a) => &a.common,
        ClientCommand::Disk(a) => &a.common,
        ClientCommand::Snapshot(a) => &a.common,
        ClientCommand::Keypair(a) => &a.common,
        ClientCommand::Quota(a) => &a.common,
        ClientCommand::Vpc(a) => &a.common,
        ClientCommand::Subnet(a) => &a.common,
        ClientCommand::SecurityGroup(a) => &a.common,
        ClientCommand::Eip(a) => &a.common,
    };
    let ctx = match Ctx::from_common(common) {
        Ok(ctx) => ctx,
        Err(f) => return Err(report(&f, None)),
    };
    let result = match cmd {
        ClientCommand::Instance(a) => instance::run(&ctx, a.cmd).await,
        ClientCommand::Image(a) => image::run(&ctx, a.cmd).await,
        ClientCommand::Disk(a) => disk::run(&ctx, a.cmd).await,
        ClientCommand::Snapshot(a) => snapshot::run(&ctx, a.cmd).await,
        ClientCommand::Keypair(a) => keypair::run(&ctx, a.cmd).await,
        ClientCommand::Quota(a) => quota::run(&ctx, a.cmd).await,
        ClientCommand::Vpc(a) => vpc::run(&ctx, a.cmd).await,
        ClientCommand::Subnet(a) => subnet::run(&ctx, a.cmd).await,
        ClientCommand::SecurityGroup(a) => security_group::run(&ctx, a.cmd).await,
        ClientCommand::Eip(a) => eip::run(&ctx, a.cmd).await,
        ClientCommand::Completions { .. } => Ok(Outcome::default()),
    };
    match result {
        Ok(Outcome {
            exit_code: Some(code @ 1..),
            ..
        }) => Err(Exit(code).into()),
        Ok(_) => Ok(()),
        Err(f) => Err(report(&f, Some(&ctx))),
    }
}

/// Prints a failure on stderr (with where the endpoint came from and a hint, after a
/// transport error) and returns the [`Exit`] carrying its exit code.
fn report(f: &Failure, ctx: Option<&Ctx>) -> anyhow::Error {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    errln!("{f}");
    if let (Failure::Api(e), Some(ctx)) = (f, ctx) {
        if let Some(kind) = e.transport {
            for line in ctx.explain_transport(kind) {
                if !line.is_empty() {
                    errln!("{line}");
                }
            }
        }
    }
    Exit(f.exit_code()).into()
}

/// Parses `args` (without the leading `kiln`) as a client command and runs it with `ctx`,
/// as the command line would: what `kiln demo` uses to show the commands at work.
pub async fn run_args(ctx: &Ctx, args: &[&str]) -> Result<Outcome, Failure> {
    #[derive(Parser, Debug)]
    #[command(name = "kiln")]
    struct Line {
        #[command(subcommand)]
        cmd: ClientCommand,
    }
    let line = Line::try_parse_from(std::iter::once("kiln").chain(args.iter().copied()))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    match line.cmd {
        ClientCommand::Instance(a) => instance::run(ctx, a.cmd).await,
        ClientCommand::Image(a) => image::run(ctx, a.cmd).await,
        ClientCommand::Disk(a) => disk::run(ctx, a.cmd).await,
        ClientCommand::Snapshot(a) => snapshot::run(ctx, a.cmd).await,
        ClientCommand::Keypair(a) => keypair::run(ctx, a.cmd).await,
        ClientCommand::Quota(a) => quota::run(ctx, a.cmd).await,
        ClientCommand::Vpc(a) => vpc::run(ctx, a.cmd).await,
        ClientCommand::Subnet(a) => subnet::run(ctx, a.cmd).await,
        ClientCommand::SecurityGroup(a) => security_group::run(ctx, a.cmd).await,
        ClientCommand::Eip(a) => eip::run(ctx, a.cmd).await,
        ClientCommand::Completions { .. } => Err(Failure::Usage("not here".into())),
    }
}

/// `--wait` as every mutating command spells it.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct WaitFlag {
    /// Wait until the resource reaches its final state, with a live progress display
    #[arg(long, short = 'w')]
    pub wait: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[derive(Parser, Debug)]
    struct Top {
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn leaves(c: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        let subs: Vec<_> = c.get_subcommands().collect();
        if subs.is_empty() {
            out.push((path.clone(), c.clone()));
        }
        for s in subs {
            if s.get_name() == "help" {
                continue;
            }
            leaves(s, format!("{path} {}", s.get_name()), out);
        }
    }

    #[test]
    fn every_command_has_a_worked_example() {
        let mut cmd = Top::command();
        cmd.build();
        let mut all = Vec::new();
        leaves(&cmd, "kiln".into(), &mut all);
        // The walk reaches every leaf (at least the commands of round 1); each is checked below.
        assert!(
            all.len() >= 26,
            "{:?}",
            all.iter().map(|a| &a.0).collect::<Vec<_>>()
        );
        for (path, c) in &all {
            let help = c
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Example") && help.contains("kiln "),
                "{path} has no worked example in its help"
            );
        }
        Top::command().debug_assert();
    }

    #[test]
    fn exit_codes_by_status() {
        let e = |code: u16, status: &str| CallError {
            code,
            status: status.into(),
            message: String::new(),
            request_id: String::new(),
            transport: None,
        };
        assert_eq!(api_exit_code(&e(404, "NOT_FOUND")), exit::NOT_FOUND);
        assert_eq!(
            api_exit_code(&e(400, "FAILED_PRECONDITION")),
            exit::PRECONDITION
        );
        assert_eq!(api_exit_code(&e(429, "QUOTA_EXCEEDED")), exit::QUOTA);
        assert_eq!(api_exit_code(&e(401, "ACCESS_ERROR")), exit::AUTH);
        assert_eq!(api_exit_code(&e(0, "TRANSPORT")), exit::OTHER);
        assert_eq!(api_exit_code(&e(500, "INTERNAL")), exit::OTHER);
        assert_eq!(api_exit_code(&e(403, "WHATEVER")), exit::AUTH);
    }
}
