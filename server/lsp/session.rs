//! One LSP session's shared state: what the client said it can do, the settings and the provider
//! built from them, the open documents, the conductor, the orchestrator, and the counters the
//! status bar reads. Handlers get it as `&State` (or `&Arc<State>` when they spawn).
//!
//! Locks are `parking_lot`'s (no poisoning: a panicking handler is contained by the transport and
//! leaves the data as it was). No guard lives across an `.await` (ARCHITECTURE.md, rule 3).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tower_lsp_server::Client;
use tower_lsp_server::gen_lsp_types::{ClientCapabilities, MessageActionItem, MessageType, ResourceOperationKind};
use tower_lsp_server::jsonrpc::Result;

use super::documents::{DocumentStore, OpenDocument};
use super::error;
use super::health::{Health, Probe};
use crate::agents::Asker;
use crate::conductor::{Conductor, DocSnapshot};
use crate::config::{Layers, Settings, Source};
use crate::orchestrator::Orchestrator;
use crate::providers::{Provider, ProviderConfig, ProviderError};
use crate::text::{Document, Encoding};

/// What the client said it can do, read once in `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClientFeatures {
    /// `textDocument.inlineCompletion`: ghost text; the `textDocument/completion` fallback stays quiet.
    pub(crate) inline_completion: bool,
    /// `experimental.baton.status`: the client handles `baton/status`.
    pub(crate) status_notification: bool,
    /// `experimental.baton.tasks`: the client handles `baton/tasks`.
    pub(crate) tasks_notification: bool,
    /// `window.showMessage`: the client answers `window/showMessageRequest` with a choice.
    pub(crate) message_requests: bool,
    /// `workspace.workspaceEdit.resourceOperations` includes `create` and `delete`.
    pub(crate) create_delete_files: bool,
    /// `window.workDoneProgress`.
    pub(crate) work_done_progress: bool,
    /// `workspace.workspaceEdit.changeAnnotationSupport`.
    pub(crate) change_annotations: bool,
    /// `workspace.workspaceEdit.documentChanges`.
    pub(crate) document_changes: bool,
    /// `workspace.didChangeWatchedFiles.dynamicRegistration`: the client watches files for us.
    pub(crate) watched_files_registration: bool,
}

impl ClientFeatures {
    /// Reads the features from `initialize`'s capabilities; anything absent is unsupported.
    pub(crate) fn from_capabilities(caps: &ClientCapabilities) -> Self {
        let experimental = caps.experimental.clone().unwrap_or_default();
        let flag = |pointer: &str| experimental.pointer(pointer).and_then(|v| v.as_bool()).unwrap_or(false);
        let workspace_edit = caps.workspace.as_ref().and_then(|w| w.workspace_edit.as_ref());
        let window = caps.window.as_ref();
        Self {
            inline_completion: caps.text_document.as_ref().is_some_and(|t| t.inline_completion.is_some()),
            status_notification: flag("/baton/status"),
            tasks_notification: flag("/baton/tasks"),
            message_requests: window.is_some_and(|w| w.show_message.is_some()),
            create_delete_files: workspace_edit.and_then(|e| e.resource_operations.as_ref()).is_some_and(|ops| {
                ops.contains(&ResourceOperationKind::Create) && ops.contains(&ResourceOperationKind::Delete)
            }),
            work_done_progress: window.and_then(|w| w.work_done_progress).unwrap_or(false),
            change_annotations: workspace_edit.is_some_and(|e| e.change_annotation_support.is_some()),
            document_changes: workspace_edit.and_then(|e| e.document_changes).unwrap_or(false),
            watched_files_registration: caps
                .workspace
                .as_ref()
                .and_then(|w| w.did_change_watched_files.as_ref())
                .and_then(|d| d.dynamic_registration)
                .unwrap_or(false),
        }
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) client: Client,
    pub(crate) docs: DashMap<String, OpenDocument>,
    pub(crate) encoding: RwLock<Encoding>,
    pub(crate) features: RwLock<ClientFeatures>,
    /// The first workspace folder (or `rootUri`), when it is a file path.
    pub(crate) root: RwLock<Option<PathBuf>>,
    pub(crate) layers: RwLock<Layers>,
    pub(crate) settings: RwLock<Arc<Settings>>,
    pub(crate) provider: RwLock<Arc<Provider>>,
    pub(crate) conductor: Conductor,
    /// Model requests in flight (completions and edits).
    pub(crate) activity: watch::Sender<usize>,
    pub(crate) health: watch::Sender<Health>,
    /// The model server check in flight, if any (`status::check_provider`): callers that ask
    /// while one runs share it.
    pub(crate) probe: Mutex<Option<Probe>>,
    /// Messages for the user gathered before the client was initialized.
    pending: Mutex<Vec<String>>,
    /// Set by the first `initialized`: the reporters it starts run once per session.
    started: AtomicBool,
    /// Set when `initialize` is answered: the transport's shortcut (`server::Keystrokes`) takes
    /// messages only from then on, as tower-lsp's router does.
    pub(crate) initialized: AtomicBool,
    /// Orchestrator mode, opened in `initialize` (or why it could not be).
    pub(crate) orchestrator: OnceLock<std::result::Result<Arc<Orchestrator>, String>>,
    /// Files a merge would conflict in, by (task id, HEAD commit): `git merge-tree` runs once
    /// per pull request and HEAD, not on every code action request.
    pub(crate) merge_predictions: DashMap<(i64, String), Vec<String>>,
}

