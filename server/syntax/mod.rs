//! Syntax: tree-sitter languages, incremental parse trees per document, and the queries that
//! give the conductor its context (imports, enclosing scopes) and its parse-quality check.
//!
//! No I/O: languages and queries are embedded from `grammars/` at build time. Every parse has a
//! time budget and every document a size limit ([`limits`]); the server runs document parses on
//! its blocking pool (`server/lsp/documents.rs`), never on the transport.

use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use ropey::Rope;
use serde::Deserialize;
use tree_sitter::{InputEdit, Node, Point, Query, QueryCursor, StreamingIterator, Tree};

use crate::text::Edit;

pub mod limits;

pub use limits::{CHECK_BUDGET, MAX_DOCUMENT_BYTES, MAX_LINE_BYTES, PARSE_BUDGET, ParseError, check_limits};

/// A language's entry in `grammars/languages.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageInfo {
    pub name: String,
    pub language_ids: Vec<String>,
    pub extensions: Vec<String>,
    pub line_comment: String,
    /// True where blocks are delimited by indentation (Python) rather than brackets.
    pub indent_blocks: bool,
    pub query_dir: String,
}

/// A language Baton can parse: its metadata, grammar and queries (compiled on first use).
pub struct Language {
    pub info: LanguageInfo,
    grammar: tree_sitter::Language,
    sources: QuerySources,
    /// Compiled on first use, `None` when a query does not compile (logged once). Compiling
    /// analyses the grammar's whole parse table (about 3 MB, briefly, for the six grammars),
    /// which a session editing one language should not pay for all of them, nor keep in its
    /// resident memory (issue 13).
    queries: OnceLock<Option<Queries>>,
    /// The node kinds `scopes` captures, when it is only a list of `(kind) @scope` patterns (as
    /// every `scopes.scm` is): then scopes are found on the path to a byte, without a query
    /// cursor, which visits every sibling on the way (thousands in a large module or class).
    scope_kinds: Option<Vec<String>>,
}

/// A language's compiled queries.
struct Queries {
    imports: Query,
    scopes: Query,
    comments: Query,
}

impl Language {
    /// The compiled queries, compiling them on the first call; `None` when one does not compile
    /// (a build-time mistake the tests catch; the language then finds no imports, scopes or
    /// comments).
    fn queries(&self) -> Option<&Queries> {
        self.queries
            .get_or_init(|| {
                let query = |src: &str, what: &str| {
                    Query::new(&self.grammar, src).map_err(|e| format!("{} {what} query: {e}", self.info.name))
                };
                let compiled = (|| {
                    Ok::<_, String>(Queries {
                        imports: query(self.sources.imports, "imports")?,
                        scopes: query(self.sources.scopes, "scopes")?,
                        comments: query(self.sources.comments, "comments")?,
                    })
                })();
                compiled.map_err(|e| tracing::error!("{e}")).ok()
            })
            .as_ref()
    }
}

/// The kinds of a query made only of `(kind) @scope` lines (and comments), else `None`.
fn single_kind_patterns(source: &str) -> Option<Vec<String>> {
    let mut kinds = Vec::new();
    for line in source.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(';')) {
        let kind = line.strip_prefix('(')?.strip_suffix("@scope")?.trim_end().strip_suffix(')')?;
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        kinds.push(kind.to_owned());
    }
    Some(kinds)
}

/// The query sources of a language (`grammars/queries/<dir>/*.scm`).
struct QuerySources {
    imports: &'static str,
    scopes: &'static str,
    comments: &'static str,
}

impl std::fmt::Debug for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Language").field("name", &self.info.name).finish()
    }
}

#[derive(Deserialize)]
struct LanguagesFile {
    language: Vec<LanguageInfo>,
}

/// The grammar and the query sources for a `languages.toml` entry.
fn grammar_for(name: &str) -> Option<(tree_sitter::Language, QuerySources)> {
    macro_rules! q {
        ($dir:literal) => {
            QuerySources {
                imports: include_str!(concat!("../../grammars/queries/", $dir, "/imports.scm")),
                scopes: include_str!(concat!("../../grammars/queries/", $dir, "/scopes.scm")),
                comments: include_str!(concat!("../../grammars/queries/", $dir, "/comments.scm")),
            }
        };
    }
    let (lang, queries) = match name {
        "rust" => (tree_sitter_rust::LANGUAGE.into(), q!("rust")),
        "python" => (tree_sitter_python::LANGUAGE.into(), q!("python")),
        "go" => (tree_sitter_go::LANGUAGE.into(), q!("go")),
        "javascript" => (tree_sitter_javascript::LANGUAGE.into(), q!("javascript")),
        "typescript" => (tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(), q!("typescript")),
        "tsx" => (tree_sitter_typescript::LANGUAGE_TSX.into(), q!("typescript")),
        _ => return None,
    };
    Some((lang, queries))
}

/// Every language in `grammars/languages.toml` whose grammar and queries load. An entry that
/// fails to load is logged and skipped (a build-time mistake, caught by the tests).
pub fn languages() -> &'static [Language] {
    static LANGUAGES: OnceLock<Vec<Language>> = OnceLock::new();
    LANGUAGES.get_or_init(|| {
        let file: LanguagesFile = match toml::from_str(include_str!("../../grammars/languages.toml")) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("grammars/languages.toml is invalid: {e}");
                return Vec::new();
            }
        };
        file.language
            .into_iter()
            .filter_map(|info| match load(info) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!("{e}");
                    None
                }
            })
            .collect()
    })
}

