//! `initialize`: negotiate the position encoding, read the client's features and settings,
//! and declare the server's capabilities.

use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::*;

use crate::config::Layers;
use crate::lsp::ext;
use crate::orchestrator::{AgentRunners, Orchestrator};
use crate::server::{ClientFeatures, EditorAsker, State, display_path};
use crate::text::Encoding;

pub fn handle(state: &State, params: InitializeParams) -> InitializeResult {
    let caps = &params.capabilities;
    let offered: Vec<String> = caps
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.clone())
        .unwrap_or_default()
        .into_iter()
        .map(String::from)
        .collect();
    let encoding = Encoding::negotiate(offered.iter().map(String::as_str));
    *state.encoding.write().unwrap_or_else(|e| e.into_inner()) = encoding;

    let experimental = caps.experimental.clone().unwrap_or_default();
    let features = ClientFeatures {
        inline_completion: caps.text_document.as_ref().is_some_and(|t| t.inline_completion.is_some()),
        status_notification: experimental.pointer("/baton/status").and_then(|v| v.as_bool()).unwrap_or(false),
        tasks_notification: experimental.pointer("/baton/tasks").and_then(|v| v.as_bool()).unwrap_or(false),
        show_document: caps.window.as_ref().and_then(|w| w.show_document.as_ref()).is_some_and(|d| d.support),
        message_requests: caps.window.as_ref().is_some_and(|w| w.show_message.is_some()),
        create_delete_files: caps
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.resource_operations.as_ref())
            .is_some_and(|ops| {
                ops.contains(&ResourceOperationKind::Create) && ops.contains(&ResourceOperationKind::Delete)
            }),
        work_done_progress: caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
        change_annotations: caps
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .is_some_and(|e| e.change_annotation_support.is_some()),
        document_changes: caps
            .workspace
            .as_ref()
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.document_changes)
            .unwrap_or(false),
    };
    tracing::info!(?features, encoding = encoding.as_str(), "client initialized");
    *state.features.write().unwrap_or_else(|e| e.into_inner()) = features;

    let root = match &params.workspace_folders_initialize_params.workspace_folders {
        Some(WorkspaceFolders::WorkspaceFolderList(folders)) => folders.first(),
        _ => None,
    }
    .map(|f| PathBuf::from(display_path(f.uri.as_ref())));
    #[allow(deprecated)]
    let root = root.or_else(|| params.root_uri.as_ref().map(|u| PathBuf::from(display_path(u.as_ref()))));
    let (mut layers, errors) = Layers::load_files(root.as_deref());
    if let Some(options) = params.initialization_options.clone() {
        layers.set_initialization_options(options);
    }
    *state.root.write().unwrap_or_else(|e| e.into_inner()) = root;
    *state.layers.write().unwrap_or_else(|e| e.into_inner()) = layers;
    // Files that could not be read are not layers, so resolve() does not see them: report here.
    let mut messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    messages.extend(state.reload_settings(None));
    // Orchestrator mode needs only the database; a failure leaves conductor mode working.
    let opened = Orchestrator::open_default(state.settings().orchestrator_config(), AgentRunners::standard())
        .map(|o| {
            o.set_asker(Arc::new(EditorAsker(state.client.clone())));
            Arc::new(o)
        })
        .map_err(|e| e.to_string());
    if let Err(e) = &opened {
        tracing::warn!("orchestrator mode is unavailable: {e}");
        messages.push(format!("background tasks are unavailable: {e}"));
    }
    let _ = state.orchestrator.set(opened);
    // Reported once the client is initialized (messages before that are dropped).
    state.pending_messages(messages);

    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(match encoding {
                Encoding::Utf8 => PositionEncodingKind::UTF8,
                Encoding::Utf16 => PositionEncodingKind::UTF16,
                Encoding::Utf32 => PositionEncodingKind::UTF32,
            }),
            text_document_sync: Some(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::Incremental),
                    ..Default::default()
                }
                .into(),
            ),
            inline_completion_provider: Some(InlineCompletionOptions::default().into()),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some([".", "(", "=", " "].map(String::from).to_vec()),
                ..Default::default()
            }),
            code_action_provider: Some(
                CodeActionOptions {
                    code_action_kinds: Some(vec![
                        CodeActionKind::QuickFix,
                        CodeActionKind::RefactorRewrite,
                        CodeActionKind::from(crate::handlers::code_action::KIND_PR.to_owned()),
                    ]),
                    ..Default::default()
                }
                .into(),
            ),
            execute_command_provider: Some(ExecuteCommandOptions {
                commands: ext::COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        },
        server_info: Some(ServerInfo { name: "baton".to_owned(), version: Some(env!("CARGO_PKG_VERSION").to_owned()) }),
    }
}
