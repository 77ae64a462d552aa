//! Uploads: a file at most one part long in one PutObject, a longer one as a multipart
//! upload whose parts are read from the file one at a time, so one part is in memory
//! whatever the file's size. Every part (and every single PUT) carries its Content-MD5,
//! so the server refuses bytes damaged on the way (`BadDigest`).

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use md5::{Digest, Md5};
use rusty_s3::actions::CreateMultipartUpload;
use rusty_s3::{Bucket, S3Action};

use super::{OssClient, OssError, OssLocation, OssResult, SIGNED_FOR};

/// The size of a part (S3 wants at least 5 MiB for every part but the last).
pub(super) const PART_BYTES: u64 = 16 << 20;
/// S3 allows at most this many parts: beyond 10,000 × 16 MiB (156 GiB) parts grow.
const MAX_PARTS: u64 = 10_000;

impl OssClient {
    /// Uploads the file at `path` to `loc`, calling `on_progress(done, total)` after each
    /// part; a failed multipart upload is aborted (also when this future is dropped), so
    /// the bucket keeps no orphan parts. The bytes uploaded.
    pub async fn put_file(
        &self,
        loc: &OssLocation,
        path: &Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> OssResult<u64> {
        let file = std::fs::File::open(path).map_err(|e| OssError::io(path, e))?;
        let total = file.metadata().map_err(|e| OssError::io(path, e))?.len();
        let file = Arc::new(file);
        let part_bytes = part_size(total);
        if total <= part_bytes {
            let part = read_part(&file, path, 0, total).await?;
            self.put_object(loc, part).await?;
            on_progress(total, total);
            return Ok(total);
        }
        let upload = self.create_multipart(loc).await?;
        let sent = self
            .send_parts(&upload, &file, path, total, part_bytes, &mut on_progress)
            .await;
        match sent {
            Ok(etags) => upload.complete(etags).await?,
            Err(e) => {
                upload.abort().await;
                return Err(e);
            }
        }
        Ok(total)
    }

    /// One PutObject for a whole (small) file.
    async fn put_object(&self, loc: &OssLocation, part: Part) -> OssResult<()> {
        let b = self.bucket(&loc.bucket)?;
        let mut action = b.put_object(Some(&self.credentials), &loc.key);
        action.headers_mut().insert("content-md5", part.md5.clone());
        let req = self.http.put(action.sign(SIGNED_FOR));
        self.send(part.attach(req), &loc.to_string()).await?;
        Ok(())
    }

    async fn create_multipart(&self, loc: &OssLocation) -> OssResult<Multipart> {
        let b = self.bucket(&loc.bucket)?;
        let what = loc.to_string();
        let url = b
            .create_multipart_upload(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        let req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .body(Vec::new());
        let r = self.send(req, &what).await?;
        let text = r.text().await.map_err(|e| OssError::transport(&what, e))?;
        let created = CreateMultipartUpload::parse_response(&text)
            .map_err(|e| OssError::protocol(&what, format!("CreateMultipartUpload: {e}")))?;
        Ok(Multipart {
            client: self.clone(),
            bucket: b,
            loc: loc.clone(),
            upload_id: created.upload_id().to_string(),
            open: true,
        })
    }

    /// Reads and sends each part in turn; their ETags, in order.
    async fn send_parts(
        &self,
        upload: &Multipart,
        file: &Arc<std::fs::File>,
        path: &Path,
        total: u64,
        part_bytes: u64,
        on_progress: &mut impl FnMut(u64, u64),
    ) -> OssResult<Vec<String>> {
        let mut etags = Vec::new();
        let mut done = 0u64;
        while done < total {
            let len = part_bytes.min(total - done);
            let part = read_part(file, path, done, len).await?;
            let number = u16::try_from(etags.len() + 1)
                .map_err(|_| OssError::protocol(&upload.what(), "more than 65535 parts"))?;
            etags.push(upload.send_part(number, part).await?);
            done += len;
            on_progress(done, total);
        }
        Ok(etags)
    }
}

/// The part size for a file of `total` bytes: [`PART_BYTES`], or more (whole MiB) when
/// that would take more than S3's 10,000 parts.
fn part_size(total: u64) -> u64 {
    PART_BYTES.max(total.div_ceil(MAX_PARTS).next_multiple_of(1 << 20))
}

/// A part's bytes and their Content-MD5.
struct Part {
    bytes: Vec<u8>,
    md5: String,
}

impl Part {
    fn attach(self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header("content-md5", self.md5)
            .header(reqwest::header::CONTENT_LENGTH, self.bytes.len())
            .body(self.bytes)
    }
}

/// `len` bytes at `offset`, read and hashed on a blocking thread (16 MiB of MD5 is tens
/// of milliseconds: too long for the runtime's threads). Positional reads need no cursor
/// shared between parts.
async fn read_part(
    file: &Arc<std::fs::File>,
    path: &Path,
    offset: u64,
    len: u64,
) -> OssResult<Part> {
    let file = Arc::clone(file);
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Part> {
        let len = usize::try_from(len).map_err(std::io::Error::other)?;
        let mut bytes = vec![0u8; len];
        // A file that shrank since its size was taken fails here (UnexpectedEof).
        file.read_exact_at(&mut bytes, offset)?;
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(&bytes));
        Ok(Part { bytes, md5 })
    })
    .await
    .map_err(|e| OssError::io(path, std::io::Error::other(e)))?;
    read.map_err(|e| OssError::io(path, e))
}

