//! A task's pipeline, one function per state: `queued` (a slot of the agent profile),
//! `preparing` (the sandbox check and the worktree), `running` (the agent, with its events
//! forwarded and a watch for a discard by another server), then `awaiting_plan_approval` for a
//! plan-first run, or `checking` (commit, checks, the pull request, GitHub) and `ready`. Every
//! state change goes through [`Inner::transition`]; a failure anywhere is the task's error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::git::{self, Git};
use super::question::TaskAsker;
use super::task::{CheckResult, PullRequest, Task, TaskId, TaskState};
use super::{Config, DISCARD_POLL_MS, Inner, TaskEvent, pr, store, worktree};
use crate::agents::sandbox::{self, Confinement, Mode};
use crate::agents::{AgentError, AgentEvent, AgentOutcome, AgentProfile, AgentTask, RunContext};

/// Longest first line of a plan in its progress message, in characters.
const PLAN_LINE_CHARS: usize = 120;

/// Why a pipeline stopped early without a failure of its own.
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
struct Stopped;

/// Starts task `id`'s pipeline in the background. When it ends, a failure is recorded (unless
/// the task was cancelled, or another server took it over meanwhile); a server that is shutting
/// down leaves its task `interrupted`.
pub(super) fn spawn(inner: Arc<Inner>, id: TaskId) {
    let cancel = inner.shutdown.child_token();
    let done = CancellationToken::new();
    inner.running.lock().insert(id, (cancel.clone(), done.clone()));
    tokio::spawn(async move {
        let result = run(&inner, id, &cancel).await;
        // Another server may have taken the task over (resumed it) meanwhile: leave it alone. A
        // task that cannot even be read is still ours to fail.
        let still_ours = inner.store.task(id).map(|t| t.owner == inner.owner).unwrap_or(true);
        if let Err(e) = result
            && still_ours
        {
            if inner.shutdown.is_cancelled() {
                if inner.transition(id, TaskState::Interrupted, "the server stopped".to_owned()).is_err() {
                    tracing::debug!(task = id, "task already left its working state");
                }
            } else if cancel.is_cancelled() || e.is::<Stopped>() {
                tracing::debug!(task = id, "task pipeline cancelled");
            } else {
                let message = format!("{e:#}");
                tracing::info!(task = id, error = %message, "task failed");
                let state = match e.downcast_ref::<AgentError>() {
                    Some(AgentError::NeedsLogin { .. }) => TaskState::NeedsLogin,
                    _ => TaskState::Failed,
                };
                inner.fail_as(id, message, state).await;
            }
        }
        inner.running.lock().remove(&id);
        done.cancel();
    });
}

/// What every state of one run of the pipeline shares.
struct Job<'a> {
    inner: &'a Arc<Inner>,
    id: TaskId,
    cancel: &'a CancellationToken,
    /// The configuration when the run started (a change applies to the next run).
    config: Config,
    profile: AgentProfile,
    /// What the run's questions left that the task's result must say (a permission request
    /// rejected for want of an answer).
    notes: Arc<parking_lot::Mutex<Vec<String>>>,
}

/// A worktree ready for the agent.
struct Prepared {
    path: PathBuf,
    branch: String,
    /// The commit the task branch started at.
    base: String,
    /// Git's admin directory for the worktree.
    git_dir: PathBuf,
    /// How the task's processes start.
    mode: Mode,
}

async fn run(inner: &Arc<Inner>, id: TaskId, cancel: &CancellationToken) -> anyhow::Result<()> {
    let task = inner.store.task(id)?;
    let job =
        Job { inner, id, cancel, config: inner.config(), profile: inner.profile(&task.agent)?, notes: Arc::default() };
    let result = job.stages().await;
    let notes = job.notes.lock().join("; ");
    match result {
        Err(e) if !notes.is_empty() && !e.is::<Stopped>() => Err(e.context(notes)),
        other => other,
    }
}

