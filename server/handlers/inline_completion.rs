//! `textDocument/inlineCompletion` (LSP 3.18 §"Inline Completion Request"): ghost text at the
//! cursor, with an accept command for the client to run when the user takes it.

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::convert;
use crate::lsp::session::State;

pub(crate) async fn handle(state: &State, params: InlineCompletionParams) -> Result<Option<InlineCompletionResponse>> {
    let tdp = params.text_document_position_params;
    let uri = tdp.text_document.uri.as_ref().to_owned();
    let invoked = params.context.trigger_kind == InlineCompletionTriggerKind::Invoked;
    let Some(s) = super::suggest::suggest(state, &uri, convert::pos(tdp.position), invoked).await else {
        return Ok(Some(InlineCompletionList { items: vec![] }.into()));
    };
    let encoding = state.encoding();
    let item = InlineCompletionItem {
        insert_text: s.text.clone().into(),
        filter_text: None,
        range: Some(super::suggest::replaced_range(&s, encoding)),
        command: Some(super::suggest::accepted_command(&uri, &s.text)),
    };
    Ok(Some(InlineCompletionList { items: vec![item] }.into()))
}
