//! Orchestrator tasks as the editor sees them: `baton/tasks` for status bars and one work done
//! progress (`$/progress`) per task this server runs, fed by the orchestrator's task events.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tower_lsp_server::gen_lsp_types::ProgressToken;
use tower_lsp_server::{NotCancellable, OngoingProgress, Unbounded};

use crate::lsp::ext::{
    self, ChangedFileInfo, LogEntry, PullRequestInfo, SignoffInfo, TaskAction, TaskActionId, TaskInfo, TaskShowResult,
    TaskSummary, TasksParams,
};
use crate::lsp::session::State;
use crate::orchestrator::render::Detail;
use crate::orchestrator::{
    CheckResult, Counts, DiffStat, Orchestrator, Task, TaskDetails, TaskEvent, TaskId, TaskState,
};

/// How often the database is re-read for changes made by other servers (another editor on the
/// same repository), in milliseconds.
const POLL_MS: u64 = 2000;
/// How long the client gets to answer `window/workDoneProgress/create`, in milliseconds.
const CREATE_TIMEOUT_MS: u64 = 5000;
/// Shortest time between two `baton/tasks` notifications, in milliseconds.
const MIN_GAP_MS: u64 = 250;

/// The work done progress token of task `id`.
pub(crate) fn progress_token(id: TaskId) -> ProgressToken {
    ProgressToken::String(format!("baton/task/{id}"))
}

/// A task's title: the first non-blank line of its prompt, shortened
/// ([`crate::orchestrator::task::title`], the one title rule).
pub(crate) fn title(prompt: &str) -> String {
    crate::orchestrator::task::title(prompt)
}

/// The actions a task in `state` allows, in the order editors offer them: the one place these
/// rules live (editors show what the server sends).
pub(crate) fn actions(state: TaskState) -> Vec<TaskAction> {
    TaskActionId::ALL
        .into_iter()
        .filter(|a| allows(state, *a))
        .map(|id| TaskAction { id, title: action_title(id).to_owned(), command: id.command() })
        .collect()
}

/// Whether a task in `state` allows `action` (the orchestrator refuses the others).
pub(crate) fn allows(state: TaskState, action: TaskActionId) -> bool {
    match action {
        TaskActionId::Show => true,
        TaskActionId::Review | TaskActionId::Apply | TaskActionId::Merge | TaskActionId::RequestChanges => {
            state == TaskState::Ready
        }
        TaskActionId::ApprovePlan => state == TaskState::AwaitingPlanApproval,
        TaskActionId::Answer => state == TaskState::NeedsInput,
        TaskActionId::Resume => matches!(state, TaskState::Failed | TaskState::Interrupted | TaskState::NeedsLogin),
        TaskActionId::Discard => !state.is_final(),
    }
}

/// How editors title an action.
fn action_title(action: TaskActionId) -> &'static str {
    match action {
        TaskActionId::Review => "Review (open the diff)",
        TaskActionId::Apply => "Apply to working tree",
        TaskActionId::Merge => "Merge into the current branch",
        TaskActionId::RequestChanges => "Request changes…",
        TaskActionId::ApprovePlan => "Approve plan",
        TaskActionId::Answer => "Answer the agent (allow or reject)…",
        TaskActionId::Resume => "Resume",
        TaskActionId::Show => "Show details",
        TaskActionId::Discard => "Discard",
    }
}

/// One task as `baton/tasks` and `baton.task.list` show it; `message` is the latest step when
/// known (falls back to the error or the plan's first line). A pull request or sign-offs that
/// cannot be read are left out (logged).
pub(crate) fn summary(orchestrator: &Orchestrator, task: &Task, message: Option<&str>) -> TaskSummary {
    let pr = orchestrator.pull_request(task.id).unwrap_or_else(|e| {
        tracing::warn!(task = task.id, "cannot read the pull request: {e}");
        None
    });
    let signoffs = match &pr {
        Some(_) => orchestrator.signoffs(task.id).unwrap_or_else(|e| {
            tracing::warn!(task = task.id, "cannot read the sign-offs: {e}");
            Vec::new()
        }),
        None => Vec::new(),
    };
    let details = TaskDetails { task: task.clone(), log: Vec::new(), pull_request: pr, signoffs };
    summary_of(&details, message)
}

