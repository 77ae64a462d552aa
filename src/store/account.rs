use super::{AccountRow, Db, DbResult, Stmt, ACCOUNT_COLUMNS};

pub async fn account_insert(db: &mut Db, a: &AccountRow) -> DbResult<()> {
    db.execute(
        Stmt::new(
            "INSERT INTO accounts(pin, name, access_key, secret_key, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.pin)
        .bind(&a.name)
        .bind(&a.access_key)
        .bind(&a.secret_key)
        .bind(a.disabled)
        .bind(a.created_at),
    )
    .await?;
    Ok(())
}

pub async fn account_list(db: &mut Db) -> DbResult<Vec<AccountRow>> {
    db.fetch_all(Stmt::new(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, pin"
    )))
    .await
}

pub async fn account_by_access_key(db: &mut Db, ak: &str) -> DbResult<Option<AccountRow>> {
    db.fetch_optional(
        Stmt::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE access_key = $1"
        ))
        .bind(ak),
    )
    .await
}

pub async fn account_by_pin(db: &mut Db, pin: &str) -> DbResult<Option<AccountRow>> {
    db.fetch_optional(
        Stmt::new(format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE pin = $1"
        ))
        .bind(pin),
    )
    .await
}

/// Disables or enables an account; false when there is no such account.
pub async fn account_set_disabled(db: &mut Db, pin: &str, disabled: bool) -> DbResult<bool> {
    let r = db
        .execute(
            Stmt::new("UPDATE accounts SET disabled = $1 WHERE pin = $2")
                .bind(disabled)
                .bind(pin),
        )
        .await?;
    Ok(r == 1)
}

/// Replaces an account's key pair; false when there is no such account.
pub async fn account_set_keys(
    db: &mut Db,
    pin: &str,
    access_key: &str,
    secret_key: &str,
) -> DbResult<bool> {
    let r = db
        .execute(
            Stmt::new("UPDATE accounts SET access_key = $1, secret_key = $2 WHERE pin = $3")
                .bind(access_key)
                .bind(secret_key)
                .bind(pin),
        )
        .await?;
    Ok(r == 1)
}
