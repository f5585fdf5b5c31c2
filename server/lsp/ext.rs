//! Baton's protocol extensions: the one source of truth for `baton/...` methods, command names
//! and the settings schema. `editors/protocol.json` is generated from here (a test keeps it in
//! sync) and the editors' tests check their copies against that file.

use serde::{Deserialize, Serialize};
use tower_lsp_server::gen_lsp_types::{LspNotificationMethod, MessageDirection, Notification};

#[cfg(test)]
mod vscode_settings;

/// Server → client notification `baton/status`, sent only to clients that declare
/// `capabilities.experimental.baton.status = true` in `initialize`.
pub const STATUS: &str = "baton/status";
/// Client → server notification `baton/didShowCompletion`: a suggestion was shown
/// (params: [`DidShowParams`]).
pub const DID_SHOW_COMPLETION: &str = "baton/didShowCompletion";
/// Client → server request `baton/health`: a snapshot for editors' health checks (result:
/// version, provider, model, the model server's state — `ok`, `slow`, `unreachable`, `error` or
/// `unknown` — reachability, encoding, counters). Answered within 2 s: a check still running
/// then goes on in the background (`checking: true`) and `baton/status` reports its result.
pub const HEALTH: &str = "baton/health";

/// `workspace/executeCommand` command: rewrite a range following an instruction.
/// Arguments: `[{ "uri": string, "range": Range, "instruction"?: string }]`. Without an
/// instruction the server offers a few with `window/showMessageRequest`.
pub const CMD_EDIT: &str = "baton.edit";
/// Command: fix a diagnostic with the model. Arguments: `[{ "uri": string, "diagnostic": Diagnostic }]`.
pub const CMD_FIX: &str = "baton.fix";
/// Command run by the client when the user accepts a suggestion (the inline completion item's
/// `command`). Arguments: `[{ "uri": string, "length": number (UTF-16 code units) }]`.
pub const CMD_ACCEPTED: &str = "baton.accepted";

/// Server → client notification `baton/tasks`: task counts and a one-line summary of each
/// task that is not finished, for status bars ([`TasksParams`]). Sent on every change to
/// clients that declare `capabilities.experimental.baton.tasks = true`.
pub const TASKS: &str = "baton/tasks";

/// Command: delegate a task to a background agent. Arguments:
/// `[{ "prompt"?: string, "uri"?: string, "range"?: Range, "diagnostic"?: Diagnostic,
/// "agent"?: string }]`. Without a prompt the server offers a few with
/// `window/showMessageRequest`. Returns `{ "id": number }` as soon as the task is queued.
pub const CMD_TASK_START: &str = "baton.task.start";
/// Command: the tasks of the workspace's repository, oldest first; `[{ "all": true }]` lists
/// every repository's. Returns `[TaskSummary]`.
pub const CMD_TASK_LIST: &str = "baton.task.list";
/// Command: one task with its log, pull request and sign-offs. Arguments: `[{ "id": number }]`.
pub const CMD_TASK_SHOW: &str = "baton.task.show";
/// Command: approve the plan of a plan-first task; the agent then does the work.
/// Arguments: `[{ "id": number }]`.
pub const CMD_TASK_APPROVE_PLAN: &str = "baton.task.approvePlan";
/// Command: run a failed or interrupted task again in its worktree. Arguments: `[{ "id": number }]`.
pub const CMD_TASK_RESUME: &str = "baton.task.resume";
/// Command: open a pull request's diff in the editor (`window/showDocument` of a `.diff` file).
/// Arguments: `[{ "id": number }]`. Returns `{ "uri": string }`.
pub const CMD_PR_REVIEW: &str = "baton.pr.review";
/// Command: apply a ready pull request to the working tree with `workspace/applyEdit`
/// (undoable); refused when a file changed since the task started. Arguments: `[{ "id": number }]`.
pub const CMD_PR_APPLY: &str = "baton.pr.apply";
/// Command: merge a ready pull request into the current branch with a sign-off; refused on a
/// dirty tree or a predicted conflict. Arguments: `[{ "id": number }]`.
/// Returns `{ "commit": string, "signedOffBy": string }`.
pub const CMD_PR_MERGE: &str = "baton.pr.merge";
/// Command: send the agent a follow-up prompt in the same worktree. Arguments:
/// `[{ "id": number, "feedback"?: string }]`; without feedback the server offers a few.
pub const CMD_PR_REQUEST_CHANGES: &str = "baton.pr.requestChanges";
/// Command: discard a task: stop its agent, remove its worktree and branch.
/// Arguments: `[{ "id": number }]`.
pub const CMD_PR_DISCARD: &str = "baton.pr.discard";

