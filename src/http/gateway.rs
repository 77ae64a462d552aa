//! Gateway protections in front of every API: request freshness (`x-jdcloud-date` within a
//! skew window), nonce replay, and a per-account request rate limit. In-memory and per
//! node, except the nonces of a cluster: with a shared store (PostgreSQL) they live in its
//! `nonces` table, so a request replayed to another node is refused too. The rate limit
//! stays per node (a cluster of N nodes admits up to N times the limit).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy)]
pub struct GatewayConfig {
    /// How far `x-jdcloud-date` may be from the server's clock.
    pub skew: Duration,
    /// Requests per minute per account; `None` = unlimited.
    pub rate_limit: Option<u32>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            skew: Duration::from_secs(15 * 60),
            rate_limit: None,
        }
    }
}

pub struct Gateway {
    pub cfg: GatewayConfig,
    /// Nonces seen inside the window (this node's, without a shared store).
    nonces: Mutex<SeenNonces>,
    /// pin → (minute, requests in that minute).
    rates: Mutex<HashMap<String, (i64, u32)>>,
    /// Where nonces live when several nodes share the work.
    shared: Option<crate::store::Store>,
    /// When expired shared nonces were last deleted (unix seconds).
    last_prune: std::sync::atomic::AtomicI64,
}

/// The nonces seen in the last `2 × skew`, each as a keyed 128-bit digest of (access key,
/// nonce) (two SipHash keys chosen at start-up: 40 bytes an entry, and no way for a client
/// to make two of its nonces collide). Entries expire in the order they were recorded
/// (every entry lives the same time), so forgetting the expired ones pops them off the
/// front of a queue: constant work per request. (It was a scan of every entry on every
/// request once 100,000 were kept: after a minute of load each request paid ~0.5 ms.)
struct SeenNonces {
    until: HashMap<u128, i64>,
    order: VecDeque<(i64, u128)>,
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
}

impl SeenNonces {
    fn new() -> SeenNonces {
        SeenNonces {
            until: HashMap::new(),
            order: VecDeque::new(),
            keys: Default::default(),
        }
    }

    fn digest(&self, access_key: &str, nonce: &str) -> u128 {
        let half =
            |k: &std::collections::hash_map::RandomState| k.hash_one((access_key, nonce)) as u128;
        (half(&self.keys.0) << 64) | half(&self.keys.1)
    }

    /// Records the nonce until `keep_until`; false if it is already recorded and unexpired.
    fn claim(&mut self, access_key: &str, nonce: &str, now: i64, keep_until: i64) -> bool {
        while let Some(&(until, d)) = self.order.front() {
            if until > now {
                break;
            }
            self.order.pop_front();
            if self.until.get(&d) == Some(&until) {
                self.until.remove(&d);
            }
        }
        let d = self.digest(access_key, nonce);
        if self.until.get(&d).is_some_and(|until| *until > now) {
            return false;
        }
        self.until.insert(d, keep_until);
        self.order.push_back((keep_until, d));
        true
    }
}

