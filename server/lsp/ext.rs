//! Baton's protocol extensions: the one source of truth for `baton/...` methods, command names
//! and the settings schema. `editors/protocol.json` is generated from here (a test keeps it in
//! sync) and the editors' tests check their copies against that file.

use serde::{Deserialize, Serialize};
use tower_lsp_server::gen_lsp_types::{Diagnostic, LspNotificationMethod, MessageDirection, Notification, Range};

use crate::orchestrator::{CheckResult, TaskId, TaskState};

#[cfg(test)]
mod vscode_settings;

/// Server → client notification `baton/status`, sent only to clients that declare
/// `capabilities.experimental.baton.status = true` in `initialize`.
pub(crate) const STATUS: &str = "baton/status";
/// Client → server notification `baton/didShowCompletion`: a suggestion was shown
/// (params: [`DidShowParams`]).
pub(crate) const DID_SHOW_COMPLETION: &str = "baton/didShowCompletion";
/// Client → server request `baton/health`: a snapshot for editors' health checks (result:
/// version, provider, model, the model server's state — `ok`, `slow`, `unreachable`, `error` or
/// `unknown` — reachability, encoding, counters). Answered within 2 s: a check still running
/// then goes on in the background (`checking: true`) and `baton/status` reports its result.
pub(crate) const HEALTH: &str = "baton/health";
/// Client → server request `baton/agents` (no params): every agent profile, the built-in
/// presets included, with whether its command is installed (path, `--version`), whether its
/// runtime fits and whether it is ready where that is knowable
/// ([`crate::agents::inventory::AgentReport`], camelCase). Takes up to 10 s (the `--version`
/// runs, concurrently).
pub(crate) const AGENTS: &str = "baton/agents";

/// Client → server request `baton/taskFiles`: the files a task's pull request changes
/// ([`TaskFilesParams`] → [`TaskFilesResult`]), for an editor's diff view.
pub(crate) const TASK_FILES: &str = "baton/taskFiles";
/// Client → server request `baton/taskFile`: the text of one changed file on the pull request's
/// base or head commit ([`TaskFileParams`] → [`TaskFileResult`]); a path the pull request does
/// not change is refused (InvalidParams).
pub(crate) const TASK_FILE: &str = "baton/taskFile";
/// Client → server request `baton/completionPanel`: up to 10 suggestions at a position, for a
/// panel the client renders (`:Baton panel`, VS Code's "Baton: Open Completions Panel")
/// ([`CompletionPanelParams`] → [`CompletionPanelResult`]). Reports work done progress while the
/// model works (with the request's `workDoneToken`, else one the server creates when the client
/// supports it). Errors: ContentModified when the document is not at the `version` asked for or
/// changes while the model works, RequestCancelled when a newer panel request for the document
/// replaces this one, InternalError naming the model's failure, InvalidParams for a document
/// that is not open, InvalidRequest when inline completion is off or the file is secret.
pub(crate) const COMPLETION_PANEL: &str = "baton/completionPanel";

/// Client → server request `textDocument/copilotInlineEdit`: next edit suggestions, as
/// GitHub's Copilot language server defines the request and copilot-lsp, sidekick.nvim and
/// copilot.el send it (tests/nes/PROTOCOL.md). Params [`InlineEditParams`], result
/// [`InlineEditResult`]; a request for a version the document has moved on from, or with NES
/// off, is answered `{"edits": []}`.
pub(crate) const COPILOT_INLINE_EDIT: &str = "textDocument/copilotInlineEdit";
/// Client → server notification `textDocument/didShowInlineEdit` `{"item": {"command"}}`: a next
/// edit suggestion was shown ([`DidShowInlineEditParams`]).
pub(crate) const DID_SHOW_INLINE_EDIT: &str = "textDocument/didShowInlineEdit";
/// Client → server notification `textDocument/didFocus` `{"textDocument": {"uri"}}` (Copilot's;
/// copilot-lsp and sidekick.nvim send it): accepted and ignored.
pub(crate) const DID_FOCUS: &str = "textDocument/didFocus";

