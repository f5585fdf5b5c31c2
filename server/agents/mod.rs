//! Agents: what works on a delegated task inside its git worktree. Three kinds: Baton's built-in
//! tool-calling agent over the configured model, any Agent Client Protocol (ACP) agent, and
//! headless agent CLIs run from a command template.
//!
//! Plain data in and out: the orchestrator hands an agent a [`RunContext`] and gets an
//! [`AgentOutcome`]; progress flows back as [`AgentEvent`]s. Nothing here knows LSP; questions
//! for the user go through the [`Asker`] the caller provides.

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::providers::{ProviderConfig, ProviderError};

pub(crate) mod acp;
pub(crate) mod builtin;
pub(crate) mod cli;
pub(crate) mod inventory;
pub(crate) mod presets;
pub(crate) mod run;
pub(crate) mod sandbox;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod tools;

pub(crate) use sandbox::Confinement;

/// How an agent is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum AgentKind {
    /// Baton's own tool-calling loop over a model.
    #[default]
    Builtin,
    /// An agent command that speaks the Agent Client Protocol over its stdio.
    Acp,
    /// A headless agent CLI run once per prompt from a command template.
    Cli,
}

/// How a `cli` agent's stdout is read (`output` in an agent profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OutputFormat {
    /// Plain text: the process exit ends the turn; its last lines are the summary.
    #[default]
    Text,
    /// Claude Code's `--output-format stream-json` events.
    ClaudeJson,
    /// `codex exec --json` events.
    CodexJson,
    /// `opencode run --format json` events.
    OpencodeJson,
}

impl OutputFormat {
    /// Every format.
    pub(crate) const ALL: [OutputFormat; 4] =
        [OutputFormat::Text, OutputFormat::ClaudeJson, OutputFormat::CodexJson, OutputFormat::OpencodeJson];

    /// The name in the settings: `text`, `claude-json`, `codex-json`, `opencode-json`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::ClaudeJson => "claude-json",
            OutputFormat::CodexJson => "codex-json",
            OutputFormat::OpencodeJson => "opencode-json",
        }
    }
}

/// An unknown name is an error naming the `output` key and the formats there are (serde's own
/// message for an unknown variant names neither the key nor, inside `[[agents]]`, the place), so
/// a typo fails the settings layer instead of silently losing the agent's result.
impl<'de> Deserialize<'de> for OutputFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::ALL.into_iter().find(|f| f.as_str() == name).ok_or_else(|| {
            let known: Vec<String> = Self::ALL.iter().map(|f| format!("`{}`", f.as_str())).collect();
            serde::de::Error::custom(format!(
                "agent profile key `output`: unknown output format `{name}`, expected one of {}",
                known.join(", ")
            ))
        })
    }
}

/// What the agent may do when it asks permission (ACP `session/request_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PermissionPolicy {
    /// Allow once, every time (the worktree is the agent's own sandbox).
    #[default]
    Allow,
    /// Reject every request.
    Reject,
    /// Ask the user: the task waits in `needs_input` until an editor (its
    /// `window/showMessageRequest`, or the task's `answer` action) or `baton task answer`
    /// answers, or `orchestrator.permission_timeout_ms` passes (then it is rejected).
    Ask,
}

