use super::{AccountRow, Conn, DbResult};

pub async fn account_insert(conn: &mut Conn, a: &AccountRow) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO accounts(pin, name, access_key, secret_key, disabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&a.pin)
    .bind(&a.name)
    .bind(&a.access_key)
    .bind(&a.secret_key)
    .bind(a.disabled)
    .bind(a.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn account_list(conn: &mut Conn) -> DbResult<Vec<AccountRow>> {
    sqlx::query_as("SELECT * FROM accounts ORDER BY created_at, pin")
        .fetch_all(conn)
        .await
}

pub async fn account_by_access_key(conn: &mut Conn, ak: &str) -> DbResult<Option<AccountRow>> {
    sqlx::query_as("SELECT * FROM accounts WHERE access_key = $1")
        .bind(ak)
        .fetch_optional(conn)
        .await
}

pub async fn account_by_pin(conn: &mut Conn, pin: &str) -> DbResult<Option<AccountRow>> {
    sqlx::query_as("SELECT * FROM accounts WHERE pin = $1")
        .bind(pin)
        .fetch_optional(conn)
        .await
}

/// Disables or enables an account; false when there is no such account.
pub async fn account_set_disabled(conn: &mut Conn, pin: &str, disabled: bool) -> DbResult<bool> {
    let r = sqlx::query("UPDATE accounts SET disabled = $1 WHERE pin = $2")
        .bind(disabled)
        .bind(pin)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Replaces an account's key pair; false when there is no such account.
pub async fn account_set_keys(
    conn: &mut Conn,
    pin: &str,
    access_key: &str,
    secret_key: &str,
) -> DbResult<bool> {
    let r = sqlx::query("UPDATE accounts SET access_key = $1, secret_key = $2 WHERE pin = $3")
        .bind(access_key)
        .bind(secret_key)
        .bind(pin)
        .execute(conn)
        .await?;
    Ok(r.rows_affected() == 1)
}
