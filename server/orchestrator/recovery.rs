//! Recovery: which servers are alive (owners are `<pid>:<instance>:<start time>`), tasks a
//! stopped server left in a working state (their recorded process group is killed, then they
//! become `interrupted`), and failures that could not be written yet (retried by each poll, and
//! shown meanwhile), so no task stays in a working state without a live agent.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::store::{self, StoreError};
use super::task::{Task, TaskId, TaskState};
use super::{Inner, TaskEvent};

/// How often the database is checked for tasks nobody runs any more (their server died, or
/// their end could not be recorded), in milliseconds.
pub(super) const RECOVERY_POLL_MS: u64 = 2000;
/// How many times a task's failure is written before it is left to the recovery poll.
const RECORD_ATTEMPTS: u32 = 3;

/// Owners (`<pid>:<n>`) of the orchestrators alive in this process.
fn live_owners() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

/// Whether the orchestrator that wrote `owner` is still running: in this process, one that has
/// not been dropped; in another, the process with that pid and start time (a later process that
/// reuses the pid is not it).
pub(super) fn owner_alive(owner: &str) -> bool {
    let Some((pid, start)) = store::parse_owner(owner) else {
        return false;
    };
    if pid == std::process::id() {
        return live_owners().lock().contains(owner);
    }
    crate::process::pid_alive(pid, start)
}

/// Stops what a dead server left running for `task`: its recorded process group, if that is
/// still the recorded process (same start time).
pub(super) fn stop_orphan(task: &Task) {
    if let Some(record) = task.process
        && record.kill_if_alive()
    {
        tracing::info!(task = task.id, pgid = record.pgid, "killed the agent a stopped server left running");
    }
}

/// Records `owner` as an orchestrator alive in this process.
pub(super) fn register_owner(owner: &str) {
    live_owners().lock().insert(owner.to_owned());
}

/// Forgets `owner` (its orchestrator is dropped): its tasks are orphans from now on.
pub(super) fn forget_owner(owner: &str) {
    live_owners().lock().remove(owner);
}

impl Inner {
    /// `task` as this server knows it: a failure it could not write yet shows as `failed`, its
    /// error saying it is not saved.
    pub(super) fn overlay(&self, mut task: Task) -> Task {
        if task.state.is_working()
            && let Some(message) = self.unrecorded.lock().get(&task.id)
        {
            task.state = TaskState::Failed;
            task.error = Some(format!("{message} (not saved yet; Baton keeps trying)"));
        }
        task
    }

    /// Writes the task's failure: its error, then the `failed` state (logged and broadcast).
    fn record_failure(&self, id: TaskId, message: &str) -> Result<(), StoreError> {
        self.store.set_field(id, store::Field::Error, message.to_owned())?;
        self.transition(id, TaskState::Failed, message.to_owned())
    }

    /// Marks the task failed, retrying a few times when the database cannot be written (a full
    /// disk). If it still cannot, the user is told at once (the event carries the failure) and
    /// the recovery poll keeps trying, so the task never stays in a working state.
    pub(super) async fn fail(&self, id: TaskId, message: String) {
        let mut last = None;
        for attempt in 0..RECORD_ATTEMPTS {
            match self.record_failure(id, &message) {
                Ok(()) => return,
                Err(StoreError::IllegalTransition { .. } | StoreError::NoTask(_)) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt + 1))).await;
        }
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        tracing::error!(task = id, error = %why, "cannot record the task's failure; retrying at each poll");
        self.unrecorded.lock().insert(id, message.clone());
        let _ = self.events.send(TaskEvent {
            task_id: id,
            state: TaskState::Failed,
            message: format!("{message} (not saved yet: {}; Baton keeps trying)", disk_words(&why)),
        });
    }

    /// One recovery pass: tasks of servers that died become `interrupted` (after their recorded
    /// process groups are killed), failures that could not be written are written, and this
    /// server's tasks in a working state that no pipeline runs any more become `failed`.
    fn recover(&self) {
        match self.store.interrupt_orphans(owner_alive, stop_orphan) {
            Ok(tasks) => {
                for task in tasks {
                    tracing::info!(task = task.id, "task interrupted: its server stopped");
                    self.emit(
                        task.id,
                        TaskState::Interrupted,
                        "interrupted: the server running this task stopped".into(),
                    );
                }
            }
            Err(e) => tracing::debug!(error = %e, "recovery cannot read the tasks"),
        }
        let unrecorded: Vec<(TaskId, String)> = self.unrecorded.lock().clone().into_iter().collect();
        for (id, message) in unrecorded {
            match self.record_failure(id, &message) {
                Ok(()) | Err(StoreError::IllegalTransition { .. } | StoreError::NoTask(_)) => {
                    self.unrecorded.lock().remove(&id);
                }
                Err(e) => tracing::debug!(task = id, error = %e, "the task's failure still cannot be recorded"),
            }
        }
        let Ok(tasks) = self.store.unfinished_tasks() else { return };
        let now = store::now_ms();
        for task in tasks {
            let stranded = task.owner == self.owner
                && task.state.is_working()
                && now - task.updated_ms > RECOVERY_POLL_MS as i64
                && !self.running.lock().contains_key(&task.id)
                && !self.unrecorded.lock().contains_key(&task.id);
            if stranded {
                let message = "the task stopped without recording its result".to_owned();
                if self.record_failure(task.id, &message).is_err() {
                    self.unrecorded.lock().insert(task.id, message);
                }
            }
        }
    }
}

/// Runs [`Inner::recover`] every [`RECOVERY_POLL_MS`] while the orchestrator lives (when
/// opened inside a tokio runtime).
pub(super) fn spawn(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let weak = Arc::downgrade(inner);
    let shutdown = inner.shutdown.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(RECOVERY_POLL_MS));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => break,
            }
            let Some(inner) = weak.upgrade() else { break };
            inner.recover();
        }
    });
}

/// A database error in the user's words: a full disk says so.
fn disk_words(error: &str) -> String {
    if error.contains("full") || error.contains("No space left") {
        format!("disk full ({error})")
    } else {
        error.to_owned()
    }
}
