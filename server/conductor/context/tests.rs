use super::*;
use crate::syntax::{Syntax, language_for};
use baton_test_support::Fixture;
use expect_test::{Expect, expect};

/// The document with the cursor, from a fixture marked `$0`.
fn current(text: &str, lang: &str) -> (DocSnapshot, usize) {
    let fixture = Fixture::parse(text);
    let rope = Rope::from_str(&fixture.text);
    let cursor = rope.byte_to_char(fixture.cursor());
    let syntax = language_for(lang, "").and_then(|l| Syntax::parse(l, &rope));
    (DocSnapshot { key: "file:///cur".into(), path: "cur".into(), rope, syntax, language_id: lang.into() }, cursor)
}

fn source(path: &str, text: &str, lang: &str) -> Source {
    let rope = Rope::from_str(text);
    let syntax = language_for(lang, path).and_then(|l| Syntax::parse(l, &rope));
    Source { key: format!("file:///{path}"), path: path.into(), version: 1, language_id: lang.into(), rope, syntax }
}

/// The excerpts as the prompt shows them (`# Path:` headers).
fn render(g: &Gathered) -> String {
    g.excerpts.iter().map(|e| format!("# Path: {}\n{}", e.path, e.text)).collect()
}

fn cost(g: &Gathered) -> usize {
    g.excerpts.iter().map(|e| e.text.len() + header_cost(&e.path)).sum()
}

/// 60 lines of module header (imports, constants) unlike the code at the cursor.
fn header_lines() -> String {
    let mut s = String::from("import os\nimport sys\n\n");
    for i in 0..57 {
        s.push_str(&format!("CONSTANT_{i} = {i}\n"));
    }
    s
}

const SIMILAR: &str = "\
def load_rows(path):
    rows = []
    with open(path) as handle:
        for record in csv.reader(handle):
            rows.append(normalize_record(record))
    return rows
";