/// Counts a model request as in flight for as long as it lives.
pub(crate) struct Busy<'a>(&'a watch::Sender<usize>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl State {
    /// A session before `initialize`: default settings (no files read yet), UTF-16, no features.
    pub(crate) fn new(client: Client) -> Self {
        let (settings, _) = Layers::default().resolve();
        let provider = Provider::new(settings.provider.clone())
            .or_else(|_| Provider::new(ProviderConfig::default()))
            .unwrap_or_else(|_| keyless_default_provider());
        Self {
            client,
            docs: DashMap::new(),
            encoding: RwLock::new(Encoding::Utf16),
            features: RwLock::new(ClientFeatures::default()),
            root: RwLock::new(None),
            layers: RwLock::new(Layers::default()),
            settings: RwLock::new(Arc::new(settings)),
            provider: RwLock::new(Arc::new(provider)),
            conductor: Conductor::default(),
            activity: watch::Sender::new(0),
            health: watch::Sender::new(Health::Unknown),
            probe: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            started: AtomicBool::new(false),
            initialized: AtomicBool::new(false),
            orchestrator: OnceLock::new(),
            merge_predictions: DashMap::new(),
        }
    }

    pub(crate) fn encoding(&self) -> Encoding {
        *self.encoding.read()
    }

    pub(crate) fn features(&self) -> ClientFeatures {
        self.features.read().clone()
    }

    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// The provider (a reference count: a model call that outlives its request keeps it).
    pub(crate) fn provider(&self) -> Arc<Provider> {
        self.provider.read().clone()
    }

    pub(crate) fn root(&self) -> Option<PathBuf> {
        self.root.read().clone()
    }

    /// True exactly once per session, for the first `initialized` notification (a client may
    /// send it again; the reporters it starts must not run twice).
    pub(crate) fn begin_session(&self) -> bool {
        !self.started.swap(true, Ordering::AcqRel)
    }

    /// The orchestrator, or an LSP error saying why orchestrator mode is unavailable.
    pub(crate) fn orchestrator(&self) -> Result<Arc<Orchestrator>> {
        match self.orchestrator.get() {
            Some(Ok(o)) => Ok(o.clone()),
            Some(Err(e)) => Err(error::internal(format!("orchestrator mode is unavailable: {e}"))),
            None => Err(tower_lsp_server::jsonrpc::Error::invalid_request()),
        }
    }

    /// Keeps messages to show once the client is initialized.
    pub(crate) fn pending_messages(&self, messages: Vec<String>) {
        self.pending.lock().extend(messages);
    }

    /// The messages kept for the user so far, emptied.
    pub(crate) fn take_pending_messages(&self) -> Vec<String> {
        std::mem::take(&mut *self.pending.lock())
    }

