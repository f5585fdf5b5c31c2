//! Positions (line, character in a negotiated encoding) and their clamped conversion to rope offsets.
//!
//! Lines are split on `\n`, `\r\n` and `\r` only, as LSP 3.17 §"Text Documents" defines them
//! (ropey is built without `unicode_lines`). Every conversion clamps: a line past the end maps to
//! the end of the text, a character past the end of its line maps to the end of that line (before
//! its line break), and an offset inside a multi-unit character rounds down to its start.

use ropey::{Rope, RopeSlice};

/// The unit that [`Pos::character`] counts (LSP `PositionEncodingKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 code units (bytes).
    Utf8,
    /// UTF-16 code units: the LSP default, mandatory for every server.
    #[default]
    Utf16,
    /// Unicode scalar values (ropey's `char`s).
    Utf32,
}

impl Encoding {
    /// The LSP name: `utf-8`, `utf-16` or `utf-32`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf32 => "utf-32",
        }
    }

    /// Parses an LSP encoding name; `None` for names Baton does not support.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "utf-8" => Some(Encoding::Utf8),
            "utf-16" => Some(Encoding::Utf16),
            "utf-32" => Some(Encoding::Utf32),
            _ => None,
        }
    }

    /// Picks the encoding from the client's offer, in the client's order of preference, among
    /// those Baton supports; UTF-16 when the client offers none (LSP 3.17 `positionEncodings`).
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Self {
        offered.into_iter().find_map(Encoding::from_name).unwrap_or_default()
    }

    /// Length of `text` in this encoding's units.
    pub fn len_of(self, text: &str) -> usize {
        match self {
            Encoding::Utf8 => text.len(),
            Encoding::Utf16 => text.encode_utf16().count(),
            Encoding::Utf32 => text.chars().count(),
        }
    }
}

/// A zero-based line and a character offset within it, counted in some [`Encoding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u32,
    pub character: u32,
}

impl Pos {
    pub fn new(line: u32, character: u32) -> Self {
        Self { line, character }
    }
}

/// Number of chars in `line` before its line break (`\n`, `\r\n` or `\r`).
pub fn line_len_chars(line: RopeSlice<'_>) -> usize {
    let len = line.len_chars();
    if len == 0 {
        return 0;
    }
    match line.char(len - 1) {
        '\n' if len >= 2 && line.char(len - 2) == '\r' => len - 2,
        '\n' | '\r' => len - 1,
        _ => len,
    }
}

/// Converts a position to a char index into `rope`, clamping as the module doc says. Never panics.
pub fn to_char(rope: &Rope, pos: Pos, encoding: Encoding) -> usize {
    let line_idx = pos.line as usize;
    if line_idx >= rope.len_lines() {
        return rope.len_chars();
    }
    let line_start = rope.line_to_char(line_idx);
    let line = rope.line(line_idx);
    let content_chars = line_len_chars(line);
    let character = pos.character as usize;
    let within = match encoding {
        Encoding::Utf32 => character.min(content_chars),
        Encoding::Utf8 => {
            let content_bytes = line.char_to_byte(content_chars);
            // byte_to_char rounds an offset inside a character down to that character's start.
            line.byte_to_char(character.min(content_bytes))
        }
        Encoding::Utf16 => {
            let content_units = line.char_to_utf16_cu(content_chars);
            // utf16_cu_to_char rounds the middle of a surrogate pair down to the pair's start.
            line.utf16_cu_to_char(character.min(content_units))
        }
    };
    line_start + within
}

