//! `textDocument/didOpen`: store the document and parse it.

use tower_lsp_server::gen_lsp_types::DidOpenTextDocumentParams;

use crate::server::{OpenDocument, State};
use crate::syntax::{Syntax, language_for};
use crate::text::Document;

pub fn handle(state: &State, params: DidOpenTextDocumentParams) {
    let item = params.text_document;
    let uri = item.uri.as_ref().to_owned();
    let doc = Document::new(&item.text, item.version, item.language_id);
    let syntax = language_for(&doc.language_id, &uri).and_then(|l| Syntax::parse(l, &doc.rope));
    state.docs.insert(uri, OpenDocument { doc, syntax });
}