impl Gateway {
    pub fn new(cfg: GatewayConfig) -> Gateway {
        Gateway {
            cfg,
            nonces: Mutex::new(SeenNonces::new()),
            rates: Mutex::new(HashMap::new()),
            shared: None,
            last_prune: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Keeps nonces in `store` (shared by every node of a cluster) instead of in memory.
    pub fn with_shared_nonces(mut self, store: crate::store::Store) -> Gateway {
        self.shared = Some(store);
        self
    }

    /// The nonce check: in the shared store when there is one, else in memory.
    pub async fn claim_nonce(&self, access_key: &str, nonce: &str) -> ApiResult<()> {
        let Some(store) = &self.shared else {
            return self.check_nonce(access_key, nonce);
        };
        use std::sync::atomic::Ordering;
        let now = Utc::now().timestamp();
        let keep_until = now + 2 * self.cfg.skew.as_secs() as i64;
        let mut conn = store.read().await?;
        let fresh =
            crate::store::nonce::nonce_claim(&mut conn, access_key, nonce, now, keep_until).await?;
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last >= 60
            && self
                .last_prune
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = crate::store::nonce::nonce_prune(&mut conn, now).await {
                tracing::warn!("deleting expired nonces failed: {e}");
            }
        }
        if fresh {
            Ok(())
        } else {
            Err(ApiError::AccessError(
                "x-jdcloud-nonce has already been used".into(),
            ))
        }
    }

    /// `x-jdcloud-date` (`YYYYMMDDTHHMMSSZ`) must be within the skew window of now.
    pub fn check_fresh(&self, timestamp: &str) -> ApiResult<()> {
        let t = NaiveDateTime::parse_from_str(timestamp.trim(), "%Y%m%dT%H%M%SZ")
            .map_err(|_| ApiError::AccessError("Invalid x-jdcloud-date".into()))?
            .and_utc()
            .timestamp();
        let now = Utc::now().timestamp();
        if (now - t).unsigned_abs() > self.cfg.skew.as_secs() {
            return Err(ApiError::AccessError(format!(
                "x-jdcloud-date is more than {} seconds away from the server time",
                self.cfg.skew.as_secs()
            )));
        }
        Ok(())
    }

    /// Records a nonce of a verified request; a second use by the same key inside the
    /// skew window is a replay.
    pub fn check_nonce(&self, access_key: &str, nonce: &str) -> ApiResult<()> {
        let now = Utc::now().timestamp();
        let keep_until = now + 2 * self.cfg.skew.as_secs() as i64;
        let mut seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if seen.claim(access_key, nonce, now, keep_until) {
            Ok(())
        } else {
            Err(ApiError::AccessError(
                "x-jdcloud-nonce has already been used".into(),
            ))
        }
    }

    /// Counts a request of `pin` against the per-minute limit.
    pub fn check_rate(&self, pin: &str) -> ApiResult<()> {
        let Some(limit) = self.cfg.rate_limit else {
            return Ok(());
        };
        let minute = Utc::now().timestamp() / 60;
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let entry = rates.entry(pin.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= limit {
            return Err(ApiError::RateLimited);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(offset_secs: i64) -> String {
        (Utc::now() + chrono::Duration::seconds(offset_secs))
            .format("%Y%m%dT%H%M%SZ")
            .to_string()
    }

    #[test]
    fn freshness_window() {
        let g = Gateway::new(GatewayConfig::default());
        assert!(g.check_fresh(&stamp(0)).is_ok());
        assert!(g.check_fresh(&stamp(-14 * 60)).is_ok());
        assert!(g.check_fresh(&stamp(16 * 60)).is_err());
        assert!(g.check_fresh(&stamp(-16 * 60)).is_err());
        assert!(g.check_fresh("yesterday").is_err());
    }

    #[test]
    fn nonce_replay_per_key() {
        let g = Gateway::new(GatewayConfig::default());
        assert!(g.check_nonce("AK", "n1").is_ok());
        assert!(g.check_nonce("AK", "n1").is_err());
        assert!(g.check_nonce("AK2", "n1").is_ok());
    }

    #[test]
    fn expired_nonces_are_forgotten_in_order() {
        let mut seen = SeenNonces::new();
        assert!(seen.claim("AK", "a", 100, 110));
        assert!(seen.claim("AK", "b", 105, 115));
        assert!(!seen.claim("AK", "a", 109, 119), "replay inside the window");
        assert_eq!(seen.until.len(), 2);
        // At 110 `a` has expired: forgotten (and usable again), `b` still kept.
        assert!(seen.claim("AK", "c", 110, 120));
        assert_eq!(seen.until.len(), 2);
        assert!(!seen.claim("AK", "b", 111, 121));
        assert!(seen.claim("AK", "a", 112, 122));
        // Far later everything old is gone at once.
        assert!(seen.claim("AK", "d", 1_000, 1_010));
        assert_eq!((seen.until.len(), seen.order.len()), (1, 1));
    }

    #[test]
    fn rate_limit() {
        let g = Gateway::new(GatewayConfig {
            rate_limit: Some(2),
            ..Default::default()
        });
        assert!(g.check_rate("a").is_ok());
        assert!(g.check_rate("a").is_ok());
        let e = g.check_rate("a").unwrap_err();
        assert_eq!(e.http_code(), 429);
        assert_eq!(e.jd_status(), "HTTP_RATE_LIMIT_EXCEEDED");
        assert!(g.check_rate("b").is_ok());
        assert!(Gateway::new(GatewayConfig::default())
            .check_rate("a")
            .is_ok());
    }
}
