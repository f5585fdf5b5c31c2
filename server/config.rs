//! Settings and their layers: defaults, the user's config file, the project's `baton.toml`,
//! the client's `initializationOptions`, and `workspace/didChangeConfiguration`, merged in that
//! order (later layers win, key by key).
//!
//! A layer that does not parse or names an unknown setting is skipped with a message; the
//! others still apply, so a typo never takes the server down.
//!
//! This module sits above the cores (rust-analyzer's way): it owns the settings tree as the user
//! writes it, and translates it into the small plain configs each core reads
//! ([`Settings::completion_config`], [`Settings::edit_config`], [`Settings::orchestrator_config`]).
//! No core imports it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::agents::AgentProfile;
use crate::conductor::nes::{ModelPrompt, NesConfig};
use crate::conductor::{CompletionConfig, EditConfig, FimTemplate};
use crate::orchestrator::{self, GithubConfig};
use crate::providers::ProviderConfig;
use crate::secrets::{Redactor, Secrets};

/// Every setting Baton reads. Field docs are the settings' documentation: the editors' copies
/// are checked against `editors/protocol.json`, which is generated from this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The model endpoint used for completions and edits.
    pub(crate) provider: ProviderConfig,
    pub(crate) completion: CompletionSettings,
    pub(crate) edit: EditSettings,
    /// Next edit suggestions (`textDocument/copilotInlineEdit`).
    pub(crate) nes: NesSettings,
    /// Background agents: worktrees, checks and pull requests.
    pub(crate) orchestrator: OrchestratorSettings,
    /// Agent profiles for background tasks (`[[agents]]` in baton.toml); a profile named
    /// `builtin` is always available, and so is every built-in preset (`claude`, `codex`,
    /// `gemini`, `qwen`, ...: README "Agent presets"). A profile named like a preset is merged
    /// over it key by key.
    pub(crate) agents: Vec<AgentProfile>,
    /// Files whose contents never reach a model.
    pub(crate) secrets: SecretSettings,
}

/// What is kept out of model prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SecretSettings {
    /// Glob patterns of secret files, matched against the file name (or, for a pattern with a
    /// `/`, the end of its path). Such files are never excerpted into a completion or edit
    /// prompt or a task's prompt; with the cursor in one, no model is asked; the built-in agent's
    /// `read_file` and `search` skip them. Values of every `api_key_env`, `github_token_env` and
    /// agent `secret_env` variable are also redacted from the built-in agent's tool output.
    pub(crate) patterns: Vec<String>,
}

impl Default for SecretSettings {
    fn default() -> Self {
        Self { patterns: crate::secrets::DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect() }
    }
}

