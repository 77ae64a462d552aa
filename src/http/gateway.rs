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
use crate::service::nonce::SharedNonces;

#[derive(Debug, Clone, Copy)]
pub struct GatewayConfig {
    /// How far `x-jdcloud-date` may be from the server's clock.
    pub skew: Duration,
    /// Requests per minute per account; `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// The bytes of request bodies held in memory at once, over all requests.
    pub max_inflight_body: usize,
}

/// The default of `--max-inflight-body`: API requests are a few KB, so this admits
/// thousands of them at once and keeps a flood of large bodies to a small share of memory.
pub const DEFAULT_MAX_INFLIGHT_BODY: usize = 32 * 1024 * 1024;

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            skew: Duration::from_secs(15 * 60),
            rate_limit: None,
            max_inflight_body: DEFAULT_MAX_INFLIGHT_BODY,
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
    shared: Option<SharedNonces>,
    /// When expired shared nonces were last deleted (unix seconds).
    last_prune: std::sync::atomic::AtomicI64,
    /// Request bodies in memory, within `cfg.max_inflight_body`.
    pub bodies: super::body::BodyBudget,
}

/// The nonces seen in the last `2 × skew`, each as a keyed 128-bit digest of (access key,
/// nonce) (two SipHash keys chosen at start-up: no way for a client to make two of its
/// nonces collide). Entries expire in the order they were recorded (every entry lives the
/// same time), so forgetting the expired ones pops them off the front of a queue: constant
/// work per request. (It was a scan of every entry on every request once 100,000 were
/// kept: after a minute of load each request paid ~0.5 ms.)
///
/// At most `cap` are kept (about 60 bytes each): every signed request adds one for 30
/// minutes, so 10,000 requests/s would otherwise hold a gigabyte. Past the cap the oldest
/// is forgotten early, and `floor` becomes its request's signed date: a request signed at
/// or before the floor is refused, so a replay of a forgotten nonce cannot pass. Under
/// that much load the freshness window narrows to how long the cap lasts.
struct SeenNonces {
    until: HashMap<u128, i64>,
    /// (keep until, signed date, digest), in the order recorded.
    order: VecDeque<(i64, i64, u128)>,
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    cap: usize,
    floor: i64,
}

/// Nonces kept at most (see [`SeenNonces`]): 30 minutes at 500 requests/s, in ~60 MiB (the
/// table and the queue each stay under their next doubling: 2^20 slots).
const NONCES_KEPT: usize = 900_000;

/// Why a nonce was refused.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    Replay,
    /// Signed at or before the newest request whose nonce was forgotten early.
    Stale,
}

impl Refused {
    fn into_error(self) -> ApiError {
        ApiError::AccessError(match self {
            Refused::Replay => "x-jdcloud-nonce has already been used".into(),
            Refused::Stale => "x-jdcloud-date is too old to check x-jdcloud-nonce under the \
                               current load; sign the request again"
                .into(),
        })
    }
}

impl SeenNonces {
    fn new(cap: usize) -> SeenNonces {
        SeenNonces {
            until: HashMap::new(),
            order: VecDeque::new(),
            keys: Default::default(),
            cap,
            floor: i64::MIN,
        }
    }

    fn digest(&self, access_key: &str, nonce: &str) -> u128 {
        let half =
            |k: &std::collections::hash_map::RandomState| k.hash_one((access_key, nonce)) as u128;
        (half(&self.keys.0) << 64) | half(&self.keys.1)
    }

    /// Records the nonce of a request signed at `signed` (unix seconds) until `keep_until`,
    /// unless it is already recorded and unexpired, or the request is older than what can
    /// still be checked.
    fn claim(
        &mut self,
        access_key: &str,
        nonce: &str,
        signed: i64,
        now: i64,
        keep_until: i64,
    ) -> Result<(), Refused> {
        while self
            .order
            .front()
            .is_some_and(|&(until, _, _)| until <= now)
        {
            self.forget_oldest();
        }
        if signed <= self.floor {
            return Err(Refused::Stale);
        }
        let d = self.digest(access_key, nonce);
        if self.until.get(&d).is_some_and(|until| *until > now) {
            return Err(Refused::Replay);
        }
        self.until.insert(d, keep_until);
        self.order.push_back((keep_until, signed, d));
        while self.order.len() > self.cap {
            let signed = self.forget_oldest();
            self.floor = self.floor.max(signed);
        }
        Ok(())
    }

