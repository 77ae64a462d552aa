//! `kiln keypair …`: createKeypair, importKeypair, describeKeypairs, deleteKeypair,
//! attachKeypair / detachKeypair.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::args::{expand_ids, KeyName, Paging};
use super::output::{dash, items, s, table, time, Query};
use super::{Ctx, Failure, Outcome};
use crate::cli::out::{errln, outln};

pub const GROUP_HELP: &str = "\
Example:
  kiln keypair create deploy --private-key-file ~/.ssh/deploy.pem
  kiln keypair attach deploy i-abc123";

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Make a new RSA key pair (createKeypair). Its private key is shown once: on stdout, or
    /// written to --private-key-file (mode 0600).
    #[command(after_help = "\
Examples:
  kiln keypair create deploy --private-key-file ~/.ssh/deploy.pem
  kiln keypair create deploy > deploy.pem")]
    Create(CreateArgs),
    /// Register the public half of a key made elsewhere (importKeypair).
    #[command(after_help = "\
Examples:
  kiln keypair import laptop --public-key-file ~/.ssh/id_ed25519.pub
  kiln keypair import laptop --public-key \"$(cat ~/.ssh/id_rsa.pub)\"")]
    Import(ImportArgs),
    /// List key pairs with their fingerprints and instances (describeKeypairs).
    #[command(after_help = "\
