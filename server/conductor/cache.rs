//! Recent suggestions, so that typing through a shown suggestion costs no model call: when the
//! text typed since a suggestion was made is a prefix of it, the rest is offered again.

use std::collections::VecDeque;

use ropey::Rope;

/// Chars of text before the cursor that must be unchanged for a cached suggestion to apply.
const KEY_BEFORE: usize = 512;
/// Chars of text after the cursor that must be unchanged.
const KEY_AFTER: usize = 256;

#[derive(Debug, Clone)]
struct Entry {
    doc: String,
    /// Char index of the cursor when the suggestion was made.
    cursor: usize,
    before: String,
    after: String,
    text: String,
    /// Text typed since has left the suggestion (reported once, [`Lookup::typed`]).
    left: bool,
}

/// What a [`Cache::lookup`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The rest of a cached suggestion that the text typed since it was made agrees with (never
    /// empty).
    pub(crate) rest: Option<String>,
    /// Whether the text typed since the document's latest suggestion was made is its start:
    /// `Some(true)` when typing through it, `Some(false)` once, when the typed text first leaves
    /// it; `None` when nothing was typed over it (or typed past its end, or before it). The
    /// chars between the two cursors are compared, not the text around them.
    pub(crate) typed: Option<bool>,
}

/// A small most-recent-first cache of suggestions.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    entries: VecDeque<Entry>,
}

/// The text before `cursor` (a char index) that must be unchanged for a suggestion made there
/// to apply: at most [`KEY_BEFORE`] chars.
pub(crate) fn key_before(rope: &Rope, cursor: usize) -> String {
    rope.slice(cursor.saturating_sub(KEY_BEFORE)..cursor).to_string()
}

/// The text after `cursor` (a char index) that must be unchanged: at most [`KEY_AFTER`] chars.
pub(crate) fn key_after(rope: &Rope, cursor: usize) -> String {
    rope.slice(cursor..(cursor + KEY_AFTER).min(rope.len_chars())).to_string()
}

impl Cache {
    /// Remembers `text` as the suggestion for `doc` at `cursor` (a char index into `rope`).
    pub(crate) fn insert(&mut self, doc: &str, rope: &Rope, cursor: usize, text: &str, capacity: usize) {
        let cursor = cursor.min(rope.len_chars());
        self.entries.retain(|e| !(e.doc == doc && e.cursor == cursor));
        self.entries.push_front(Entry {
            doc: doc.to_owned(),
            cursor,
            before: key_before(rope, cursor),
            after: key_after(rope, cursor),
            text: text.to_owned(),
            left: false,
        });
        self.entries.truncate(capacity.max(1));
    }

    /// The rest of a cached suggestion that the text typed since it was made agrees with, if
    /// any, and whether the text typed since the document's latest suggestion is its start.
    pub(crate) fn lookup(&mut self, doc: &str, rope: &Rope, cursor: usize) -> Lookup {
        let cursor = cursor.min(rope.len_chars());
        let mut typed = None;
        let mut latest = true;
        let rest = self.entries.iter_mut().find_map(|e| {
            if e.doc != doc {
                return None;
            }
            let is_latest = std::mem::replace(&mut latest, false);
            // Typed past the suggestion's end (or before its start): no rope slice needed to
            // rule it out (most entries, as typing moves on).
            if cursor < e.cursor || cursor - e.cursor > e.text.chars().count() {
                return None;
            }
            let since = rope.slice(e.cursor..cursor);
            let mut suggestion = e.text.chars();
            let agrees = since.chars().all(|c| suggestion.next() == Some(c));
            // A statistic, not an answer: the text around is not compared (two key copies a
            // request, most of them for a suggestion just left).
            if is_latest && cursor > e.cursor && !e.left {
                typed = Some(agrees);
                e.left = !agrees;
            }
            if !agrees {
                return None;
            }
            let rest: String = suggestion.collect();
            let unchanged = key_before(rope, e.cursor) == e.before && key_after(rope, cursor) == e.after;
            (unchanged && !rest.is_empty()).then_some(rest)
        });
        Lookup { rest, typed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_through_a_suggestion_reuses_it() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("fn main() {\n    let x = \n}\n");
        let cursor = 24;
        cache.insert("a.rs", &rope, cursor, "compute(1, 2);", 8);
        assert_eq!(cache.lookup("a.rs", &rope, cursor).rest.as_deref(), Some("compute(1, 2);"));
        rope.insert(cursor, "comp");
        assert_eq!(cache.lookup("a.rs", &rope, cursor + 4).rest.as_deref(), Some("ute(1, 2);"));
        assert_eq!(cache.lookup("b.rs", &rope, cursor + 4).rest, None, "other document");
        rope.insert(cursor + 4, "X");
        assert_eq!(cache.lookup("a.rs", &rope, cursor + 5).rest, None, "diverged from the suggestion");
    }

    /// The debounce learns from this whether keys type the model's answers.
    #[test]
    fn typing_through_the_latest_suggestion_or_leaving_it_is_reported_once_left() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("x = \n");
        cache.insert("a.py", &rope, 4, "total(item)", 8);
        assert_eq!(cache.lookup("a.py", &rope, 4).typed, None, "nothing typed yet");
        rope.insert(4, "to");
        assert_eq!(cache.lookup("a.py", &rope, 6), Lookup { rest: Some("tal(item)".into()), typed: Some(true) });
        rope.insert(6, "p");
        assert_eq!(cache.lookup("a.py", &rope, 7), Lookup { rest: None, typed: Some(false) });
        rope.insert(7, "s");
        assert_eq!(cache.lookup("a.py", &rope, 8).typed, None, "left once, reported once");
        // An older suggestion of the document does not speak for the latest.
        cache.insert("a.py", &rope, 8, "()", 8);
        cache.insert("b.py", &rope, 0, "other", 8);
        rope.insert(8, "(");
        assert_eq!(cache.lookup("a.py", &rope, 9).typed, Some(true));
    }

    #[test]
    fn an_edit_elsewhere_near_the_cursor_invalidates() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("let a = 1;\nlet b = \n");
        cache.insert("a.rs", &rope, 19, "2;", 8);
        rope.insert(0, "// changed\n");
        assert_eq!(cache.lookup("a.rs", &rope, 30).rest, None);
    }

    #[test]
    fn a_suggestion_typed_to_its_end_or_past_it_is_spent() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("x = \n");
        cache.insert("a.py", &rope, 4, "f(1)", 8);
        rope.insert(4, "f(1");
        assert_eq!(cache.lookup("a.py", &rope, 7).rest.as_deref(), Some(")"), "one char left");
        rope.insert(7, ")");
        assert_eq!(cache.lookup("a.py", &rope, 8).rest, None, "typed to its end: nothing left to offer");
        rope.insert(8, " + 2");
        assert_eq!(cache.lookup("a.py", &rope, 12).rest, None, "typed past its end");
    }
}
