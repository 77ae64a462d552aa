//! A qemu-guest-agent client: how Kiln runs commands in a guest and freezes its filesystems
//! around a disk snapshot.
//!
//! The agent speaks JSON lines over the virtio-serial port QEMU exposes as a unix socket,
//! but without QMP's ids or greeting, and QEMU accepts writes even when no agent runs in the
//! guest: nothing answers then, and a reply to a call that timed out may arrive much later.
//! So every call has a deadline, calls take turns on the one stream, and the stream is
//! resynchronized (`guest-sync-delimited`: a random number echoed after a 0xFF byte, all
//! before it discarded) at connection and after any call that did not end cleanly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::{timeout_at, Instant};

#[derive(Debug, Error)]
pub enum QgaError {
    #[error("guest agent i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("guest agent timed out: {0}")]
    Timeout(String),
    #[error("guest agent connection closed")]
    Closed,
    #[error("guest agent protocol: {0}")]
    Protocol(String),
    #[error("guest agent command failed: {class}: {desc}")]
    Command { class: String, desc: String },
    #[error("no guest agent answered")]
    NoAgent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit status; -1 when the process was killed by `signal`.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezeStatus {
    Thawed,
    Frozen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Powerdown,
    Reboot,
    Halt,
}

impl ShutdownMode {
    fn as_str(self) -> &'static str {
        match self {
            ShutdownMode::Powerdown => "powerdown",
            ShutdownMode::Reboot => "reboot",
            ShutdownMode::Halt => "halt",
        }
    }
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one sync waits for its echo before it is sent again (the agent may start late).
const SYNC_ATTEMPT: Duration = Duration::from_millis(500);
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
const EXEC_POLL: Duration = Duration::from_millis(50);
/// `guest-shutdown` answers only when it fails, at once.
const SHUTDOWN_ERROR_WAIT: Duration = Duration::from_secs(2);

struct Conn {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

/// The stream, and whether the next line on it answers the next command.
#[derive(Default)]
struct Link {
    conn: Option<Conn>,
    synced: bool,
}

pub struct GuestAgent {
    path: PathBuf,
    link: tokio::sync::Mutex<Link>,
    timeout: Duration,
}

impl GuestAgent {
    /// Connects to the agent's socket and synchronizes, retrying (and reconnecting) until
    /// `timeout`: `NoAgent` if nothing answered by then.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<GuestAgent, QgaError> {
        let agent = GuestAgent {
            path: path.to_path_buf(),
            link: tokio::sync::Mutex::new(Link::default()),
            timeout: DEFAULT_TIMEOUT,
        };
        let mut link = agent.link.lock().await;
        agent.sync(&mut link, Instant::now() + timeout).await?;
        drop(link);
        Ok(agent)
    }

    /// Sets the default timeout of each call (30 s unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub async fn ping(&self) -> Result<(), QgaError> {
        self.call::<Value>("guest-ping", Value::Null, self.deadline())
            .await
            .map(drop)
    }

