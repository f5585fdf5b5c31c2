//! `textDocument/inlineCompletion` (LSP 3.18 §"Inline Completion Request"): ghost text at the
//! cursor, with an accept command for the client to run when the user takes it. An invoked
//! request (the user asked, e.g. by cycling) gets up to `completion.suggestions` items, the usual
//! suggestion first, for the client to cycle through.

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::convert;
use crate::lsp::session::State;
use crate::step_marks::{self, Step};

pub(crate) async fn handle(
    state: &Arc<State>,
    params: InlineCompletionParams,
) -> Result<Option<InlineCompletionResponse>> {
    step_marks::mark(Step::CompletionStart);
    let tdp = params.text_document_position_params;
    let uri = tdp.text_document.uri.as_ref().to_owned();
    let invoked = params.context.trigger_kind == InlineCompletionTriggerKind::Invoked;
    let position = convert::pos(tdp.position);
    let several = super::suggest::Several::Alternatives;
    let Some(s) = super::suggest::suggest(state, &uri, position, invoked, several).await else {
        return Ok(Some(InlineCompletionList { items: vec![] }.into()));
    };
    let range = super::suggest::replaced_range(&s, state.encoding());
    let items = std::iter::once(&s.text)
        .chain(&s.alternatives)
        .map(|text| InlineCompletionItem {
            insert_text: text.clone().into(),
            filter_text: None,
            range: Some(range),
            command: Some(super::suggest::accepted_command(&uri, text)),
        })
        .collect();
    step_marks::mark(Step::CompletionEnd);
    Ok(Some(InlineCompletionList { items }.into()))
}