impl Settings {
    /// The names of every environment variable the settings say holds a secret: the providers'
    /// `api_key_env` (conductor and agent profiles), `github_token_env`, and each profile's
    /// `secret_env`. Sorted, without duplicates.
    pub(crate) fn secret_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.provider.api_key_env.iter().cloned().collect();
        names.extend(self.orchestrator.github_token_env.iter().cloned());
        for profile in &self.agents {
            names.extend(profile.model.as_ref().and_then(|m| m.api_key_env.clone()));
            names.extend(profile.secret_env.iter().cloned());
        }
        names.retain(|n| !n.trim().is_empty());
        names.sort();
        names.dedup();
        names
    }

    /// What inline completion reads.
    pub(crate) fn completion_config(&self) -> CompletionConfig {
        let c = &self.completion;
        CompletionConfig {
            debounce_ms: c.debounce_ms,
            max_debounce_ms: c.max_debounce_ms,
            adaptive_debounce: c.adaptive_debounce,
            fim_template: c.fim_template,
            context_tokens: c.context_tokens,
            max_tokens: c.max_tokens,
            temperature: c.temperature,
            multiline: c.multiline,
            other_documents: c.other_documents,
            cross_file_tokens: c.cross_file_tokens,
            cache_size: c.cache_size,
            suggestions: c.suggestions,
        }
    }

    /// What model edits read.
    pub(crate) fn edit_config(&self) -> EditConfig {
        EditConfig { max_tokens: self.edit.max_tokens, temperature: self.edit.temperature }
    }

    /// What next edit suggestions read.
    pub(crate) fn nes_config(&self) -> NesConfig {
        let n = &self.nes;
        NesConfig {
            enabled: n.enabled,
            model_predictions: n.model_predictions,
            structural_predictions: n.structural_predictions,
            window_lines: n.window_lines,
            max_tokens: n.max_tokens,
            debounce_ms: n.debounce_ms,
            model_prompt: n.model_prompt,
        }
    }

    /// What the orchestrator reads. The values of the secret variables
    /// ([`Settings::secret_env_names`]) are read from the environment here, for redaction.
    pub(crate) fn orchestrator_config(&self) -> orchestrator::Config {
        let o = &self.orchestrator;
        orchestrator::Config {
            profiles: self
                .agents
                .iter()
                .cloned()
                .map(|mut p| {
                    p.inactivity_timeout_ms.get_or_insert(o.inactivity_timeout_ms);
                    p
                })
                .collect(),
            default_agent: o.default_agent.clone(),
            default_model: self.provider.clone(),
            secrets: Secrets {
                patterns: self.secrets.patterns.clone(),
                redactor: Redactor::from_env(self.secret_env_names().iter().map(String::as_str)),
            },
            check_command: o.check_command.clone(),
            check_timeout_ms: o.check_timeout_ms,
            permission_timeout_ms: o.permission_timeout_ms,
            setup_command: o.setup_command.clone(),
            setup_timeout_ms: o.setup_timeout_ms,
            setup_network: o.setup_network,
            read_only_paths: o.read_only_paths.clone(),
            github: GithubConfig {
                token_env: o.github_token_env.clone(),
                remote: o.github_remote.clone(),
                api_url: o.github_api_url.clone(),
                draft: o.github_draft,
            },
            limits: orchestrator::pr::Limits { file_bytes: o.max_file_bytes, change_bytes: o.max_change_bytes },
        }
    }
}

/// Inline completion settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CompletionSettings {
    /// Offer inline suggestions at all.
    pub(crate) enabled: bool,
    /// Shortest wait after the last keystroke before asking the model, in milliseconds.
    pub(crate) debounce_ms: u64,
    /// Longest wait when the debounce adapts to slow typing, in milliseconds.
    pub(crate) max_debounce_ms: u64,
    /// Adapt the debounce to your typing (between `debounce_ms` and `max_debounce_ms`): wait
    /// past the pauses between keystrokes that usually end before the model could answer, unless
    /// the keys you type are usually the start of the model's answers (then a call started
    /// between two keys is not wasted: it goes on and answers the later key).
    pub(crate) adaptive_debounce: bool,
    /// Which prompt format carries fill-in-the-middle requests to the model. `auto` picks one
    /// from the model name (and the native fields for Ollama and llama.cpp, a chat prompt
    /// otherwise).
    pub(crate) fim_template: FimTemplate,
    /// Prompt budget, in tokens (estimated at 4 bytes a token), for prefix, suffix and context.
    pub(crate) context_tokens: u32,
    /// Upper bound on a suggestion's length, in tokens.
    pub(crate) max_tokens: u32,
    /// Sampling temperature for suggestions.
    pub(crate) temperature: f64,
    /// Allow suggestions longer than the rest of the current line.
    pub(crate) multiline: bool,
    /// Add context from other open (and recently edited) documents of the same language to the
    /// prompt: their windows most similar to the code before the cursor, and the signatures of
    /// names used near the cursor that they define; only once the cursor's line has begun.
    /// Files matching `secrets.patterns` are never read, nor lines that assign a literal to a
    /// secret-sounding name.
    pub(crate) other_documents: bool,
    /// Budget of the context from other documents (`other_documents`), in tokens (estimated at
    /// 4 bytes a token), on top of `context_tokens`: definitions take up to half, the most
    /// similar 20-line windows the rest. 0 turns that context off.
    pub(crate) cross_file_tokens: u32,
    /// Suggestions kept for reuse (typing through a suggestion costs no model call).
    pub(crate) cache_size: usize,
    /// Most suggestions to offer when you ask for them (cycling with `Alt+]` / `<M-]>`, or
    /// invoking inline completion): the usual one plus up to this many minus one alternatives,
    /// each from its own model call at a higher temperature, duplicates dropped. Suggestions
    /// shown while typing stay one model call. 1 turns alternatives off; at most 10.
    pub(crate) suggestions: usize,
}

