//! `workspace/didChangeWatchedFiles`: a settings file changed (the client watches `**/baton.toml`
//! for us when it registered the watcher; see `lsp::config_watch`).

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::DidChangeWatchedFilesParams;

use crate::lsp::session::State;
use crate::lsp::{config_watch, convert};

pub(crate) async fn handle(state: &Arc<State>, params: DidChangeWatchedFilesParams) {
    let settings = params
        .changes
        .iter()
        .any(|c| convert::file_path(c.uri.as_ref()).is_ok_and(|p| config_watch::is_settings_file(&p)));
    if settings {
        config_watch::reload(state).await;
    }
}
