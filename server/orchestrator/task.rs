//! Tasks and local pull requests as plain data: a task's states and the one rule for moving
//! between them ([`transition_allowed`]), check results and sign-offs, and the words that show
//! them (stored names, and phrases for people), so every view says the same thing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::process::GroupRecord;

/// Longest task title, in characters.
pub(crate) const TITLE_CHARS: usize = 72;

/// A task's title from its prompt: the first line that is not blank, at most [`TITLE_CHARS`]
/// characters (cut with `…`); `""` for a blank prompt.
pub(crate) fn title(prompt: &str) -> String {
    crate::text::first_line(prompt, TITLE_CHARS)
}

/// A task's id (the `tasks.id` primary key).
pub(crate) type TaskId = i64;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for a slot of its agent profile.
    Queued,
    /// Its worktree is being created (checkout, `.worktreeinclude`, setup command).
    Preparing,
    /// The agent is working.
    Running,
    /// Plan-first: the agent proposed a plan; work starts when the user approves it.
    AwaitingPlanApproval,
    /// The agent finished; its work is being committed and the checks run.
    Checking,
    /// A local pull request is ready for review.
    Ready,
    /// Merged into the user's branch.
    Merged,
    /// Applied to the user's files as edits.
    Applied,
    /// Thrown away by the user (worktree and branch removed).
    Discarded,
    /// The agent, the worktree or the commit failed (see the task's error).
    Failed,
    /// The server running it stopped mid-way; worktree and branch are kept.
    Interrupted,
    /// The agent refused to work without a login; the task's error carries the agent's own
    /// hint (Copilot: "run `copilot login`"). Resumable once the user has logged in.
    NeedsLogin,
    /// The agent asked a question nobody attached could answer (an ACP permission request with
    /// `permission = "ask"`); the agent waits. The task's `question` says what it asks; `baton
    /// task answer` or an editor's `answer` action answers it, else it is rejected at
    /// `orchestrator.permission_timeout_ms`.
    NeedsInput,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub(crate) const ALL: [TaskState; 13] = [
        TaskState::Queued,
        TaskState::Preparing,
        TaskState::Running,
        TaskState::AwaitingPlanApproval,
        TaskState::Checking,
        TaskState::Ready,
        TaskState::Merged,
        TaskState::Applied,
        TaskState::Discarded,
        TaskState::Failed,
        TaskState::Interrupted,
        TaskState::NeedsLogin,
        TaskState::NeedsInput,
    ];

    /// The state's name as stored and shown (`awaiting_plan_approval`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Preparing => "preparing",
            TaskState::Running => "running",
            TaskState::AwaitingPlanApproval => "awaiting_plan_approval",
            TaskState::Checking => "checking",
            TaskState::Ready => "ready",
            TaskState::Merged => "merged",
            TaskState::Applied => "applied",
            TaskState::Discarded => "discarded",
            TaskState::Failed => "failed",
            TaskState::Interrupted => "interrupted",
            TaskState::NeedsLogin => "needs_login",
            TaskState::NeedsInput => "needs_input",
        }
    }

    /// The states in which nothing more happens to a task, in lifecycle order.
    pub(crate) fn finals() -> Vec<TaskState> {
        Self::ALL.into_iter().filter(|s| s.is_final()).collect()
    }

    /// The states as people read them in a refusal: `ready`, `failed or interrupted`, `ready,
    /// failed or interrupted`.
    pub(crate) fn either(states: &[TaskState]) -> String {
        match states {
            [] => String::new(),
            [one] => one.as_str().to_owned(),
            [rest @ .., last] => {
                format!("{} or {}", rest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "), last.as_str())
            }
        }
    }

    /// The state named `s`, if any.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A server is working on the task (a process may be running for it; in `needs_input` the
    /// agent runs, waiting for the answer).
    pub(crate) fn is_working(self) -> bool {
        matches!(
            self,
            TaskState::Queued | TaskState::Preparing | TaskState::Running | TaskState::NeedsInput | TaskState::Checking
        )
    }

    /// Nothing more happens to the task.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, TaskState::Merged | TaskState::Applied | TaskState::Discarded)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a task may go from `from` to `to`: the one place the lifecycle is enforced.
pub(crate) fn transition_allowed(from: TaskState, to: TaskState) -> bool {
    use TaskState::*;
    match from {
        Queued => matches!(to, Preparing | Failed | Discarded | Interrupted),
        Preparing => matches!(to, Running | Failed | Discarded | Interrupted),
        Running => {
            matches!(to, Checking | AwaitingPlanApproval | Failed | NeedsLogin | NeedsInput | Discarded | Interrupted)
        }
        // Answered (or timed out) → running again; the run may also end while it waits.
        NeedsInput => matches!(to, Running | Failed | NeedsLogin | Discarded | Interrupted),
        AwaitingPlanApproval => matches!(to, Queued | Discarded),
        Checking => matches!(to, Ready | Failed | Discarded | Interrupted),
        // Ready → queued: the reviewer requested changes.
        Ready => matches!(to, Merged | Applied | Discarded | Queued | Failed),
        // Failed and interrupted tasks can be retried (re-queued) or thrown away.
        Failed | Interrupted | NeedsLogin => matches!(to, Queued | Discarded),
        Merged | Applied | Discarded => false,
    }
}

/// One delegated task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub(crate) id: TaskId,
    /// The repository's top-level directory (the user's tree).
    pub(crate) repo_root: PathBuf,
    pub(crate) prompt: String,
    /// Editor context as the LSP layer sent it (file, selection, diagnostic), as JSON.
    pub(crate) context: serde_json::Value,
    /// The agent profile's name.
    pub(crate) agent: String,
    pub(crate) state: TaskState,
    pub(crate) branch: Option<String>,
    pub(crate) worktree: Option<PathBuf>,
    /// The commit the task's branch started from.
    pub(crate) base_commit: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub(crate) created_ms: i64,
    /// Last change, milliseconds since the Unix epoch.
    pub(crate) updated_ms: i64,
    pub(crate) summary: Option<String>,
    pub(crate) error: Option<String>,
    /// Tokens used by the task's runs, when the agent reports them.
    pub(crate) tokens: u64,
    /// Plan-first: the proposed plan.
    pub(crate) plan: Option<String>,
    pub(crate) plan_approved: bool,
    /// Which server instance works on it (`<pid>:<instance>:<start time>`; older servers wrote
    /// `<pid>:<instance>`).
    pub(crate) owner: String,
    /// Git's admin directory for the worktree (`<repo>/.git/worktrees/<name>`), recorded when the
    /// worktree was created: git commands on the worktree name it instead of reading the
    /// worktree's `.git`.
    pub(crate) git_dir: Option<PathBuf>,
    /// The agent's process group while it runs (recorded so a later server can stop it).
    pub(crate) process: Option<GroupRecord>,
    /// In `needs_input`: the agent's question with the answers it takes (`… asks permission:
    /// Write notes.txt (answer allow: Allow once, or reject: Reject)`).
    pub(crate) question: Option<String>,
}

