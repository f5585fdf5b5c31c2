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
        });
        self.entries.truncate(capacity.max(1));
    }

    /// The rest of a cached suggestion that the text typed since it was made agrees with, if any
    /// (never empty).
    pub(crate) fn lookup(&self, doc: &str, rope: &Rope, cursor: usize) -> Option<String> {
        let cursor = cursor.min(rope.len_chars());
        self.entries.iter().find_map(|e| {
            if e.doc != doc || cursor < e.cursor {
                return None;
            }
            // Typed past the suggestion's end: no rope slice needed to rule it out (most entries,
            // as typing moves on).
            if cursor - e.cursor >= e.text.chars().count() {
                return None;
            }
            let typed = rope.slice(e.cursor..cursor);
            let mut suggestion = e.text.chars();
            if !typed.chars().all(|c| suggestion.next() == Some(c)) {
                return None;
            }
            let rest: String = suggestion.collect();
            let unchanged = key_before(rope, e.cursor) == e.before && key_after(rope, cursor) == e.after;
            unchanged.then_some(rest)
        })
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
        assert_eq!(cache.lookup("a.rs", &rope, cursor).as_deref(), Some("compute(1, 2);"));
        rope.insert(cursor, "comp");
        assert_eq!(cache.lookup("a.rs", &rope, cursor + 4).as_deref(), Some("ute(1, 2);"));
        assert_eq!(cache.lookup("b.rs", &rope, cursor + 4), None, "other document");
        rope.insert(cursor + 4, "X");
        assert_eq!(cache.lookup("a.rs", &rope, cursor + 5), None, "diverged from the suggestion");
    }

    #[test]
    fn an_edit_elsewhere_near_the_cursor_invalidates() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("let a = 1;\nlet b = \n");
        cache.insert("a.rs", &rope, 19, "2;", 8);
        rope.insert(0, "// changed\n");
        assert_eq!(cache.lookup("a.rs", &rope, 30), None);
    }

    #[test]
    fn a_suggestion_typed_to_its_end_or_past_it_is_spent() {
        let mut cache = Cache::default();
        let mut rope = Rope::from_str("x = \n");
        cache.insert("a.py", &rope, 4, "f(1)", 8);
        rope.insert(4, "f(1");
        assert_eq!(cache.lookup("a.py", &rope, 7).as_deref(), Some(")"), "one char left");
        rope.insert(7, ")");
        assert_eq!(cache.lookup("a.py", &rope, 8), None, "typed to its end: nothing left to offer");
        rope.insert(8, " + 2");
        assert_eq!(cache.lookup("a.py", &rope, 12), None, "typed past its end");
    }
}
