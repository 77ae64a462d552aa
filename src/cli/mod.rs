//! The `kiln` binary: `serve`, and admin commands that work on a data directory.

pub(crate) mod out;

mod account;
pub mod client;
mod demo;
pub mod demo_guest;
mod fault;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use out::{errln, out, outln};

#[derive(Parser, Debug)]
#[command(
    name = "kiln",
    version,
    about = "A JD Cloud-compatible VM image service with real qcow2 data",
    after_help = client::TOP_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the JD Cloud `vm` and `disk` APIs.
    #[command(after_help = "\
Examples:
  kiln serve
  kiln serve --listen 127.0.0.1:8700 --data-dir ./kiln-data --task-delay 500ms
  kiln serve --log-format json 2>> kiln.log")]
    Serve(Box<ServeArgs>),
    /// Run the main job end to end against an embedded server in a temporary directory:
    /// launch an instance, write guest data, bake a private image (one data disk excluded,
    /// one inserted), wait for `ready`, launch from it and verify the bytes.
    #[command(after_help = "\
Examples:
  kiln demo
  kiln demo --keep     # keep the data directory and print where it is
  kiln demo --hypervisor qemu   # the live variant (scripts/build-kiln-linux first)")]
    Demo {
        /// Keep the temporary data directory afterwards.
        #[arg(long)]
        keep: bool,
        /// `qemu`: the live variant. A Kiln Linux guest writes to two disks while its image
        /// is taken; the instance launched from the image boots and its disks agree.
        #[arg(long, value_enum, default_value_t = crate::hypervisor::HypervisorKind::None)]
        hypervisor: crate::hypervisor::HypervisorKind,
        /// The boot kit for `--hypervisor qemu` (`scripts/build-kiln-linux` makes it).
        #[arg(long, env = "KILN_GUEST_KIT", default_value = "target/kiln-linux")]
        guest_kit: PathBuf,
    },
    /// Operator commands on a data directory.
    #[command(
        subcommand,
        after_help = "\
Examples:
  kiln admin fsck --data-dir ./kiln-data
  kiln admin disk-path --data-dir ./kiln-data vol-abc123
  kiln admin openapi > openapi/kiln.json"
    )]
    Admin(AdminCommand),
    /// Accounts of a data directory: create (prints the keys once), list, disable, enable,
    /// rotate-key. Works while the server runs on it.
    #[command(subcommand, after_help = account::GROUP_HELP)]
    Account(account::AccountCommand),
    #[command(flatten)]
    Client(Box<client::ClientCommand>),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub listen: String,
    /// What runs instances: `none` (an instance is a row and `running` a status: fast
    /// emulation) or `qemu` (each running instance is a qemu-system-x86_64 process on its
    /// disks' layers, and images of running instances freeze the live guest).
    #[arg(long, value_enum, default_value_t = crate::hypervisor::HypervisorKind::None)]
    pub hypervisor: crate::hypervisor::HypervisorKind,
    /// QEMU's accelerator: `auto` uses KVM only where a KVM guest really starts, else TCG.
    #[arg(long, value_enum, default_value_t = crate::hypervisor::Accel::Auto)]
    pub accel: crate::hypervisor::Accel,
    /// The boot kit guests start from (`scripts/build-kiln-linux` makes it): vmlinuz,
    /// initrd.img, cmdline, and rootfs.qcow2, the public image img-kiln-linux.
    #[arg(long, env = "KILN_GUEST_KIT", default_value = "target/kiln-linux")]
    pub guest_kit: PathBuf,
    /// A guest's memory is its instance type's, at most this.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub guest_memory_max: usize,
    /// The QEMU system emulator to run guests with.
    #[arg(long, default_value = "qemu-system-x86_64")]
    pub qemu_system: PathBuf,
    /// How long a guest may take to boot (until its agent answers).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub boot_timeout: Duration,
    /// How long a stop's ACPI power-down may take before the guest is stopped hard.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub guest_stop_timeout: Duration,
    /// Where metadata (SQLite) and qcow2 layers live.
    #[arg(long, default_value = "./kiln-data")]
    pub data_dir: PathBuf,
    /// How long each instance transition (start, stop, reboot, attach, …) takes.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub transition_delay: Duration,
    /// The least time each data-plane task (disk, snapshot, image) takes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub task_delay: Duration,
    /// How long a deleted disk still reads `deleted` in describeDisk (as JD's do; Terraform
    /// waits for it) before it is gone (404).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub deleted_retention: Duration,
    /// Override a quota per account and region: KIND=N with KIND one of instance, disk,
    /// snapshot, image. Repeatable.
    #[arg(long = "quota", value_name = "KIND=N")]
    pub quotas: Vec<String>,
    /// How far a request's x-jdcloud-date may be from the server clock; a nonce may not be
    /// reused by the same access key within it.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub auth_skew: Duration,
    /// Requests per minute per account (429 HTTP_RATE_LIMIT_EXCEEDED beyond). Off by default.
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// The bytes of request bodies held in memory at once, over all requests (`32MiB`,
    /// `200MB`, …). A body that would pass it is refused with 503
    /// HTTP_SERVICE_UNAVAILABLE before it is read; each body may be up to 100 MB (JD's
    /// limit) within it.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub max_inflight_body: usize,
    /// Turn request-signature checks off (every request acts as the first account).
    /// For quick local experiments only.
    #[arg(long)]
    pub no_auth: bool,
    /// Kill a qemu-img run that takes longer than this (the operation then fails cleanly).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub qemu_img_timeout: Duration,
    /// The qemu-img program to run.
    #[arg(long, default_value = "qemu-img")]
    pub qemu_img: PathBuf,
    /// Keep metadata in this PostgreSQL database (`postgres://user@host:5432/db`) instead of
    /// `<data-dir>/kiln.db`; any number of nodes may share it and the storage root
    /// (`--data-dir`). Recorded in `<data-dir>/database-url`, so later commands on the data
    /// directory (`kiln admin fsck`, `kiln account …`) use it too.
    #[arg(long, env = "KILN_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// How long a claimed task stays this node's without renewal; a node that dies
    /// mid-task has its work finished by another node after this.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub task_lease: Duration,
    /// How long a database write waits for another writer (SQLite's busy timeout) before
    /// the call fails with 503 SERVICE UNAVAILABLE; a task step that meets it is retried.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub db_busy_timeout: Duration,
    /// Log lines on stderr: `text` (coloured only on a terminal, and not with NO_COLOR set)
    /// or `json` (one object per line, for log collectors). KILN_LOG sets the filter.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// A directory whose files importImage may read and exportImage may write into through
    /// `file://` URLs. Repeatable. Without any, `file://` URLs are refused: they reach the
    /// server's own filesystem.
    #[arg(long = "file-root", value_name = "DIR")]
    pub file_roots: Vec<PathBuf>,
    /// An address range `http(s)://` imports may reach although it is internal (loopback,
    /// private): on a server listening on a non-loopback address those are refused by
    /// default. Repeatable. Link-local addresses (169.254.0.0/16, fe80::/10) stay refused.
    #[arg(long = "import-allow", value_name = "CIDR")]
    pub import_allow: Vec<ipnet::IpNet>,
    /// An S3-compatible endpoint (e.g. `http://127.0.0.1:9000`) that JD OSS URLs
    /// (`https://<bucket>.s3.<region>.jdcloud-oss.com/…`) and `s3://bucket/key` map to, for
    /// exportImage's `ossUrl` and importImage's `imageUrl`. Without it OSS URLs are refused.
    #[arg(long = "oss-endpoint", value_name = "URL", env = "KILN_OSS_ENDPOINT")]
    pub oss_endpoint: Option<String>,
    /// The endpoint's access key.
    #[arg(
        long = "oss-access-key",
        env = "KILN_OSS_ACCESS_KEY",
        hide_env_values = true
    )]
    pub oss_access_key: Option<String>,
    /// The endpoint's secret key.
    #[arg(
        long = "oss-secret-key",
        env = "KILN_OSS_SECRET_KEY",
        hide_env_values = true
    )]
    pub oss_secret_key: Option<String>,
    /// The region the endpoint signs for.
    #[arg(long = "oss-region", default_value = "us-east-1")]
    pub oss_region: String,
}