fn load(info: LanguageInfo) -> Result<Language, String> {
    let (grammar, sources) =
        grammar_for(&info.name).ok_or_else(|| format!("no grammar crate for language {}", info.name))?;
    Ok(Language { scope_kinds: single_kind_patterns(sources.scopes), sources, queries: OnceLock::new(), grammar, info })
}

/// The grammar for a document, from its LSP language id and its URI or path.
///
/// The rule (README "Syntax"): a language id that names a grammar (ASCII case-insensitively)
/// chooses it, whatever the extension says; an empty language id (the client did not say) lets the
/// file extension choose; any other language id (`plaintext`, `markdown`, ...) means no grammar,
/// even for a `.rs` path: the user or the editor said the text is not one of ours, and parsing it
/// with a grammar that neither names only costs time. `None`: plain text, no tree.
pub fn language_for(language_id: &str, path: &str) -> Option<&'static Language> {
    let by_id = |id: &str| languages().iter().find(|l| l.info.language_ids.iter().any(|i| i.eq_ignore_ascii_case(id)));
    let by_extension =
        |ext: &str| languages().iter().find(|l| l.info.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)));
    let language_id = language_id.trim();
    if !language_id.is_empty() {
        return by_id(language_id);
    }
    by_extension(extension(path)?)
}

/// The extension of the last segment of a path or URI (`/a/b.min.js` -> `js`), if it has one.
fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let name = name.split(['?', '#']).next().unwrap_or(name);
    name.rsplit_once('.').map(|(_, ext)| ext).filter(|e| !e.is_empty())
}

/// Imports are looked for in a file's first this many bytes (where every supported language puts
/// them), so prompt building costs the same on a 10,000-line file as on a small one.
pub const IMPORTS_HEAD_BYTES: usize = 32 * 1024;

/// A parse tree and its language. Where the server hands one out, it was parsed from exactly the
/// text it comes with (`server/lsp/documents.rs`).
#[derive(Debug, Clone)]
pub struct Syntax {
    pub language: &'static Language,
    pub tree: Tree,
    /// [`Syntax::imports`] up to [`IMPORTS_HEAD_BYTES`], when the server kept them from an earlier
    /// version of the text (its changes since touched neither that head nor an import): then
    /// requests do not search the tree again.
    pub imports_head: Option<Arc<Vec<Range<usize>>>>,
    /// False when `tree` is the tree of an earlier version of the text, edited (`Tree::edit`) by
    /// every change since: its positions follow the text, so it finds scopes, but its nodes may
    /// not match the text, so it never judges a parse ([`InsertionCheck`] then parses only a
    /// region of the text, or tells nothing).
    pub exact: bool,
}

impl Syntax {
    /// Parses `rope` from scratch within the document limits and [`PARSE_BUDGET`]. `None` when the
    /// text is over a limit, the parse ran over its budget, or tree-sitter refused the grammar
    /// (for the CLI and tests; the server parses through `server/lsp/documents.rs`).
    pub fn parse(language: &'static Language, rope: &Rope) -> Option<Self> {
        check_limits(rope).ok()?;
        let tree = parse_within(language, rope, None, PARSE_BUDGET, &AtomicBool::new(false)).ok()?;
        Some(Self { language, tree, imports_head: None, exact: true })
    }

    /// Byte ranges of the import-like declarations that start before byte `limit`, in order.
    /// Only the top-level nodes that start before `limit` are searched, so the cost follows
    /// `limit`, not the file size (a query cursor over the root, even limited to `0..limit`,
    /// steps through every top-level node after it: thousands in a large module).
    pub fn imports(&self, rope: &Rope, limit: usize) -> Vec<Range<usize>> {
        if let Some(head) = &self.imports_head
            && limit <= IMPORTS_HEAD_BYTES
        {
            // A capture intersects `0..limit` exactly when it starts before `limit`.
            return head.iter().filter(|r| r.start < limit).cloned().collect();
        }
        self.search_imports(rope, limit)
    }

    /// [`Syntax::imports`] searched in the tree.
    fn search_imports(&self, rope: &Rope, limit: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let Some(queries) = self.language.queries() else { return out };
        let mut cursor = self.tree.root_node().walk();
        if !cursor.goto_first_child() {
            return out;
        }
        loop {
            let node = cursor.node();
            if node.start_byte() >= limit {
                break;
            }
            out.extend(captures(&queries.imports, node, rope, 0..limit));
            if !cursor.goto_next_sibling() {
                break;
            }
        }
        out
    }

    /// The imports up to [`IMPORTS_HEAD_BYTES`], searched in the tree (for [`Syntax::imports_head`]).
    pub fn search_imports_head(&self, rope: &Rope) -> Arc<Vec<Range<usize>>> {
        Arc::new(self.search_imports(rope, IMPORTS_HEAD_BYTES))
    }

    /// Byte ranges of the scopes that contain `byte`, innermost first. Only nodes on the path
    /// to `byte` are visited.
    pub fn enclosing_scopes(&self, rope: &Rope, byte: usize) -> Vec<Range<usize>> {
        self.scopes_at(rope, byte).into_iter().filter(|n| n.start_byte() < byte).map(|n| n.byte_range()).collect()
    }

