//! Syntax: tree-sitter languages, incremental parse trees per document, and the queries that
//! give the conductor its context (imports, enclosing scopes) and its parse-quality check.
//!
//! No I/O: languages and queries are embedded from `grammars/` at build time. Every parse has a
//! time budget and every document a size limit ([`limits`]); the server runs document parses on
//! its blocking pool (`server/lsp/documents.rs`), never on the transport.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

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

/// A language Baton can parse: its metadata, grammar and compiled queries.
pub struct Language {
    pub info: LanguageInfo,
    grammar: tree_sitter::Language,
    imports: Query,
    scopes: Query,
    comments: Query,
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
    let query =
        |src: &str, what: &str| Query::new(&grammar, src).map_err(|e| format!("{} {what} query: {e}", info.name));
    Ok(Language {
        imports: query(sources.imports, "imports")?,
        scopes: query(sources.scopes, "scopes")?,
        comments: query(sources.comments, "comments")?,
        grammar,
        info,
    })
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

/// A parse tree and its language. Where the server hands one out, it was parsed from exactly the
/// text it comes with (`server/lsp/documents.rs`).
#[derive(Debug, Clone)]
pub struct Syntax {
    pub language: &'static Language,
    pub tree: Tree,
}

impl Syntax {
    /// Parses `rope` from scratch within the document limits and [`PARSE_BUDGET`]. `None` when the
    /// text is over a limit, the parse ran over its budget, or tree-sitter refused the grammar
    /// (for the CLI and tests; the server parses through `server/lsp/documents.rs`).
    pub fn parse(language: &'static Language, rope: &Rope) -> Option<Self> {
        check_limits(rope).ok()?;
        let tree = parse_within(language, rope, None, PARSE_BUDGET, &AtomicBool::new(false)).ok()?;
        Some(Self { language, tree })
    }

    /// Byte ranges of the import-like declarations that start before byte `limit`, in order.
    /// Only that part of the tree is searched, so the cost follows `limit`, not the file size.
    pub fn imports(&self, rope: &Rope, limit: usize) -> Vec<Range<usize>> {
        captures(&self.language.imports, self.tree.root_node(), rope, 0..limit)
    }

    /// Byte ranges of the scopes that contain `byte`, innermost first. Only nodes on the path
    /// to `byte` are visited.
    pub fn enclosing_scopes(&self, rope: &Rope, byte: usize) -> Vec<Range<usize>> {
        let mut scopes: Vec<_> = captures(&self.language.scopes, self.tree.root_node(), rope, byte..byte + 1)
            .into_iter()
            .filter(|r| r.start < byte && byte < r.end)
            .collect();
        scopes.sort_by_key(|r| r.end - r.start);
        scopes
    }

    /// The comment that contains `byte` (a node the language's `comments.scm` captures, from its
    /// first byte up to, not including, its end), if one does. Only nodes on the path to `byte`
    /// are visited.
    pub fn comment_at(&self, rope: &Rope, byte: usize) -> Option<Comment> {
        let bytes = captures(&self.language.comments, self.tree.root_node(), rope, byte..byte + 1)
            .into_iter()
            .find(|r| r.start <= byte && byte < r.end)?;
        let end = bytes.end.min(rope.len_bytes());
        let start = bytes.start.min(end);
        let text = rope.get_byte_slice(start..end)?.to_string();
        Some(Comment { bytes, text })
    }

    /// Byte range of the top-level node that contains `byte`, if one does.
    pub fn top_level_range(&self, byte: usize) -> Option<Range<usize>> {
        let root = self.tree.root_node();
        let mut cursor = root.walk();
        let found = root.children(&mut cursor).find(|n| n.start_byte() <= byte && byte <= n.end_byte());
        found.map(|n| n.byte_range())
    }

    /// Number of error and missing nodes in the top-level node that contains `byte` (the whole
    /// tree when `byte` lies between top-level nodes). Only subtrees marked `has_error` are walked,
    /// so a clean region costs almost nothing.
    pub fn errors_near(&self, byte: usize) -> usize {
        let root = self.tree.root_node();
        let mut cursor = root.walk();
        let top = root.children(&mut cursor).find(|n| n.start_byte() <= byte && byte <= n.end_byte());
        count_errors(top.unwrap_or(root))
    }
}

/// A comment in a tree ([`Syntax::comment_at`]): its byte range in the text and the text, markers
/// included (`// TODO: x`, `/* ... */`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub bytes: Range<usize>,
    pub text: String,
}

/// Parses `rope` as `language`, reusing `old` (edited to match `rope`), within [`CHECK_BUDGET`]:
/// for checking a candidate text in a request. `None` when over budget or refused.
pub fn parse_text(language: &'static Language, rope: &Rope, old: Option<&Tree>) -> Option<Tree> {
    parse_within(language, rope, old, CHECK_BUDGET, &AtomicBool::new(false)).ok()
}

/// Error and missing nodes in `text` parsed on its own as `language`, within [`CHECK_BUDGET`]
/// (`None` when over budget or refused: the caller cannot tell, and should not judge).
pub fn errors_in(language: &'static Language, text: &str) -> Option<usize> {
    let tree = parse_text(language, &Rope::from_str(text), None)?;
    Some(count_errors(tree.root_node()))
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
