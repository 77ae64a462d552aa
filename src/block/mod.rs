//! Disk data: qcow2 layers on the storage root, through `qemu-img`.
//!
//! A layer is one qcow2 file named `<layer-id>.qcow2` in one directory; an overlay names its
//! backing file by that short relative name (qcow2 caps backing names at 1023 bytes, and
//! relative names keep the store movable). Nothing here knows what a disk or an image is.

pub mod file_roots;
pub mod qcow2;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use thiserror::Error;
use tokio::process::Command;

#[derive(Debug, Error)]
pub enum BlockError {
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("io on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl BlockError {
    /// Whether the storage was full: a write of Kiln's own (`ENOSPC`) or of qemu-img's
    /// (which reports it only on stderr).
    pub fn is_storage_full(&self) -> bool {
        match self {
            BlockError::Io { source, .. } | BlockError::Spawn { source, .. } => {
                source.raw_os_error() == Some(libc::ENOSPC)
            }
            BlockError::Failed { stderr, .. } => stderr.contains("No space left on device"),
        }
    }
}

pub type BlockResult<T> = Result<T, BlockError>;

pub const GIB: u64 = 1 << 30;

#[derive(Debug, Clone)]
pub struct BlockStore {
    dir: PathBuf,
    qemu_img: PathBuf,
    /// A qemu-img run longer than this is killed and counts as failed (a hung NFS mount,
    /// a stuck process); the operation then ends in its error state.
    timeout: std::time::Duration,
}

impl BlockStore {
    /// Opens (creating if needed) the layer directory under `root`.
    pub fn open(root: &Path, qemu_img: PathBuf) -> BlockResult<Self> {
        // Absolute, since qemu-img runs inside it and is handed paths under it: with a
        // relative data directory (`kiln serve`'s default ./kiln-data) they would miss.
        let dir = std::path::absolute(root.join("layers")).unwrap_or_else(|_| root.join("layers"));
        std::fs::create_dir_all(&dir).map_err(|source| BlockError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            qemu_img,
            timeout: std::time::Duration::from_secs(3600),
        })
    }