/// Server → client notification `baton/tasks`: task counts and a one-line summary of each
/// task that is not finished, for status bars ([`TasksParams`]). Sent on every change to
/// clients that declare `capabilities.experimental.baton.tasks = true`.
pub(crate) const TASKS: &str = "baton/tasks";

/// A `workspace/executeCommand` command, by its wire name (`baton.edit`, `baton.task.start`,
/// ...): parsed once in `handlers::execute_command`, used by name everywhere else. Each command
/// takes one object argument (its `...Args` struct; unknown fields are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Command {
    /// Rewrite a range following an instruction ([`EditArgs`]). Without an instruction the
    /// server offers a few with `window/showMessageRequest`.
    #[serde(rename = "baton.edit")]
    Edit,
    /// Fix a diagnostic with the model ([`FixArgs`]).
    #[serde(rename = "baton.fix")]
    Fix,
    /// Run by the client when the user accepts a suggestion (the inline completion item's
    /// `command`; [`AcceptedArgs`]).
    #[serde(rename = "baton.accepted")]
    Accepted,
    /// Run by the client when the user accepts a next edit suggestion (the edit's `command`).
    /// One string argument, `<source>:<id>` (`structural:3`, `model:4`). Also accepted as a
    /// notification (copilot.el sends it without an id).
    #[serde(rename = "baton.nes.accept")]
    NesAccept,
    /// Run by Baton's own clients when the user dismisses a next edit suggestion (same argument
    /// as [`Command::NesAccept`]); the public clients send nothing.
    #[serde(rename = "baton.nes.dismiss")]
    NesDismiss,
    /// Delegate a task to a background agent ([`TaskStartArgs`]). Without a prompt the server
    /// offers a few with `window/showMessageRequest`. Returns `{ "id": number }` as soon as the
    /// task is queued.
    #[serde(rename = "baton.task.start")]
    TaskStart,
    /// The tasks of the workspace's repository, oldest first; `{ "all": true }` lists every
    /// repository's ([`TaskListArgs`]). Returns `[TaskSummary]`.
    #[serde(rename = "baton.task.list")]
    TaskList,
    /// One task with its log, pull request and sign-offs ([`TaskIdArgs`]).
    #[serde(rename = "baton.task.show")]
    TaskShow,
    /// Approve the plan of a plan-first task; the agent then does the work ([`TaskIdArgs`];
    /// returns [`TaskStateResult`]).
    #[serde(rename = "baton.task.approvePlan")]
    TaskApprovePlan,
    /// Run a failed or interrupted task again in its worktree ([`TaskIdArgs`]; returns
    /// [`TaskStateResult`]).
    #[serde(rename = "baton.task.resume")]
    TaskResume,
    /// Answer the question of a task in `needs_input` (an agent's permission request;
    /// [`TaskIdArgs`] with `answer`: `allow` or `reject`; without it the server asks with
    /// `window/showMessageRequest`). Returns [`TaskStateResult`] (`needs_input` until the
    /// server running the agent picks the answer up, within a second).
    #[serde(rename = "baton.task.answer")]
    TaskAnswer,
    /// Open a pull request's diff in the editor (`window/showDocument` of a `.diff` file;
    /// [`TaskIdArgs`]). Returns `{ "uri": string, "shown": boolean }`.
    #[serde(rename = "baton.pr.review")]
    PrReview,
    /// Apply a ready pull request to the working tree with `workspace/applyEdit` (undoable);
    /// refused when a file changed since the task started ([`TaskIdArgs`]).
    #[serde(rename = "baton.pr.apply")]
    PrApply,
    /// Merge a ready pull request into the current branch with a sign-off; refused on a dirty
    /// tree or a predicted conflict ([`TaskIdArgs`]). Returns `{ "commit": string,
    /// "signedOffBy": string }`.
    #[serde(rename = "baton.pr.merge")]
    PrMerge,
    /// Send the agent a follow-up prompt in the same worktree ([`TaskIdArgs`] with `feedback`;
    /// without feedback the server offers a few; returns [`TaskStateResult`]).
    #[serde(rename = "baton.pr.requestChanges")]
    PrRequestChanges,
    /// Discard a task: stop its agent, remove its worktree and branch ([`TaskIdArgs`]; returns
    /// [`TaskStateResult`]).
    #[serde(rename = "baton.pr.discard")]
    PrDiscard,
}

