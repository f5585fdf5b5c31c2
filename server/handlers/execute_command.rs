//! `workspace/executeCommand`: run a model edit (`baton.edit`, `baton.fix`) and offer its result
//! with `workspace/applyEdit`, so the editor applies it (and the user can undo or reject it);
//! record accepted suggestions (`baton.accepted`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};

use crate::conductor::edit::{self, EditRequest};
use crate::lsp::{convert, ext};
use crate::server::State;

/// Instructions offered when `baton.edit` arrives without one (editors that cannot prompt).
const PRESETS: &[&str] = &["Fix bugs", "Simplify", "Add comments", "Add error handling"];

pub async fn handle(state: &State, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
    let arguments = params.arguments.as_deref().unwrap_or_default();
    if let Some(result) = super::task_commands::handle(state, &params.command, arguments).await {
        return result;
    }
    match params.command.as_str() {
        ext::CMD_ACCEPTED => {
            let args: ext::AcceptedArgs = arg(params.arguments.as_deref().unwrap_or_default())?;
            tracing::info!(uri = %args.uri, length = args.length, "suggestion accepted");
            Ok(None)
        }
        ext::CMD_EDIT => {
            let args: ext::EditArgs = arg(params.arguments.as_deref().unwrap_or_default())?;
            let instruction = match args.instruction.filter(|i| !i.trim().is_empty()) {
                Some(i) => i,
                None => ask_instruction(state).await?,
            };
            run_edit(state, &args.uri, args.range, instruction).await.map(Some)
        }
        ext::CMD_FIX => {
            let args: ext::FixArgs = arg(params.arguments.as_deref().unwrap_or_default())?;
            let d = &args.diagnostic;
            let source = d.source.as_deref().unwrap_or("the compiler");
            let message = match &d.message {
                Message::String(s) => s.clone(),
                Message::MarkupContent(m) => m.value.clone(),
            };
            let instruction = format!("Fix this problem reported by {source}: {message}");
            run_edit(state, &args.uri, d.range, instruction).await.map(Some)
        }
        other => Err(invalid_params(format!("unknown command {other}; Baton runs {}", ext::COMMANDS.join(", ")))),
    }
}

/// The command's first argument as `T`. Errors: missing or malformed argument (InvalidParams).
pub(super) fn arg<T: DeserializeOwned>(arguments: &[Value]) -> Result<T> {
    let first = arguments.first().cloned().ok_or_else(|| invalid_params("missing command argument"))?;
    serde_json::from_value(first).map_err(|e| invalid_params(format!("bad command argument: {e}")))
}

async fn ask_instruction(state: &State) -> Result<String> {
    let actions =
        PRESETS.iter().map(|t| MessageActionItem { title: (*t).to_owned(), properties: HashMap::new() }).collect();
    let picked = state
        .client
        .show_message_request(MessageType::Info, "Baton: how should the model edit the selection?", Some(actions))
        .await
        .ok()
        .flatten();
    picked.map(|a| a.title).ok_or_else(|| invalid_params("baton.edit needs an instruction (argument `instruction`)"))
}

static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