    /// What `claim` would say, without recording anything: the check made before a
    /// request's body is read.
    fn peek(&self, access_key: &str, nonce: &str, signed: i64, now: i64) -> Result<(), Refused> {
        if signed <= self.floor {
            return Err(Refused::Stale);
        }
        let d = self.digest(access_key, nonce);
        if self.until.get(&d).is_some_and(|until| *until > now) {
            return Err(Refused::Replay);
        }
        Ok(())
    }

    /// Forgets the oldest entry; its request's signed date.
    fn forget_oldest(&mut self) -> i64 {
        let Some((until, signed, d)) = self.order.pop_front() else {
            return i64::MIN;
        };
        if self.until.get(&d) == Some(&until) {
            self.until.remove(&d);
        }
        signed
    }
}

impl Gateway {
    pub fn new(cfg: GatewayConfig) -> Gateway {
        Gateway {
            cfg,
            nonces: Mutex::new(SeenNonces::new(NONCES_KEPT)),
            rates: Mutex::new(HashMap::new()),
            shared: None,
            last_prune: std::sync::atomic::AtomicI64::new(0),
            bodies: super::body::BodyBudget::new(cfg.max_inflight_body),
        }
    }

    /// Keeps nonces in the store shared by every node of a cluster instead of in memory.
    pub fn with_shared_nonces(mut self, nonces: SharedNonces) -> Gateway {
        self.shared = Some(nonces);
        self
    }

