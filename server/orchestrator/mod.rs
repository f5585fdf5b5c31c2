//! Orchestrator mode: background agents working on delegated tasks, each in its own git worktree
//! and branch, their results recorded as local pull requests for review.
//!
//! [`Orchestrator::start_task`] returns at once; a background pipeline then waits for a slot of
//! the agent profile (`queued`), creates the worktree (`preparing`), runs the agent under its time
//! limit (`running`), commits its work and runs the checks (`checking`) and records the pull
//! request (`ready`). Human actions on ready pull requests are in [`review`]. Plain data only: the
//! LSP layer turns [`TaskEvent`]s into progress reports.

pub(crate) mod git;
mod pipeline;
pub(crate) mod pr;
pub(crate) mod question;
mod recovery;
pub(crate) mod render;
pub(crate) mod review;
pub(crate) mod store;
pub(crate) mod task;
#[cfg(test)]
mod tests;
pub(crate) mod worktree;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;

use crate::agents::{AgentProfile, Asker, NoUser};
use crate::providers::ProviderConfig;
use crate::secrets::Secrets;

pub(crate) use crate::agents::run::AgentRunners;
use store::Store;
pub(crate) use store::StoreError;
pub(crate) use task::{CheckResult, DiffStat, LineRange, LogLine, PullRequest, Signoff, Task, TaskId, TaskState};

/// How many task events the channel buffers for slow subscribers.
const EVENT_BUFFER: usize = 1024;
/// How often a running task's state is re-read to notice a discard by another server, in
/// milliseconds.
const DISCARD_POLL_MS: u64 = 1000;

/// What the orchestrator reads from the settings (`[orchestrator]`, `[[agents]]`, the provider
/// and `[secrets]`; `config.rs` translates them). The defaults are the settings' defaults.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The configured agent profiles; a `builtin` profile is added unless one has that name.
    pub(crate) profiles: Vec<AgentProfile>,
    /// The profile a task runs with when it names none.
    pub(crate) default_agent: String,
    /// The conductor's model, for built-in agents whose profile names none.
    pub(crate) default_model: ProviderConfig,
    /// Secret file patterns, and the secret values (read from the environment) redacted from
    /// what the built-in agent's model reads.
    pub(crate) secrets: Secrets,
    /// Run in the worktree after the agent (`sh -c`); its result is recorded on the pull request.
    pub(crate) check_command: Option<String>,
    /// In milliseconds.
    pub(crate) check_timeout_ms: u64,
    /// How long a permission request waits for an answer (`needs_input`), in milliseconds;
    /// then it is rejected. 0: no limit of its own (the agent's time limit still holds).
    pub(crate) permission_timeout_ms: u64,
    /// Run once in each new worktree (`sh -c`).
    pub(crate) setup_command: Option<String>,
    /// In milliseconds.
    pub(crate) setup_timeout_ms: u64,
    /// Whether the setup command gets the network.
    pub(crate) setup_network: bool,
    /// Bound read-only into every sandbox (`~/` is the home folder).
    pub(crate) read_only_paths: Vec<String>,
    pub(crate) github: GithubConfig,
    /// Size limits on an agent's change.
    pub(crate) limits: pr::Limits,
}

/// Where finished tasks are published on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GithubConfig {
    /// The environment variable holding the token; nothing is published without it.
    pub(crate) token_env: Option<String>,
    /// The git remote task branches are pushed to.
    pub(crate) remote: String,
    /// GitHub's API root.
    pub(crate) api_url: String,
    /// Open pull requests as drafts.
    pub(crate) draft: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            profiles: Vec::new(),
            default_agent: "builtin".to_owned(),
            default_model: ProviderConfig::default(),
            secrets: Secrets::default(),
            check_command: None,
            check_timeout_ms: 10 * 60 * 1000,
            permission_timeout_ms: 10 * 60 * 1000,
            setup_command: None,
            setup_timeout_ms: 10 * 60 * 1000,
            setup_network: false,
            read_only_paths: ["~/.cargo", "~/.rustup", "~/.npm", "~/.nvm", "~/.pyenv", "~/.local/bin"]
                .map(str::to_owned)
                .to_vec(),
            github: GithubConfig {
                token_env: None,
                remote: "origin".to_owned(),
                api_url: "https://api.github.com".to_owned(),
                draft: true,
            },
            limits: pr::Limits { file_bytes: 10_000_000, change_bytes: 100_000_000 },
        }
    }
}

