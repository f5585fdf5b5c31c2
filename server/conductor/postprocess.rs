//! Cleaning a model's raw middle into a suggestion: strip chat fences and leaked template
//! tokens, keep one line where only one fits, stop at the end of the cursor's block, keep several
//! lines only when they complete that block, and drop text that repeats what is already before or
//! after the cursor.

/// The post-processing rules that can be switched off for a benchmark ablation
/// (`BATON_POSTPROCESS_OFF`, read once by the engine; tests/bench/quality/RESULTS.md gives each
/// rule's measured effect). All are on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// The block's indentation comes from the code before the cursor (the previous non-blank
    /// line's, one level more after a `:` or `{`) when the cursor's line is blank, not from the
    /// cursor's column; off: the cursor line's own indentation, as before.
    pub(crate) block_end: bool,
    /// Several lines are kept only when the block ends right after the cursor's line (they
    /// complete it); otherwise the first line alone.
    pub(crate) completes_block: bool,
    /// A suggestion that starts by retyping the identifier the cursor is in (`cookie_` then
    /// `cookie_dict`) loses the repeated part.
    pub(crate) prefix_echo: bool,
    /// A suggestion that adds parse errors around the cursor is cut to its first line, or
    /// dropped when that adds errors too (the engine's parse check, `syntax::InsertionCheck`).
    pub(crate) parse_check: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { block_end: true, completes_block: true, prefix_echo: true, parse_check: true }
    }
}

impl Rules {
    /// All rules except those named in `off` (comma-separated rule names; unknown names ignored).
    pub(crate) fn without(off: &str) -> Rules {
        let mut r = Rules::default();
        for name in off.split(',').map(str::trim) {
            match name {
                "block_end" => r.block_end = false,
                "completes_block" => r.completes_block = false,
                "prefix_echo" => r.prefix_echo = false,
                "parse_check" => r.parse_check = false,
                _ => {}
            }
        }
        r
    }
}

/// What post-processing needs to know about the cursor's surroundings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Surroundings<'a> {
    /// Text of the cursor's line before the cursor.
    pub(crate) line_before: &'a str,
    /// The nearest non-blank line above the cursor's line, `""` when there is none.
    pub(crate) prev_line: &'a str,
    /// Text after the cursor (at least to the end of its line; a few lines more help).
    pub(crate) after: &'a str,
    /// Blocks are delimited by indentation (Python) rather than brackets.
    pub(crate) indent_blocks: bool,
    /// Suggestions may span several lines.
    pub(crate) multiline: bool,
    pub(crate) rules: Rules,
}

/// Turns the model's raw text into a suggestion, or `None` when nothing useful is left.
pub(crate) fn clean(raw: &str, s: Surroundings<'_>) -> Option<String> {
    let mut text = strip_fences(raw).to_owned();
    if let Some(i) = text.find("<|").or_else(|| text.find("<fim_")).or_else(|| text.find("<｜")) {
        text.truncate(i);
    }
    let rest_of_line = s.after.split(['\n', '\r']).next().unwrap_or("");
    let single_line = !s.multiline || !rest_of_line.trim().is_empty();
    if single_line {
        // The first line of the middle; a middle that starts with a newline continues on the next.
        let first = if s.line_before.trim().is_empty() { text.trim_start_matches(['\n', '\r']) } else { &text };
        text = first.split(['\n', '\r']).next().unwrap_or("").to_owned();
    }
    if s.rules.prefix_echo {
        text = strip_prefix_echo(&text, s.line_before);
    }
    let block = block_indent(&text, &s);
    if s.indent_blocks {
        text = cut_at_dedent(&text, block);
    } else {
        text = cut_at_scope_end(&text, s.after);
    }
    text = drop_repeated_suffix(&text, s.after);
    if s.rules.completes_block {
        text = keep_lines_that_complete(&text, s.after, block);
    }
    text = drop_overlap_with_rest_of_line(&text, rest_of_line);
    let trimmed = text.trim_end();
    if trimmed.trim().is_empty() {
        return None;
    }
    Some(trimmed.to_owned())
}

