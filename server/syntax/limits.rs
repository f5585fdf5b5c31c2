//! What Baton agrees to parse, and for how long: the document size limits, the time budgets, and
//! the one parse loop that enforces them (tree-sitter's progress callback).
//!
//! The numbers were chosen by measurement (README "Syntax", `cargo bench --bench syntax`): see
//! below.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ropey::Rope;
use tree_sitter::{ParseOptions, ParseState, Parser, Point, Tree};

// Measured on this project's 2-core machine, release build (`cargo bench --bench syntax --
// limits`): ordinary Rust parses from scratch at ~300 ms per MB and minified JavaScript at
// ~500 ms per MB; one keystroke reparses a 2 MB Rust file in ~120 ms. A Rust string left open
// before 100 KB of prose costs ~4 s per parse, incremental or not, growing quadratically, whether
// on one line or many; JavaScript parsed with the Rust grammar, ~12 s per MB.

/// Documents larger than this (bytes of UTF-8) get no tree: plain-text context only. 2 MiB of
/// ordinary code parses in ~0.6 s, inside [`PARSE_BUDGET`] with room for a slower machine; larger
/// files are nearly always generated.
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// Documents with a line longer than this (bytes, lines broken as LSP breaks them) get no tree:
/// minified bundles, generated data and the like, where a tree adds nothing to the context and
/// every parse costs. Hand-written code stays far below (the scan costs ~5 ms per 2 MB).
pub const MAX_LINE_BYTES: usize = 32 * 1024;

/// How long one document parse may run (on the blocking pool) before it is abandoned. A parse
/// stops within a few milliseconds of it (progress is checked every ~100 parser operations);
/// freeing what an abandoned parse built takes up to ~0.1 s more, still off the transport.
pub const PARSE_BUDGET: Duration = Duration::from_millis(1000);

/// How long one parse of the completion's parse check may run (inside a request): the check
/// reparses the document's tree incrementally around one insertion, normally well under a
/// millisecond (`InsertionCheck`).
pub const CHECK_BUDGET: Duration = Duration::from_millis(20);

/// Why a text has no tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the document is {bytes} bytes, above the {max}-byte limit for syntax")]
    TooLarge { bytes: usize, max: usize },
    /// `line` is 0-based.
    #[error("line {} is longer than the {max}-byte limit for syntax", line + 1)]
    LineTooLong { line: usize, max: usize },
    #[error("parsing ran over its {} ms budget and was abandoned", budget.as_millis())]
    OverBudget { budget: Duration },
    #[error("parsing was cancelled")]
    Cancelled,
    #[error("tree-sitter refused the grammar")]
    Refused,
}