/// A named agent profile from the config (`[[agents]]` in baton.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AgentProfile {
    /// The name users pick it by ("builtin", "tests", "docs", "review", ...).
    pub(crate) name: String,
    pub(crate) kind: AgentKind,
    /// For `acp` and `cli`: the command and its arguments. For `cli`, `{prompt}` in an argument
    /// is replaced by the task's prompt (no shell is involved).
    pub(crate) command: Vec<String>,
    /// Extra environment for `acp` and `cli` agents.
    pub(crate) env: std::collections::BTreeMap<String, String>,
    /// For `cli`: how to read its stdout: `text` (process exit ends the turn) or `claude-json`,
    /// `codex-json`, `opencode-json` (the agent's JSON event stream).
    pub(crate) output: OutputFormat,
    /// For `builtin`: the model (defaults to the conductor's provider when absent).
    pub(crate) model: Option<ProviderConfig>,
    /// Extra system prompt (the built-in agent's, or prepended to the task for others).
    pub(crate) system_prompt: Option<String>,
    /// How many tasks of this profile run at once; the rest wait in a queue.
    pub(crate) max_concurrent: usize,
    /// Wall-clock limit for one run, in milliseconds; the agent is killed at the limit.
    pub(crate) time_limit_ms: u64,
    /// Stop the agent when it has shown no sign of work (no output line, message, tool call,
    /// plan or usage report) for this long, in milliseconds; 0 never. Absent:
    /// `[orchestrator] inactivity_timeout_ms`.
    pub(crate) inactivity_timeout_ms: Option<u64>,
    /// For `builtin`: upper bound on tool-calling steps (model turns).
    pub(crate) max_steps: u32,
    /// For `builtin`: upper bound on tokens used across the run.
    pub(crate) max_tokens: u64,
    /// Propose a plan first; work starts only after the user approves it.
    pub(crate) plan_first: bool,
    pub(crate) permission: PermissionPolicy,
    /// Git pathspec patterns left out of the task's commit: files the agent keeps for itself,
    /// such as aider's history and tag cache (`[".aider*"]`). Git's default wildcards apply:
    /// `*` also matches `/`, so a pattern covers files inside matching folders.
    pub(crate) exclude: Vec<String>,
    /// Run the agent, and the task's setup and check commands, in the bubblewrap sandbox (see
    /// README "What an agent can see"). `false` runs them as Baton runs: its environment, the
    /// whole file system, the network. Where bubblewrap cannot run, tasks of a sandboxed
    /// profile fail with the reason instead of running unsandboxed.
    pub(crate) sandbox: bool,
    /// Give the agent process the host's network. Absent: on for `cli` and `acp` agents (they
    /// call their model API themselves: hosted, or a model server on this machine, which only the
    /// host network reaches), off for `builtin` (Baton makes its model calls; its commands never
    /// get the network). Set `false` for an agent that needs no network.
    pub(crate) network: Option<bool>,
    /// Paths bound read-only into this agent's sandbox (`~/` is the home folder), added to
    /// `orchestrator.read_only_paths`: the agent's own configuration, such as `~/.claude`.
    pub(crate) read_only_paths: Vec<String>,
    /// Variables passed from Baton's environment into the sandbox (which otherwise keeps only
    /// PATH, HOME, LANG, LC_ALL, LC_CTYPE, TERM, USER, LOGNAME and TZ).
    pub(crate) pass_env: Vec<String>,
    /// Variables holding this agent's secrets, such as its API key: passed into its sandbox like
    /// `pass_env`, and their values are redacted from the built-in agent's tool output.
    pub(crate) secret_env: Vec<String>,
    /// For `acp`: offer the ACP `fs/read_text_file` and `fs/write_text_file` capability (Baton
    /// serves both inside the worktree). `false` for agents whose own file tools work better,
    /// such as Gemini CLI, whose `write_file` takes any `fs/read_text_file` error for a failure.
    pub(crate) client_fs: bool,
    /// For `acp`: offer the ACP `terminal/*` capability. Baton serves no terminals yet (every
    /// `terminal/*` request is declined), so leave it `false`: agents then run commands
    /// themselves, inside the sandbox.
    pub(crate) client_terminal: bool,
    /// For `acp`: the ACP auth method (an `id` from the agent's `authMethods`) Baton passes to
    /// `authenticate` when the agent answers `session/new` with `auth_required`, such as Gemini
    /// CLI's `gemini-api-key` (which reads `GEMINI_API_KEY`). Absent: Baton picks the first
    /// advertised method the agent runs itself (not a `terminal` one) whose id, name or
    /// description names an environment variable the agent's process has. Either way Baton
    /// authenticates at most once per run and never opens a browser or a terminal login itself.
    pub(crate) auth_method: Option<String>,
    /// Point a preset's agent at a local OpenAI-compatible model server: the preset's own
    /// variables and flags for it (README "Agent presets") are added with these values.
    /// Ignored for a profile that is not a preset, or a preset without a way to do it.
    pub(crate) local_model: Option<LocalModel>,
}

/// A local model server for a preset's agent (`local_model` in an agent profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocalModel {
    /// The server's address without `/v1`, such as `http://127.0.0.1:8080`.
    pub(crate) base_url: String,
    /// The model name the agent asks for.
    pub(crate) model: String,
}

impl AgentProfile {
    /// Whether the agent process gets the host's network: `network`, else on for `cli` and
    /// `acp` agents and off for `builtin`.
    pub(crate) fn network_enabled(&self) -> bool {
        self.network.unwrap_or(self.kind != AgentKind::Builtin)
    }
}

impl Default for AgentProfile {
    fn default() -> Self {
        Self {
            name: "builtin".to_owned(),
            kind: AgentKind::Builtin,
            command: Vec::new(),
            env: Default::default(),
            output: OutputFormat::Text,
            model: None,
            system_prompt: None,
            max_concurrent: 2,
            time_limit_ms: 15 * 60 * 1000,
            inactivity_timeout_ms: None,
            max_steps: 30,
            max_tokens: 200_000,
            plan_first: false,
            permission: PermissionPolicy::Allow,
            exclude: Vec::new(),
            sandbox: true,
            network: None,
            read_only_paths: Vec::new(),
            pass_env: Vec::new(),
            secret_env: Vec::new(),
            client_fs: true,
            client_terminal: false,
            auth_method: None,
            local_model: None,
        }
    }
}

