//! Signature nonces shared by every node of a cluster (PostgreSQL mode): a nonce is
//! accepted once per access key until it expires.
use super::{Db, DbResult, Stmt};

/// Records `(access_key, nonce)` until `expires_at` (unix seconds). False when the pair is
/// already recorded and not yet expired: a replay. One statement, so two nodes receiving
/// the same request at once cannot both accept it (the primary key decides).
pub async fn nonce_claim(
    db: &mut Db,
    access_key: &str,
    nonce: &str,
    now: i64,
    expires_at: i64,
) -> DbResult<bool> {
    let r = db
        .execute(
            Stmt::new(
                "INSERT INTO nonces(access_key, nonce, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (access_key, nonce) DO UPDATE SET expires_at = excluded.expires_at
         WHERE nonces.expires_at <= $4",
            )
            .bind(access_key)
            .bind(nonce)
            .bind(expires_at)
            .bind(now),
        )
        .await?;
    Ok(r == 1)
}

/// Forgets expired nonces.
pub async fn nonce_prune(db: &mut Db, now: i64) -> DbResult<u64> {
    db.execute(Stmt::new("DELETE FROM nonces WHERE expires_at <= $1").bind(now))
        .await
}
