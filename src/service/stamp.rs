//! A file whose identity says "this changed", for caches kept right across processes.
//!
//! Operator commands (`kiln account …`, `kiln admin fault …`) usually run in another process
//! than the server. Each change commits and then replaces a stamp file in the data directory
//! (a new file renamed over the old one: a new inode, so its identity always changes). A
//! server looks at the stamp's identity (one `stat`) before it uses what it cached, and
//! starts over when the stamp is not the one it filled the cache under: a change applies
//! from the server's next request, with no database round trip while nothing changes.

use std::path::{Path, PathBuf};

use crate::ids::random_suffix;

/// The stamp file of one kind of change.
#[derive(Debug, Clone)]
pub struct StampFile {
    path: PathBuf,
}

/// The identity of the stamp file as it was seen (a missing file included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(Option<(u64, u64, i64, i64, i64, i64, u64)>);

impl StampFile {
    pub fn new(data_dir: &Path, name: &str) -> StampFile {
        StampFile {
            path: data_dir.join(name),
        }
    }

    /// The stamp as it is now.
    pub fn current(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp(std::fs::metadata(&self.path).ok().map(|m| {
            (
                m.dev(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                m.len(),
            )
        }))
    }

    /// Marks a change (after it committed): every server on this data directory sees a new
    /// stamp at its next request.
    pub fn touch(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("stamp.tmp");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        std::fs::write(&tmp, format!("{nanos} {}\n", random_suffix(8)))?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_touch_is_a_new_stamp_however_close_together() {
        let dir = tempfile::tempdir().unwrap();
        let f = StampFile::new(dir.path(), "x.stamp");
        assert_eq!(f.current(), Stamp(None), "no stamp file yet");
        for _ in 0..50 {
            let before = f.current();
            f.touch().unwrap();
            assert_ne!(before, f.current());
        }
    }
}
