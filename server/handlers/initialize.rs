//! `initialize`: negotiate the position encoding, read the client's features and settings,
//! and declare the server's capabilities.

use std::path::PathBuf;
use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::*;

use crate::config::Layers;
use crate::lsp::convert;
use crate::lsp::ext::Command;
use crate::lsp::session::{ClientFeatures, EditorAsker, State};
use crate::orchestrator::{AgentRunners, Orchestrator};
use crate::text::Encoding;

pub(crate) fn handle(state: &State, params: InitializeParams) -> InitializeResult {
    let caps = &params.capabilities;
    let offered: Vec<String> = caps
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.clone())
        .unwrap_or_default()
        .into_iter()
        .map(String::from)
        .collect();
    let features = ClientFeatures::from_capabilities(caps);
    *state.features.write() = features.clone();

    let mut messages = Vec::new();
    let root = match workspace_root(&params) {
        Ok(root) => root,
        Err(e) => {
            messages.push(format!("the workspace folder is not used: {e}"));
            None
        }
    };
    let (mut layers, errors) = Layers::load_files(root.as_deref());
    if let Some(options) = params.initialization_options.clone() {
        layers.set_initialization_options(options);
    }
    *state.root.write() = root;
    *state.layers.write() = layers;
    // Files that could not be read are not layers, so resolve() does not see them: report here.
    messages.extend(errors.iter().map(ToString::to_string));
    messages.extend(state.reload_settings(None));
    let encoding = negotiate(&offered, state.settings().nes.enabled);
    *state.encoding.write() = encoding;
    tracing::info!(?features, encoding = encoding.as_str(), "client initialized");
    // Orchestrator mode needs only the database; a failure leaves conductor mode working.
    let opened = Orchestrator::open_default(state.settings().orchestrator_config(), AgentRunners::standard())
        .map(|o| {
            // An editor that cannot show a question leaves it to the task's `answer` action
            // and `baton task answer` (the task waits in needs_input).
            if features.message_requests {
                o.set_asker(Arc::new(EditorAsker(state.client.clone())));
            }
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
        capabilities: capabilities(encoding),
        server_info: Some(ServerInfo { name: "baton".to_owned(), version: Some(env!("CARGO_PKG_VERSION").to_owned()) }),
    }
}

/// The client's first offered encoding Baton supports; UTF-16 when NES is on and the client
/// offers it, because copilot-lsp sends next edit positions in UTF-16 whatever was negotiated
/// (tests/nes/PROTOCOL.md, "Position encodings").
fn negotiate(offered: &[String], nes: bool) -> Encoding {
    if nes && offered.iter().any(|e| e == "utf-16") {
        return Encoding::Utf16;
    }
    Encoding::negotiate(offered.iter().map(String::as_str))
}

/// The first workspace folder, else the deprecated `rootUri`; `None` when the client names
/// neither. Errors: the URI names no local file path (`convert::file_path`).
fn workspace_root(params: &InitializeParams) -> Result<Option<PathBuf>, convert::UriError> {
    let folder = match &params.workspace_folders_initialize_params.workspace_folders {
        Some(WorkspaceFolders::WorkspaceFolderList(folders)) => folders.first().map(|f| f.uri.as_ref()),
        _ => None,
    };
    #[allow(deprecated)]
    let uri = folder.or_else(|| params.root_uri.as_ref().map(AsRef::as_ref));
    uri.map(convert::file_path).transpose()
}

/// What Baton declares: the negotiated encoding, incremental sync, inline completion and the
/// completion fallback, code actions and its commands.
fn capabilities(encoding: Encoding) -> ServerCapabilities {
    ServerCapabilities {
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
                    CodeActionKind::from(super::code_action::KIND_PR.to_owned()),
                ]),
                ..Default::default()
            }
            .into(),
        ),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: Command::ALL.map(|c| c.name().to_owned()).to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
