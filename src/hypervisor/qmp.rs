//! A QEMU Machine Protocol client: how Kiln drives a running QEMU (pause, snapshot a disk,
//! hot-plug one, power off) over its `-qmp unix:…` socket.
//!
//! QMP is JSON lines in both directions, and replies and asynchronous events share the
//! stream. So one reader task owns the read half and routes each line: a reply to the caller
//! whose command carried its `id` (Kiln numbers every command), an event to a broadcast
//! channel. Writes go through one mutex, so any number of callers can have commands in
//! flight. When QEMU exits the stream ends: waiting callers and every later call get
//! [`QmpError::Closed`] rather than hanging.

mod commands;
mod wire;

pub use commands::*;
use wire::command_line;
pub use wire::{parse_line, Incoming};

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::time::Instant;

#[derive(Debug, Error)]
pub enum QmpError {
    #[error("qmp i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("qmp timed out: {0}")]
    Timeout(String),
    #[error("qmp connection closed (QEMU exited)")]
    Closed,
    #[error("qmp protocol: {0}")]
    Protocol(String),
    #[error("qmp command failed: {class}: {desc}")]
    Command { class: String, desc: String },
}

/// An asynchronous event (`SHUTDOWN`, `DEVICE_DELETED`, `BLOCK_JOB_COMPLETED`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    pub name: String,
    pub data: Value,
    /// QEMU's timestamp, microseconds since the Unix epoch.
    pub at_micros: i64,
}

/// Events kept for a slow subscriber before it starts missing them.
const EVENT_BUFFER: usize = 256;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

type ReplySlot = oneshot::Sender<Result<Value, QmpError>>;

/// What the reader task and the callers share; `events` is `None` once the stream ended.
struct State {
    waiting: HashMap<u64, ReplySlot>,
    events: Option<broadcast::Sender<QmpEvent>>,
}

pub struct Qmp {
    state: Arc<Mutex<State>>,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    next_id: AtomicU64,
    closed: watch::Receiver<bool>,
    reader: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl Drop for Qmp {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Qmp {
    /// Connects to the QMP socket at `path`, waiting up to `timeout` for QEMU to create it,
    /// and negotiates capabilities.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + timeout;
        let stream = connect_retrying(path, deadline).await?;
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let within = |what: &'static str| {
            move |_| QmpError::Timeout(format!("{what} from {}", path.display()))
        };
        let greeting = tokio::time::timeout_at(deadline, read_line(&mut read))
            .await
            .map_err(within("greeting"))??;
        if !matches!(parse_line(&greeting)?, Incoming::Greeting { .. }) {
            return Err(QmpError::Protocol("no QMP greeting".into()));
        }
        write
            .write_all(&command_line("qmp_capabilities", Value::Null, 0))
            .await?;
        loop {
            let line = tokio::time::timeout_at(deadline, read_line(&mut read))
                .await
                .map_err(within("qmp_capabilities reply"))??;
            match parse_line(&line)? {
                Incoming::Return { .. } => break,
                Incoming::Error { class, desc, .. } => {
                    return Err(QmpError::Command { class, desc })
                }
                _ => {}
            }
        }
        Ok(Self::start(read, write))
    }

    fn start(read: BufReader<OwnedReadHalf>, write: OwnedWriteHalf) -> Qmp {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let state = Arc::new(Mutex::new(State {
            waiting: HashMap::new(),
            events: Some(events),
        }));
        let (closed_tx, closed) = watch::channel(false);
        let reader = tokio::spawn(read_loop(read, state.clone(), closed_tx));
        Qmp {
            state,
            writer: Arc::new(tokio::sync::Mutex::new(write)),
            next_id: AtomicU64::new(1),
            closed,
            reader,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets how long [`Qmp::execute`] waits for a reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs a typed command and reads its reply.
    pub async fn execute<C: QmpCommand>(&self, cmd: &C) -> Result<C::Reply, QmpError> {
        self.execute_within(cmd, self.timeout).await
    }

    /// [`Qmp::execute`] with its own timeout.
    pub async fn execute_within<C: QmpCommand>(
        &self,
        cmd: &C,
        timeout: Duration,
    ) -> Result<C::Reply, QmpError> {
        let args = serde_json::to_value(cmd)
            .map_err(|e| QmpError::Protocol(format!("arguments of {}: {e}", C::NAME)))?;
        let value = self.execute_raw(C::NAME, args, timeout).await?;
        serde_json::from_value(value)
            .map_err(|e| QmpError::Protocol(format!("reply to {}: {e}", C::NAME)))
    }

    /// Any command by name, with `args` (an object or null), its reply as JSON.
    pub async fn execute_raw(
        &self,
        name: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.state.lock().expect("qmp state lock");
            if state.events.is_none() {
                return Err(QmpError::Closed);
            }
            state.waiting.insert(id, tx);
        }
        // Forgets the slot however this call ends (timeout, error, caller dropped).
        let _slot = SlotGuard {
            state: &self.state,
            id,
        };
        // The write runs in its own task so a caller dropped mid-write cannot leave half a
        // command on the stream.
        let line = command_line(name, args, id);
        let writer = self.writer.clone();
        let written = tokio::spawn(async move { writer.lock().await.write_all(&line).await });
        match written.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if is_disconnect(&e) => return Err(QmpError::Closed),
            Ok(Err(e)) => return Err(QmpError::Io(e)),
            Err(e) => return Err(QmpError::Io(std::io::Error::other(e))),
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(QmpError::Closed),
            Err(_) => Err(QmpError::Timeout(format!("{name} (id {id})"))),
        }
    }