/// The defaults are the conductor's ([`CompletionConfig::default`]).
impl Default for CompletionSettings {
    fn default() -> Self {
        let c = CompletionConfig::default();
        Self {
            enabled: true,
            debounce_ms: c.debounce_ms,
            max_debounce_ms: c.max_debounce_ms,
            adaptive_debounce: c.adaptive_debounce,
            fim_template: c.fim_template,
            context_tokens: c.context_tokens,
            max_tokens: c.max_tokens,
            temperature: c.temperature,
            multiline: c.multiline,
            other_documents: c.other_documents,
            cross_file_tokens: c.cross_file_tokens,
            cache_size: c.cache_size,
            suggestions: c.suggestions,
        }
    }
}

/// Model edit settings (edit selection, fix diagnostic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EditSettings {
    /// Upper bound on the model's answer to an edit, in tokens.
    pub(crate) max_tokens: u32,
    /// Sampling temperature for edits.
    pub(crate) temperature: f64,
    /// Lines of surrounding code shown to the model above and below the edited range.
    pub(crate) context_lines: u32,
}

/// The model's limits are the conductor's defaults ([`EditConfig::default`]).
impl Default for EditSettings {
    fn default() -> Self {
        let e = EditConfig::default();
        Self { max_tokens: e.max_tokens, temperature: e.temperature, context_lines: 30 }
    }
}

/// Next edit suggestion settings: the edit the user will make next, anywhere in the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct NesSettings {
    /// Answer `textDocument/copilotInlineEdit` (Copilot's next edit suggestion request, which
    /// copilot-lsp, sidekick.nvim and copilot.el send). When on, UTF-16 positions are preferred
    /// in `initialize`, because copilot-lsp sends them whatever was negotiated.
    pub(crate) enabled: bool,
    /// Ask the model for predictions too (when the structural ones find nothing); off, only the
    /// structural ones (renames, parameters added or removed: no model needed) are offered.
    pub(crate) model_predictions: bool,
    /// Offer the structural predictions; off, only the model's (for comparing the two).
    pub(crate) structural_predictions: bool,
    /// Lines around the cursor the model may rewrite.
    pub(crate) window_lines: u32,
    /// Upper bound on the model's answer to a next edit request, in tokens.
    pub(crate) max_tokens: u32,
    /// Wait after the request before asking the model, in milliseconds; a newer request for the
    /// same document supersedes a waiting one.
    pub(crate) debounce_ms: u64,
    /// How the model predicts: `analogy` (the lines like the one the user just edited, each
    /// rewritten by a one-line completion; small local models manage it), `window` (the lines
    /// around the cursor rewritten; needs a larger model) or `auto` (`analogy` for a Qwen on a
    /// completion endpoint, `window` otherwise).
    pub(crate) model_prompt: ModelPrompt,
}

/// The defaults are the conductor's ([`NesConfig::default`]).
impl Default for NesSettings {
    fn default() -> Self {
        let n = NesConfig::default();
        Self {
            enabled: n.enabled,
            model_predictions: n.model_predictions,
            structural_predictions: n.structural_predictions,
            window_lines: n.window_lines,
            max_tokens: n.max_tokens,
            debounce_ms: n.debounce_ms,
            model_prompt: n.model_prompt,
        }
    }
}

