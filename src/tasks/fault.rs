//! Faults injected into asynchronous work (`kiln admin fault add --task-error | --task-stall`):
//! the call is accepted as usual, and the tasks it makes carry the fault: an error makes
//! the task fail at its first step, through the same path as a real failure (so nothing is
//! leaked and quota is given back); a stall holds its first step back that much longer.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::StepError;
use crate::store::TaskRow;

/// The fault a task carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TaskFault {
    Error { message: String },
    Stall { ms: u64 },
}

tokio::task_local! {
    /// The fault of the call being handled, if a rule fired for it.
    static INJECTED: TaskFault;
}

/// Runs a call's handling with `fault` given to every task it makes.
pub async fn with_injected_fault<F: Future>(fault: TaskFault, call: F) -> F::Output {
    INJECTED.scope(fault, call).await
}

/// The fault of the call being handled (none outside `with_injected_fault`).
pub fn injected() -> Option<TaskFault> {
    INJECTED.try_with(Clone::clone).ok()
}

/// What a task's injected fault does to its first step, before the step's own work: an
/// error fails the task (the usual failure path undoes what the call made); a stall waits.
pub(super) async fn before_first_step(task: &TaskRow) -> Result<(), StepError> {
    let Some(raw) = task.fault.as_deref().filter(|_| task.step == 0) else {
        return Ok(());
    };
    match serde_json::from_str::<TaskFault>(raw) {
        Ok(TaskFault::Error { message }) => Err(StepError::Injected(message)),
        Ok(TaskFault::Stall { ms }) => {
            tracing::info!(task = %task.id, "injected stall of {ms} ms");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(())
        }
        Err(e) => {
            tracing::warn!(task = %task.id, "unreadable injected fault ignored: {e}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fault_is_seen_inside_its_call_only() {
        assert_eq!(injected(), None);
        let f = TaskFault::Stall { ms: 5 };
        let seen = with_injected_fault(f.clone(), async { injected() }).await;
        assert_eq!(seen, Some(f));
        assert_eq!(injected(), None);
    }
}