/// A timestamped task log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub(crate) time_ms: i64,
    pub(crate) line: String,
}

/// `git diff --shortstat` of a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiffStat {
    pub(crate) files_changed: u32,
    pub(crate) insertions: u32,
    pub(crate) deletions: u32,
}

/// One hunk of a diff: the lines it replaces in the base (`old_*`) and the lines it puts in
/// their place (`new_*`); 1-based line numbers, a count of 0 means an insertion (old) or a
/// deletion (new) after that line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LineRange {
    pub(crate) old_start: u32,
    pub(crate) old_count: u32,
    pub(crate) new_start: u32,
    pub(crate) new_count: u32,
}

/// A file a pull request changes, with its changed line ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct ChangedFile {
    /// Path relative to the repository root (lossy UTF-8 for names that are not).
    pub(crate) path: String,
    pub(crate) ranges: Vec<LineRange>,
    /// What a reviewer must be told about this file (empty for an ordinary text change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<FileNote>,
}

/// Something about a changed file that its line diff does not show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum FileNote {
    /// A symbolic link whose target (absolute, or climbing out with `..`, or into `.git`) is
    /// outside the repository's tree.
    SymlinkOutside { target: String },
    /// Binary content (a NUL byte, or not UTF-8 text).
    Binary,
    /// The executable bit was set (`true`, including a new executable file) or cleared.
    Executable { set: bool },
}

/// Outcome of the project's check command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    Fail,
    /// No check command is configured.
    None,
}

impl CheckResult {
    /// Every result.
    pub(crate) const ALL: [CheckResult; 3] = [CheckResult::Pass, CheckResult::Fail, CheckResult::None];

    /// `pass`, `fail` or `none`: the name stored, sent on the wire (`baton/tasks`) and shown in
    /// code action titles (`checks none`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "fail",
            CheckResult::None => "none",
        }
    }

    /// The result named `s` (as [`CheckResult::as_str`]); anything else is `None` (no checks).
    pub(crate) fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|c| c.as_str() == s).unwrap_or(CheckResult::None)
    }

    /// `checks pass`, `checks FAIL` or `no checks`: the clause in progress messages (a failure
    /// in capitals, so it stands out).
    pub(crate) fn summary(self) -> &'static str {
        match self {
            CheckResult::Pass => "checks pass",
            CheckResult::Fail => "checks FAIL",
            CheckResult::None => "no checks",
        }
    }

    /// `pass`, `FAIL` or `none`: the value of a merge commit's `Baton-Checks:` trailer.
    pub(crate) fn trailer(self) -> &'static str {
        match self {
            CheckResult::Fail => "FAIL",
            other => other.as_str(),
        }
    }
}

/// A local pull request: the task branch's work, ready for review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PullRequest {
    pub(crate) task_id: TaskId,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) base_commit: String,
    pub(crate) head_commit: String,
    pub(crate) branch: String,
    pub(crate) stat: DiffStat,
    pub(crate) files: Vec<ChangedFile>,
    pub(crate) check_command: Option<String>,
    pub(crate) check: CheckResult,
    /// The last 4 KB of the check command's output.
    pub(crate) check_output: String,
    pub(crate) tokens: u64,
    pub(crate) github_url: Option<String>,
}

/// What a human did with a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SignoffAction {
    Merged,
    Applied,
}

impl SignoffAction {
    /// `merged` or `applied`: the name stored (and the state the task reached).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SignoffAction::Merged => "merged",
            SignoffAction::Applied => "applied",
        }
    }

    /// The action named `s`; anything but `applied` is a merge (the records before there were two).
    pub(crate) fn parse(s: &str) -> Self {
        if s == SignoffAction::Applied.as_str() { SignoffAction::Applied } else { SignoffAction::Merged }
    }
}

/// A human's sign-off on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Signoff {
    pub(crate) task_id: TaskId,
    /// `Name <email>` from the user's git identity.
    pub(crate) who: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) when_ms: i64,
    pub(crate) action: SignoffAction,
    /// The pull request's head commit that was signed off.
    pub(crate) head_commit: String,
    /// The checks' result at that head.
    pub(crate) checks: CheckResult,
}