/// Orchestrator mode settings (background agents in their own worktrees).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OrchestratorSettings {
    /// The agent profile a task runs with when it names none.
    pub(crate) default_agent: String,
    /// Shell command (`sh -c`) run in the task's worktree after the agent finishes, such as
    /// `cargo test`; pass or fail and the output tail are recorded on the pull request. It runs
    /// the agent's code, so it runs in the task's sandbox, without network.
    pub(crate) check_command: Option<String>,
    /// Time limit for the check command, in milliseconds.
    pub(crate) check_timeout_ms: u64,
    /// Stop an agent that shows no output and no tool call for this long, in milliseconds (0:
    /// never), unless its profile sets its own `inactivity_timeout_ms`. Well below the time
    /// limit, so a stuck agent is stopped early with that reason.
    pub(crate) inactivity_timeout_ms: u64,
    /// How long a task waits in `needs_input` for an answer to an agent's permission request
    /// (`permission = "ask"`), in milliseconds; then the request is rejected and the task's
    /// result says so. 0: wait until the agent's time limit.
    pub(crate) permission_timeout_ms: u64,
    /// Shell command run once in each new worktree, such as `npm ci`. It runs in the task's
    /// sandbox (as the check command does), without network unless `setup_network` is set.
    pub(crate) setup_command: Option<String>,
    /// Time limit for the setup command, in milliseconds.
    pub(crate) setup_timeout_ms: u64,
    /// Give the setup command the network (to download dependencies). The check command and
    /// the built-in agent's commands never have it.
    pub(crate) setup_network: bool,
    /// Paths bound read-only into every sandbox (agents, setup and checks), typically toolchains
    /// under the home folder, which the sandbox otherwise replaces with an empty one. `~/`
    /// means the home folder. Paths on the deny list (`~/.ssh`, `~/.aws`, ...) are never bound.
    pub(crate) read_only_paths: Vec<String>,
    /// Name of the environment variable holding a GitHub token. When set (and the variable is),
    /// finished tasks are pushed and opened as GitHub pull requests. The token is never logged.
    pub(crate) github_token_env: Option<String>,
    /// The git remote task branches are pushed to.
    pub(crate) github_remote: String,
    /// GitHub's API root.
    pub(crate) github_api_url: String,
    /// Open GitHub pull requests as drafts.
    pub(crate) github_draft: bool,
    /// Largest file an agent's change may add or modify, in bytes; a larger one fails the task
    /// before anything is written into the repository.
    pub(crate) max_file_bytes: u64,
    /// Largest sum of the sizes of the files an agent's change adds or modifies, in bytes; a
    /// larger change fails the task before anything is written into the repository.
    pub(crate) max_change_bytes: u64,
}

/// Default `[orchestrator] inactivity_timeout_ms`: 5 minutes.
const DEFAULT_INACTIVITY_TIMEOUT_MS: u64 = 5 * 60 * 1000;

/// The defaults are the orchestrator's ([`orchestrator::Config::default`]).
impl Default for OrchestratorSettings {
    fn default() -> Self {
        let o = orchestrator::Config::default();
        Self {
            default_agent: o.default_agent,
            check_command: o.check_command,
            check_timeout_ms: o.check_timeout_ms,
            inactivity_timeout_ms: DEFAULT_INACTIVITY_TIMEOUT_MS,
            permission_timeout_ms: o.permission_timeout_ms,
            setup_command: o.setup_command,
            setup_timeout_ms: o.setup_timeout_ms,
            setup_network: o.setup_network,
            read_only_paths: o.read_only_paths,
            github_token_env: o.github.token_env,
            github_remote: o.github.remote,
            github_api_url: o.github.api_url,
            github_draft: o.github.draft,
            max_file_bytes: o.limits.file_bytes,
            max_change_bytes: o.limits.change_bytes,
        }
    }
}

/// Where a layer came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    UserFile(PathBuf),
    ProjectFile(PathBuf),
    InitializationOptions,
    DidChangeConfiguration,
    /// The built-in agent presets merged under the user's profiles.
    Presets,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::UserFile(p) | Source::ProjectFile(p) => write!(f, "{}", p.display()),
            Source::InitializationOptions => f.write_str("initializationOptions"),
            Source::DidChangeConfiguration => f.write_str("workspace/didChangeConfiguration"),
            Source::Presets => f.write_str("the agent profiles merged over their presets"),
        }
    }
}

/// A layer that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ignored settings from {origin}: {message}")]
pub(crate) struct LayerError {
    pub(crate) origin: Source,
    pub(crate) message: String,
}

