//! `textDocument/inlineCompletion` (LSP 3.18 §"Inline Completion Request"): ghost text at the
//! cursor, with an accept command for the client to run when the user takes it. An invoked
//! request (the user asked, e.g. by cycling) gets up to `completion.suggestions` items, the usual
//! suggestion first, for the client to cycle through.

use std::sync::Arc;

use serde::Deserialize;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Id, Result};

use crate::lsp::convert;
use crate::lsp::session::State;
use crate::step_marks::{self, Step};

/// The LSP method name.
pub(crate) const METHOD: &str = "textDocument/inlineCompletion";

/// What [`answer`] needs of a request, as both readings give it: tower-lsp's router
/// ([`handle`]) and the transport's shortcut ([`read`]).
#[derive(Debug, PartialEq)]
pub(crate) struct Query {
    uri: Uri,
    /// UTF-16 code units or bytes, as negotiated (`positionEncoding`).
    position: Position,
    /// The user asked (`InlineCompletionTriggerKind::Invoked`), rather than typing.
    invoked: bool,
}

/// The request as tower-lsp's router gives it.
pub(crate) async fn handle(
    state: &Arc<State>,
    params: InlineCompletionParams,
) -> Result<Option<InlineCompletionResponse>> {
    answer(state, Query::from(params)).await
}

impl From<InlineCompletionParams> for Query {
    fn from(params: InlineCompletionParams) -> Self {
        let tdp = params.text_document_position_params;
        let invoked = params.context.trigger_kind == InlineCompletionTriggerKind::Invoked;
        Query { uri: tdp.text_document.uri, position: tdp.position, invoked }
    }
}

/// Reads a message's body as an inline completion request (JSON-RPC 2.0, LSP 3.18 §"Inline
/// Completion Request") straight into its id and [`Query`], without the `serde_json::Value` and
/// the router's second reading of it: the request comes with every keystroke, right behind its
/// `didChange` (`did_change::read`). Taking both past the router took ~0.05 ms off Baton's part
/// before the model (tests/bench/perf/RESULTS.md).
///
/// `None` for anything else, and for any body this typed reading does not take as it stands:
/// another method, no `id` or one that is `null` or not an integer or a string, `"jsonrpc"`
/// other than `"2.0"`, a repeated member, a member of another type, lone surrogate escapes.
/// Those go the usual way (`lsp::transport::classify`, then tower-lsp), which
/// answers them as before, so a body is never answered differently for having been tried here.
pub(crate) fn read(body: &[u8]) -> Option<(Id, Query)> {
    /// The members of a message this reading needs; others are skipped, as the router skips them.
    #[derive(Deserialize)]
    struct Message {
        jsonrpc: String,
        method: String,
        id: Id,
        params: Params,
    }
    /// `InlineCompletionParams` without its flattened parts (a flattened struct is read through
    /// serde's buffered content); the same members, of the same types, so the same bodies are
    /// taken.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        text_document: TextDocumentIdentifier,
        position: Position,
        context: InlineCompletionContext,
        #[serde(default)]
        #[expect(dead_code, reason = "read so that a body the router refuses is refused here too")]
        work_done_token: Option<ProgressToken>,
    }

    // Most bodies are not this request: a search for the method's name spares them the typed
    // reading's attempt.
    memchr::memmem::find(body, QUOTED_METHOD)?;
    let message: Message = serde_json::from_slice(body).ok()?;
    if message.jsonrpc != "2.0" || message.method != METHOD || message.id == Id::Null {
        return None;
    }
    let Params { text_document, position, context, .. } = message.params;
    let invoked = context.trigger_kind == InlineCompletionTriggerKind::Invoked;
    Some((message.id, Query { uri: text_document.uri, position, invoked }))
}

/// `"textDocument/inlineCompletion"`, quotes included.
const QUOTED_METHOD: &[u8] = b"\"textDocument/inlineCompletion\"";

