//! Durable asynchronous work: every lifecycle transition and data-plane operation is a
//! task row whose steps a worker runs under a lease, recording progress after each step
//! in the same transaction as the step's own metadata changes. A restart (or an expired
//! lease) resumes the task at its recorded step; steps are written to be safe to repeat.

mod copy_steps;
mod disk_steps;
pub mod fault;
mod gc;
mod guest_steps;
mod image_steps;
pub mod payload;
mod steps;
mod transfer_steps;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

use crate::block::BlockStore;
use crate::ids;
use crate::store::status::TaskState;
use crate::store::{self, now_ms, Db, DbResult, Store, TaskRow};
use payload::Payload;

pub use fault::{with_injected_fault, TaskFault};
pub use gc::{collect_layers, sweep_after_restart};

/// Task kinds, one per asynchronous operation.

#[derive(Debug, Clone, Copy)]
pub struct Delays {
    /// How long each instance transition (start, stop, attach, …) takes.
    pub transition: Duration,
    /// The least time each data-plane task (disk, snapshot, image) takes.
    pub task: Duration,
    /// How long a deleted disk reads `deleted` before its row is purged.
    pub deleted_retention: Duration,
}

#[derive(Clone)]
pub struct TaskCtx {
    pub store: Store,
    /// Where downloads are staged (`<data-dir>/tmp`).
    pub scratch: std::path::PathBuf,
    pub block: BlockStore,
    pub delays: Delays,
    pub wake: Arc<Notify>,
    /// Steps running at once, counted until they outlast [`LONG_STEP`]: most steps are a
    /// few statements, and on a busy core thirty of them interleaving statement by
    /// statement only delay each other and the API requests (scenario B, 32 clients:
    /// accepted p50 10 -> 8 ms, p99 35 -> 28 ms, 410 -> 465 images/s). A step still running
    /// after `LONG_STEP` (a copy, a download) gives its place up, so it never holds up the
    /// rest.
    pub quick_steps: Arc<Semaphore>,
    /// How long a claimed task stays this node's without a renewal: a node that dies
    /// mid-task has its work resumed by another node (or its own restart) after this.
    pub lease: Duration,
    /// This node's id in the `nodes` table.
    pub node_id: Arc<str>,
    /// Where `file://` imports may read and exports may write (checked again at run time).
    pub file_roots: crate::block::file_roots::FileRoots,
    /// Which addresses `http(s)://` imports may reach (checked again at run time).
    pub import_addresses: crate::download::AddressPolicy,
    /// Object storage for OSS imports and exports, when configured.
    pub oss: Option<crate::oss::OssClient>,
    /// What runs instances (`--hypervisor`).
    pub hypervisor: crate::hypervisor::Hypervisor,
}

/// What a step asks for next.
pub enum Outcome {
    /// Run the next step after this delay.
    Next(Duration),
    Done,
}

/// How many steps do metadata work at once (see `TaskCtx::quick_steps`).
pub const QUICK_STEPS: usize = 4;
/// After this long a running step no longer counts against [`QUICK_STEPS`].
const LONG_STEP: Duration = Duration::from_millis(25);

/// How soon a step that met a transient database error runs again.
const RETRY_MS: i64 = 1_000;
const MAX_PARALLEL: usize = 32;

/// Records a new task of `payload`'s kind in the caller's transaction; it runs once the
/// transaction commits (call `TaskCtx::wake` after commit to start it without waiting for
/// the poll).
pub async fn enqueue<P: Payload>(
    db: &mut Db,
    target_id: &str,
    payload: &P,
    delay: Duration,
) -> DbResult<String> {
    let row = new_task(target_id, payload, delay);
    store::task::task_insert(db, &row).await?;
    Ok(row.id)
}

/// A task as `enqueue` records it, for callers that insert it themselves.
pub fn new_task<P: Payload>(target_id: &str, payload: &P, delay: Duration) -> TaskRow {
    let now = now_ms();
    TaskRow {
        id: ids::task_id(),
        kind: P::KIND,
        target_id: target_id.to_string(),
        step: 0,
        state: TaskState::Pending,
        run_after: now + delay.as_millis() as i64,
        lease_until: 0,
        payload: serde_json::to_string(payload).expect("a payload is plain data"),
        error: None,
        created_at: now,
        // The call that makes the task may run under a fault rule's task effect.
        fault: fault::injected().and_then(|f| serde_json::to_string(&f).ok()),
    }
}

