//! Settings files edited while the server runs: the user's `config.toml` and the project's
//! `baton.toml` apply without a restart. Clients that can register `workspace/didChangeWatchedFiles`
//! dynamically are asked to watch `**/baton.toml`; otherwise (Helix 25.01, Neovim on Linux
//! without a watcher backend) the server polls it. The user's file, outside the workspace, is
//! always polled. A file that does not parse or fit keeps the settings in force, logged and shown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tower_lsp_server::gen_lsp_types::{
    DidChangeWatchedFilesRegistrationOptions, FileSystemWatcher, GlobPattern, MessageType, Registration,
};

use crate::config::{Source, find_project_config, user_config_path};
use crate::lsp::session::State;

/// How often the polled settings files are read, in milliseconds.
const POLL_MS: u64 = 1000;
/// How long the client gets to answer `client/registerCapability`, in milliseconds.
const REGISTER_TIMEOUT_MS: u64 = 5000;
/// The project file's glob for the client's watcher.
const PROJECT_GLOB: &str = "**/baton.toml";

/// Starts watching the settings files for this session (once, from `initialized`). Reads the
/// polled files before it returns, so an edit made after is seen.
pub(crate) fn spawn(state: Arc<State>) {
    let can_register = state.features().watched_files_registration;
    let mut last = read_watched(&state, true);
    tokio::spawn(async move {
        let registered = can_register && register(&state).await;
        tracing::debug!(registered, "watching the settings files");
        if registered {
            last = read_watched(&state, false);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(POLL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = read_watched(&state, !registered);
            if now != last {
                last = now;
                reload(&state).await;
            }
        }
    });
}

/// Asks the client to watch `**/baton.toml`; false when it refuses or does not answer.
async fn register(state: &State) -> bool {
    let options = DidChangeWatchedFilesRegistrationOptions {
        watchers: vec![FileSystemWatcher { glob_pattern: GlobPattern::Pattern(PROJECT_GLOB.to_owned()), kind: None }],
    };
    let registration = Registration {
        id: "baton/settings-files".to_owned(),
        method: "workspace/didChangeWatchedFiles".to_owned(),
        register_options: serde_json::to_value(options).ok(),
    };
    let answer = tokio::time::timeout(
        Duration::from_millis(REGISTER_TIMEOUT_MS),
        state.client.register_capability(vec![registration]),
    )
    .await;
    match answer {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::info!("the client refused to watch baton.toml ({}); polling it", e.message);
            false
        }
        Err(_) => {
            tracing::info!("the client did not answer client/registerCapability; polling baton.toml");
            false
        }
    }
}

/// The polled files and their contents (`None`: absent or unreadable): the user's file, and the
/// project's when `project` (the nearest `baton.toml` above the root, else where one would go).
/// Blocking reads of two small files, once per [`POLL_MS`].
fn read_watched(state: &State, project: bool) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    let mut paths: Vec<PathBuf> = user_config_path().into_iter().collect();
    if project && let Some(root) = state.root() {
        paths.push(find_project_config(&root).unwrap_or_else(|| root.join("baton.toml")));
    }
    paths.into_iter().map(|p| (std::fs::read(&p).ok(), p)).map(|(c, p)| (p, c)).collect()
}

/// Whether a watched-files event concerns the settings files.
pub(crate) fn is_settings_file(path: &std::path::Path) -> bool {
    path.file_name().is_some_and(|n| n == "baton.toml") || user_config_path().is_some_and(|u| u == path)
}

/// Reads the settings files again and applies what changed; an invalid file keeps the settings
/// in force and is logged and shown (`window/showMessage`).
pub(crate) async fn reload(state: &Arc<State>) {
    let root = state.root();
    let (errors, changed) = state.layers.write().reload_files(root.as_deref());
    let mut messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{} is invalid; keeping the previous settings: {}", e.origin, e.message))
        .collect();
    if changed {
        // The files' layers were checked above: only the provider's problems are left to report.
        let source = Source::ProjectFile(root.clone().unwrap_or_default());
        messages.extend(state.reload_settings(Some(&source)));
    }
    for m in &messages {
        tracing::warn!("{m}");
        state.client.show_message(MessageType::Warning, format!("Baton: {m}")).await;
    }
    if changed {
        tracing::info!("settings files reloaded");
        state.client.show_message(MessageType::Info, "Baton: settings reloaded").await;
        crate::lsp::status::check_provider(state).await;
    }
}
