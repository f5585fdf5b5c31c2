use super::*;
use crate::text::{Document, Encoding, Pos};

fn sample(name: &str) -> &'static str {
    match name {
        "rust" => "use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n",
        "python" => "import os\nfrom sys import argv\n\ndef add(a, b):\n    return a + b\n",
        "go" => "package main\n\nimport \"fmt\"\n\nfunc add(a, b int) int {\n\treturn a + b\n}\n",
        "javascript" => "import x from 'x';\n\nfunction add(a, b) {\n  return a + b;\n}\n",
        "typescript" => "import x from 'x';\n\nfunction add(a: number, b: number): number {\n  return a + b;\n}\n",
        "tsx" => "import x from 'x';\n\nfunction add(a: number, b: number): number {\n  return a + b;\n}\n",
        other => panic!("no sample for {other}"),
    }
}

#[test]
fn every_configured_language_loads_with_its_queries() {
    let names: Vec<_> = languages().iter().map(|l| l.info.name.as_str()).collect();
    assert_eq!(names, ["rust", "python", "go", "javascript", "typescript", "tsx"]);
}

#[test]
fn imports_and_enclosing_scope_are_found_in_each_language() {
    for lang in languages() {
        let text = sample(&lang.info.name);
        let rope = Rope::from_str(text);
        let syntax = Syntax::parse(lang, &rope).expect("parses");
        assert_eq!(syntax.errors_near(0), 0, "{} sample parses cleanly", lang.info.name);
        let imports = syntax.imports(&rope, text.len());
        assert!(!imports.is_empty(), "{} has imports", lang.info.name);
        let inside = text.find("a + b").expect("body");
        let scope = syntax.enclosing_scopes(&rope, inside);
        let first = scope.first().expect("a scope around the body");
        assert!(text[first.clone()].contains("add"), "{}: {:?}", lang.info.name, &text[first.clone()]);
    }
}

#[test]
fn language_is_chosen_by_id_then_extension() {
    assert_eq!(language_for("rust", "x").map(|l| l.info.name.as_str()), Some("rust"));
    assert_eq!(language_for("plaintext", "/a/b.tsx").map(|l| l.info.name.as_str()), Some("tsx"));
    assert!(language_for("plaintext", "/a/b.txt").is_none());
}

#[test]
fn incremental_reparse_matches_a_fresh_parse() {
    let lang = language_for("rust", "").expect("rust");
    let mut doc = Document::new(sample("rust"), 1, "rust");
    let mut syntax = Syntax::parse(lang, &doc.rope).expect("parses");
    for (pos, text) in
        [(Pos::new(3, 9), " * 2"), (Pos::new(0, 0), "// 😀 header\n"), (Pos::new(5, 0), "fn broken( {\n")]
    {
        let edit = doc.apply_change(Some((pos, pos)), text, Encoding::Utf16);
        syntax.update(&edit, &doc.rope);
        let fresh = Syntax::parse(lang, &doc.rope).expect("parses");
        assert_eq!(syntax.tree.root_node().to_sexp(), fresh.tree.root_node().to_sexp());
    }
    assert!(syntax.errors_near(doc.rope.len_bytes()) > 0, "the broken function is reported");
}
