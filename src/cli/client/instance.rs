//! `kiln instance …`: createInstances, describeInstance(s), start/stop/reboot/deleteInstance,
//! attachDisk, detachDisk; the changes after launch are in `instance_change`.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::args::{DiskId, InstanceId, Paging};
use super::instance_change as change;
use super::output::{dash, fields, items, s, table, time, Query};
use super::rules::{self, DiskRule, SystemDisk};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

pub const GROUP_HELP: &str = "\
Example:
  kiln instance create --image img-ubuntu2204 --name builder --system-disk cloud --disk vdb=20 --wait
  kiln instance list --status running
  kiln instance stop i-abc123 --wait
  kiln instance resize i-abc123 --type g.n2.xlarge --wait
  kiln instance exec i-abc123 -- cat /etc/os-release      # --hypervisor qemu";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Launch instances from an image (createInstances).
    ///
    /// The system disk follows the image unless --system-disk says otherwise; the image's
    /// data disks come along, less those named by --exclude; --disk adds new ones.
    #[command(after_help = "\
Examples:
  kiln instance create --image img-ubuntu2204 --name builder --system-disk cloud --disk vdb=20 --wait
  kiln instance create --image img-abc123 --name web --exclude vdc --disk vde=hdd.std1:100 --wait
  kiln instance create --image img-abc123 --name worker --count 3 -q")]
    Create(Box<CreateArgs>),
    /// List instances (describeInstances; every page, or the one --page-number names).
    #[command(after_help = "\
Examples:
  kiln instance list
  kiln instance list --status running --name web -o json")]
    List(ListArgs),
    /// Show one instance with its disks (describeInstance).
    #[command(after_help = "Example:\n  kiln instance show i-abc123")]
    Show {
        #[command(flatten)]
        id: InstanceId,
    },
    /// Run a shell command in the running guest (`--hypervisor qemu`, through its guest
    /// agent): its output as it printed it, and its exit code.
    #[command(after_help = "\