/// A task changed state or reported a step: the LSP layer's source for `$/progress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TaskEvent {
    pub(crate) task_id: TaskId,
    /// The task's state after the event.
    pub(crate) state: TaskState,
    /// One line: what happened (`checking out files`, the agent's latest step, an error).
    pub(crate) message: String,
}

/// How many tasks are in each group of states (for the status bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(crate) struct Counts {
    pub(crate) queued: usize,
    /// Preparing, running or checking.
    pub(crate) running: usize,
    /// Ready for review.
    pub(crate) awaiting_review: usize,
    pub(crate) awaiting_plan_approval: usize,
    pub(crate) failed: usize,
    pub(crate) interrupted: usize,
}

impl Counts {
    /// Counts one task in `state` (finished states count nowhere).
    pub(crate) fn add(&mut self, state: TaskState) {
        match state {
            TaskState::Queued => self.queued += 1,
            // A task waiting for an answer still has its agent running.
            TaskState::Preparing | TaskState::Running | TaskState::NeedsInput | TaskState::Checking => {
                self.running += 1
            }
            TaskState::Ready => self.awaiting_review += 1,
            TaskState::AwaitingPlanApproval => self.awaiting_plan_approval += 1,
            // A login refusal is a failed run the user can act on: status bars count it there.
            TaskState::Failed | TaskState::NeedsLogin => self.failed += 1,
            TaskState::Interrupted => self.interrupted += 1,
            TaskState::Merged | TaskState::Applied | TaskState::Discarded => {}
        }
    }
}

/// Everything known about one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct TaskDetails {
    pub(crate) task: Task,
    pub(crate) log: Vec<LogLine>,
    pub(crate) pull_request: Option<PullRequest>,
    pub(crate) signoffs: Vec<Signoff>,
}

/// Errors of the orchestrator's operations.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrchestratorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("there is no agent profile named {name:?} (known: {known})")]
    UnknownAgent { name: String, known: String },
    #[error("task {id} is {state}; {action} needs a task that is {needed}")]
    WrongState { id: TaskId, state: TaskState, action: &'static str, needed: String },
    #[error("{0:?} is not an answer; answer allow or reject")]
    BadAnswer(String),
    #[error("task {0} has no pull request yet")]
    NoPullRequest(TaskId),
    #[error("refusing to merge: the working tree has uncommitted changes in {}", .0.join(", "))]
    DirtyTree(Vec<String>),
    #[error("refusing to merge: it would conflict in {}", .0.join(", "))]
    Conflicts(Vec<String>),
    #[error("refusing to apply: {path} changed since the task started (merge instead, or discard your change)")]
    Diverged { path: String },
    #[error("refusing to apply: {path} {why}; nothing was applied (merge instead)")]
    CannotApply { path: String, why: String },
    #[error(
        "pull request #{0} is already applied to the working tree (undo it to apply again, or merge or discard it)"
    )]
    AlreadyApplied(TaskId),
    #[error("the pull request of task {id} does not change {path}")]
    NotInDiff { id: TaskId, path: String },
    #[error("{path} is not text on that side of the pull request ({why})")]
    NotText { path: String, why: &'static str },
    #[error(transparent)]
    Git(#[from] git::GitError),
    #[error(transparent)]
    Worktree(#[from] worktree::WorktreeError),
    #[error("cannot find a data directory; set BATON_DATA_DIR")]
    NoDataDir,
    #[error("cannot read {}: {error}", .path.display())]
    File { path: PathBuf, error: std::io::Error },
    #[error(
        "refusing to run task {id} again: {} still running in its worktree {}; stop {} first",
        .residents.join(", "),
        .worktree.display(),
        if .residents.len() == 1 { "it" } else { "them" }
    )]
    StillRunning { id: TaskId, worktree: PathBuf, residents: Vec<String> },
}

pub(crate) struct Inner {
    store: Store,
    data_dir: PathBuf,
    config: RwLock<Config>,
    runners: AgentRunners,
    asker: RwLock<Arc<dyn Asker>>,
    events: broadcast::Sender<TaskEvent>,
    /// One semaphore per agent profile, sized by its `max_concurrent`.
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Tasks this orchestrator is running: cancel token and a token cancelled when it is done.
    running: Mutex<HashMap<TaskId, (CancellationToken, CancellationToken)>>,
    /// Failures that could not be written yet (a full disk, a locked database), retried by
    /// each recovery poll.
    unrecorded: Mutex<HashMap<TaskId, String>>,
    owner: String,
    shutdown: CancellationToken,
}

