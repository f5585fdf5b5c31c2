//! `initialized`: start the status and task reporters, show configuration problems, and check
//! that the model server answers so the status bar can say so before the first suggestion; while
//! it does not, check again in the background so the status recovers on its own. Only the first
//! `initialized` of a session does this: a repeated one would start every reporter again.

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::MessageType;

use crate::lsp::session::State;
use crate::lsp::{status, tasks};

pub(crate) async fn handle(state: &Arc<State>) {
    if !state.begin_session() {
        tracing::warn!("initialized received again; ignored (the session is already running)");
        return;
    }
    status::spawn_status_reporter(state.clone());
    tasks::spawn_task_reporter(state.clone());
    for m in state.take_pending_messages() {
        state.client.show_message(MessageType::Warning, format!("Baton: {m}")).await;
    }
    drop(status::check_provider(state));
    status::spawn_recheck(state.clone());
}
