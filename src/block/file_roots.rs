//! Which host directories `file://` URLs may reach.
//!
//! importImage reads `file://` sources and exportImage writes into `file://` directories on
//! the server's own filesystem. Without a limit any account could read the server's files
//! (or another account's exports) into an image, or drop files anywhere. The operator names
//! the directories (`kiln serve --file-root DIR`); with none, `file://` is refused.
//! Paths are checked twice: lexically when the call arrives (a clear 400, nothing created)
//! and again, symlinks resolved, right before the task touches the file.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct FileRoots {
    /// Canonical forms: what a resolved path must lie under.
    roots: Vec<PathBuf>,
    /// The forms the operator wrote (absolute): a call may name a path through them too.
    named: Vec<PathBuf>,
}

impl FileRoots {
    /// The roots, resolved to their canonical form (they must exist).
    pub fn new(dirs: &[PathBuf]) -> std::io::Result<Self> {
        let roots = dirs
            .iter()
            .map(|d| {
                std::fs::canonicalize(d).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("--file-root {}: {e}", d.display()))
                })
            })
            .collect::<Result<_, _>>()?;
        let named = dirs
            .iter()
            .filter_map(|d| std::path::absolute(d).ok())
            .collect();
        Ok(Self { roots, named })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Whether an absolute path with no `..` components lies under a root
    /// (without touching the filesystem).
    pub fn admits(&self, path: &Path) -> bool {
        let plain = path.is_absolute()
            && path
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        plain
            && self
                .roots
                .iter()
                .chain(&self.named)
                .any(|r| path.starts_with(r))
    }

    /// The real location of `path` (symlinks resolved) if it exists and lies under a root.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, String> {
        let real = std::fs::canonicalize(path)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().to_lowercase()))?;
        if self.roots.iter().any(|r| real.starts_with(r)) {
            Ok(real)
        } else {
            Err(format!(
                "{} is outside the server's --file-root directories",
                path.display()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_under_a_root_are_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let roots = FileRoots::new(&[dir.path().to_path_buf()]).unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        assert!(roots.admits(&root.join("a.qcow2")));
        assert!(roots.admits(&root.join("sub/a.qcow2")));
        assert!(!roots.admits(&root.join("../etc/passwd")));
        assert!(
            roots.admits(&root.join("./a")),
            "`.` is harmless (and normalised away)"
        );
        assert!(!roots.admits(Path::new("/etc/passwd")));
        assert!(!roots.admits(Path::new("relative/a")));
        assert!(!FileRoots::default().admits(&root.join("a")));
    }

    #[test]
    fn symlinks_out_of_a_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::fs::write(dir.path().join("ok"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        let roots = FileRoots::new(&[dir.path().to_path_buf()]).unwrap();
        assert!(roots.resolve(&dir.path().join("ok")).is_ok());
        let e = roots.resolve(&dir.path().join("link")).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        assert!(roots.resolve(&dir.path().join("missing")).is_err());
    }
}
