//! `textDocument/completion`, for clients without inline completion (Helix, Neovim < 0.12):
//! the suggestion as one completion item whose `textEdit` replaces the word before the cursor,
//! so the editor's own filtering by that word keeps it in the menu.

use std::sync::Arc;

use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::convert;
use crate::lsp::session::State;
use crate::text::{Document, Encoding, first_line};

/// Longest label, in chars (with its ellipsis); the documentation shows the whole suggestion.
const LABEL_CHARS: usize = 60;

pub(crate) async fn handle(state: &Arc<State>, params: CompletionParams) -> Result<Option<CompletionResponse>> {
    if state.features().inline_completion {
        // The client shows suggestions as ghost text; a menu entry would show them twice.
        return Ok(None);
    }
    let tdp = params.text_document_position_params;
    let uri = tdp.text_document.uri.as_ref().to_owned();
    let invoked = params.context.as_ref().is_some_and(|c| c.trigger_kind == CompletionTriggerKind::Invoked);
    let items =
        match super::suggest::suggest(state, &uri, convert::pos(tdp.position), invoked, super::suggest::Several::One)
            .await
        {
            Some(s) => {
                let mut item = completion_item(&s.doc, s.cursor, s.replace, &s.text, state.encoding());
                item.command = Some(super::suggest::accepted_command(&uri, &s.text));
                vec![item]
            }
            None => vec![],
        };
    Ok(Some(CompletionList { is_incomplete: true, items, ..Default::default() }.into()))
}

/// The completion item for suggestion `text` at char `cursor` of `doc`: it replaces the word
/// before the cursor with that word and the suggestion, so the word the editor filters by is a
/// prefix of the item's text. It also replaces the `replace` chars after the cursor (a tail of
/// closers the suggestion ends with).
fn completion_item(doc: &Document, cursor: usize, replace: usize, text: &str, encoding: Encoding) -> CompletionItem {
    let word_start = word_start(doc, cursor);
    let word: String = doc.rope.slice(word_start..cursor).to_string();
    let new_text = format!("{word}{text}");
    CompletionItem {
        label: format!("{word}{}", first_line(text, LABEL_CHARS)),
        label_details: Some(CompletionItemLabelDetails { detail: None, description: Some("Baton".to_owned()) }),
        kind: Some(CompletionItemKind::Text),
        detail: Some("Baton suggestion".to_owned()),
        documentation: Some(
            MarkupContent { kind: MarkupKind::Markdown, value: format!("```\n{new_text}\n```") }.into(),
        ),
        sort_text: Some("0".to_owned()),
        filter_text: Some(new_text.clone()),
        preselect: Some(true),
        insert_text_format: Some(InsertTextFormat::PlainText),
        text_edit: Some(
            TextEdit {
                range: convert::range(doc, word_start..(cursor + replace).min(doc.rope.len_chars()), encoding),
                new_text,
            }
            .into(),
        ),
        ..Default::default()
    }
}

/// Char index where the identifier (letters, digits, `_`) that ends at `cursor` starts, on the
/// cursor's line.
fn word_start(doc: &Document, cursor: usize) -> usize {
    let line_start = doc.rope.line_to_char(doc.rope.char_to_line(cursor));
    let mut start = cursor;
    while start > line_start {
        let c = doc.rope.char(start - 1);
        if !(c.is_alphanumeric() || c == '_') {
            break;
        }
        start -= 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use baton_test_support::Fixture;

    /// The item for suggestion `text` at the fixture's cursor, in UTF-16: the range it replaces,
    /// its label and the text it inserts.
    fn check(fixture: &str, text: &str, expect: Expect) {
        let f = Fixture::parse(fixture);
        let doc = Document::new(&f.text, 1, "rust");
        let cursor = doc.rope.byte_to_char(f.cursor());
        let item = completion_item(&doc, cursor, 0, text, Encoding::Utf16);
        let Some(CompletionItemTextEdit::TextEdit(edit)) = item.text_edit else { panic!("a plain text edit") };
        let (s, e) = (edit.range.start, edit.range.end);
        expect.assert_eq(&format!(
            "{}:{}-{}:{} {:?} label {:?} filter {:?}",
            s.line,
            s.character,
            e.line,
            e.character,
            edit.new_text,
            item.label,
            item.filter_text.unwrap_or_default()
        ));
    }

    #[test]
    fn the_item_replaces_the_word_before_the_cursor() {
        check(
            "fn main() {\n    let t = comp$0;\n}\n",
            "uted_total(a, b)",
            expect![[r#"1:12-1:16 "computed_total(a, b)" label "computed_total(a, b)" filter "computed_total(a, b)""#]],
        );
    }

    #[test]
    fn after_punctuation_nothing_is_replaced() {
        check("let v = (a, $0", "b)", expect![[r#"0:12-0:12 "b)" label "b)" filter "b)""#]]);
    }

    #[test]
    fn the_word_counts_in_utf16_and_stops_at_the_line_start() {
        // `é` is one UTF-16 unit, `𝑥` (outside the BMP) two; the word never reaches the line above.
        check("ab\nĕ𝑥_1$0", "0 = 1", expect![[r#"1:0-1:5 "ĕ𝑥_10 = 1" label "ĕ𝑥_10 = 1" filter "ĕ𝑥_10 = 1""#]]);
    }

    #[test]
    fn a_long_or_multi_line_suggestion_is_labelled_by_its_first_line_cut_short() {
        let doc = Document::new("    ", 1, "rust");
        let long = format!("\n{}\nmore();\n", "x".repeat(80));
        let item = completion_item(&doc, 4, 0, &long, Encoding::Utf16);
        assert_eq!(item.label, format!("{}…", "x".repeat(LABEL_CHARS - 1)));
        assert_eq!(item.filter_text.as_deref(), Some(long.as_str()), "the whole suggestion is inserted");
    }
}