impl Command {
    /// Every command the server executes, in the order `executeCommandProvider` lists them.
    pub(crate) const ALL: [Command; 16] = [
        Self::Edit,
        Self::Fix,
        Self::Accepted,
        Self::NesAccept,
        Self::NesDismiss,
        Self::TaskStart,
        Self::TaskList,
        Self::TaskShow,
        Self::TaskApprovePlan,
        Self::TaskResume,
        Self::TaskAnswer,
        Self::PrReview,
        Self::PrApply,
        Self::PrMerge,
        Self::PrRequestChanges,
        Self::PrDiscard,
    ];

    /// The wire name (`baton.pr.merge`), as serde writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Edit => "baton.edit",
            Self::Fix => "baton.fix",
            Self::Accepted => "baton.accepted",
            Self::NesAccept => "baton.nes.accept",
            Self::NesDismiss => "baton.nes.dismiss",
            Self::TaskStart => "baton.task.start",
            Self::TaskList => "baton.task.list",
            Self::TaskShow => "baton.task.show",
            Self::TaskApprovePlan => "baton.task.approvePlan",
            Self::TaskResume => "baton.task.resume",
            Self::TaskAnswer => "baton.task.answer",
            Self::PrReview => "baton.pr.review",
            Self::PrApply => "baton.pr.apply",
            Self::PrMerge => "baton.pr.merge",
            Self::PrRequestChanges => "baton.pr.requestChanges",
            Self::PrDiscard => "baton.pr.discard",
        }
    }

    /// The LSP command that runs this one with `argument`, shown as `title`.
    pub(crate) fn invocation(
        self,
        title: String,
        argument: &impl Serialize,
    ) -> tower_lsp_server::gen_lsp_types::Command {
        tower_lsp_server::gen_lsp_types::Command {
            title,
            command: self.name().to_owned(),
            arguments: Some(vec![serde_json::to_value(argument).unwrap_or_default()]),
            tooltip: None,
        }
    }

    /// The command named `name` (exactly, case included), if the server has one.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The states a status bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StatusState {
    /// Ready; no model request in flight.
    Idle,
    /// At least one model request in flight.
    Working,
    /// The last model request failed (message says why).
    Error,
    /// The model server accepted the connection but did not finish answering within
    /// `provider.timeout_ms` (message says so and what to try). Not `unreachable`: it is there.
    Slow,
    /// No model server answers at the configured URL: the connection was refused, the host has
    /// no route or its name does not resolve (message says how to start or configure one).
    Unreachable,
}

impl StatusState {
    /// Every state, in declaration order.
    #[cfg(test)]
    pub(crate) const ALL: [StatusState; 5] = [Self::Idle, Self::Working, Self::Error, Self::Slow, Self::Unreachable];
}

/// Params of `baton/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StatusParams {
    pub(crate) state: StatusState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// Provider kind (`openai`, `anthropic`, `ollama`, `llamacpp`).
    pub(crate) provider: String,
    pub(crate) model: String,
}

/// The `baton/status` notification type.
pub(crate) enum Status {}

impl Notification for Status {
    type Params = StatusParams;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom(STATUS);
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

/// Params of `baton/didShowCompletion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DidShowParams {
    pub(crate) uri: String,
    /// Length of the shown text, in UTF-16 code units.
    #[serde(default)]
    pub(crate) length: u32,
}

/// The document of a next edit request or edit: `{ "uri", "version" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionedDocument {
    pub(crate) uri: String,
    pub(crate) version: i32,
}

