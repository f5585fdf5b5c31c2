//! The language server's dispatch: the service builder (Baton's custom methods registered) and
//! the `LanguageServer` impl, one line per method into `handlers/`. The shared state is
//! `lsp::session::State`. Ordering rules (ARCHITECTURE.md): notification handlers change state
//! before their first `.await`; no lock or map guard is held across an `.await`.

use std::sync::Arc;

use serde_json::Value;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::{LanguageServer, LspService};

use futures::FutureExt;

use crate::handlers;
use crate::lsp::ext;
use crate::lsp::session::State;
use crate::lsp::transport::{Shortcut, Taken};
use crate::step_marks::{self, Step};

/// How many messages the transport handles at once. tower-lsp's default of 4 lets four slow
/// completions block the next `didChange` (lsp.md, tower-lsp #284); 64 keeps it flowing.
pub const CONCURRENCY: usize = 64;

/// Test hook, debug builds only (never in a release build): a request whose handler panics, to
/// test that a panic answers InternalError and the session goes on.
#[cfg(debug_assertions)]
const DEBUG_PANIC: &str = "baton/debug/panic";
/// Test hook, debug builds only: a notification whose handler panics.
#[cfg(debug_assertions)]
const DEBUG_PANIC_NOTIFICATION: &str = "baton/debug/panicNotification";

/// The service and the client's side of it, as `lsp::transport::serve` takes them.
pub type Service = (LspService<Server>, tower_lsp_server::ClientSocket);

/// The transport's shortcut ([`Shortcut`]): the keystroke's two messages, `didChange`
/// (`handlers::did_change::read`) and the inline completion request
/// (`handlers::inline_completion::read`), read straight from their bytes and handled as the
/// router's handlers would.
struct Keystrokes {
    state: Arc<State>,
}

impl Shortcut for Keystrokes {
    fn take(&self, body: &[u8]) -> Option<Taken> {
        if let Some(notification) = handlers::did_change::read(body) {
            let state = self.state.clone();
            return Some(Taken::Notification(
                async move {
                    step_marks::mark(Step::DidChangeStart);
                    handlers::did_change::apply(&state, notification);
                }
                .boxed(),
            ));
        }
        let (id, query) = handlers::inline_completion::read(body)?;
        let state = self.state.clone();
        let answer = async move {
            let response = handlers::inline_completion::answer(&state, query).await?;
            serde_json::to_vec(&response).map_err(|e| {
                tracing::error!("an inline completion answer could not be serialized: {e}");
                tower_lsp_server::jsonrpc::Error::internal_error()
            })
        };
        Some(Taken::Request { id, method: handlers::inline_completion::METHOD, answer: answer.boxed() })
    }