    /// Marks a model request in flight until the guard drops.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.activity.send_modify(|n| *n += 1);
        Busy(&self.activity)
    }

    /// Records the outcome of a model request or check for the status bar
    /// ([`Health::of`]); watchers wake only when it changes.
    pub(crate) fn observe(&self, result: std::result::Result<(), &ProviderError>) {
        let health = Health::of(result);
        self.health.send_if_modified(|h| std::mem::replace(h, health.clone()) != health);
    }

    /// A snapshot of an open document for the conductor (its tree only when one matches the
    /// text: `documents.rs`), or `None` when it is not open.
    pub(crate) fn snapshot(&self, uri: &str) -> Option<(DocSnapshot, Document)> {
        self.docs.get(uri).map(|open| open.snapshot(uri))
    }

    /// Re-resolves settings from the layers, rebuilds the provider, and returns what to tell
    /// the user: problems with the layer `only` (all layers when `None`) and with the provider.
    pub(crate) fn reload_settings(&self, only: Option<&Source>) -> Vec<String> {
        let (settings, errors) = self.layers.read().resolve();
        let mut messages: Vec<String> =
            errors.iter().filter(|e| only.is_none_or(|o| *o == e.origin)).map(ToString::to_string).collect();
        match Provider::new(settings.provider.clone()) {
            Ok(p) => *self.provider.write() = Arc::new(p),
            Err(e) => messages.push(format!("provider not changed: {e}")),
        }
        if let Some(Ok(orchestrator)) = self.orchestrator.get() {
            orchestrator.set_config(settings.orchestrator_config());
        }
        *self.settings.write() = Arc::new(settings);
        // The status names the provider and model: wake the reporter to send the new ones.
        self.activity.send_modify(|_| ());
        for m in &messages {
            tracing::warn!("{m}");
        }
        messages
    }
}

impl DocumentStore for State {
    fn documents(&self) -> &DashMap<String, OpenDocument> {
        &self.docs
    }
}

fn keyless_default_provider() -> Provider {
    // Provider::new only fails on a missing key or a bad URL; the default config has neither.
    match Provider::new(ProviderConfig { api_key_env: None, ..Default::default() }) {
        Ok(p) => p,
        Err(e) => panic!("the default provider configuration is invalid: {e}"),
    }
}

/// Asks agents' questions (ACP permission requests) of the user with `window/showMessageRequest`.
#[derive(Debug, Clone)]
pub(crate) struct EditorAsker(pub(crate) Client);

impl Asker for EditorAsker {
    fn ask(
        &self,
        question: String,
        options: Vec<crate::agents::AskOption>,
    ) -> futures::future::BoxFuture<'static, Option<String>> {
        let client = self.0.clone();
        Box::pin(async move {
            let actions = options
                .into_iter()
                .map(|o| MessageActionItem { title: o.name, properties: Default::default() })
                .collect();
            client
                .show_message_request(MessageType::Info, format!("Baton agent: {question}"), Some(actions))
                .await
                .ok()
                .flatten()
                .map(|a| a.title)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_features_come_from_the_capabilities_the_client_declared() {
        let parse = |caps: serde_json::Value| {
            ClientFeatures::from_capabilities(&serde_json::from_value(caps).expect("capabilities"))
        };
        assert_eq!(parse(serde_json::json!({})), ClientFeatures::default());
        let rich = parse(serde_json::json!({
            "textDocument": { "inlineCompletion": {} },
            "window": { "showMessage": {}, "workDoneProgress": true },
            "workspace": { "workspaceEdit": {
                "documentChanges": true,
                "resourceOperations": ["create", "rename", "delete"],
                "changeAnnotationSupport": {},
            }, "didChangeWatchedFiles": { "dynamicRegistration": true } },
            "experimental": { "baton": { "status": true, "tasks": true } },
        }));
        assert_eq!(
            rich,
            ClientFeatures {
                inline_completion: true,
                status_notification: true,
                tasks_notification: true,
                message_requests: true,
                create_delete_files: true,
                work_done_progress: true,
                change_annotations: true,
                document_changes: true,
                watched_files_registration: true,
            }
        );
        // Creating without deleting is not enough to carry a pull request's files.
        let create_only = parse(serde_json::json!({
            "workspace": { "workspaceEdit": { "documentChanges": true, "resourceOperations": ["create"] } },
            "experimental": { "baton": { "status": "yes" } },
        }));
        assert!(!create_only.create_delete_files && create_only.document_changes && !create_only.status_notification);
    }
}
