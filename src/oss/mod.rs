//! Kiln's client for object storage over the S3 protocol (JD Cloud's OSS speaks it):
//! exportImage writes qcow2 objects, importImage reads them back.
//!
//! Requests are signed with `rusty-s3` (SigV4 presigned URLs) and sent with reqwest,
//! path-style against the configured endpoint (`kiln serve --oss-endpoint`): the URL a
//! caller gives names only the bucket and key (`url`). Uploads are multipart, one part in
//! memory at a time (`upload`); downloads stream to a file (`download`); so memory stays
//! flat whatever the image size.

mod download;
mod error;
mod upload;
mod url;

use std::fmt;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

pub use self::error::{OssError, OssResult};
pub use self::url::{looks_like_oss, oss_url_region, parse_oss_url, OssLocation, OssUrlError};

/// The region signatures are made for unless configured otherwise (S3's, and moto's).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How long a signed URL stays valid: each is made just before it is sent, and S3 checks
/// the expiry when a request starts, so this only has to cover clock skew.
const SIGNED_FOR: Duration = Duration::from_secs(3600);
/// A silent endpoint fails a request after this long, instead of hanging the task. It
/// bounds each wait for bytes, not a whole transfer, so large objects are not cut off.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of an error answer is read (its XML is a few hundred bytes; a broken endpoint
/// might send anything).
const ERROR_BODY_BYTES: usize = 16 << 10;

/// Where object storage is and how to sign for it.
#[derive(Clone)]
pub struct OssConfig {
    /// e.g. `http://127.0.0.1:5000`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The region signatures are made for ([`DEFAULT_REGION`] unless the endpoint wants another).
    pub region: String,
}

impl OssConfig {
    /// An endpoint and its keys, signing for [`DEFAULT_REGION`].
    pub fn new(
        endpoint: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> OssConfig {
        OssConfig {
            endpoint: endpoint.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: DEFAULT_REGION.to_string(),
        }
    }
}

/// Without the secret: configurations end up in debug logs.
impl fmt::Debug for OssConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OssConfig")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

/// A client for one endpoint; cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct OssClient {
    cfg: OssConfig,
    credentials: Credentials,
    http: reqwest::Client,
}

impl OssClient {
    pub fn new(cfg: OssConfig) -> OssClient {
        let credentials = Credentials::new(cfg.access_key.clone(), cfg.secret_key.clone());
        OssClient {
            cfg,
            credentials,
            http: http_client(),
        }
    }

