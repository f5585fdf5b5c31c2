//! `initialized`: start the status and task reporters, show configuration problems, and check that the
//! model server answers so the status bar can say so before the first suggestion.

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::MessageType;

use crate::server::{State, spawn_status_reporter};

pub async fn handle(state: &Arc<State>) {
    spawn_status_reporter(state.clone());
    crate::lsp::tasks::spawn_task_reporter(state.clone());
    let messages: Vec<String> = std::mem::take(&mut *state.pending.lock().unwrap_or_else(|e| e.into_inner()));
    for m in messages {
        state.client.show_message(MessageType::Warning, format!("Baton: {m}")).await;
    }
    let state = state.clone();
    tokio::spawn(async move { check_provider(&state).await });
}

/// Probes the provider and records the result for the status bar.
pub async fn check_provider(state: &State) {
    let provider = state.provider();
    let result = provider.health().await;
    if let Err(e) = &result {
        tracing::warn!("model server check failed: {e}");
    }
    state.observe(result.as_ref().map(|_| ()));
}
