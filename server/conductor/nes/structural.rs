//! Structural next edit predictions, no model: after a rename of an identifier, its other
//! occurrences in the same scope (and the parameter's name in the function's doc comment or
//! docstring); after a parameter was added to or removed from a signature, the matching argument
//! at each call of that function in the document. Node kinds are the pinned grammars' (tables in
//! tests/nes/DESIGN.md §2).

use std::ops::Range;

use ropey::Rope;
use tree_sitter::{Node, Tree};

use super::history::HistoryEdit;
use super::{Prediction, Source};
use crate::syntax::{Language, Syntax};

/// Leaves a rename can touch.
const IDENTIFIERS: &[&str] = &[
    "identifier",
    "field_identifier",
    "type_identifier",
    "property_identifier",
    "package_identifier",
    "shorthand_property_identifier",
];
/// Nodes with a parameter list (`parameters`, or an arrow function's lone `parameter`).
const FUNCTIONS: &[&str] = &[
    "function_item",
    "function_signature_item",
    "function_definition",
    "function_declaration",
    "method_declaration",
    "method_definition",
    "function_expression",
    "function",
    "arrow_function",
    "generator_function_declaration",
    "function_signature",
    "method_signature",
];
/// Scopes of a parameter or a local: the functions, closures and lambdas.
const SCOPES: &[&str] = &["closure_expression", "lambda", "func_literal"];
const CALLS: &[&str] = &["call_expression", "call"];
/// Arguments a signature change cannot map position by position.
const NAMED_ARGUMENTS: &[&str] = &["keyword_argument", "list_splat", "dictionary_splat", "spread_element"];