/// The orchestrator: owns the task store and the background pipelines. Dropping it stops its
/// running agents; their tasks become `interrupted` (worktrees and branches are kept).
pub struct Orchestrator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator").field("data_dir", &self.inner.data_dir).finish()
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        recovery::forget_owner(&self.inner.owner);
        self.inner.shutdown.cancel();
    }
}

impl Orchestrator {
    /// Opens the orchestrator over the database in `data_dir` (`baton.db`; worktrees go under
    /// `data_dir/worktrees`). Tasks that a server which is no longer running left queued,
    /// preparing, running or checking are marked `interrupted`.
    ///
    /// Errors: the database cannot be opened or migrated.
    pub(crate) fn open(data_dir: &Path, config: Config, runners: AgentRunners) -> Result<Self, OrchestratorError> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let store = Store::open(&worktree::db_path(data_dir))?;
        let owner = store::owner_string(std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let interrupted = store.interrupt_orphans(recovery::owner_alive, recovery::stop_orphan)?;
        for task in &interrupted {
            let _ = store.append_log(task.id, "interrupted: the server running this task stopped");
            tracing::info!(task = task.id, "task interrupted by an earlier server's exit");
        }
        recovery::register_owner(&owner);
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let inner = Arc::new(Inner {
            store,
            data_dir: data_dir.to_path_buf(),
            config: RwLock::new(config),
            runners,
            asker: RwLock::new(Arc::new(NoUser)),
            events,
            slots: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            unrecorded: Mutex::new(HashMap::new()),
            owner,
            shutdown: CancellationToken::new(),
        });
        recovery::spawn(&inner);
        Ok(Orchestrator { inner })
    }

    /// [`Orchestrator::open`] in the default data directory (`$BATON_DATA_DIR`, else the
    /// platform's data directory + `/baton`).
    ///
    /// Errors: no data directory can be found, or as [`Orchestrator::open`].
    pub(crate) fn open_default(config: Config, runners: AgentRunners) -> Result<Self, OrchestratorError> {
        let dir = worktree::default_data_dir().ok_or(OrchestratorError::NoDataDir)?;
        Self::open(&dir, config, runners)
    }

    /// Replaces the configuration (new tasks and new runs use it).
    pub(crate) fn set_config(&self, config: Config) {
        *self.inner.config.write() = config;
    }

    /// Sets who answers agents' questions (the editor); by default nobody ([`NoUser`]).
    pub(crate) fn set_asker(&self, asker: Arc<dyn Asker>) {
        *self.inner.asker.write() = asker;
    }

