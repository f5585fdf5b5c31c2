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

/// The chars one `didChange` notification touched, gathered change by change as they are
/// applied, so its content changes can be recorded as the one user action they are (VS Code
/// sends a workspace edit, e.g. a rename, as several changes in one notification).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Touched {
    /// The union of the changes' ranges as a char range of the text after the changes seen so
    /// far: outside it, that text equals the text before the notification.
    span: Option<(usize, usize)>,
    /// Chars added (negative: removed) by the changes seen so far.
    delta: isize,
    /// Changes seen so far.
    changes: usize,
}

impl Touched {
    /// Adds one change, in the order applied: `start..end` the replaced char range of the text
    /// as the previous changes left it (ordered, clamped), `inserted` the new text's length in
    /// chars.
    pub(crate) fn add(&mut self, start: usize, end: usize, inserted: usize) {
        let (start, end) = (start.min(end), start.max(end));
        let delta = inserted as isize - (end - start) as isize;
        self.span = Some(match self.span {
            None => (start, start + inserted),
            // Chars at or after `end` move by `delta`; the union's end is at or after `end`.
            Some((lo, hi)) => (lo.min(start), (hi.max(end) as isize + delta).max(0) as usize),
        });
        self.delta += delta;
        self.changes += 1;
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

    /// Records one notification's changes as one change: `before` and `after` the text before
    /// and after all of them, `touched` what they touched. One change is recorded as sent. Several
    /// are recorded as the span they touched with its common prefix and suffix trimmed: a split
    /// edit (a minimal diff, as VS Code sends a rename) records the same as the one change it
    /// stands for. The work is linear in the span, not in the document.
    ///
    /// A lone change is not trimmed: typing `t` over a selected `count` trimmed would be `coun`
    /// deleted, which leaves the cursor after the edit's new text and breaks the burst.
    pub(crate) fn record_action(&mut self, before: &Rope, after: &Rope, touched: &Touched, version: i32, now: Instant) {
        let Some((lo, hi)) = touched.span else { return };
        let hi = hi.min(after.len_chars());
        let old_hi = (hi as isize - touched.delta).clamp(0, before.len_chars() as isize) as usize;
        let lo = lo.min(hi).min(old_hi);
        let (old_len, new_len) = (old_hi - lo, hi - lo);
        if touched.changes == 1 {
            let text = after.slice(lo..hi).to_string();
            self.record(before, lo, old_hi, &text, version, now);
            return;
        }
        let prefix =
            before.chars_at(lo).zip(after.chars_at(lo)).take(old_len.min(new_len)).take_while(|(a, b)| a == b).count();
        let suffix = before
            .chars_at(old_hi)
            .reversed()
            .zip(after.chars_at(hi).reversed())
            .take(old_len.min(new_len) - prefix)
            .take_while(|(a, b)| a == b)
            .count();
        let text = after.slice(lo + prefix..hi - suffix).to_string();
        self.record(before, lo + prefix, old_hi - suffix, &text, version, now);
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

    /// Applies `(start, end, text)` changes of one notification in order and records them as one
    /// action, as the `didChange` handler does (ranges clamped and ordered like `Document`'s).
    fn act(h: &mut History, rope: &mut Rope, changes: &[(usize, usize, &str)], version: i32, now: Instant) {
        let before = rope.clone();
        let mut touched = Touched::default();
        for &(s, e, t) in changes {
            let (s, e) = (s.min(rope.len_chars()), e.min(rope.len_chars()));
            let (s, e) = (s.min(e), s.max(e));
            touched.add(s, e, t.chars().count());
            rope.remove(s..e);
            rope.insert(s, t);
        }
        h.record_action(&before, rope, &touched, version, now);
    }

    fn one_action(text: &str, changes: &[(usize, usize, &str)]) -> (History, String) {
        let (mut h, mut rope) = (History::default(), Rope::from_str(text));
        act(&mut h, &mut rope, changes, 2, Instant::now());
        (h, rope.to_string())
    }

    #[test]
    fn a_rename_sent_as_one_change_or_as_three_is_the_same_edit() {
        let text = "def scale(value, factor):\n    return value * factor\n";
        let renamed = "def scale(amount, factor):\n    return value * factor\n";
        let (one, after) = one_action(text, &[(10, 15, "amount")]);
        assert_eq!(after, renamed);
        assert_eq!(shown(&one), vec![(10, "value", "amount")]);
        // VS Code's split of a workspace edit: a minimal char diff, last range first.
        let (three, after) = one_action(text, &[(14, 15, "nt"), (12, 13, "mo"), (10, 11, "")]);
        assert_eq!(after, renamed);
        assert_eq!(shown(&three), shown(&one));
        // The same split first to last: each range already shifted by the ones before it.
        let (forward, after) = one_action(text, &[(10, 11, ""), (11, 12, "mo"), (14, 15, "nt")]);
        assert_eq!(after, renamed);
        assert_eq!(shown(&forward), shown(&one));
        // Without the merge the history would end on a lone deletion of `v`.
        let (apart, _) = replay(text, &[(14, 15, "nt"), (12, 13, "mo"), (10, 11, "")], Duration::ZERO);
        assert_ne!(shown(&apart), shown(&one));
    }

    #[test]
    fn an_action_spans_its_changes_trimmed_and_joins_the_burst_before_it() {
        // Changes far apart, one before another, non-ASCII: one edit from the first changed
        // char to the last, in chars.
        let (h, after) = one_action("é1 ab cd ef", &[(9, 11, "EF"), (0, 1, "ÉÉ"), (4, 5, "A")]);
        assert_eq!(after, "ÉÉ1 Ab cd EF");
        assert_eq!(shown(&h), vec![(0, "é1 ab cd ef", "ÉÉ1 Ab cd EF")]);
        // Changes that undo each other record nothing; so does an empty notification.
        let (h, after) = one_action("abc", &[(1, 1, "xy"), (1, 3, "")]);
        assert_eq!(after, "abc");
        assert!(h.last().is_none());
        let (h, _) = one_action("abc", &[]);
        assert!(h.last().is_none());
        // Ranges out of the text are clamped, not a panic.
        let (h, after) = one_action("abc", &[(99, 2, "Z"), (usize::MAX, usize::MAX, "!")]);
        assert_eq!(after, "abZ!");
        assert_eq!(shown(&h), vec![(2, "c", "Z!")]);
        // A typed letter, then a split action adjoining it within the burst: one edit.
        let (mut h, mut rope) = (History::default(), Rope::from_str("f(count)"));
        let t0 = Instant::now();
        act(&mut h, &mut rope, &[(2, 7, "t")], 2, t0);
        act(&mut h, &mut rope, &[(3, 3, "al"), (3, 3, "ot")], 3, t0 + Duration::from_millis(50));
        assert_eq!(rope.to_string(), "f(total)");
        assert_eq!(shown(&h), vec![(2, "count", "total")]);
        assert_eq!(h.last().map(|e| e.version), Some(3));
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
