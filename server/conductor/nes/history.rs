//! The recent edits of one document, the raw material of next edit predictions: a short, bounded
//! sequence of diffs, one per burst of typing (tests/nes/DESIGN.md §1).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ropey::Rope;

/// Edits kept per document; older ones are dropped first.
pub(crate) const MAX_EDITS: usize = 16;
/// Bytes of old and new text kept over all of a document's edits; older edits are dropped first,
/// and one edit larger than this is not kept (a paste or a reformat says nothing about the next
/// small edit).
pub(crate) const MAX_BYTES: usize = 16 * 1024;
/// A change this soon after the newest edit, touching or adjoining its new text, extends it.
pub(crate) const BURST: Duration = Duration::from_millis(1500);

/// One coalesced edit: in the text right after it (and every later edit, see
/// [`History::record`]), `new` stands at char index `start`, where `old` stood before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryEdit {
    /// Char index (rope) of the edit's start in the current text.
    pub(crate) start: usize,
    pub(crate) old: String,
    pub(crate) new: String,
    /// The client's document version after the edit's last change.
    pub(crate) version: i32,
    /// When its last change arrived.
    pub(crate) at: Instant,
}

impl HistoryEdit {
    /// The edit's new text as a char range of the current text.
    pub(crate) fn new_range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.new.chars().count()
    }
}

/// The recent edits of one document, oldest first. Plain data: no I/O, no LSP types.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    edits: VecDeque<HistoryEdit>,
}

impl History {
    /// The edits, oldest first.
    pub(crate) fn edits(&self) -> impl DoubleEndedIterator<Item = &HistoryEdit> + ExactSizeIterator {
        self.edits.iter()
    }

    /// The newest edit.
    pub(crate) fn last(&self) -> Option<&HistoryEdit> {
        self.edits.back()
    }

    /// Forgets everything (the document was replaced whole).
    pub(crate) fn clear(&mut self) {
        self.edits.clear();
    }

    /// Records one change: `rope` is the text before it, `start..end` the replaced char range
    /// (clamped and ordered here), `text` the new text. Call before the change is applied.
    pub(crate) fn record(&mut self, rope: &Rope, start: usize, end: usize, text: &str, version: i32, now: Instant) {
        let len = rope.len_chars();
        let (start, end) = (start.min(len), end.min(len));
        let (start, end) = (start.min(end), start.max(end));
        if start == end && text.is_empty() {
            return;
        }
        let delta = text.chars().count() as isize - (end - start) as isize;
        if let Some(last) = self.edits.back_mut() {
            let r = last.new_range();
            let adjoins = start <= r.end && end >= r.start;
            if adjoins && now.saturating_duration_since(last.at) <= BURST {
                let (u0, u1) = (start.min(r.start), end.max(r.end));
                let mut old = rope.slice(u0..r.start).to_string();
                old.push_str(&last.old);
                old.push_str(&rope.slice(r.end..u1).to_string());
                let mut new = rope.slice(u0..start).to_string();
                new.push_str(text);
                new.push_str(&rope.slice(end..u1).to_string());
                self.edits.pop_back();
                if old != new {
                    self.edits.push_back(HistoryEdit { start: u0, old, new, version, at: now });
                }
                self.bound();
                return;
            }
        }
        // Older edits follow the text: shifted when the change lands before them, dropped when it
        // rewrites part of them (their diff no longer describes the text).
        self.edits.retain_mut(|e| {
            let r = e.new_range();
            if end <= r.start {
                e.start = (e.start as isize + delta).max(0) as usize;
                true
            } else {
                start >= r.end
            }
        });
        let old = rope.slice(start..end).to_string();
        if old == text {
            return;
        }
        self.edits.push_back(HistoryEdit { start, old, new: text.to_owned(), version, at: now });
        self.bound();
    }

    fn bound(&mut self) {
        while self.edits.len() > MAX_EDITS {
            self.edits.pop_front();
        }
        let mut bytes: usize = self.edits.iter().map(|e| e.old.len() + e.new.len()).sum();
        while bytes > MAX_BYTES {
            let Some(e) = self.edits.pop_front() else { break };
            bytes -= e.old.len() + e.new.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies `(start, end, text)` changes to `text` one after another, recording each, with
    /// `gap` between changes.
    fn replay(text: &str, changes: &[(usize, usize, &str)], gap: Duration) -> (History, String) {
        let mut rope = Rope::from_str(text);
        let mut h = History::default();
        let t0 = Instant::now();
        for (k, &(s, e, t)) in changes.iter().enumerate() {
            h.record(&rope, s, e, t, k as i32 + 2, t0 + gap * k as u32);
            rope.remove(s..e);
            rope.insert(s, t);
        }
        (h, rope.to_string())
    }

    fn shown(h: &History) -> Vec<(usize, &str, &str)> {
        h.edits().map(|e| (e.start, e.old.as_str(), e.new.as_str())).collect()
    }

    #[test]
    fn typing_over_a_word_is_one_edit() {
        // `count` selected and deleted, then `total` typed a letter at a time.
        let changes = [(6, 11, ""), (6, 6, "t"), (7, 7, "o"), (8, 8, "t"), (9, 9, "a"), (10, 10, "l")];
        let (h, text) = replay("def f(count):", &changes, Duration::from_millis(80));
        assert_eq!(text, "def f(total):");
        assert_eq!(shown(&h), vec![(6, "count", "total")]);
        assert_eq!(h.last().map(|e| e.version), Some(7));
    }

    #[test]
    fn typed_and_undone_leaves_nothing_and_a_pause_starts_a_new_edit() {
        let (h, _) = replay("abc", &[(1, 1, "x"), (1, 2, "")], Duration::from_millis(10));
        assert!(h.last().is_none());
        let (h, _) = replay("abc def", &[(0, 3, "xyz"), (4, 7, "uvw")], Duration::from_secs(3));
        assert_eq!(shown(&h), vec![(0, "abc", "xyz"), (4, "def", "uvw")]);
    }

    #[test]
    fn an_edit_before_older_ones_shifts_them_and_one_inside_drops_them() {
        // `bb` -> `BBBB` at 4, then (after a pause) `a` -> `` at 0: the first moves back one.
        let (h, text) = replay("aaa bb cc", &[(4, 6, "BBBB"), (0, 1, "")], Duration::from_secs(3));
        assert_eq!(text, "aa BBBB cc");
        assert_eq!(shown(&h), vec![(3, "bb", "BBBB"), (0, "a", "")]);
        // A later change in the middle of the first edit's text drops it.
        let (h, _) = replay("aaa bb cc", &[(4, 6, "BBBB"), (5, 6, "x")], Duration::from_secs(3));
        assert_eq!(shown(&h), vec![(5, "B", "x")]);
    }

    #[test]
    fn the_history_is_bounded_in_count_and_bytes() {
        let text = "x ".repeat(40);
        let changes: Vec<(usize, usize, &str)> = (0..30).map(|k| (2 * k, 2 * k + 1, "y")).collect();
        let (h, _) = replay(&text, &changes, Duration::from_secs(3));
        assert_eq!(h.edits().len(), MAX_EDITS);
        assert_eq!(h.edits().last().map(|e| e.start), Some(58));
        let big = "z".repeat(MAX_BYTES + 1);
        let (h, _) = replay("abc", &[(0, 1, "q"), (3, 3, &big)], Duration::from_secs(3));
        assert!(h.edits().all(|e| e.new != big), "an edit over the byte cap is not kept");
    }
}
