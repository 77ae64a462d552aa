//! Request bodies under a memory budget: read only after the credentials checked without
//! them passed (see `auth`), at most [`MAX_BODY`](super::MAX_BODY) each, hashed as they
//! stream, and never more than the server-wide budget in memory at once.
//!
//! Before this, four unauthenticated 90 MB POSTs took the server from 76 MB to 633 MB of
//! resident memory before each was refused: the body was read whole first.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};

/// The bytes of request bodies that may be held in memory at once, over all requests.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    limit: usize,
}

/// A body read whole, its SHA-256, and its share of the budget (given back on drop, when
/// the request is done with the bytes).
pub struct ReadBody {
    pub bytes: Bytes,
    pub sha256_hex: String,
    _held: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    pub fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        }
    }

    /// Takes `n` more bytes of the budget now, or refuses: a request never waits for
    /// memory (a client holding a slow body would hold the others back).
    fn take(&self, n: usize, held: &mut Option<OwnedSemaphorePermit>) -> ApiResult<()> {
        if n == 0 {
            return Ok(());
        }
        let permits = u32::try_from(n).map_err(|_| ApiError::GatewayUnavailable)?;
        let more = Arc::clone(&self.bytes)
            .try_acquire_many_owned(permits)
            .map_err(|_| {
                tracing::warn!(
                    "refusing a request body: {n} more bytes would pass --max-inflight-body ({} bytes)",
                    self.limit
                );
                ApiError::GatewayUnavailable
            })?;
        match held {
            Some(h) => h.merge(more),
            None => *held = Some(more),
        }
        Ok(())
    }

    /// Reads a body of at most `max` bytes. A declared length is reserved before the first
    /// byte is read; a body without one (chunked) takes its share chunk by chunk.
    pub async fn read(&self, body: Body, declared: Option<u64>, max: usize) -> ApiResult<ReadBody> {
        let mut held = None;
        let declared = match declared {
            Some(n) if n > max as u64 => return Err(ApiError::PayloadTooLarge),
            Some(n) => n as usize,
            None => 0,
        };
        self.take(declared, &mut held)?;
        let mut hasher = Sha256::new();
        let mut buf = Vec::with_capacity(declared);
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::InvalidArgument(format!("reading the request body: {e}")))?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            if buf.len() + chunk.len() > max {
                return Err(ApiError::PayloadTooLarge);
            }
            // Past its declared length (or without one) a body pays as it grows.
            let reserved = declared.max(buf.len());
            self.take(
                (buf.len() + chunk.len()).saturating_sub(reserved),
                &mut held,
            )?;
            hasher.update(&chunk);
            buf.extend_from_slice(&chunk);
        }
        Ok(ReadBody {
            bytes: Bytes::from(buf),
            sha256_hex: hex::encode(hasher.finalize()),
            _held: held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: Vec<&'static [u8]>) -> Body {
        let stream = futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
        );
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn hashes_what_it_reads_and_gives_the_budget_back() {
        let budget = BodyBudget::new(16);
        let read = budget
            .read(chunked(vec![b"abc", b"def"]), None, 100)
            .await
            .unwrap();
        assert_eq!(&read.bytes[..], b"abcdef");
        assert_eq!(read.sha256_hex, hex::encode(Sha256::digest(b"abcdef")));
        assert_eq!(budget.bytes.available_permits(), 10);
        drop(read);
        assert_eq!(budget.bytes.available_permits(), 16);
    }

    #[tokio::test]
    async fn a_declared_length_past_the_budget_is_refused_before_reading() {
        let budget = BodyBudget::new(8);
        let held = budget
            .read(Body::from("12345"), Some(5), 100)
            .await
            .unwrap();
        let err = budget
            .read(Body::from("1234"), Some(4), 100)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::GatewayUnavailable));
        drop(held);
        assert!(budget.read(Body::from("1234"), Some(4), 100).await.is_ok());
    }

    #[tokio::test]
    async fn a_chunked_body_is_cut_off_when_it_outgrows_the_budget_or_the_limit() {
        let budget = BodyBudget::new(4);
        let err = budget
            .read(chunked(vec![b"abc", b"def"]), None, 100)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::GatewayUnavailable));
        assert_eq!(budget.bytes.available_permits(), 4);
        let budget = BodyBudget::new(100);
        let err = budget
            .read(chunked(vec![b"abc", b"def"]), None, 5)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::PayloadTooLarge));
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_too_large() {
        let budget = BodyBudget::new(100);
        let err = budget
            .read(Body::from("x"), Some(1000), 10)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::PayloadTooLarge));
    }
}
