//! Key pairs (vm): createKeypair, importKeypair, describeKeypairs, deleteKeypair,
//! attachKeypair / detachKeypair, and the check createInstances makes of `keyNames`.
//!
//! A key pair belongs to one account in one region and is named, not numbered: the name is
//! the key (JD's rule: 1–32 of letters, digits, `_`, `-`; unique per account and region).
//! Kiln keeps the public half only. The instances using a key name it on their row
//! (`key_names`), which describeInstance shows and describeKeypairs reads back.

use super::keypair_material::{self as material, SshPublicKey};
use super::listing::Page;
use super::quota::QuotaKind;
use super::{Scope, Service};
use crate::error::{ApiError, ApiResult};
use crate::store::keypair::{self as store_kp, KeypairRow};
use crate::store::status::InstanceStatus;
use crate::store::{self, now_ms, Db, InstanceRow};

/// A key name as JD allows it: 1–32 of ASCII letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    pub fn parse(name: Option<String>) -> ApiResult<KeyName> {
        let name = name.ok_or_else(|| missing("keyName"))?;
        let ok = (1..=32).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(ApiError::InvalidArgument(format!(
                "Invalid keyName '{name}': 1-32 of letters, digits, '_' and '-'"
            )));
        }
        Ok(KeyName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What createKeypair answers: the private key is shown this once and kept nowhere.
pub struct CreatedKeypair {
    pub key_name: String,
    pub private_key: zeroize::Zeroizing<String>,
    pub fingerprint: String,
}

/// A key pair as describeKeypairs lists it.
pub struct KeypairListing {
    pub row: KeypairRow,
    /// The account's instances in the region that use it, in launch order.
    pub instance_ids: Vec<String>,
}

/// What attach/detachKeypair answer. Kiln applies a call whole or refuses it with the
/// first instance's error, so `failed` stays empty (the field is JD's, for partial batches).
pub struct KeypairBindResult {
    pub succeeded: Vec<String>,
    pub failed: Vec<String>,
}

/// An instance's key, as attach and detach see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum InstanceKey {
    /// No key, or only names of key pairs that have since been deleted (JD: an instance
    /// whose key was deleted may be given another).
    Free,
    /// This call's key pair.
    This,
    /// Another key pair of the account.
    Other,
}

