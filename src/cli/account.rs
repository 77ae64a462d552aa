//! `kiln account create|list|disable|enable|rotate-key`: the accounts of a data directory.
//!
//! They write the SQLite database directly and work while `kiln serve` runs on the same
//! directory: the server looks the calling account up on every request, so a disabled
//! account or a rotated key is refused from the next request on (401 ACCESS_ERROR
//! `Invalid accessKey`). A secret key is printed once, by `create` or `rotate-key`, and
//! never again (`list` shows access keys only).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use crate::cli::out::{errln, out, outln};
use crate::service::Service;
use crate::store::AccountRow;

pub const GROUP_HELP: &str = "\
Examples:
  kiln account create --data-dir ./kiln-data --name ci
      {\"pin\":\"kiln-ab12cd34\",\"accessKey\":\"…\",\"secretKey\":\"…\"}   (the only time the secret is shown)
  kiln account list --data-dir ./kiln-data
  kiln account list --data-dir ./kiln-data --output json
  kiln account disable --data-dir ./kiln-data kiln-ab12cd34
  kiln account enable --data-dir ./kiln-data kiln-ab12cd34
  kiln account rotate-key --data-dir ./kiln-data kiln-ab12cd34

They work while `kiln serve` runs on the same data directory; changes apply from the
server's next request on.";

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Create an account with fresh keys and print {"pin", "accessKey", "secretKey"} as one
    /// JSON object. The secret key is shown this once only.
    #[command(after_help = "\
Example:
  kiln account create --data-dir ./kiln-data --name ci
      {\"pin\":\"kiln-ab12cd34\",\"accessKey\":\"…\",\"secretKey\":\"…\"}")]
    Create {
        /// The data directory of the server (its kiln.db).
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// A label for people (1–64 characters).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the accounts: pin, name, access key, status, creation time. Never secret keys.
    #[command(after_help = "\
Examples:
  kiln account list --data-dir ./kiln-data
  kiln account list --data-dir ./kiln-data --output json")]
    List {
        /// The data directory of the server (its kiln.db).
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
        output: Format,
    },
    /// Disable an account: every request signed with its key is refused (401 ACCESS_ERROR
    /// `Invalid accessKey`) until it is enabled again. Its resources are kept.
    #[command(
        after_help = "Example:\n  kiln account disable --data-dir ./kiln-data kiln-ab12cd34"
    )]
    Disable {
        /// The data directory of the server (its kiln.db).
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The account's pin (see `kiln account list`).
        pin: String,
    },
    /// Enable a disabled account again (same keys).
    #[command(after_help = "Example:\n  kiln account enable --data-dir ./kiln-data kiln-ab12cd34")]
    Enable {
        /// The data directory of the server (its kiln.db).
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The account's pin (see `kiln account list`).
        pin: String,
    },
    /// Replace an account's access and secret key and print the new
    /// {"pin", "accessKey", "secretKey"}; the old key is refused from now on. If
    /// <data-dir>/credentials holds this account's keys, it is rewritten.
    #[command(
        after_help = "Example:\n  kiln account rotate-key --data-dir ./kiln-data kiln-ab12cd34"
    )]
    RotateKey {
        /// The data directory of the server (its kiln.db).
        #[arg(long, default_value = "./kiln-data")]
        data_dir: PathBuf,
        /// The account's pin (see `kiln account list`).
        pin: String,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// An array of {pin, name, accessKey, disabled, createdAt}.
    Json,
}