/// [`summary`] of what is already read.
fn summary_of(d: &TaskDetails, message: Option<&str>) -> TaskSummary {
    let task = &d.task;
    let pr = d.pull_request.as_ref().filter(|_| task.state == TaskState::Ready);
    let fallback = match task.state {
        TaskState::Failed | TaskState::NeedsLogin => task.error.as_deref().and_then(|e| e.lines().next()),
        TaskState::AwaitingPlanApproval => task.plan.as_deref().and_then(|p| p.lines().next()),
        TaskState::NeedsInput => task.question.as_deref(),
        _ => None,
    };
    TaskSummary {
        id: task.id,
        title: title(&task.prompt),
        state: task.state,
        agent: task.agent.clone(),
        branch: task.branch.clone(),
        message: message.or(fallback).map(str::to_owned),
        diff_stat: pr.map(|p| diff_stat(&p.stat)),
        checks: pr.map(|p| p.check),
        actions: actions(task.state),
        details: d.render(Detail::Brief),
    }
}

/// `baton.task.show`'s answer for `d`.
pub(crate) fn show_result(d: &TaskDetails) -> TaskShowResult {
    let t = &d.task;
    let pull_request = d.pull_request.as_ref().map(|p| PullRequestInfo {
        title: p.title.clone(),
        description: p.description.clone(),
        base_commit: p.base_commit.clone(),
        head_commit: p.head_commit.clone(),
        branch: p.branch.clone(),
        diff_stat: diff_stat(&p.stat),
        files_changed: p.stat.files_changed,
        insertions: p.stat.insertions,
        deletions: p.stat.deletions,
        files: p
            .files
            .iter()
            .map(|f| ChangedFileInfo {
                path: f.path.clone(),
                lines: f.ranges.iter().map(|r| [r.new_start, r.new_start + r.new_count.max(1) - 1]).collect(),
            })
            .collect(),
        check_command: p.check_command.clone(),
        check: p.check,
        check_output: p.check_output.clone(),
        tokens: p.tokens,
        github_url: p.github_url.clone(),
    });
    TaskShowResult {
        task: TaskInfo {
            summary: summary_of(d, None),
            prompt: t.prompt.clone(),
            repository: t.repo_root.display().to_string(),
            worktree: t.worktree.as_ref().map(|w| w.display().to_string()),
            base_commit: t.base_commit.clone(),
            created_ms: t.created_ms,
            updated_ms: t.updated_ms,
            summary_text: t.summary.clone(),
            error: t.error.clone(),
            tokens: t.tokens,
            plan: t.plan.clone(),
            plan_approved: t.plan_approved,
        },
        log: d.log.iter().map(|l| LogEntry { time_ms: l.time_ms, line: l.line.clone() }).collect(),
        pull_request,
        signoffs: d
            .signoffs
            .iter()
            .map(|s| SignoffInfo {
                who: s.who.clone(),
                when_ms: s.when_ms,
                action: s.action.as_str().to_owned(),
                head_commit: s.head_commit.clone(),
                checks: s.checks,
            })
            .collect(),
        details: d.render(Detail::Full),
    }
}

/// `+12 -3 in 2 files`.
pub(crate) fn diff_stat(stat: &DiffStat) -> String {
    let files = if stat.files_changed == 1 { "file" } else { "files" };
    format!("+{} -{} in {} {files}", stat.insertions, stat.deletions, stat.files_changed)
}

/// How titles name a check result: `pass`, `fail` or `none` (no check command), in the core's
/// words ([`CheckResult::as_str`]).
pub(crate) fn check_word(check: CheckResult) -> &'static str {
    check.as_str()
}