/// Params of [`COPILOT_INLINE_EDIT`]: `{ "textDocument": { "uri", "version" }, "position" }`
/// (UTF-16 from copilot-lsp and copilot.el; the negotiated encoding, UTF-16 while NES is on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InlineEditParams {
    pub(crate) text_document: VersionedDocument,
    pub(crate) position: tower_lsp_server::gen_lsp_types::Position,
}

/// Result of [`COPILOT_INLINE_EDIT`]: alternatives, best first, none overlapping and each valid
/// alone (copilot-lsp and copilot.el show the first; sidekick.nvim applies all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub(crate) struct InlineEditResult {
    pub(crate) edits: Vec<InlineEdit>,
}

/// One next edit: replace `range` of `textDocument` (at its `version`) with `text`; `command`
/// is [`Command::NesAccept`] with `<source>:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InlineEdit {
    pub(crate) text: String,
    pub(crate) range: Range,
    pub(crate) text_document: VersionedDocument,
    pub(crate) command: tower_lsp_server::gen_lsp_types::Command,
}

/// Params of [`DID_SHOW_INLINE_EDIT`]: `{ "item": { "command"?, ... } }`; anything else in `item`
/// (a whole edit) is tolerated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DidShowInlineEditParams {
    #[serde(default)]
    pub(crate) item: serde_json::Value,
}

/// One task, as `baton/tasks` and `baton.task.list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskSummary {
    pub(crate) id: TaskId,
    /// The first line of the prompt, shortened.
    pub(crate) title: String,
    /// `ready`, `awaiting_plan_approval`, ... (the names in `protocol.json`'s `taskStates`).
    pub(crate) state: TaskState,
    pub(crate) agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) branch: Option<String>,
    /// The latest step or error, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// For ready tasks: `+12 -3 in 2 files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) diff_stat: Option<String>,
    /// For ready tasks: `pass`, `fail` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) checks: Option<CheckResult>,
    /// What the user can do with the task in its state, in the order to offer them. Editors
    /// offer exactly these (they keep no rules of their own).
    #[serde(default)]
    pub(crate) actions: Vec<TaskAction>,
    /// The task rendered as text (header, plan, pull request, sign-offs; lines end with `\n`),
    /// for editors to show as is.
    #[serde(default)]
    pub(crate) details: String,
}

/// Which action a [`TaskAction`] is: a stable id editors may key on (`:Baton merge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TaskActionId {
    Review,
    Apply,
    Merge,
    RequestChanges,
    ApprovePlan,
    Answer,
    Resume,
    Show,
    Discard,
}

impl TaskActionId {
    /// Every action, in the order editors offer them.
    pub(crate) const ALL: [TaskActionId; 9] = [
        Self::Review,
        Self::Apply,
        Self::Merge,
        Self::RequestChanges,
        Self::ApprovePlan,
        Self::Answer,
        Self::Resume,
        Self::Show,
        Self::Discard,
    ];

    /// The command that runs it (argument `{ "id": task id }`).
    pub(crate) fn command(self) -> Command {
        match self {
            Self::Review => Command::PrReview,
            Self::Apply => Command::PrApply,
            Self::Merge => Command::PrMerge,
            Self::RequestChanges => Command::PrRequestChanges,
            Self::ApprovePlan => Command::TaskApprovePlan,
            Self::Answer => Command::TaskAnswer,
            Self::Resume => Command::TaskResume,
            Self::Show => Command::TaskShow,
            Self::Discard => Command::PrDiscard,
        }
    }
}

/// One thing the user can do with a task: `{ "id": "merge", "title": "Merge into the current
/// branch", "command": "baton.pr.merge" }`. The command takes `{ "id": task id }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskAction {
    pub(crate) id: TaskActionId,
    pub(crate) title: String,
    pub(crate) command: Command,
}

/// Result of [`Command::TaskShow`]: the task, its log, pull request and sign-offs, camelCase,
/// with `details` rendered with the prompt, check output and log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskShowResult {
    pub(crate) task: TaskInfo,
    pub(crate) log: Vec<LogEntry>,
    pub(crate) pull_request: Option<PullRequestInfo>,
    pub(crate) signoffs: Vec<SignoffInfo>,
    /// The whole task as text (lines end with `\n`).
    pub(crate) details: String,
}

