//! Conversions between LSP positions and ranges and the text layer's clamped [`Pos`] offsets.

use tower_lsp_server::gen_lsp_types::{Position, Range};

use crate::text::{Document, Encoding, Pos};

pub fn pos(p: Position) -> Pos {
    Pos::new(p.line, p.character)
}

pub fn position(p: Pos) -> Position {
    Position { line: p.line, character: p.character }
}

/// The char range a client range covers in `doc`, clamped and ordered.
pub fn char_range(doc: &Document, r: Range, enc: Encoding) -> std::ops::Range<usize> {
    let a = doc.char_at(pos(r.start), enc);
    let b = doc.char_at(pos(r.end), enc);
    a.min(b)..a.max(b)
}

/// The client range of a char range in `doc`.
pub fn range(doc: &Document, r: std::ops::Range<usize>, enc: Encoding) -> Range {
    Range { start: position(doc.pos_at(r.start, enc)), end: position(doc.pos_at(r.end, enc)) }
}
