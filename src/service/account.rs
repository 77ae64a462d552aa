//! Accounts. Every resource belongs to one (its `pin`). The first start creates one whose
//! keys come from `KILN_ACCESS_KEY`/`KILN_SECRET_KEY`, or are generated and written to
//! `<data-dir>/credentials` (mode 0600).

use std::io::Write;
use std::path::Path;

use crate::error::ApiResult;
use crate::ids::random_suffix;
use crate::store::{self, now_ms, AccountRow};

use super::Service;

/// Keys supplied from outside (the environment) for the first account.
#[derive(Debug, Clone, Default)]
pub struct SuppliedKeys {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
}

pub struct Bootstrap {
    pub account: AccountRow,
    /// True when this start created the account (its keys are shown once).
    pub created: bool,
}

impl Service {
    /// Makes sure the account for `keys` (or, without keys, a first account) exists.
    pub async fn ensure_account(
        &self,
        data_dir: &Path,
        keys: &SuppliedKeys,
    ) -> anyhow::Result<Bootstrap> {
        let mut tx = self.store.write().await?;
        let existing = store::account::account_list(tx.conn()).await?;
        if let Some(ak) = &keys.access_key {
            if let Some(a) = existing.iter().find(|a| &a.access_key == ak) {
                return Ok(Bootstrap {
                    account: a.clone(),
                    created: false,
                });
            }
        } else if let Some(first) = existing.first() {
            return Ok(Bootstrap {
                account: first.clone(),
                created: false,
            });
        }
        let account = AccountRow {
            pin: format!("kiln-{}", random_suffix(8)),
            name: if existing.is_empty() {
                "default".into()
            } else {
                "env".into()
            },
            access_key: keys
                .access_key
                .clone()
                .unwrap_or_else(|| random_suffix(32).to_uppercase()),
            secret_key: keys
                .secret_key
                .clone()
                .unwrap_or_else(|| random_suffix(32).to_uppercase()),
            disabled: false,
            created_at: now_ms(),
        };
        store::account::account_insert(tx.conn(), &account).await?;
        tx.commit().await?;
        write_credentials(data_dir, &account)?;
        Ok(Bootstrap {
            account,
            created: true,
        })
    }

    pub async fn account_by_access_key(&self, access_key: &str) -> ApiResult<Option<AccountRow>> {
        let mut conn = self.store.read().await?;
        Ok(store::account::account_by_access_key(&mut conn, access_key).await?)
    }

    /// With `--no-auth`: the account a (unverified) access key names, else the first one.
    pub async fn account_for_key(&self, access_key: Option<&str>) -> ApiResult<Option<AccountRow>> {
        let mut conn = self.store.read().await?;
        if let Some(ak) = access_key {
            if let Some(a) = store::account::account_by_access_key(&mut conn, ak).await? {
                return Ok(Some(a));
            }
        }
        Ok(store::account::account_list(&mut conn)
            .await?
            .into_iter()
            .next())
    }
}

/// Operator commands (`kiln account …`), run from another process than the server. Each is
/// one short write transaction (`Store::write` takes SQLite's write lock up front, so the two
/// processes wait for each other instead of failing); the server reads the account on every
/// request, so a change applies from its next one.
impl Service {
    /// A new enabled account with fresh keys.
    pub async fn account_create(&self, name: &str) -> anyhow::Result<AccountRow> {
        let (access_key, secret_key) = new_keys();
        let account = AccountRow {
            pin: format!("kiln-{}", random_suffix(8)),
            name: name.to_string(),
            access_key,
            secret_key,
            disabled: false,
            created_at: now_ms(),
        };
        let mut tx = self.store.write().await?;
        store::account::account_insert(tx.conn(), &account).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// Every account, oldest first.
    pub async fn account_list(&self) -> anyhow::Result<Vec<AccountRow>> {
        let mut conn = self.store.read().await?;
        Ok(store::account::account_list(&mut conn).await?)
    }

    /// Disables (requests signed with its key are refused: `Invalid accessKey`) or enables
    /// an account. Returns the account as it now is.
    pub async fn account_set_disabled(
        &self,
        pin: &str,
        disabled: bool,
    ) -> anyhow::Result<AccountRow> {
        let mut tx = self.store.write().await?;
        if !store::account::account_set_disabled(tx.conn(), pin, disabled).await? {
            anyhow::bail!("no account with pin '{pin}'");
        }
        let account = store::account::account_by_pin(tx.conn(), pin)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account with pin '{pin}'"))?;
        tx.commit().await?;
        Ok(account)
    }

    /// Replaces the account's access and secret key; the old pair stops working at once.
    /// When `<data-dir>/credentials` holds this account's keys it is rewritten with the new
    /// ones.
    pub async fn account_rotate_key(
        &self,
        data_dir: &Path,
        pin: &str,
    ) -> anyhow::Result<AccountRow> {
        let (access_key, secret_key) = new_keys();
        let mut tx = self.store.write().await?;
        if !store::account::account_set_keys(tx.conn(), pin, &access_key, &secret_key).await? {
            anyhow::bail!("no account with pin '{pin}'");
        }
        let account = store::account::account_by_pin(tx.conn(), pin)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account with pin '{pin}'"))?;
        tx.commit().await?;
        if credentials_pin(data_dir).as_deref() == Some(pin) {
            write_credentials(data_dir, &account)?;
        }
        Ok(account)
    }
}

/// A fresh key pair: 32 random characters each (uppercase letters and digits).
fn new_keys() -> (String, String) {
    (
        random_suffix(32).to_uppercase(),
        random_suffix(32).to_uppercase(),
    )
}

/// The pin named on the first line of `<data-dir>/credentials` (`# Kiln account PIN (NAME)`).
fn credentials_pin(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join("credentials")).ok()?;
    let rest = text.lines().next()?.strip_prefix("# Kiln account ")?;
    rest.split_whitespace().next().map(str::to_string)
}

fn write_credentials(data_dir: &Path, a: &AccountRow) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("credentials");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(f, "# Kiln account {} ({})", a.pin, a.name)?;
    writeln!(f, "KILN_ACCESS_KEY={}", a.access_key)?;
    writeln!(f, "KILN_SECRET_KEY={}", a.secret_key)?;
    Ok(())
}