    /// The scope nodes that hold `byte` (start <= byte < end), innermost first.
    fn scopes_at(&self, rope: &Rope, byte: usize) -> Vec<Node<'_>> {
        let Some(kinds) = &self.language.scope_kinds else {
            let Some(queries) = self.language.queries() else { return Vec::new() };
            let mut scopes: Vec<Node<'_>> =
                captures_nodes(&queries.scopes, self.tree.root_node(), rope, byte..byte + 1)
                    .into_iter()
                    .filter(|n| n.start_byte() <= byte && byte < n.end_byte())
                    .collect();
            scopes.sort_by_key(|n| n.end_byte() - n.start_byte());
            scopes.dedup_by_key(|n| n.byte_range());
            return scopes;
        };
        let mut scopes = path_to(self.tree.root_node(), byte);
        scopes.retain(|n| kinds.iter().any(|k| k == n.kind()));
        scopes.reverse();
        scopes
    }

    /// The comment that contains `byte` (a node the language's `comments.scm` captures, from its
    /// first byte up to, not including, its end), if one does. Only nodes on the path to `byte`
    /// are visited.
    pub fn comment_at(&self, rope: &Rope, byte: usize) -> Option<Comment> {
        let bytes = captures(&self.language.queries()?.comments, self.tree.root_node(), rope, byte..byte + 1)
            .into_iter()
            .find(|r| r.start <= byte && byte < r.end)?;
        let end = bytes.end.min(rope.len_bytes());
        let start = bytes.start.min(end);
        let text = rope.get_byte_slice(start..end)?.to_string();
        Some(Comment { bytes, text })
    }

    /// Number of error and missing nodes in the top-level node that contains `byte` (the whole
    /// tree when `byte` lies between top-level nodes). Only subtrees marked `has_error` are walked,
    /// so a clean region costs almost nothing.
    pub fn errors_near(&self, byte: usize) -> usize {
        let root = self.tree.root_node();
        // The first top-level node with start <= byte <= end (`first_child_for_byte` skips whole
        // runs of nodes that end before it, where iterating the children visits each).
        let top = root
            .first_child_for_byte(byte.saturating_sub(1))
            .filter(|n| n.start_byte() <= byte && byte <= n.end_byte());
        count_errors(top.unwrap_or(root))
    }
}

/// The nodes from the top-level one down to the innermost one that hold `byte` (start <= byte <
/// end), outermost first. Each step skips the children that end before `byte` whole.
fn path_to(root: Node<'_>, byte: usize) -> Vec<Node<'_>> {
    let mut cursor = root.walk();
    let mut path = Vec::new();
    while cursor.goto_first_child_for_byte(byte).is_some() {
        let node = cursor.node();
        if node.start_byte() > byte {
            break;
        }
        path.push(node);
    }
    path
}

/// A comment in a tree ([`Syntax::comment_at`]): its byte range in the text and the text, markers
/// included (`// TODO: x`, `/* ... */`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub bytes: Range<usize>,
    pub text: String,
}

/// The parse check of candidate insertions at one place of a parsed text: how many error and
/// missing nodes a candidate in place of `replaced` bytes there leaves around the place, against
/// how many there are now.
///
/// "Around the place" is the innermost scope (the language's `scopes.scm`: a function, a method,
/// a class) that holds the code before the place and parses alone, up to [`REGION_MAX_BYTES`]:
/// its text, dedented (so a Python method parses on its own), is parsed with and without the
/// candidate, at a cost that follows the scope, not the document or the class around it (issue
/// 13: parsing the enclosing top-level item, a 10,000-line class, took 46 ms of a 49 ms
/// completion). Of a body longer than `2 * WINDOW_STATEMENTS + 1` statements, only the
/// [`WINDOW_STATEMENTS`] on each side of the place's are kept (`elided`), so the cost does not
/// grow with the function either. Else the top-level item there when it is that small. Else
/// each candidate reparses the whole text incrementally from a copy of its tree (`Tree::clone`,
/// a reference count), edited by the insertion, and the errors are counted in the top-level
/// item around the place ([`Syntax::errors_near`]).
///
/// The text as it is now (the baseline) is parsed only when a candidate needs it: a candidate
/// that leaves no error in the innermost scope's text parsed alone is not worse, whatever the
/// baseline ([`InsertionCheck::not_worse`]). Most suggestions complete the code, so most are
/// judged by that one parse (221 of the 310 checks of the benchmark's module loop, where the
/// check, so made, still costs ~0.16 ms of the ~0.8 ms p50 overhead; tests/bench/perf/RESULTS.md).
///
/// It owns copies of the tree and the text (both cheap: a reference count). Each parse of a
/// region starts from the last one made (incrementally, edited by the difference between the
/// two texts), the first from an earlier check's ([`InsertionCheck::region_parse`], given back
/// to [`InsertionCheck::new`]): the next keystroke's region is the same function with one
/// character more, and an incremental parse of it cost ~0.4x a parse from scratch (measured over
/// 39,064 keystrokes typed into argparse's functions). It is not `Sync`: one request judges its
/// candidates in turn.
pub struct InsertionCheck {
    syntax: Syntax,
    rope: Rope,
    /// Where candidates go, a byte offset into `rope` (on a char boundary).
    at: usize,
    /// End of the replaced bytes (`at` when nothing is replaced).
    end: usize,
    /// The scopes around the place that may be parsed alone, innermost first, up to the first
    /// one over [`REGION_MAX_BYTES`] (which ends the search: no region then).
    scopes: Vec<Scope>,
    /// The earlier check's region parse the first region parse starts from.
    earlier: Option<Arc<Parsed>>,
    /// The latest region parse this check made, which the next one starts from.
    latest: std::cell::RefCell<Option<Arc<Parsed>>>,
    /// The text as it is now, judged on first need.
    baseline: std::cell::OnceCell<Baseline>,
    /// How long one parse may run ([`CHECK_BUDGET`]).
    budget: std::time::Duration,
}