Examples:
  kiln keypair list
  kiln keypair list --name deploy -o json")]
    List(ListArgs),
    /// Delete a key pair (deleteKeypair); instances using it keep their login.
    #[command(after_help = "Example:\n  kiln keypair delete deploy")]
    Delete {
        #[command(flatten)]
        key: KeyName,
    },
    /// Give Linux instances a key pair (attachKeypair), one key per instance.
    #[command(
        after_help = "Example:\n  kiln keypair attach deploy i-abc123 i-def456 --password-auth no"
    )]
    Attach(AttachArgs),
    /// Take a key pair from instances (detachKeypair).
    #[command(after_help = "Example:\n  kiln keypair detach deploy i-abc123")]
    Detach(DetachArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    pub key: KeyName,
    /// Write the private key here (a new file, mode 0600) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub private_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[group(id = "source", required = true, multiple = false, args = ["public_key", "public_key_file"])]
pub struct ImportArgs {
    #[command(flatten)]
    pub key: KeyName,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    #[arg(long, value_name = "KEY")]
    pub public_key: Option<String>,
    /// A file holding the public key line (`~/.ssh/id_ed25519.pub`).
    #[arg(long, value_name = "FILE")]
    pub public_key_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only these names (repeatable).
    #[arg(long)]
    pub name: Vec<String>,
    #[command(flatten)]
    pub paging: Paging,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Key pair name.
    #[arg(value_name = "KEY_NAME")]
    pub key: String,
    /// The instances (also as a JSON list, `'["i-a","i-b"]'`, as jdc gives lists).
    #[arg(value_name = "INSTANCE_ID", required = true)]
    pub instances: Vec<String>,
    /// Whether SSH still takes the password once the key is on: yes or no.
    #[arg(long, value_name = "yes|no", value_parser = ["yes", "no"])]
    pub password_auth: Option<String>,
}

#[derive(Args, Debug)]
pub struct DetachArgs {
    /// Key pair name.
    #[arg(value_name = "KEY_NAME")]
    pub key: String,
    /// The instances.
    #[arg(value_name = "INSTANCE_ID", required = true)]
    pub instances: Vec<String>,
}

pub async fn run(ctx: &Ctx, cmd: Cmd) -> Result<Outcome, Failure> {
    match cmd {
        Cmd::Create(a) => create(ctx, a).await,
        Cmd::Import(a) => import(ctx, a).await,
        Cmd::List(a) => list(ctx, a).await,
        Cmd::Delete { key } => {
            let name = key.get();
            let r = ctx.delete("vm", &format!("/keypairs/{name}"), "").await?;
            if ctx.human() {
                outln!("Deleted key pair {name}");
            }
            let ids = vec![name];
            if !ctx.human() {
                ctx.emit(&ids, &r, String::new);
            }
            Ok(Outcome::new(ids, r))
        }
        Cmd::Attach(a) => {
            let mut body = json!({ "instanceIds": expand_ids(&a.instances) });
            if let Some(p) = a.password_auth {
                body["passWordAuth"] = json!(p);
            }
            bind(ctx, &a.key, "attach", body).await
        }
        Cmd::Detach(a) => {
            let body = json!({ "instanceIds": expand_ids(&a.instances) });
            bind(ctx, &a.key, "detach", body).await
        }
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<Outcome, Failure> {
    let name = a.key.get();
    // A file that cannot be written is found out before a key is made that no one keeps.
    let file = match &a.private_key_file {
        Some(path) => Some(new_private_file(path)?),
        None => None,
    };
    let r = ctx
        .post("vm", "/keypairs", &json!({ "keyName": name }))
        .await?;
    let pem = s(&r, "/privateKey");
    let fingerprint = s(&r, "/keyFingerprint");
    let ids = vec![s(&r, "/keyName")];
    match (file, &a.private_key_file) {
        (Some(mut f), Some(path)) => {
            f.write_all(pem.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| {
                    Failure::Other(format!(
                        "key pair {name} was made, but its private key could not be written \
                         to {}: {e}; delete it with `kiln keypair delete {name}`",
                        path.display()
                    ))
                })?;
            if ctx.human() {
                outln!(
                    "Created key pair {name} ({fingerprint}); private key in {}",
                    path.display()
                );
            } else {
                ctx.emit(&ids, &without_private_key(&r), String::new);
            }
        }
        _ if ctx.human() => {
            outln!("{}", pem.trim_end());
            errln!("kiln: created key pair {name} ({fingerprint}); its private key above is shown only this once");
        }
        _ => ctx.emit(&ids, &r, String::new),
    }
    Ok(Outcome::new(ids, r))
}

/// A new file for a private key, readable by its owner only; never an existing one.
fn new_private_file(path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Failure::Usage(format!("--private-key-file {}: {e}", path.display())))
}

/// The result as shown once the private key went to a file.
fn without_private_key(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("privateKey");
    }
    r
}

async fn import(ctx: &Ctx, a: ImportArgs) -> Result<Outcome, Failure> {
    let name = a.key.get();
    let public_key = match (a.public_key, &a.public_key_file) {
        (Some(k), _) => k,
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("--public-key-file {}: {e}", path.display())))?,
        (None, None) => return Err(Failure::Usage("--public-key or --public-key-file".into())),
    };
    let body = json!({ "keyName": name, "publicKey": public_key.trim() });
    let r = ctx.post("vm", "/keypairs:import", &body).await?;
    let ids = vec![s(&r, "/keyName")];
    ctx.emit(&ids, &r, || {
        format!(
            "Imported key pair {} ({})",
            s(&r, "/keyName"),
            s(&r, "/keyFingerprint")
        )
    });
    Ok(Outcome::new(ids, r))
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<Outcome, Failure> {
    let mut q = Query::new();
    q.filter("keyNames", &a.name);
    let r = ctx
        .get_all("vm", "/keypairs", &q, "keypairs", a.paging)
        .await?;
    let list = items(&r, "keypairs");
    let ids: Vec<String> = list.iter().map(|x| s(x, "/keyName")).collect();
    ctx.emit(&ids, &r, || {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|x| {
                vec![
                    s(x, "/keyName"),
                    s(x, "/keyFingerprint"),
                    dash(instances(x)),
                    time(x, "/createTime"),
                ]
            })
            .collect();
        table(&["name", "fingerprint", "instances", "created"], &rows)
    });
    Ok(Outcome::new(ids, r))
}

fn instances(x: &Value) -> String {
    items(x, "instanceIds")
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// attach or detach: the instances it succeeded for are the ids.
async fn bind(ctx: &Ctx, name: &str, action: &str, body: Value) -> Result<Outcome, Failure> {
    let r = ctx
        .post("vm", &format!("/keypairs/{name}:{action}"), &body)
        .await?;
    let ids: Vec<String> = items(&r, "successInstanceId")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let verb = if action == "attach" {
        "Attached"
    } else {
        "Detached"
    };
    ctx.emit(&ids, &r, || {
        format!("{verb} key pair {name}: {}", ids.join(", "))
    });
    Ok(Outcome::new(ids, r))
}
