//! `textDocument/didChange`: apply the changes in order, all before the handler's first (and
//! only) suspension point, so changes are never reordered. The tree's positions follow at once
//! (`Tree::edit`); the reparse runs off the transport (`documents::changed`). A notification
//! older than the document's version is put back in version order (`documents::History`).
//! Two readings lead to [`apply`]: tower-lsp's router ([`handle`]), and the transport's shortcut
//! ([`read`]), which takes a well-formed notification straight from its bytes.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;
use tower_lsp_server::gen_lsp_types::{DidChangeTextDocumentParams, Position, TextDocumentContentChangeEvent, Uri};

use crate::conductor::nes::Touched;
use crate::lsp::convert;
use crate::lsp::documents;
use crate::lsp::session::State;
use crate::step_marks::{self, Step};

/// The LSP method name.
pub(crate) const METHOD: &str = "textDocument/didChange";

/// One `didChange` notification, as both readings give it to [`apply`].
#[derive(Debug, PartialEq)]
pub(crate) struct Notification {
    uri: Uri,
    version: i32,
    /// In order; a `None` range replaces the whole text.
    changes: Vec<documents::Change>,
}

/// The notification as tower-lsp's router gives it.
pub(crate) fn handle(state: &Arc<State>, params: DidChangeTextDocumentParams) {
    step_marks::mark(Step::DidChangeStart);
    apply(state, from_params(params));
}

/// The router's parameters as a [`Notification`].
fn from_params(params: DidChangeTextDocumentParams) -> Notification {
    let changes = params
        .content_changes
        .into_iter()
        .map(|change| match change {
            TextDocumentContentChangeEvent::TextDocumentContentChangePartial(p) => {
                (Some((convert::pos(p.range.start), convert::pos(p.range.end))), p.text)
            }
            TextDocumentContentChangeEvent::TextDocumentContentChangeWholeDocument(w) => (None, w.text),
        })
        .collect();
    let document = params.text_document;
    Notification { uri: document.text_document_identifier.uri, version: document.version, changes }
}

/// Reads a message's body as a `didChange` notification (JSON-RPC 2.0, LSP 3.17 §"DidChange Text
/// Document Notification") straight into [`Notification`], without the `serde_json::Value` and
/// the router's second reading of it: the message comes with every keystroke, right before the
/// completion request (`inline_completion::read`). Taking both past the router took ~0.05 ms off
/// Baton's part before the model (tests/bench/perf/RESULTS.md).
///
/// `None` for anything else, and for any body this typed reading does not take as it stands:
/// another method, an `id` (even `null`), `"jsonrpc"` other than `"2.0"`, a repeated member, a
/// member of another type, lone surrogate escapes. Those go the usual way
/// (`lsp::transport::classify`, then tower-lsp), which answers or drops them as before, so a
/// body is never handled differently for having been tried here.
pub(crate) fn read(body: &[u8]) -> Option<Notification> {
    /// The members of a message this reading needs; others are skipped, as the router skips them.
    #[derive(Deserialize)]
    struct Message {
        jsonrpc: String,
        method: String,
        /// Present at all (any value, `null` too): a request, not a notification.
        #[serde(default)]
        id: Present,
        params: Params,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        text_document: Document,
        content_changes: Vec<Change>,
    }
    #[derive(Deserialize)]
    struct Document {
        uri: Uri,
        version: i32,
    }
    /// `TextDocumentContentChangeEvent`: with a range a partial change, without one (or `null`)
    /// the whole text, as the untagged enum of `gen_lsp_types` reads it.
    #[derive(Deserialize)]
    struct Change {
        #[serde(default)]
        range: Option<Range>,
        text: String,
    }
    #[derive(Deserialize)]
    struct Range {
        start: Position,
        end: Position,
    }
    #[derive(Default)]
    struct Present(bool);
    impl<'de> Deserialize<'de> for Present {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            IgnoredAny::deserialize(d).map(|_| Present(true))
        }
    }

    // Most bodies are not this notification: a search for the method's name spares them the
    // typed reading's attempt.
    memchr::memmem::find(body, QUOTED_METHOD)?;
    let message: Message = serde_json::from_slice(body).ok()?;
    if message.jsonrpc != "2.0" || message.method != METHOD || message.id.0 {
        return None;
    }
    let Params { text_document, content_changes } = message.params;
    let changes = content_changes
        .into_iter()
        .map(|c| (c.range.map(|r| (convert::pos(r.start), convert::pos(r.end))), c.text))
        .collect();
    Some(Notification { uri: text_document.uri, version: text_document.version, changes })
}

/// `"textDocument/didChange"`, quotes included.
const QUOTED_METHOD: &[u8] = b"\"textDocument/didChange\"";