/// A scope around the place, as the region it would be parsed as.
struct Scope {
    region: Region,
    /// Whether errors in its text parsed alone, when the whole text's tree has none in it, mean
    /// that it does not parse alone (a JavaScript method, a closure), so the scope around it is
    /// judged instead: false for the top-level item, the last resort.
    may_defer: bool,
}

/// The text around the place as it is now.
enum Baseline {
    /// `scopes[index]`'s region parsed alone, and its errors.
    Region {
        index: usize,
        #[cfg_attr(not(test), expect(dead_code, reason = "the tests read the baseline's parse"))]
        parsed: Arc<Parsed>,
        before: usize,
    },
    /// No region: the errors in the top-level item around the place, in the whole text's tree
    /// (the tree of this very text).
    Whole { before: usize },
    /// Nothing to compare with (no region, and the tree is of an earlier version of the text):
    /// every candidate is kept.
    Nothing,
}

/// Largest scope the parse check parses on its own, in bytes.
pub const REGION_MAX_BYTES: usize = 16 * 1024;

/// Statements of a scope's body the parse check keeps on each side of the one at the place; the
/// others are left out of the region's text. An incremental parse of a region still costs in
/// proportion to the statements of the body it edits (tree-sitter rebuilds the body's node over
/// all its children): typing a line into a function, the baseline's parse took a median 21 us
/// with 2 statements in the body, 50 with 20, 144 with 80 (a warm loop on this machine; ~1.6 us
/// a statement), and cold, between keystrokes, several times that. Windowed, a long function
/// costs what a short one does. One statement on each side changes no suggestion of the quality
/// benchmark (tests/bench/quality, 590 requests replayed); against four, in probe runs with the
/// builds' order balanced, the module's p99 overhead fell 1.36 -> 1.17 ms and 1.30 -> 1.28, the
/// one-class file's 1.29 -> 1.22, p50 within the noise (tests/bench/perf/RESULTS.md).
pub const WINDOW_STATEMENTS: usize = 1;

/// How far back from the place the parse check looks for the code the place follows, in bytes.
const CODE_BEFORE_MAX_BYTES: usize = 4096;

/// A part of the text the parse check parses on its own.
#[derive(Debug, Clone)]
struct Region {
    /// Byte range in the rope (`start` at its line's start when it is dedented).
    bytes: Range<usize>,
    /// The indentation removed from the start of each of its lines that has it.
    indent: String,
    /// Byte ranges inside `bytes` left out of its text, in order, apart, none holding the
    /// replaced bytes: whole statements of a long body far from the place ([`elided`]).
    elided: Vec<Range<usize>>,
}

/// A region's text as it is now (dedented) and its tree, which candidates' parses start from.
struct Parsed {
    text: String,
    tree: Tree,
}

/// A parse check's region, parsed: what the next check (the next keystroke's, near the same
/// place) starts its own region's parse from ([`InsertionCheck::new`]). Holds the region's text
/// (at most [`REGION_MAX_BYTES`]) and its tree, both shared.
#[derive(Clone)]
pub struct RegionParse {
    language: &'static Language,
    parsed: Arc<Parsed>,
}

impl std::fmt::Debug for RegionParse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionParse")
            .field("language", &self.language.info.name)
            .field("bytes", &self.parsed.text.len())
            .finish()
    }
}

impl Region {
    /// The region's text with `candidate` in place of `at..end`, without the elided ranges,
    /// dedented. `None` when `at..end` is not inside one kept part (no text would hold the
    /// candidate: judging it would judge the text without it).
    fn text(&self, rope: &Rope, at: usize, end: usize, candidate: &str) -> Option<String> {
        let mut raw = String::with_capacity(self.kept_len() + candidate.len());
        // The rope's chunks straight into `raw`: a `String` per part would be another copy, and
        // past a kilobyte an allocation that makes glibc merge the small blocks freed since the
        // last one (tests/bench/perf/RESULTS.md, "The heap settled after each answer").
        let push = |raw: &mut String, bytes: Range<usize>| -> Option<()> {
            rope.get_byte_slice(bytes)?.chunks().for_each(|chunk| raw.push_str(chunk));
            Some(())
        };
        let mut from = self.bytes.start;
        let mut placed = false;
        for gap in self.elided.iter().chain(std::iter::once(&(self.bytes.end..self.bytes.end))) {
            let kept = from..gap.start;
            if !placed && kept.start <= at && end <= kept.end {
                push(&mut raw, kept.start..at)?;
                raw.push_str(candidate);
                push(&mut raw, end..kept.end)?;
                placed = true;
            } else {
                push(&mut raw, kept)?;
            }
            from = gap.end;
        }
        if !placed {
            return None;
        }
        if self.indent.is_empty() {
            return Some(raw);
        }
        let mut out = String::with_capacity(raw.len());
        for line in raw.split_inclusive('\n') {
            out.push_str(line.strip_prefix(self.indent.as_str()).unwrap_or(line));
        }
        Some(out)
    }

