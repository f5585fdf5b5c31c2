//! `textDocument/didClose`: drop the document and wake any completion waiting on it.

use tower_lsp_server::gen_lsp_types::DidCloseTextDocumentParams;

use crate::server::State;

pub fn handle(state: &State, params: DidCloseTextDocumentParams) {
    let uri = params.text_document.uri.as_ref();
    state.docs.remove(uri);
    state.conductor.forget(uri);
}
