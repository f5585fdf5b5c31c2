//! Cross-file context for inline completion: the windows of other documents most similar to the
//! code before the cursor (Jaccard similarity of identifier tokens over 20-line windows, as
//! Copilot's neighbouring tabs rank them), and the signatures of names used near the cursor that
//! tree-sitter finds defined in those documents. Each document is indexed once per version.
//!
//! Plain data in, plain data out: no I/O, no LSP types; lines are rope line indices.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use ropey::Rope;
use tree_sitter::Node;

use super::{DocSnapshot, Excerpt};
use crate::syntax::Syntax;

/// Lines in a window of another document.
pub(crate) const WINDOW_LINES: usize = 20;
/// Lines between the starts of two windows (windows overlap by half).
pub(crate) const WINDOW_STEP: usize = 10;
/// Lines before the cursor (and the cursor's line up to the cursor) the windows are compared to.
const QUERY_LINES: usize = 20;
/// Other documents considered per request, the most recently edited first.
const MAX_SOURCES: usize = 16;
/// Windows indexed per document (the first `MAX_WINDOWS * WINDOW_STEP` lines): bounds the work
/// of a request to `MAX_SOURCES * MAX_WINDOWS` set comparisons whatever the documents' sizes.
const MAX_WINDOWS: usize = 1000;
/// Bytes of a line that are tokenised (a minified line is not read whole).
const MAX_LINE_BYTES: usize = 400;
/// Closed documents that were edited, kept as context after their `didClose`.
const MAX_RECENT_CLOSED: usize = 4;
/// Longest signature kept for a definition, in lines and bytes.
const MAX_SIGNATURE_LINES: usize = 6;
const MAX_SIGNATURE_BYTES: usize = 600;
/// Definitions indexed per document.
const MAX_DEFINITIONS: usize = 2000;

/// Another document offered as context: a snapshot with its client version (the cache key
/// together with its length in bytes).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The document's key (its URI in the server).
    pub(crate) key: String,
    /// The path shown to the model.
    pub(crate) path: String,
    /// The client's version of the text (LSP `version`).
    pub(crate) version: i32,
    /// The client's language id (closed documents are offered to documents of theirs only).
    pub(crate) language_id: String,
    pub(crate) rope: Rope,
    /// The tree of exactly this text, when one is ready: definitions come from it.
    pub(crate) syntax: Option<Syntax>,
}

/// A window of a document: its lines and the sorted, deduplicated hashes of its identifiers.
#[derive(Debug)]
struct Window {
    start: usize,
    end: usize,
    tokens: Vec<u64>,
    /// Bytes of the window's excerpt text ([`window_text`]), known at indexing so that ranking
    /// the windows against the budget builds only the texts it keeps.
    text_len: usize,
}

/// A definition found by tree-sitter: its name, first line, and the text shown for it (the
/// signature line(s), the first line of its docstring, its class's header for a method).
#[derive(Debug)]
struct Definition {
    name: String,
    line: usize,
    /// The first line of the class (or impl) the definition is in.
    header: Option<String>,
    text: String,
}

/// A document indexed at one version.
#[derive(Debug)]
struct Indexed {
    version: i32,
    len_bytes: usize,
    path: String,
    language_id: String,
    rope: Rope,
    windows: Vec<Window>,
    /// Lines that look like they hold a secret value (`API_KEY = "..."`): never shown.
    hidden: HashSet<usize>,
    definitions: Vec<Definition>,
    /// Whether a tree was there to find definitions in (re-indexed once one is).
    parsed: bool,
}

/// The indexes of other documents, by key, and the order documents were last edited in.
#[derive(Debug, Default)]
pub(crate) struct ContextCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    docs: HashMap<String, Arc<Indexed>>,
    /// Edit order: a larger stamp is a more recent edit.
    edited: HashMap<String, u64>,
    clock: u64,
    /// Closed documents kept (edited before their close), oldest first.
    closed: VecDeque<String>,
}