    /// Bytes of the rope the region's text keeps (before the candidate).
    fn kept_len(&self) -> usize {
        self.bytes.len() - self.elided.iter().map(Range::len).sum::<usize>()
    }
}

/// The statements of `scope`'s body (its `body` field) to leave out of its region: all but
/// [`WINDOW_STATEMENTS`] on each side of the ones at the place (from the statement holding
/// `code`, the last code before the place, to the last one starting before `end`, the end of
/// the replaced bytes). Nothing when the body has no more statements than the window holds, when
/// its first statement is on the scope's first line (a one-line body: its statements are not
/// lines of their own), or when the place is not among them (a function's signature).
///
/// What is left out is whole statements (and comments) at the body's top level, so the text
/// stays a function with a shorter body: the signature, the window's statements at their
/// indentation, what follows the body (a closing brace). A candidate's errors are counted in
/// that text; an error it would cause only past the window (a bracket it leaves open is reported
/// at the window's end instead) is still an error.
fn elided<'a>(scope: Node<'a>, code: usize, end: usize) -> Vec<Range<usize>> {
    let Some(body) = scope.child_by_field_name("body") else { return Vec::new() };
    let n = body.named_child_count();
    if n <= 2 * WINDOW_STATEMENTS + 1 {
        return Vec::new();
    }
    let (Some(first), Some(last)) = (body.named_child(0), body.named_child(n - 1)) else { return Vec::new() };
    if first.start_position().row == scope.start_position().row {
        return Vec::new();
    }
    // The statements at the place: from the last one starting at or before `code` to the last
    // one starting before `end` (`code` < `end`). Found by byte and stepped to by sibling, never
    // by walking the body: tree-sitter keeps a long body's statements under balanced hidden
    // nodes, so each step costs the log of the body's length, where a walk cost ~1 us a
    // statement cold, between keystrokes (tests/bench/perf/RESULTS.md). No list of the body's
    // nodes either: an allocation of a kilobyte or more makes glibc merge every small block
    // freed since the last one (RESULTS.md, "The heap settled after each answer").
    let at_or_before = |byte: usize| match body.first_named_child_for_byte(byte) {
        Some(s) if s.start_byte() <= byte => Some(s),
        Some(s) => s.prev_named_sibling(),
        None => Some(last),
    };
    let (Some(at), Some(through)) = (at_or_before(code), at_or_before(end.saturating_sub(1))) else {
        return Vec::new();
    };
    let step = |mut node: Node<'a>, next: fn(&Node<'a>) -> Option<Node<'a>>| {
        for _ in 0..WINDOW_STATEMENTS {
            match next(&node) {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    };
    let (low, high) = (step(at, Node::prev_named_sibling), step(through, Node::next_named_sibling));
    let mut out = Vec::with_capacity(2);
    if low.id() != first.id() {
        out.push(first.start_byte()..low.start_byte());
    }
    // The statement after `high` starts at or after `end`: the gap never holds the replaced bytes.
    let from = high.end_byte().max(end);
    if high.id() != last.id() && from < last.end_byte() {
        out.push(from..last.end_byte());
    }
    out
}

/// `text` parsed alone, within `budget` (`None` past it), from `old` when given: the tree of
/// `old.text`, edited here by the difference between the two texts.
fn parse_alone(language: &Language, text: &str, old: Option<&Parsed>, budget: std::time::Duration) -> Option<Tree> {
    let bytes = text.as_bytes();
    let read = |byte: usize| -> &[u8] { bytes.get(byte..).unwrap_or(&[]) };
    let edited = old.map(|old| {
        let mut tree = old.tree.clone();
        tree.edit(&difference(&old.text, text));
        tree
    });
    limits::parse_input(&language.grammar, read, edited.as_ref(), budget, &AtomicBool::new(false)).ok()
}

/// The edit that turns `old` into `new`: everything between their common prefix and their
/// common suffix (cut back to char boundaries) replaced.
fn difference(old: &str, new: &str) -> InputEdit {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let most = a.len().min(b.len()) - prefix;
    let mut suffix = a.iter().rev().zip(b.iter().rev()).take(most).take_while(|(x, y)| x == y).count();
    while !old.is_char_boundary(a.len() - suffix) || !new.is_char_boundary(b.len() - suffix) {
        suffix -= 1;
    }
    let point = |text: &str, byte: usize| {
        let before = &text.as_bytes()[..byte];
        let row = before.iter().filter(|&&c| c == b'\n').count();
        let column = byte - before.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        Point { row, column }
    };
    InputEdit {
        start_byte: prefix,
        old_end_byte: a.len() - suffix,
        new_end_byte: b.len() - suffix,
        start_position: point(old, prefix),
        old_end_position: point(old, a.len() - suffix),
        new_end_position: point(new, b.len() - suffix),
    }
}