/// Answers an inline completion request: the suggestion at the position, with the alternatives
/// of an invoked request ([`super::suggest::suggest`]), or an empty list.
pub(crate) async fn answer(state: &Arc<State>, query: Query) -> Result<Option<InlineCompletionResponse>> {
    step_marks::mark(Step::CompletionStart);
    let uri = query.uri.as_ref().to_owned();
    let position = convert::pos(query.position);
    let several = super::suggest::Several::Alternatives;
    let Some(s) = super::suggest::suggest(state, &uri, position, query.invoked, several).await else {
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The router's reading: the body as a `Value` (`lsp::transport::classify`), its params as
    /// `InlineCompletionParams`, converted as [`handle`] does.
    fn by_router(body: &str) -> Option<(Id, Query)> {
        let value: Value = serde_json::from_str(body).ok()?;
        let id: Id = serde_json::from_value(value.get("id")?.clone()).ok()?;
        let params: InlineCompletionParams = serde_json::from_value(value.get("params")?.clone()).ok()?;
        Some((id, Query::from(params)))
    }

    fn message(id: &str, params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"textDocument/inlineCompletion","params":{params}}}"#)
    }

    /// What editors send is taken, and read as the router reads it.
    #[test]
    fn editors_requests_are_read_as_the_router_reads_them() {
        let bodies = [
            // VS Code: automatic, with the selected completion and a progress token.
            message(
                "7",
                r#"{"context":{"triggerKind":2,"selectedCompletionInfo":{"range":{"start":{"line":1,"character":2},"end":{"line":1,"character":4}},"text":"xy"}},"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"workDoneToken":"t-1"}"#,
            ),
            // Neovim: invoked, a string id, members in another order, a percent-encoded URI.
            message(
                r#""nvim-3""#,
                r#"{"position":{"character":0,"line":0},"textDocument":{"uri":"file:///w/b%20c.py"},"context":{"triggerKind":1}}"#,
            ),
            // A null selected completion and token, a custom trigger kind, members the protocol
            // does not define.
            r#"{"params":{"textDocument":{"uri":"untitled:Untitled-1","x":1},"position":{"line":2,"character":3},"context":{"triggerKind":9,"selectedCompletionInfo":null},"workDoneToken":null},"method":"textDocument/inlineCompletion","id":-4,"jsonrpc":"2.0","x":[1]}"#.to_owned(),
        ];
        for body in &bodies {
            let read = read(body.as_bytes());
            assert!(read.is_some(), "not taken: {body}");
            assert_eq!(read, by_router(body), "{body}");
        }
    }

    /// A body this reading does not take as it stands goes the usual way. (Bodies a hostile
    /// client could send.)
    #[test]
    fn anything_else_goes_the_usual_way() {
        let params = r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"context":{"triggerKind":2}}"#;
        let refused = [
            // A notification, a null id, an id that is not an integer or a string.
            format!(r#"{{"jsonrpc":"2.0","method":"textDocument/inlineCompletion","params":{params}}}"#),
            message("null", params),
            message("1.5", params),
            message("[1]", params),
            message("9223372036854775808", params),
            format!(r#"{{"jsonrpc":"1.0","id":1,"method":"textDocument/inlineCompletion","params":{params}}}"#),
            format!(r#"{{"id":1,"method":"textDocument/inlineCompletion","params":{params}}}"#),
            // Another method that names this one.
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"textDocument/completion","params":{params},"note":"textDocument/inlineCompletion"}}"#
            ),
            // Repeated members, where the router keeps the last.
            format!(r#"{{"jsonrpc":"2.0","id":1,"id":2,"method":"textDocument/inlineCompletion","params":{params}}}"#),
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"position":{"line":2,"character":0},"context":{"triggerKind":2}}"#,
            ),
            // Members of another type, out of range, or missing.
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":-1,"character":4},"context":{"triggerKind":2}}"#,
            ),
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"context":{"triggerKind":"2"}}"#,
            ),
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"context":{"triggerKind":2},"workDoneToken":1.5}"#,
            ),
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4},"context":{"triggerKind":2,"selectedCompletionInfo":{"text":"x"}}}"#,
            ),
            message("1", r#"{"textDocument":{"uri":"file:///w/a.py"},"position":{"line":1,"character":4}}"#),
            message("1", "null"),
            message("1", "[]"),
            // A lone surrogate (the usual way replaces it).
            message(
                "1",
                r#"{"textDocument":{"uri":"file:///w/\ud800.py"},"position":{"line":1,"character":4},"context":{"triggerKind":2}}"#,
            ),
            // Not JSON, or cut short.
            message("1", params)[..60].to_owned(),
            "textDocument/inlineCompletion".to_owned(),
        ];
        for body in &refused {
            assert_eq!(read(body.as_bytes()), None, "taken: {body}");
        }
    }
}
