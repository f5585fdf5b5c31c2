//! `textDocument/inlineCompletion` (LSP 3.18 §"Inline Completion Request"): ghost text at the
//! cursor, with an accept command for the client to run when the user takes it.

use serde_json::json;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::session::State;
use crate::lsp::{convert, ext};

pub async fn handle(state: &State, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
    let tdp = params.text_document_position_params;
    let uri = tdp.text_document.uri.as_ref().to_owned();
    let invoked = params.context.trigger_kind == InlineCompletionTriggerKind::Invoked;
    let Some(s) = super::suggest::suggest(state, &uri, convert::pos(tdp.position), invoked).await else {
        return Ok(Some(InlineCompletionList { items: vec![] }.into()));
    };
    let encoding = state.encoding();
    let length = crate::text::Encoding::Utf16.len_of(&s.text) as u32;
    let item = InlineCompletionItem {
        insert_text: s.text.clone().into(),
        filter_text: None,
        range: Some(super::suggest::cursor_range(&s, encoding)),
        command: Some(Command {
            title: "Baton: suggestion accepted".to_owned(),
            command: ext::CMD_ACCEPTED.to_owned(),
            arguments: Some(vec![json!({ "uri": uri, "length": length })]),
            tooltip: None,
        }),
    };
    Ok(Some(InlineCompletionList { items: vec![item] }.into()))
}