/// Applies a `didChange` notification: synchronously, so a caller that runs it at its first
/// poll keeps the notifications' order.
pub(crate) fn apply(state: &Arc<State>, notification: Notification) {
    let Notification { uri, version, changes } = notification;
    let uri = uri.as_ref();
    let encoding = state.encoding();
    let Some(mut open) = state.docs.get_mut(uri) else {
        tracing::warn!(uri, "didChange for a document that is not open; ignored");
        return;
    };
    let open = &mut *open;
    // The notification is one user action (VS Code sends a rename as several changes): the
    // history gets one edit, from the text before all of them to the text after.
    let before = open.doc.rope.clone();
    let mut touched = Some(Touched::default());
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The router's reading: the body as a `Value` (`lsp::transport::classify`), its params as
    /// `DidChangeTextDocumentParams`, converted as [`handle`] does.
    fn by_router(body: &str) -> Option<Notification> {
        let value: Value = serde_json::from_str(body).ok()?;
        Some(from_params(serde_json::from_value(value.get("params")?.clone()).ok()?))
    }

    fn message(params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":"textDocument/didChange","params":{params}}}"#)
    }

    /// What editors send is taken, and read as the router reads it.
    #[test]
    fn editors_changes_are_read_as_the_router_reads_them() {
        let bodies = [
            // VS Code: a range and rangeLength.
            message(
                r#"{"textDocument":{"uri":"file:///w/a.py","version":7},"contentChanges":[{"range":{"start":{"line":3,"character":4},"end":{"line":3,"character":4}},"rangeLength":0,"text":"x"}]}"#,
            ),
            // Neovim: several changes, members in another order, an escaped and astral text.
            message(
                r#"{"contentChanges":[{"text":"caf\u00e9 \ud83d\ude00\n","range":{"end":{"character":0,"line":1},"start":{"character":0,"line":0}}},{"range":{"start":{"line":0,"character":0},"end":{"line":0,"character":1}},"text":""}],"textDocument":{"version":2,"uri":"file:///w/b%20c.py"}}"#,
            ),
            // The whole text, and a null range (the router's untagged enum reads it as the whole).
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":8},"contentChanges":[{"text":"all"}]}"#),
            message(
                r#"{"textDocument":{"uri":"file:///w/a.py","version":9},"contentChanges":[{"range":null,"text":"all"}]}"#,
            ),
            // No changes at all, and members the protocol does not define.
            r#"{"params":{"textDocument":{"uri":"untitled:Untitled-1","version":1,"extra":1},"contentChanges":[]},"method":"textDocument/didChange","jsonrpc":"2.0","x":[1]}"#.to_owned(),
        ];
        for body in &bodies {
            let read = read(body.as_bytes());
            assert!(read.is_some(), "not taken: {body}");
            assert_eq!(read, by_router(body), "{body}");
        }
    }

    /// A body this reading does not take as it stands goes the usual way; one it takes is read
    /// as the router reads it. (Bodies a hostile client could send.)
    #[test]
    fn anything_else_goes_the_usual_way() {
        let change = r#"{"textDocument":{"uri":"file:///w/a.py","version":7},"contentChanges":[{"text":"x"}]}"#;
        let refused = [
            // A request, not a notification (any id, null included).
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"textDocument/didChange","params":{change}}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":null,"method":"textDocument/didChange","params":{change}}}"#),
            format!(r#"{{"jsonrpc":"1.0","method":"textDocument/didChange","params":{change}}}"#),
            format!(r#"{{"method":"textDocument/didChange","params":{change}}}"#),
            // Another method that names this one.
            format!(
                r#"{{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{change},"note":"textDocument/didChange"}}"#
            ),
            // Repeated members, where the router keeps the last.
            format!(r#"{{"jsonrpc":"2.0","method":"textDocument/didChange","params":{change},"params":{change}}}"#),
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":1,"version":2},"contentChanges":[]}"#),
            // Members of another type, out of range, or missing.
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":"7"},"contentChanges":[]}"#),
            message(
                r#"{"textDocument":{"uri":"file:///w/a.py","version":7},"contentChanges":[{"range":{"start":{"line":-1,"character":0},"end":{"line":0,"character":0}},"text":"x"}]}"#,
            ),
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":2147483648},"contentChanges":[]}"#),
            message(r#"{"textDocument":{"uri":"file:///w/a.py"},"contentChanges":[]}"#),
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":1},"contentChanges":[{"text":5}]}"#),
            message(r#"[]"#),
            // A URI that is not one (taken only as the router takes it), a lone surrogate, JSON
            // cut short, not JSON.
            message(r#"{"textDocument":{"uri":"not a uri","version":1},"contentChanges":[]}"#),
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":1},"contentChanges":[{"text":"\ud800"}]}"#),
            message(r#"{"textDocument":{"uri":"file:///w/a.py","version":1},"contentChanges":[{"text":"x"#),
            r#""textDocument/didChange""#.to_owned(),
        ];
        for body in &refused {
            let read = read(body.as_bytes());
            assert!(read.is_none() || read == by_router(body), "{body}: {read:?}");
        }
        assert!(refused.iter().take(5).all(|b| read(b.as_bytes()).is_none()), "a request or another method was taken");
    }
}