/// The task in [`TaskShowResult`]: its summary (with `actions` and brief `details`) and the rest
/// of what is recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskInfo {
    #[serde(flatten)]
    pub(crate) summary: TaskSummary,
    pub(crate) prompt: String,
    /// The repository's top-level directory.
    pub(crate) repository: String,
    pub(crate) worktree: Option<String>,
    pub(crate) base_commit: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub(crate) created_ms: i64,
    /// Milliseconds since the Unix epoch.
    pub(crate) updated_ms: i64,
    /// The agent's closing summary.
    pub(crate) summary_text: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) tokens: u64,
    pub(crate) plan: Option<String>,
    pub(crate) plan_approved: bool,
}

/// One log line: `{ "timeMs": number, "line": string }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogEntry {
    /// Milliseconds since the Unix epoch.
    pub(crate) time_ms: i64,
    pub(crate) line: String,
}

/// A task's pull request, camelCase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PullRequestInfo {
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) base_commit: String,
    pub(crate) head_commit: String,
    pub(crate) branch: String,
    /// `+12 -3 in 2 files`.
    pub(crate) diff_stat: String,
    pub(crate) files_changed: u32,
    pub(crate) insertions: u32,
    pub(crate) deletions: u32,
    pub(crate) files: Vec<ChangedFileInfo>,
    pub(crate) check_command: Option<String>,
    pub(crate) check: CheckResult,
    /// The last 4 KB of the check command's output.
    pub(crate) check_output: String,
    pub(crate) tokens: u64,
    pub(crate) github_url: Option<String>,
}

/// A file a pull request changes and the lines it puts there (1-based, inclusive `[first, last]`
/// in the pull request's version; a deletion gives the line it follows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangedFileInfo {
    /// Relative to the repository, `/`-separated.
    pub(crate) path: String,
    pub(crate) lines: Vec<[u32; 2]>,
}

/// A human sign-off on a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignoffInfo {
    /// `Name <email>`.
    pub(crate) who: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) when_ms: i64,
    /// `merged` or `applied`.
    pub(crate) action: String,
    pub(crate) head_commit: String,
    pub(crate) checks: CheckResult,
}

/// Params of `baton/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TasksParams {
    pub(crate) queued: usize,
    /// Preparing, running or checking.
    pub(crate) running: usize,
    /// Ready pull requests.
    pub(crate) awaiting_review: usize,
    pub(crate) awaiting_plan_approval: usize,
    pub(crate) failed: usize,
    pub(crate) interrupted: usize,
    /// Tasks not yet merged, applied or discarded, oldest first.
    pub(crate) tasks: Vec<TaskSummary>,
}

/// The `baton/tasks` notification type.
pub(crate) enum Tasks {}

impl Notification for Tasks {
    type Params = TasksParams;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom(TASKS);
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

/// The document of a [`COMPLETION_PANEL`] request: `{ "uri", "version"? }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PanelDocument {
    pub(crate) uri: String,
    /// The version the client sees; the request is refused (ContentModified) when the server's
    /// copy is at another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<i32>,
}

/// Params of [`COMPLETION_PANEL`]: `{ "textDocument": { "uri", "version"? }, "position",
/// "count"?: number, "workDoneToken"? }`. The position is in the negotiated encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CompletionPanelParams {
    pub(crate) text_document: PanelDocument,
    pub(crate) position: tower_lsp_server::gen_lsp_types::Position,
    /// How many suggestions to ask for, 1 to 10 (more is capped at 10, 0 counts as 1); 10 when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u32>,
    /// A client-created progress token (LSP `WorkDoneProgressParams`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) work_done_token: Option<tower_lsp_server::gen_lsp_types::ProgressToken>,
}

/// Result of [`COMPLETION_PANEL`]: `{ "version", "items": [{ "insertText", "range" }] }`, the
/// usual suggestion first, then the others in the order they were asked for; no two alike
/// (ignoring trailing whitespace). Empty when the model has nothing to suggest there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompletionPanelResult {
    /// The document version the items apply to.
    pub(crate) version: i32,
    pub(crate) items: Vec<PanelItem>,
}