/// Predictions after `last`, the newest edit, on `rope` (the current text) and its `tree`;
/// renamed occurrences in code nearest after `cursor` (a char index) first, then from the top,
/// then those in documentation; call sites in document order. Each prediction is valid alone and none overlap.
pub(crate) fn predict(
    language: &'static Language,
    rope: &Rope,
    tree: &Tree,
    last: &HistoryEdit,
    cursor: usize,
) -> Vec<Prediction> {
    let mut out = rename(rope, tree, last, cursor);
    // A parameter's rename is seen by both: the first finding of a range is kept.
    for p in signature(language, rope, tree, last) {
        if !out.iter().any(|q| q.range == p.range) {
            out.push(p);
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn is_identifier(s: &str) -> bool {
    s.chars().next().is_some_and(|c| !c.is_numeric() && is_ident_char(c)) && s.chars().all(is_ident_char)
}

fn text_of(rope: &Rope, node: Node<'_>) -> String {
    rope.get_byte_slice(node.byte_range()).map(|s| s.to_string()).unwrap_or_default()
}

fn chars(rope: &Rope, bytes: Range<usize>) -> Range<usize> {
    rope.byte_to_char(bytes.start.min(rope.len_bytes()))..rope.byte_to_char(bytes.end.min(rope.len_bytes()))
}

/// `X -> Y` when the newest edit, widened to the identifier around it, turned one identifier
/// into another; then every other `X` leaf of the same kind in the scope that declares it.
fn rename(rope: &Rope, tree: &Tree, last: &HistoryEdit, cursor: usize) -> Vec<Prediction> {
    let r = last.new_range();
    if r.end > rope.len_chars() {
        return Vec::new();
    }
    let (mut a, mut b) = (r.start, r.end);
    while a > 0 && is_ident_char(rope.char(a - 1)) {
        a -= 1;
    }
    while b < rope.len_chars() && is_ident_char(rope.char(b)) {
        b += 1;
    }
    let new_word = rope.slice(a..b).to_string();
    let old_word = format!("{}{}{}", rope.slice(a..r.start), last.old, rope.slice(r.end..b));
    if new_word == old_word || !is_identifier(&new_word) || !is_identifier(&old_word) {
        return Vec::new();
    }
    let bytes = rope.char_to_byte(a)..rope.char_to_byte(b);
    let Some(node) = tree.root_node().descendant_for_byte_range(bytes.start, bytes.end) else { return Vec::new() };
    if node.byte_range() != bytes || !IDENTIFIERS.contains(&node.kind()) {
        return Vec::new();
    }
    let member = is_member(node);
    let scope = scope_of(node);
    // (in documentation, range): code first, the prose that names it after.
    let mut found: Vec<(bool, Range<usize>)> = Vec::new();
    let mut stack = vec![scope];
    while let Some(n) = stack.pop() {
        if n.kind() == node.kind() && n.id() != node.id() && is_member(n) == member && !is_keyword_name(n) {
            if text_of(rope, n) == old_word {
                found.push((false, chars(rope, n.byte_range())));
            }
            continue;
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
    // A parameter's name in the function's documentation.
    if let Some(function) = parameter_of(node) {
        for doc in docs_of(function) {
            let base = doc.start_byte();
            let text = text_of(rope, doc);
            for (at, _) in text.match_indices(old_word.as_str()) {
                let before = text[..at].chars().next_back();
                let after = text[at + old_word.len()..].chars().next();
                if before.is_some_and(is_ident_char) || after.is_some_and(is_ident_char) {
                    continue;
                }
                found.push((true, chars(rope, base + at..base + at + old_word.len())));
            }
        }
    }
    found.retain(|(_, f)| f.end <= r.start || f.start >= r.end);
    found.sort_by_key(|(doc, f)| (*doc, f.start < cursor, f.start));
    found.dedup();
    found
        .into_iter()
        .map(|(_, range)| Prediction { range, text: new_word.clone(), source: Source::Structural })
        .collect()
}

/// True for a member name after a dot (`x.count`'s `count` in Python, where it is an
/// `identifier` like a local); the other grammars give members kinds of their own.
fn is_member(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        p.kind() == "attribute" && p.child_by_field_name("attribute").is_some_and(|a| a.id() == n.id())
    })
}

/// True for the name of a keyword argument (`f(count=1)`): it names the callee's parameter.
fn is_keyword_name(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        p.kind() == "keyword_argument" && p.child_by_field_name("name").is_some_and(|a| a.id() == n.id())
    })
}

/// The function, closure or lambda that declares `node`'s name: the innermost one around it,
/// unless `node` is that function's own name (then the next one out); the file otherwise.
fn scope_of(node: Node<'_>) -> Node<'_> {
    let mut child = node;
    let mut up = node.parent();
    while let Some(p) = up {
        if FUNCTIONS.contains(&p.kind()) || SCOPES.contains(&p.kind()) {
            let own_name = p.child_by_field_name("name").is_some_and(|n| n.id() == child.id());
            if !own_name {
                return p;
            }
        }
        child = p;
        up = p.parent();
    }
    child
}

/// The function whose parameter list holds `node`, if it does.
fn parameter_of(node: Node<'_>) -> Option<Node<'_>> {
    let mut up = node.parent();
    while let Some(p) = up {
        if FUNCTIONS.contains(&p.kind()) {
            let params = p.child_by_field_name("parameters").or_else(|| p.child_by_field_name("parameter"))?;
            let inside = params.start_byte() <= node.start_byte() && node.end_byte() <= params.end_byte();
            return inside.then_some(p);
        }
        up = p.parent();
    }
    None
}

/// The documentation of a function: the comments right above it (Rust `///`, JSDoc, Go) and a
/// Python docstring (the body's first statement, a string).
fn docs_of(function: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut prev = function.prev_sibling();
    while let Some(p) = prev.filter(|p| p.kind().contains("comment")) {
        out.push(p);
        prev = p.prev_sibling();
    }
    if let Some(body) = function.child_by_field_name("body")
        && let Some(first) = body.named_child(0)
        && first.kind() == "expression_statement"
        && let Some(s) = first.named_child(0).filter(|s| s.kind() == "string")
    {
        out.push(s);
    }
    out
}

/// The function around the byte range `bytes` whose parameter list contains it.
fn function_with_params_at(tree: &Tree, bytes: Range<usize>) -> Option<Node<'_>> {
    let mut n = tree.root_node().descendant_for_byte_range(bytes.start, bytes.end);
    while let Some(node) = n {
        if FUNCTIONS.contains(&node.kind()) {
            let params = node.child_by_field_name("parameters").or_else(|| node.child_by_field_name("parameter"))?;
            let inside = params.start_byte() <= bytes.start && bytes.end <= params.end_byte();
            return inside.then_some(node);
        }
        n = node.parent();
    }
    None
}

fn function_name(rope: &Rope, f: Node<'_>) -> Option<String> {
    if let Some(n) = f.child_by_field_name("name") {
        return Some(text_of(rope, n));
    }
    let p = f.parent()?;
    let n = match p.kind() {
        "variable_declarator" => p.child_by_field_name("name"),
        "assignment_expression" => p.child_by_field_name("left"),
        "pair" => p.child_by_field_name("key"),
        _ => None,
    }?;
    IDENTIFIERS.contains(&n.kind()).then(|| text_of(rope, n))
}

fn named_children(n: Node<'_>) -> Vec<Node<'_>> {
    let mut c = n.walk();
    n.named_children(&mut c).filter(|c| !c.kind().contains("comment")).collect()
}

/// The parameters' names, a Rust `self` left out.
fn param_names(rope: &Rope, f: Node<'_>) -> Vec<String> {
    if let Some(p) = f.child_by_field_name("parameter") {
        return vec![param_name(rope, p)];
    }
    let Some(params) = f.child_by_field_name("parameters") else { return Vec::new() };
    named_children(params).into_iter().filter(|p| p.kind() != "self_parameter").map(|p| param_name(rope, p)).collect()
}

fn param_name(rope: &Rope, p: Node<'_>) -> String {
    if p.kind() == "identifier" {
        return text_of(rope, p);
    }
    for field in ["pattern", "name", "left"] {
        if let Some(n) = p.child_by_field_name(field) {
            return param_name(rope, n);
        }
    }
    let mut c = p.walk();
    let first = p.named_children(&mut c).find(|n| n.kind() == "identifier");
    text_of(rope, first.unwrap_or(p))
}

/// The name a call calls (`f(..)`, `x.f(..)`, `m::f(..)`, `f::<T>(..)`) and whether it is a
/// method call through a receiver.
fn callee_name(rope: &Rope, call: Node<'_>) -> Option<(String, bool)> {
    let mut f = call.child_by_field_name("function")?;
    if f.kind() == "generic_function" {
        f = f.child_by_field_name("function")?;
    }
    if f.kind() == "identifier" {
        return Some((text_of(rope, f), false));
    }
    for field in ["attribute", "field", "property", "name"] {
        if let Some(n) = f.child_by_field_name(field) {
            let receiver =
                matches!(f.kind(), "attribute" | "field_expression" | "member_expression" | "selector_expression");
            return Some((text_of(rope, n), receiver));
        }
    }
    None
}

/// After a parameter was added or removed: the same at each call of the function.
fn signature(language: &'static Language, rope: &Rope, tree: &Tree, last: &HistoryEdit) -> Vec<Prediction> {
    let r = last.new_range();
    if r.end > rope.len_chars() {
        return Vec::new();
    }
    let bytes = rope.char_to_byte(r.start)..rope.char_to_byte(r.end);
    let Some(f_new) = function_with_params_at(tree, bytes.clone()) else { return Vec::new() };
    let mut old_rope = rope.clone();
    old_rope.remove(r.clone());
    old_rope.insert(r.start, &last.old);
    let Some(old) = Syntax::parse(language, &old_rope) else { return Vec::new() };
    let Some(f_old) = function_with_params_at(&old.tree, bytes.start..bytes.start + last.old.len()) else {
        return Vec::new();
    };
    let (Some(name), new, old) = (function_name(rope, f_new), param_names(rope, f_new), param_names(&old_rope, f_old))
    else {
        return Vec::new();
    };
    if function_name(&old_rope, f_old).as_deref() != Some(name.as_str()) {
        return Vec::new();
    }
    let k = new.iter().zip(&old).take_while(|(a, b)| a == b).count();
    let change = if new.len() == old.len() + 1 && new[k + 1..] == old[k..] {
        Change::Added(k, new[k].clone())
    } else if old.len() == new.len() + 1 && old[k + 1..] == new[k..] {
        Change::Removed(k)
    } else if new.len() == old.len() && k < new.len() && new[k + 1..] == old[k + 1..] {
        return renamed_parameter(rope, tree, f_new, &name, &old[k], &new[k]);
    } else {
        return Vec::new();
    };
    let self_first = matches!(old.first().map(String::as_str), Some("self" | "cls"));
    let mut out = Vec::new();
    for site in call_sites(rope, tree, &name) {
        let args = &site.args;
        // A Python method called through its receiver passes `self` implicitly.
        let skip = usize::from(site.receiver && self_first && language.info.name == "python");
        if site.named || args.len() + skip != old.len() {
            continue;
        }
        let edit = match &change {
            Change::Added(k, param) => {
                let Some(k) = k.checked_sub(skip) else { continue };
                if args.is_empty() {
                    (site.open..site.open, param.clone())
                } else if k < args.len() {
                    let at = args[k].start;
                    (at..at, format!("{param}, "))
                } else {
                    let at = args[args.len() - 1].end;
                    (at..at, format!(", {param}"))
                }
            }
            Change::Removed(k) => {
                let Some(k) = k.checked_sub(skip) else { continue };
                let range = if args.len() == 1 {
                    args[0].clone()
                } else if k + 1 == args.len() {
                    args[k - 1].end..args[k].end
                } else {
                    args[k].start..args[k + 1].start
                };
                (range, String::new())
            }
        };
        out.push(Prediction { range: chars(rope, edit.0), text: edit.1, source: Source::Structural });
    }
    out
}

/// One call of a function, in bytes: its arguments' ranges, where an argument goes in an empty
/// list (after the `(`), whether it is called through a receiver, and whether an argument is
/// named or spread (then positions do not map to parameters).
struct CallSite {
    args: Vec<Range<usize>>,
    open: usize,
    receiver: bool,
    named: bool,
}

/// The calls of `name` in the tree, in document order: call expressions, and in Rust the
/// `name(...)` inside a macro's token tree (`format!("{}", name(x))`), whose arguments are the
/// tokens between top-level commas.
fn call_sites(rope: &Rope, tree: &Tree, name: &str) -> Vec<CallSite> {
    let mut out = Vec::new();
    let mut stack = vec![tree.root_node()];
    while let Some(n) = stack.pop() {
        let mut c = n.walk();
        let children: Vec<Node<'_>> = n.children(&mut c).collect();
        // Pushed in reverse, popped in document order.
        stack.extend(children.iter().rev().copied());
        if n.kind() == "token_tree" {
            for (i, w) in children.windows(2).enumerate() {
                let (callee, list) = (w[0], w[1]);
                if callee.kind() != "identifier" || list.kind() != "token_tree" || text_of(rope, callee) != name {
                    continue;
                }
                let Some(open) = list.child(0).filter(|o| o.kind() == "(") else { continue };
                let receiver = i > 0 && children[i - 1].kind() == ".";
                let mut args = Vec::new();
                let mut current: Option<Range<usize>> = None;
                let mut lc = list.walk();
                let inner: Vec<Node<'_>> = list.children(&mut lc).collect();
                for t in inner.iter().skip(1).take(inner.len().saturating_sub(2)) {
                    if t.kind() == "," {
                        args.extend(current.take());
                    } else {
                        let r = current.get_or_insert(t.start_byte()..t.end_byte());
                        r.end = t.end_byte();
                    }
                }
                args.extend(current);
                out.push(CallSite { args, open: open.end_byte(), receiver, named: false });
            }
            continue;
        }
        if !CALLS.contains(&n.kind()) {
            continue;
        }
        let Some((callee, receiver)) = callee_name(rope, n) else { continue };
        let Some(list) = n.child_by_field_name("arguments") else { continue };
        if callee != name || !list.kind().contains("argument") {
            continue;
        }
        let args = named_children(list);
        let named = args.iter().any(|a| NAMED_ARGUMENTS.contains(&a.kind()));
        out.push(CallSite {
            args: args.iter().map(|a| a.byte_range()).collect(),
            open: list.start_byte() + 1,
            receiver,
            named,
        });
    }
    out
}

/// A parameter renamed along with more of the signature (its type, another parameter): its
/// uses in the function's body in document order, the keyword arguments naming it at the
/// function's calls (Python), then the function's documentation.
fn renamed_parameter(rope: &Rope, tree: &Tree, f: Node<'_>, name: &str, old: &str, new: &str) -> Vec<Prediction> {
    if !is_identifier(old) || !is_identifier(new) {
        return Vec::new();
    }
    let params = f.child_by_field_name("parameters").or_else(|| f.child_by_field_name("parameter"));
    let in_params =
        |n: Node<'_>| params.is_some_and(|p| p.start_byte() <= n.start_byte() && n.end_byte() <= p.end_byte());
    let mut uses = Vec::new();
    let mut stack = vec![f];
    while let Some(n) = stack.pop() {
        if n.kind() == "identifier" && !is_member(n) && !is_keyword_name(n) && !in_params(n) && text_of(rope, n) == old
        {
            uses.push(n.byte_range());
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
    uses.sort_by_key(|r| r.start);
    // `f(old=...)` at the calls of this function.
    let mut stack = vec![tree.root_node()];
    let mut keywords = Vec::new();
    while let Some(n) = stack.pop() {
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
        if n.kind() != "keyword_argument" {
            continue;
        }
        let call = n.parent().and_then(|l| l.parent()).filter(|c| CALLS.contains(&c.kind()));
        let calls_it = call.and_then(|c| callee_name(rope, c)).is_some_and(|(callee, _)| callee == name);
        if let Some(k) = n.child_by_field_name("name").filter(|k| calls_it && text_of(rope, *k) == old) {
            keywords.push(k.byte_range());
        }
    }
    keywords.sort_by_key(|r| r.start);
    let mut docs = Vec::new();
    for doc in docs_of(f) {
        let base = doc.start_byte();
        let text = text_of(rope, doc);
        for (at, _) in text.match_indices(old) {
            let before = text[..at].chars().next_back();
            let after = text[at + old.len()..].chars().next();
            if !before.is_some_and(is_ident_char) && !after.is_some_and(is_ident_char) {
                docs.push(base + at..base + at + old.len());
            }
        }
    }
    uses.into_iter()
        .chain(keywords)
        .chain(docs)
        .map(|b| Prediction { range: chars(rope, b), text: new.to_owned(), source: Source::Structural })
        .collect()
}

enum Change {
    /// A parameter was inserted at this index, with this name.
    Added(usize, String),
    /// The parameter at this index was removed.
    Removed(usize),
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use expect_test::{Expect, expect};

    use super::*;

    /// `before` and `after` differ by the user's one edit; `$0` in `after` is the cursor. Shows
    /// each prediction as `line: old -> new` on the text after, best first.
    fn check(language: &str, before: &str, after: &str, expected: Expect) {
        let cursor_byte = after.find("$0").expect("a $0 cursor");
        let after = after.replace("$0", "");
        let prefix = before.chars().zip(after.chars()).take_while(|(a, b)| a == b).count();
        let (b, a): (Vec<char>, Vec<char>) = (before.chars().collect(), after.chars().collect());
        let suffix = b[prefix..].iter().rev().zip(a[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
        let last = HistoryEdit {
            start: prefix,
            old: b[prefix..b.len() - suffix].iter().collect(),
            new: a[prefix..a.len() - suffix].iter().collect(),
            version: 2,
            at: Instant::now(),
        };
        let lang = crate::syntax::language_for(language, "").expect("a grammar");
        let rope = Rope::from_str(&after);
        let syntax = Syntax::parse(lang, &rope).expect("parses");
        let cursor = rope.byte_to_char(cursor_byte);
        let shown: Vec<String> = predict(lang, &rope, &syntax.tree, &last, cursor)
            .iter()
            .map(|p| {
                let line = rope.char_to_line(p.range.start);
                format!("{line}: {:?} -> {:?}", rope.slice(p.range.clone()).to_string(), p.text)
            })
            .collect();
        expected.assert_eq(&shown.join("\n"));
    }

    #[test]
    fn a_renamed_python_parameter_is_renamed_in_its_function_and_docstring_only() {
        check(
            "python",
            "def f(count, x):\n    \"\"\"Adds count to x.\"\"\"\n    self.count = count\n    return count + x\n\ndef g(count):\n    return count\n\nf(count=1)\n",
            "def f(total$0, x):\n    \"\"\"Adds count to x.\"\"\"\n    self.count = count\n    return count + x\n\ndef g(count):\n    return count\n\nf(count=1)\n",
            expect![[r#"
                2: "count" -> "total"
                3: "count" -> "total"
                1: "count" -> "total"
                8: "count" -> "total""#]],
        );
    }

    #[test]
    fn a_renamed_rust_local_stays_in_its_function_and_off_fields() {
        check(
            "rust",
            "/// Uses `n`.\nfn a(n: u32) -> u32 {\n    let m = s.n + n;\n    n * m\n}\nfn b(n: u32) -> u32 { n }\n",
            "/// Uses `n`.\nfn a(size$0: u32) -> u32 {\n    let m = s.n + n;\n    n * m\n}\nfn b(n: u32) -> u32 { n }\n",
            expect![[r#"
                2: "n" -> "size"
                3: "n" -> "size"
                0: "n" -> "size""#]],
        );
    }

    #[test]
    fn renaming_a_function_renames_its_calls_in_the_file() {
        check(
            "javascript",
            "function area(w) { return w; }\nconst x = area(2) + obj.area(3);\n",
            "function surface$0(w) { return w; }\nconst x = area(2) + obj.area(3);\n",
            expect![[r#"1: "area" -> "surface""#]],
        );
    }

    #[test]
    fn a_parameter_added_is_passed_at_each_call_in_document_order() {
        check(
            "python",
            "def scale(a):\n    return a\n\nclass C:\n    def m(self, a):\n        pass\n\nscale(1)\nscale(2, 3)\nscale()\nc.m(1)\n",
            "def scale(a, factor$0):\n    return a\n\nclass C:\n    def m(self, a):\n        pass\n\nscale(1)\nscale(2, 3)\nscale()\nc.m(1)\n",
            expect![[r#"7: "" -> ", factor""#]],
        );
        check(
            "rust",
            "fn f() {}\nfn main() { f(); x.f(); }\n",
            "fn f(verbose: bool$0) {}\nfn main() { f(); x.f(); }\n",
            expect![[r#"
                1: "" -> "verbose"
                1: "" -> "verbose""#]],
        );
        check(
            "typescript",
            "const on = (a: string) => a;\non('x');\n",
            "const on = (v: number, $0a: string) => a;\non('x');\n",
            expect![[r#"1: "" -> "v, ""#]],
        );
    }

    #[test]
    fn a_parameter_removed_is_removed_at_each_call_with_its_comma() {
        check(
            "python",
            "def f(a, b, c):\n    pass\nf(1, 2, 3)\nf(1, g(2), 3)\n",
            "def f(a, $0c):\n    pass\nf(1, 2, 3)\nf(1, g(2), 3)\n",
            expect![[r#"
                2: "2, " -> ""
                3: "g(2), " -> """#]],
        );
        check(
            "rust",
            "fn f(a: u8) {}\nfn main() { println!(\"{}\", f(g(1, 2))); }\n",
            "fn f(a: u8, b: u8$0) {}\nfn main() { println!(\"{}\", f(g(1, 2))); }\n",
            expect![[r#"1: "" -> ", b""#]],
        );
        check(
            "rust",
            "fn f(ctx: &C, verbose: bool) {}\nfn main() { f(&c, true); }\n",
            "fn f(ctx: &C$0) {}\nfn main() { f(&c, true); }\n",
            expect![[r#"1: ", true" -> """#]],
        );
    }

    #[test]
    fn a_parameter_renamed_with_its_type_is_renamed_in_the_body_keywords_and_docs() {
        check(
            "python",
            "def f(count: int, x):\n    \"\"\"count: how many.\"\"\"\n    return count + x\n\nf(count=1, x=2)\ng(count=1)\n",
            "def f(total: float$0, x):\n    \"\"\"count: how many.\"\"\"\n    return count + x\n\nf(count=1, x=2)\ng(count=1)\n",
            expect![[r#"
                2: "count" -> "total"
                4: "count" -> "total"
                1: "count" -> "total""#]],
        );
    }

    #[test]
    fn edits_that_are_not_renames_or_signatures_predict_nothing() {
        check("rust", "pub t: f32,\n", "pub t: f64$0,\n", expect![[""]]);
        check("python", "x = 1\ny = x\n", "x = 12$0\ny = x\n", expect![[""]]);
        check("python", "s = 'count'\ncount = 1\n", "s = 'total$0'\ncount = 1\n", expect![[""]]);
    }
}