/// What [`ContextCache::gather`] returns: excerpts to place before the prompt's prefix, in
/// order (the most similar snippet last, nearest the cursor's document).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Gathered {
    pub(crate) excerpts: Vec<Excerpt>,
}

/// Picks, from documents offered one at a time, the [`MAX_SOURCES`] most recently edited (the
/// ones [`ContextCache::gather`] reads; ties go to the first offered), copying a key only when
/// it is kept: a caller with many open documents copies nothing else out of the others.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    /// (edit stamp, key), the latest edit first.
    picked: Vec<(u64, String)>,
}

impl Recent {
    /// Whether a document last edited at `edited` would be kept if offered now: a caller checks
    /// this before the costlier checks of a document it would offer (its path against the
    /// secret patterns).
    pub(crate) fn takes(&self, edited: u64) -> bool {
        self.picked.len() < MAX_SOURCES || self.picked.last().is_some_and(|(at, _)| *at < edited)
    }

    /// Offers `key`, last edited at `edited` ([`ContextCache::edited_at`]).
    pub(crate) fn offer(&mut self, edited: u64, key: &str) {
        if !self.takes(edited) {
            return;
        }
        let at = self.picked.partition_point(|(stamp, _)| *stamp >= edited);
        self.picked.insert(at, (edited, key.to_owned()));
        self.picked.truncate(MAX_SOURCES);
    }

    /// The keys kept, the latest edit first.
    pub(crate) fn keys(self) -> impl Iterator<Item = String> {
        self.picked.into_iter().map(|(_, key)| key)
    }
}

impl ContextCache {
    /// When `key` was last edited: a stamp, larger for a later edit; 0 when it has not been
    /// edited since it was opened or Baton started.
    pub(crate) fn edited_at(&self, key: &str) -> u64 {
        self.lock().edited.get(key).copied().unwrap_or(0)
    }

    /// Notes an edit of `key` (from `didChange`): recently edited documents are ranked first.
    pub(crate) fn touch(&self, key: &str) {
        let mut inner = self.lock();
        inner.clock += 1;
        let stamp = inner.clock;
        inner.edited.insert(key.to_owned(), stamp);
    }

    /// Forgets a closed document, unless it was edited and indexed: then it stays available as
    /// context (one of the [`MAX_RECENT_CLOSED`] most recently closed).
    pub(crate) fn forget(&self, key: &str) {
        let mut inner = self.lock();
        let keep = inner.edited.contains_key(key) && inner.docs.contains_key(key);
        inner.closed.retain(|k| k != key);
        if keep {
            inner.closed.push_back(key.to_owned());
            while inner.closed.len() > MAX_RECENT_CLOSED {
                if let Some(old) = inner.closed.pop_front() {
                    inner.docs.remove(&old);
                    inner.edited.remove(&old);
                }
            }
        } else {
            inner.docs.remove(key);
            inner.edited.remove(key);
        }
    }