/// The task an agent works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentTask {
    pub(crate) id: i64,
    /// The full prompt, with the editor context (file, selection, diagnostic) already folded in.
    pub(crate) prompt: String,
    /// Absolute path of the task's worktree: the agent's working directory and its only
    /// writable place.
    pub(crate) worktree: PathBuf,
    pub(crate) branch: String,
    /// Plan-first: this run only proposes a plan (the prompt asks for one); no file may change.
    pub(crate) planning: bool,
}

/// Progress from a running agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentEvent {
    /// The agent's latest step, one line (for `$/progress` reports and the status bar).
    Step(String),
    /// A line for the task log.
    Log(String),
    /// Tokens used so far in this run (cumulative).
    Usage { tokens: u64 },
    /// A plan proposed by an agent in plan-first mode.
    Plan(String),
    /// The agent's process group started (recorded so a later server can stop it), or ended
    /// (`None`).
    Process(Option<crate::process::GroupRecord>),
    /// A sign of work with nothing to show (an ACP message chunk): it only keeps the
    /// inactivity timer from firing.
    Alive,
}

/// Why a run ended without error (ACP `stopReason` and its equivalents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StopReason {
    EndTurn,
    MaxTokens,
    MaxSteps,
    Refusal,
    Cancelled,
}

impl StopReason {
    /// The ACP name (`end_turn`, `max_tokens`, ...).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::MaxSteps => "max_steps",
            StopReason::Refusal => "refusal",
            StopReason::Cancelled => "cancelled",
        }
    }
}

/// The result of a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AgentOutcome {
    /// The agent's summary of what it did (becomes the pull request description).
    pub(crate) summary: String,
    pub(crate) stop_reason: StopReason,
    /// Tokens used by the run, when the agent reports them.
    pub(crate) tokens: u64,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AgentError {
    #[error("could not start the agent {command:?}: {reason}")]
    Spawn { command: String, reason: String },
    #[error("the agent exited with {status} before finishing: {stderr_tail}")]
    Crashed { status: String, stderr_tail: String },
    #[error("the agent broke its protocol: {0}")]
    Protocol(String),
    /// The agent refused to work without a login (ACP `auth_required` on `session/new` or
    /// `session/prompt`); `hint` is what its `authMethods` say, else the preset's hint.
    #[error("the agent needs a login: {hint}")]
    NeedsLogin { hint: String },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the agent ran past its time limit of {ms} ms and was stopped")]
    TimedOut { ms: u64 },
    /// No event from the agent for `ms` milliseconds (`inactivity_timeout_ms`).
    #[error("the agent showed no output and no tool call for {ms} ms and was stopped")]
    Inactive { ms: u64 },
    #[error("the run was cancelled")]
    Cancelled,
    #[error(transparent)]
    Sandbox(#[from] sandbox::Unavailable),
    /// The agent reported that it failed (an error event in its output).
    #[error("{0}")]
    Reported(String),
    #[error("the worktree {} is not usable: {error}", .path.display())]
    Worktree { path: PathBuf, error: std::io::Error },
    #[error("waiting for the agent: {0}")]
    Wait(std::io::Error),
    /// This build (or test) registered no runner for the profile's kind.
    #[error("no runner for {kind} agents is available in this build (agent profile {profile:?})")]
    NoRunner { kind: &'static str, profile: String },
}

/// One answer an agent's question takes (an ACP permission option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AskOption {
    /// What the user is shown ("Allow once").
    pub(crate) name: String,
    /// Whether choosing it allows what the agent asks (ACP `allow_once`/`allow_always`).
    pub(crate) allow: bool,
}

/// Asks the user a question with fixed answers; returns the chosen option's name, `None` when
/// nobody answers (dismissed, no editor attached, no answer in time).
pub(crate) trait Asker: Send + Sync {
    fn ask(&self, question: String, options: Vec<AskOption>) -> BoxFuture<'static, Option<String>>;
}

/// An [`Asker`] for runs with no user attached (the shell): every question is dismissed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NoUser;

impl Asker for NoUser {
    fn ask(&self, _question: String, _options: Vec<AskOption>) -> BoxFuture<'static, Option<String>> {
        Box::pin(async { None })
    }
}

/// Everything a run needs.
#[derive(Clone)]
pub(crate) struct RunContext {
    pub(crate) task: AgentTask,
    pub(crate) profile: AgentProfile,
    /// The conductor's provider config, for built-in agents whose profile names no model.
    pub(crate) default_model: ProviderConfig,
    pub(crate) events: UnboundedSender<AgentEvent>,
    /// Cancelled when the user discards the task or the server shuts down.
    pub(crate) cancel: CancellationToken,
    pub(crate) asker: Arc<dyn Asker>,
    /// Where and how the agent's processes run.
    pub(crate) confinement: Confinement,
    /// Secret file patterns and the values to redact from what a model reads.
    pub(crate) secrets: crate::secrets::Secrets,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext").field("task", &self.task).field("profile", &self.profile.name).finish()
    }
}
