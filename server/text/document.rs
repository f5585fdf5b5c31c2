//! An open text document: its rope, version and language id, and how a change edits it.

use ropey::Rope;

use super::position::{self, Encoding, Pos};

/// One applied change, in the byte and (row, byte column) coordinates that tree-sitter's
/// incremental parsing needs (`tree_sitter::InputEdit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    pub start_byte: usize,
    pub old_end_byte: usize,
    pub new_end_byte: usize,
    /// (row, column in bytes)
    pub start_point: (usize, usize),
    pub old_end_point: (usize, usize),
    pub new_end_point: (usize, usize),
}

/// A text document as the client last described it.
#[derive(Debug, Clone)]
pub struct Document {
    pub rope: Rope,
    /// The client's version number (LSP `VersionedTextDocumentIdentifier.version`).
    pub version: i32,
    /// The client's language id (`rust`, `python`, ...).
    pub language_id: String,
}

impl Document {
    pub fn new(text: &str, version: i32, language_id: impl Into<String>) -> Self {
        Self { rope: Rope::from_str(text), version, language_id: language_id.into() }
    }

    /// Replaces the text between two positions (clamped; swapped if reversed) with `text`, or the
    /// whole document when `range` is `None`. Returns the edit for incremental parsing.
    pub fn apply_change(&mut self, range: Option<(Pos, Pos)>, text: &str, encoding: Encoding) -> Edit {
        let (start, end) = match range {
            Some((a, b)) => {
                let a = position::to_char(&self.rope, a, encoding);
                let b = position::to_char(&self.rope, b, encoding);
                (a.min(b), a.max(b))
            }
            None => (0, self.rope.len_chars()),
        };
        let start_byte = self.rope.char_to_byte(start);
        let old_end_byte = self.rope.char_to_byte(end);
        let start_point = self.point(start_byte);
        let old_end_point = self.point(old_end_byte);
        self.rope.remove(start..end);
        self.rope.insert(start, text);
        let new_end_byte = start_byte + text.len();
        Edit {
            start_byte,
            old_end_byte,
            new_end_byte,
            start_point,
            old_end_point,
            new_end_point: self.point(new_end_byte),
        }
    }

    /// (row, byte column) of a byte offset, as tree-sitter counts points.
    pub fn point(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.rope.len_bytes());
        let row = self.rope.byte_to_line(byte);
        (row, byte - self.rope.line_to_byte(row))
    }

    /// Char index of a position in `encoding`, clamped.
    pub fn char_at(&self, pos: Pos, encoding: Encoding) -> usize {
        position::to_char(&self.rope, pos, encoding)
    }

    /// Position of a char index in `encoding`, clamped.
    pub fn pos_at(&self, char_idx: usize, encoding: Encoding) -> Pos {
        position::to_pos(&self.rope, char_idx, encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_changes_in_utf16_land_where_the_client_meant() {
        let mut d = Document::new("fn 😀() {}\nlet x;\n", 1, "rust");
        // Replace the emoji (2 UTF-16 units at 3..5) with "main".
        let e = d.apply_change(Some((Pos::new(0, 3), Pos::new(0, 5))), "main", Encoding::Utf16);
        assert_eq!(d.rope.to_string(), "fn main() {}\nlet x;\n");
        assert_eq!((e.start_byte, e.old_end_byte, e.new_end_byte), (3, 7, 7));
        // Reversed and out-of-range ranges are clamped and ordered, not a panic.
        d.apply_change(Some((Pos::new(9, 0), Pos::new(1, 3))), "", Encoding::Utf16);
        assert_eq!(d.rope.to_string(), "fn main() {}\nlet");
        d.apply_change(None, "new", Encoding::Utf8);
        assert_eq!(d.rope.to_string(), "new");
    }
}