/// The unfinished tasks of `repo` (all repositories when `None`) as `baton/tasks` params.
///
/// Errors: database errors, as text.
/// `pin` overrides one task's state with the one its event announced: the database may already
/// be further along (a fast agent goes queued → running → ready in milliseconds), and each
/// state a task passes through is shown once.
pub(crate) fn tasks_params(
    orchestrator: &Orchestrator,
    repo: Option<&PathBuf>,
    messages: &HashMap<TaskId, String>,
    pin: Option<(TaskId, TaskState)>,
) -> Result<TasksParams, String> {
    let mut tasks = orchestrator.unfinished().map_err(|e| e.to_string())?;
    if let Some((id, state)) = pin
        && let Some(t) = tasks.iter_mut().find(|t| t.id == id)
    {
        t.state = state;
    }
    let mut counts = Counts::default();
    let mut summaries = Vec::new();
    for t in tasks.iter().filter(|t| repo.is_none_or(|r| *r == t.repo_root) && !t.state.is_final()) {
        counts.add(t.state);
        summaries.push(summary(orchestrator, t, messages.get(&t.id).map(String::as_str)));
    }
    let p = TasksParams {
        queued: counts.queued,
        running: counts.running,
        awaiting_review: counts.awaiting_review,
        awaiting_plan_approval: counts.awaiting_plan_approval,
        failed: counts.failed,
        interrupted: counts.interrupted,
        tasks: summaries,
    };
    Ok(p)
}

/// The git repository holding the workspace root, when there is one.
pub(crate) async fn workspace_repo(state: &State) -> Option<PathBuf> {
    let root = state.root()?;
    Orchestrator::repo_root(&root).await.ok()
}

/// Sends `baton/tasks` on change (to clients that declared `experimental.baton.tasks`): at
/// once for every state a task enters, and for the agents' steps at most once per
/// [`MIN_GAP_MS`]. Keeps one `$/progress` per working task (to clients with
/// `window.workDoneProgress`). Task events wake it; a slow poll catches changes other servers
/// make. Progress runs in one small task per task, so a client slow to create a progress token
/// never holds up the status bar or other tasks.
pub(crate) fn spawn_task_reporter(state: Arc<State>) {
    let Ok(orchestrator) = state.orchestrator() else { return };
    tokio::spawn(async move {
        let repo = workspace_repo(&state).await;
        let mut events = orchestrator.subscribe();
        // Worktrees left by crashed servers or deleted tasks fill disks: collect them once per start.
        let collector = orchestrator.clone();
        tokio::spawn(async move {
            match collector.gc().await {
                Ok(removed) if !removed.is_empty() => tracing::info!(count = removed.len(), "removed orphan worktrees"),
                Ok(_) => {}
                Err(e) => tracing::warn!("worktree garbage collection failed: {e}"),
            }
        });
        let mut reporter = Reporter {
            state,
            orchestrator,
            repo,
            messages: HashMap::new(),
            states: HashMap::new(),
            progress: HashMap::new(),
            last: None,
            next_send: tokio::time::Instant::now(),
        };
        let mut tick = tokio::time::interval(Duration::from_millis(POLL_MS));
        loop {
            let stale = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => !reporter.on_event(ev).await,
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(skipped = n, "task events lagged");
                        true
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => true,
            };
            if !stale || !reporter.state.features().tasks_notification {
                continue;
            }
            // A chatty agent sends many steps a second: one summary per gap covers them all.
            tokio::time::sleep_until(reporter.next_send).await;
            while let Ok(ev) = events.try_recv() {
                reporter.on_event(ev).await;
            }
            reporter.publish(None).await;
        }
    });
}