impl Job<'_> {
    /// Every state of one run, from the queue to the pull request (or the plan).
    async fn stages(&self) -> anyhow::Result<()> {
        let (job, inner, id) = (self, self.inner, self.id);
        let permit = job.queued().await?;
        let (task, prepared) = job.preparing().await?;
        let planning = job.profile.plan_first && !task.plan_approved;
        let (outcome, plan) = job.running(&task, &prepared, planning).await?;
        drop(permit);
        let tokens = task.tokens + outcome.tokens;
        inner.store.set_field(id, store::Field::Tokens, tokens as i64)?;
        if planning {
            return job.awaiting_plan_approval(plan.unwrap_or_else(|| outcome.summary.clone()));
        }
        let record = job.checking(&task, &prepared, &outcome, tokens).await?;
        job.ready(&record)
    }

    fn emit(&self, state: TaskState, message: String) {
        self.inner.emit(self.id, state, message);
    }

    /// Queued: waits for a slot of the agent profile (its `max_concurrent`).
    async fn queued(&self) -> anyhow::Result<OwnedSemaphorePermit> {
        let slot = self.inner.slot(&self.profile);
        if slot.available_permits() == 0 {
            self.emit(TaskState::Queued, format!("waiting for a free {} slot", self.profile.name));
        }
        tokio::select! {
            p = slot.acquire_owned() => p.context("the agent queue was closed"),
            _ = self.cancel.cancelled() => Err(Stopped.into()),
        }
    }

    /// Preparing: checks that the profile's sandbox can run, then finds the task's worktree (kept
    /// from an earlier run when it still exists), re-creates it from the task branch (a resumed
    /// task whose folder went away), or creates it and runs the setup command. Returns the task
    /// as it is now, and its worktree.
    async fn preparing(&self) -> anyhow::Result<(Task, Prepared)> {
        let (inner, id) = (self.inner, self.id);
        inner.transition(id, TaskState::Preparing, "preparing the worktree".to_owned())?;
        let mode = self.sandbox_mode().await?;
        let task = inner.store.task(id)?;
        let step_inner = inner.clone();
        let step = move |m: String| step_inner.emit(id, TaskState::Preparing, m);
        let prepared = match (&task.worktree, &task.branch, &task.base_commit) {
            (Some(path), Some(branch), Some(base)) if path.exists() => {
                let git_dir = match &task.git_dir {
                    Some(d) => d.clone(),
                    None => {
                        // Recorded before Baton kept it: found from the repository's side, never
                        // from the worktree's `.git`.
                        let d = git::find_git_dir(&task.repo_root, path).await?;
                        inner.store.set_git_dir(id, &d)?;
                        d
                    }
                };
                Prepared { path: path.clone(), branch: branch.clone(), base: base.clone(), git_dir, mode }
            }
            (Some(_), Some(branch), Some(base)) => {
                // Resumed after its worktree folder went away: the branch holds the work.
                let (path, git_dir) = worktree::reattach(&inner.data_dir, &task.repo_root, branch, &step).await?;
                inner.store.set_worktree(id, branch, &path, base)?;
                inner.store.set_git_dir(id, &git_dir)?;
                Prepared { path, branch: branch.clone(), base: base.clone(), git_dir, mode }
            }
            _ => {
                let wt = worktree::create(&inner.data_dir, &task.repo_root, id, &task.prompt, &step).await?;
                inner.store.set_worktree(id, &wt.branch, &wt.path, &wt.base_commit)?;
                inner.store.set_git_dir(id, &wt.git_dir)?;
                self.setup(&task.repo_root, &wt.path, mode).await?;
                Prepared { path: wt.path, branch: wt.branch, base: wt.base_commit, git_dir: wt.git_dir, mode }
            }
        };
        if self.cancel.is_cancelled() {
            return Err(Stopped.into());
        }
        Ok((task, prepared))
    }

    /// Bubblewrap when the profile is sandboxed (failing with the reason when it cannot run),
    /// else unsandboxed, which the user is told.
    async fn sandbox_mode(&self) -> anyhow::Result<Mode> {
        if self.profile.sandbox {
            sandbox::availability().await.map_err(|e| anyhow!("{e} (agent profile {:?})", self.profile.name))?;
            return Ok(Mode::Bwrap);
        }
        self.emit(TaskState::Preparing, "running without a sandbox: the agent profile sets sandbox = false".into());
        Ok(Mode::Unsandboxed)
    }

    /// The configured setup command, in a new worktree.
    async fn setup(&self, repo_root: &Path, worktree: &Path, mode: Mode) -> anyhow::Result<()> {
        let Some(setup) = self.config.setup_command.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(());
        };
        self.emit(TaskState::Preparing, format!("running setup: {setup}"));
        let confinement = self.confinement(repo_root, worktree).for_commands();
        let (limit, network) = (self.config.setup_timeout_ms, self.config.setup_network);
        Ok(worktree::run_setup(&confinement, mode, setup, limit, network, self.cancel).await?)
    }

    /// Running: the agent works on the task (or, planning, proposes a plan) under its time
    /// limit. Returns its outcome and the plan it proposed, if any.
    async fn running(
        &self,
        task: &Task,
        prepared: &Prepared,
        planning: bool,
    ) -> anyhow::Result<(AgentOutcome, Option<String>)> {
        let (inner, id, name) = (self.inner, self.id, &self.profile.name);
        let message = if planning { format!("{name} is planning") } else { format!("{name} is working") };
        inner.transition(id, TaskState::Running, message)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let forwarder = forward_events(inner.clone(), id, rx, task.tokens);
        let ctx = RunContext {
            task: AgentTask {
                id,
                prompt: agent_prompt(task, planning),
                worktree: prepared.path.clone(),
                branch: prepared.branch.clone(),
                planning,
            },
            profile: self.profile.clone(),
            default_model: self.config.default_model.clone(),
            events: tx,
            cancel: self.cancel.clone(),
            asker: Arc::new(TaskAsker {
                inner: inner.clone(),
                id,
                editor: inner.asker.read().clone(),
                timeout_ms: self.config.permission_timeout_ms,
                notes: self.notes.clone(),
            }),
            confinement: self.confinement(&task.repo_root, &prepared.path),
            secrets: self.config.secrets.clone(),
        };
        let watcher = watch_discard(inner.clone(), id, self.cancel.clone());
        let outcome = crate::agents::run::dispatch_with_limit(ctx, &inner.runners).await;
        watcher.abort();
        let plan = forwarder.await.unwrap_or(None);
        // The agent's processes are gone (killed with their group when the run ended).
        if let Err(e) = inner.store.set_process(id, None) {
            tracing::warn!(task = id, error = %e, "cannot clear the agent's process group");
        }
        match outcome {
            Ok(o) => Ok((o, plan)),
            Err(AgentError::Cancelled) => Err(Stopped.into()),
            Err(e) => Err(anyhow!(e)),
        }
    }

    /// Plan-first: records the plan and waits for the user to approve it.
    fn awaiting_plan_approval(&self, plan: String) -> anyhow::Result<()> {
        let first = crate::text::first_line(&plan, PLAN_LINE_CHARS);
        self.inner.store.set_field(self.id, store::Field::Plan, plan)?;
        self.inner.transition(self.id, TaskState::AwaitingPlanApproval, format!("plan ready for approval: {first}"))?;
        Ok(())
    }

    /// Checking: commits the agent's work on the task branch (a branch without a change fails
    /// the task), runs the check command, and builds the pull request (published on GitHub when
    /// configured). Returns it, recorded.
    async fn checking(
        &self,
        task: &Task,
        prepared: &Prepared,
        outcome: &AgentOutcome,
        tokens: u64,
    ) -> anyhow::Result<PullRequest> {
        let (inner, id) = (self.inner, self.id);
        inner.store.set_field(id, store::Field::Summary, outcome.summary.clone())?;
        inner.transition(id, TaskState::Checking, "committing the agent's work".to_owned())?;
        let title = pr::title(&task.prompt);
        // Git addresses the worktree explicitly and checks its `.git`; `.gitattributes` come from
        // the base commit (see `git.rs`).
        let (identity, _, email) =
            git::identity_file(&inner.data_dir, &task.repo_root, &worktree::repo_key(&task.repo_root)).await?;
        let wt =
            Git::worktree(&prepared.git_dir, &prepared.path).with_global(&identity).with_attr_source(&prepared.base);
        let limits = self.config.limits;
        pr::commit(&wt, &self.profile.name, &title, &outcome.summary, &self.profile.exclude, limits, &email)
            .await
            .context("the agent's work was not committed")?;
        let head = wt.line(&["rev-parse", "--verify", "HEAD^{commit}"]).await?;
        if head == prepared.base {
            // Documented choice: a task whose branch has no change is a failure, not an empty PR.
            // The agent's own last words and stop reason say why (a refused permission, an API
            // error it reported as text, a question it asked).
            let said = crate::text::first_line(outcome.summary.lines().last().unwrap_or_default(), 300);
            anyhow::bail!(
                "the agent made no changes (it stopped with {}; its last message: {said:?})",
                outcome.stop_reason.as_str()
            );
        }
        let (check, check_output) = self.checks(task, prepared).await?;
        let (stat, files) = pr::changed_files(&wt, &prepared.base, &head).await?;
        let notes = pr::notes_text(&files);
        let summary = pr::clean_message(&outcome.summary, &[prepared.path.as_path(), task.repo_root.as_path()]);
        // A permission request rejected for want of an answer shapes what the agent did: the
        // reviewer is told.
        let asked: Vec<String> = self.notes.lock().iter().map(|n| format!("Note: {n}.")).collect();
        let description = [summary, notes, asked.join("\n")]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n");
        let mut record = PullRequest {
            task_id: id,
            title: title.clone(),
            description,
            base_commit: prepared.base.clone(),
            head_commit: head,
            branch: prepared.branch.clone(),
            stat,
            files,
            check_command: self.config.check_command.clone(),
            check,
            check_output,
            tokens,
            github_url: None,
        };
        record.github_url = self.publish(task, &wt, &prepared.branch, &title, &outcome.summary).await?;
        inner.store.put_pull_request(&record)?;
        Ok(record)
    }

    /// The check command's result and output tail; [`CheckResult::None`] without one.
    async fn checks(&self, task: &Task, prepared: &Prepared) -> anyhow::Result<(CheckResult, String)> {
        let Some(command) = self.config.check_command.as_deref().filter(|c| !c.trim().is_empty()) else {
            return Ok((CheckResult::None, String::new()));
        };
        self.emit(TaskState::Checking, format!("running checks: {command}"));
        let confinement = self.confinement(&task.repo_root, &prepared.path).for_commands();
        let limit = self.config.check_timeout_ms;
        Ok(pr::run_checks(&confinement, prepared.mode, command, limit, self.cancel).await.ok_or(Stopped)?)
    }

    /// Publishes the task branch as a GitHub pull request when a token is configured and set;
    /// returns its URL. A failure to publish is reported, not fatal: the local pull request
    /// stands.
    async fn publish(
        &self,
        task: &Task,
        wt: &Git,
        branch: &str,
        title: &str,
        summary: &str,
    ) -> anyhow::Result<Option<String>> {
        let github = &self.config.github;
        let Some(token) = github.token_env.as_deref().and_then(|env| std::env::var(env).ok()) else {
            return Ok(None);
        };
        let target = pr::GithubTarget {
            api_url: github.api_url.clone(),
            remote: github.remote.clone(),
            token,
            draft: github.draft,
        };
        let base_branch = Git::repo(&task.repo_root).line(&["rev-parse", "--abbrev-ref", "HEAD"]).await?;
        match pr::publish_github(wt, &target, branch, base_branch.trim(), title, summary).await {
            Ok(url) => {
                self.emit(TaskState::Checking, format!("opened {url}"));
                Ok(Some(url))
            }
            Err(e) => {
                self.emit(TaskState::Checking, format!("could not open a GitHub pull request: {e:#}"));
                Ok(None)
            }
        }
    }

    /// Ready: the pull request waits for review.
    fn ready(&self, record: &PullRequest) -> anyhow::Result<()> {
        let stat = &record.stat;
        let message = format!(
            "ready for review: {} file(s), +{} -{}, {}",
            stat.files_changed,
            stat.insertions,
            stat.deletions,
            record.check.summary()
        );
        self.inner.transition(self.id, TaskState::Ready, message)?;
        Ok(())
    }

    /// The confinement of the profile's processes working in `worktree` for a task on
    /// `repo_root`: sandboxed unless the profile opts out, the user's checkout and Baton's data
    /// directory hidden, the configured read-only paths bound, the profile's environment and
    /// network.
    fn confinement(&self, repo_root: &Path, worktree: &Path) -> Confinement {
        let profile = &self.profile;
        let mut read_only_paths = self.config.read_only_paths.clone();
        read_only_paths.extend(profile.read_only_paths.iter().cloned());
        let mut pass_env = profile.pass_env.clone();
        pass_env.extend(profile.secret_env.iter().cloned());
        Confinement {
            sandbox: profile.sandbox,
            worktree: worktree.to_path_buf(),
            repo_root: Some(repo_root.to_path_buf()),
            data_dir: Some(self.inner.data_dir.clone()),
            read_only_paths,
            network: profile.network_enabled(),
            env: profile.env.clone(),
            pass_env,
        }
    }
}

