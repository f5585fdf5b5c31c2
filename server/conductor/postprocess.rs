//! Cleaning a model's raw middle into a suggestion: strip chat fences and leaked template
//! tokens, keep one line where only one fits, stop at the end of the cursor's scope, drop text
//! that repeats what follows the cursor, and never close a bracket the suffix already closes.

/// What post-processing needs to know about the cursor's surroundings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Surroundings<'a> {
    /// Text of the cursor's line before the cursor.
    pub(crate) line_before: &'a str,
    /// Text after the cursor (at least to the end of its line; a few lines more help).
    pub(crate) after: &'a str,
    /// Blocks are delimited by indentation (Python) rather than brackets.
    pub(crate) indent_blocks: bool,
    /// Suggestions may span several lines.
    pub(crate) multiline: bool,
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
    if s.indent_blocks {
        text = cut_at_dedent(&text, s.line_before);
    } else {
        text = cut_at_scope_end(&text, s.after);
    }
    text = drop_repeated_suffix(&text, s.after);
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

/// Indentation languages: the block ends at the first later line indented less than the
/// cursor's line.
fn cut_at_dedent(text: &str, line_before: &str) -> String {
    let block = indent_of(line_before);
    let mut out = String::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n > 0 && !line.trim().is_empty() && indent_of(line) < block {
            break;
        }
        out.push_str(line);
    }
    out
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
    use expect_test::{Expect, expect};

    /// Fixture: the document with `$0` at the cursor, then the model's raw middle.
    fn check(doc: &str, raw: &str, indent_blocks: bool, expected: Expect) {
        let at = doc.find("$0").expect("cursor marker");
        let before = &doc[..at];
        let after = &doc[at + 2..];
        let line_before = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
        let out = clean(raw, Surroundings { line_before, after, indent_blocks, multiline: true });
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
        let s = Surroundings { line_before: "    x = ", after: "\n", indent_blocks: true, multiline: true };
        assert!(!is_finished("1 +", s));
        assert!(!is_finished("1 +\n    2", s), "the second line may still be the block");
        assert!(!is_finished("1 +\n    2\ndef other", s), "the dedented line is not complete yet");
        assert!(is_finished("1 +\n    2\ndef other\n", s), "a complete dedented line ends the block");
    }

    #[test]
    fn chat_fences_and_leaked_tokens_are_stripped() {
        check("x = $0\n", "```python\n42\n```\nThis sets x.", true, expect![[r#"Some("42")"#]]);
        check("x = $0\n", "42<|endoftext|>junk", true, expect![[r#"Some("42")"#]]);
        check("x = $0\n", "   \n", true, expect!["None"]);
    }
}