/// The settings layers in force; [`Layers::resolve`] merges them.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    user: Option<(Source, Value)>,
    project: Option<(Source, Value)>,
    init: Option<(Source, Value)>,
    change: Option<(Source, Value)>,
}

/// The user config file: `$XDG_CONFIG_HOME/baton/config.toml` (or the platform's equivalent),
/// overridable with `BATON_CONFIG`.
pub(crate) fn user_config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BATON_CONFIG") {
        return Some(PathBuf::from(p));
    }
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy().ok().map(|s| s.config_dir().join("baton").join("config.toml"))
}

/// The nearest `baton.toml` in `dir` or its ancestors.
pub(crate) fn find_project_config(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|d| d.join("baton.toml")).find(|p| p.is_file())
}

impl Layers {
    /// Reads the user's file and the project's `baton.toml` (when a root is known). Missing files
    /// are not errors; unreadable or invalid ones are returned as [`LayerError`]s.
    pub(crate) fn load_files(project_root: Option<&Path>) -> (Self, Vec<LayerError>) {
        let mut layers = Layers::default();
        let mut errors = Vec::new();
        if let Some(path) = user_config_path()
            && let Some(r) = read_toml(Source::UserFile(path.clone()), &path)
        {
            match r {
                Ok(v) => layers.user = Some((Source::UserFile(path), v)),
                Err(e) => errors.push(e),
            }
        }
        if let Some(path) = project_root.and_then(find_project_config)
            && let Some(r) = read_toml(Source::ProjectFile(path.clone()), &path)
        {
            match r {
                Ok(v) => layers.project = Some((Source::ProjectFile(path), v)),
                Err(e) => errors.push(e),
            }
        }
        (layers, errors)
    }

    /// Reads the user's file and the project's `baton.toml` again (after they changed on disk).
    /// A file that cannot be read, does not parse or does not fit the settings keeps its
    /// previous layer (the settings in force stay) and is returned as a [`LayerError`]; a file
    /// that is gone no longer counts. Returns the errors and whether any layer changed.
    pub(crate) fn reload_files(&mut self, project_root: Option<&Path>) -> (Vec<LayerError>, bool) {
        let (fresh, mut errors) = Layers::load_files(project_root);
        let mut changed = false;
        let failed = |errors: &[LayerError], path: Option<&PathBuf>| {
            errors.iter().any(|e| match (&e.origin, path) {
                (Source::UserFile(p) | Source::ProjectFile(p), Some(q)) => p == q,
                _ => false,
            })
        };
        let user_path = user_config_path();
        let project_path = project_root.and_then(find_project_config);
        for (slot, new, path) in [
            (&mut self.user, fresh.user, user_path.as_ref()),
            (&mut self.project, fresh.project, project_path.as_ref()),
        ] {
            if failed(&errors, path) {
                continue; // unreadable or not TOML: keep the old layer
            }
            if let Some((source, value)) = &new {
                // Valid TOML that does not fit the settings would be left out by resolve(),
                // falling back to the defaults: keep the old layer instead.
                let probe = Layers { project: Some((source.clone(), value.clone())), ..Layers::default() };
                if let Some(e) = probe.resolve().1.into_iter().next() {
                    errors.push(e);
                    continue;
                }
            }
            if slot.as_ref().map(|(s, v)| (s, v)) != new.as_ref().map(|(s, v)| (s, v)) {
                *slot = new;
                changed = true;
            }
        }
        (errors, changed)
    }

    /// Sets the `initializationOptions` layer (a JSON object shaped like [`Settings`]).
    pub(crate) fn set_initialization_options(&mut self, value: Value) {
        self.init = Some((Source::InitializationOptions, unwrap_section(value)));
    }

