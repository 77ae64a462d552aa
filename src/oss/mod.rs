//! Kiln's client for object storage over the S3 protocol (JD Cloud's OSS speaks it):
//! exportImage writes qcow2 objects, importImage reads them back. Requests are signed with
//! `rusty-s3` (SigV4, presigned URLs) and sent with reqwest, path-style against the
//! configured endpoint (`kiln serve --oss-endpoint`): the URL a caller gives names only the
//! bucket and key. Uploads are multipart, one part in memory at a time; downloads stream
//! to a file; so memory stays flat whatever the image size.

mod url;

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use self::url::{looks_like_oss, oss_url_region, parse_oss_url, OssLocation, OssUrlError};

/// Where object storage is and how to sign for it.
#[derive(Debug, Clone)]
pub struct OssConfig {
    /// e.g. `http://127.0.0.1:5000`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OssError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("access to {0} denied ({1})")]
    AccessDenied(String, String),
    #[error("object storage answered HTTP {status} to {what}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("object storage: {0}")]
    Transport(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type OssResult<T> = Result<T, OssError>;

/// Parts of a multipart upload (S3 wants at least 5 MiB but the last).
const PART_BYTES: usize = 16 << 20;
/// How long a signed URL stays valid.
const SIGNED_FOR: Duration = Duration::from_secs(3600);

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
            http: reqwest::Client::new(),
        }
    }

    fn bucket(&self, name: &str) -> OssResult<Bucket> {
        let endpoint = self
            .cfg
            .endpoint
            .parse()
            .map_err(|e| OssError::Transport(format!("endpoint {}: {e}", self.cfg.endpoint)))?;
        Bucket::new(
            endpoint,
            UrlStyle::Path,
            name.to_string(),
            self.cfg.region.clone(),
        )
        .map_err(|e| OssError::Transport(format!("bucket {name}: {e}")))
    }

    pub async fn create_bucket(&self, name: &str) -> OssResult<()> {
        let bucket = self.bucket(name)?;
        let url = bucket.create_bucket(&self.credentials).sign(SIGNED_FOR);
        // An empty body, sent with its length (some servers refuse a PUT without one).
        let req = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .body(Vec::new());
        self.send(req, &format!("create bucket {name}")).await?;
        Ok(())
    }

    /// The object's size, or None when there is none.
    pub async fn head(&self, loc: &OssLocation) -> OssResult<Option<u64>> {
        let bucket = self.bucket(&loc.bucket)?;
        let url = bucket
            .head_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        match self.send(self.http.head(url), &loc.to_string()).await {
            // The header itself: a HEAD answer's body is empty whatever its length says.
            Ok(r) => Ok(r
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            Err(OssError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, loc: &OssLocation) -> OssResult<()> {
        let bucket = self.bucket(&loc.bucket)?;
        let url = bucket
            .delete_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        self.send(self.http.delete(url), &loc.to_string()).await?;
        Ok(())
    }

    /// Uploads the file at `path` to `loc` in parts of [`PART_BYTES`], calling
    /// `on_progress(done, total)` after each; aborts the upload on any failure. The bytes.
    pub async fn put_file(
        &self,
        loc: &OssLocation,
        path: &Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> OssResult<u64> {
        let io = |source| OssError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let total = file.metadata().await.map_err(io)?.len();
        let bucket = self.bucket(&loc.bucket)?;
        let what = loc.to_string();
        let url = bucket
            .create_multipart_upload(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        let create = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .body(Vec::new());
        let created = self.send(create, &what).await?;
        let text = created.text().await.map_err(transport)?;
        let upload = rusty_s3::actions::CreateMultipartUpload::parse_response(&text)
            .map_err(|e| OssError::Transport(format!("{what}: {e}")))?;
        let upload_id = upload.upload_id().to_string();
        let sent = self
            .upload_parts(&bucket, loc, &upload_id, &mut file, total, &mut on_progress)
            .await;
        let etags = match sent {
            Ok(etags) => etags,
            Err(e) => {
                let abort =
                    bucket.abort_multipart_upload(Some(&self.credentials), &loc.key, &upload_id);
                let _ = self.http.delete(abort.sign(SIGNED_FOR)).send().await;
                return Err(e);
            }
        };
        let complete = bucket.complete_multipart_upload(
            Some(&self.credentials),
            &loc.key,
            &upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        self.send(self.http.post(url).body(complete.body()), &what)
            .await?;
        Ok(total)
    }

    /// Each part read from `file` and sent in turn; their ETags.
    async fn upload_parts(
        &self,
        bucket: &Bucket,
        loc: &OssLocation,
        upload_id: &str,
        file: &mut tokio::fs::File,
        total: u64,
        on_progress: &mut impl FnMut(u64, u64),
    ) -> OssResult<Vec<String>> {
        let mut etags = Vec::new();
        let mut done = 0u64;
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = read_full(file, &mut buf)
                .await
                .map_err(|source| OssError::Io {
                    path: loc.to_string(),
                    source,
                })?;
            if n == 0 && !etags.is_empty() {
                break;
            }
            let part = u16::try_from(etags.len() + 1)
                .map_err(|_| OssError::Transport("too many parts".into()))?;
            let url = bucket
                .upload_part(Some(&self.credentials), &loc.key, part, upload_id)
                .sign(SIGNED_FOR);
            let body = buf[..n].to_vec();
            let r = self
                .send(self.http.put(url).body(body), &loc.to_string())
                .await?;
            let etag = r
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| OssError::Transport(format!("part {part}: no ETag")))?;
            etags.push(etag.to_string());
            done += n as u64;
            on_progress(done, total);
            if n < PART_BYTES {
                break;
            }
        }
        Ok(etags)
    }

    /// Downloads `loc` into `dest` (through `dest.part`, synced and renamed; nothing is left
    /// on failure), calling `on_progress(done, total)` as it goes. The bytes.
    pub async fn get_to_file(
        &self,
        loc: &OssLocation,
        dest: &Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> OssResult<u64> {
        let bucket = self.bucket(&loc.bucket)?;
        let url = bucket
            .get_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        let r = self.send(self.http.get(url), &loc.to_string()).await?;
        let total = r.content_length().unwrap_or(0);
        let part = dest.with_extension("part");
        let written = write_stream(r, &part, total, &mut on_progress).await;
        match written {
            Ok(n) => {
                tokio::fs::rename(&part, dest)
                    .await
                    .map_err(|source| OssError::Io {
                        path: dest.display().to_string(),
                        source,
                    })?;
                Ok(n)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    /// Sends a signed request; an S3 error answer becomes an [`OssError`].
    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> OssResult<reqwest::Response> {
        let r = req.send().await.map_err(transport)?;
        let status = r.status().as_u16();
        if r.status().is_success() {
            return Ok(r);
        }
        let body: String = r
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        Err(match status {
            404 => OssError::NotFound(what.to_string()),
            403 => OssError::AccessDenied(what.to_string(), s3_code(&body)),
            _ => OssError::Status {
                what: what.to_string(),
                status,
                body,
            },
        })
    }
}

fn transport(e: reqwest::Error) -> OssError {
    OssError::Transport(e.to_string())
}

/// The `<Code>` of an S3 error document.
fn s3_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("AccessDenied")
        .to_string()
}

/// Fills `buf` from `file` as far as it goes; the bytes read (fewer only at the end).
async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let got = file.read(&mut buf[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
    }
    Ok(n)
}

async fn write_stream(
    r: reqwest::Response,
    part: &Path,
    total: u64,
    on_progress: &mut impl FnMut(u64, u64),
) -> OssResult<u64> {
    let io = |source| OssError::Io {
        path: part.display().to_string(),
        source,
    };
    let mut out = tokio::fs::File::create(part).await.map_err(io)?;
    let mut stream = r.bytes_stream();
    let mut done = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transport)?;
        out.write_all(&chunk).await.map_err(io)?;
        done += chunk.len() as u64;
        on_progress(done, total.max(done));
    }
    out.sync_all().await.map_err(io)?;
    Ok(done)
}