/// The code inside a markdown fence that opens the answer (chat models), or the text before the
/// first fence (a completion model that ran on into markdown).
fn strip_fences(raw: &str) -> &str {
    let Some(open) = raw.find("```") else { return raw };
    if !raw[..open].trim().is_empty() {
        return &raw[..open];
    }
    let after_open = &raw[open + 3..];
    let body_start = after_open.find('\n').map_or(after_open.len(), |i| i + 1);
    let body = &after_open[body_start..];
    let end = body.find("```").unwrap_or(body.len());
    body[..end].trim_end_matches(['\n', '\r'])
}

fn closer_of(c: char) -> Option<char> {
    match c {
        '(' => Some(')'),
        '[' => Some(']'),
        '{' => Some('}'),
        _ => None,
    }
}

/// Bracket languages: walks the suggestion's brackets (skipping string literals); at the first
/// closer that closes a block opened before the cursor, the scope ends. If the text after the
/// cursor already closes it, cut before the closer; otherwise keep the closer and stop after it.
fn cut_at_scope_end(text: &str, after: &str) -> String {
    let mut stack: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q || c == '\n' {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                if stack.last().and_then(|o| closer_of(*o)) == Some(c) {
                    stack.pop();
                    continue;
                }
                // Closes something opened before the cursor: the scope ends here.
                let next_after = after.trim_start().chars().next();
                if next_after == Some(c) {
                    let cut = &text[..i];
                    // A closer alone on its line goes with its line.
                    let line_start = cut.rfind('\n').map_or(0, |n| n + 1);
                    return if cut[line_start..].trim().is_empty() && line_start > 0 {
                        cut[..line_start].to_owned()
                    } else {
                        cut.to_owned()
                    };
                }
                return text[..i + c.len_utf8()].to_owned();
            }
            _ => {}
        }
    }
    text.to_owned()
}

fn indent_of(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ' || *c == '\t').count()
}

/// The indentation (in characters) of the block the suggestion is written in. With text before
/// the cursor on its line, that line's. On a blank line the cursor's column says nothing (a user
/// who just pressed Enter is at column 0 inside an indented body): the block expects the previous
/// non-blank line's indentation, one level more after a line that opens a block (`:`, `{`); a
/// suggestion whose first line is indented less has closed that block itself, and its own
/// indentation counts.
fn block_indent(text: &str, s: &Surroundings<'_>) -> usize {
    let own = indent_of(s.line_before);
    if !s.rules.block_end || !s.line_before.trim().is_empty() {
        return own;
    }
    let prev = s.prev_line.trim_end();
    let unit = if prev.starts_with('\t') { 1 } else { 4 };
    let opens = prev.ends_with(':') || prev.ends_with('{');
    let expected = indent_of(prev) + if opens { unit } else { 0 };
    let first = text.trim_start_matches(['\n', '\r']).split('\n').next().unwrap_or("");
    if first.trim().is_empty() {
        return expected;
    }
    let written = if text.starts_with(['\n', '\r']) { indent_of(first) } else { own + indent_of(first) };
    expected.min(written)
}

/// Indentation languages: the block ends at the first later line indented less than `block`.
fn cut_at_dedent(text: &str, block: usize) -> String {
    let mut out = String::new();
    let mut seen_code = false;
    for line in text.split_inclusive('\n') {
        if seen_code && !line.trim().is_empty() && indent_of(line) < block {
            break;
        }
        seen_code |= !line.trim().is_empty();
        out.push_str(line);
    }
    out
}