/// Converts a char index into `rope` to a position (clamped to the end of the text). Never panics.
pub fn to_pos(rope: &Rope, char_idx: usize, encoding: Encoding) -> Pos {
    let char_idx = char_idx.min(rope.len_chars());
    let line_idx = rope.char_to_line(char_idx);
    let line_start = rope.line_to_char(line_idx);
    let character = match encoding {
        Encoding::Utf32 => char_idx - line_start,
        Encoding::Utf8 => rope.char_to_byte(char_idx) - rope.char_to_byte(line_start),
        Encoding::Utf16 => rope.char_to_utf16_cu(char_idx) - rope.char_to_utf16_cu(line_start),
    };
    Pos::new(saturate(line_idx), saturate(character))
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rope(s: &str) -> Rope {
        Rope::from_str(s)
    }

    #[test]
    fn negotiation_prefers_clients_order_and_defaults_to_utf16() {
        assert_eq!(Encoding::negotiate(["utf-8", "utf-16"]), Encoding::Utf8);
        assert_eq!(Encoding::negotiate(["utf-32", "utf-8"]), Encoding::Utf32);
        assert_eq!(Encoding::negotiate(["latin-1"]), Encoding::Utf16);
        assert_eq!(Encoding::negotiate([]), Encoding::Utf16);
    }

    #[test]
    fn emoji_counts_two_utf16_units_four_bytes_one_char() {
        let r = rope("a😀b\n");
        // 'b' sits after the emoji.
        assert_eq!(to_char(&r, Pos::new(0, 3), Encoding::Utf16), 2);
        assert_eq!(to_char(&r, Pos::new(0, 5), Encoding::Utf8), 2);
        assert_eq!(to_char(&r, Pos::new(0, 2), Encoding::Utf32), 2);
        // Inside the surrogate pair / inside the UTF-8 sequence: rounds down to the emoji.
        assert_eq!(to_char(&r, Pos::new(0, 2), Encoding::Utf16), 1);
        assert_eq!(to_char(&r, Pos::new(0, 3), Encoding::Utf8), 1);
    }

    #[test]
    fn clamps_past_line_end_and_past_last_line() {
        let r = rope("ab\r\ncd\n");
        assert_eq!(to_char(&r, Pos::new(0, 99), Encoding::Utf16), 2, "stops before CRLF");
        assert_eq!(to_char(&r, Pos::new(1, 99), Encoding::Utf8), 6);
        assert_eq!(to_char(&r, Pos::new(2, 0), Encoding::Utf16), 7, "empty last line");
        assert_eq!(to_char(&r, Pos::new(9, 9), Encoding::Utf16), 7, "past the end");
        assert_eq!(to_pos(&r, 999, Encoding::Utf16), Pos::new(2, 0));
    }

    #[test]
    fn lone_cr_is_a_line_break_but_unicode_separators_are_not() {
        let r = rope("a\rb\u{2028}c");
        assert_eq!(r.len_lines(), 2);
        assert_eq!(to_pos(&r, 4, Encoding::Utf16), Pos::new(1, 2));
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("a"),
                Just("é"),
                Just("中文"),
                Just("😀"),
                Just("👩‍💻"),
                Just("\n"),
                Just("\r\n"),
                Just("\r"),
                Just(""),
                Just(" "),
                Just("\t"),
                Just("\u{2028}"),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    fn encodings() -> impl Strategy<Value = Encoding> {
        prop_oneof![Just(Encoding::Utf8), Just(Encoding::Utf16), Just(Encoding::Utf32)]
    }

    proptest! {
        #[test]
        fn any_position_converts_without_panic_and_lands_on_a_line(
            text in text_strategy(), line in 0u32..50, character in 0u32..200, enc in encodings()
        ) {
            let r = rope(&text);
            let c = to_char(&r, Pos::new(line, character), enc);
            prop_assert!(c <= r.len_chars());
            let back = to_pos(&r, c, enc);
            prop_assert!(back.line <= line);
            // The clamped position never points past its line's content.
            let l = r.line(back.line as usize);
            let max = enc.len_of(&l.slice(..line_len_chars(l)).to_string());
            prop_assert!(back.character as usize <= max);
        }

        #[test]
        fn every_char_index_round_trips(text in text_strategy(), enc in encodings()) {
            let r = rope(&text);
            for c in 0..=r.len_chars() {
                let p = to_pos(&r, c, enc);
                let line = r.line(p.line as usize);
                // Indices inside a CRLF pair have no position of their own; all others round-trip.
                let in_line_break = c - r.line_to_char(p.line as usize) > line_len_chars(line);
                if !in_line_break {
                    prop_assert_eq!(to_char(&r, p, enc), c);
                }
            }
        }
    }
}