#[test]
fn the_most_similar_window_wins_over_the_first_lines() {
    let other = format!("{}\n\n{SIMILAR}", header_lines());
    let (doc, cursor) = current(
        "import csv\n\ndef read_table(path):\n    rows = []\n    with open(path) as handle:\n        for record in csv.reader(handle):\n            $0\n",
        "python",
    );
    let g = ContextCache::default().gather(&doc, cursor, vec![source("util.py", &other, "python")], 300);
    let shown = render(&g);
    assert!(shown.contains("rows.append(normalize_record(record))"), "{shown}");
    assert!(!shown.contains("import sys") && !shown.contains("CONSTANT_0 "), "{shown}");
    expect![[r#"
        # Path: util.py
        def load_rows(path):
            rows = []
            with open(path) as handle:
                for record in csv.reader(handle):
                    rows.append(normalize_record(record))
            return rows
    "#]]
    .assert_eq(&shown);
}

#[test]
fn snippets_stay_within_the_budget() {
    let mut other = String::new();
    for i in 0..40 {
        other.push_str(&format!("def load_{i}(path):\n    rows = read(path)\n    return rows\n\n"));
    }
    let (doc, cursor) = current("def load(path):\n    rows = read(path)\n    $0\n", "python");
    let cache = ContextCache::default();
    for budget in [0, 10, 100, 400, 1000, 4000] {
        let g = cache.gather(&doc, cursor, vec![source("a.py", &other, "python")], budget);
        assert!(cost(&g) <= budget, "budget {budget}: cost {}", cost(&g));
        if budget >= 1000 {
            assert!(g.excerpts.len() >= 2, "a large budget holds several snippets");
        }
    }
    assert_eq!(cache.gather(&doc, cursor, vec![source("a.py", &other, "python")], 0), Gathered::default());
}

#[test]
fn a_window_is_charged_the_length_of_the_text_it_shows() {
    // Blank lines at a window's ends, a hidden secret line, trailing spaces, CRLF line ends and a
    // multi-byte name: what the index charges each window is the length of the excerpt it builds.
    let mut other = String::from("\n\nAPI_KEY = \"sk-0123456789abcdef\"\n");
    for i in 0..12 {
        other.push_str(&format!("def løad_{i}(path):   \r\n    rows = read(path)\n\n    return rows  \n\n\n"));
    }
    let d = index(source("a.py", &other, "python"));
    assert!(d.windows.len() >= 5 && !d.hidden.is_empty(), "{} windows, hidden {:?}", d.windows.len(), d.hidden);
    for w in &d.windows {
        let text = window_text(&d.rope, &d.hidden, w.start, w.end);
        assert_eq!(w.text_len, text.len(), "window {}..{}: {text:?}", w.start, w.end);
    }
    // A budget that holds exactly the best window and its header takes it, one byte less does not.
    let (doc, cursor) = current("def load(path):\n    rows = read(path)\n    $0\n", "python");
    let all = ContextCache::default().gather(&doc, cursor, vec![source("a.py", &other, "python")], 100_000);
    let best = all.excerpts.last().expect("a snippet");
    let exact = best.text.len() + header_cost(&best.path);
    let g = ContextCache::default().gather(&doc, cursor, vec![source("a.py", &other, "python")], exact);
    assert_eq!(g.excerpts.last().map(|e| &e.text), Some(&best.text));
    let g = ContextCache::default().gather(&doc, cursor, vec![source("a.py", &other, "python")], exact - 1);
    assert!(g.excerpts.iter().all(|e| e.text != best.text), "{}", render(&g));
}

#[test]
fn a_secret_in_another_document_never_appears() {
    // settings.py is not a secret file by name; its key sits next to code like the cursor's.
    let other = "\
SECRET_KEY = \"django-insecure-0123456789abcdef\"
DATABASE_PASSWORD: str = 'hunter2hunter2'
api_token = `tok_live_abcdefgh`

def connect(settings):
    return open_connection(settings.host, settings.port)
";
    let (doc, cursor) = current("def reconnect(settings):\n    return open_connection(settings.host, $0)\n", "python");
    let g = ContextCache::default().gather(&doc, cursor, vec![source("settings.py", other, "python")], 4000);
    let shown = render(&g);
    assert!(shown.contains("open_connection(settings.host, settings.port)"), "{shown}");
    for secret in ["django-insecure", "hunter2", "tok_live"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn secret_looking_lines() {
    for line in ["SECRET_KEY = \"0123456789\"", "  \"api_key\": \"sk-0123456789\",", "password='abcdefghij'"] {
        assert!(looks_secret(line), "{line}");
    }
    for line in
        ["token = get_token()", "password = \"short\"", "SECRET_KEY = os.environ['KEY']", "x = \"a long string\""]
    {
        assert!(!looks_secret(line), "{line}");
    }
}

fn check_definitions(other: &str, lang: &str, path: &str, current_text: &str, expect: Expect) {
    let (doc, cursor) = current(current_text, lang);
    let s = source(path, other, lang);
    assert!(s.syntax.is_some(), "the fixture parses");
    // A budget for definitions only: snippets would not fit after them.
    let g = ContextCache::default().gather(&doc, cursor, vec![s], 900);
    let defs: Vec<&Excerpt> = g.excerpts.iter().filter(|e| !e.text.contains("    body_line")).collect();
    expect.assert_eq(&defs.iter().map(|e| format!("# Path: {}\n{}", e.path, e.text)).collect::<String>());
}

#[test]
fn definitions_of_names_used_before_the_cursor() {
    let other = "\
import re


def canonicalize_name(name: str, *, validate: bool = False) -> str:
    \"\"\"Normalize a project name.

    More text that is not shown.
    \"\"\"
    body_line = 1
    return name


class Version(_BaseVersion):
    \"\"\"A parsed version.\"\"\"

    def __init__(self, version: str) -> None:
        body_line = 1

    @property
    def public(self) -> str:
        body_line = 2


def unused_helper():
    body_line = 3
";
    check_definitions(
        other,
        "python",
        "pkg/utils.py",
        "from .utils import canonicalize_name\n\ndef f(v):\n    x = Version(v)\n    name = canonicalize_name(x.public)\n    $0\n",
        expect![[r##"
            # Path: pkg/utils.py
            def canonicalize_name(name: str, *, validate: bool = False) -> str:
                """Normalize a project name."""
            class Version(_BaseVersion):
                """A parsed version."""
                @property
                def public(self) -> str:
        "##]],
    );
}

#[test]
fn definitions_in_rust_carry_their_doc_comment() {
    let other = "\
/// Parses a header line.
/// Second line.
pub fn parse_header(line: &str) -> Option<Header> {
    body_line();
    None
}

impl Header {
    /// The header's name.
    pub fn name(&self) -> &str {
        body_line();
    }
}
";
    check_definitions(
        other,
        "rust",
        "src/header.rs",
        "fn f(l: &str) {\n    let h = parse_header(l)?;\n    $0\n}\n",
        expect![[r#"
            # Path: src/header.rs
            /// Parses a header line.
            pub fn parse_header(line: &str) -> Option<Header>
        "#]],
    );
}

#[test]
fn each_version_is_indexed_once_and_closed_edited_documents_stay() {
    let cache = ContextCache::default();
    let (doc, cursor) = current("def load(path):\n    rows = read(path)\n    $0\n", "python");
    let s = source("a.py", "def load_all(path):\n    rows = read(path)\n", "python");
    cache.gather(&doc, cursor, vec![s.clone()], 1000);
    let first = Arc::clone(&cache.lock().docs["file:///a.py"]);
    cache.gather(&doc, cursor, vec![s.clone()], 1000);
    assert!(Arc::ptr_eq(&first, &cache.lock().docs["file:///a.py"]), "same version: the index is reused");
    let mut changed = source("a.py", "def load_all(path):\n    rows = read(path)\n    return rows\n", "python");
    changed.version = 2;
    cache.gather(&doc, cursor, vec![changed], 1000);
    assert!(!Arc::ptr_eq(&first, &cache.lock().docs["file:///a.py"]), "a new version is indexed again");

    // Closed without an edit: gone. Closed after an edit: kept, for its language only.
    cache.forget("file:///a.py");
    assert!(cache.recent_closed("python").is_empty());
    cache.gather(&doc, cursor, vec![s], 1000);
    cache.touch("file:///a.py");
    cache.forget("file:///a.py");
    assert_eq!(cache.recent_closed("python").len(), 1);
    assert!(cache.recent_closed("rust").is_empty());
}

#[test]
fn jaccard_of_sorted_sets() {
    assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
    assert_eq!(jaccard(&[], &[]), 0.0);
    assert_eq!(identifiers("a.b_c(1x, _d9) é"), vec!["a", "b_c", "x", "_d9", "é"]);
}

#[test]
fn a_document_without_a_tree_is_parsed_for_its_definitions() {
    // Documents are parsed when first changed or asked about, and only the most recently used
    // keep a tree: one opened and never touched comes without one, its definitions all the same.
    let other = "def canonicalize_name(name: str) -> str:\n    body_line = 1\n    return name\n";
    let current_text = "from .utils import canonicalize_name\n\ndef f(v):\n    return canonicalize_name(v)\n    $0\n";
    let (doc, cursor) = current(current_text, "python");
    let with_tree = source("pkg/utils.py", other, "python");
    let without = Source { syntax: None, ..with_tree.clone() };
    let shown = |s: Source| render(&ContextCache::default().gather(&doc, cursor, vec![s], 900));
    let expected = shown(with_tree);
    assert!(expected.contains("def canonicalize_name(name: str) -> str:"), "{expected}");
    assert_eq!(shown(without), expected);
}

/// The documents a request reads are the most recently edited, whatever order they are offered
/// in; among documents not edited since they were opened, the first offered.
#[test]
fn the_most_recently_edited_documents_are_picked() {
    let mut recent = Recent::default();
    for i in 0..40u64 {
        // Documents 0..10 never edited (stamp 0), then edits in a scrambled order.
        let edited = if i < 10 { 0 } else { (i * 7) % 30 + 1 };
        // `takes` says beforehand whether the offer changes what is kept (the handler skips its
        // secret-path check for a document that would not be).
        let (takes, before) = (recent.takes(edited), recent.picked.clone());
        recent.offer(edited, &format!("doc{i}"));
        assert_eq!(takes, recent.picked != before, "doc{i} edited at {edited}");
    }
    let keys: Vec<String> = recent.keys().collect();
    assert_eq!(keys.len(), MAX_SOURCES);
    let stamp = |k: &str| -> u64 {
        let i: u64 = k.trim_start_matches("doc").parse().expect("a number");
        if i < 10 { 0 } else { (i * 7) % 30 + 1 }
    };
    let stamps: Vec<u64> = keys.iter().map(|k| stamp(k)).collect();
    assert_eq!(stamps, (15..=30).rev().collect::<Vec<u64>>(), "{keys:?}");

    let mut few = Recent::default();
    for key in ["a", "b", "c"] {
        few.offer(0, key);
    }
    few.offer(5, "d");
    assert_eq!(few.keys().collect::<Vec<_>>(), ["d", "a", "b", "c"]);
}

/// Other documents are offered only on a begun line: on an empty one (at its start or at the end
/// of its indentation) they led the model away on the cross-file benchmark.
#[test]
fn other_documents_are_offered_once_the_line_has_begun() {
    let rope = Rope::from_str("def f(x):\n    \n    y = x.\n\t𝒳\n");
    let at = |line: usize, col: usize| offered_at(&rope, rope.line_to_char(line) + col);
    assert!(!at(1, 0), "column 0 of an empty line");
    assert!(!at(1, 4), "the end of the indentation");
    assert!(!at(2, 4), "before the line's text, at the end of its indentation");
    assert!(at(2, 10), "after `y = x.`");
    assert!(at(3, 2), "after an astral character");
    assert!(!at(3, 1), "after a tab only");
    assert!(at(0, 3));
    assert!(!offered_at(&rope, usize::MAX), "past the end: the last, empty line");
    let blanks = Rope::from_str(&format!("{}x", " ".repeat(10_000)));
    assert!(!offered_at(&blanks, 10_001), "a line read no further than its first 400 chars");
}
