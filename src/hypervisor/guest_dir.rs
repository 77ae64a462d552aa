//! A guest's directory, `<run-dir>/<instance-id>/`: QEMU's pid file, its QMP, guest-agent
//! and serial-console sockets, its startup errors and the console log. The log stays
//! after the guest stops (it tells why a guest did not boot); the rest goes.

use std::path::{Path, PathBuf};

use super::{HvResult, HypervisorError};

/// Unix socket paths are limited to 107 bytes (`sun_path`).
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone)]
pub struct GuestDir {
    root: PathBuf,
}

impl GuestDir {
    pub fn new(run_dir: &Path, instance_id: &str) -> GuestDir {
        GuestDir {
            root: run_dir.join(instance_id),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn qmp(&self) -> PathBuf {
        self.root.join("qmp.sock")
    }
    pub fn qga(&self) -> PathBuf {
        self.root.join("qga.sock")
    }
    pub fn console_socket(&self) -> PathBuf {
        self.root.join("console.sock")
    }
    pub fn console_log(&self) -> PathBuf {
        self.root.join("console.log")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("qemu.pid")
    }
    /// QEMU's stderr until it daemonizes (its startup errors).
    pub fn qemu_log(&self) -> PathBuf {
        self.root.join("qemu.log")
    }

    /// Creates the directory; refuses a run directory so deep that the sockets' paths
    /// would not fit a unix socket address.
    pub fn prepare(&self) -> HvResult<()> {
        let longest = self.console_socket();
        if longest.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(HypervisorError::Invalid(format!(
                "{} is too long for a unix socket (at most {MAX_SOCKET_PATH} bytes): use a \
                 shorter --data-dir",
                longest.display()
            )));
        }
        std::fs::create_dir_all(&self.root).map_err(|source| HypervisorError::Io {
            path: self.root.clone(),
            source,
        })
    }

    /// The pid QEMU recorded, if its process still runs this guest (a reused pid running
    /// something else does not count).
    pub fn live_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.runs_in(pid).then_some(pid)
    }

    /// Whether `pid` is a live QEMU of this guest (a reused pid is not).
    pub fn runs_in(&self, pid: i32) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        String::from_utf8_lossy(&cmdline).contains(&*self.qmp().to_string_lossy())
            && process_alive(pid)
    }

    /// Kills the recorded QEMU process, if it still runs this guest.
    pub fn kill(&self) {
        if let Some(pid) = self.live_pid() {
            kill_pid(pid);
        }
    }

    /// Removes what only a running guest uses (sockets, pid file), keeping the logs.
    pub fn clear_runtime(&self) {
        for p in [
            self.qmp(),
            self.qga(),
            self.console_socket(),
            self.pid_file(),
        ] {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Removes the whole directory (the instance is gone).
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// The last non-empty lines of the console log (at most `n`), for error messages.
    pub fn console_tail(&self, n: usize) -> String {
        let text = std::fs::read(self.console_log()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    }
}

/// Whether `pid` runs (a zombie, which only waits to be reaped, does not).
pub fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    !stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// SIGKILL to `pid`.
pub fn kill_pid(pid: i32) {
    // SAFETY: a plain syscall; callers name a pid they found to be a guest's QEMU.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_socket_paths_that_do_not_fit() {
        let deep = PathBuf::from("/").join("d".repeat(120));
        let err = GuestDir::new(&deep, "i-0123456789").prepare().unwrap_err();
        assert!(
            err.to_string().contains("too long for a unix socket"),
            "{err}"
        );
    }

    #[test]
    fn no_pid_file_means_no_live_guest_and_tail_reads_last_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = GuestDir::new(tmp.path(), "i-a");
        dir.prepare().unwrap();
        assert_eq!(dir.live_pid(), None);
        std::fs::write(dir.pid_file(), format!("{}\n", std::process::id())).unwrap();
        // Our own pid is alive but its command line is not this guest's QEMU.
        assert_eq!(dir.live_pid(), None);
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(i32::MAX));
        std::fs::write(dir.console_log(), "one\n\ntwo\r\nthree\n").unwrap();
        assert_eq!(dir.console_tail(2), "two | three");
        dir.clear_runtime();
        assert!(dir.console_log().exists() && !dir.pid_file().exists());
    }
}