    /// Creates `bucket` (in the configured region); one that is already ours is fine.
    pub async fn create_bucket(&self, bucket: &str) -> OssResult<()> {
        let b = self.bucket(bucket)?;
        let action = b.create_bucket(&self.credentials);
        let body = action.body();
        let req = self
            .http
            .put(action.sign(SIGNED_FOR))
            .header(reqwest::header::CONTENT_LENGTH, body.len())
            .body(body);
        match self.send(req, &bucket_what(bucket)).await {
            Ok(_) => Ok(()),
            Err(OssError::Status { code, .. }) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The object's size, or None when there is none.
    pub async fn head(&self, loc: &OssLocation) -> OssResult<Option<u64>> {
        let b = self.bucket(&loc.bucket)?;
        let url = b
            .head_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        let what = loc.to_string();
        let r = match self.send(self.http.head(url), &what).await {
            Ok(r) => r,
            Err(OssError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The header itself: a HEAD answer has no body, whatever its length says.
        let size = r
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| OssError::protocol(&what, "HEAD answer without a Content-Length"))?;
        Ok(Some(size))
    }

    /// Deletes the object; deleting one that is not there succeeds (S3 says 204 either way).
    pub async fn delete(&self, loc: &OssLocation) -> OssResult<()> {
        let b = self.bucket(&loc.bucket)?;
        let url = b
            .delete_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        self.send(self.http.delete(url), &loc.to_string()).await?;
        Ok(())
    }

    /// Every object under `prefix` in `bucket` with its size, in key order (ListObjectsV2,
    /// page after page).
    pub async fn list(&self, bucket: &str, prefix: &str) -> OssResult<Vec<(String, u64)>> {
        let b = self.bucket(bucket)?;
        let what = format!("{}/{prefix}", bucket_what(bucket));
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(&b, prefix, token.as_deref(), &what).await?;
            objects.extend(
                page.contents
                    .into_iter()
                    .map(|o| (o.key, o.size.unwrap_or(0))),
            );
            match page.next_continuation_token {
                // A server that hands back the token it was given would loop forever.
                Some(next) if token.as_deref() == Some(next.as_str()) => {
                    return Err(OssError::protocol(&what, "the listing repeats its page"));
                }
                Some(next) => token = Some(next),
                None => return Ok(objects),
            }
        }
    }

    async fn list_page(
        &self,
        b: &Bucket,
        prefix: &str,
        token: Option<&str>,
        what: &str,
    ) -> OssResult<rusty_s3::actions::ListObjectsV2Response> {
        let mut action = b.list_objects_v2(Some(&self.credentials));
        action.with_prefix(prefix);
        if let Some(t) = token {
            action.with_continuation_token(t);
        }
        let r = self
            .send(self.http.get(action.sign(SIGNED_FOR)), what)
            .await?;
        let text = r.text().await.map_err(|e| OssError::transport(what, e))?;
        rusty_s3::actions::ListObjectsV2::parse_response(&text)
            .map_err(|e| OssError::protocol(what, format!("listing: {e}")))
    }

    /// The bucket as rusty-s3 addresses it: path-style under the configured endpoint.
    fn bucket(&self, name: &str) -> OssResult<Bucket> {
        let config_error = |detail: String| OssError::Config {
            endpoint: self.cfg.endpoint.clone(),
            detail,
        };
        let endpoint = self
            .cfg
            .endpoint
            .parse()
            .map_err(|e| config_error(format!("{e}")))?;
        Bucket::new(
            endpoint,
            UrlStyle::Path,
            name.to_string(),
            self.cfg.region.clone(),
        )
        .map_err(|e| config_error(format!("bucket {name}: {e}")))
    }

    /// Sends a signed request; a failing answer becomes an [`OssError`].
    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> OssResult<reqwest::Response> {
        let r = req.send().await.map_err(|e| OssError::transport(what, e))?;
        if r.status().is_success() {
            return Ok(r);
        }
        let status = r.status().as_u16();
        let body = error_body(r).await;
        Err(OssError::from_answer(what, status, &body))
    }
}

/// Redirects are not followed: the client speaks to the configured endpoint only, and S3's
/// redirects (a bucket in another region) are errors to report, with their code.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building fails only when the TLS backend cannot start; the default client
        // would then fail the same way, with reqwest's own message.
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// The start of an error answer's body (empty when it cannot be read: the status still
/// says what happened).
async fn error_body(mut r: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match r.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

fn bucket_what(bucket: &str) -> String {
    format!("s3://{bucket}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let cfg = OssConfig::new("http://127.0.0.1:9", "AK", "very-secret");
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(
            shown.contains("AK") && shown.contains(DEFAULT_REGION),
            "{shown}"
        );
    }

    #[test]
    fn a_bad_endpoint_is_a_config_error() {
        let c = OssClient::new(OssConfig::new("not a url", "AK", "SK"));
        assert!(matches!(c.bucket("kiln"), Err(OssError::Config { .. })));
        let c = OssClient::new(OssConfig::new("ftp://127.0.0.1:9", "AK", "SK"));
        assert!(matches!(c.bucket("kiln"), Err(OssError::Config { .. })));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_a_transport_error_without_the_signed_url() {
        // Port 9 (discard) on loopback: nothing listens there in the test environment.
        let c = OssClient::new(OssConfig::new("http://127.0.0.1:9", "AKID-SHOWN", "SK"));
        let loc = parse_oss_url("s3://kiln/a.qcow2").unwrap();
        let e = c.head(&loc).await.unwrap_err();
        let shown = e.to_string();
        assert!(matches!(e, OssError::Transport { .. }), "{shown}");
        assert!(
            shown.starts_with("s3://kiln/a.qcow2: object storage: "),
            "{shown}"
        );
        assert!(
            !shown.contains("AKID-SHOWN") && !shown.contains("Signature"),
            "{shown}"
        );
    }
}