    /// Sets the longest a single qemu-img run may take.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn layer_file_name(layer_id: &str) -> String {
        format!("{layer_id}.qcow2")
    }

    pub fn layer_path(&self, layer_id: &str) -> PathBuf {
        self.dir.join(Self::layer_file_name(layer_id))
    }

    pub fn exists(&self, layer_id: &str) -> bool {
        self.layer_path(layer_id).exists()
    }

    /// An empty layer of `size` bytes with no backing file.
    pub async fn create_blank(&self, layer_id: &str, size: u64) -> BlockResult<()> {
        self.write_empty(layer_id, size, None).await
    }

    /// An empty overlay on `backing_id`: constant time whatever the backing size (a few
    /// kilobytes of metadata, written directly). `size` (bytes) grows the virtual disk
    /// beyond the backing's size when given; otherwise the backing's size is used.
    pub async fn create_overlay(
        &self,
        layer_id: &str,
        backing_id: &str,
        size: Option<u64>,
    ) -> BlockResult<()> {
        let backing = Self::layer_file_name(backing_id);
        let size = match size {
            Some(s) => s,
            None => {
                self.virtual_size(&self.layer_path(backing_id), "qcow2")
                    .await?
            }
        };
        if !self.layer_path(backing_id).exists() {
            return Err(BlockError::Io {
                path: self.layer_path(backing_id),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "backing layer missing"),
            });
        }
        self.write_empty(layer_id, size, Some(backing)).await
    }

    /// Several overlays at once (`(new layer, backing layer, virtual size)` each), written
    /// and published on the caller's thread: each is a few KiB of metadata in the page
    /// cache, tens of microseconds. On the blocking pool, with 32 createImage calls at once,
    /// 32 pool threads shared the server's core with its one runtime thread, which then got
    /// a thirty-third of it for everything else: requests waited 13 ms (p50) before their
    /// handler ran. All or none: on a failure the ones already written are removed.
    pub async fn create_overlays(&self, overlays: &[(String, String, u64)]) -> BlockResult<()> {
        let dir = &self.dir;
        let mut done: Vec<PathBuf> = Vec::new();
        let result = overlays.iter().try_for_each(|(layer, backing, size)| {
            let dest = dir.join(Self::layer_file_name(layer));
            let tmp = dir.join(format!("{layer}.qcow2.tmp"));
            let io = |path: &PathBuf| {
                let path = path.clone();
                move |source| BlockError::Io { path, source }
            };
            if !dir.join(Self::layer_file_name(backing)).exists() {
                let missing =
                    std::io::Error::new(std::io::ErrorKind::NotFound, "backing layer missing");
                return Err(io(&dir.join(Self::layer_file_name(backing)))(missing));
            }
            let written = qcow2::write_empty(&tmp, *size, Some(&Self::layer_file_name(backing)))
                .and_then(|()| std::fs::rename(&tmp, &dest));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(io(&tmp)(e));
            }
            done.push(dest);
            Ok(())
        });
        if result.is_err() {
            for path in &done {
                let _ = std::fs::remove_file(path);
            }
        }
        result
    }

    async fn write_empty(
        &self,
        layer_id: &str,
        size: u64,
        backing: Option<String>,
    ) -> BlockResult<()> {
        let tmp = self.tmp_name(layer_id);
        let path = PathBuf::from(&tmp);
        let written = async {
            tokio::task::spawn_blocking(move || qcow2::write_empty(&path, size, backing.as_deref()))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(|source| BlockError::Io {
                    path: PathBuf::from(&tmp),
                    source,
                })
        };
        self.publish_when_done(written, &tmp, layer_id).await
    }

    /// A small synthetic base layer: a text label in its first sector, the rest unallocated,
    /// `size` bytes of virtual disk. Used for the public catalog, which ships no real OS.
    pub async fn create_labelled(&self, layer_id: &str, size: u64, label: &str) -> BlockResult<()> {
        let raw = self.dir.join(format!("{layer_id}.label.raw"));
        let mut bytes = label.as_bytes().to_vec();
        bytes.resize(64 * 1024, 0);
        tokio::fs::write(&raw, &bytes)
            .await
            .map_err(|source| BlockError::Io {
                path: raw.clone(),
                source,
            })?;
        let tmp = self.tmp_name(layer_id);
        let raw_s = raw.to_string_lossy().into_owned();
        let written = async {
            self.qemu_img(&["convert", "-q", "-f", "raw", "-O", "qcow2", &raw_s, &tmp])
                .await?;
            self.qemu_img(&["resize", "-q", "-f", "qcow2", &tmp, &size.to_string()])
                .await
        };
        let result = self.publish_when_done(written, &tmp, layer_id).await;
        let _ = tokio::fs::remove_file(&raw).await;
        result
    }

    /// A standalone copy of the disk seen through `source_id` (its whole backing chain
    /// flattened), sparse: only allocated data is copied. Returns the bytes the new file
    /// takes on disk.
    pub async fn flatten(&self, layer_id: &str, source_id: &str) -> BlockResult<u64> {
        let tmp = self.tmp_name(layer_id);
        let src = Self::layer_file_name(source_id);
        let args = ["convert", "-q", "-f", "qcow2", "-O", "qcow2", &src, &tmp];
        let written = self.qemu_img(&args);
        self.publish_when_done(written, &tmp, layer_id).await?;
        self.allocated_bytes(layer_id).await
    }

    /// Grows the virtual size of a (writable, top) layer to `size` bytes in place; its data
    /// stays, the new end reads as zeros. Idempotent: a layer already that large is left
    /// as it is (a step re-run after a crash). Never shrinks.
    pub async fn grow(&self, layer_id: &str, size: u64) -> BlockResult<()> {
        let path = self.layer_path(layer_id);
        if self.virtual_size(&path, "qcow2").await? >= size {
            return Ok(());
        }
        let file = Self::layer_file_name(layer_id);
        let size = size.to_string();
        self.qemu_img(&["resize", "-q", "-f", "qcow2", &file, &size])
            .await
    }

    /// A standalone qcow2 layer from an image file in any format qemu-img reads (`qcow2`,
    /// `raw`, `vmdk`, `vpc` for VHD), grown to `size` bytes when the source is smaller.
    /// Fails if the source's virtual size is larger than `size`.
    pub async fn import(
        &self,
        layer_id: &str,
        source: &Path,
        format: &str,
        size: u64,
    ) -> BlockResult<()> {
        let virtual_size = self.virtual_size(source, format).await?;
        if virtual_size > size {
            return Err(BlockError::Failed {
                command: "import".into(),
                status: "rejected".into(),
                stderr: format!(
                    "image is {virtual_size} bytes, larger than the {size} bytes asked for"
                ),
            });
        }
        let tmp = self.tmp_name(layer_id);
        let src = source.to_string_lossy().into_owned();
        let written = async {
            self.qemu_img(&["convert", "-q", "-f", format, "-O", "qcow2", &src, &tmp])
                .await?;
            if virtual_size < size {
                self.qemu_img(&["resize", "-q", "-f", "qcow2", &tmp, &size.to_string()])
                    .await?;
            }
            Ok(())
        };
        self.publish_when_done(written, &tmp, layer_id).await
    }

    /// Writes the disk seen through `layer_id` (chain flattened) to `dest` as qcow2; the
    /// file appears under its name only when complete.
    pub async fn export(&self, layer_id: &str, dest: &Path) -> BlockResult<()> {
        let tmp = dest.with_extension("qcow2.part");
        let tmp_s = tmp.to_string_lossy().into_owned();
        let src = Self::layer_file_name(layer_id);
        // Never write through whatever a previous attempt (or anyone) left under that name.
        let _ = tokio::fs::remove_file(&tmp).await;
        if let Err(e) = self
            .qemu_img(&["convert", "-q", "-f", "qcow2", "-O", "qcow2", &src, &tmp_s])
            .await
        {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, dest)
            .await
            .map_err(|source| BlockError::Io {
                path: dest.to_path_buf(),
                source,
            })
    }

    /// The bytes the layer files of `chain` occupy together: at most what a flattened
    /// copy of the disk they make writes (each guest cluster is copied once, from the
    /// topmost layer that has it). A file already gone counts nothing.
    pub async fn chain_allocated_bytes(&self, chain: &[String]) -> BlockResult<u64> {
        let mut total = 0u64;
        for layer_id in chain {
            match self.allocated_bytes(layer_id).await {
                Ok(n) => total = total.saturating_add(n),
                Err(BlockError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    pub async fn virtual_size(&self, source: &Path, format: &str) -> BlockResult<u64> {
        let src = source.to_string_lossy().into_owned();
        let stdout = self
            .run(&["info", "--output=json", "-f", format, &src])
            .await?;
        let failed = |stderr: String| BlockError::Failed {
            command: format!("qemu-img info {src}"),
            status: "unreadable".into(),
            stderr,
        };
        let v: serde_json::Value = serde_json::from_slice(&stdout)
            .map_err(|e| failed(format!("unreadable qemu-img info output: {e}")))?;
        v["virtual-size"]
            .as_u64()
            .ok_or_else(|| failed("no virtual-size".into()))
    }

    /// Bytes free for Kiln on the filesystem of the layer directory (what an unprivileged
    /// writer may still use).
    pub fn free_bytes(&self) -> BlockResult<u64> {
        use std::os::unix::ffi::OsStrExt;
        let io = |source| BlockError::Io {
            path: self.dir.clone(),
            source,
        };
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes())
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: a NUL-terminated path and a buffer of the right type; read only on success.
        let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
        if rc != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        // SAFETY: statvfs returned 0, so it filled the buffer.
        let st = unsafe { st.assume_init() };
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Bytes a layer file occupies on disk (its allocated blocks, not its virtual size).
    pub async fn allocated_bytes(&self, layer_id: &str) -> BlockResult<u64> {
        use std::os::unix::fs::MetadataExt;
        let path = self.layer_path(layer_id);
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|source| BlockError::Io { path, source })?;
        Ok(meta.blocks() * 512)
    }

    /// Deletes a layer file; a missing file is not an error (deletion is idempotent).
    pub async fn remove(&self, layer_id: &str) -> BlockResult<()> {
        let path = self.layer_path(layer_id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(BlockError::Io { path, source }),
        }
    }

    /// Bytes written so far into the file of a layer still being made (`flatten`,
    /// `import`): for progress reports. 0 when none is being made.
    pub async fn partial_bytes(&self, layer_id: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        match tokio::fs::metadata(self.tmp_name(layer_id)).await {
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        }
    }

    fn tmp_name(&self, layer_id: &str) -> String {
        self.dir
            .join(format!("{layer_id}.qcow2.tmp"))
            .to_string_lossy()
            .into_owned()
    }

    /// Awaits `write` (which fills the temp file `tmp`), then renames the finished file into
    /// place, so a half-written layer never carries a layer's name. A failed write leaves
    /// nothing behind: its temp file is removed.
    async fn publish_when_done(
        &self,
        write: impl std::future::Future<Output = BlockResult<()>>,
        tmp: &str,
        layer_id: &str,
    ) -> BlockResult<()> {
        let mut partial = PartialFile {
            path: tmp,
            published: false,
        };
        write.await?;
        let dest = self.layer_path(layer_id);
        tokio::fs::rename(tmp, &dest)
            .await
            .map_err(|source| BlockError::Io { path: dest, source })?;
        partial.published = true;
        Ok(())
    }

    async fn qemu_img(&self, args: &[&str]) -> BlockResult<()> {
        self.run(args).await.map(|_| ())
    }

    /// Runs qemu-img in the layer directory, killed after the timeout; returns stdout.
    async fn run(&self, args: &[&str]) -> BlockResult<Vec<u8>> {
        let program = self.qemu_img.to_string_lossy().into_owned();
        let mut command = Command::new(&self.qemu_img);
        die_with_parent(&mut command);
        let run = command
            .args(args)
            .current_dir(&self.dir)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| BlockError::Failed {
                command: format!("{program} {}", args.join(" ")),
                status: "killed".into(),
                stderr: format!("no answer within {:?}", self.timeout),
            })?
            .map_err(|source| BlockError::Spawn {
                program: program.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(BlockError::Failed {
                command: format!("{program} {}", args.join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }
}

/// A layer's file being written, removed when dropped unless it was published: a write
/// that fails, or whose future is dropped midway (a step that gave up while qemu-img ran,
/// which kill-on-drop stops), leaves no temp file behind.
struct PartialFile<'a> {
    path: &'a str,
    published: bool,
}

impl Drop for PartialFile<'_> {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

/// A qemu-img child must not outlive a killed server: after a restart it would go on
/// writing a temp file that the start-up sweep has already judged. Linux delivers SIGKILL
/// to the child when the thread that spawned it dies (tokio's worker threads live as long
/// as the process).
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, BlockStore) {
        let dir = tempfile::tempdir().unwrap();
        let bs = BlockStore::open(dir.path(), "qemu-img".into()).unwrap();
        (dir, bs)
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    async fn overlay_names_its_backing_relatively() {
        let (_d, bs) = store();
        bs.create_blank("lyr-a", GIB).await.unwrap();
        bs.create_overlay("lyr-b", "lyr-a", None).await.unwrap();
        let out = std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(bs.layer_path("lyr-b"))
            .output()
            .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["backing-filename"], "lyr-a.qcow2");
        assert_eq!(info["virtual-size"], GIB);
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    async fn failures_are_reported_and_leave_no_layer() {
        let (_d, bs) = store();
        // qemu-img (asked for the backing's size) fails, with its stderr in the error.
        let err = bs
            .create_overlay("lyr-b", "missing", None)
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Failed { .. }), "{err}");
        // The native writer refuses a missing backing too.
        let err = bs
            .create_overlay("lyr-b", "missing", Some(GIB))
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Io { .. }), "{err}");
        assert!(!bs.exists("lyr-b"));
    }

    /// A copy given up midway (its future dropped while qemu-img writes) leaves no temp
    /// file: the progress reporter of a copy can fail and drop the flatten it races.
    #[tokio::test]
    async fn a_dropped_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A qemu-img that creates its output (the last argument), then takes its time.
        let fake = dir.path().join("slow-qemu-img");
        std::fs::write(
            &fake,
            "#!/bin/sh\nfor a; do out=$a; done\n: > \"$out\"\nexec sleep 5\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bs = BlockStore::open(dir.path(), fake).unwrap();
        let tmp = bs.dir().join("lyr-copy.qcow2.tmp");
        // Boxed, so that dropping it drops the future itself.
        let mut copying = Box::pin(bs.flatten("lyr-copy", "lyr-src"));
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                tokio::select! {
                    _ = &mut copying => panic!("the slow write finished"),
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                        if tmp.exists() {
                            break;
                        }
                    }
                }
            }
        })
        .await;
        assert!(waited.is_ok(), "the write never started");
        drop(copying);
        assert!(!tmp.exists(), "temp file left behind");
        assert!(!bs.exists("lyr-copy"));
    }

    /// An overlay grows in place (its backing stays), twice is once, and it never shrinks.
    #[tokio::test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    async fn grow_is_in_place_and_idempotent() {
        let (_d, bs) = store();
        bs.create_blank("lyr-a", GIB).await.unwrap();
        bs.create_overlay("lyr-b", "lyr-a", None).await.unwrap();
        bs.grow("lyr-b", 3 * GIB).await.unwrap();
        bs.grow("lyr-b", 3 * GIB).await.unwrap();
        bs.grow("lyr-b", 2 * GIB).await.unwrap();
        let path = bs.layer_path("lyr-b");
        assert_eq!(bs.virtual_size(&path, "qcow2").await.unwrap(), 3 * GIB);
        let out = std::process::Command::new("qemu-img")
            .args(["info", "--output=json"])
            .arg(&path)
            .output()
            .unwrap();
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["backing-filename"], "lyr-a.qcow2");
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    async fn labelled_layer_is_small_but_large() {
        let (_d, bs) = store();
        bs.create_labelled("lyr-l", 40 * GIB, "KILN SYNTHETIC")
            .await
            .unwrap();
        let meta = std::fs::metadata(bs.layer_path("lyr-l")).unwrap();
        assert!(meta.len() < 4 << 20, "file is {} bytes", meta.len());
        bs.remove("lyr-l").await.unwrap();
        bs.remove("lyr-l").await.unwrap();
    }
}
