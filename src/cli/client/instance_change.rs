//! `kiln instance modify|set-password|auto-delete|resize|rebuild|types`: the changes to an
//! instance after launch (modifyInstanceAttribute, modifyInstancePassword,
//! modifyInstanceDiskAttribute, resizeInstance, rebuildInstance) and describeInstanceTypes.

use clap::Args;
use serde_json::{json, Value};

use super::args::InstanceId;
use super::output::{items, s, table, Query};
use super::wait::{Target, Want};
use super::{Ctx, Failure, Outcome, WaitFlag};
use crate::cli::out::outln;

#[derive(Args, Debug)]
pub struct ModifyArgs {
    #[command(flatten)]
    pub id: InstanceId,
    #[command(flatten)]
    pub attrs: Attributes,
}

/// What modifyInstanceAttribute changes; one at least.
#[derive(Args, Debug)]
#[group(required = true, multiple = true)]
pub struct Attributes {
    /// New name (2–128 of Chinese, letters, digits, `_`, `-`, `.`).
    #[arg(long)]
    pub name: Option<String>,
    /// New description (up to 256 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// New host name (2–64 of letters, digits, `-`, `.`).
    #[arg(long)]
    pub hostname: Option<String>,
}

#[derive(Args, Debug)]
pub struct SetPasswordArgs {
    #[command(flatten)]
    pub id: InstanceId,
    /// The new password: 8–30 characters of at least three of upper case, lower case,
    /// digits, specials. Better from the environment, out of the shell's history.
    #[arg(long, env = "KILN_INSTANCE_PASSWORD", hide_env_values = true)]
    pub password: String,
}

#[derive(Args, Debug)]
pub struct AutoDeleteArgs {
    #[command(flatten)]
    pub id: InstanceId,
    /// A cloud data disk of the instance. Repeatable.
    #[arg(long = "disk", required = true, value_name = "DISK_ID")]
    pub disks: Vec<String>,
    /// Keep the disks when the instance is deleted (else they go with it).
    #[arg(long)]
    pub off: bool,
}

#[derive(Args, Debug)]
pub struct ResizeArgs {
    #[command(flatten)]
    pub id: InstanceId,
    /// The new instance type (`kiln instance types`).
    #[arg(long = "type", visible_alias = "instance-type", value_name = "TYPE")]
    pub instance_type: String,
    /// Accepted as JD takes it (Kiln keeps local data disks).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub id: InstanceId,
    /// The image for the new system disk [default: the one the instance runs].
    #[arg(long, visible_alias = "image-id", value_name = "IMAGE_ID")]
    pub image: Option<String>,
    /// A new login password (see set-password for the rules).
    #[arg(long)]
    pub password: Option<String>,
    /// A new host name.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Key pair name (Linux). Repeatable.
    #[arg(long = "key", visible_alias = "key-names", value_name = "NAME")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub wait: WaitFlag,
}

#[derive(Args, Debug)]
pub struct TypesArgs {
    /// Only these types (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only in these zones (repeatable).
    #[arg(long)]
    pub az: Vec<String>,
}

/// POSTs `action` on the instance (vm `/instances/{id}:{action}`).
async fn act(ctx: &Ctx, id: &str, action: &str, body: Value) -> Result<Value, Failure> {
    Ok(ctx
        .post("vm", &format!("/instances/{id}:{action}"), &body)
        .await?)
}

pub async fn modify(ctx: &Ctx, a: ModifyArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let mut body = json!({});
    for (k, v) in [
        ("name", &a.attrs.name),
        ("description", &a.attrs.description),
        ("hostname", &a.attrs.hostname),
    ] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let r = act(ctx, &id, "modifyInstanceAttribute", body).await?;
    Ok(ctx.finished(vec![id.clone()], r, || format!("Modified instance {id}")))
}

pub async fn set_password(ctx: &Ctx, a: SetPasswordArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let body = json!({ "password": a.password });
    let r = act(ctx, &id, "modifyInstancePassword", body).await?;
    Ok(ctx.finished(vec![id.clone()], r, || {
        format!("Set the password of instance {id}")
    }))
}

