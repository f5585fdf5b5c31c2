//! Test support shared by the crate's unit tests (compiled in tests only): `$0` fixtures in
//! rust-analyzer's style, and git repositories made with the real git. A leaf: it imports nothing
//! of Baton's, so any layer's tests may use it (helpers that need a layer's types live in that
//! layer, such as `agents::testing`).
//!
//! A fixture is the text a test works on with `$0` where the cursor is, or twice around a
//! selection; tests assert with `expect-test` snapshots (`UPDATE_EXPECT=1` rewrites them).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Marks the cursor, or each end of a selection.
pub(crate) const MARKER: &str = "$0";

/// A fixture's text without its markers, and what they marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixture {
    pub(crate) text: String,
    /// Byte range in `text`: empty at the cursor for one `$0`, the selection between two.
    pub(crate) range: Range<usize>,
}

impl Fixture {
    /// Reads `fixture`. Panics (a broken test, not input) unless it has one or two markers.
    pub(crate) fn parse(fixture: &str) -> Self {
        let marks: Vec<usize> = fixture.match_indices(MARKER).map(|(at, _)| at).collect();
        match marks.as_slice() {
            [cursor] => Self { text: fixture.replacen(MARKER, "", 1), range: *cursor..*cursor },
            [start, end] => Self { text: fixture.replace(MARKER, ""), range: *start..(*end - MARKER.len()) },
            _ => panic!("a fixture has one `$0` (a cursor) or two (a selection), not {}: {fixture:?}", marks.len()),
        }
    }

    /// The cursor's byte offset. Panics when the fixture marks a selection.
    pub(crate) fn cursor(&self) -> usize {
        assert!(self.range.is_empty(), "the fixture marks a selection, not a cursor");
        self.range.start
    }

    /// The (line, UTF-16 column) of byte `offset` of the text, as an LSP position counts them
    /// (lines broken on `\n`).
    pub(crate) fn line_col(&self, offset: usize) -> (u32, u32) {
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count();
        let col = before[line_start..].encode_utf16().count();
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
    }

    /// The marked range as (line, UTF-16 column) pairs.
    pub(crate) fn line_cols(&self) -> ((u32, u32), (u32, u32)) {
        (self.line_col(self.range.start), self.line_col(self.range.end))
    }
}

/// Plain `git <args>` in `dir`, with the test's own environment (not Baton's hardened runner):
/// whatever the exit status.
pub(crate) fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git").args(args).current_dir(dir).output().expect("git runs")
}

/// Plain `git <args>` in `dir`; its stdout. Panics with git's stderr when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new repository in `dir` (created) on branch `main`, committed to by `name`
/// `<ada@example.com>` without signing, holding `files` (path, content) in one commit. Returns
/// its canonical path (git reports paths with symlinks resolved).
pub(crate) fn git_repo(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", name]);
    git(dir, &["config", "user.email", "ada@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    for (path, content) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(file, content).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", "initial"]);
    dir.canonicalize().expect("canonical")
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
}