impl Service {
    pub async fn keypair_create(
        &self,
        scope: &Scope,
        key_name: Option<String>,
    ) -> ApiResult<CreatedKeypair> {
        let name = KeyName::parse(key_name)?;
        // Seconds of CPU at worst: made before the write transaction, off the async threads.
        let made = tokio::task::spawn_blocking(material::generate_rsa)
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::Internal)?;
        let fingerprint = self.keypair_insert(scope, &name, &made.public).await?;
        Ok(CreatedKeypair {
            key_name: name.0,
            private_key: made.private_pem,
            fingerprint,
        })
    }

    /// importKeypair: the caller's public key; its name and fingerprint.
    pub async fn keypair_import(
        &self,
        scope: &Scope,
        key_name: Option<String>,
        public_key: Option<String>,
    ) -> ApiResult<(String, String)> {
        let name = KeyName::parse(key_name)?;
        let text = public_key.ok_or_else(|| missing("publicKey"))?;
        let key = SshPublicKey::parse(&text).map_err(|why| {
            ApiError::FailedPrecondition(format!("Malformed PublicKey '{}': {why}", text.trim()))
        })?;
        let fingerprint = self.keypair_insert(scope, &name, &key).await?;
        Ok((name.0, fingerprint))
    }

    /// Records a new key pair: a free name, within the quota. Its fingerprint.
    async fn keypair_insert(
        &self,
        scope: &Scope,
        name: &KeyName,
        key: &SshPublicKey,
    ) -> ApiResult<String> {
        let mut tx = self.store.write().await?;
        if store_kp::keypair_get(&mut tx, &scope.pin, &scope.region, name.as_str())
            .await?
            .is_some()
        {
            return Err(ApiError::FailedPrecondition(format!(
                "KeyName '{}' already in use",
                name.as_str()
            )));
        }
        self.quota_check(&mut tx, scope, QuotaKind::Keypair, 1)
            .await?;
        let row = KeypairRow {
            pin: scope.pin.clone(),
            region: scope.region.clone(),
            name: name.as_str().to_string(),
            public_key: key.openssh(),
            fingerprint: key.md5_fingerprint(),
            created_at: now_ms(),
            seq: self.store.next_seq(),
        };
        store_kp::keypair_insert(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(row.fingerprint)
    }

    /// describeKeypairs: a page of the caller's key pairs (`names` empty: all) and the total.
    pub async fn keypair_list(
        &self,
        scope: &Scope,
        names: &[String],
        page: Page,
    ) -> ApiResult<(Vec<KeypairListing>, i64)> {
        let mut db = self.store.read().await?;
        let (rows, total) = store_kp::keypair_list(
            &mut db,
            &scope.pin,
            &scope.region,
            names,
            (page.limit(), page.offset()),
        )
        .await?;
        let users = store_kp::instances_with_keys(&mut db, &scope.pin, &scope.region).await?;
        let users: Vec<(String, Vec<String>)> = users
            .into_iter()
            .map(|u| (u.id, key_names_of(&u.key_names)))
            .collect();
        let listings = rows
            .into_iter()
            .map(|row| KeypairListing {
                instance_ids: users
                    .iter()
                    .filter(|(_, keys)| keys.contains(&row.name))
                    .map(|(id, _)| id.clone())
                    .collect(),
                row,
            })
            .collect();
        Ok((listings, total))
    }

    /// deleteKeypair. Instances using it keep working with the private key they have; JD
    /// then shows them without a key (and lets them be given another).
    pub async fn keypair_delete(&self, scope: &Scope, name: &str) -> ApiResult<()> {
        let mut tx = self.store.write().await?;
        keypair_of(&mut tx, scope, name).await?;
        store_kp::keypair_delete(&mut tx, &scope.pin, &scope.region, name).await?;
        for user in store_kp::instances_with_keys(&mut tx, &scope.pin, &scope.region).await? {
            let keys = key_names_of(&user.key_names);
            if keys.iter().any(|k| k == name) {
                let rest: Vec<String> = keys.into_iter().filter(|k| k != name).collect();
                set_key_names(&mut tx, &user.id, &rest).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// attachKeypair: Linux instances, running or stopped, without another key.
    /// `password_auth` (`yes`/`no`: whether SSH still takes the password) is checked and
    /// accepted; Kiln's guests have no SSH daemon to apply it to.
    pub async fn keypair_attach(
        &self,
        scope: &Scope,
        name: &str,
        instance_ids: Vec<String>,
        password_auth: Option<String>,
    ) -> ApiResult<KeypairBindResult> {
        if let Some(p) = password_auth.as_deref() {
            if !p.eq_ignore_ascii_case("yes") && !p.eq_ignore_ascii_case("no") {
                return Err(ApiError::InvalidArgument(format!(
                    "Invalid passWordAuth '{p}': yes or no"
                )));
            }
        }
        let ids = distinct_instance_ids(instance_ids)?;
        let mut tx = self.store.write().await?;
        keypair_of(&mut tx, scope, name).await?;
        for id in &ids {
            let row = self.instance_for_keys(&mut tx, scope, id).await?;
            if instance_key(&mut tx, scope, &row, name).await? != InstanceKey::Free {
                return Err(ApiError::FailedPrecondition(format!(
                    "Already attached key pair. instance id {id}"
                )));
            }
        }
        for id in &ids {
            set_key_names(&mut tx, id, &[name.to_string()]).await?;
        }
        tx.commit().await?;
        Ok(KeypairBindResult {
            succeeded: ids,
            failed: vec![],
        })
    }

    /// detachKeypair: from instances that have this key.
    pub async fn keypair_detach(
        &self,
        scope: &Scope,
        name: &str,
        instance_ids: Vec<String>,
    ) -> ApiResult<KeypairBindResult> {
        let ids = distinct_instance_ids(instance_ids)?;
        let mut tx = self.store.write().await?;
        keypair_of(&mut tx, scope, name).await?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            let row = self.instance_for_keys(&mut tx, scope, id).await?;
            if instance_key(&mut tx, scope, &row, name).await? != InstanceKey::This {
                // JD's words for "this instance does not have this key".
                return Err(ApiError::FailedPrecondition(format!(
                    "Already attached other keypair. instance id {id}"
                )));
            }
            rows.push(row);
        }
        for row in rows {
            let rest: Vec<String> = key_names_of(&row.key_names)
                .into_iter()
                .filter(|k| k != name)
                .collect();
            set_key_names(&mut tx, &row.id, &rest).await?;
        }
        tx.commit().await?;
        Ok(KeypairBindResult {
            succeeded: ids,
            failed: vec![],
        })
    }

    /// createInstances' `keyNames`: at most one key (JD: "one key, Linux only"), each a key
    /// pair of the caller in the region. Run it on the transaction that creates the
    /// instances, so that the key cannot be deleted in between.
    pub(crate) async fn check_key_names(
        &self,
        db: &mut Db,
        scope: &Scope,
        names: &[String],
    ) -> ApiResult<()> {
        if names.len() > 1 {
            return Err(ApiError::InvalidArgument(
                "Only one key pair may be given in keyNames".into(),
            ));
        }
        let present = store_kp::keypair_names_present(db, &scope.pin, &scope.region, names).await?;
        match names.iter().find(|n| !present.contains(n)) {
            // createInstances' documents spell it `KeyPair`; the keypair APIs `Keypair`.
            Some(n) => Err(ApiError::NotFound(format!("KeyPair '{n}' not found"))),
            None => Ok(()),
        }
    }

    /// The caller's instance, when attach/detach may change its key: Linux, running or
    /// stopped, no task under way.
    async fn instance_for_keys(
        &self,
        db: &mut Db,
        scope: &Scope,
        id: &str,
    ) -> ApiResult<InstanceRow> {
        let row = store::instance::instance_get(db, &scope.pin, &scope.region, id)
            .await?
            .ok_or_else(|| ApiError::instance_not_found(id))?;
        if self.runs_windows(db, scope, &row).await? {
            return Err(ApiError::FailedPrecondition(
                "Windows OS doesn't support attach keypair.".into(),
            ));
        }
        if let Some(task) = &row.task {
            return Err(ApiError::underlay_conflict(task));
        }
        if !matches!(
            row.status,
            InstanceStatus::Running | InstanceStatus::Stopped
        ) {
            return Err(ApiError::invalid_instance_status(row.status));
        }
        Ok(row)
    }

    /// Whether the instance's image is a Windows one (an image since deleted counts as
    /// Linux: Kiln cannot tell, and Linux is what takes keys).
    async fn runs_windows(&self, db: &mut Db, scope: &Scope, row: &InstanceRow) -> ApiResult<bool> {
        let image = match self
            .store
            .image_visible(Some(&mut *db), &scope.pin, &scope.region, &row.image_id)
            .await?
        {
            Some(image) => Some(image),
            None => {
                store::image_share::image_get_received(db, &scope.pin, &scope.region, &row.image_id)
                    .await?
            }
        };
        Ok(image.is_some_and(|i| i.os_type == "windows"))
    }
}

/// 404 for a name the caller has no key pair by (another account's included).
async fn keypair_of(db: &mut Db, scope: &Scope, name: &str) -> ApiResult<KeypairRow> {
    store_kp::keypair_get(db, &scope.pin, &scope.region, name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Keypair '{name}' not found")))
}

/// Which key the instance has, relative to `name`.
async fn instance_key(
    db: &mut Db,
    scope: &Scope,
    row: &InstanceRow,
    name: &str,
) -> ApiResult<InstanceKey> {
    let names = key_names_of(&row.key_names);
    if names.iter().any(|n| n == name) {
        return Ok(InstanceKey::This);
    }
    let live = store_kp::keypair_names_present(db, &scope.pin, &scope.region, &names).await?;
    Ok(if live.is_empty() {
        InstanceKey::Free
    } else {
        InstanceKey::Other
    })
}

/// `instanceIds` without repeats, in the order given; at least one.
fn distinct_instance_ids(ids: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(missing("instanceIds"));
    }
    Ok(out)
}

/// An instance row's `key_names` (a JSON list; anything else reads as none).
fn key_names_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

async fn set_key_names(db: &mut Db, instance_id: &str, names: &[String]) -> ApiResult<()> {
    let json = serde_json::to_string(names).map_err(ApiError::internal)?;
    store::instance::instance_set_key_names(db, instance_id, &json).await?;
    Ok(())
}

fn missing(what: &str) -> ApiError {
    ApiError::InvalidArgument(format!("Parameter {what} missing"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn key_names_follow_jds_rule() {
        for ok in ["a", "my-key_1", &"k".repeat(32)] {
            assert!(KeyName::parse(Some(ok.to_string())).is_ok(), "{ok}");
        }
        for bad in ["", "has space", "dot.ted", "密钥", &"k".repeat(33), "a/b"] {
            let e = KeyName::parse(Some(bad.to_string())).unwrap_err();
            assert_eq!(e.http_code(), 400, "{bad}");
            assert_eq!(e.jd_status(), "INVALID_ARGUMENT");
        }
        let e = KeyName::parse(None).unwrap_err();
        assert_eq!(e.wire_message(), "Parameter keyName missing");
    }

    #[test]
    fn instance_ids_lose_repeats_and_must_be_given() {
        let ids = distinct_instance_ids(vec!["i-b".into(), "i-a".into(), "i-b".into()]).unwrap();
        assert_eq!(ids, ["i-b", "i-a"]);
        let e = distinct_instance_ids(vec![]).unwrap_err();
        assert_eq!(e.wire_message(), "Parameter instanceIds missing");
    }

    #[test]
    fn key_lists_read_leniently() {
        assert_eq!(key_names_of(r#"["a","b"]"#), ["a", "b"]);
        assert!(key_names_of("[]").is_empty());
        assert!(key_names_of("not json").is_empty());
    }

    proptest! {
        #[test]
        fn name_checking_never_panics(s in ".{0,40}") {
            let _ = KeyName::parse(Some(s));
        }
    }
}
