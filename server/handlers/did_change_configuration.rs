//! `workspace/didChangeConfiguration`: replace the client's settings layer and re-resolve.

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::{DidChangeConfigurationParams, MessageType};

use crate::lsp::session::State;

pub(crate) async fn handle(state: &Arc<State>, params: DidChangeConfigurationParams) {
    state.layers.write().set_did_change_configuration(params.settings);
    let messages = state.reload_settings(Some(&crate::config::Source::DidChangeConfiguration));
    for m in messages {
        state.client.show_message(MessageType::Warning, format!("Baton: {m}")).await;
    }
    crate::lsp::status::check_provider(state).await;
}
