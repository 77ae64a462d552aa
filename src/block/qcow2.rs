//! Writes empty qcow2 (v3) images directly, without spawning `qemu-img create`.
//!
//! An empty image or overlay is only metadata: a header, one refcount table and block,
//! and a zeroed L1 table. Writing those few kilobytes takes microseconds, where starting
//! a qemu-img process takes milliseconds; snapshots and images create one overlay per
//! disk inside the API call, so this is their cost. The layout is the one
//! `qemu-img create -f qcow2 [-b NAME -F qcow2]` produces (64 KiB clusters, 16-bit
//! refcounts); the unit tests check the result with `qemu-img check` and read through.

use std::io::Write;
use std::path::Path;

const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
const HEADER_LENGTH: u32 = 112;
const BACKING_FORMAT_EXT: u32 = 0xE279_2ACA;
/// qcow2 caps backing file names at 1023 bytes.
pub const MAX_BACKING_NAME: usize = 1023;

/// Writes an empty qcow2 image of `size` bytes at `path`; with `backing`, an overlay on
/// that (qcow2) file, named as given (relative names resolve next to the overlay).
pub fn write_empty(path: &Path, size: u64, backing: Option<&str>) -> std::io::Result<()> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    if size == 0 || !size.is_multiple_of(512) {
        return Err(invalid("qcow2 size must be a positive multiple of 512"));
    }
    if backing.is_some_and(|b| b.is_empty() || b.len() > MAX_BACKING_NAME) {
        return Err(invalid("backing file name must be 1..=1023 bytes"));
    }
    // Each L1 entry maps one L2 table: CLUSTER / 8 clusters of data.
    let bytes_per_l1_entry = CLUSTER * (CLUSTER / 8);
    let l1_size = size.div_ceil(bytes_per_l1_entry);
    let l1_bytes = l1_size * 8;
    let l1_clusters = l1_bytes.div_ceil(CLUSTER).max(1);
    let refcount_table_offset = CLUSTER;
    let refcount_block_offset = 2 * CLUSTER;
    let l1_offset = 3 * CLUSTER;
    let used_clusters = 3 + l1_clusters;
    if used_clusters > CLUSTER / 2 {
        return Err(invalid("image too large for one refcount block"));
    }

    let mut header = Vec::with_capacity(CLUSTER as usize);
    let backing_offset: u64 = match backing {
        Some(_) => u64::from(HEADER_LENGTH) + 16 + 8,
        None => 0,
    };
    header.extend_from_slice(b"QFI\xfb");
    header.extend_from_slice(&3u32.to_be_bytes()); // version
    header.extend_from_slice(&backing_offset.to_be_bytes());
    header.extend_from_slice(&(backing.map_or(0, str::len) as u32).to_be_bytes());
    header.extend_from_slice(&CLUSTER_BITS.to_be_bytes());
    header.extend_from_slice(&size.to_be_bytes());
    header.extend_from_slice(&0u32.to_be_bytes()); // no encryption
    header.extend_from_slice(&(l1_size as u32).to_be_bytes());
    header.extend_from_slice(&l1_offset.to_be_bytes());
    header.extend_from_slice(&refcount_table_offset.to_be_bytes());
    header.extend_from_slice(&1u32.to_be_bytes()); // refcount table clusters
    header.extend_from_slice(&0u32.to_be_bytes()); // snapshots
    header.extend_from_slice(&0u64.to_be_bytes()); // snapshots offset
    header.extend_from_slice(&0u64.to_be_bytes()); // incompatible features
    header.extend_from_slice(&0u64.to_be_bytes()); // compatible features
    header.extend_from_slice(&0u64.to_be_bytes()); // autoclear features
    header.extend_from_slice(&4u32.to_be_bytes()); // refcount order: 16-bit
    header.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
    header.push(0); // compression type: zlib
    header.resize(HEADER_LENGTH as usize, 0);
    if let Some(name) = backing {
        header.extend_from_slice(&BACKING_FORMAT_EXT.to_be_bytes());
        header.extend_from_slice(&5u32.to_be_bytes());
        header.extend_from_slice(b"qcow2\0\0\0");
        header.extend_from_slice(&[0u8; 8]); // end of extensions
        header.extend_from_slice(name.as_bytes());
    } else {
        header.extend_from_slice(&[0u8; 8]);
    }

    let mut refcount_table = vec![0u8; 8];
    refcount_table.copy_from_slice(&refcount_block_offset.to_be_bytes());
    let refcount_block: Vec<u8> = (0..used_clusters)
        .flat_map(|_| 1u16.to_be_bytes())
        .collect();

    let mut f = std::fs::File::create(path)?;
    f.write_all(&header)?;
    f.set_len(l1_offset + l1_bytes)?;
    use std::os::unix::fs::FileExt;
    f.write_all_at(&refcount_table, refcount_table_offset)?;
    f.write_all_at(&refcount_block, refcount_block_offset)?;
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn qemu_img(args: &[&str], dir: &Path) -> (bool, String) {
        let out = Command::new("qemu-img")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    #[test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    fn blank_image_passes_qemu_img_check() {
        let d = tempfile::tempdir().unwrap();
        for size in [1u64 << 30, 40 << 30, 2 << 40, 16000u64 << 30] {
            let p = d.path().join("blank.qcow2");
            write_empty(&p, size, None).unwrap();
            let (ok, text) = qemu_img(&["check", "blank.qcow2"], d.path());
            assert!(ok, "size {size}: {text}");
            let (_, info) = qemu_img(&["info", "--output=json", "blank.qcow2"], d.path());
            let v: serde_json::Value = serde_json::from_str(&info).unwrap();
            assert_eq!(v["virtual-size"], size);
        }
    }

    #[test]
    #[cfg_attr(not(feature = "qemu-tests"), ignore = "needs qemu-img")]
    fn overlay_reads_through_and_takes_writes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        assert!(qemu_img(&["create", "-q", "-f", "qcow2", "base.qcow2", "1G"], dir).0);
        let io = |args: &[&str]| {
            Command::new("qemu-io")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap()
        };
        assert!(
            io(&["-f", "qcow2", "-c", "write -P 0x5a 0 1M", "base.qcow2"])
                .status
                .success()
        );
        write_empty(&dir.join("top.qcow2"), 2 << 30, Some("base.qcow2")).unwrap();
        let (ok, text) = qemu_img(&["check", "top.qcow2"], dir);
        assert!(ok, "{text}");
        let (_, info) = qemu_img(&["info", "--output=json", "top.qcow2"], dir);
        let v: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(v["backing-filename"], "base.qcow2");
        assert_eq!(v["backing-filename-format"], "qcow2");
        assert_eq!(v["virtual-size"], 2u64 << 30);
        let read = io(&["-f", "qcow2", "-c", "read -P 0x5a 0 1M", "top.qcow2"]);
        assert!(
            !String::from_utf8_lossy(&read.stdout).contains("failed"),
            "{read:?}"
        );
        assert!(
            io(&["-f", "qcow2", "-c", "write -P 0x77 0 64k", "top.qcow2"])
                .status
                .success()
        );
        let (ok, text) = qemu_img(&["check", "top.qcow2"], dir);
        assert!(ok, "after a write: {text}");
        // The base is untouched.
        let base = io(&["-f", "qcow2", "-r", "-c", "read -P 0x5a 0 1M", "base.qcow2"]);
        assert!(!String::from_utf8_lossy(&base.stdout).contains("failed"));
    }

    #[test]
    fn rejects_bad_input() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.qcow2");
        assert!(write_empty(&p, 0, None).is_err());
        assert!(write_empty(&p, 1000, None).is_err());
        assert!(write_empty(&p, 1 << 30, Some("")).is_err());
        assert!(write_empty(&p, 1 << 30, Some(&"a".repeat(1024))).is_err());
    }
}
