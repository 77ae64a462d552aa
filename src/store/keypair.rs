//! Key pairs (vm createKeypair / importKeypair): the public half only, by account, region and
//! name. The instances using a key name it in their `key_names` (a JSON list); the queries
//! over those lists are here too, so that SQL stays in the store.

use sqlx::FromRow;

use super::{Db, DbResult, Stmt};

#[derive(Debug, Clone, FromRow)]
pub struct KeypairRow {
    pub pin: String,
    pub region: String,
    pub name: String,
    /// OpenSSH one-line form: `ssh-rsa AAAA… [comment]`.
    pub public_key: String,
    /// MD5 of the public key blob, `xx:xx:…`.
    pub fingerprint: String,
    pub created_at: i64,
    pub seq: i64,
}

direct_row!(
    KeypairRow,
    KEYPAIR_COLUMNS,
    [pin, region, name, public_key, fingerprint, created_at, seq]
);

/// An instance and the key names on its row (a JSON list, as stored).
#[derive(Debug, Clone, FromRow)]
pub struct InstanceKeysRow {
    pub id: String,
    pub key_names: String,
}

direct_row!(InstanceKeysRow, INSTANCE_KEYS_COLUMNS, [id, key_names]);

pub async fn keypair_insert(db: &mut Db, k: &KeypairRow) -> DbResult<()> {
    let st = Stmt::new(format!(
        "INSERT INTO keypairs({KEYPAIR_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"
    ))
    .bind(&k.pin)
    .bind(&k.region)
    .bind(&k.name)
    .bind(&k.public_key)
    .bind(&k.fingerprint)
    .bind(k.created_at)
    .bind(k.seq);
    db.execute(st).await?;
    Ok(())
}

pub async fn keypair_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    name: &str,
) -> DbResult<Option<KeypairRow>> {
    let mut st = Stmt::select_scoped(KEYPAIR_COLUMNS, "keypairs", pin, region);
    st.push(" AND name = ").push_bind(name);
    db.fetch_optional(st).await
}

/// Which of `names` the account has in the region.
pub async fn keypair_names_present(
    db: &mut Db,
    pin: &str,
    region: &str,
    names: &[String],
) -> DbResult<Vec<String>> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let mut st = Stmt::select_scoped("name", "keypairs", pin, region);
    st.push_in("name", names);
    db.scalar_all(st).await
}

/// How many key pairs the account has in the region (quota use).
pub async fn keypair_count(db: &mut Db, pin: &str, region: &str) -> DbResult<i64> {
    db.fetch_i64(Stmt::select_scoped("COUNT(*)", "keypairs", pin, region))
        .await
}

/// A page of the account's key pairs in the region (`names` empty: all), oldest first.
pub async fn keypair_list(
    db: &mut Db,
    pin: &str,
    region: &str,
    names: &[String],
    page: (i64, i64),
) -> DbResult<(Vec<KeypairRow>, i64)> {
    let select = |cols: &str| {
        let mut st = Stmt::select_scoped(cols, "keypairs", pin, region);
        st.push_in("name", names);
        st
    };
    super::list_page(db, select, KEYPAIR_COLUMNS, "seq, name", page).await
}

pub async fn keypair_delete(db: &mut Db, pin: &str, region: &str, name: &str) -> DbResult<()> {
    let st = Stmt::new("DELETE FROM keypairs WHERE pin = $1 AND region = $2 AND name = $3")
        .bind(pin)
        .bind(region)
        .bind(name);
    db.execute(st).await?;
    Ok(())
}

/// The account's instances in the region that name any key, in launch order. Key lists are
/// short JSON arrays; the caller reads them (a portable JSON query would differ per backend).
pub async fn instances_with_keys(
    db: &mut Db,
    pin: &str,
    region: &str,
) -> DbResult<Vec<InstanceKeysRow>> {
    let mut st = Stmt::select_scoped(INSTANCE_KEYS_COLUMNS, "instances", pin, region);
    st.push(" AND key_names <> '[]' ORDER BY seq, id");
    db.fetch_all(st).await
}
