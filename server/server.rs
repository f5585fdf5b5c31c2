//! The language server: shared state, the `LanguageServer` dispatch to one handler per method,
//! and the status reporter. Ordering rules (ARCHITECTURE.md): notification handlers change state
//! before their first `.await`; no lock or map guard is held across an `.await`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::watch;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::{Client, LanguageServer, LspService};

use crate::agents::Asker;
use crate::conductor::{Conductor, DocSnapshot};
use crate::config::{Layers, Settings};
use crate::handlers;
use crate::lsp::ext;
use crate::orchestrator::Orchestrator;
use crate::providers::{Provider, ProviderError};
use crate::text::{Document, Encoding};

/// How many messages the transport handles at once. tower-lsp's default of 4 lets four slow
/// completions block the next `didChange` (lsp.md, tower-lsp #284); 64 keeps it flowing.
pub const CONCURRENCY: usize = 64;

/// Test hook, debug builds only (never in a release build): a request whose handler panics, to
/// test that a panic answers InternalError and the session goes on.
#[cfg(debug_assertions)]
pub const DEBUG_PANIC: &str = "baton/debug/panic";
/// Test hook, debug builds only: a notification whose handler panics.
#[cfg(debug_assertions)]
pub const DEBUG_PANIC_NOTIFICATION: &str = "baton/debug/panicNotification";

pub use crate::documents::OpenDocument;

/// What the client said it can do, read once in `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ClientFeatures {
    pub inline_completion: bool,
    pub status_notification: bool,
    /// `experimental.baton.tasks`: the client handles `baton/tasks`.
    pub tasks_notification: bool,
    /// `window.showDocument.support`.
    pub show_document: bool,
    /// `window.showMessage`: the client answers `window/showMessageRequest` with a choice.
    pub message_requests: bool,
    /// `workspace.workspaceEdit.resourceOperations` includes `create` and `delete`.
    pub create_delete_files: bool,
    pub work_done_progress: bool,
    pub change_annotations: bool,
    pub document_changes: bool,
}

/// What Baton last learned about the model server, for `baton/status` and `baton/health`.
/// Each message says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    /// Not checked yet: the first check is still running.
    #[default]
    Unknown,
    /// The last request or check was answered.
    Ok,
    /// The server accepted the connection but did not finish answering within
    /// `provider.timeout_ms` ([`ProviderError::Timeout`]): it is there, but slow or busy.
    Slow(String),
    /// No connection could be made ([`ProviderError::Unreachable`]): nothing listens at the
    /// configured URL, or the host cannot be reached.
    Unreachable(String),
    /// The server answered, with an error (HTTP status, malformed or oversized answer, ...).
    Error(String),
}

impl Health {
    /// The state's name in `baton/health`: `unknown`, `ok`, `slow`, `unreachable` or `error`.
    pub fn name(&self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Slow(_) => "slow",
            Health::Unreachable(_) => "unreachable",
            Health::Error(_) => "error",
        }
    }

    /// The message, for the states that have one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Health::Unknown | Health::Ok => None,
            Health::Slow(m) | Health::Unreachable(m) | Health::Error(m) => Some(m),
        }
    }
}