/// Ends the current step inside `tx`: either schedule the next one or mark the task done.
/// A next step due at once stays leased to this node, which runs it straight after
/// (`run_one`); a later one is released for whichever node claims it when due.
pub async fn finish_step(tx: &mut Db, task: &TaskRow, outcome: Outcome) -> DbResult<()> {
    let tasks = &mut *tx;
    match outcome {
        Outcome::Next(delay) if delay.is_zero() => {
            store::task::task_advance_held(tasks, &task.id, task.step + 1).await
        }
        Outcome::Next(delay) => {
            let due = now_ms() + delay.as_millis() as i64;
            store::task::task_advance(tasks, &task.id, task.step + 1, due, &task.payload).await
        }
        Outcome::Done => store::task::task_finish(tasks, &task.id, TaskState::Done, None).await,
    }
}

impl TaskCtx {
    /// How old a file without metadata must be before a node of a cluster removes it:
    /// twice the lease (every writer renews or finishes within one), at least 10 s.
    pub fn orphan_grace(&self) -> Duration {
        (self.lease * 2).max(Duration::from_secs(10))
    }

    /// Starts the worker: it claims due tasks and runs each on its own tokio task until
    /// `WorkerHandle::shutdown`.
    pub fn spawn_worker(self) -> WorkerHandle {
        let permits = Arc::new(Semaphore::new(MAX_PARALLEL));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let join = tokio::spawn(self.run_worker(permits.clone(), stop_rx));
        WorkerHandle {
            stop: stop_tx,
            permits,
            join,
        }
    }

