//! Conversions between LSP values and Baton's plain data: positions and ranges to the text
//! layer's clamped [`Pos`] offsets, `file://` URIs to paths and back (on the `url` crate, RFC 8089),
//! and diagnostics' messages to text. The only place LSP positions become text positions.

use std::path::{Path, PathBuf};

use tower_lsp_server::gen_lsp_types::{Message, Position, Range, TextEdit};

use crate::conductor::edit::Replacement;
use crate::text::{Document, Encoding, Pos};

pub(crate) fn pos(p: Position) -> Pos {
    Pos::new(p.line, p.character)
}

pub(crate) fn position(p: Pos) -> Position {
    Position { line: p.line, character: p.character }
}

/// The char range a client range covers in `doc`, clamped and ordered.
pub(crate) fn char_range(doc: &Document, r: Range, enc: Encoding) -> std::ops::Range<usize> {
    let a = doc.char_at(pos(r.start), enc);
    let b = doc.char_at(pos(r.end), enc);
    a.min(b)..a.max(b)
}

/// The client range of a char range in `doc`.
pub(crate) fn range(doc: &Document, r: std::ops::Range<usize>, enc: Encoding) -> Range {
    Range { start: position(doc.pos_at(r.start, enc)), end: position(doc.pos_at(r.end, enc)) }
}

/// Text edits for `replacements` (byte ranges relative to byte `base` of `doc`'s text, as
/// [`crate::conductor::edit::minimal_edits`] returns them), in the client's encoding.
pub(crate) fn text_edits(doc: &Document, base: usize, replacements: Vec<Replacement>, enc: Encoding) -> Vec<TextEdit> {
    let rope = &doc.rope;
    let char_at = |byte: usize| rope.byte_to_char((base + byte).min(rope.len_bytes()));
    replacements
        .into_iter()
        .map(|r| TextEdit { range: range(doc, char_at(r.start)..char_at(r.end), enc), new_text: r.text })
        .collect()
}

/// A diagnostic's message as plain text (markup as written).
pub(crate) fn message_text(m: &Message) -> &str {
    match m {
        Message::String(s) => s,
        Message::MarkupContent(m) => &m.value,
    }
}

/// Why a URI names no file path, or a path no URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UriError {
    #[error("{uri} is not a URI ({reason})")]
    Malformed { uri: String, reason: url::ParseError },
    #[error("{uri} is not a file URI (scheme `{scheme}`); Baton works on files on this machine")]
    NotFile { uri: String, scheme: String },
    #[error("{uri} names a file on another host ({host}); Baton works on files on this machine")]
    OtherHost { uri: String, host: String },
    #[error("{uri} names no single file path: a path segment decodes to `/` or a NUL byte")]
    Ambiguous { uri: String },
    #[error("{path} is not an absolute path, so no file URI names it")]
    NotAbsolute { path: String },
    #[error("no file URI names {path} exactly (it would read back as another path)")]
    NotExact { path: String },
}

/// The path a `file://` URI names: percent-decoded (bytes, so a non-UTF-8 name survives), on this
/// machine (no host, or `localhost`).
///
/// Errors: not a URI ([`UriError::Malformed`]), another scheme (`untitled:`, `http:`:
/// [`UriError::NotFile`]), another host ([`UriError::OtherHost`]), a segment whose decoding holds
/// `/` or NUL (`%2F`, `%00`: [`UriError::Ambiguous`]), which no path could round-trip.
pub(crate) fn file_path(uri: &str) -> Result<PathBuf, UriError> {
    let url = url::Url::parse(uri).map_err(|reason| UriError::Malformed { uri: uri.to_owned(), reason })?;
    if url.scheme() != "file" {
        return Err(UriError::NotFile { uri: uri.to_owned(), scheme: url.scheme().to_owned() });
    }
    if let Some(host) = url.host_str().filter(|h| !h.is_empty() && *h != "localhost") {
        return Err(UriError::OtherHost { uri: uri.to_owned(), host: host.to_owned() });
    }
    let ambiguous = url
        .path_segments()
        .into_iter()
        .flatten()
        .any(|segment| percent_encoding::percent_decode_str(segment).any(|b| b == b'/' || b == 0));
    if ambiguous {
        return Err(UriError::Ambiguous { uri: uri.to_owned() });
    }
    url.to_file_path().map_err(|()| UriError::NotFile { uri: uri.to_owned(), scheme: "file".to_owned() })
}

