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
