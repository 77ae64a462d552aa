//! clientToken idempotency records.
use super::{now_ms, Db, DbResult, Stmt};

pub async fn token_get(
    db: &mut Db,
    pin: &str,
    region: &str,
    op: &str,
    token: &str,
) -> DbResult<Option<String>> {
    db.scalar_optional(
        Stmt::new(
            "SELECT result FROM client_tokens
         WHERE pin = $1 AND region = $2 AND operation = $3 AND token = $4",
        )
        .bind(pin)
        .bind(region)
        .bind(op)
        .bind(token),
    )
    .await
}

pub async fn token_put(
    db: &mut Db,
    pin: &str,
    region: &str,
    op: &str,
    token: &str,
    result: &str,
) -> DbResult<()> {
    db.execute(
        Stmt::new(
            "INSERT INTO client_tokens(pin, region, operation, token, result, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(pin)
        .bind(region)
        .bind(op)
        .bind(token)
        .bind(result)
        .bind(now_ms()),
    )
    .await?;
    Ok(())
}