    /// Sets the `workspace/didChangeConfiguration` layer. Accepts the settings object itself or
    /// one nested under a `baton` key. Under a `baton` key (as Baton's VS Code and Neovim clients
    /// send their section) it is the editor's whole view of Baton's settings and replaces the
    /// `initializationOptions` layer too, so a setting the user removed in the editor falls back
    /// to the files and defaults. Any other object (Copilot's clients send their own settings,
    /// copilot.el even `{}`) is laid over the initialization options without dropping them.
    pub(crate) fn set_did_change_configuration(&mut self, value: Value) {
        let whole_view = matches!(&value, Value::Object(map) if map.len() == 1 && map.contains_key("baton"));
        if whole_view {
            self.init = None;
        }
        self.change = Some((Source::DidChangeConfiguration, unwrap_section(value)));
    }

    /// Merges the layers over the defaults. A layer that fails to apply is left out and
    /// reported; the result always holds valid settings.
    pub(crate) fn resolve(&self) -> (Settings, Vec<LayerError>) {
        let mut merged = match serde_json::to_value(Settings::default()) {
            Ok(v) => v,
            Err(_) => return (Settings::default(), Vec::new()),
        };
        let mut errors = Vec::new();
        for (source, value) in [&self.user, &self.project, &self.init, &self.change].into_iter().flatten() {
            if value.is_null() {
                continue;
            }
            let mut candidate = merged.clone();
            merge(&mut candidate, value);
            match serde_json::from_value::<Settings>(candidate.clone()) {
                Ok(_) => merged = candidate,
                Err(e) => errors.push(LayerError { origin: source.clone(), message: e.to_string() }),
            }
        }
        let mut with_presets = merged.clone();
        add_presets(&mut with_presets);
        let settings = match serde_json::from_value(with_presets) {
            Ok(s) => s,
            Err(e) => {
                errors.push(LayerError { origin: Source::Presets, message: e.to_string() });
                serde_json::from_value(merged).unwrap_or_default()
            }
        };
        (settings, errors)
    }
}

/// Puts the built-in presets into `settings["agents"]`: a user profile named like a preset is
/// merged over it key by key, the other presets follow the user's profiles. A profile's
/// `local_model` then adds its preset's variables and arguments for a local model server.
fn add_presets(settings: &mut Value) {
    let Some(Value::Array(agents)) = settings.get_mut("agents") else {
        return;
    };
    for profile in agents.iter_mut() {
        let Some(preset) = profile.get("name").and_then(Value::as_str).and_then(crate::agents::presets::find) else {
            continue;
        };
        let mut base = Value::Object(preset.profile.clone());
        merge(&mut base, profile);
        *profile = base;
    }
    for preset in crate::agents::presets::all() {
        if !agents.iter().any(|p| p.get("name").and_then(Value::as_str) == Some(preset.name.as_str())) {
            agents.push(Value::Object(preset.profile.clone()));
        }
    }
    for profile in agents.iter_mut() {
        let template = profile
            .get("name")
            .and_then(Value::as_str)
            .and_then(crate::agents::presets::find)
            .and_then(|p| p.info.local_model_template.as_ref());
        if let (Some(template), Value::Object(map)) = (template, profile) {
            crate::agents::presets::expand_local_model(map, template);
        }
    }
}

fn unwrap_section(value: Value) -> Value {
    let value = match value {
        Value::Object(mut map) if map.len() == 1 && map.contains_key("baton") => {
            map.remove("baton").unwrap_or(Value::Null)
        }
        other => other,
    };
    copilot_aliases(value)
}

/// What Copilot's clients send in Copilot's words (tests/nes/PROTOCOL.md): copilot-lsp's
/// `nextEditSuggestions.enabled` is `nes.enabled` (Baton's own key wins when both are given);
/// copilot.el's `editorInfo` and `editorPluginInfo` are not settings and are dropped quietly.
fn copilot_aliases(value: Value) -> Value {
    let Value::Object(mut map) = value else { return value };
    map.remove("editorInfo");
    map.remove("editorPluginInfo");
    if let Some(nes) = map.remove("nextEditSuggestions")
        && let Some(enabled) = nes.get("enabled").and_then(Value::as_bool)
    {
        let section = map.entry("nes").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(section) = section {
            section.entry("enabled").or_insert(Value::Bool(enabled));
        }
    }
    Value::Object(map)
}

