//! Request nonces shared by every node of a cluster (the gateway's replay check when the
//! store is PostgreSQL): claimed in the store so a replay to another node is refused too.

use super::Service;
use crate::error::ApiResult;
use crate::store::{self, Store};

#[derive(Clone)]
pub struct SharedNonces {
    store: Store,
}

impl Service {
    /// The shared nonce table, when several nodes share this store.
    pub fn shared_nonces(&self) -> Option<SharedNonces> {
        self.store.shared().then(|| SharedNonces {
            store: self.store.clone(),
        })
    }
}

impl SharedNonces {
    /// Records (access key, nonce) until `keep_until`; false when it was already there.
    pub async fn claim(
        &self,
        access_key: &str,
        nonce: &str,
        now: i64,
        keep_until: i64,
    ) -> ApiResult<bool> {
        let mut tx = self.store.write_unordered().await?;
        let fresh = store::nonce::nonce_claim(&mut tx, access_key, nonce, now, keep_until).await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Forgets nonces expired at `now`.
    pub async fn prune(&self, now: i64) -> ApiResult<()> {
        let mut tx = self.store.write_unordered().await?;
        store::nonce::nonce_prune(&mut tx, now).await?;
        Ok(tx.commit().await?)
    }
}
