//! `textDocument/didChange`: apply the changes in order, all before the handler's first (and
//! only) suspension point, so changes are never reordered. The tree's positions follow at once
//! (`Tree::edit`); the reparse runs off the transport (`documents::changed`). A notification
//! older than the document's version is put back in version order (`documents::History`).

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::{DidChangeTextDocumentParams, TextDocumentContentChangeEvent};

use crate::conductor::nes::Touched;
use crate::lsp::convert;
use crate::lsp::documents;
use crate::lsp::session::State;
use crate::step_marks::{self, Step};

pub(crate) fn handle(state: &Arc<State>, params: DidChangeTextDocumentParams) {
    step_marks::mark(Step::DidChangeStart);
    let uri = params.text_document.text_document_identifier.uri.as_ref();
    let encoding = state.encoding();
    let Some(mut open) = state.docs.get_mut(uri) else {
        tracing::warn!(uri, "didChange for a document that is not open; ignored");
        return;
    };
    let open = &mut *open;
    let changes: Vec<documents::Change> = params
        .content_changes
        .into_iter()
        .map(|change| match change {
            TextDocumentContentChangeEvent::TextDocumentContentChangePartial(p) => {
                (Some((convert::pos(p.range.start), convert::pos(p.range.end))), p.text)
            }
            TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(w) => (None, w.text),
        })
        .collect();
    // The notification is one user action (VS Code sends a rename as several changes): the
    // history gets one edit, from the text before all of them to the text after.
    let before = open.doc.rope.clone();
    let mut touched = Some(Touched::default());
    let version = params.text_document.version;
    let in_order =
        open.apply_notification(version, changes, encoding, |doc, range, text| match (range, &mut touched) {
            (Some((a, b)), Some(t)) => t.add(doc.char_at(a, encoding), doc.char_at(b, encoding), text.chars().count()),
            (None, _) => touched = None,
            (Some(_), None) => {}
        });
    if !in_order {
        touched = None;
    }
    state.conductor.nes.record(uri, &before, &open.doc.rope, touched.as_ref(), open.doc.version);
    documents::changed(state, uri, open);
    state.conductor.note_change(uri);
    step_marks::mark(Step::DidChangeEnd);
}