    async fn run_worker(
        self,
        permits: Arc<Semaphore>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut last_prune = now_ms();
        let mut last_beat = now_ms();
        while !*stop.borrow() {
            if now_ms() - last_beat >= (self.lease.as_millis() as i64 / 3).max(100) {
                last_beat = now_ms();
                if let Err(e) = self.beat("").await {
                    tracing::warn!("recording this node as live failed: {e}");
                }
            }
            match self.claim().await {
                Ok(tasks) => {
                    let claimed = tasks.len();
                    for task in tasks {
                        let permit = permits.clone().acquire_owned().await.expect("semaphore");
                        let ctx = self.clone();
                        tokio::spawn(async move {
                            ctx.run_one(task).await;
                            drop(permit);
                            ctx.wake.notify_one();
                        });
                    }
                    if claimed > 0 {
                        continue;
                    }
                }
                Err(e) => tracing::warn!("claiming tasks failed: {e}"),
            }
            if now_ms() - last_prune > 3_600_000 {
                last_prune = now_ms();
                if let Ok(mut tx) = self.store.write().await {
                    let _ = store::task::task_prune(&mut tx, 86_400_000).await;
                    let _ = tx.commit().await;
                }
            }
            let wait = self.until_next_due().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn claim(&self) -> DbResult<Vec<TaskRow>> {
        let mut tx = self.store.write_unordered().await?;
        let lease_ms = self.lease.as_millis() as i64;
        let tasks = store::task::task_claim_due(&mut tx, lease_ms, MAX_PARALLEL as i64).await?;
        tx.commit().await?;
        Ok(tasks)
    }

    async fn until_next_due(&self) -> Duration {
        let next = match self.store.read().await {
            Ok(mut c) => store::task::task_next_due(&mut c).await.ok().flatten(),
            Err(_) => None,
        };
        let max = Duration::from_secs(1);
        match next {
            Some(t) => Duration::from_millis((t - now_ms()).clamp(0, 1000) as u64).min(max),
            None => max,
        }
    }

    async fn run_one(&self, mut task: TaskRow) {
        loop {
            if !self.run_step_leased(&task).await {
                return;
            }
            // A step that ended with the next one due at once kept the lease: go on with it
            // here instead of a claim round through the database and the worker loop.
            let next = match self.store.read().await {
                Ok(mut db) => store::task::task_get(&mut db, &task.id)
                    .await
                    .ok()
                    .flatten(),
                Err(_) => None,
            };
            match next {
                Some(t)
                    if t.state == TaskState::Pending
                        && t.step == task.step + 1
                        && t.lease_until > now_ms()
                        && t.run_after <= now_ms() =>
                {
                    task = t
                }
                // Done, released for later, or unreadable just now: if it is still leased
                // to this node, the lease running out brings it back.
                _ => return,
            }
        }
    }

    /// Runs one step of a task this node has leased; whether it succeeded.
    async fn run_step_leased(&self, task: &TaskRow) -> bool {
        // Renew the lease while the step runs (a qemu-img copy may outlast it), so no other
        // node takes the task over from a live one.
        let renew = {
            let ctx = self.clone();
            let (id, step) = (task.id.clone(), task.step);
            tokio::spawn(async move {
                let lease_ms = ctx.lease.as_millis() as i64;
                loop {
                    tokio::time::sleep(ctx.lease / 3).await;
                    let renewed = match ctx.store.write_unordered().await {
                        Ok(mut tx) => {
                            let r =
                                store::task::task_renew_lease(&mut tx, &id, step, lease_ms).await;
                            let _ = tx.commit().await;
                            r
                        }
                        Err(e) => Err(e),
                    };
                    match renewed {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => tracing::warn!(task = %id, "renewing the lease failed: {e}"),
                    }
                }
            })
        };
        let result = {
            let mut quick = Some(
                self.quick_steps
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore"),
            );
            let step = async {
                fault::before_first_step(task).await?;
                steps::run_step(self, task).await
            };
            tokio::pin!(step);
            tokio::select! {
                r = &mut step => r,
                _ = tokio::time::sleep(LONG_STEP) => {
                    quick.take();
                    step.await
                }
            }
        };
        renew.abort();
        let Err(e) = result else {
            return true;
        };
        if let StepError::Db(db) = &e {
            if store::is_transient(db) {
                tracing::warn!(task = %task.id, kind = %task.kind, step = task.step, "step will be retried: {e}");
                self.retry_later(task).await;
                return false;
            }
        }
        tracing::error!(task = %task.id, kind = %task.kind, step = task.step, "task failed: {e}");
        if let Err(e2) = steps::fail(self, task, &e.to_string()).await {
            tracing::error!(task = %task.id, "recording the failure failed too: {e2}");
        }
        false
    }

    /// Steps are idempotent: a step that met a transient database error runs again
    /// shortly. Releasing the lease is itself a write, so it is tried until the database
    /// takes it, for at most half the lease; after that the lease running out brings the
    /// task back anyway.
    async fn retry_later(&self, task: &TaskRow) {
        let deadline = now_ms() + self.lease.as_millis() as i64 / 2;
        loop {
            tokio::time::sleep(Duration::from_millis(RETRY_MS as u64)).await;
            let released = async {
                let mut tx = self.store.write().await?;
                store::task::task_advance(&mut tx, &task.id, task.step, now_ms(), &task.payload)
                    .await?;
                tx.commit().await
            }
            .await;
            if released.is_ok() || now_ms() > deadline {
                self.wake.notify_one();
                return;
            }
        }
    }

    /// Records this node as live (`addr` empty: keep the recorded one).
    pub async fn beat(&self, addr: &str) -> DbResult<()> {
        let mut tx = self.store.write_unordered().await?;
        let lease_ms = self.lease.as_millis() as i64;
        if addr.is_empty() {
            store::node::node_touch(&mut tx, &self.node_id).await?;
        } else {
            store::node::node_beat(&mut tx, &self.node_id, addr, lease_ms).await?;
        }
        tx.commit().await
    }

    /// Registers this node and tells whether it is the only live one (always, on SQLite).
    /// A node alone may clean up after dead ones at once; otherwise the leases and files
    /// it finds may be another live node's.
    pub async fn join(&self, addr: &str) -> DbResult<bool> {
        self.beat(addr).await?;
        if !self.store.shared() {
            // SQLite: one node per data directory; any other row is a dead predecessor
            // (e.g. one that listened on another port).
            return Ok(true);
        }
        let mut conn = self.store.read().await?;
        Ok(store::node::nodes_alive_except(&mut conn, &self.node_id).await? == 0)
    }

    /// Removes this node from the live ones (clean stop).
    pub async fn leave(&self) -> DbResult<()> {
        let mut tx = self.store.write_unordered().await?;
        store::node::node_leave(&mut tx, &self.node_id).await?;
        tx.commit().await
    }

    /// Resets leases left by previous processes so their tasks resume at once instead of
    /// after the lease runs out. Only when no other node is live (`alone` from `join`): the
    /// leases may be other live nodes'; a dead node's tasks then resume when its lease ends.
    pub async fn release_stale_leases(&self, alone: bool) -> DbResult<()> {
        if !alone {
            return Ok(());
        }
        let mut tx = self.store.write().await?;
        store::task::task_release_leases(&mut tx).await?;
        tx.commit().await
    }
}

/// The running worker, for a graceful stop.
pub struct WorkerHandle {
    stop: tokio::sync::watch::Sender<bool>,
    permits: Arc<Semaphore>,
    join: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming tasks and waits (at most `grace`) until every running step has
    /// reached its recorded end. What is left is resumed by the next start.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let _ = self.join.await;
        tokio::time::timeout(grace, self.permits.acquire_many(MAX_PARALLEL as u32))
            .await
            .is_ok()
    }
}

/// Errors a step can meet.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Block(#[from] crate::block::BlockError),
    #[error("{0}")]
    Invalid(String),
    /// A fault rule's `--task-error`.
    #[error("{0}")]
    Injected(String),
    #[error(transparent)]
    Hypervisor(#[from] crate::hypervisor::HypervisorError),
}
