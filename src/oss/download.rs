//! Downloads: the object's body streamed into `<dest>.part`, synced, then renamed to
//! `dest`, so `dest` is either absent or whole; a failed download leaves nothing behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use rusty_s3::S3Action;
use tokio::io::AsyncWriteExt;

use super::{OssClient, OssError, OssLocation, OssResult, SIGNED_FOR};

/// Writes are gathered into blocks this big: the body arrives in chunks of a few KiB,
/// and each write to a tokio file is a trip to a blocking thread.
const WRITE_BUFFER: usize = 1 << 20;

impl OssClient {
    /// Downloads `loc` into `dest`, calling `on_progress(done, total)` as bytes arrive
    /// (`total` is the object's size). The bytes written.
    pub async fn get_to_file(
        &self,
        loc: &OssLocation,
        dest: &Path,
        mut on_progress: impl FnMut(u64, u64),
    ) -> OssResult<u64> {
        let b = self.bucket(&loc.bucket)?;
        let url = b
            .get_object(Some(&self.credentials), &loc.key)
            .sign(SIGNED_FOR);
        let what = loc.to_string();
        let r = self.send(self.http.get(url), &what).await?;
        let part = part_path(dest);
        let written = write_body(r, &part, &what, &mut on_progress).await;
        let placed = match written {
            Ok(n) => place(&part, dest).await.map(|()| n),
            Err(e) => Err(e),
        };
        if placed.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        placed
    }
}

/// `dest` with `.part` added (not replacing its extension: `a.qcow2` → `a.qcow2.part`).
fn part_path(dest: &Path) -> PathBuf {
    let mut name = OsString::from(dest.as_os_str());
    name.push(".part");
    PathBuf::from(name)
}

/// Streams the body into `part` and syncs it; the bytes written. A body shorter than its
/// Content-Length is an error, not a truncated image.
async fn write_body(
    r: reqwest::Response,
    part: &Path,
    what: &str,
    on_progress: &mut impl FnMut(u64, u64),
) -> OssResult<u64> {
    let expected = r.content_length();
    let file = tokio::fs::File::create(part)
        .await
        .map_err(|e| OssError::io(part, e))?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut body = r.bytes_stream();
    let mut done = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| OssError::transport(what, e))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| OssError::io(part, e))?;
        done += chunk.len() as u64;
        on_progress(done, expected.unwrap_or(done).max(done));
    }
    if let Some(n) = expected.filter(|n| *n != done) {
        return Err(OssError::protocol(
            what,
            format!("the body had {done} bytes of the {n} announced"),
        ));
    }
    out.flush().await.map_err(|e| OssError::io(part, e))?;
    out.get_ref()
        .sync_all()
        .await
        .map_err(|e| OssError::io(part, e))?;
    Ok(done)
}

/// Renames the finished `part` to `dest` and syncs the directory, so the rename itself
/// survives a crash.
async fn place(part: &Path, dest: &Path) -> OssResult<()> {
    tokio::fs::rename(part, dest)
        .await
        .map_err(|e| OssError::io(dest, e))?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| OssError::io(dir, e))?;
    d.sync_all().await.map_err(|e| OssError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partial_file_sits_beside_the_destination() {
        assert_eq!(
            part_path(Path::new("/s/a.qcow2")),
            Path::new("/s/a.qcow2.part")
        );
        assert_eq!(part_path(Path::new("img")), Path::new("img.part"));
    }
}
