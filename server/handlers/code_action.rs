//! `textDocument/codeAction`: offer model edits as commands. Listing never waits on a model;
//! the work happens when the user picks one (`workspace/executeCommand`).

use serde_json::json;
use tower_lsp_server::gen_lsp_types::*;

use crate::lsp::ext;
use crate::server::State;

pub fn handle(state: &State, params: CodeActionParams) -> Option<Vec<CodeActionResponse>> {
    let uri = params.text_document.uri.as_ref().to_owned();
    if !state.docs.contains_key(&uri) {
        return Some(vec![]);
    }
    let mut actions: Vec<CodeActionResponse> = Vec::new();
    for d in &params.context.diagnostics {
        let message = match &d.message {
            Message::String(s) => s.as_str(),
            Message::MarkupContent(m) => m.value.as_str(),
        };
        let title = format!("Baton: fix with the model: {}", first_line(message, 60));
        actions.push(
            CodeAction {
                title: title.clone(),
                kind: Some(CodeActionKind::QuickFix),
                diagnostics: Some(vec![d.clone()]),
                command: Some(Command {
                    title,
                    command: ext::CMD_FIX.to_owned(),
                    arguments: Some(vec![json!({ "uri": uri, "diagnostic": d })]),
                    tooltip: None,
                }),
                ..Default::default()
            }
            .into(),
        );
    }
    if params.range.start != params.range.end {
        let title = "Baton: edit selection with instruction…".to_owned();
        actions.push(
            CodeAction {
                title: title.clone(),
                kind: Some(CodeActionKind::RefactorRewrite),
                command: Some(Command {
                    title,
                    command: ext::CMD_EDIT.to_owned(),
                    arguments: Some(vec![json!({ "uri": uri, "range": params.range })]),
                    tooltip: None,
                }),
                ..Default::default()
            }
            .into(),
        );
    }
    Some(actions)
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > max { format!("{}…", line.chars().take(max).collect::<String>()) } else { line.to_owned() }
}
