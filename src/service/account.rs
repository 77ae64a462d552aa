//! Accounts. Every resource belongs to one (its `pin`). The first start creates one whose
//! keys come from `KILN_ACCESS_KEY`/`KILN_SECRET_KEY`, or are generated and written to
//! `<data-dir>/credentials` (mode 0600).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use crate::error::ApiResult;
use crate::ids::random_suffix;
use crate::store::{self, now_ms, AccountRow};

use super::stamp::{Stamp, StampFile};
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
        let existing = store::account::account_list(&mut tx).await?;
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
        store::account::account_insert(&mut tx, &account).await?;
        tx.commit().await?;
        write_credentials(data_dir, &account)?;
        Ok(Bootstrap {
            account,
            created: true,
        })
    }

    /// The account a request's access key names. Served from memory while the accounts are
    /// unchanged (`AccountCache`): the signature check then costs no database round trip.
    pub async fn account_by_access_key(&self, access_key: &str) -> ApiResult<Option<AccountRow>> {
        let stamp = self.accounts.current_stamp();
        if let Some(a) = self.accounts.get(access_key, &stamp) {
            return Ok(Some(a));
        }
        let mut conn = self.store.read().await?;
        let found = store::account::account_by_access_key(&mut conn, access_key).await?;
        if let Some(a) = &found {
            self.accounts.insert(access_key, a, &stamp);
        }
        Ok(found)
    }

    /// Whether `pin` is the server's first account, the operator's (Kiln's own APIs).
    pub async fn is_operator(&self, pin: &str) -> ApiResult<bool> {
        let mut conn = self.store.read().await?;
        let first = store::account::account_list(&mut conn)
            .await?
            .into_iter()
            .next();
        Ok(first.is_some_and(|a| a.pin == pin))
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
/// processes wait for each other instead of failing), then touches the data directory's
/// accounts stamp; the server looks at the stamp on every request and forgets its cached
/// accounts when it changed, so a change applies from its next request.
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
        store::account::account_insert(&mut tx, &account).await?;
        tx.commit().await?;
        self.accounts.changed()?;
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
        if !store::account::account_set_disabled(&mut tx, pin, disabled).await? {
            anyhow::bail!("no account with pin '{pin}'");
        }
        let account = store::account::account_by_pin(&mut tx, pin)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account with pin '{pin}'"))?;
        tx.commit().await?;
        self.accounts.changed()?;
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
        if !store::account::account_set_keys(&mut tx, pin, &access_key, &secret_key).await? {
            anyhow::bail!("no account with pin '{pin}'");
        }
        let account = store::account::account_by_pin(&mut tx, pin)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no account with pin '{pin}'"))?;
        tx.commit().await?;
        self.accounts.changed()?;
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

/// The server's memory of accounts by access key, valid while the accounts are unchanged.
///
/// Accounts change only through `kiln account …`, usually from another process. Each change
/// commits and then replaces `<data-dir>/accounts.stamp` (a new file renamed over the old
/// one). A request reads the stamp's identity (one `stat`) *before* it looks anything up;
/// a different stamp than the cache was filled under empties the cache, and a row read
/// from the database is only remembered under the stamp seen before the read, so a row
/// read before a change can never outlive it. With a database shared by several nodes the
/// stamp would become a generation counter kept next to the accounts (same interface).
pub struct AccountCache {
    stamp: StampFile,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    stamp: Option<Stamp>,
    by_key: HashMap<String, AccountRow>,
}

/// At most this many accounts are remembered (the cache is emptied when full).
const ACCOUNT_CACHE_MAX: usize = 10_000;

impl AccountCache {
    pub fn new(data_dir: &Path) -> AccountCache {
        AccountCache {
            stamp: StampFile::new(data_dir, "accounts.stamp"),
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The stamp as it is now (missing file included).
    pub fn current_stamp(&self) -> Stamp {
        self.stamp.current()
    }

    /// The remembered account for `access_key`, if the cache was filled under `stamp`.
    pub fn get(&self, access_key: &str, stamp: &Stamp) -> Option<AccountRow> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.stamp.as_ref() != Some(stamp) {
            inner.by_key.clear();
            inner.stamp = Some(stamp.clone());
            return None;
        }
        inner.by_key.get(access_key).cloned()
    }

    /// Remembers `account`, read from the database after `stamp` was seen; dropped if the
    /// stamp has changed since.
    pub fn insert(&self, access_key: &str, account: &AccountRow, stamp: &Stamp) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.stamp.as_ref() != Some(stamp) {
            return;
        }
        if inner.by_key.len() >= ACCOUNT_CACHE_MAX {
            inner.by_key.clear();
        }
        inner.by_key.insert(access_key.to_string(), account.clone());
    }

    /// Marks the accounts changed (after the change committed): every server on this data
    /// directory forgets what it remembered at its next request.
    pub fn changed(&self) -> std::io::Result<()> {
        self.stamp.touch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(ak: &str, disabled: bool) -> AccountRow {
        AccountRow {
            pin: "kiln-test".into(),
            name: "t".into(),
            access_key: ak.into(),
            secret_key: "SK".into(),
            disabled,
            created_at: 0,
        }
    }

    #[test]
    fn cache_serves_until_the_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let c = AccountCache::new(dir.path());
        let s0 = c.current_stamp();
        assert!(c.get("AK", &s0).is_none());
        c.insert("AK", &account("AK", false), &s0);
        assert!(!c.get("AK", &s0).unwrap().disabled);

        c.changed().unwrap();
        let s1 = c.current_stamp();
        assert_ne!(s0, s1);
        assert!(c.get("AK", &s1).is_none(), "a change empties the cache");
        c.insert("AK", &account("AK", true), &s1);
        assert!(c.get("AK", &s1).unwrap().disabled);
    }

    #[test]
    fn a_row_read_before_a_change_is_not_remembered_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = AccountCache::new(dir.path());
        let before = c.current_stamp();
        assert!(c.get("AK", &before).is_none());
        // A request read the row under `before`; meanwhile the account changed and another
        // request saw the new stamp.
        c.changed().unwrap();
        let after = c.current_stamp();
        assert!(c.get("AK", &after).is_none());
        c.insert("AK", &account("AK", false), &before);
        assert!(c.get("AK", &after).is_none(), "the stale row was dropped");
    }
}