/// Several lines are kept only when they complete a block: the cursor's (the next non-blank line
/// after the cursor's is indented less than `block`, closes a bracket, or there is none), or the
/// one the suggestion's first line opens (it ends with `:` or `{` and the code after the cursor
/// has no body for it: its body lines are kept). Otherwise the code after the cursor goes on (a
/// sibling statement, or the body of the block the cursor's line opens), and extra lines were
/// the model re-inventing it: the first line alone. (Keeping the lines up to one that resembles
/// the next sibling helped multi-line holes but lost single-line ones, below the raw first line
/// at `mid`: tests/bench/quality/RESULTS.md.)
fn keep_lines_that_complete(text: &str, after: &str, block: usize) -> String {
    let Some(next) = after.lines().skip(1).find(|l| !l.trim().is_empty()) else { return text.to_owned() };
    if indent_of(next) < block || next.trim_start().starts_with([')', ']', '}']) {
        return text.to_owned();
    }
    let first = first_line(text);
    let opens = first.trim_end().ends_with(':') || first.trim_end().ends_with('{');
    if !opens || indent_of(next) > block {
        return first.to_owned();
    }
    let mut out = first.to_owned();
    for line in text[first.len()..].split_inclusive('\n') {
        if !line.trim().is_empty() && indent_of(line) <= block {
            break;
        }
        out.push_str(line);
    }
    out
}

/// The suggestion up to the end of its first non-blank line.
fn first_line(text: &str) -> &str {
    let start = text.len() - text.trim_start_matches(['\n', '\r']).len();
    match text[start..].find(['\n', '\r']) {
        Some(end) => &text[..start + end],
        None => text,
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// When the cursor is inside a word (`    cookie_|`) and the suggestion starts by typing that
/// word's beginning again (`cookie_dict = ...`), drops the repeated part. Only a word of two or
/// more characters counts, so a one-letter prefix that legitimately doubles is left alone.
fn strip_prefix_echo(text: &str, line_before: &str) -> String {
    let word_start = line_before
        .rfind(|c: char| !is_word_char(c))
        .map_or(0, |i| i + line_before[i..].chars().next().map_or(1, char::len_utf8));
    let word = &line_before[word_start..];
    if word.chars().count() >= 2 && text.starts_with(word) {
        return text[word.len()..].to_owned();
    }
    text.to_owned()
}

/// Cuts the suggestion where it starts repeating the lines that follow the cursor.
fn drop_repeated_suffix(text: &str, after: &str) -> String {
    let mut following = after.lines().skip(1).map(str::trim).filter(|l| !l.is_empty());
    let Some(next) = following.next() else { return text.to_owned() };
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n > 0 && line.trim() == next {
            return text[..offset].to_owned();
        }
        offset += line.len();
    }
    text.to_owned()
}

/// When the suggestion's first line ends with the start of the rest of the cursor's line
/// (`foo(x));` before `);`), drops the overlap so the text is not doubled.
fn drop_overlap_with_rest_of_line(text: &str, rest_of_line: &str) -> String {
    let rest = rest_of_line.trim_end();
    if rest.is_empty() || text.contains('\n') {
        return text.to_owned();
    }
    let t = text.trim_end();
    let longest = (1..=rest.len().min(t.len()))
        .rev()
        .filter(|n| rest.is_char_boundary(*n) && t.is_char_boundary(t.len() - n))
        .find(|n| t.ends_with(&rest[..*n]));
    match longest {
        Some(n) => t[..t.len() - n].to_owned(),
        None => text.to_owned(),
    }
}

/// The rest of the cursor's line (`rest_of_line`, without its line break) when it holds only
/// closing brackets and quotes, and whitespace, as an editor's auto-closing leaves it
/// (`def f(self, key|)`). A suggestion replaces that tail (LSP 3.18
/// `InlineCompletionItem.range`), so a body can follow the closer instead of being cut to one
/// line before it.
pub(crate) fn closing_tail(rest_of_line: &str) -> Option<&str> {
    let rest = rest_of_line.trim_end_matches(['\n', '\r']);
    let closers_only = rest.chars().all(|c| c.is_whitespace() || matches!(c, ')' | ']' | '}' | '"' | '\'' | '`'));
    (closers_only && !rest.trim().is_empty()).then_some(rest)
}

/// The suggestion `text` as the replacement of the closing `tail` (from [`closing_tail`]): the
/// tail's closers that `text` writes itself, in order (a closer of something opened before the
/// cursor, or a quote outside the suggestion's own strings), are taken from the suggestion; the
/// rest of the tail is appended, so no closer the user had is lost (`: str` before `)` gives
/// `: str)`; `) -> bool:` and a body give themselves).
pub(crate) fn merge_closing_tail(text: &str, tail: &str) -> String {
    let closers: Vec<(usize, char)> = tail.char_indices().filter(|(_, c)| !c.is_whitespace()).collect();
    let mut taken = 0;
    let mut stack: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        let Some(&(_, want)) = closers.get(taken) else { break };
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q || c == '\n' {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' if c == want && stack.is_empty() => taken += 1,
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                if stack.last().and_then(|o| closer_of(*o)) == Some(c) {
                    stack.pop();
                } else if c == want && stack.is_empty() {
                    taken += 1;
                }
            }
            _ => {}
        }
    }
    match closers.get(taken) {
        Some(&(at, _)) => format!("{text}{}", &tail[at..]),
        None => text.to_owned(),
    }
}

