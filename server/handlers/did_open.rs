//! `textDocument/didOpen`: store the document; its parse follows off the transport
//! (`documents::open`).

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::DidOpenTextDocumentParams;

use crate::lsp::documents::{self, OpenDocument};
use crate::lsp::session::State;
use crate::text::Document;

pub(crate) fn handle(state: &Arc<State>, params: DidOpenTextDocumentParams) {
    let item = params.text_document;
    let uri = item.uri.as_ref().to_owned();
    let doc = Document::new(&item.text, item.version, item.language_id);
    let open = OpenDocument::new(doc, &uri);
    documents::open(state.as_ref(), uri, open);
}