/// A check of the model server: the provider configuration it checks, and a future that
/// completes once it has recorded its result in [`State::health`].
pub type Probe = (crate::providers::ProviderConfig, futures::future::Shared<futures::future::BoxFuture<'static, ()>>);

/// Everything the handlers share.
#[derive(Debug)]
pub struct State {
    pub client: Client,
    pub docs: DashMap<String, OpenDocument>,
    pub encoding: RwLock<Encoding>,
    pub features: RwLock<ClientFeatures>,
    pub root: RwLock<Option<PathBuf>>,
    pub layers: RwLock<Layers>,
    pub settings: RwLock<Arc<Settings>>,
    pub provider: RwLock<Provider>,
    pub conductor: Conductor,
    /// Model requests in flight (completions and edits).
    pub activity: watch::Sender<usize>,
    pub health: watch::Sender<Health>,
    /// The model server check in flight, if any (`handlers::initialized::check_provider`):
    /// callers that ask while one runs share it.
    pub probe: std::sync::Mutex<Option<Probe>>,
    /// Messages for the user gathered before the client was initialized.
    pub pending: std::sync::Mutex<Vec<String>>,
    /// Orchestrator mode, opened in `initialize` (or why it could not be).
    pub orchestrator: OnceLock<std::result::Result<Arc<Orchestrator>, String>>,
    /// Files a merge would conflict in, by (task id, HEAD commit): `git merge-tree` runs once
    /// per pull request and HEAD, not on every code action request.
    pub merge_predictions: DashMap<(i64, String), Vec<String>>,
}

/// Counts a model request as in flight for as long as it lives.
pub struct Busy<'a>(&'a watch::Sender<usize>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl State {
    pub fn encoding(&self) -> Encoding {
        *self.encoding.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn features(&self) -> ClientFeatures {
        self.features.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn provider(&self) -> Provider {
        self.provider.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The orchestrator, or an LSP error saying why orchestrator mode is unavailable.
    pub fn orchestrator(&self) -> Result<Arc<Orchestrator>> {
        match self.orchestrator.get() {
            Some(Ok(o)) => Ok(o.clone()),
            Some(Err(e)) => Err(tower_lsp_server::jsonrpc::Error {
                code: tower_lsp_server::jsonrpc::ErrorCode::InternalError,
                message: format!("orchestrator mode is unavailable: {e}").into(),
                data: None,
            }),
            None => Err(tower_lsp_server::jsonrpc::Error::invalid_request()),
        }
    }

    /// Keeps messages to show once the client is initialized.
    pub fn pending_messages(&self, messages: Vec<String>) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).extend(messages);
    }

    /// Marks a model request in flight until the guard drops.
    pub fn busy(&self) -> Busy<'_> {
        self.activity.send_modify(|n| *n += 1);
        Busy(&self.activity)
    }

    /// Records the outcome of a model request or check for the status bar: a timeout on a
    /// server that accepted the connection is [`Health::Slow`], a failure to connect
    /// [`Health::Unreachable`], any other failure [`Health::Error`].
    pub fn observe(&self, result: std::result::Result<(), &ProviderError>) {
        let health = match result {
            Ok(()) => Health::Ok,
            Err(e @ ProviderError::Unreachable { .. }) => Health::Unreachable(unreachable_message(e)),
            Err(e @ ProviderError::Timeout { .. }) => Health::Slow(slow_message(e)),
            Err(e) => Health::Error(e.to_string()),
        };
        self.health.send_if_modified(|h| std::mem::replace(h, health.clone()) != health);
    }

    /// A snapshot of an open document for the conductor (its tree only when one matches the
    /// text: `documents.rs`), or `None` when it is not open.
    pub fn snapshot(&self, uri: &str) -> Option<(DocSnapshot, Document)> {
        self.docs.get(uri).map(|open| open.snapshot(uri))
    }

    /// Re-resolves settings from the layers, rebuilds the provider, and returns what to tell
    /// the user: problems with the layer `only` (all layers when `None`) and with the provider.
    pub fn reload_settings(&self, only: Option<&crate::config::Source>) -> Vec<String> {
        let (settings, errors) = self.layers.read().unwrap_or_else(|e| e.into_inner()).resolve();
        let mut messages: Vec<String> =
            errors.iter().filter(|e| only.is_none_or(|o| *o == e.origin)).map(ToString::to_string).collect();
        match Provider::new(settings.provider.clone()) {
            Ok(p) => *self.provider.write().unwrap_or_else(|e| e.into_inner()) = p,
            Err(e) => messages.push(format!("provider not changed: {e}")),
        }
        if let Some(Ok(orchestrator)) = self.orchestrator.get() {
            orchestrator.set_config(settings.orchestrator_config());
        }
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        // The status names the provider and model: wake the reporter to send the new ones.
        self.activity.send_modify(|_| ());
        for m in &messages {
            tracing::warn!("{m}");
        }
        messages
    }
}

impl crate::documents::DocumentStore for State {
    fn documents(&self) -> &DashMap<String, OpenDocument> {
        &self.docs
    }
}

/// The status message for a model server that does not answer.
pub fn unreachable_message(e: &ProviderError) -> String {
    format!(
        "{e}. Start a model server there (for example llama.cpp's llama-server: scripts/local-model.sh start) \
         or set provider.base_url and provider.kind in baton.toml or your editor's Baton settings."
    )
}

/// The status message for a model server that accepted the connection but answered too slowly.
pub fn slow_message(e: &ProviderError) -> String {
    format!(
        "{e}. It may be loading the model or busy with other requests; if answers stay this slow, use a smaller \
         model or raise provider.timeout_ms in baton.toml or your editor's Baton settings."
    )
}

/// A file path for a `file://` URI (for prompts and messages), or the URI itself.
pub fn display_path(uri: &str) -> String {
    uri.strip_prefix("file://").map(percent_decode).unwrap_or_else(|| uri.to_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The server object tower-lsp dispatches to.
#[derive(Debug, Clone)]
pub struct Server {
    pub state: Arc<State>,
}

impl Server {
    /// Builds the service with Baton's custom methods registered.
    pub fn service() -> (LspService<Server>, tower_lsp_server::ClientSocket) {
        let builder = LspService::build(|client| {
            let (settings, _) = Layers::default().resolve();
            let provider = Provider::new(settings.provider.clone())
                .or_else(|_| Provider::new(Default::default()))
                .unwrap_or_else(|_| unreachable_provider());
            Server {
                state: Arc::new(State {
                    client,
                    docs: DashMap::new(),
                    encoding: RwLock::new(Encoding::Utf16),
                    features: RwLock::new(ClientFeatures::default()),
                    root: RwLock::new(None),
                    layers: RwLock::new(Layers::default()),
                    settings: RwLock::new(Arc::new(settings)),
                    provider: RwLock::new(provider),
                    conductor: Conductor::default(),
                    activity: watch::Sender::new(0),
                    health: watch::Sender::new(Health::Unknown),
                    probe: std::sync::Mutex::new(None),
                    pending: std::sync::Mutex::new(Vec::new()),
                    orchestrator: OnceLock::new(),
                    merge_predictions: DashMap::new(),
                }),
            }
        })
        .custom_method(ext::DID_SHOW_COMPLETION, Server::did_show_completion)
        .custom_method(ext::HEALTH, Server::health);
        #[cfg(debug_assertions)]
        let builder = builder
            .custom_method(DEBUG_PANIC, Server::debug_panic)
            .custom_method(DEBUG_PANIC_NOTIFICATION, Server::debug_panic_notification);
        builder.finish()
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

    async fn health(&self) -> Result<Value> {
        Ok(handlers::health::handle(&self.state).await)
    }
}

/// Asks agents' questions (ACP permission requests) of the user with `window/showMessageRequest`.
#[derive(Debug, Clone)]
pub struct EditorAsker(pub Client);

impl Asker for EditorAsker {
    fn ask(&self, question: String, options: Vec<String>) -> futures::future::BoxFuture<'static, Option<String>> {
        let client = self.0.clone();
        Box::pin(async move {
            let actions =
                options.into_iter().map(|title| MessageActionItem { title, properties: Default::default() }).collect();
            client
                .show_message_request(MessageType::Info, format!("Baton agent: {question}"), Some(actions))
                .await
                .ok()
                .flatten()
                .map(|a| a.title)
        })
    }
}

fn unreachable_provider() -> Provider {
    // Provider::new only fails on a missing key or a bad URL; the default config has neither.
    match Provider::new(crate::providers::ProviderConfig { api_key_env: None, ..Default::default() }) {
        Ok(p) => p,
        Err(e) => panic!("the default provider configuration is invalid: {e}"),
    }
}

/// Sends `baton/status` whenever activity or health changes (only to clients that asked).
pub fn spawn_status_reporter(state: Arc<State>) {
    let mut activity = state.activity.subscribe();
    let mut health = state.health.subscribe();
    tokio::spawn(async move {
        let mut last: Option<ext::StatusParams> = None;
        loop {
            let params = {
                let busy = *activity.borrow_and_update();
                let h = health.borrow_and_update().clone();
                let p = state.provider();
                let (state_, message) = match (busy, h) {
                    (n, _) if n > 0 => (ext::StatusState::Working, None),
                    (_, Health::Ok | Health::Unknown) => (ext::StatusState::Idle, None),
                    (_, Health::Slow(m)) => (ext::StatusState::Slow, Some(m)),
                    (_, Health::Unreachable(m)) => (ext::StatusState::Unreachable, Some(m)),
                    (_, Health::Error(m)) => (ext::StatusState::Error, Some(m)),
                };
                let kind = serde_json::to_value(p.config().kind).ok().and_then(|v| v.as_str().map(str::to_owned));
                ext::StatusParams {
                    state: state_,
                    message,
                    provider: kind.unwrap_or_default(),
                    model: p.config().model.clone(),
                }
            };
            if last.as_ref() != Some(&params) {
                if state.features().status_notification {
                    state.client.send_notification::<ext::Status>(params.clone()).await;
                }
                last = Some(params);
            }
            tokio::select! {
                r = activity.changed() => if r.is_err() { break },
                r = health.changed() => if r.is_err() { break },
            }
        }
    });
}

impl LanguageServer for Server {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        // Test hook, debug builds only: a panic here must answer an error and leave the server
        // uninitialized (tower-lsp-server changes state only when this future returns).
        #[cfg(debug_assertions)]
        if std::env::var_os("BATON_DEBUG_PANIC_IN_INITIALIZE").is_some() {
            panic!("deliberate panic in initialize (BATON_DEBUG_PANIC_IN_INITIALIZE)");
        }
        Ok(handlers::initialize::handle(&self.state, params))
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