pub async fn auto_delete(ctx: &Ctx, a: AutoDeleteArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let disks: Vec<Value> = a
        .disks
        .iter()
        .map(|d| json!({ "diskId": d, "autoDelete": !a.off }))
        .collect();
    let body = json!({ "dataDisks": disks });
    let r = act(ctx, &id, "modifyInstanceDiskAttribute", body).await?;
    Ok(ctx.finished(a.disks.clone(), r, || {
        let what = if a.off { "kept" } else { "deleted" };
        format!("{} will be {what} with instance {id}", a.disks.join(", "))
    }))
}

/// After a change that leaves the instance stopped: a line, the wait, ids or `{}`.
async fn stopped(
    ctx: &Ctx,
    id: &str,
    r: Value,
    line: String,
    wait: bool,
) -> Result<Outcome, Failure> {
    if ctx.human() {
        outln!("{line}");
    }
    if wait {
        ctx.wait_for(&Target::Instance(id.to_string()), Want::Status("stopped"))
            .await?;
    }
    let r = if r.is_null() { json!({}) } else { r };
    let ids = vec![id.to_string()];
    if !ctx.human() {
        ctx.emit(&ids, &r, String::new);
    }
    Ok(Outcome::new(ids, r))
}

pub async fn resize(ctx: &Ctx, a: ResizeArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let mut body = json!({ "instanceType": a.instance_type });
    if a.force {
        body["force"] = json!(true);
    }
    let r = act(ctx, &id, "resizeInstance", body).await?;
    let line = format!("Resized instance {id} to {}", a.instance_type);
    stopped(ctx, &id, r, line, a.wait.wait).await
}

pub async fn rebuild(ctx: &Ctx, a: RebuildArgs) -> Result<Outcome, Failure> {
    let id = a.id.get();
    let mut body = json!({});
    if let Some(i) = &a.image {
        body["imageId"] = json!(i);
    }
    if let Some(p) = &a.password {
        body["password"] = json!(p);
    }
    if let Some(h) = &a.hostname {
        body["hostname"] = json!(h);
    }
    if !a.keys.is_empty() {
        body["keyNames"] = json!(a.keys);
    }
    let r = act(ctx, &id, "rebuildInstance", body).await?;
    let line = match &a.image {
        Some(i) => format!("Rebuilt instance {id} from {i}"),
        None => format!("Rebuilt instance {id}"),
    };
    stopped(ctx, &id, r, line, a.wait.wait).await
}

pub async fn types(ctx: &Ctx, a: TypesArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("instanceTypes", &a.types).filter("az", &a.az);
    let r = ctx.get("vm", "/instanceTypes", &q.encode()).await?;
    let list = items(&r, "instanceTypes");
    let ids: Vec<String> = list.iter().map(|t| s(t, "/instanceType")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|t| {
                let mb = t["memoryMB"].as_u64().unwrap_or(0);
                let memory = if mb % 1024 == 0 {
                    format!("{}G", mb / 1024)
                } else {
                    format!("{mb}M")
                };
                let local: Vec<String> = items(t, "localDisks")
                    .iter()
                    .map(|d| format!("{}G", s(d, "/diskSizeGB")))
                    .collect();
                let zones: Vec<String> = items(t, "state")
                    .iter()
                    .filter(|z| z["inStock"] == true)
                    .map(|z| s(z, "/az"))
                    .collect();
                vec![
                    s(t, "/instanceType"),
                    s(t, "/family"),
                    s(t, "/cpu"),
                    memory,
                    s(t, "/cloudDiskCountLimit"),
                    if local.is_empty() {
                        "-".into()
                    } else {
                        local.join(",")
                    },
                    zones.join(","),
                ]
            })
            .collect();
        table(
            &[
                "type",
                "family",
                "vcpu",
                "memory",
                "data disks",
                "local disk",
                "in stock",
            ],
            &rows,
        )
    });
    Ok(Outcome::new(ids, r))
}