/// One suggestion of [`CompletionPanelResult`]: replace `range` (the cursor, or from the cursor
/// over the closing brackets and quotes that are all the rest of its line; negotiated encoding)
/// with `insertText` (plain text, no snippet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PanelItem {
    pub(crate) insert_text: String,
    pub(crate) range: Range,
}

/// Params of `baton/taskFiles`: `{ "taskId": number }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TaskFilesParams {
    pub(crate) task_id: TaskId,
}

/// One changed file of `baton/taskFiles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFileEntry {
    /// The path in the repository, `/`-separated.
    pub(crate) path: String,
    /// `added`, `deleted` or `modified`.
    pub(crate) status: String,
}

/// Result of `baton/taskFiles`: `{ "files": [{ "path", "status" }] }`, in git's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFilesResult {
    pub(crate) files: Vec<TaskFileEntry>,
}

/// Which commit of a pull request `baton/taskFile` reads: the merge base it started from, or
/// its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TaskFileSide {
    Base,
    Head,
}

/// Params of `baton/taskFile`: `{ "taskId": number, "path": string, "side": "base" | "head" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TaskFileParams {
    pub(crate) task_id: TaskId,
    /// A path `baton/taskFiles` listed.
    pub(crate) path: String,
    pub(crate) side: TaskFileSide,
}

/// Result of `baton/taskFile`: `{ "text": string | null }`, null where the file does not exist
/// on that side (the pull request adds or deletes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskFileResult {
    pub(crate) text: Option<String>,
}

/// Arguments of [`Command::TaskStart`]: `{ "prompt"?: string, "uri"?: string, "range"?: Range,
/// "diagnostic"?: Diagnostic, "agent"?: string }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskStartArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) range: Option<Range>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) diagnostic: Option<Diagnostic>,
    /// An agent profile's name; the default agent when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) agent: Option<String>,
}

/// Arguments of [`Command::TaskList`]: `{ "all"?: boolean }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskListArgs {
    /// Every repository's tasks, not only the workspace's.
    #[serde(default)]
    pub(crate) all: bool,
}

/// Arguments of the commands that name one task ([`Command::TaskShow`], the `baton.pr.*` ones):
/// `{ "id": number, "feedback"?: string, "answer"?: "allow" | "reject" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskIdArgs {
    pub(crate) id: TaskId,
    /// For [`Command::PrRequestChanges`]: the follow-up prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) feedback: Option<String>,
    /// For [`Command::TaskAnswer`]: `allow` or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) answer: Option<String>,
}

/// What the commands that move a task answer: its id and the state it is in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TaskStateResult {
    pub(crate) id: TaskId,
    pub(crate) state: TaskState,
}

/// Arguments of [`Command::Edit`]: `{ "uri": string, "range": Range, "instruction"?: string }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditArgs {
    pub(crate) uri: String,
    pub(crate) range: Range,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) instruction: Option<String>,
}

/// Arguments of [`Command::Fix`]: `{ "uri": string, "diagnostic": Diagnostic }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FixArgs {
    pub(crate) uri: String,
    pub(crate) diagnostic: Diagnostic,
}