    /// The data directory.
    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Task events: every state change and agent step of the tasks this orchestrator runs.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }

    /// Records a task and starts its pipeline in the background; returns at once with its id.
    /// `repo` is any directory inside the repository; `agent` names a profile (the configured
    /// default when `None`); `context` is the editor context as JSON, stored with the task.
    ///
    /// Errors: `repo` is not in a git repository, unknown agent profile, database errors.
    pub(crate) async fn start_task(
        &self,
        repo: &Path,
        prompt: &str,
        context: serde_json::Value,
        agent: Option<&str>,
    ) -> Result<TaskId, OrchestratorError> {
        let root = git::repo_root(repo).await?;
        let agent = match agent {
            Some(a) => a.to_owned(),
            None => self.inner.config().default_agent,
        };
        self.inner.profile(&agent)?;
        let id = self.inner.store.insert_task(&root, prompt, &context, &agent, &self.inner.owner)?;
        tracing::info!(task = id, agent = %agent, "task queued");
        tracing::trace!(task = id, prompt, "task prompt");
        self.inner.emit(id, TaskState::Queued, format!("queued for agent {agent}"));
        pipeline::spawn(self.inner.clone(), id);
        Ok(id)
    }

    /// The top-level directory of the git repository holding `dir`.
    ///
    /// Errors: `dir` is not in a git repository, or git cannot run.
    pub(crate) async fn repo_root(dir: &Path) -> Result<PathBuf, OrchestratorError> {
        Ok(git::repo_root(dir).await?)
    }

    /// The repository's current branch (`HEAD` when detached) and its commit.
    ///
    /// Errors: git failures (no commit yet, not a repository).
    pub(crate) async fn head(repo: &Path) -> Result<(String, String), OrchestratorError> {
        let out = git::Git::repo(repo).text(&["rev-parse", "--abbrev-ref", "HEAD", "HEAD"]).await?;
        let mut lines = out.lines();
        let branch = lines.next().unwrap_or("HEAD").trim().to_owned();
        let commit = lines.next().unwrap_or("").trim().to_owned();
        Ok((branch, commit))
    }

    /// Every task, oldest first.
    ///
    /// Errors: database errors.
    pub(crate) fn list(&self) -> Result<Vec<Task>, OrchestratorError> {
        Ok(self.inner.store.tasks()?.into_iter().map(|t| self.inner.overlay(t)).collect())
    }

    /// The tasks not yet merged, applied or discarded, oldest first (cheaper than [`Self::list`]
    /// once many tasks are done).
    ///
    /// Errors: database errors.
    pub(crate) fn unfinished(&self) -> Result<Vec<Task>, OrchestratorError> {
        Ok(self.inner.store.unfinished_tasks()?.into_iter().map(|t| self.inner.overlay(t)).collect())
    }

    /// Task `id` with its log, pull request and sign-offs.
    ///
    /// Errors: no such task, database errors.
    pub(crate) fn show(&self, id: TaskId) -> Result<TaskDetails, OrchestratorError> {
        let s = &self.inner.store;
        Ok(TaskDetails {
            task: self.inner.overlay(s.task(id)?),
            log: s.log(id)?,
            pull_request: s.pull_request(id)?,
            signoffs: s.signoffs(id)?,
        })
    }

    /// Task `id`'s sign-offs, oldest first.
    ///
    /// Errors: database errors.
    pub(crate) fn signoffs(&self, id: TaskId) -> Result<Vec<Signoff>, OrchestratorError> {
        Ok(self.inner.store.signoffs(id)?)
    }

    /// Task `id`'s pull request, if it has one.
    ///
    /// Errors: database errors.
    pub(crate) fn pull_request(&self, id: TaskId) -> Result<Option<PullRequest>, OrchestratorError> {
        Ok(self.inner.store.pull_request(id)?)
    }

    /// Plan-first: approves the plan of a task in `awaiting_plan_approval`; the agent then does
    /// the work (the task is queued again).
    ///
    /// Errors: the task is in another state, database errors.
    pub(crate) fn approve_plan(&self, id: TaskId) -> Result<(), OrchestratorError> {
        self.inner.expect_state(id, &[TaskState::AwaitingPlanApproval], "approving a plan")?;
        self.inner.store.set_field(id, store::Field::PlanApproved, 1)?;
        self.requeue(id, "plan approved")
    }

    /// Answers the question of a task in `needs_input` (`allow` or `reject`, any case). The
    /// answer goes through the database: the server running the agent (this one or another)
    /// picks it up within a second ([`question`]).
    ///
    /// Errors: [`OrchestratorError::BadAnswer`]; the task is in another state or already
    /// answered; no such task; database errors. Nothing changes on an error.
    pub(crate) fn answer(&self, id: TaskId, answer: &str) -> Result<question::Answer, OrchestratorError> {
        let parsed = question::Answer::parse(answer).ok_or_else(|| OrchestratorError::BadAnswer(answer.to_owned()))?;
        self.inner.expect_state(id, &[TaskState::NeedsInput], "answering")?;
        if !self.inner.store.put_answer(id, parsed.as_str())? {
            // Answered (or moved on) between the two reads.
            let state = self.inner.store.task(id)?.state;
            return Err(OrchestratorError::WrongState {
                id,
                state,
                action: "answering",
                needed: "needs_input with no answer yet".to_owned(),
            });
        }
        let _ = self.inner.store.append_log(id, &format!("answer recorded: {}", parsed.as_str()));
        Ok(parsed)
    }

    /// Runs a failed, interrupted or needs-login task again, in its existing worktree when it has one.
    ///
    /// Errors: the task is in another state; [`OrchestratorError::StillRunning`] while a
    /// process still works in its worktree; database errors.
    pub(crate) fn resume(&self, id: TaskId) -> Result<(), OrchestratorError> {
        self.inner.expect_state(id, &[TaskState::Failed, TaskState::Interrupted, TaskState::NeedsLogin], "resuming")?;
        self.inner.store.set_field(id, store::Field::Error, None::<String>)?;
        self.requeue(id, "resumed")
    }

    fn requeue(&self, id: TaskId, why: &str) -> Result<(), OrchestratorError> {
        // A second agent in the same worktree would mix its work with what still runs there
        // (an agent a dead server left behind, a daemon it started).
        if let Some(worktree) = self.inner.store.task(id)?.worktree {
            let residents = crate::process::residents(&worktree);
            if !residents.is_empty() {
                return Err(OrchestratorError::StillRunning {
                    id,
                    worktree,
                    residents: residents.iter().map(ToString::to_string).collect(),
                });
            }
        }
        self.inner.store.set_field(id, store::Field::Owner, self.inner.owner.clone())?;
        self.inner.transition(id, TaskState::Queued, why.to_owned())?;
        pipeline::spawn(self.inner.clone(), id);
        Ok(())
    }

    /// Removes worktrees under the data directory that no live task (one not merged, applied or
    /// discarded) references, and prunes git's worktree records. Returns the removed paths. A
    /// folder named for a live task (`<id>-<slug>`) is kept even before its path is recorded, so
    /// a worktree another server is still creating is never collected.
    ///
    /// Errors: a folder cannot be removed, database errors.
    pub(crate) async fn gc(&self) -> Result<Vec<PathBuf>, OrchestratorError> {
        let live: Vec<Task> = self.inner.store.tasks()?.into_iter().filter(|t| !t.state.is_final()).collect();
        let paths: Vec<PathBuf> = live.iter().filter_map(|t| t.worktree.clone()).collect();
        let ids: HashSet<TaskId> = live.iter().map(|t| t.id).collect();
        let keep = move |path: &Path| {
            let named_for_live = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('-').next())
                .and_then(|id| id.parse::<TaskId>().ok())
                .is_some_and(|id| ids.contains(&id));
            named_for_live || paths.iter().any(|p| p == path)
        };
        Ok(worktree::gc(&self.inner.data_dir, &keep).await?)
    }
}