    fn ready(&self) -> bool {
        self.state.initialized.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The server object tower-lsp dispatches to.
#[derive(Debug, Clone)]
pub struct Server {
    state: Arc<State>,
}

impl Server {
    /// Builds the service with Baton's custom methods registered; the socket is the client's
    /// side (requests and notifications the server sends), for `lsp::transport::serve`.
    pub fn service() -> Service {
        Self::session().0
    }

    /// [`Server::service`], and the transport's shortcut for the keystroke's two messages
    /// (`didChange`, the inline completion request) on the same state; `None` only if tower-lsp
    /// did not build the server object at once (then every message goes through the service).
    pub fn session() -> (Service, Option<Arc<dyn Shortcut>>) {
        let mut shared = None;
        let builder = LspService::build(|client| {
            let state = Arc::new(State::new(client));
            shared = Some(state.clone());
            Server { state }
        })
        .custom_method(ext::DID_SHOW_COMPLETION, Server::did_show_completion)
        .custom_method(ext::HEALTH, Server::health)
        .custom_method(ext::TASK_FILES, Server::task_files)
        .custom_method(ext::TASK_FILE, Server::task_file)
        .custom_method(ext::AGENTS, Server::agents)
        .custom_method(ext::COMPLETION_PANEL, Server::completion_panel)
        .custom_method(ext::COPILOT_INLINE_EDIT, Server::inline_edit)
        .custom_method(ext::DID_SHOW_INLINE_EDIT, Server::did_show_inline_edit)
        .custom_method(ext::DID_FOCUS, Server::did_focus);
        #[cfg(debug_assertions)]
        let builder = builder
            .custom_method(DEBUG_PANIC, Server::debug_panic)
            .custom_method(DEBUG_PANIC_NOTIFICATION, Server::debug_panic_notification);
        let service = builder.finish();
        let shortcut = shared.map(|state| Arc::new(Keystrokes { state }) as Arc<dyn Shortcut>);
        (service, shortcut)
    }

    /// Test hook, debug builds only: a request handler that panics.
    #[cfg(debug_assertions)]
    async fn debug_panic(&self, params: Value) -> Result<Value> {
        panic!("deliberate panic in {DEBUG_PANIC} (params {params})")
    }

    /// Test hook, debug builds only: a notification handler that panics.
    #[cfg(debug_assertions)]
    async fn debug_panic_notification(&self, params: Value) {
        panic!("deliberate panic in {DEBUG_PANIC_NOTIFICATION} (params {params})")
    }

    async fn did_show_completion(&self, params: ext::DidShowParams) {
        tracing::debug!(uri = %params.uri, length = params.length, "suggestion shown");
    }

    async fn inline_edit(&self, params: ext::InlineEditParams) -> Result<ext::InlineEditResult> {
        handlers::inline_edit::handle(&self.state, params).await
    }

    async fn did_show_inline_edit(&self, params: ext::DidShowInlineEditParams) {
        handlers::inline_edit::shown(&self.state, params);
    }

    async fn did_focus(&self, _: Value) {}

    async fn health(&self) -> Result<Value> {
        Ok(handlers::health::handle(&self.state).await)
    }

    async fn task_files(&self, params: ext::TaskFilesParams) -> Result<ext::TaskFilesResult> {
        handlers::task_files::files(&self.state, params).await
    }

    async fn task_file(&self, params: ext::TaskFileParams) -> Result<ext::TaskFileResult> {
        handlers::task_files::file(&self.state, params).await
    }

    async fn completion_panel(&self, params: ext::CompletionPanelParams) -> Result<ext::CompletionPanelResult> {
        handlers::completion_panel::handle(&self.state, params).await
    }

    async fn agents(&self) -> Result<Value> {
        Ok(handlers::agents::handle(&self.state).await)
    }
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        // Test hook, debug builds only: a panic here must answer an error and leave the server
        // uninitialized (tower-lsp-server changes state only when this future returns).
        #[cfg(debug_assertions)]
        if std::env::var_os("BATON_DEBUG_PANIC_IN_INITIALIZE").is_some() {
            panic!("deliberate panic in initialize (BATON_DEBUG_PANIC_IN_INITIALIZE)");
        }
        let result = handlers::initialize::handle(&self.state, params);
        // tower-lsp counts the server initialized when this future returns, in this same poll:
        // the transport's shortcut takes messages from then on, as the router does.
        self.state.initialized.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(result)
    }

    async fn initialized(&self, _: InitializedParams) {
        handlers::initialized::handle(&self.state).await;
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        handlers::did_open::handle(&self.state, params);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        handlers::did_change::handle(&self.state, params);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        handlers::did_close::handle(&self.state, params);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        handlers::did_change_configuration::handle(&self.state, params).await;
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        handlers::did_change_watched_files::handle(&self.state, params).await;
    }

    async fn inline_completion(&self, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
        handlers::inline_completion::handle(&self.state, params).await
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        handlers::completion::handle(&self.state, params).await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<Vec<CodeActionResponse>>> {
        Ok(handlers::code_action::handle(&self.state, params).await)
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
        handlers::execute_command::handle(&self.state, params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client may send `initialized` more than once (the transport fuzz test does): the status
    /// reporter and the health recheck subscribe once, not once per notification. The reporter
    /// runs only for a client that asked for `baton/status`.
    #[tokio::test]
    async fn a_repeated_initialized_starts_the_reporters_once() {
        for asked in [true, false] {
            let (service, _socket) = Server::service();
            let server = service.inner();
            server.state.features.write().status_notification = asked;
            for _ in 0..3 {
                server.initialized(InitializedParams {}).await;
            }
            let state = &server.state;
            let reporters = usize::from(asked);
            assert_eq!(state.activity.receiver_count(), reporters, "status reporters (asked: {asked})");
            assert_eq!(state.health.receiver_count(), reporters + 1, "status reporters and one recheck");
        }
    }
}
