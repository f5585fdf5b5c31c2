//! The last few `didChange` notifications a document applied, so that one arriving after a newer
//! one (a client bug: Helix 25.01 sent version 7 before version 6 when a completion was accepted,
//! and the text Baton kept read `mpute_total(items)co`) is put back in version order instead of
//! being applied to a text it was not written against.

use std::collections::VecDeque;

use ropey::Rope;

use crate::text::{Document, Encoding, Pos};

/// Notifications kept. A late one seen so far came right after the one it swapped with.
const KEPT: usize = 4;

/// Most text a kept notification may carry, in bytes. A larger one (a whole text sent again)
/// lets go of the history instead: kept, each would hold its text and the text before it, a
/// copy of the document, alive.
const KEPT_BYTES: usize = 64 * 1024;

/// One content change of a notification (LSP `TextDocumentContentChangeEvent`): the range it
/// replaces, `None` for the whole text, and the new text.
pub(crate) type Change = (Option<(Pos, Pos)>, String);

/// The notifications applied since the document opened, the latest [`KEPT`], in version order.
#[derive(Debug)]
pub(crate) struct History {
    applied: VecDeque<Applied>,
    /// The version of the text before the first kept notification (the opening's, or the last
    /// one let go of).
    base: i32,
}

#[derive(Debug)]
struct Applied {
    /// The client's version after this notification.
    version: i32,
    /// The text before it.
    before: Rope,
    changes: Vec<Change>,
}

impl History {
    /// The history of a document opened at `version`.
    pub(crate) fn new(version: i32) -> Self {
        Self { applied: VecDeque::new(), base: version }
    }

    /// Records a notification applied in arrival order: the text `before` it and its changes.
    /// One carrying more than [`KEPT_BYTES`] of text is not kept, nor anything before it.
    pub(crate) fn push(&mut self, version: i32, before: Rope, changes: Vec<Change>) {
        if changes.iter().map(|(_, text)| text.len()).sum::<usize>() > KEPT_BYTES {
            self.applied.clear();
            self.base = version;
            return;
        }
        self.applied.push_back(Applied { version, before, changes });
        self.trim();
    }

    /// The text with the notification `version` (older than the document's) applied where its
    /// version puts it: on the text before the first kept notification newer than it, with those
    /// newer ones applied again after it, in order. Records it there. `None` when that cannot
    /// be told: a notification newer than it is no longer kept, or one with its version is
    /// (then the caller applies it as it comes, as before).
    pub(crate) fn insert_late(&mut self, version: i32, changes: &[Change], encoding: Encoding) -> Option<Rope> {
        if version <= self.base || self.applied.iter().any(|a| a.version == version) {
            return None;
        }
        let at = self.applied.iter().position(|a| a.version > version)?;
        let before = self.applied[at].before.clone();
        let mut doc = Document { rope: before.clone(), version, language_id: String::new() };
        for (range, text) in changes {
            doc.apply_change(*range, text, encoding);
        }
        for later in self.applied.iter_mut().skip(at) {
            later.before = doc.rope.clone();
            for (range, text) in &later.changes {
                doc.apply_change(*range, text, encoding);
            }
        }
        self.applied.insert(at, Applied { version, before, changes: changes.to_vec() });
        self.trim();
        Some(doc.rope)
    }

    fn trim(&mut self) {
        while self.applied.len() > KEPT {
            if let Some(first) = self.applied.pop_front() {
                self.base = first.version;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::OpenDocument;
    use super::*;

    fn insert(at: (u32, u32), text: &str) -> Change {
        let pos = Pos { line: at.0, character: at.1 };
        (Some((pos, pos)), text.to_owned())
    }

    fn delete(from: (u32, u32), to: (u32, u32)) -> Change {
        (Some((Pos { line: from.0, character: from.1 }, Pos { line: to.0, character: to.1 })), String::new())
    }

    /// The text after `notes` (version, changes) reach a document opened at version 1, in the
    /// order given, through [`OpenDocument::apply_notification`] as the `didChange` handler
    /// calls it; and the version the document then has.
    fn replay(open: &str, notes: &[(i32, Vec<Change>)]) -> (String, i32) {
        let mut doc = OpenDocument::new(Document::new(open, 1, "python"), "file:///p/a.py");
        for (version, changes) in notes {
            doc.apply_notification(*version, changes.clone(), Encoding::Utf16, |_, _, _| {});
        }
        (doc.doc.rope.to_string(), doc.doc.version)
    }

    /// The text alone.
    fn text(open: &str, notes: &[(i32, Vec<Change>)]) -> String {
        replay(open, notes).0
    }

    #[test]
    fn a_notification_sent_after_a_newer_one_is_applied_before_it() {
        // Helix accepting `compute_total(items)` over the typed `co`: version 6 deletes `co`,
        // version 7 inserts the item; sent 7 first.
        let typed = "    total = co\n";
        let in_order = [(6, vec![delete((0, 12), (0, 14))]), (7, vec![insert((0, 12), "compute_total(items)")])];
        let swapped = [in_order[1].clone(), in_order[0].clone()];
        let want = ("    total = compute_total(items)\n".to_owned(), 7);
        assert_eq!(replay(typed, &in_order), want);
        // The document keeps version 7: a workspace edit it answers is for the client's text.
        assert_eq!(replay(typed, &swapped), want);
        // Later notifications go on from the repaired text.
        let then = [swapped[0].clone(), swapped[1].clone(), (8, vec![insert((0, 32), ";")])];
        assert_eq!(replay(typed, &then), ("    total = compute_total(items);\n".to_owned(), 8));
        // Two late ones, and a whole-text change among the newer ones.
        let notes = [
            (4, vec![(None, "a\n".to_owned())]),
            (2, vec![insert((0, 0), "x")]),
            (3, vec![insert((0, 0), "y")]),
            (5, vec![insert((0, 1), "b")]),
        ];
        assert_eq!(replay("", &notes), ("ab\n".to_owned(), 5));
    }

    #[test]
    fn a_late_notification_that_cannot_be_placed_is_applied_as_it_comes() {
        let later = |v: i32| (v, vec![insert((0, 0), &v.to_string())]);
        // Newer notifications than it were let go of: no rewind, and the highest version stays.
        let notes: Vec<_> = (3..=8).map(later).chain([later(2)]).collect();
        assert_eq!(replay("\n", &notes), ("2876543\n".to_owned(), 8));
        // A version seen already, or not newer than the opening's.
        assert_eq!(replay("\n", &[later(3), later(4), later(3)]), ("343\n".to_owned(), 4));
        assert_eq!(text("\n", &[later(3), later(1)]), "13\n");
        // After one applied as it came, the history starts again from the text as it then is.
        let notes: Vec<_> = (3..=8).map(later).chain([later(2), later(10), later(9)]).collect();
        assert_eq!(replay("\n", &notes), ("1092876543\n".to_owned(), 10));
        // In order, or with gaps in the versions: as they come.
        assert_eq!(replay("\n", &[later(2), later(5), later(9)]), ("952\n".to_owned(), 9));
        // Older than a large notification, which is not kept (it would hold a copy of the text).
        let large = "y".repeat(KEPT_BYTES + 1);
        let notes = [later(2), (4, vec![insert((0, 0), &large)]), later(5), later(3)];
        assert_eq!(text("\n", &notes), format!("35{large}2\n"));
        let notes = [later(2), (4, vec![insert((0, 0), "y".repeat(KEPT_BYTES).as_str())]), later(3)];
        assert_eq!(text("\n", &notes), format!("{}32\n", "y".repeat(KEPT_BYTES)));
    }
}