impl ServeArgs {
    /// The object storage configured, if any; an endpoint without both keys is an error.
    pub fn oss_config(&self) -> anyhow::Result<Option<crate::oss::OssConfig>> {
        let Some(endpoint) = &self.oss_endpoint else {
            return Ok(None);
        };
        let (Some(access_key), Some(secret_key)) = (&self.oss_access_key, &self.oss_secret_key)
        else {
            anyhow::bail!("--oss-endpoint needs --oss-access-key and --oss-secret-key (or KILN_OSS_ACCESS_KEY / KILN_OSS_SECRET_KEY)");
        };
        Ok(Some(crate::oss::OssConfig {
            endpoint: endpoint.clone(),
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            region: self.oss_region.clone(),
        }))
    }
}

/// How `kiln serve` writes its log.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Print the path of a disk's writable top layer (qcow2), to write guest data into it
    /// with qemu-io while the server runs.
    #[command(after_help = "\
Examples:
  kiln admin disk-path --data-dir ./kiln-data vol-abc123
  kiln admin disk-path --data-dir ./kiln-data i-abc123 vda
  qemu-io -f qcow2 -c 'write -P 0x11 0 1M' \"$(kiln admin disk-path vol-abc123)\"")]
    DiskPath {
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The PostgreSQL database of a cluster (as for `fsck`).
        #[arg(long, env = "KILN_DATABASE", value_name = "URL")]
        database: Option<String>,
        /// A cloud disk id, or an instance id followed by a device name.
        id: String,
        device: Option<String>,
    },
    /// Report every inconsistency between metadata and storage (missing or orphan layer
    /// files, leaked layers, resources stuck busy or in transition with no task to finish
    /// them); exit non-zero if any. Run it with the server stopped.
    #[command(after_help = "\