    /// The nonce check: in the shared store when there is one, else in memory.
    pub async fn claim_nonce(&self, access_key: &str, nonce: &str, signed: i64) -> ApiResult<()> {
        let Some(shared) = &self.shared else {
            return self.check_nonce(access_key, nonce, signed);
        };
        use std::sync::atomic::Ordering;
        let now = Utc::now().timestamp();
        let keep_until = now + 2 * self.cfg.skew.as_secs() as i64;
        let fresh = shared.claim(access_key, nonce, now, keep_until).await?;
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last >= 60
            && self
                .last_prune
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = shared.prune(now).await {
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
    /// Returns the signed time (unix seconds).
    pub fn check_fresh(&self, timestamp: &str) -> ApiResult<i64> {
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
        Ok(t)
    }

    /// Records a nonce of a verified request; a second use by the same key inside the
    /// skew window is a replay.
    pub fn check_nonce(&self, access_key: &str, nonce: &str, signed: i64) -> ApiResult<()> {
        let now = Utc::now().timestamp();
        let keep_until = now + 2 * self.cfg.skew.as_secs() as i64;
        let mut seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        seen.claim(access_key, nonce, signed, now, keep_until)
            .map_err(Refused::into_error)
    }

    /// Refuses a nonce this node has already seen, before the request's body is read (the
    /// nonce is recorded only once the signature is verified). Nonces shared through the
    /// store of a cluster are checked after the body only.
    pub fn precheck_nonce(&self, access_key: &str, nonce: &str, signed: i64) -> ApiResult<()> {
        if self.shared.is_some() {
            return Ok(());
        }
        let now = Utc::now().timestamp();
        let seen = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        seen.peek(access_key, nonce, signed, now)
            .map_err(Refused::into_error)
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
        let now = Utc::now().timestamp();
        assert!((g.check_fresh(&stamp(0)).unwrap() - now).abs() <= 1);
        assert!(g.check_fresh(&stamp(-14 * 60)).is_ok());
        assert!(g.check_fresh(&stamp(16 * 60)).is_err());
        assert!(g.check_fresh(&stamp(-16 * 60)).is_err());
        assert!(g.check_fresh("yesterday").is_err());
    }

    #[test]
    fn nonce_replay_per_key() {
        let g = Gateway::new(GatewayConfig::default());
        let now = Utc::now().timestamp();
        assert!(g.check_nonce("AK", "n1", now).is_ok());
        assert!(g.check_nonce("AK", "n1", now).is_err());
        assert!(g.check_nonce("AK2", "n1", now).is_ok());
    }

    #[test]
    fn expired_nonces_are_forgotten_in_order() {
        let mut seen = SeenNonces::new(100);
        assert_eq!(seen.claim("AK", "a", 100, 100, 110), Ok(()));
        assert_eq!(seen.claim("AK", "b", 105, 105, 115), Ok(()));
        assert_eq!(
            seen.claim("AK", "a", 109, 109, 119),
            Err(Refused::Replay),
            "replay inside the window"
        );
        assert_eq!(seen.until.len(), 2);
        // At 110 `a` has expired: forgotten (and usable again), `b` still kept.
        assert_eq!(seen.claim("AK", "c", 110, 110, 120), Ok(()));
        assert_eq!(seen.until.len(), 2);
        assert_eq!(seen.claim("AK", "b", 111, 111, 121), Err(Refused::Replay));
        assert_eq!(seen.claim("AK", "a", 112, 112, 122), Ok(()));
        // Far later everything old is gone at once.
        assert_eq!(seen.claim("AK", "d", 1_000, 1_000, 1_010), Ok(()));
        assert_eq!((seen.until.len(), seen.order.len()), (1, 1));
        assert_eq!(seen.floor, i64::MIN, "nothing was forgotten early");
    }

    /// Past the cap the oldest nonce is forgotten early: memory stays bounded, and no
    /// replay of a forgotten nonce passes, because requests signed at or before it are
    /// refused from then on. Newer requests go on as before.
    #[test]
    fn the_nonce_cap_bounds_memory_without_letting_replays_through() {
        let mut seen = SeenNonces::new(3);
        for (n, signed) in [("a", 100), ("b", 101), ("c", 102)] {
            assert_eq!(seen.claim("AK", n, signed, 103, 2_000), Ok(()));
        }
        assert_eq!(seen.claim("AK", "d", 103, 103, 2_000), Ok(()));
        assert_eq!(seen.order.len(), 3, "kept at most the cap");
        assert_eq!(seen.until.len(), 3);
        assert_eq!(seen.floor, 100);
        // `a` is forgotten: its replay (same signed date) is refused as stale, and so is
        // any other request signed as early.
        assert_eq!(seen.claim("AK", "a", 100, 104, 2_000), Err(Refused::Stale));
        assert_eq!(seen.claim("AK", "z", 100, 104, 2_000), Err(Refused::Stale));
        // The kept ones are still replays; a request signed later is fine.
        assert_eq!(seen.claim("AK", "b", 101, 104, 2_000), Err(Refused::Replay));
        assert_eq!(seen.claim("AK", "e", 104, 104, 2_000), Ok(()));
        assert_eq!(seen.floor, 101);
        assert_eq!(seen.claim("AK", "b", 101, 105, 2_000), Err(Refused::Stale));
        assert_eq!(seen.order.len(), 3);
    }

    proptest::proptest! {
        /// Whatever the order and dates of the requests, a request accepted once (its
        /// nonce and signed date: a replay repeats both, since the date is signed) is never
        /// accepted again while the first acceptance is unexpired, and at most `cap`
        /// entries are kept. (A *new* request may reuse a nonce forgotten early: only the
        /// holder of the secret can sign one.)
        #[test]
        fn no_replay_passes_and_the_cap_holds(
            cap in 1usize..6,
            reqs in proptest::collection::vec((0u8..8, 0i64..20), 1..60),
        ) {
            let mut seen = SeenNonces::new(cap);
            let mut accepted: HashMap<(u8, i64), i64> = HashMap::new();
            for (i, (nonce, signed)) in reqs.into_iter().enumerate() {
                let now = i as i64;
                let keep_until = now + 1_000;
                let got = seen.claim("AK", &nonce.to_string(), signed, now, keep_until);
                if got.is_ok() {
                    let before = accepted.insert((nonce, signed), keep_until);
                    proptest::prop_assert!(before.is_none_or(|until| until <= now));
                }
                proptest::prop_assert!(seen.order.len() <= cap);
                proptest::prop_assert!(seen.until.len() <= cap);
            }
        }
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
