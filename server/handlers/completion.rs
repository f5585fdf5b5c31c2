//! `textDocument/completion`, for clients without inline completion (Helix, Neovim < 0.12):
//! the suggestion as one completion item whose `textEdit` replaces the word before the cursor,
//! so the editor's own filtering by that word keeps it in the menu.

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::convert;
use crate::lsp::session::State;

pub async fn handle(state: &State, params: CompletionParams) -> Result<Option<CompletionResponse>> {
    if state.features().inline_completion {
        // The client shows suggestions as ghost text; a menu entry would show them twice.
        return Ok(None);
    }
    let tdp = params.text_document_position_params;
    let uri = tdp.text_document.uri.as_ref().to_owned();
    let invoked = params.context.as_ref().is_some_and(|c| c.trigger_kind == CompletionTriggerKind::Invoked);
    let Some(s) = super::suggest::suggest(state, &uri, convert::pos(tdp.position), invoked).await else {
        return Ok(Some(CompletionList { is_incomplete: true, items: vec![], ..Default::default() }.into()));
    };
    let encoding = state.encoding();
    let word_start = word_start(&s.doc, s.cursor);
    let word: String = s.doc.rope.slice(word_start..s.cursor).to_string();
    let new_text = format!("{word}{}", s.text);
    let first_line = s.text.lines().next().unwrap_or("").trim();
    let label: String = if first_line.chars().count() > 60 {
        format!("{}…", first_line.chars().take(60).collect::<String>())
    } else {
        first_line.to_owned()
    };
    let item = CompletionItem {
        label: format!("{word}{label}"),
        label_details: Some(CompletionItemLabelDetails { detail: None, description: Some("Baton".to_owned()) }),
        kind: Some(CompletionItemKind::Text),
        detail: Some("Baton suggestion".to_owned()),
        documentation: Some(
            MarkupContent { kind: MarkupKind::Markdown, value: format!("```\n{new_text}\n```") }.into(),
        ),
        sort_text: Some("0".to_owned()),
        filter_text: Some(new_text.clone()),
        preselect: Some(true),
        insert_text_format: Some(InsertTextFormat::PlainText),
        text_edit: Some(TextEdit { range: convert::range(&s.doc, word_start..s.cursor, encoding), new_text }.into()),
        command: Some(super::suggest::accepted_command(&uri, &s.text)),
        ..Default::default()
    };
    Ok(Some(CompletionList { is_incomplete: true, items: vec![item], ..Default::default() }.into()))
}

/// Char index where the identifier that ends at `cursor` starts.
fn word_start(doc: &crate::text::Document, cursor: usize) -> usize {
    let line_start = doc.rope.line_to_char(doc.rope.char_to_line(cursor));
    let mut start = cursor;
    while start > line_start {
        let c = doc.rope.char(start - 1);
        if !(c.is_alphanumeric() || c == '_') {
            break;
        }
        start -= 1;
    }
    start
}