async fn run_edit(state: &State, uri: &str, range: Range, instruction: String) -> Result<Value> {
    let encoding = state.encoding();
    let settings = state.settings();
    let path = crate::server::display_path(uri);
    if crate::secrets::is_secret_path(&path, &settings.secrets.patterns) {
        return Err(invalid_request(format!(
            "{path} matches the secret file patterns ([secrets] patterns); Baton never sends it to a model"
        )));
    }
    let (_, doc) = state.snapshot(uri).ok_or_else(|| invalid_params(format!("{uri} is not open")))?;
    let chars = convert::char_range(&doc, range, encoding);
    // Whole lines: the model rewrites lines, and line edits read well in a diff.
    let rope = &doc.rope;
    let first_line = rope.char_to_line(chars.start);
    let mut last_line = rope.char_to_line(chars.end);
    if chars.end > chars.start && rope.line_to_char(last_line) == chars.end && last_line > first_line {
        last_line -= 1;
    }
    let start = rope.line_to_char(first_line);
    let end = rope.line_to_char((last_line + 1).min(rope.len_lines())).max(start);
    let end = if last_line + 1 >= rope.len_lines() { rope.len_chars() } else { end };
    let ctx = settings.edit.context_lines as usize;
    let before_start = rope.line_to_char(first_line.saturating_sub(ctx));
    let after_end = rope.line_to_char((last_line + 1 + ctx).min(rope.len_lines()));
    let target = rope.slice(start..end).to_string();
    let request = EditRequest {
        language: doc.language_id.clone(),
        path: crate::server::display_path(uri),
        before: rope.slice(before_start..start).to_string(),
        target: target.clone(),
        after: rope.slice(end..after_end.max(end)).to_string(),
        instruction: instruction.clone(),
    };

    let progress = if state.features().work_done_progress {
        let token = ProgressToken::String(format!("baton/edit/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)));
        match state.client.create_work_done_progress(token.clone()).await {
            Ok(()) => Some(
                state.client.progress(token, "Baton").with_message(format!("editing: {instruction}")).begin().await,
            ),
            Err(_) => None,
        }
    } else {
        None
    };
    let provider = state.provider();
    let result = {
        let _busy = state.busy();
        edit::run(&provider, &request, &settings.edit_config()).await
    };
    if let Some(p) = progress {
        p.finish_with_message(if result.is_ok() { "edit ready" } else { "edit failed" }).await;
    }
    let new_text = match result {
        Ok(t) => {
            state.observe(Ok(()));
            t
        }
        Err(edit::EditError::Provider(e)) => {
            state.observe(Err(&e));
            return Err(internal(e.to_string()));
        }
        Err(e) => return Err(internal(e.to_string())),
    };

    let current = state.docs.get(uri).map(|d| d.doc.version);
    if current != Some(doc.version) {
        return Err(invalid_request("the document changed while the model worked; run the edit again"));
    }
    let replacements = edit::minimal_edits(&target, &new_text);
    if replacements.is_empty() {
        return Ok(json!({ "applied": false, "reason": "the model proposed no change" }));
    }
    let start_byte = rope.char_to_byte(start);
    let text_edits: Vec<TextEdit> = replacements
        .into_iter()
        .map(|r| {
            let a = rope.byte_to_char(start_byte + r.start);
            let b = rope.byte_to_char(start_byte + r.end);
            TextEdit { range: convert::range(&doc, a..b, encoding), new_text: r.text }
        })
        .collect();
    let features = state.features();
    let label = format!("Baton: {instruction}");
    let workspace_edit = if features.document_changes {
        let annotate = features.change_annotations;
        let edits = text_edits
            .into_iter()
            .map(|e| {
                if annotate {
                    AnnotatedTextEdit { annotation_id: "baton".to_owned(), text_edit: e }.into()
                } else {
                    e.into()
                }
            })
            .collect();
        WorkspaceEdit {
            document_changes: Some(vec![
                TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier {
                        version: Some(doc.version),
                        text_document_identifier: TextDocumentIdentifier { uri: Uri::from(uri) },
                    },
                    edits,
                }
                .into(),
            ]),
            change_annotations: annotate.then(|| {
                HashMap::from([(
                    "baton".to_owned(),
                    ChangeAnnotation {
                        label: label.clone(),
                        needs_confirmation: Some(true),
                        description: Some(provider.config().model.clone()),
                    },
                )])
            }),
            ..Default::default()
        }
    } else {
        WorkspaceEdit { changes: Some(HashMap::from([(Uri::from(uri), text_edits)])), ..Default::default() }
    };
    let applied = state
        .client
        .send_request::<ApplyWorkspaceEditRequest>(ApplyWorkspaceEditParams {
            label: Some(label),
            edit: workspace_edit,
            metadata: None,
        })
        .await
        .map_err(|e| invalid_request(format!("the editor did not apply the edit: {}", e.message)))?;
    Ok(json!({ "applied": applied.applied, "reason": applied.failure_reason }))
}

/// An InvalidParams error with this message.
pub(super) fn invalid_params(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into().into(), data: None }
}

/// An InvalidRequest error with this message.
pub(super) fn invalid_request(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidRequest, message: message.into().into(), data: None }
}

/// An InternalError with this message.
pub(super) fn internal(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InternalError, message: message.into().into(), data: None }
}