fn read_toml(source: Source, path: &Path) -> Option<Result<Value, LayerError>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(LayerError { origin: source, message: e.to_string() })),
    };
    Some(parse_toml(&text).map_err(|message| LayerError { origin: source, message }))
}

/// Parses a TOML settings file into the JSON shape the layers merge.
pub(crate) fn parse_toml(text: &str) -> Result<Value, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(table).map_err(|e| e.to_string())
}

/// Deep-merges `over` into `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Object(Map::new())), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_layers_win_key_by_key_and_a_bad_layer_is_skipped_with_a_message() {
        let mut layers = Layers {
            project: Some((
                Source::ProjectFile("baton.toml".into()),
                parse_toml("[provider]\nmodel = \"from-project\"\n[completion]\ndebounce_ms = 10\n").expect("toml"),
            )),
            ..Layers::default()
        };
        layers.set_initialization_options(json!({"completion": {"max_tokens": 5}}));
        let (s, _) = layers.resolve();
        assert_eq!(
            (s.provider.model.as_str(), s.completion.debounce_ms, s.completion.max_tokens),
            ("from-project", 10, 5)
        );
        layers.set_did_change_configuration(json!({"baton": {"completion": {"debounce_ms": "fast"}}}));
        let (s, errors) = layers.resolve();
        assert_eq!(s.provider.model, "from-project");
        assert_eq!(s.completion.debounce_ms, 10);
        assert_eq!(errors.len(), 1);
        expect_test::expect![[
            r#"ignored settings from workspace/didChangeConfiguration: invalid type: string "fast", expected u64"#
        ]]
        .assert_eq(&errors[0].to_string());
        // The editor's latest message is its whole view: a setting removed there falls back.
        assert_eq!(s.completion.max_tokens, CompletionSettings::default().max_tokens);
    }

    #[test]
    fn copilot_clients_settings_are_understood_not_refused() {
        let mut layers = Layers::default();
        layers.set_initialization_options(json!({"editorInfo": {"name": "Emacs"}, "editorPluginInfo": {}}));
        let (s, errors) = layers.resolve();
        assert!(errors.is_empty() && s.nes.enabled, "{errors:?}");
        layers.set_did_change_configuration(json!({"nextEditSuggestions": {"enabled": false}}));
        let (s, errors) = layers.resolve();
        assert!(errors.is_empty() && !s.nes.enabled, "{errors:?}");
        layers
            .set_did_change_configuration(json!({"nextEditSuggestions": {"enabled": false}, "nes": {"enabled": true}}));
        assert!(layers.resolve().0.nes.enabled, "Baton's own key wins");
    }

    #[test]
    fn a_copilot_clients_settings_keep_the_initialization_options() {
        let mut layers = Layers::default();
        layers.set_initialization_options(json!({"provider": {"model": "from-init"}, "nes": {"enabled": false}}));
        // copilot.el's `{}` and copilot-lsp's own settings say nothing of Baton's provider.
        layers.set_did_change_configuration(json!({}));
        assert_eq!(layers.resolve().0.provider.model, "from-init");
        layers.set_did_change_configuration(json!({"nextEditSuggestions": {"enabled": true}}));
        let (s, _) = layers.resolve();
        assert_eq!((s.provider.model.as_str(), s.nes.enabled), ("from-init", true));
        // Baton's own section is the editor's whole view: what it leaves out falls back.
        layers.set_did_change_configuration(json!({"baton": {"nes": {"enabled": true}}}));
        assert_eq!(layers.resolve().0.provider.model, Settings::default().provider.model);
    }

    #[test]
    fn the_cores_configs_are_the_settings_translated() {
        let s = Settings::default();
        assert_eq!(s.completion_config(), CompletionConfig::default());
        assert_eq!(s.edit_config(), EditConfig::default());
        assert_eq!(s.nes_config(), NesConfig::default());
        let (o, core) = (s.orchestrator_config(), orchestrator::Config::default());
        assert_eq!(
            (o.default_agent, o.read_only_paths, o.github),
            (core.default_agent, core.read_only_paths, core.github)
        );
        assert_eq!((o.limits, o.secrets.patterns), (core.limits, core.secrets.patterns));
        assert_eq!((o.check_timeout_ms, o.setup_timeout_ms), (core.check_timeout_ms, core.setup_timeout_ms));
    }

    #[test]
    fn unknown_settings_are_named() {
        let mut layers = Layers::default();
        layers.set_initialization_options(json!({"provider": {"modle": "x"}}));
        let (s, errors) = layers.resolve();
        assert_eq!(s, Layers::default().resolve().0);
        assert!(errors[0].message.contains("unknown field `modle`"), "{}", errors[0]);
    }

    #[test]
    fn a_typo_in_an_agent_output_format_fails_the_layer_naming_the_key() {
        let toml = "[[agents]]\nname = \"claude\"\nkind = \"cli\"\ncommand = [\"claude\", \"-p\", \"{prompt}\"]\n\
                    output = \"claude_jsn\"\n";
        let layers = Layers {
            project: Some((Source::ProjectFile("baton.toml".into()), parse_toml(toml).expect("toml"))),
            ..Layers::default()
        };
        let (s, errors) = layers.resolve();
        // The layer is left out: `claude` stays the preset (ACP), not a CLI with its format lost.
        let claude = s.agents.iter().find(|a| a.name == "claude").expect("the preset");
        assert_eq!(claude.kind, crate::agents::AgentKind::Acp, "{claude:?}");
        expect_test::expect![[r#"ignored settings from baton.toml: agent profile key `output`: unknown output format `claude_jsn`, expected one of `text`, `claude-json`, `codex-json`, `opencode-json`"#]]
            .assert_eq(&errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));

        let fixed = toml.replace("claude_jsn", "claude-json");
        let layers = Layers {
            project: Some((Source::ProjectFile("baton.toml".into()), parse_toml(&fixed).expect("toml"))),
            ..Layers::default()
        };
        let (s, errors) = layers.resolve();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.agents[0].output, crate::agents::OutputFormat::ClaudeJson);
        assert_eq!(serde_json::to_value(&s.agents[0]).expect("json")["output"], "claude-json");
    }

    #[test]
    fn a_user_profile_named_like_a_preset_is_merged_over_it_key_by_key() {
        let toml = "[[agents]]\nname = \"gemini\"\ncommand = [\"/opt/gemini\", \"--acp\"]\nenv = { EXTRA = \"1\" }\n\
                    [[agents]]\nname = \"mine\"\nkind = \"cli\"\ncommand = [\"x\", \"{prompt}\"]\n";
        let layers = Layers {
            project: Some((Source::ProjectFile("baton.toml".into()), parse_toml(toml).expect("toml"))),
            ..Layers::default()
        };
        let (s, errors) = layers.resolve();
        assert!(errors.is_empty(), "{errors:?}");
        let gemini = s.agents.iter().find(|a| a.name == "gemini").expect("gemini");
        assert_eq!(gemini.command, ["/opt/gemini", "--acp"]);
        assert_eq!(gemini.kind, crate::agents::AgentKind::Acp);
        assert!(!gemini.client_fs);
        assert_eq!(gemini.env.get("EXTRA").map(String::as_str), Some("1"));
        assert_eq!(gemini.env.get("GEMINI_CLI_TRUST_WORKSPACE").map(String::as_str), Some("true"));
        assert!(gemini.read_only_paths.iter().any(|p| p == "~/.gemini/settings.json"));
        // The user's profiles first, then every other preset, once each.
        let names: Vec<&str> = s.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(&names[..2], ["gemini", "mine"]);
        for preset in ["qwen", "codex-cli", "aider", "claude"] {
            assert_eq!(names.iter().filter(|n| **n == preset).count(), 1, "{names:?}");
        }
        // With no agents configured at all the presets are there too.
        let (plain, _) = Layers::default().resolve();
        assert!(plain.agents.iter().any(|a| a.name == "qwen" && a.kind == crate::agents::AgentKind::Acp));
    }

    #[test]
    fn project_file_is_found_in_an_ancestor() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("baton.toml"), "[completion]\nenabled = false\n").expect("write");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        assert_eq!(find_project_config(&sub), Some(dir.path().join("baton.toml")));
    }
}