pub async fn run(cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create { data_dir, name } => {
            let name = name.unwrap_or_default();
            if name.chars().count() > 64 || name.chars().any(char::is_control) {
                anyhow::bail!("invalid --name: at most 64 characters, no control characters");
            }
            let svc = open(&data_dir).await?;
            let a = svc.account_create(&name).await;
            svc.store().close().await;
            print_keys(&a?);
            errln!("Keep the secret key now: Kiln never shows it again.");
        }
        AccountCommand::List { data_dir, output } => {
            let svc = open(&data_dir).await?;
            let list = svc.account_list().await;
            svc.store().close().await;
            let list = list?;
            match output {
                Format::Json => {
                    let all: Vec<PublicView> = list.iter().map(public_view).collect();
                    outln!("{}", serde_json::to_string_pretty(&all)?);
                }
                Format::Table => out!("{}", table(&list)),
            }
        }
        AccountCommand::Disable { data_dir, pin } => set_disabled(&data_dir, &pin, true).await?,
        AccountCommand::Enable { data_dir, pin } => set_disabled(&data_dir, &pin, false).await?,
        AccountCommand::RotateKey { data_dir, pin } => {
            let svc = open(&data_dir).await?;
            let a = svc.account_rotate_key(&data_dir, &pin).await;
            svc.store().close().await;
            print_keys(&a?);
            errln!("The old key is refused from now on. Keep the new secret key now: Kiln never shows it again.");
        }
    }
    Ok(())
}

async fn open(data_dir: &Path) -> anyhow::Result<Service> {
    // A cluster's database: recorded in the data directory by `kiln serve --database`, or
    // named by KILN_DATABASE.
    let database = std::env::var("KILN_DATABASE")
        .ok()
        .filter(|s| !s.is_empty());
    if database.is_none() && !crate::store::has_metadata(data_dir) {
        anyhow::bail!(
            "no Kiln data in {} (start `kiln serve --data-dir {}` once first)",
            data_dir.display(),
            data_dir.display()
        );
    }
    let cfg = crate::service::Config {
        database,
        ..super::serve::default_config()
    };
    Service::open(data_dir, "qemu-img".into(), cfg).await
}

async fn set_disabled(data_dir: &Path, pin: &str, disabled: bool) -> anyhow::Result<()> {
    let svc = open(data_dir).await?;
    let a = svc.account_set_disabled(pin, disabled).await;
    svc.store().close().await;
    let a = a?;
    outln!(
        "Account {} ({}) {}.",
        a.pin,
        a.name,
        if a.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

/// The one line `create` and `rotate-key` print: the only place a secret key is shown.
fn print_keys(a: &AccountRow) {
    let keys = Keys {
        pin: &a.pin,
        access_key: &a.access_key,
        secret_key: &a.secret_key,
    };
    outln!("{}", serde_json::to_string(&keys).expect("keys as JSON"));
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Keys<'a> {
    pin: &'a str,
    access_key: &'a str,
    secret_key: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicView<'a> {
    pin: &'a str,
    name: &'a str,
    access_key: &'a str,
    disabled: bool,
    created_at: String,
}

/// What `list` shows of an account: everything but the secret key.
fn public_view(a: &AccountRow) -> PublicView<'_> {
    PublicView {
        pin: &a.pin,
        name: &a.name,
        access_key: &a.access_key,
        disabled: a.disabled,
        created_at: crate::http::views::iso_time(a.created_at),
    }
}

fn table(list: &[AccountRow]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                a.pin.clone(),
                if a.name.is_empty() {
                    "-".into()
                } else {
                    a.name.clone()
                },
                a.access_key.clone(),
                if a.disabled { "disabled" } else { "enabled" }.into(),
                crate::http::views::iso_time(a.created_at),
            ]
        })
        .collect();
    super::client::table(&["pin", "name", "access key", "status", "created"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pin: &str, disabled: bool) -> AccountRow {
        AccountRow {
            pin: pin.into(),
            name: String::new(),
            access_key: "AK1".into(),
            secret_key: "SECRET-NEVER-SHOWN".into(),
            disabled,
            created_at: 0,
        }
    }

    #[test]
    fn list_views_have_no_secret() {
        let rows = [row("kiln-a", false), row("kiln-b", true)];
        let text = table(&rows);
        assert!(text.starts_with("PIN"), "{text}");
        assert!(text.contains("disabled") && text.contains("enabled"));
        assert!(!text.contains("SECRET"));
        let json = serde_json::to_string(&rows.iter().map(public_view).collect::<Vec<_>>());
        assert!(!json.unwrap().contains("SECRET"));
        assert!(!format!("{:?}", rows[0]).contains("SECRET"));
    }
}
