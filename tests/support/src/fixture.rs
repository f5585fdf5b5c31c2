//! `$0` fixtures in rust-analyzer's style: the text a test works on with `$0` where the cursor
//! is, or twice around a selection. Tests assert with `expect-test` snapshots
//! (`UPDATE_EXPECT=1` rewrites them).

use std::ops::Range;

/// Marks the cursor, or each end of a selection.
pub const MARKER: &str = "$0";

/// A fixture's text without its markers, and what they marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub text: String,
    /// Byte range in `text`: empty at the cursor for one `$0`, the selection between two.
    pub range: Range<usize>,
}

impl Fixture {
    /// Reads `fixture`. Panics (a broken test, not input) unless it has one or two markers.
    pub fn parse(fixture: &str) -> Self {
        let marks: Vec<usize> = fixture.match_indices(MARKER).map(|(at, _)| at).collect();
        match marks.as_slice() {
            [cursor] => Self { text: fixture.replacen(MARKER, "", 1), range: *cursor..*cursor },
            [start, end] => Self { text: fixture.replace(MARKER, ""), range: *start..(*end - MARKER.len()) },
            _ => panic!("a fixture has one `$0` (a cursor) or two (a selection), not {}: {fixture:?}", marks.len()),
        }
    }

    /// The cursor's byte offset. Panics when the fixture marks a selection.
    pub fn cursor(&self) -> usize {
        assert!(self.range.is_empty(), "the fixture marks a selection, not a cursor");
        self.range.start
    }

    /// The (line, UTF-16 column) of byte `offset` of the text, as an LSP position counts them
    /// (lines broken on `\n`).
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count();
        let col = before[line_start..].encode_utf16().count();
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
    }

    /// The marked range as (line, UTF-16 column) pairs.
    pub fn line_cols(&self) -> ((u32, u32), (u32, u32)) {
        (self.line_col(self.range.start), self.line_col(self.range.end))
    }
}

/// A cursor fixture: the text with its one `$0` removed and the cursor's (line, UTF-16
/// character), ready for an LSP request.
pub fn cursor(fixture: &str) -> (String, u32, u32) {
    let fixture = Fixture::parse(fixture);
    let (line, character) = fixture.line_col(fixture.cursor());
    (fixture.text, line, character)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_marker_is_a_cursor_and_two_a_selection() {
        let cursor = Fixture::parse("fn f() {\n    l😀$0et\n}");
        assert_eq!(cursor.text, "fn f() {\n    l😀et\n}");
        assert_eq!(cursor.cursor(), 18);
        assert_eq!(cursor.line_col(cursor.cursor()), (1, 7), "the emoji is two UTF-16 units");
        let selection = Fixture::parse("a\n$0bc\nd$0e");
        assert_eq!(selection.text, "a\nbc\nde");
        assert_eq!(&selection.text[selection.range.clone()], "bc\nd");
        assert_eq!(selection.line_cols(), ((1, 0), (2, 1)));
    }

    #[test]
    fn a_cursor_is_its_line_and_utf16_character() {
        assert_eq!(super::cursor("ab\nc😀$0d"), ("ab\nc😀d".to_owned(), 1, 3));
    }
}