/// Every command the server executes.
pub const COMMANDS: &[&str] = &[
    CMD_EDIT,
    CMD_FIX,
    CMD_ACCEPTED,
    CMD_TASK_START,
    CMD_TASK_LIST,
    CMD_TASK_SHOW,
    CMD_TASK_APPROVE_PLAN,
    CMD_TASK_RESUME,
    CMD_PR_REVIEW,
    CMD_PR_APPLY,
    CMD_PR_MERGE,
    CMD_PR_REQUEST_CHANGES,
    CMD_PR_DISCARD,
];

/// The states a status bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
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
    pub const ALL: [StatusState; 5] = [Self::Idle, Self::Working, Self::Error, Self::Slow, Self::Unreachable];
}

/// Params of `baton/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusParams {
    pub state: StatusState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Provider kind (`openai`, `anthropic`, `ollama`, `llamacpp`).
    pub provider: String,
    pub model: String,
}

/// The `baton/status` notification type.
pub enum Status {}

impl Notification for Status {
    type Params = StatusParams;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom(STATUS);
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

/// Params of `baton/didShowCompletion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidShowParams {
    pub uri: String,
    /// Length of the shown text, in UTF-16 code units.
    #[serde(default)]
    pub length: u32,
}

/// One task, as `baton/tasks` and `baton.task.list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary {
    pub id: i64,
    /// The first line of the prompt, shortened.
    pub title: String,
    /// A [`TaskState`](crate::orchestrator::TaskState) name (`ready`, `awaiting_plan_approval`, ...).
    pub state: String,
    pub agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The latest step or error, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For ready tasks: `+12 -3 in 2 files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_stat: Option<String>,
    /// For ready tasks: `pass`, `fail` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<String>,
}

/// Params of `baton/tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TasksParams {
    pub queued: usize,
    /// Preparing, running or checking.
    pub running: usize,
    /// Ready pull requests.
    pub awaiting_review: usize,
    pub awaiting_plan_approval: usize,
    pub failed: usize,
    pub interrupted: usize,
    /// Tasks not yet merged, applied or discarded, oldest first.
    pub tasks: Vec<TaskSummary>,
}

/// The `baton/tasks` notification type.
pub enum Tasks {}

impl Notification for Tasks {
    type Params = TasksParams;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom(TASKS);
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

/// Arguments of [`CMD_TASK_START`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskStartArgs {
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub range: Option<tower_lsp_server::gen_lsp_types::Range>,
    #[serde(default)]
    pub diagnostic: Option<tower_lsp_server::gen_lsp_types::Diagnostic>,
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of the commands that name one task ([`CMD_TASK_SHOW`], the `baton.pr.*` ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIdArgs {
    pub id: i64,
    /// For [`CMD_PR_REQUEST_CHANGES`]: the follow-up prompt.
    #[serde(default)]
    pub feedback: Option<String>,
}

/// Arguments of [`CMD_EDIT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditArgs {
    pub uri: String,
    pub range: tower_lsp_server::gen_lsp_types::Range,
    #[serde(default)]
    pub instruction: Option<String>,
}

/// Arguments of [`CMD_FIX`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixArgs {
    pub uri: String,
    pub diagnostic: tower_lsp_server::gen_lsp_types::Diagnostic,
}

/// Arguments of [`CMD_ACCEPTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedArgs {
    pub uri: String,
    #[serde(default)]
    pub length: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::config::Settings;
    use crate::orchestrator::TaskState;

    /// The machine-readable description of the protocol extensions and settings, written to
    /// `editors/protocol.json`. Object keys are sorted, so the file does not depend on whether
    /// serde_json preserves insertion order (the `agent-client-protocol` crate turns that on for the
    /// whole build).
    fn protocol_description() -> Value {
        let settings = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
        let mut description = json!({
            "notifications": {
                "serverToClient": [STATUS, TASKS],
                "clientToServer": [DID_SHOW_COMPLETION],
            },
            "requests": { "clientToServer": [HEALTH] },
            "commands": COMMANDS,
            "clientCapability": "experimental.baton.status",
            "clientCapabilities": ["experimental.baton.status", "experimental.baton.tasks"],
            "statusStates": StatusState::ALL,
            "taskStates": TaskState::ALL.map(TaskState::as_str),
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