/// The task reporter's state between events.
struct Reporter {
    state: Arc<State>,
    orchestrator: Arc<Orchestrator>,
    repo: Option<PathBuf>,
    /// The latest step or message of each task.
    messages: HashMap<TaskId, String>,
    /// The state each task's latest event announced.
    states: HashMap<TaskId, TaskState>,
    progress: HashMap<TaskId, mpsc::UnboundedSender<TaskEvent>>,
    last: Option<TasksParams>,
    /// Before this instant only state changes are sent.
    next_send: tokio::time::Instant,
}

impl Reporter {
    /// Handles one event; returns true when it changed a task's state (and was published).
    async fn on_event(&mut self, ev: TaskEvent) -> bool {
        let (id, to) = (ev.task_id, ev.state);
        forward(&self.state, &mut self.messages, &mut self.progress, ev).await;
        if self.states.insert(id, to) == Some(to) {
            return false;
        }
        self.publish(Some((id, to))).await;
        true
    }

    async fn publish(&mut self, pin: Option<(TaskId, TaskState)>) {
        if !self.state.features().tasks_notification {
            return;
        }
        match tasks_params(&self.orchestrator, self.repo.as_ref(), &self.messages, pin) {
            Ok(params) if self.last.as_ref() != Some(&params) => {
                tracing::debug!(
                    ?pin,
                    queued = params.queued,
                    running = params.running,
                    review = params.awaiting_review,
                    "baton/tasks"
                );
                self.state.client.send_notification::<ext::Tasks>(params.clone()).await;
                self.last = Some(params);
                self.next_send = tokio::time::Instant::now() + Duration::from_millis(MIN_GAP_MS);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read tasks: {e}"),
        }
    }
}

/// Records the event's message and hands it to its task's progress reporter.
async fn forward(
    state: &Arc<State>,
    messages: &mut HashMap<TaskId, String>,
    progress: &mut HashMap<TaskId, mpsc::UnboundedSender<TaskEvent>>,
    ev: TaskEvent,
) {
    messages.insert(ev.task_id, ev.message.clone());
    let features = state.features();
    if ev.state == TaskState::Ready && !features.tasks_notification {
        // Nothing else tells such a client (Helix) that a pull request waits for review.
        let message =
            format!("Baton PR #{} {}; its actions are code actions on the changed lines", ev.task_id, ev.message);
        state.client.show_message(tower_lsp_server::gen_lsp_types::MessageType::Info, message).await;
    }
    if !features.work_done_progress {
        return;
    }
    let id = ev.task_id;
    let working = ev.state.is_working();
    if let Some(tx) = progress.get(&id)
        && tx.send(ev.clone()).is_ok()
    {
        if !working {
            progress.remove(&id);
        }
        return;
    }
    if !working {
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(ev);
    progress.insert(id, tx);
    tokio::spawn(report_progress(state.clone(), id, rx));
}

/// One task's work done progress: creates its token, begins with the first event, reports each
/// step and ends when the task leaves its working states.
async fn report_progress(state: Arc<State>, id: TaskId, mut events: mpsc::UnboundedReceiver<TaskEvent>) {
    let Some(first) = events.recv().await else { return };
    let token = progress_token(id);
    let created = tokio::time::timeout(
        Duration::from_millis(CREATE_TIMEOUT_MS),
        state.client.create_work_done_progress(token.clone()),
    )
    .await;
    if !matches!(created, Ok(Ok(()))) {
        tracing::debug!(task = id, "the client did not create a progress token");
        // Keep taking this run's events: returning would drop the receiver, and the next step
        // would spawn another reporter asking the client again, once per step.
        while let Some(ev) = events.recv().await {
            if !ev.state.is_working() {
                return;
            }
        }
        return;
    }
    let p: OngoingProgress<Unbounded, NotCancellable> =
        state.client.progress(token, format!("Baton task #{id}")).with_message(first.message).begin().await;
    while let Some(ev) = events.recv().await {
        if !ev.state.is_working() {
            p.finish_with_message(format!("{}: {}", ev.state, ev.message)).await;
            return;
        }
        p.report(ev.message).await;
    }
    p.finish().await;
}
