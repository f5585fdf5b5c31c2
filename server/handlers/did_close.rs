//! `textDocument/didClose`: drop the document, stop its parse, and wake any completion waiting
//! on it.

use tower_lsp_server::gen_lsp_types::DidCloseTextDocumentParams;

use crate::lsp::documents;
use crate::lsp::session::State;

pub(crate) fn handle(state: &State, params: DidCloseTextDocumentParams) {
    let uri = params.text_document.uri.as_ref();
    documents::close(state, uri);
    state.conductor.forget(uri);
}