/// Arguments of [`Command::Accepted`]: `{ "uri": string, "length": number }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptedArgs {
    pub(crate) uri: String,
    /// The accepted text's length, in UTF-16 code units.
    #[serde(default)]
    pub(crate) length: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Settings;

    /// The machine-readable description of the protocol extensions and settings, written to
    /// `editors/protocol.json`. Object keys are sorted, so the file does not depend on whether
    /// serde_json preserves insertion order (the `agent-client-protocol` crate turns that on for the
    /// whole build).
    fn protocol_description() -> Value {
        let settings = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
        let mut description = json!({
            "notifications": {
                "serverToClient": [STATUS, TASKS],
                "clientToServer": [DID_SHOW_COMPLETION, DID_SHOW_INLINE_EDIT, DID_FOCUS],
            },
            "requests": {
                "clientToServer": [HEALTH, TASK_FILES, TASK_FILE, AGENTS, COPILOT_INLINE_EDIT, COMPLETION_PANEL]
            },
            "commands": Command::ALL,
            "clientCapability": "experimental.baton.status",
            "clientCapabilities": ["experimental.baton.status", "experimental.baton.tasks"],
            "statusStates": StatusState::ALL,
            "taskStates": TaskState::ALL,
            "taskActions": TaskActionId::ALL.map(|a| json!({ "id": a, "command": a.command() })),
            "settings": flatten("", &settings),
        });
        description.sort_all_objects();
        description
    }

    /// Settings as dotted keys with their defaults (`completion.debounce_ms` → 75).
    fn flatten(prefix: &str, v: &Value) -> Value {
        let mut out = serde_json::Map::new();
        fn walk(prefix: &str, v: &Value, out: &mut serde_json::Map<String, Value>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                        walk(&key, v, out);
                    }
                }
                other => {
                    out.insert(prefix.to_owned(), other.clone());
                }
            }
        }
        walk(prefix, v, &mut out);
        Value::Object(out)
    }

    /// Names are the wire's: serde's and [`Command::name`] agree, and every variant is listed.
    #[test]
    fn commands_parse_from_their_wire_names_only() {
        for command in Command::ALL {
            assert_eq!(serde_json::to_value(command).ok(), Some(json!(command.name())));
            assert_eq!(Command::parse(command.name()), Some(command));
        }
        assert_eq!(Command::parse("baton.pr.Merge"), None);
        assert_eq!(Command::parse("baton.pr.merge "), None);
    }

    /// Task states and check results on the wire are the core's enums, serialized as the names
    /// the editors match on; a rename in the core would change the wire, so it fails here.
    #[test]
    fn task_states_and_check_results_keep_their_wire_names() {
        let states = serde_json::to_value(TaskState::ALL).unwrap_or_default();
        expect_test::expect![[r#"["queued","preparing","running","awaiting_plan_approval","checking","ready","merged","applied","discarded","failed","interrupted","needs_login","needs_input"]"#]]
            .assert_eq(&states.to_string());
        for state in TaskState::ALL {
            assert_eq!(serde_json::to_value(state).ok(), Some(json!(state.as_str())));
        }
        let checks =
            serde_json::to_value([CheckResult::Pass, CheckResult::Fail, CheckResult::None]).unwrap_or_default();
        assert_eq!(checks, json!(["pass", "fail", "none"]));
    }

    #[test]
    fn argument_structs_refuse_unknown_fields() {
        let refused = serde_json::from_value::<TaskIdArgs>(json!({ "id": 1, "feedbak": "typo" }));
        assert!(refused.is_err_and(|e| e.to_string().starts_with("unknown field `feedbak`")));
        let args: TaskStartArgs = serde_json::from_value(json!({ "prompt": "p" })).expect("args");
        assert_eq!(serde_json::to_value(args).ok(), Some(json!({ "prompt": "p" })), "absent stays absent");
    }

    #[test]
    fn editors_protocol_json_is_generated_from_the_server() {
        let text = serde_json::to_string_pretty(&protocol_description()).unwrap_or_default() + "\n";
        expect_test::expect_file!["../../editors/protocol.json"].assert_eq(&text);
    }

    /// The settings section of the VS Code extension's package.json is generated from the
    /// server's settings (see `vscode_settings`); `UPDATE_EXPECT=1` rewrites it.
    #[test]
    fn vscode_package_json_settings_are_generated_from_the_server() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode/package.json");
        let text = std::fs::read_to_string(&path).expect("read editors/vscode/package.json");
        let package: serde_json::Value = serde_json::from_str(&text).expect("package.json is JSON");
        let generated = super::vscode_settings::package_json(&package).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_json::to_string_pretty(&generated).unwrap_or_default() + "\n";
        expect_test::expect_file!["../../editors/vscode/package.json"].assert_eq(&text);
    }
}
