//! `textDocument/didChange`: apply the changes in order, all before the handler's first (and
//! only) suspension point, so changes are never reordered. The tree's positions follow at once
//! (`Tree::edit`); the reparse runs off the transport (`documents::changed`).

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::{DidChangeTextDocumentParams, TextDocumentContentChangeEvent};

use crate::lsp::convert;
use crate::lsp::documents;
use crate::lsp::session::State;

pub(crate) fn handle(state: &Arc<State>, params: DidChangeTextDocumentParams) {
    let uri = params.text_document.text_document_identifier.uri.as_ref();
    let encoding = state.encoding();
    let Some(mut open) = state.docs.get_mut(uri) else {
        tracing::warn!(uri, "didChange for a document that is not open; ignored");
        return;
    };
    let open = &mut *open;
    for change in params.content_changes {
        let (range, text) = match change {
            TextDocumentContentChangeEvent::TextDocumentContentChangePartial(p) => {
                (Some((convert::pos(p.range.start), convert::pos(p.range.end))), p.text)
            }
            TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(w) => (None, w.text),
        };
        open.apply_change(range, &text, encoding);
    }
    open.doc.version = params.text_document.version;
    documents::changed(state, uri, open);
    state.conductor.note_change(uri);
}