/// The `file://` URI of an absolute path, percent-encoded as the `url` crate does it, which names
/// exactly `path` (it reads back as the same path): an edit or a document shown for a URI that
/// names another file would be worse than none.
///
/// Errors: [`UriError::NotAbsolute`], and [`UriError::NotExact`] for a path that no URI names
/// (one with `..` segments, which URIs normalise away).
pub(crate) fn file_uri(path: &Path) -> Result<String, UriError> {
    let uri: String =
        url::Url::from_file_path(path).map_err(|()| UriError::NotAbsolute { path: path.display().to_string() })?.into();
    // Read back as a client reads it: parsing resolves `.` and `..` segments.
    if file_path(&uri).ok().as_deref() != Some(path) {
        return Err(UriError::NotExact { path: path.display().to_string() });
    }
    Ok(uri)
}

/// How to name a document in prompts, messages and secret-file checks: its file path when the URI
/// names one, else the URI itself (an `untitled:` buffer has no path; its URI is all there is).
pub(crate) fn display_path(uri: &str) -> String {
    match file_path(uri) {
        Ok(path) => path.to_string_lossy().into_owned(),
        Err(_) => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_decode_to_their_paths_and_paths_encode_back() {
        let cases = [
            ("file:///p/src/lib.rs", "/p/src/lib.rs"),
            ("file:///fuzz/%E2%9C%93.ts", "/fuzz/✓.ts"),
            ("file:///w/with%20space.txt", "/w/with space.txt"),
            ("file:///w/per%2520cent.txt", "/w/per%20cent.txt"),
            ("file:///w/hash%23and%3Fquery.txt", "/w/hash#and?query.txt"),
            ("file://localhost/etc/hosts", "/etc/hosts"),
            // VS Code encodes more than `url` does (`:` as `%3A`); both decode alike.
            ("file:///c%3A/x", "/c:/x"),
        ];
        for (uri, path) in cases {
            assert_eq!(file_path(uri).as_deref(), Ok(Path::new(path)), "{uri}");
            let back = file_uri(Path::new(path)).expect("encodes");
            assert_eq!(file_path(&back).as_deref(), Ok(Path::new(path)), "{path} -> {back}");
        }
        assert_eq!(display_path("file:///w/with%20space.txt"), "/w/with space.txt");
    }

    #[test]
    fn uris_that_name_no_local_file_are_errors_not_guesses() {
        let error = |uri: &str| file_path(uri).expect_err(uri).to_string();
        assert_eq!(
            error("untitled:1"),
            "untitled:1 is not a file URI (scheme `untitled`); Baton works on files on this machine"
        );
        assert_eq!(
            error("http://example.com/a.rs"),
            "http://example.com/a.rs is not a file URI (scheme `http`); Baton works on files on this machine"
        );
        assert_eq!(
            error("file://server/share/a.rs"),
            "file://server/share/a.rs names a file on another host (server); Baton works on files on this machine"
        );
        assert_eq!(
            error("file:///a%2Fb.rs"),
            "file:///a%2Fb.rs names no single file path: a path segment decodes to `/` or a NUL byte"
        );
        assert_eq!(
            error("file:///a%00b.rs"),
            "file:///a%00b.rs names no single file path: a path segment decodes to `/` or a NUL byte"
        );
        assert_eq!(error("not a uri"), "not a uri is not a URI (relative URL without a base)");
        // Messages and prompts still name such a document by its URI.
        assert_eq!(display_path("untitled:1"), "untitled:1");
        assert_eq!(display_path("file://server/share/a.rs"), "file://server/share/a.rs");
    }

    #[test]
    fn paths_that_no_uri_names_exactly_are_errors() {
        assert_eq!(
            file_uri(Path::new("relative/a.rs")).expect_err("relative").to_string(),
            "relative/a.rs is not an absolute path, so no file URI names it"
        );
        assert_eq!(
            file_uri(Path::new("/a/../b.rs")).expect_err("dot-dot").to_string(),
            "no file URI names /a/../b.rs exactly (it would read back as another path)"
        );
        assert_eq!(file_uri(Path::new("/w/new\nline.txt")).as_deref(), Ok("file:///w/new%0Aline.txt"));
    }
}