/// The configured profiles with the built-in agent's first unless one is named `builtin`.
pub(crate) fn with_builtin(mut profiles: Vec<AgentProfile>) -> Vec<AgentProfile> {
    if !profiles.iter().any(|p| p.name == "builtin") {
        profiles.insert(0, AgentProfile::default());
    }
    profiles
}

impl Inner {
    fn config(&self) -> Config {
        self.config.read().clone()
    }

    fn profiles(&self) -> Vec<AgentProfile> {
        with_builtin(self.config().profiles)
    }

    fn profile(&self, name: &str) -> Result<AgentProfile, OrchestratorError> {
        let profiles = self.profiles();
        profiles.iter().find(|p| p.name == name).cloned().ok_or_else(|| OrchestratorError::UnknownAgent {
            name: name.to_owned(),
            known: profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    fn slot(&self, profile: &AgentProfile) -> Arc<Semaphore> {
        self.slots
            .lock()
            .entry(profile.name.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(profile.max_concurrent.max(1))))
            .clone()
    }

    /// Logs and broadcasts an event.
    fn emit(&self, id: TaskId, state: TaskState, message: String) {
        if let Err(e) = self.store.append_log(id, &format!("[{state}] {message}")) {
            tracing::warn!(task = id, error = %e, "cannot write the task log");
        }
        let _ = self.events.send(TaskEvent { task_id: id, state, message });
    }

    /// Moves the task to `to`, then logs and broadcasts it.
    fn transition(&self, id: TaskId, to: TaskState, message: String) -> Result<(), StoreError> {
        self.store.set_state(id, to)?;
        self.emit(id, to, message);
        Ok(())
    }

    /// Task `id`, if it is in one of the `allowed` states; else why `action` cannot happen.
    fn expect_state(&self, id: TaskId, allowed: &[TaskState], action: &'static str) -> Result<Task, OrchestratorError> {
        let task = self.store.task(id)?;
        if !allowed.contains(&task.state) {
            let needed = TaskState::either(allowed);
            return Err(OrchestratorError::WrongState { id, state: task.state, action, needed });
        }
        Ok(task)
    }

    /// Cancels the task's pipeline if this orchestrator runs it, and waits for it to stop.
    async fn cancel_and_wait(&self, id: TaskId) {
        let entry = self.running.lock().get(&id).cloned();
        if let Some((cancel, done)) = entry {
            cancel.cancel();
            done.cancelled().await;
        }
    }
}