/// True once the complete lines of a streaming answer already reach a cut point, so the rest of
/// the stream can be dropped without changing the result.
pub(crate) fn is_finished(raw: &str, s: Surroundings<'_>) -> bool {
    let Some(last_newline) = raw.rfind('\n') else { return false };
    let complete = &raw[..last_newline];
    if complete.trim().is_empty() {
        return false;
    }
    let kept = clean(complete, s).unwrap_or_default();
    kept.trim_end().len() < complete.trim_end().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_test_support::Fixture;
    use expect_test::{Expect, expect};

    /// Fixture: the document with `$0` at the cursor, then the model's raw middle.
    fn check(doc: &str, raw: &str, indent_blocks: bool, expected: Expect) {
        let doc = Fixture::parse(doc);
        let (before, after) = doc.text.split_at(doc.cursor());
        let line_before = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
        let prev_line = before[..before.len() - line_before.len()].lines().rev().find(|l| !l.trim().is_empty());
        let s = Surroundings {
            line_before,
            prev_line: prev_line.unwrap_or(""),
            after,
            indent_blocks,
            multiline: true,
            rules: Rules::default(),
        };
        let out = clean(raw, s);
        expected.assert_eq(&format!("{out:?}"));
    }

    #[test]
    fn stops_before_a_closer_the_suffix_already_has() {
        check(
            "fn f() {\n    $0\n}\n",
            "let x = 1;\n    x + 1\n}\n\nfn g() {}\n",
            false,
            expect![[r#"Some("let x = 1;\n    x + 1")"#]],
        );
    }

    #[test]
    fn keeps_the_closer_when_the_suffix_lacks_it() {
        check("fn f() {\n    $0", "1\n}\nfn g() {}", false, expect![[r#"Some("1\n}")"#]]);
    }

    #[test]
    fn brackets_in_strings_do_not_end_the_scope() {
        check("let s = $0;\n", "\"}\".len()", false, expect![[r#"Some("\"}\".len()")"#]]);
    }

    #[test]
    fn mid_line_gives_one_line_without_the_overlap() {
        check("    total = compute($0);\n", "a, b);\n    more()\n", false, expect![[r#"Some("a, b")"#]]);
    }

    #[test]
    fn python_block_ends_at_a_dedent() {
        check(
            "def f(x):\n    $0\n",
            "y = x * 2\n    return y\n\ndef g():\n    pass\n",
            true,
            expect![[r#"Some("y = x * 2\n    return y")"#]],
        );
    }

    #[test]
    fn text_that_repeats_the_next_line_is_dropped() {
        check("let a = 1;\n$0\nlet c = 3;\n", "let b = 2;\nlet c = 3;\n", false, expect![[r#"Some("let b = 2;")"#]]);
    }

    #[test]
    fn a_completion_that_runs_into_markdown_is_cut_at_the_fence() {
        check(
            "    return {\"median\": $0\n",
            "median}\n```\nIn this solution, we",
            true,
            expect![[r#"Some("median}")"#]],
        );
    }

    #[test]
    fn streaming_can_stop_once_a_cut_point_is_in_complete_lines() {
        let s = Surroundings {
            line_before: "    x = ",
            prev_line: "",
            after: "\n",
            indent_blocks: true,
            multiline: true,
            rules: Rules::default(),
        };
        assert!(!is_finished("1 +", s));
        assert!(!is_finished("1 +\n    2", s), "the second line may still be the block");
        assert!(!is_finished("1 +\n    2\ndef other", s), "the dedented line is not complete yet");
        assert!(is_finished("1 +\n    2\ndef other\n", s), "a complete dedented line ends the block");
    }

    #[test]
    fn column_0_inside_a_body_ends_the_block_where_the_body_does() {
        // The user pressed Enter on a blank line: the cursor's column (0) is not the block's.
        check(
            "def f(xs):\n    total = 0\n    for x in xs:\n$0\n    return total\n",
            "        total += x\n    return total\n\n# Check function\ndef check():\n    assert f([1]) == 1\n",
            true,
            expect![[r#"Some("        total += x")"#]],
        );
    }

    #[test]
    fn column_0_at_the_end_of_a_function_stops_before_test_code() {
        check(
            "def f(x):\n    y = x * 2\n$0",
            "    return y\n\n# Test cases\nprint(f(2))\nassert f(1) == 2\n",
            true,
            expect![[r#"Some("    return y")"#]],
        );
        check(
            "def f(x):\n    y = x * 2\n$0",
            "    return y\n\n\ndef check(candidate):\n    assert candidate(1) == 2\n",
            true,
            expect![[r#"Some("    return y")"#]],
        );
    }

    #[test]
    fn column_0_after_a_block_opener_expects_one_level_more() {
        // Without the rule the cut would use column 0 and keep the run-on `print`.
        check(
            "def f(x):\n    if x:\n$0",
            "        return 1\n    return 0\n\nprint(f(1))\n",
            true,
            expect![[r#"Some("        return 1")"#]],
        );
    }

    #[test]
    fn several_lines_are_kept_only_when_they_complete_the_block() {
        // The loop's body is already there after the cursor: only the line at the cursor.
        check(
            "def f(nums):\n    s = 0\n    $0\n        s += n\n    return s\n",
            "for n in nums:\n        s += n\n    return s\n",
            true,
            expect![[r#"Some("for n in nums:")"#]],
        );
        // The block ends after the cursor's line: the lines complete it.
        check(
            "def f(x):\n    if x:\n        $0\n    return 0\n",
            "y = x * 2\n        return y\n    return 0\n",
            true,
            expect![[r#"Some("y = x * 2\n        return y")"#]],
        );
        // Brackets: the next line closes the block, so the lines complete it; mid-block they don't.
        check(
            "fn f() {\n    $0\n}\n",
            "let a = 1;\n    a + 1\n}\n",
            false,
            expect![[r#"Some("let a = 1;\n    a + 1")"#]],
        );
        // Mid-block, before a sibling statement: the first line alone.
        check(
            "fn f() {\n    $0\n    g(a);\n}\n",
            "let a = 1;\n    h(a);\n    g(a);\n}\n",
            false,
            expect![[r#"Some("let a = 1;")"#]],
        );
        check(
            "def f(x):\n    a = x + 1\n    $0\n    return c * 3\n",
            "b = a + 1\n    c = b * 2\n    return c * 2\n",
            true,
            expect![[r#"Some("b = a + 1")"#]],
        );
        // The first line opens a block the code after the cursor has no body for: its body stays
        // (the engine hands over the text after an auto-closed tail, here `)`).
        check(
            "class A:\n    def get(self, key$0\n    def put(self):\n        pass\n",
            ") -> int:\n        return self.d[key]\n    def put(self):\n",
            true,
            expect![[r#"Some(") -> int:\n        return self.d[key]")"#]],
        );
        // Switched off, the lines stay (up to the dedent).
        let s = Surroundings {
            line_before: "    ",
            prev_line: "    a = x + 1",
            after: "\n    return c * 3\n",
            indent_blocks: true,
            multiline: true,
            rules: Rules::without("completes_block"),
        };
        assert_eq!(clean("b = a + 1\n    c = b * 2\n", s).as_deref(), Some("b = a + 1\n    c = b * 2"));
    }

    #[test]
    fn a_retyped_word_before_the_cursor_is_not_inserted_twice() {
        check("    cookie_$0\n", "cookie_dict = dict(cookies)", true, expect![[r#"Some("dict = dict(cookies)")"#]]);
        check("    retu$0\n", "return x", true, expect![[r#"Some("rn x")"#]]);
        // A one-letter word may double legitimately (`a` then `a + 1` is not an echo we can tell).
        check("    x = a$0\n", "a + 1", true, expect![[r#"Some("a + 1")"#]]);
        // No word at the cursor: nothing to strip.
        check("    x = $0\n", "x + 1", true, expect![[r#"Some("x + 1")"#]]);
        check("    naïve_$0\n", "naïve_count = 0", true, expect![[r#"Some("count = 0")"#]]);
    }

    #[test]
    fn rules_switched_off_by_name() {
        let off = Rules::without("block_end, prefix_echo,unknown");
        assert_eq!(off, Rules { block_end: false, completes_block: true, prefix_echo: false, parse_check: true });
        assert!(!Rules::without("parse_check").parse_check);
        assert_eq!(Rules::without(""), Rules::default());
        // With `block_end` off, column 0 is the block's indentation again, and test code stays.
        let s = Surroundings {
            line_before: "",
            prev_line: "    y = x * 2",
            after: "",
            indent_blocks: true,
            multiline: true,
            rules: Rules { completes_block: false, ..off },
        };
        assert_eq!(clean("    return y\nprint(f(2))\n", s).as_deref(), Some("    return y\nprint(f(2))"));
        assert_eq!(
            clean("    return y\nprint(f(2))\n", Surroundings { rules: Rules::default(), ..s }).as_deref(),
            Some("    return y")
        );
    }

    #[test]
    fn a_tail_of_closers_is_found_and_anything_else_is_not() {
        assert_eq!(closing_tail(")"), Some(")"));
        assert_eq!(closing_tail("\")]  \r\n"), Some("\")]  "));
        assert_eq!(closing_tail(");"), None, "a semicolon is not a closer");
        assert_eq!(closing_tail("   "), None);
        assert_eq!(closing_tail(""), None);
        assert_eq!(closing_tail(") + x"), None);
    }

    #[test]
    fn merged_suggestions_keep_every_closer_once() {
        // The model wrote past the auto-closed paren: its own closer replaces it.
        assert_eq!(merge_closing_tail(") -> bool:\n    return True", ")"), ") -> bool:\n    return True");
        // The model stayed inside: the closer follows.
        assert_eq!(merge_closing_tail(": str", ")"), ": str)");
        // Brackets and strings of its own are not the tail's.
        assert_eq!(merge_closing_tail("g(x), \")\"", ")"), "g(x), \")\")");
        assert_eq!(merge_closing_tail("a]\nfoo()", "])"), "a]\nfoo())");
        assert_eq!(merge_closing_tail("world\")\nprint(1)", "\")"), "world\")\nprint(1)");
        assert_eq!(merge_closing_tail("x", ") "), "x) ");
    }

    #[test]
    fn chat_fences_and_leaked_tokens_are_stripped() {
        check("x = $0\n", "```python\n42\n```\nThis sets x.", true, expect![[r#"Some("42")"#]]);
        check("x = $0\n", "42<|endoftext|>junk", true, expect![[r#"Some("42")"#]]);
        check("x = $0\n", "   \n", true, expect!["None"]);
    }
}