impl InsertionCheck {
    /// Candidates replace the bytes `at..at + replaced` of `rope`, the text `syntax` was parsed
    /// from; the check keeps both (pass clones: a reference count each). Finds the scopes around
    /// the place; parses nothing. `None` when the range is not on char boundaries inside the
    /// text.
    ///
    /// `earlier`: an earlier check's [`InsertionCheck::region_parse`], which the first region
    /// parse starts from (incrementally, edited by the difference between the two texts) when it
    /// is of the same language; any earlier region gives a correct tree, a nearby one a cheap
    /// parse. tree-sitter recovers from an error a little differently from an old tree: over the
    /// 39,064 keystrokes above, the baseline's error count differed from a parse from scratch 4
    /// times (3 of them 0 against 2, where the typed line was one letter after `elif`'s
    /// indentation), each time higher, which makes the check more lenient there.
    pub fn new(syntax: Syntax, rope: Rope, at: usize, replaced: usize, earlier: Option<&RegionParse>) -> Option<Self> {
        let end = at.checked_add(replaced)?;
        if end > rope.len_bytes() {
            return None;
        }
        // Both ends on char boundaries: the rope reads the same char starting there.
        let on_boundary = |b: usize| b == rope.len_bytes() || rope.char_to_byte(rope.byte_to_char(b)) == b;
        if !on_boundary(at) || !on_boundary(end) {
            return None;
        }
        let earlier = earlier.filter(|e| std::ptr::eq(e.language, syntax.language)).map(|e| Arc::clone(&e.parsed));
        let scopes = Self::scopes(&syntax, &rope, at, end);
        Some(Self {
            syntax,
            rope,
            at,
            end,
            scopes,
            earlier,
            latest: std::cell::RefCell::new(None),
            baseline: std::cell::OnceCell::new(),
            budget: CHECK_BUDGET,
        })
    }

    /// The scopes around `at..end` that may be parsed alone, innermost first: those holding the
    /// code the place follows (the last non-blank byte before it, not far back), then the
    /// top-level item there, up to the first over [`REGION_MAX_BYTES`].
    fn scopes(syntax: &Syntax, rope: &Rope, at: usize, end: usize) -> Vec<Scope> {
        let back = rope.bytes_at(at).reversed().take(CODE_BEFORE_MAX_BYTES).position(|b| !b.is_ascii_whitespace());
        let Some(code) = back.map(|i| at - 1 - i) else { return Vec::new() };
        let Some(top) = syntax.tree.root_node().first_child_for_byte(code).filter(|n| n.start_byte() <= code) else {
            return Vec::new();
        };
        let mut nodes = syntax.scopes_at(rope, code);
        if nodes.last().is_none_or(|n| n.id() != top.id()) {
            nodes.push(top);
        }
        let mut scopes = Vec::with_capacity(nodes.len());
        for node in nodes {
            let bytes = node.start_byte()..node.end_byte().max(end);
            // The limit is on the whole scope: leaving statements out makes a parse cheaper, never
            // a larger scope checkable (a window into a 10,000-line class, a different text at
            // each keystroke, parsed from scratch, cost more than it saved).
            if bytes.len() > REGION_MAX_BYTES {
                break;
            }
            let elided = elided(node, code, end);
            let line_start = rope.line_to_byte(rope.byte_to_line(bytes.start));
            let Some(prefix) = rope.get_byte_slice(line_start..bytes.start).map(|s| s.to_string()) else { break };
            let region = if !prefix.is_empty() && prefix.chars().all(|c| c == ' ' || c == '\t') {
                Region { bytes: line_start..bytes.end, indent: prefix, elided }
            } else {
                Region { bytes, indent: String::new(), elided }
            };
            scopes.push(Scope { region, may_defer: !node.has_error() && node.id() != top.id() });
        }
        scopes
    }

    /// `region`'s text with `candidate` in place, parsed alone from the latest parse (which it
    /// then becomes). `None` when no text holds the candidate there or the parse ran over the
    /// budget.
    fn parse_region(&self, region: &Region, candidate: &str) -> Option<Arc<Parsed>> {
        let text = region.text(&self.rope, self.at, self.end, candidate)?;
        let tree = {
            let latest = self.latest.borrow();
            let from = latest.as_deref().or(self.earlier.as_deref());
            parse_alone(self.syntax.language, &text, from, self.budget)?
        };
        let parsed = Arc::new(Parsed { text, tree });
        *self.latest.borrow_mut() = Some(Arc::clone(&parsed));
        Some(parsed)
    }

    /// The text as it is now, judged (parsed) on first call: the innermost scope whose text
    /// parses alone (one whose errors alone the whole text's tree does not show is skipped),
    /// else the whole text's errors when the tree is of this very text.
    fn baseline(&self) -> &Baseline {
        self.baseline.get_or_init(|| {
            let now = self.rope.byte_slice(self.at..self.end).to_string();
            for (index, scope) in self.scopes.iter().enumerate() {
                let Some(parsed) = self.parse_region(&scope.region, &now) else { break };
                let before = count_errors(parsed.tree.root_node());
                if before > 0 && scope.may_defer {
                    continue;
                }
                return Baseline::Region { index, parsed, before };
            }
            if self.syntax.exact {
                Baseline::Whole { before: self.syntax.errors_near(self.at) }
            } else {
                // The whole-text check reparses the tree: only the tree of this very text will do.
                Baseline::Nothing
            }
        })
    }