    /// A receiver of every event from now on (closed when QEMU exits).
    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        match &self.state.lock().expect("qmp state lock").events {
            Some(tx) => tx.subscribe(),
            // Already closed: a receiver whose sender is gone.
            None => broadcast::channel(1).1,
        }
    }

    /// Subscribes now, to wait later: take it before the command whose event you expect
    /// (`device_del` → `DEVICE_DELETED`, `quit` → `SHUTDOWN`), or a quick event is missed.
    pub fn subscribe(&self) -> EventWaiter {
        EventWaiter { rx: self.events() }
    }

    /// The next event `name` satisfying `pred`, from now on.
    pub async fn wait_event(
        &self,
        name: &str,
        pred: impl Fn(&QmpEvent) -> bool,
        timeout: Duration,
    ) -> Result<QmpEvent, QmpError> {
        self.subscribe().wait(name, pred, timeout).await
    }

    /// Resolves when the connection has ended (QEMU exited or closed the socket).
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }
}

/// Events received since [`Qmp::subscribe`].
pub struct EventWaiter {
    rx: broadcast::Receiver<QmpEvent>,
}

impl EventWaiter {
    /// The first event `name` satisfying `pred`; `Closed` if QEMU exits first.
    pub async fn wait(
        &mut self,
        name: &str,
        pred: impl Fn(&QmpEvent) -> bool,
        timeout: Duration,
    ) -> Result<QmpEvent, QmpError> {
        let found = async {
            loop {
                match self.rx.recv().await {
                    Ok(ev) if ev.name == name && pred(&ev) => return Ok(ev),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "qmp events dropped for a slow waiter");
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(QmpError::Closed),
                }
            }
        };
        tokio::time::timeout(timeout, found)
            .await
            .map_err(|_| QmpError::Timeout(format!("event {name}")))?
    }
}

struct SlotGuard<'a> {
    state: &'a Mutex<State>,
    id: u64,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.lock() {
            state.waiting.remove(&self.id);
        }
    }
}

fn is_disconnect(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), BrokenPipe | ConnectionReset | NotConnected)
}

/// QEMU makes the socket while it starts: a missing or refusing socket is retried.
async fn connect_retrying(path: &Path, deadline: Instant) -> Result<UnixStream, QmpError> {
    loop {
        match UnixStream::connect(path).await {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                if Instant::now() >= deadline {
                    return Err(QmpError::Timeout(format!(
                        "connecting to {}: {e}",
                        path.display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(QmpError::Io(e)),
        }
    }
}

/// One line, `Closed` at end of stream.
async fn read_line(read: &mut BufReader<OwnedReadHalf>) -> Result<Vec<u8>, QmpError> {
    let mut line = Vec::new();
    if read.read_until(b'\n', &mut line).await? == 0 {
        return Err(QmpError::Closed);
    }
    Ok(line)
}

async fn read_loop(
    mut read: BufReader<OwnedReadHalf>,
    state: Arc<Mutex<State>>,
    closed: watch::Sender<bool>,
) {
    loop {
        let line = match read_line(&mut read).await {
            Ok(line) => line,
            Err(QmpError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "qmp read failed");
                break;
            }
        };
        match parse_line(&line) {
            Ok(incoming) => route(&state, incoming),
            Err(e) => tracing::warn!(error = %e, "qmp line ignored"),
        }
    }
    // Dropping the reply slots and the event sender wakes every waiter with `Closed`.
    let mut s = state.lock().expect("qmp state lock");
    s.waiting.clear();
    s.events = None;
    drop(s);
    let _ = closed.send(true);
}

fn route(state: &Mutex<State>, incoming: Incoming) {
    let (id, reply) = match incoming {
        Incoming::Return { id, value } => (id, Ok(value)),
        Incoming::Error { id, class, desc } => (id, Err(QmpError::Command { class, desc })),
        Incoming::Event(ev) => {
            if let Some(tx) = &state.lock().expect("qmp state lock").events {
                let _ = tx.send(ev);
            }
            return;
        }
        Incoming::Greeting { .. } => return,
    };
    let slot = id
        .as_ref()
        .and_then(Value::as_u64)
        .and_then(|id| state.lock().expect("qmp state lock").waiting.remove(&id));
    match slot {
        Some(slot) => {
            let _ = slot.send(reply);
        }
        None => tracing::debug!(?id, "qmp reply for no waiting caller (timed out?)"),
    }
}

#[cfg(test)]
mod tests;
