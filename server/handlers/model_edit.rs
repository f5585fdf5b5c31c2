//! `baton.edit` and `baton.fix`: the model rewrites the lines of a range, and the result is
//! offered with `workspace/applyEdit`, so the editor applies it (and the user can undo or reject
//! it; annotated to need confirmation where the client supports that).

use std::ops::Range as Chars;
use std::sync::atomic::{AtomicU32, Ordering};

use ropey::Rope;
use serde_json::{Value, json};
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::{NotCancellable, OngoingProgress, Unbounded};

use crate::conductor::edit::{self, EditRequest};
use crate::lsp::convert;
use crate::lsp::error::{internal, invalid_params, invalid_request};
use crate::lsp::session::State;
use crate::lsp::workspace_edit::{self, WorkspaceEditBuilder};

static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

/// What a model edit rewrites, as char ranges of the document: whole lines (the model rewrites
/// lines, and line edits read well in a diff), with context lines around them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EditSpan {
    /// Lines shown before the target, for context only.
    before: Chars<usize>,
    /// The lines to rewrite.
    target: Chars<usize>,
    /// Lines shown after the target, for context only.
    after: Chars<usize>,
}

/// The lines of `selection` (chars, ordered) and `context` lines on each side. A selection that
/// ends at the start of a later line stops before that line; the target of the last line runs
/// to the end of the text.
fn edit_span(rope: &Rope, selection: Chars<usize>, context: usize) -> EditSpan {
    let first_line = rope.char_to_line(selection.start);
    let mut last_line = rope.char_to_line(selection.end);
    if selection.end > selection.start && rope.line_to_char(last_line) == selection.end && last_line > first_line {
        last_line -= 1;
    }
    let lines = rope.len_lines();
    let start = rope.line_to_char(first_line);
    let end = if last_line + 1 >= lines { rope.len_chars() } else { rope.line_to_char(last_line + 1).max(start) };
    let before_start = rope.line_to_char(first_line.saturating_sub(context));
    let after_end = rope.line_to_char((last_line + 1 + context).min(lines)).max(end);
    EditSpan { before: before_start..start, target: start..end, after: end..after_end }
}

/// Runs the edit of `range` in `uri` following `instruction` and sends the result to the editor.
/// Returns `{ "applied": bool, "reason"?: string }`.
///
/// Errors: a secret file (InvalidRequest), a document that is not open (InvalidParams), the model
/// failing (Internal), the document changing while the model worked (InvalidRequest), the editor
/// refusing the request (InvalidRequest).
pub(super) async fn run(state: &State, uri: &str, range: Range, instruction: String) -> Result<Value> {
    let encoding = state.encoding();
    let settings = state.settings();
    let path = convert::display_path(uri);
    if crate::secrets::is_secret_path(&path, &settings.secrets.patterns) {
        return Err(invalid_request(format!(
            "{path} matches the secret file patterns ([secrets] patterns); Baton never sends it to a model"
        )));
    }
    let (_, doc) = state.snapshot(uri).ok_or_else(|| invalid_params(format!("{uri} is not open")))?;
    let rope = &doc.rope;
    let span = edit_span(rope, convert::char_range(&doc, range, encoding), settings.edit.context_lines as usize);
    let target = rope.slice(span.target.clone()).to_string();
    let request = EditRequest {
        language: doc.language_id.clone(),
        path,
        before: rope.slice(span.before.clone()).to_string(),
        target: target.clone(),
        after: rope.slice(span.after.clone()).to_string(),
        instruction: instruction.clone(),
    };

    let progress = begin_progress(state, &instruction).await;
    let provider = state.provider();
    let result = {
        let _busy = state.busy();
        edit::run(&provider, &request, &settings.edit_config()).await
    };
    if let Some(p) = progress {
        p.finish_with_message(if result.is_ok() { "edit ready" } else { "edit failed" }).await;
    }
    let new_text = match result {
        Ok(t) => {
            state.observe(Ok(()));
            t
        }
        Err(edit::EditError::Provider(e)) => {
            state.observe(Err(&e));
            return Err(internal(e.to_string()));
        }
        Err(e) => return Err(internal(e.to_string())),
    };

    let current = state.docs.get(uri).map(|d| d.doc.version);
    if current != Some(doc.version) {
        return Err(invalid_request("the document changed while the model worked; run the edit again"));
    }
    let replacements = edit::minimal_edits(&target, &new_text);
    if replacements.is_empty() {
        return Ok(json!({ "applied": false, "reason": "the model proposed no change" }));
    }
    let text_edits = convert::text_edits(&doc, rope.char_to_byte(span.target.start), replacements, encoding);
    let label = format!("Baton: {instruction}");
    let mut builder =
        WorkspaceEditBuilder::new(&state.features()).labelled(label.clone(), provider.config().model.clone());
    builder.edit(uri, Some(doc.version), text_edits);
    let applied = workspace_edit::send(&state.client, label, builder.finish())
        .await
        .map_err(|e| invalid_request(format!("the editor did not apply the edit: {}", e.message)))?;
    Ok(json!({ "applied": applied.applied, "reason": applied.failure_reason }))
}