/// The prompt the agent gets: the task's, asking for a plan only while planning, or with the
/// approved plan to follow.
fn agent_prompt(task: &Task, planning: bool) -> String {
    if planning {
        format!("{}\n\nDo not change any file yet. Propose a short, numbered plan for this task and stop.", task.prompt)
    } else if let Some(plan) = task.plan.as_deref().filter(|_| task.plan_approved) {
        format!("{}\n\nFollow this approved plan:\n{plan}", task.prompt)
    } else {
        task.prompt.clone()
    }
}

/// Writes the agent's events into the task (log lines, steps, tokens on top of
/// `base_tokens`, its process group) and broadcasts its steps, until the run drops its sender.
/// Returns the plan it proposed, if any.
fn forward_events(
    inner: Arc<Inner>,
    id: TaskId,
    mut events: mpsc::UnboundedReceiver<AgentEvent>,
    base_tokens: u64,
) -> JoinHandle<Option<String>> {
    tokio::spawn(async move {
        let mut plan = None;
        while let Some(event) = events.recv().await {
            match event {
                AgentEvent::Log(line) => {
                    let _ = inner.store.append_log(id, &line);
                }
                AgentEvent::Step(step) => {
                    // The log keeps every step: it is the trail a reviewer reads afterwards.
                    let _ = inner.store.append_log(id, &format!("[running] {step}"));
                    let _ = inner.events.send(TaskEvent { task_id: id, state: TaskState::Running, message: step });
                }
                AgentEvent::Usage { tokens } => {
                    let _ = inner.store.set_field(id, store::Field::Tokens, (base_tokens + tokens) as i64);
                }
                AgentEvent::Plan(p) => plan = Some(p),
                AgentEvent::Alive => {}
                AgentEvent::Process(record) => {
                    if let Err(e) = inner.store.set_process(id, record) {
                        tracing::warn!(task = id, error = %e, "cannot record the agent's process group");
                    }
                }
            }
        }
        plan
    })
}

/// Cancels the run when another server (another editor on this repository) discards the task:
/// its state is re-read every [`DISCARD_POLL_MS`].
fn watch_discard(inner: Arc<Inner>, id: TaskId, cancel: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(DISCARD_POLL_MS));
        loop {
            tick.tick().await;
            if inner.store.task(id).is_ok_and(|t| t.state == TaskState::Discarded) {
                cancel.cancel();
                break;
            }
        }
    })
}