/// A multipart upload in progress. Dropped while still open (the upload future was
/// cancelled), it aborts the upload in the background: its parts would otherwise be kept,
/// and billed, by the server.
struct Multipart {
    client: OssClient,
    bucket: Bucket,
    loc: OssLocation,
    upload_id: String,
    open: bool,
}

impl Multipart {
    fn what(&self) -> String {
        self.loc.to_string()
    }

    /// Sends part `number` (from 1); its ETag.
    async fn send_part(&self, number: u16, part: Part) -> OssResult<String> {
        let c = &self.client;
        let mut action =
            self.bucket
                .upload_part(Some(&c.credentials), &self.loc.key, number, &self.upload_id);
        action.headers_mut().insert("content-md5", part.md5.clone());
        let req = c.http.put(action.sign(SIGNED_FOR));
        let what = self.what();
        let r = c.send(part.attach(req), &what).await?;
        let etag = r.headers().get(reqwest::header::ETAG);
        let etag = etag.and_then(|v| v.to_str().ok()).ok_or_else(|| {
            OssError::protocol(&what, format!("part {number} answered without an ETag"))
        })?;
        Ok(etag.to_string())
    }

    /// Joins the parts into the object; aborts the upload when that fails.
    async fn complete(mut self, etags: Vec<String>) -> OssResult<()> {
        let done = self.send_complete(&etags).await;
        if done.is_err() {
            self.abort_now().await;
        }
        self.open = false;
        done
    }

    async fn send_complete(&self, etags: &[String]) -> OssResult<()> {
        let c = &self.client;
        let what = self.what();
        let action = self.bucket.complete_multipart_upload(
            Some(&c.credentials),
            &self.loc.key,
            &self.upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let r = c.send(c.http.post(url).body(action.body()), &what).await?;
        let status = r.status().as_u16();
        // S3 answers 200 before it has joined the parts and reports a failure to join them
        // in the body: an error document there is an error.
        let text = r.text().await.map_err(|e| OssError::transport(&what, e))?;
        if text.contains("<Error>") {
            return Err(OssError::from_answer(&what, status, &text));
        }
        Ok(())
    }

    async fn abort(mut self) {
        self.abort_now().await;
        self.open = false;
    }

    /// Best effort: the failure being reported matters more than one to clean up after it.
    async fn abort_now(&self) {
        let c = &self.client;
        let url = self
            .bucket
            .abort_multipart_upload(Some(&c.credentials), &self.loc.key, &self.upload_id)
            .sign(SIGNED_FOR);
        if let Err(e) = c.send(c.http.delete(url), &self.what()).await {
            tracing::warn!(upload_id = %self.upload_id, error = %e, "aborting a multipart upload failed");
        }
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let upload = Multipart {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            loc: self.loc.clone(),
            upload_id: std::mem::take(&mut self.upload_id),
            open: false,
        };
        runtime.spawn(async move { upload.abort_now().await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_16_mib_until_there_would_be_too_many() {
        assert_eq!(part_size(0), PART_BYTES);
        assert_eq!(part_size(40 << 20), PART_BYTES);
        assert_eq!(part_size(PART_BYTES * MAX_PARTS), PART_BYTES);
        let big = PART_BYTES * MAX_PARTS + 1;
        assert_eq!(part_size(big), PART_BYTES + (1 << 20));
        let five_tib = 5u64 << 40;
        assert!(five_tib.div_ceil(part_size(five_tib)) <= MAX_PARTS);
        assert_eq!(part_size(five_tib) % (1 << 20), 0);
    }

    #[tokio::test]
    async fn a_part_is_the_bytes_at_its_offset_with_their_content_md5() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, b"--hello--").unwrap();
        let file = Arc::new(f.reopen().unwrap());
        let part = read_part(&file, f.path(), 2, 5).await.unwrap();
        assert_eq!(part.bytes, b"hello");
        // RFC 1864: base64 of the binary MD5 (md5("hello") = 5d41402abc4b2a76b9719d911017c592).
        assert_eq!(part.md5, "XUFAKrxLKna5cZ2REBfFkg==");
        let past_the_end = read_part(&file, f.path(), 6, 5).await;
        assert!(matches!(past_the_end, Err(OssError::Io { .. })));
    }
}