Examples:
  kiln instance exec i-abc123 -- uname -a
  kiln instance exec i-abc123 --timeout 5m -- 'mkfs.ext4 -q /dev/vdb && mount /dev/vdb /mnt'")]
    Exec {
        #[command(flatten)]
        id: InstanceId,
        /// How long the command may run (at most 10m).
        #[arg(long, default_value = "30s", value_parser = crate::cli::parse_duration)]
        timeout: std::time::Duration,
        /// The command, run by /bin/sh -c (its words joined by spaces).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// The serial console of the guest (`--hypervisor qemu`): attached (new output as it
    /// comes, stdin lines typed in; ends at the end of stdin), or with --log the console
    /// log kept so far (also after the guest stopped).
    #[command(after_help = "\
Examples:
  kiln instance console i-abc123
  kiln instance console i-abc123 --log | tail")]
    Console {
        #[command(flatten)]
        id: InstanceId,
        /// Print the log kept so far and exit.
        #[arg(long)]
        log: bool,
    },
    /// Start a stopped instance (startInstance).
    #[command(after_help = "Example:\n  kiln instance start i-abc123 --wait")]
    Start {
        #[command(flatten)]
        id: InstanceId,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Stop a running instance (stopInstance).
    #[command(after_help = "Example:\n  kiln instance stop i-abc123 --wait")]
    Stop {
        #[command(flatten)]
        id: InstanceId,
        /// keepCharging or stopCharging (default: the instance's setting).
        #[arg(long, value_name = "MODE")]
        charge_on_stopped: Option<String>,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Reboot a running instance (rebootInstance).
    #[command(after_help = "Example:\n  kiln instance reboot i-abc123 --wait")]
    Reboot {
        #[command(flatten)]
        id: InstanceId,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Delete an instance (deleteInstance); cloud disks with autoDelete go with it.
    #[command(after_help = "Example:\n  kiln instance delete i-abc123 --wait")]
    Delete {
        #[command(flatten)]
        id: InstanceId,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Attach a cloud disk to an instance (attachDisk).
    #[command(
        after_help = "Example:\n  kiln instance attach-disk i-abc123 vol-def456 --device vdd --wait"
    )]
    AttachDisk {
        #[command(flatten)]
        id: InstanceId,
        #[command(flatten)]
        disk: DiskId,
        /// Device name (vdb … vdbm; default: the next free one).
        #[arg(long, visible_alias = "device-name", value_parser = rules::parse_device)]
        device: Option<String>,
        /// Delete the disk with the instance.
        #[arg(long)]
        auto_delete: bool,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Detach a cloud disk from an instance (detachDisk).
    #[command(after_help = "Example:\n  kiln instance detach-disk i-abc123 vol-def456 --wait")]
    DetachDisk {
        #[command(flatten)]
        id: InstanceId,
        #[command(flatten)]
        disk: DiskId,
        /// Cut IO forcibly.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        wait: WaitFlag,
    },
    /// Rename an instance, change its description or host name (modifyInstanceAttribute).
    #[command(after_help = "\
Examples:
  kiln instance modify i-abc123 --name web-2
  kiln instance modify i-abc123 --hostname web2 --description 'front end'")]
    Modify(change::ModifyArgs),
    /// Set the login password (modifyInstancePassword); it takes effect at the next start.
    #[command(after_help = "\
Examples:
  read -rs KILN_INSTANCE_PASSWORD && export KILN_INSTANCE_PASSWORD
  kiln instance set-password i-abc123
  kiln instance set-password i-abc123 --password 'Kiln-2026-ok'")]
    SetPassword(change::SetPasswordArgs),
    /// Whether cloud data disks go with the instance when it is deleted
    /// (modifyInstanceDiskAttribute).
    #[command(after_help = "\
Examples:
  kiln instance auto-delete i-abc123 --disk vol-def456
  kiln instance auto-delete i-abc123 --disk vol-def456 --off")]
    AutoDelete(change::AutoDeleteArgs),
    /// Change the instance type of a stopped instance (resizeInstance).
    #[command(after_help = "\
Example:
  kiln instance stop i-abc123 --wait
  kiln instance resize i-abc123 --type g.n2.xlarge --wait
  kiln instance start i-abc123 --wait")]
    Resize(change::ResizeArgs),
    /// Give a stopped instance a new system disk from an image (rebuildInstance); data
    /// disks are kept.
    #[command(after_help = "\
Examples:
  kiln instance rebuild i-abc123 --wait
  kiln instance rebuild i-abc123 --image img-def456 --password 'Kiln-2026-ok' --wait")]
    Rebuild(change::RebuildArgs),
    /// The instance types of the region (describeInstanceTypes).
    #[command(after_help = "\
Examples:
  kiln instance types
  kiln instance types --type g.n2.medium -o json")]
    Types(change::TypesArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Image to launch from (`kiln image list --source public`).
    #[arg(long, visible_alias = "image-id", value_name = "IMAGE_ID")]
    pub image: String,
    /// Instance name (2–128 characters).
    #[arg(long, default_value = "kiln-instance")]
    pub name: String,
    /// Instance type.
    #[arg(long = "type", value_name = "TYPE", default_value = "g.n2.medium")]
    pub instance_type: String,
    /// Availability zone [default: <region>a].
    #[arg(long)]
    pub az: Option<String>,
    /// `local`, or `cloud[:TYPE][:SIZE]` (e.g. cloud:ssd.gp1:60) [default: as the image].
    #[arg(long, value_name = "KIND", value_parser = rules::parse_system_disk)]
    pub system_disk: Option<SystemDisk>,
    /// Add a data disk: `[DEVICE=]SIZE|TYPE|snapshot-ID|auto-delete` joined by `:`,
    /// e.g. vdb=20, vdc=hdd.std1:100, vdd=snapshot-abc. Repeatable.
    #[arg(long = "disk", value_name = "RULE", value_parser = rules::parse_disk_rule)]
    pub disks: Vec<DiskRule>,
    /// Leave out one of the image's data disks. Repeatable.
    #[arg(long = "exclude", short = 'x', value_name = "DEVICE", value_parser = rules::parse_device)]
    pub excludes: Vec<String>,
    /// How many instances (maxCount).
    #[arg(long, visible_alias = "max-count", default_value_t = 1)]
    pub count: u32,
    /// Host name [default: the instance id].
    #[arg(long)]
    pub hostname: Option<String>,
    /// Description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// Subnet of the primary network interface [default: the region's default subnet].
    #[arg(long, visible_alias = "subnet-id", value_name = "SUBNET_ID")]
    pub subnet: Option<String>,
    /// A security group of the subnet's VPC (up to 5; repeatable) [default: the VPC's
    /// default group].
    #[arg(long = "security-group", value_name = "GROUP_ID", requires = "subnet")]
    pub security_groups: Vec<String>,
    /// The private address in the subnet (with --count 1) [default: the next free one].
    #[arg(long, value_name = "IP", requires = "subnet")]
    pub private_ip: Option<String>,
    /// A new elastic IP of this bandwidth (Mbps) on the primary interface, released with
    /// the instance.
    #[arg(long, value_name = "MBPS")]
    pub eip: Option<i64>,
    /// Login password: 8–30 characters of at least three of upper case, lower case,
    /// digits, specials.
    #[arg(long)]
    pub password: Option<String>,
    /// Key pair name (Linux). Repeatable.
    #[arg(long = "key", visible_alias = "key-names", value_name = "NAME")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only in these statuses (repeatable).
    #[arg(long)]
    pub status: Vec<String>,
    /// Name contains this.
    #[arg(long)]
    pub name: Option<String>,
    /// Only launched from this image (repeatable).
    #[arg(long)]
    pub image: Vec<String>,
    /// Only these ids (repeatable).
    #[arg(long)]
    pub id: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create(ctx, *a).await,
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Show { id } => show(ctx, &id.get()).await,
        Cmd::Exec {
            id,
            timeout,
            command,
        } => super::guest::exec(ctx, &id.get(), &command, timeout).await,
        Cmd::Console { id, log } => super::guest::console(ctx, &id.get(), log).await,
        Cmd::Start { id, wait } => {
            let id = id.get();
            action(
                ctx,
                &id,
                "startInstance",
                json!({}),
                "Starting",
                wait,
                "running",
            )
            .await
        }
        Cmd::Stop {
            id,
            charge_on_stopped,
            wait,
        } => {
            let id = id.get();
            let body = match charge_on_stopped {
                Some(m) => json!({ "chargeOnStopped": m }),
                None => json!({}),
            };
            action(ctx, &id, "stopInstance", body, "Stopping", wait, "stopped").await
        }
        Cmd::Reboot { id, wait } => {
            let id = id.get();
            action(
                ctx,
                &id,
                "rebootInstance",
                json!({}),
                "Rebooting",
                wait,
                "running",
            )
            .await
        }
        Cmd::Delete { id, wait } => {
            let id = id.get();
            let r = ctx.delete("vm", &format!("/instances/{id}"), "").await?;
            finish(
                ctx,
                &id,
                r,
                "Deleting",
                wait,
                Target::Instance(id.clone()),
                Want::Gone,
            )
            .await
        }
        Cmd::AttachDisk {
            id,
            disk,
            device,
            auto_delete,
            wait,
        } => {
            let (id, disk) = (id.get(), disk.get());
            let mut body = json!({ "diskId": disk, "autoDelete": auto_delete });
            if let Some(d) = device {
                body["deviceName"] = json!(d);
            }
            let r = ctx
                .post("vm", &format!("/instances/{id}:attachDisk"), &body)
                .await?;
            let target = Target::Attachment {
                disk: disk.clone(),
                instance: id.clone(),
            };
            let verb = format!("Attaching {disk} to");
            finish(ctx, &id, r, &verb, wait, target, Want::Status("attached")).await
        }
        Cmd::DetachDisk {
            id,
            disk,
            force,
            wait,
        } => {
            let (id, disk) = (id.get(), disk.get());
            let body = json!({ "diskId": disk, "force": force });
            let r = ctx
                .post("vm", &format!("/instances/{id}:detachDisk"), &body)
                .await?;
            let target = Target::Attachment {
                disk: disk.clone(),
                instance: id.clone(),
            };
            let verb = format!("Detaching {disk} from");
            finish(ctx, &id, r, &verb, wait, target, Want::Status("detached")).await
        }
        Cmd::Modify(a) => change::modify(ctx, a).await,
        Cmd::SetPassword(a) => change::set_password(ctx, a).await,
        Cmd::AutoDelete(a) => change::auto_delete(ctx, a).await,
        Cmd::Resize(a) => change::resize(ctx, a).await,
        Cmd::Rebuild(a) => change::rebuild(ctx, a).await,
        Cmd::Types(a) => change::types(ctx, a).await,
    }
}

async fn action(
    ctx: &Ctx,
    id: &str,
    action: &str,
    body: Value,
    verb: &str,
    wait: WaitFlag,
    want: &'static str,
) -> Result<Outcome, Failure> {
    let r = ctx
        .post("vm", &format!("/instances/{id}:{action}"), &body)
        .await?;
    let target = Target::Instance(id.to_string());
    finish(ctx, id, r, verb, wait, target, Want::Status(want)).await
}

/// After an action: a line for people, the wait if asked, then the id or `{}`.
async fn finish(
    ctx: &Ctx,
    id: &str,
    result: Value,
    verb: &str,
    wait: WaitFlag,
    target: Target,
    want: Want,
) -> Result<Outcome, Failure> {
    ctx.accepted("instance", id, result, verb, wait.wait, target, want)
        .await
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let mut spec = json!({
        "az": a.az.clone().unwrap_or_else(|| ctx.default_az()),
        "instanceType": a.instance_type,
        "imageId": a.image,
        "name": a.name,
    });
    if let Some(sd) = &a.system_disk {
        spec["systemDisk"] = sd.to_json();
    }
    let mut data: Vec<Value> = a.excludes.iter().map(|d| rules::exclude_json(d)).collect();
    data.extend(a.disks.iter().map(DiskRule::to_json));
    if !data.is_empty() {
        spec["dataDisks"] = Value::Array(data);
    }
    if let Some(h) = &a.hostname {
        spec["hostname"] = json!(h);
    }
    if let Some(d) = &a.description {
        spec["description"] = json!(d);
    }
    if let Some(subnet) = &a.subnet {
        let mut nic = json!({ "subnetId": subnet });
        if !a.security_groups.is_empty() {
            nic["securityGroups"] = json!(a.security_groups);
        }
        if let Some(ip) = &a.private_ip {
            nic["primaryIpAddress"] = json!(ip);
        }
        spec["primaryNetworkInterface"] = json!({ "networkInterface": nic });
    }
    if let Some(mbps) = a.eip {
        spec["elasticIp"] = json!({ "bandwidthMbps": mbps, "provider": "bgp" });
    }
    if let Some(p) = &a.password {
        spec["password"] = json!(p);
    }
    if !a.keys.is_empty() {
        spec["keyNames"] = json!(a.keys);
    }
    let body = json!({
        "instanceSpec": spec,
        "maxCount": a.count,
        "clientToken": crate::ids::random_suffix(32),
    });
    let r = ctx.post("vm", "/instances", &body).await?;
    let ids: Vec<String> = items(&r, "instanceIds")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    if ctx.human() {
        for id in &ids {
            outln!("Creating instance {id} from {}", a.image);
        }
    }
    if a.wait.wait {
        for id in &ids {
            ctx.wait_for(&Target::Instance(id.clone()), Want::Status("running"))
                .await?;
        }
    }
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("instanceId", &a.id)
        .filter("status", &a.status)
        .filter("imageId", &a.image)
        .filter("name", &a.name.into_iter().collect::<Vec<_>>());
    let r = ctx
        .get_all("vm", "/instances", &q, "instances", a.paging)
        .await?;
    let list = items(&r, "instances");
    let ids: Vec<String> = list.iter().map(|i| s(i, "/instanceId")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|i| {
                vec![
                    s(i, "/instanceId"),
                    s(i, "/instanceName"),
                    s(i, "/status"),
                    s(i, "/instanceType"),
                    s(i, "/az"),
                    s(i, "/imageId"),
                    system_disk_summary(i),
                    dash(data_devices(i)),
                    time(i, "/launchTime"),
                ]
            })
            .collect();
        table(
            &[
                "id",
                "name",
                "status",
                "type",
                "az",
                "image",
                "system disk",
                "data disks",
                "launched",
            ],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}

/// `114.67.0.12 (fip-abc)`, or `-`.
fn elastic_ip(i: &Value) -> String {
    let (addr, id) = (s(i, "/elasticIpAddress"), s(i, "/elasticIpId"));
    match (addr.is_empty(), id.is_empty()) {
        (true, _) => "-".into(),
        (false, true) => addr,
        (false, false) => format!("{addr} ({id})"),
    }
}

/// The primary interface's security groups, comma-separated.
fn security_groups(i: &Value) -> String {
    items(
        &i["primaryNetworkInterface"]["networkInterface"],
        "securityGroups",
    )
    .iter()
    .map(|g| match g.as_str() {
        Some(id) => id.to_string(),
        None => s(g, "/groupId"),
    })
    .collect::<Vec<_>>()
    .join(",")
}

fn system_disk_summary(i: &Value) -> String {
    let d = &i["systemDisk"];
    if s(d, "/diskCategory") == "cloud" {
        format!(
            "cloud {} {}G",
            s(d, "/cloudDisk/diskType"),
            s(d, "/cloudDisk/diskSizeGB")
        )
    } else {
        format!("local {}G", s(d, "/localDisk/diskSizeGB"))
    }
}

fn data_devices(i: &Value) -> String {
    items(i, "dataDisks")
        .iter()
        .map(|d| s(d, "/deviceName"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The disks of an instance (or an image's attachments) as a table.
pub fn disk_table(system: &Value, data: &[Value]) -> String {
    let mut rows = Vec::new();
    for d in std::iter::once(system).chain(data.iter()) {
        if d.is_null() {
            continue;
        }
        let cloud = s(d, "/diskCategory") == "cloud";
        let (id, ty, size, snap) = if cloud {
            (
                s(d, "/cloudDisk/diskId"),
                s(d, "/cloudDisk/diskType"),
                s(d, "/cloudDisk/diskSizeGB"),
                s(d, "/cloudDisk/snapshotId"),
            )
        } else {
            (
                String::new(),
                s(d, "/localDisk/diskType"),
                s(d, "/localDisk/diskSizeGB"),
                String::new(),
            )
        };
        rows.push(vec![
            s(d, "/deviceName"),
            s(d, "/diskCategory"),
            dash(id),
            dash(ty),
            if size.is_empty() {
                "-".into()
            } else {
                format!("{size}G")
            },
            dash(snap),
            dash(s(d, "/status")),
            if d["autoDelete"] == true { "yes" } else { "no" }.into(),
        ]);
    }
    table(
        &[
            "device",
            "category",
            "disk",
            "type",
            "size",
            "snapshot",
            "status",
            "auto-delete",
        ],
        &rows,
    )
}

async fn show(ctx: &Ctx, id: &str) -> Result<Outcome, Failure> {
    let r = ctx.get("vm", &format!("/instances/{id}"), "").await?;
    let i = &r["instance"];
    let ids = vec![s(i, "/instanceId")];
    ctx.emit(&ids, &r, || {
        let mut out = fields(&[
            ("ID", s(i, "/instanceId")),
            ("Name", s(i, "/instanceName")),
            ("Status", s(i, "/status")),
            ("Type", s(i, "/instanceType")),
            ("AZ", s(i, "/az")),
            ("Image", s(i, "/imageId")),
            ("Private IP", dash(s(i, "/privateIpAddress"))),
            ("Elastic IP", elastic_ip(i)),
            ("VPC", dash(s(i, "/vpcId"))),
            ("Subnet", dash(s(i, "/subnetId"))),
            ("Security groups", dash(security_groups(i))),
            ("Hostname", dash(s(i, "/hostname"))),
            ("Launched", time(i, "/launchTime")),
            ("Description", dash(s(i, "/description"))),
        ]);
        out.push('\n');
        out.push_str(&disk_table(&i["systemDisk"], items(i, "dataDisks")));
        out
    });
    Ok(Outcome::new(ids, r))
}