Examples:
  kiln admin fsck --data-dir ./kiln-data
  kiln admin fsck --data-dir ./kiln-data --repair")]
    Fsck {
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The PostgreSQL database of a cluster (default: the one recorded in the data
        /// directory by `kiln serve --database`, else `<data-dir>/kiln.db`).
        #[arg(long, env = "KILN_DATABASE", value_name = "URL")]
        database: Option<String>,
        /// Fix what can be fixed safely (remove orphan files and leaked layers, mark stuck
        /// resources failed and idle) and say what was done.
        #[arg(long)]
        repair: bool,
    },
    /// Fault rules on demand: make calls fail, answer late, or have their asynchronous
    /// work fail or stall, to test code against failures. Works while the server runs.
    #[command(subcommand, after_help = fault::GROUP_HELP)]
    Fault(fault::FaultCommand),
    /// Print the OpenAPI document of everything Kiln serves (as at GET /openapi.json).
    #[command(after_help = "Example:\n  kiln admin openapi > openapi/kiln.json")]
    Openapi,
}

/// Durations like `0s`, `500ms`, `3s`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration '{s}': {e}"))
}

/// Sizes like `32MiB`, `200MB`, `1048576`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = s
        .trim()
        .parse()
        .map_err(|e| format!("invalid size '{s}': {e}"))?;
    usize::try_from(size.as_u64()).map_err(|_| format!("size '{s}' is too large"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server whose stdout reader went away still ends with its own status.
    let filter = !matches!(cli.command, Command::Serve(_));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("kiln: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Demo {
                keep,
                hypervisor,
                guest_kit,
            } => {
                demo::run(demo::DemoArgs {
                    keep,
                    hypervisor,
                    guest_kit,
                })
                .await
            }
            Command::Account(c) => account::run(c).await,
            Command::Client(c) => client::run(*c, Cli::command).await,
            Command::Admin(AdminCommand::Fsck {
                data_dir,
                database,
                repair,
            }) => fsck(data_dir, database, repair).await,
            Command::Admin(AdminCommand::Fault(c)) => fault::run(c).await,
            Command::Admin(AdminCommand::Openapi) => {
                out!("{}", crate::http::openapi::document_text());
                Ok(())
            }
            Command::Admin(AdminCommand::DiskPath {
                data_dir,
                database,
                id,
                device,
            }) => disk_path(data_dir, database, id, device).await,
        }
    });
    match result {
        Ok(()) => {
            if filter {
                // Output cut short by a closed pipe ends as a Unix filter's does.
                out::finish();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(code) = client::exit_code(&e) {
                return code; // already reported
            }
            errln!("kiln: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn disk_path(
    data_dir: PathBuf,
    database: Option<String>,
    id: String,
    device: Option<String>,
) -> anyhow::Result<()> {
    let svc = open_existing(&data_dir, database).await?;
    let path = svc
        .disk_top_path(&id, device.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.wire_message()))?;
    outln!("{}", path.display());
    svc.store().close().await;
    Ok(())
}

/// Opens an existing data directory (and its database) for an admin command.
async fn open_existing(
    data_dir: &std::path::Path,
    database: Option<String>,
) -> anyhow::Result<crate::service::Service> {
    if database.is_none() && !crate::store::has_metadata(data_dir) {
        anyhow::bail!("no Kiln data in {}", data_dir.display());
    }
    let cfg = crate::service::Config {
        database,
        ..serve::default_config()
    };
    crate::service::Service::open(data_dir, "qemu-img".into(), cfg).await
}

async fn fsck(data_dir: PathBuf, database: Option<String>, repair: bool) -> anyhow::Result<()> {
    let svc = open_existing(&data_dir, database).await?;
    let report = svc
        .fsck(repair)
        .await
        .map_err(|e| anyhow::anyhow!("fsck failed: {e:?}"))?;
    svc.store().close().await;
    for p in &report.problems {
        outln!("problem: {p}");
    }
    for r in &report.repairs {
        outln!("repaired: {r}");
    }
    let remaining = if repair {
        report.unrepairable
    } else {
        report.problems.len()
    };
    outln!(
        "fsck: {} problem(s) found, {} repaired, {} remaining",
        report.problems.len(),
        report.repairs.len(),
        remaining
    );
    if remaining > 0 {
        anyhow::bail!(
            "{remaining} inconsistency(ies) remain in {}",
            data_dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and command group but `kiln` itself, with its path.
    fn commands(c: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for s in c.get_subcommands() {
            if s.get_name() == "help" {
                continue;
            }
            let p = format!("{path} {}", s.get_name());
            out.push((p.clone(), s.clone()));
            commands(s, p, out);
        }
    }

    /// `--help` ends with the `after_help` text: it must hold a worked example, for every
    /// command (`serve`, `demo`, `admin …`, `account …` and the client commands).
    #[test]
    fn every_help_ends_with_a_worked_example() {
        let mut cli = Cli::command();
        cli.build();
        let mut all = Vec::new();
        commands(&cli, "kiln".into(), &mut all);
        assert!(all.len() > 40, "{}", all.len());
        for (path, c) in &all {
            let help = c
                .get_after_help()
                .map(|s| s.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Example") && help.contains(&format!("{path} ")),
                "`{path} --help` does not end with a worked example of `{path}`:\n{help}"
            );
        }
        Cli::command().debug_assert();
    }
}