    /// Recently edited closed documents of `language_id` still kept, as sources (for the caller
    /// to filter by its secret patterns, then pass to [`Self::gather`]).
    pub(crate) fn recent_closed(&self, language_id: &str) -> Vec<Source> {
        let inner = self.lock();
        inner
            .closed
            .iter()
            .rev()
            .filter_map(|k| inner.docs.get(k).map(|d| (k, d)))
            .filter(|(_, d)| d.language_id == language_id)
            .map(|(k, d)| Source {
                key: k.clone(),
                path: d.path.clone(),
                version: d.version,
                language_id: d.language_id.clone(),
                rope: d.rope.clone(),
                syntax: None,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cross-file context for a suggestion at `cursor` (a char index) in `doc`: definitions
    /// of names used in the lines before the cursor (and of names the document imports) found in
    /// `sources`, then the windows of `sources` most similar to those lines, within `budget`
    /// bytes (each excerpt's cost counts its text and a `Path:` header line of `path.len() + 12`
    /// bytes). Definitions take at most half of the budget. Documents are indexed once per
    /// (version, length); the most recently edited [`MAX_SOURCES`] sources are read.
    pub(crate) fn gather(&self, doc: &DocSnapshot, cursor: usize, sources: Vec<Source>, budget: usize) -> Gathered {
        if budget == 0 || sources.is_empty() {
            return Gathered::default();
        }
        let indexed = self.index_all(sources);
        let query = Query::new(doc, cursor);
        let mut excerpts = Vec::new();
        let mut used = 0;

        // Definitions: the names nearest the cursor first.
        let mut defs: Vec<(usize, &Definition)> = Vec::new(); // (source index, definition)
        'names: for name in &query.names {
            for (i, d) in indexed.iter().enumerate() {
                for def in d.definitions.iter().filter(|def| &def.name == name) {
                    if d.hidden.contains(&def.line) || defs.iter().any(|(j, e)| *j == i && e.line == def.line) {
                        continue;
                    }
                    // Counted as if each came with its own path and class header lines.
                    let header = def.header.as_ref().map_or(0, |h| h.len() + 1);
                    let cost = def.text.len() + 1 + header + header_cost(&d.path);
                    if used + cost > budget / 2 {
                        break 'names;
                    }
                    used += cost;
                    defs.push((i, def));
                }
            }
        }

        // Snippets: every window scored against the query, the best that fit the rest.
        let mut scored: Vec<(f64, usize, usize)> = Vec::new();
        for (i, d) in indexed.iter().enumerate() {
            for (w, window) in d.windows.iter().enumerate() {
                let score = jaccard(&query.tokens, &window.tokens);
                if score > 0.0 {
                    scored.push((score, i, w));
                }
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut chosen: Vec<(f64, usize, usize, usize)> = Vec::new(); // (score, source, start, end)
        for (score, i, w) in scored {
            let d = &indexed[i];
            let window = &d.windows[w];
            // Overlapping windows of one document: the better one is already in.
            if chosen.iter().any(|c| c.1 == i && c.2 < window.end && window.start < c.3) {
                continue;
            }
            let cost = window.text_len + header_cost(&d.path);
            if used + cost > budget {
                continue;
            }
            used += cost;
            chosen.push((score, i, window.start, window.end));
        }
        // Least similar first: the best snippet ends up nearest the cursor's document.
        chosen.reverse();
        for (_, i, start, end) in chosen {
            let d = &indexed[i];
            excerpts.push(Excerpt { path: d.path.clone(), text: window_text(&d.rope, &d.hidden, start, end) });
        }
        // Definitions last, nearest the cursor's document: per document in source order, the
        // methods of one class under one header.
        let mut sources: Vec<usize> = defs.iter().map(|(i, _)| *i).collect();
        sources.dedup();
        sources.sort_unstable();
        sources.dedup();
        for i in sources {
            let mut mine: Vec<&Definition> = defs.iter().filter(|(j, _)| *j == i).map(|(_, d)| *d).collect();
            mine.sort_by_key(|d| d.line);
            let mut text = String::new();
            let mut last_header = None;
            for d in mine {
                if d.header.is_some() && d.header != last_header {
                    text.push_str(d.header.as_deref().unwrap_or_default());
                    text.push('\n');
                }
                // After a class's own definition, its methods need no header again.
                last_header = d.header.clone().or_else(|| {
                    d.text.lines().find(|l| !l.trim_start().starts_with(['#', '/', '@'])).map(str::to_owned)
                });
                text.push_str(&d.text);
                text.push('\n');
            }
            excerpts.push(Excerpt { path: indexed[i].path.clone(), text });
        }
        Gathered { excerpts }
    }

    /// The indexes of `sources` (the [`MAX_SOURCES`] most recently edited), reusing cached ones.
    fn index_all(&self, mut sources: Vec<Source>) -> Vec<Arc<Indexed>> {
        let (stale, mut fresh) = {
            let inner = self.lock();
            sources.sort_by_key(|s| std::cmp::Reverse(inner.edited.get(&s.key).copied().unwrap_or(0)));
            sources.truncate(MAX_SOURCES);
            let mut stale = Vec::new();
            let mut fresh = Vec::new();
            for s in sources {
                match inner.docs.get(&s.key) {
                    Some(d)
                        if d.version == s.version
                            && d.len_bytes == s.rope.len_bytes()
                            && (d.parsed || s.syntax.is_none()) =>
                    {
                        fresh.push((s.key, Arc::clone(d)));
                    }
                    _ => stale.push(s),
                }
            }
            (stale, fresh)
        };
        // Indexing happens outside the lock; two requests may index the same version twice.
        let built: Vec<(String, Arc<Indexed>)> =
            stale.into_iter().map(|s| (s.key.clone(), Arc::new(index(s)))).collect();
        let mut inner = self.lock();
        for (key, d) in &built {
            inner.docs.insert(key.clone(), Arc::clone(d));
        }
        fresh.extend(built);
        fresh.into_iter().map(|(_, d)| d).collect()
    }
}

fn header_cost(path: &str) -> usize {
    path.len() + 12
}

/// The lines `start..end` of an indexed document, without its hidden lines and the blank lines
/// at either end.
fn window_text(rope: &Rope, hidden: &HashSet<usize>, start: usize, end: usize) -> String {
    let mut text = String::new();
    for line in start..end.min(rope.len_lines()) {
        if hidden.contains(&line) {
            continue;
        }
        let l = rope.line(line);
        if text.is_empty() && l.chars().all(char::is_whitespace) {
            continue;
        }
        l.chunks().for_each(|chunk| text.push_str(chunk));
    }
    let kept = text.trim_end().len();
    text.truncate(kept);
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// What the windows are compared to: the identifiers of the lines before the cursor.
struct Query {
    /// Sorted, deduplicated token hashes.
    tokens: Vec<u64>,
    /// Names to look definitions up for: the lines before the cursor, nearest first, then the
    /// names the document imports.
    names: Vec<String>,
}

impl Query {
    fn new(doc: &DocSnapshot, cursor: usize) -> Self {
        let rope = &doc.rope;
        let cursor = cursor.min(rope.len_chars());
        let line = rope.char_to_line(cursor);
        let first = line.saturating_sub(QUERY_LINES);
        let mut tokens = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for l in (first..=line).rev() {
            let start = rope.line_to_char(l);
            let end = if l == line { cursor } else { start + rope.line(l).len_chars() };
            let text = line_head(rope.slice(start..end));
            let words = identifiers(&text);
            for w in words.iter().rev().filter(|w| !is_keyword(w)) {
                tokens.push(hash(w));
                if seen.insert((*w).to_owned()) {
                    names.push((*w).to_owned());
                }
            }
        }
        if let Some(syntax) = &doc.syntax {
            let limit = rope.len_bytes().min(32 * 1024);
            for r in syntax.imports(rope, limit) {
                let end = r.end.min(rope.len_bytes());
                let text = rope.get_byte_slice(r.start.min(end)..end).map(|s| s.to_string()).unwrap_or_default();
                for w in identifiers(&text) {
                    if !is_keyword(w) && seen.insert(w.to_owned()) {
                        names.push(w.to_owned());
                    }
                }
            }
        }
        tokens.sort_unstable();
        tokens.dedup();
        Self { tokens, names }
    }
}

/// Whether other documents are offered at `cursor` (a char index): only once the cursor's line
/// has begun (text other than whitespace before the cursor). On an empty line the model chooses
/// the next statement, and other code in the prompt leads a small model to continue that code
/// instead: on the cross-file quality benchmark (tests/bench/quality/RESULTS.md, "Which
/// context, where") every variant measured lost there against no context (at the end of the
/// indentation, the name right 9-13 times in 36 against 14), while on a begun line the context
/// completes a half-typed name. Skipping it also spares a local model ~1,000 prompt tokens.
pub(crate) fn offered_at(rope: &Rope, cursor: usize) -> bool {
    let cursor = cursor.min(rope.len_chars());
    let line_start = rope.line_to_char(rope.char_to_line(cursor));
    // Read no further than that: the request's cost does not grow with the line (a run of
    // blanks that long counts as an empty line).
    rope.slice(line_start..cursor).chars().take(MAX_LINE_BYTES).any(|c| !c.is_whitespace())
}

/// At most [`MAX_LINE_BYTES`] of a line, cut at a char boundary.
fn line_head(line: ropey::RopeSlice<'_>) -> String {
    let bytes = line.len_bytes().min(MAX_LINE_BYTES);
    line.byte_slice(..line.char_to_byte(line.byte_to_char(bytes))).to_string()
}

/// Largest document parsed here for its definitions when it comes without a tree (its tree was
/// dropped, or never made: documents are parsed when first changed or asked about), and the
/// time that parse may take. Once per document version; the tree is dropped after.
const UNPARSED_MAX_BYTES: usize = 256 * 1024;
const UNPARSED_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

/// A tree of `s`'s text parsed here, for a document that came without one: `None` when it has no
/// grammar, is larger than [`UNPARSED_MAX_BYTES`] or over a limit, or the parse runs over
/// [`UNPARSED_BUDGET`].
fn parse_unparsed(s: &Source) -> Option<Syntax> {
    if s.rope.len_bytes() > UNPARSED_MAX_BYTES {
        return None;
    }
    let language = crate::syntax::language_for(&s.language_id, &s.key)?;
    crate::syntax::check_limits(&s.rope).ok()?;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let tree = crate::syntax::parse_within(language, &s.rope, None, UNPARSED_BUDGET, &cancel).ok()?;
    Some(Syntax { language, tree, imports_head: None, exact: true })
}

/// Builds the index of one document version.
fn index(mut s: Source) -> Indexed {
    if s.syntax.is_none() {
        s.syntax = parse_unparsed(&s);
    }
    let rope = s.rope;
    let lines = rope.len_lines().min(MAX_WINDOWS * WINDOW_STEP);
    let mut per_line: Vec<Vec<u64>> = Vec::with_capacity(lines);
    let mut hidden = HashSet::new();
    for l in 0..lines {
        let text = line_head(rope.line(l));
        if looks_secret(&text) {
            hidden.insert(l);
            per_line.push(Vec::new());
            continue;
        }
        per_line.push(identifiers(&text).into_iter().filter(|w| !is_keyword(w)).map(hash).collect());
    }
    let mut windows = Vec::new();
    for start in (0..lines).step_by(WINDOW_STEP) {
        let end = (start + WINDOW_LINES).min(lines);
        let mut tokens: Vec<u64> = per_line[start..end].iter().flatten().copied().collect();
        tokens.sort_unstable();
        tokens.dedup();
        if !tokens.is_empty() {
            let text_len = window_text(&rope, &hidden, start, end).len();
            windows.push(Window { start, end, tokens, text_len });
        }
    }
    let mut definitions = Vec::new();
    if let Some(syntax) = &s.syntax {
        collect_definitions(syntax.tree.root_node(), &rope, None, 0, &mut definitions);
    }
    Indexed {
        version: s.version,
        len_bytes: rope.len_bytes(),
        path: s.path,
        language_id: s.language_id,
        parsed: s.syntax.is_some(),
        rope,
        windows,
        hidden,
        definitions,
    }
}

/// Node kinds that define a name (a `name` field), in the grammars Baton ships.
const DEFINITION_KINDS: &[&str] = &[
    "function_definition",
    "class_definition",
    "function_item",
    "struct_item",
    "enum_item",
    "trait_item",
    "type_item",
    "const_item",
    "static_item",
    "function_declaration",
    "method_declaration",
    "type_spec",
    "class_declaration",
    "method_definition",
    "interface_declaration",
    "type_alias_declaration",
    "enum_declaration",
    "abstract_class_declaration",
];

/// Node kinds whose body holds definitions of their own (methods), looked into one level.
const CONTAINER_KINDS: &[&str] =
    &["class_definition", "class_declaration", "abstract_class_declaration", "impl_item", "trait_item"];

/// Finds definitions among `node`'s children (and, `depth` 0 only, inside classes and impls).
fn collect_definitions(node: Node<'_>, rope: &Rope, header: Option<&str>, depth: usize, out: &mut Vec<Definition>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        if out.len() >= MAX_DEFINITIONS {
            return;
        }
        // Wrappers: `@decorator def`, `export function`, Go's `type (...)`.
        let def = match child.kind() {
            "decorated_definition" => child.child_by_field_name("definition").unwrap_or(child),
            "export_statement" => child.child_by_field_name("declaration").unwrap_or(child),
            "type_declaration" => {
                collect_definitions(child, rope, header, depth, out);
                continue;
            }
            _ => child,
        };
        let kind = def.kind();
        if DEFINITION_KINDS.contains(&kind)
            && let Some(name) = def.child_by_field_name("name")
        {
            let name = node_text(rope, name);
            let text = definition_text(def, child, rope);
            if !name.is_empty() && !text.is_empty() {
                let header = header.map(str::to_owned);
                out.push(Definition { name, line: def.start_position().row, header, text });
            }
        }
        if depth == 0
            && CONTAINER_KINDS.contains(&kind)
            && let Some(body) = def.child_by_field_name("body")
        {
            let first = rope.line(def.start_position().row.min(rope.len_lines().saturating_sub(1))).to_string();
            let first = first.trim_end();
            collect_definitions(body, rope, Some(first), depth + 1, out);
        }
    }
}

/// The text shown for a definition: the comment right above it (first line), its signature (up
/// to its body), and a Python docstring's first line.
fn definition_text(def: Node<'_>, outer: Node<'_>, rope: &Rope) -> String {
    let start = outer.start_byte();
    let body = def.child_by_field_name("body");
    let sig_end = match body {
        // A body on the signature's line (`def f(): pass`, `fn f() {`): up to the body.
        Some(b) => b.start_byte(),
        None => def.end_byte(),
    };
    // The tree belongs to this text; were it not, a bad range gives no definition, not a panic.
    let start = start.min(rope.len_bytes());
    let sig_end = sig_end.clamp(start, rope.len_bytes());
    let Some(signature) = rope.get_byte_slice(start..sig_end) else {
        return String::new();
    };
    let mut signature = signature.to_string();
    // Signatures start at a line start: indent the first line as the source does.
    let row = outer.start_position().row.min(rope.len_lines().saturating_sub(1));
    let indent: String = rope.line(row).chars().take_while(|c| *c == ' ' || *c == '\t').collect();
    signature.insert_str(0, &indent);
    let signature: Vec<&str> = signature.trim_end().lines().take(MAX_SIGNATURE_LINES).collect();
    let mut text = String::new();
    if let Some(comment) = leading_comment(outer, rope) {
        text.push_str(&indent);
        text.push_str(&comment);
        text.push('\n');
    }
    text.push_str(&signature.join("\n"));
    if let Some(body) = body
        && let Some(doc) = python_docstring(body, rope)
    {
        let body_indent: String = rope
            .line(body.start_position().row.min(rope.len_lines().saturating_sub(1)))
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let body_indent = if body_indent.len() > indent.len() { body_indent } else { format!("{indent}    ") };
        text.push('\n');
        text.push_str(&format!("{body_indent}\"\"\"{doc}\"\"\""));
    }
    if text.len() > MAX_SIGNATURE_BYTES {
        let cut = text.floor_char_boundary(MAX_SIGNATURE_BYTES);
        text.truncate(text[..cut].rfind('\n').unwrap_or(0));
    }
    text
}

/// The first line of the comment block right above `node` (a doc comment), if there is one.
fn leading_comment(node: Node<'_>, rope: &Rope) -> Option<String> {
    let mut first = None;
    let mut row = node.start_position().row;
    let mut prev = node.prev_named_sibling();
    while let Some(p) = prev {
        if !p.kind().contains("comment") || p.end_position().row + 1 < row {
            break;
        }
        row = p.start_position().row;
        first = Some(p);
        prev = p.prev_named_sibling();
    }
    let text = node_text(rope, first?);
    text.lines().next().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty())
}

/// The first non-empty line of a Python docstring that opens `body`.
fn python_docstring(body: Node<'_>, rope: &Rope) -> Option<String> {
    let first = body.named_child(0)?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let string = first.named_child(0)?;
    if string.kind() != "string" {
        return None;
    }
    let text = node_text(rope, string);
    let inner = text.trim_start_matches(|c: char| c.is_ascii_alphabetic()).trim_matches(|c| c == '"' || c == '\'');
    inner.lines().map(str::trim).find(|l| !l.is_empty()).map(|l| l.replace("\"\"\"", "").to_owned())
}

fn node_text(rope: &Rope, node: Node<'_>) -> String {
    let end = node.end_byte().min(rope.len_bytes());
    rope.get_byte_slice(node.start_byte().min(end)..end).map(|s| s.to_string()).unwrap_or_default()
}

/// Identifier tokens of `text`: runs of letters, digits and `_` that do not start with a digit.
fn identifiers(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        let word = c.is_alphanumeric() || c == '_';
        match (start, word) {
            (None, true) if !c.is_numeric() => start = Some(i),
            (Some(s), false) => {
                out.push(&text[s..i]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// Keywords and very common words of the supported languages: left out of the token sets (they
/// would make all code alike) and not names to look up.
fn is_keyword(w: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "and",
        "as",
        "async",
        "await",
        "break",
        "case",
        "class",
        "const",
        "continue",
        "def",
        "del",
        "elif",
        "else",
        "enum",
        "except",
        "export",
        "false",
        "False",
        "finally",
        "fn",
        "for",
        "from",
        "func",
        "function",
        "if",
        "impl",
        "import",
        "in",
        "is",
        "let",
        "match",
        "mod",
        "mut",
        "new",
        "none",
        "None",
        "nil",
        "not",
        "null",
        "or",
        "pass",
        "pub",
        "raise",
        "return",
        "self",
        "Self",
        "static",
        "struct",
        "this",
        "true",
        "True",
        "try",
        "type",
        "use",
        "var",
        "while",
        "with",
        "yield",
        "package",
        "interface",
        "void",
        "int",
        "str",
    ];
    w.len() < 2 || KEYWORDS.contains(&w)
}

/// FNV-1a: a fixed hash, so token sets compare the same in every process.
fn hash(w: &str) -> u64 {
    w.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// |a ∩ b| / |a ∪ b| of two sorted, deduplicated slices; 0 when both are empty.
fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 { 0.0 } else { both as f64 / union as f64 }
}

/// Whether a line assigns a literal to a secret-sounding name (`SECRET_KEY = "..."`,
/// `"api_key": "..."`, `password: '...'`): such lines never go into a snippet, whatever the
/// file is called (`[secrets] patterns` keep secret files out whole).
fn looks_secret(line: &str) -> bool {
    const WORDS: &[&str] =
        &["secret", "password", "passwd", "token", "api_key", "apikey", "private_key", "access_key", "credential"];
    let lower = line.to_ascii_lowercase();
    let Some(at) = WORDS.iter().filter_map(|w| lower.find(w)).min() else {
        return false;
    };
    let rest = &lower[at..];
    // `NAME = "..."`, `NAME: str = '...'`, `"name": "..."`; not `name = f("...")`.
    let Some(op) = rest.find(['=', ':']) else {
        return false;
    };
    let Some(q) = rest[op..].find(['"', '\'', '`']).map(|q| q + op) else {
        return false;
    };
    if rest[..q].contains('(') {
        return false;
    }
    let quote = &rest[q..q + 1];
    let literal = rest[q + 1..].split(quote).next().unwrap_or("");
    literal.len() >= 8
}

#[cfg(test)]
mod tests;