/// Checks the size limits: [`MAX_DOCUMENT_BYTES`], then [`MAX_LINE_BYTES`] (a scan of the text,
/// a few milliseconds per megabyte: the server runs it with the parse, off the transport).
///
/// Errors: [`ParseError::TooLarge`], [`ParseError::LineTooLong`].
pub fn check_limits(rope: &Rope) -> Result<(), ParseError> {
    check_size(rope)?;
    let mut line = 0;
    let mut run = 0usize;
    let mut after_cr = false;
    for chunk in rope.chunks() {
        for &b in chunk.as_bytes() {
            match b {
                b'\n' if after_cr => after_cr = false,
                b'\n' | b'\r' => {
                    line += 1;
                    run = 0;
                    after_cr = b == b'\r';
                }
                _ => {
                    after_cr = false;
                    run += 1;
                    if run > MAX_LINE_BYTES {
                        return Err(ParseError::LineTooLong { line, max: MAX_LINE_BYTES });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Which part of a text changed since it last passed [`check_limits`]: what
/// [`check_limits_since`] must scan again. Follows the changes in order ([`LimitsDelta::edit`]);
/// `Unknown` until a check passes, and after a change that replaced the whole text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LimitsDelta {
    /// No passed check to build on: the next check scans the whole text.
    #[default]
    Unknown,
    /// The text passed a check; the bytes (of the current text) changed since, if any.
    Passed(Option<std::ops::Range<usize>>),
}

impl LimitsDelta {
    /// Follows one change (`crate::text::Edit`'s bytes, in the text before and after it).
    pub fn edit(&mut self, start: usize, old_end: usize, new_end: usize) {
        let Self::Passed(dirty) = self else { return };
        // A byte of the old text, where it is in the new one (inside the replaced bytes: their
        // new start or end).
        let map = |b: usize, end: bool| {
            if b < start {
                b
            } else if b >= old_end {
                b - old_end + new_end
            } else if end {
                new_end
            } else {
                start
            }
        };
        *dirty = Some(match dirty.take() {
            Some(r) => map(r.start, false).min(start)..map(r.end, true).max(new_end),
            None => start..new_end,
        });
    }
}

/// [`check_limits`], scanning again only the lines that hold the bytes `delta` says changed since
/// the text last passed (the whole text when `delta` is [`LimitsDelta::Unknown`], or when a line
/// there is over the limit: then the answer, and its line number, are [`check_limits`]'s).
///
/// Errors: those of [`check_limits`].
pub fn check_limits_since(rope: &Rope, delta: &LimitsDelta) -> Result<(), ParseError> {
    check_size(rope)?;
    let dirty = match delta {
        LimitsDelta::Unknown => return check_limits(rope),
        LimitsDelta::Passed(None) => return Ok(()),
        LimitsDelta::Passed(Some(r)) => r,
    };
    let len = rope.len_bytes();
    let (start, end) = (dirty.start.min(len), dirty.end.min(len));
    // Back to the start of the line that holds `start`: past a line break, or the text's start.
    let back = rope.bytes_at(start).reversed().take(MAX_LINE_BYTES + 1).position(|b| b == b'\n' || b == b'\r');
    let from = match back {
        Some(i) => start - i,
        None if start <= MAX_LINE_BYTES => 0,
        None => return check_limits(rope),
    };
    // Forward to the end of the line that holds `end`, counting each line's bytes.
    let mut run = 0usize;
    for (i, b) in rope.bytes_at(from).enumerate() {
        if b == b'\n' || b == b'\r' {
            if from + i >= end {
                return Ok(());
            }
            run = 0;
        } else {
            run += 1;
            if run > MAX_LINE_BYTES {
                return check_limits(rope);
            }
        }
    }
    Ok(())
}

/// Checks [`MAX_DOCUMENT_BYTES`] alone (constant time).
///
/// Errors: [`ParseError::TooLarge`].
pub fn check_size(rope: &Rope) -> Result<(), ParseError> {
    let bytes = rope.len_bytes();
    if bytes > MAX_DOCUMENT_BYTES {
        return Err(ParseError::TooLarge { bytes, max: MAX_DOCUMENT_BYTES });
    }
    Ok(())
}

pub(super) fn parse_rope(
    grammar: &tree_sitter::Language,
    rope: &Rope,
    old: Option<&Tree>,
    budget: Duration,
    cancel: &AtomicBool,
) -> Result<Tree, ParseError> {
    let len = rope.len_bytes();
    let read = |byte: usize| -> &[u8] {
        if byte >= len {
            return &[];
        }
        let (chunk, start, _, _) = rope.chunk_at_byte(byte);
        &chunk.as_bytes()[byte - start..]
    };
    parse_input(grammar, read, old, budget, cancel)
}

/// Parses the text `read` gives (the bytes from an offset on, empty at the end), reusing `old`,
/// within `budget` or until `cancel` is set: the one loop every parse goes through.
pub(super) fn parse_input<'t>(
    grammar: &tree_sitter::Language,
    mut read: impl FnMut(usize) -> &'t [u8],
    old: Option<&Tree>,
    budget: Duration,
    cancel: &AtomicBool,
) -> Result<Tree, ParseError> {
    PARSER.with_borrow_mut(|parser| {
        // An abandoned parse leaves half-done state behind for the next call to resume: dropped.
        parser.reset();
        parse_with(parser, grammar, &mut read, old, budget, cancel)
    })
}

thread_local! {
    /// One parser per thread, reused: a new parser for each parse allocated its stack and
    /// arrays again, and freed them after, so the next large allocation walked every small
    /// chunk freed since (glibc's `malloc_consolidate`): 21.6% of Baton's CPU in a `perf
    /// record` profile of the benchmark's module run, 3.1% with the parser reused
    /// (tests/bench/perf/RESULTS.md).
    static PARSER: std::cell::RefCell<Parser> = std::cell::RefCell::new(Parser::new());
}

/// [`parse_input`] with `parser`.
fn parse_with<'t>(
    parser: &mut Parser,
    grammar: &tree_sitter::Language,
    read: &mut impl FnMut(usize) -> &'t [u8],
    old: Option<&Tree>,
    budget: Duration,
    cancel: &AtomicBool,
) -> Result<Tree, ParseError> {
    parser.set_language(grammar).map_err(|_| ParseError::Refused)?;
    let mut read = |byte: usize, _: Point| read(byte);
    let started = Instant::now();
    let mut cancelled = false;
    let mut progress = |_: &ParseState| {
        cancelled = cancel.load(Ordering::Relaxed);
        cancelled || started.elapsed() > budget
    };
    let options = ParseOptions::new().progress_callback(&mut progress);
    match parser.parse_with_options(&mut read, old, Some(options)) {
        Some(tree) => Ok(tree),
        None if cancelled => Err(ParseError::Cancelled),
        None => Err(ParseError::OverBudget { budget }),
    }
}