    /// Runs `argv` in the guest (no shell), feeding it `stdin`, and waits for its exit.
    pub async fn exec(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, QgaError> {
        self.exec_within(argv, stdin, self.timeout).await
    }

    /// [`GuestAgent::exec`] with its own timeout for the whole run. On a timeout the process
    /// keeps running in the guest.
    pub async fn exec_within(
        &self,
        argv: &[String],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<ExecOutput, QgaError> {
        let deadline = Instant::now() + timeout;
        let (path, args) = argv
            .split_first()
            .ok_or_else(|| QgaError::Protocol("exec of an empty argv".into()))?;
        let mut req = json!({"path": path, "arg": args, "capture-output": true});
        if let Some(input) = stdin {
            req["input-data"] = B64.encode(input).into();
        }
        let started: ExecStarted = self.call("guest-exec", req, deadline).await?;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        loop {
            let args = json!({"pid": started.pid});
            let st: ExecStatus = self.call("guest-exec-status", args, deadline).await?;
            decode_into(st.out_data.as_deref(), &mut stdout)?;
            decode_into(st.err_data.as_deref(), &mut stderr)?;
            if st.exited {
                return Ok(ExecOutput {
                    exit_code: st.exitcode.unwrap_or(-1),
                    signal: st.signal,
                    stdout,
                    stderr,
                });
            }
            if Instant::now() + EXEC_POLL >= deadline {
                return Err(QgaError::Timeout(format!("{path} (pid {})", started.pid)));
            }
            tokio::time::sleep(EXEC_POLL).await;
        }
    }

    /// `/bin/sh -c cmd`.
    pub async fn shell(&self, cmd: &str) -> Result<ExecOutput, QgaError> {
        let argv = ["/bin/sh", "-c", cmd].map(String::from);
        self.exec(&argv, None).await
    }

    /// Freezes the guest's filesystems; returns how many.
    pub async fn fsfreeze_freeze(&self) -> Result<u32, QgaError> {
        self.call("guest-fsfreeze-freeze", Value::Null, self.deadline())
            .await
    }

    /// Thaws them; returns how many.
    pub async fn fsfreeze_thaw(&self) -> Result<u32, QgaError> {
        self.call("guest-fsfreeze-thaw", Value::Null, self.deadline())
            .await
    }

    pub async fn fsfreeze_status(&self) -> Result<FreezeStatus, QgaError> {
        self.call("guest-fsfreeze-status", Value::Null, self.deadline())
            .await
    }

    /// Asks the guest OS to shut down. The agent answers only a failure, so silence (or the
    /// connection ending as the guest goes) is success.
    pub async fn shutdown(&self, mode: ShutdownMode) -> Result<(), QgaError> {
        let args = json!({"mode": mode.as_str()});
        let reply = self
            .call_raw("guest-shutdown", args, self.deadline(), SHUTDOWN_ERROR_WAIT)
            .await;
        match reply {
            Ok(_) | Err(QgaError::Timeout(_) | QgaError::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Any command by name with `args` (an object or null), its `return` read as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        name: &str,
        args: Value,
        deadline: Instant,
    ) -> Result<T, QgaError> {
        let value = self.call_raw(name, args, deadline, Duration::MAX).await?;
        serde_json::from_value(value)
            .map_err(|e| QgaError::Protocol(format!("reply to {name}: {e}")))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }

    /// Syncs if needed, sends, and waits for the reply until `deadline` or `reply_wait`
    /// after sending, whichever is first.
    async fn call_raw(
        &self,
        name: &str,
        args: Value,
        deadline: Instant,
        reply_wait: Duration,
    ) -> Result<Value, QgaError> {
        let timed_out = || QgaError::Timeout(name.to_string());
        let mut link = timeout_at(deadline, self.link.lock())
            .await
            .map_err(|_| timed_out())?;
        if !link.synced {
            self.sync(&mut link, deadline).await?;
        }
        // Until the reply is read the stream is out of step (also if this call is dropped).
        link.synced = false;
        let conn = link.conn.as_mut().ok_or(QgaError::Closed)?;
        let reply_deadline = Instant::now()
            .checked_add(reply_wait)
            .map_or(deadline, |d| d.min(deadline));
        let reply = timeout_at(reply_deadline, conn.request(name, args))
            .await
            .unwrap_or_else(|_| Err(timed_out()));
        match &reply {
            Ok(_) | Err(QgaError::Command { .. }) => link.synced = true,
            Err(QgaError::Io(_) | QgaError::Closed) => link.conn = None,
            Err(_) => {}
        }
        reply
    }

    /// Connects if needed and syncs until `deadline`; `NoAgent` if no sync was answered
    /// (the connect error if the socket could never be reached, `Timeout` if no attempt
    /// could be made).
    async fn sync(&self, link: &mut Link, deadline: Instant) -> Result<(), QgaError> {
        let mut connect_error = None;
        let mut connected = false;
        while Instant::now() < deadline {
            let Some(conn) = link.conn.as_mut() else {
                match UnixStream::connect(&self.path).await {
                    Ok(s) => link.conn = Some(Conn::new(s)),
                    Err(e) => {
                        connect_error = Some(e);
                        tokio::time::sleep(RECONNECT_PAUSE).await;
                    }
                }
                continue;
            };
            connected = true;
            let id = rand::thread_rng().gen_range(1..i64::from(i32::MAX));
            let attempt = deadline.min(Instant::now() + SYNC_ATTEMPT);
            match timeout_at(attempt, conn.sync_once(id)).await {
                Ok(Ok(())) => {
                    link.synced = true;
                    return Ok(());
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, path = %self.path.display(), "qga sync failed, reconnecting");
                    link.conn = None;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                Err(_) => {}
            }
        }
        match connect_error {
            _ if connected => Err(QgaError::NoAgent),
            Some(e) => Err(QgaError::Io(e)),
            // The deadline had passed before any attempt (a long wait for the stream).
            None => Err(QgaError::Timeout("guest-sync-delimited".into())),
        }
    }
}

#[derive(Deserialize)]
struct ExecStarted {
    pid: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ExecStatus {
    exited: bool,
    exitcode: Option<i32>,
    signal: Option<i32>,
    out_data: Option<String>,
    err_data: Option<String>,
}

fn decode_into(data: Option<&str>, out: &mut Vec<u8>) -> Result<(), QgaError> {
    if let Some(data) = data {
        B64.decode_vec(data, out)
            .map_err(|e| QgaError::Protocol(format!("guest-exec output not base64: {e}")))?;
    }
    Ok(())
}

impl Conn {
    fn new(stream: UnixStream) -> Conn {
        let (read, write) = stream.into_split();
        Conn {
            read: BufReader::new(read),
            write,
        }
    }

    /// Sends a sync (after a 0xFF that resets the agent's parser) and reads until its own
    /// delimited echo; stale replies and echoes of earlier syncs are skipped.
    async fn sync_once(&mut self, id: i64) -> Result<(), QgaError> {
        let cmd = json!({"execute": "guest-sync-delimited", "arguments": {"id": id}});
        let mut line = vec![0xFF];
        serde_json::to_writer(&mut line, &cmd).expect("JSON serializes");
        line.push(b'\n');
        self.write.write_all(&line).await?;
        loop {
            let mut skipped = Vec::new();
            self.read.read_until(0xFF, &mut skipped).await?;
            if skipped.last() != Some(&0xFF) {
                return Err(QgaError::Closed);
            }
            let echo = self.read_line().await?;
            let echoed = serde_json::from_slice::<Value>(&echo)
                .ok()
                .and_then(|v| v.get("return").and_then(Value::as_i64));
            if echoed == Some(id) {
                return Ok(());
            }
        }
    }

    async fn request(&mut self, name: &str, args: Value) -> Result<Value, QgaError> {
        let mut cmd = json!({ "execute": name });
        if !args.is_null() {
            cmd["arguments"] = args;
        }
        let mut line = serde_json::to_vec(&cmd).expect("JSON serializes");
        line.push(b'\n');
        self.write.write_all(&line).await?;
        let reply = loop {
            let line = self.read_line().await?;
            if !line.trim_ascii().is_empty() {
                break line;
            }
        };
        parse_reply(&reply)
    }

    async fn read_line(&mut self) -> Result<Vec<u8>, QgaError> {
        let mut line = Vec::new();
        if self.read.read_until(b'\n', &mut line).await? == 0 {
            return Err(QgaError::Closed);
        }
        Ok(line)
    }
}

/// `{"return": …}` or `{"error": {"class", "desc"}}`.
fn parse_reply(line: &[u8]) -> Result<Value, QgaError> {
    let bad = || QgaError::Protocol(format!("reply: {}", String::from_utf8_lossy(line)));
    let mut v: Value = serde_json::from_slice(line).map_err(|_| bad())?;
    if let Some(ret) = v.get_mut("return") {
        return Ok(ret.take());
    }
    let err = v.get("error").ok_or_else(bad)?;
    let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
    match (text("class"), text("desc")) {
        (Some(class), Some(desc)) => Err(QgaError::Command { class, desc }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests;