/// A work done progress for the edit, when the client supports them and creates the token.
async fn begin_progress(state: &State, instruction: &str) -> Option<OngoingProgress<Unbounded, NotCancellable>> {
    if !state.features().work_done_progress {
        return None;
    }
    let token = ProgressToken::String(format!("baton/edit/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)));
    state.client.create_work_done_progress(token.clone()).await.ok()?;
    Some(state.client.progress(token, "Baton").with_message(format!("editing: {instruction}")).begin().await)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use baton_test_support::Fixture;

    /// The span of the fixture's selection (or cursor) with `context` lines, as text.
    fn check(fixture: &str, context: usize, expect: Expect) {
        let f = Fixture::parse(fixture);
        let rope = Rope::from_str(&f.text);
        let chars = rope.byte_to_char(f.range.start)..rope.byte_to_char(f.range.end);
        let span = edit_span(&rope, chars, context);
        let show = |r: Chars<usize>| format!("{:?}", rope.slice(r).to_string());
        expect.assert_eq(&format!(
            "before {}\ntarget {}\nafter  {}",
            show(span.before),
            show(span.target),
            show(span.after)
        ));
    }

    #[test]
    fn a_cursor_rewrites_its_line() {
        check(
            "fn a() {}\nfn b() {\n    $01\n}\nfn c() {}\n",
            1,
            expect![[r#"
                before "fn b() {\n"
                target "    1\n"
                after  "}\n""#]],
        );
    }

    #[test]
    fn a_selection_grows_to_whole_lines() {
        check(
            "fn a() {}\nfn $0b() {\n    1\n}$0\nfn c() {}\n",
            0,
            expect![[r#"
                before ""
                target "fn b() {\n    1\n}\n"
                after  """#]],
        );
    }

    #[test]
    fn a_selection_ending_at_the_start_of_a_line_stops_before_it() {
        check(
            "fn a() {}\n$0fn b() {\n    1\n$0}\nfn c() {}\n",
            2,
            expect![[r#"
                before "fn a() {}\n"
                target "fn b() {\n    1\n"
                after  "}\nfn c() {}\n""#]],
        );
    }

    #[test]
    fn the_last_line_runs_to_the_end_of_the_text() {
        check(
            "fn a() {}\nlet x = $01;",
            5,
            expect![[r#"
                before "fn a() {}\n"
                target "let x = 1;"
                after  """#]],
        );
        // After the final line break there is an empty line; its target is empty.
        check(
            "fn a() {}\n$0",
            1,
            expect![[r#"
                before "fn a() {}\n"
                target ""
                after  """#]],
        );
    }
}
