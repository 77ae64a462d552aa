//! clientToken idempotency records.
use super::{now_ms, Conn, DbResult};

pub async fn token_get(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    op: &str,
    token: &str,
) -> DbResult<Option<String>> {
    sqlx::query_scalar(
        "SELECT result FROM client_tokens
         WHERE pin = $1 AND region = $2 AND operation = $3 AND token = $4",
    )
    .bind(pin)
    .bind(region)
    .bind(op)
    .bind(token)
    .fetch_optional(conn)
    .await
}

pub async fn token_put(
    conn: &mut Conn,
    pin: &str,
    region: &str,
    op: &str,
    token: &str,
    result: &str,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO client_tokens(pin, region, operation, token, result, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(pin)
    .bind(region)
    .bind(op)
    .bind(token)
    .bind(result)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}