    /// The latest region parse made by this check (the baseline's or a candidate's), for the
    /// next check near the same place to start from; `None` when it parsed no region.
    pub fn region_parse(&self) -> Option<RegionParse> {
        let parsed = Arc::clone(self.latest.borrow().as_ref()?);
        Some(RegionParse { language: self.syntax.language, parsed })
    }

    /// The byte range the baseline parsed alone (dedented), when it found one; `None`: the whole
    /// text is reparsed incrementally for each candidate (or nothing is judged). Parses the
    /// baseline.
    pub fn region_bytes(&self) -> Option<Range<usize>> {
        match self.baseline() {
            Baseline::Region { index, .. } => Some(self.scopes[*index].region.bytes.clone()),
            _ => None,
        }
    }

    /// The byte ranges inside [`InsertionCheck::region_bytes`] left out of the region's text
    /// (statements of a long body far from the place), in order. Parses the baseline.
    pub fn region_elided(&self) -> &[Range<usize>] {
        match self.baseline() {
            Baseline::Region { index, .. } => &self.scopes[*index].region.elided,
            _ => &[],
        }
    }

    /// The same check with another budget per parse (tests on a loaded machine, where a debug
    /// build's whole-text reparse may pass [`CHECK_BUDGET`]).
    pub fn with_budget(mut self, budget: std::time::Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Errors around the place now (the baseline the candidates are judged against; 0 when
    /// nothing is judged). Parses the baseline.
    pub fn before(&self) -> usize {
        match self.baseline() {
            Baseline::Region { before, .. } | Baseline::Whole { before } => *before,
            Baseline::Nothing => 0,
        }
    }

    /// Whether this check has parsed the text as it is now (a candidate needed it, or one of the
    /// accessors above).
    pub fn parsed_baseline(&self) -> bool {
        self.baseline.get().is_some()
    }

    /// Errors around the place with `candidate` inserted, where the baseline counts them, or
    /// `None` when the parse ran over [`CHECK_BUDGET`] (or the text is over
    /// [`MAX_DOCUMENT_BYTES`] with it) or nothing is judged: cannot tell. Parses the baseline.
    pub fn errors_with(&self, candidate: &str) -> Option<usize> {
        match self.baseline() {
            Baseline::Region { index, .. } => {
                let parsed = self.parse_region(&self.scopes[*index].region, candidate)?;
                Some(count_errors(parsed.tree.root_node()))
            }
            Baseline::Whole { .. } => self.whole_errors_with(candidate),
            Baseline::Nothing => None,
        }
    }

    /// True when `candidate` does not add errors near the place, or when that cannot be told.
    /// A candidate that leaves no error in the innermost scope parsed alone is not worse without
    /// the baseline's parse; else it is judged against the baseline.
    pub fn not_worse(&self, candidate: &str) -> bool {
        let mut innermost = None;
        if self.baseline.get().is_none()
            && let Some(scope) = self.scopes.first()
        {
            let Some(parsed) = self.parse_region(&scope.region, candidate) else { return true };
            let errors = count_errors(parsed.tree.root_node());
            if errors == 0 {
                return true;
            }
            innermost = Some(errors);
        }
        let after = match (self.baseline(), innermost) {
            // The innermost scope is the baseline's region: the candidate's errors there are known.
            (Baseline::Region { index: 0, .. }, Some(errors)) => Some(errors),
            _ => self.errors_with(candidate),
        };
        after.is_none_or(|after| after <= self.before())
    }

    /// The whole-text check: the errors near the place in the whole text reparsed incrementally
    /// from a copy of its tree, edited by the insertion.
    fn whole_errors_with(&self, candidate: &str) -> Option<usize> {
        let (at, end, len) = (self.at, self.end, self.rope.len_bytes());
        let new_len = len - (end - at) + candidate.len();
        if new_len > MAX_DOCUMENT_BYTES {
            return None;
        }
        let point = |byte: usize| {
            let row = self.rope.byte_to_line(byte);
            Point { row, column: byte - self.rope.line_to_byte(row) }
        };
        let start_position = point(at);
        let new_end_position = match candidate.rfind('\n') {
            Some(i) => {
                Point { row: start_position.row + candidate.matches('\n').count(), column: candidate.len() - i - 1 }
            }
            None => Point { row: start_position.row, column: start_position.column + candidate.len() },
        };
        let mut tree = self.syntax.tree.clone();
        tree.edit(&InputEdit {
            start_byte: at,
            old_end_byte: end,
            new_end_byte: at + candidate.len(),
            start_position,
            old_end_position: point(end),
            new_end_position,
        });
        let shift = end - at;
        let read = |byte: usize| -> &[u8] {
            if byte < at {
                let (chunk, start, _, _) = self.rope.chunk_at_byte(byte);
                &chunk.as_bytes()[byte - start..(at - start).min(chunk.len())]
            } else if byte < at + candidate.len() {
                &candidate.as_bytes()[byte - at..]
            } else {
                let old = byte - candidate.len() + shift;
                if old >= len {
                    return &[];
                }
                let (chunk, start, _, _) = self.rope.chunk_at_byte(old);
                &chunk.as_bytes()[old - start..]
            }
        };
        let tree =
            limits::parse_input(&self.syntax.language.grammar, read, Some(&tree), self.budget, &AtomicBool::new(false))
                .ok()?;
        Some(Syntax { language: self.syntax.language, tree, imports_head: None, exact: true }.errors_near(at))
    }
}

#[cfg(test)]
impl InsertionCheck {
    /// The baseline's region text and tree (parsing the baseline), if it found a region.
    pub(crate) fn baseline_parse(&self) -> Option<(&str, &Tree)> {
        match self.baseline() {
            Baseline::Region { parsed, .. } => Some((&parsed.text, &parsed.tree)),
            _ => None,
        }
    }

    /// The baseline's region (parsing the baseline), if it found one.
    fn baseline_region(&self) -> Option<&Region> {
        match self.baseline() {
            Baseline::Region { index, .. } => Some(&self.scopes[*index].region),
            _ => None,
        }
    }

    /// True when this check's baseline region tree shares nodes with `earlier`'s: its parse
    /// started from that tree (a parse from scratch makes every node anew, and `earlier` keeps
    /// its own alive).
    pub(crate) fn reuses(&self, earlier: &RegionParse) -> bool {
        fn ids(tree: &Tree) -> std::collections::HashSet<usize> {
            let mut ids = std::collections::HashSet::new();
            let mut cursor = tree.walk();
            'walk: loop {
                ids.insert(cursor.node().id());
                if cursor.goto_first_child() || cursor.goto_next_sibling() {
                    continue;
                }
                while cursor.goto_parent() {
                    if cursor.goto_next_sibling() {
                        continue 'walk;
                    }
                }
                return ids;
            }
        }
        let Some((_, tree)) = self.baseline_parse() else { return false };
        !ids(tree).is_disjoint(&ids(&earlier.parsed.tree))
    }
}

/// Parses `rope` as `language`, reusing `old` when given (a tree edited with [`edit_tree`] by every
/// change since it was parsed), and gives up once `budget` has passed or `cancel` is set
/// (tree-sitter's progress callback, checked every ~100 parser operations; see
/// [`limits`] for the measured overshoot).
///
/// Errors: [`ParseError::OverBudget`], [`ParseError::Cancelled`], [`ParseError::Refused`]. It
/// does not check the size limits: call [`check_limits`] first.
pub fn parse_within(
    language: &'static Language,
    rope: &Rope,
    old: Option<&Tree>,
    budget: std::time::Duration,
    cancel: &AtomicBool,
) -> Result<Tree, ParseError> {
    limits::parse_rope(&language.grammar, rope, old, budget, cancel)
}

/// Edits a tree (a clone of a document's) for incremental reparsing of a candidate text.
pub fn edit_tree(tree: &mut Tree, edit: &Edit) {
    tree.edit(&input_edit(edit));
}

/// Error and missing nodes under `node`, walking only subtrees that contain errors.
pub fn count_errors(node: Node<'_>) -> usize {
    if !node.has_error() {
        return 0;
    }
    let own = usize::from(node.is_error() || node.is_missing());
    let mut cursor = node.walk();
    own + node.children(&mut cursor).map(count_errors).sum::<usize>()
}

pub(crate) fn input_edit(e: &Edit) -> InputEdit {
    let point = |(row, column): (usize, usize)| Point { row, column };
    InputEdit {
        start_byte: e.start_byte,
        old_end_byte: e.old_end_byte,
        new_end_byte: e.new_end_byte,
        start_position: point(e.start_point),
        old_end_position: point(e.old_end_point),
        new_end_position: point(e.new_end_point),
    }
}

/// The nodes `query` captures under `node` that intersect `bytes`.
fn captures_nodes<'t>(query: &Query, node: Node<'t>, rope: &Rope, bytes: Range<usize>) -> Vec<Node<'t>> {
    let mut cursor = QueryCursor::new();
    cursor.set_byte_range(bytes);
    let mut out = Vec::new();
    let mut matches = cursor.matches(query, node, RopeText(rope));
    while let Some(m) = matches.next() {
        out.extend(m.captures.iter().map(|c| c.node));
    }
    out
}

fn captures(query: &Query, node: Node<'_>, rope: &Rope, bytes: Range<usize>) -> Vec<Range<usize>> {
    let mut cursor = QueryCursor::new();
    cursor.set_byte_range(bytes);
    let mut out = Vec::new();
    let mut matches = cursor.matches(query, node, RopeText(rope));
    while let Some(m) = matches.next() {
        out.extend(m.captures.iter().map(|c| c.node.byte_range()));
    }
    out
}

/// Lets queries read node text straight from the rope's chunks.
struct RopeText<'a>(&'a Rope);

impl<'a> tree_sitter::TextProvider<&'a [u8]> for RopeText<'a> {
    type I = std::iter::Map<ropey::iter::Chunks<'a>, fn(&'a str) -> &'a [u8]>;
    fn text(&mut self, node: Node<'_>) -> Self::I {
        let r = node.byte_range();
        let end = r.end.min(self.0.len_bytes());
        let start = r.start.min(end);
        self.0.byte_slice(start..end).chunks().map(str::as_bytes as fn(&'a str) -> &'a [u8])
    }
}

#[cfg(test)]
mod tests;
