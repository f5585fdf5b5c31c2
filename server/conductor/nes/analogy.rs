//! Model predictions by analogy, sized for small local models: the user's newest edit as one
//! changed line (before -> after), candidate lines picked without a model (lines holding the
//! text the edit removed, lines of the same shape), and for each candidate a one-line completion
//! in a diff's own format (`-before +after -candidate +`) that the model finishes. An answer is
//! kept only when it changes the candidate the way the user changed their line (tests/nes/
//! DESIGN.md §3, "edit by analogy"). A whole-window rewrite (`model.rs`) needs a larger model.

use std::collections::BTreeSet;

use futures::StreamExt;
use ropey::Rope;

use super::history::HistoryEdit;
use super::model::Family;
use super::{Prediction, Source};
use crate::providers::{GenerateRequest, Prompt, Provider, ProviderError};

/// Candidate lines asked about per request, at most (one model call each).
pub(crate) const MAX_CANDIDATES: usize = 4;
/// Longest line (chars) taken as the edited line or a candidate: longer ones are data, not code.
const MAX_LINE_CHARS: usize = 240;

/// The user's newest edit as one whole line before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineEdit {
    /// The edited line's index in the current text.
    pub(crate) line: usize,
    pub(crate) before: String,
    pub(crate) after: String,
    /// Tokens the edit took out of the line / put into it (distinct; see [`tokens`]).
    removed: BTreeSet<String>,
    inserted: BTreeSet<String>,
}

/// `last` as a [`LineEdit`] on `rope` (its current text): `None` when the edit spans lines,
/// changes nothing token-wise (whitespace only), or its line is too long.
pub(crate) fn line_edit(rope: &Rope, last: &HistoryEdit) -> Option<LineEdit> {
    if last.old.contains('\n') || last.new.contains('\n') {
        return None;
    }
    let range = last.new_range();
    if range.end > rope.len_chars() {
        return None;
    }
    let line = rope.char_to_line(range.start);
    let line_start = rope.line_to_char(line);
    let after = line_text(rope, line)?;
    let col = range.start - line_start;
    let new_len = range.end - range.start;
    let before: String =
        after.chars().take(col).chain(last.old.chars()).chain(after.chars().skip(col + new_len)).collect();
    let (removed, inserted) = token_change(&before, &after);
    if removed.is_empty() && inserted.is_empty() {
        return None;
    }
    Some(LineEdit { line, before, after, removed, inserted })
}

/// Line `line` of `rope` without its line break; `None` past the end or when too long.
pub(crate) fn line_text(rope: &Rope, line: usize) -> Option<String> {
    if line >= rope.len_lines() {
        return None;
    }
    let text = rope.line(line);
    if text.len_chars() > MAX_LINE_CHARS + 2 {
        return None;
    }
    Some(text.to_string().trim_end_matches(['\n', '\r']).to_owned())
}

/// A line's tokens: runs of identifier chars (letters, digits, `_`) and single other non-space
/// chars.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in line.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if !c.is_whitespace() {
            out.push(c.to_string());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn is_word(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The distinct tokens `before` has more of than `after` (removed) and the reverse (inserted).
fn token_change(before: &str, after: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let count = |line: &str| {
        let mut m = std::collections::BTreeMap::<String, i32>::new();
        for t in tokens(line) {
            *m.entry(t).or_default() += 1;
        }
        m
    };
    let (b, a) = (count(before), count(after));
    let removed = b.iter().filter(|(t, n)| a.get(*t).copied().unwrap_or(0) < **n).map(|(t, _)| t.clone()).collect();
    let inserted = a.iter().filter(|(t, n)| b.get(*t).copied().unwrap_or(0) < **n).map(|(t, _)| t.clone()).collect();
    (removed, inserted)
}

/// A line's shape: its tokens with every word, number and string replaced by `_`.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_string: Option<char> = None;
    for t in tokens(line) {
        let c = t.chars().next().unwrap_or(' ');
        if let Some(q) = in_string {
            if t.len() == 1 && c == q {
                in_string = None;
            }
            continue;
        }
        if t.len() == 1 && (c == '"' || c == '\'') {
            in_string = Some(c);
            out.push('_');
        } else if is_word(&t) {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push_str(&t);
        }
    }
    out
}

/// Lines scanned for uses and calls on each side of the edited line, at most.
const SCAN_LINES: usize = 1000;

/// The name of the call or signature whose parentheses hold the edit: the word before the
/// innermost `(` left open before the edit's first changed char on the line before the edit
/// (`compute` in `x = compute(a, b|)`). `None` when the edit is not inside parentheses.
fn enclosing_call(before: &str, after: &str) -> Option<String> {
    let at = before.chars().zip(after.chars()).take_while(|(a, b)| a == b).count();
    let head: Vec<char> = before.chars().take(at).collect();
    let mut depth = 0usize;
    for i in (0..head.len()).rev() {
        match head[i] {
            ')' => depth += 1,
            '(' if depth > 0 => depth -= 1,
            '(' => {
                let name: String = head[..i]
                    .iter()
                    .rev()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                return (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name);
            }
            _ => {}
        }
    }
    None
}

/// A line's indentation in chars.
fn indent(line: &str) -> usize {
    line.chars().take_while(|c| c.is_whitespace()).count()
}

/// A comment or documentation line (its rewrite matters less than code's).
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    ["#", "//", "/*", "*", "--", ":", "@", "\"\"\"", "'''"].iter().any(|m| t.starts_with(m))
}

/// The lines to ask the model about after `edit`, best first, without a model:
/// 1. in the block the edited line opens (it ends with `:` or `{`; the block is the indented
///    lines below it), lines holding a word the edit removed (a renamed parameter's uses);
/// 2. lines calling the function whose parentheses hold the edit (`name(`: a changed
///    signature's calls, a changed call's siblings);
/// 3. other lines holding a removed word (a renamed name's other uses);
/// 4. within `radius` lines, lines of the same shape as the edited line before the edit (a
///    sibling call, the next field), unless they already hold everything the edit inserted and
///    nothing it removed.
///
/// In each group code before comments, then nearer first, below before above. At most
/// [`MAX_CANDIDATES`]; uses and calls are looked for up to [`SCAN_LINES`] lines away.
pub(crate) fn candidates(rope: &Rope, edit: &LineEdit, radius: usize) -> Vec<usize> {
    let first = edit.line.saturating_sub(SCAN_LINES);
    let last = (edit.line + SCAN_LINES).min(rope.len_lines().saturating_sub(1));
    let removed_words: Vec<&String> = edit.removed.iter().filter(|t| is_word(t)).collect();
    let edited_shape = shape(&edit.before);
    let call = enclosing_call(&edit.before, &edit.after);
    let opens_block = matches!(edit.after.trim_end().chars().last(), Some(':' | '{'));
    let own_indent = indent(&edit.after);
    let mut in_block = opens_block;
    let mut picked: Vec<(u8, bool, usize, bool, usize)> = Vec::new();
    for l in first..=last {
        if l == edit.line {
            continue;
        }
        let Some(text) = line_text(rope, l) else { continue };
        if text.trim().is_empty() {
            continue;
        }
        if l > edit.line && in_block && indent(&text) <= own_indent {
            in_block = false;
        }
        let toks: Vec<String> = tokens(&text);
        let has_removed = removed_words.iter().any(|w| toks.contains(*w));
        let calls = call.as_ref().is_some_and(|c| toks.windows(2).any(|w| &w[0] == c && w[1] == "("));
        let tier = if has_removed && in_block && l > edit.line {
            0
        } else if calls {
            1
        } else if has_removed {
            2
        } else if l.abs_diff(edit.line) <= radius && shape(&text) == edited_shape {
            let done = !edit.inserted.is_empty()
                && edit.inserted.iter().all(|t| toks.contains(t))
                && !edit.removed.iter().any(|t| toks.contains(t));
            if done {
                continue;
            }
            3
        } else {
            continue;
        };
        picked.push((tier, is_comment(&text), l.abs_diff(edit.line), l < edit.line, l));
    }
    picked.sort();
    picked.into_iter().take(MAX_CANDIDATES).map(|(.., l)| l).collect()
}

/// The model request that rewrites `candidate` as the user rewrote `edit`'s line: a diff with
/// the user's line removed and added, the candidate removed, and an open `+` line. Qwen's
/// repository format names the diff with `<|file_sep|>`; other completion models get a unified
/// diff header. One line, so the answer stops at the line break.
pub(crate) fn prompt(family: Family, path: &str, edit: &LineEdit, candidate: &str, max_tokens: u32) -> GenerateRequest {
    let path = path.trim_start_matches('/');
    let header = match family {
        Family::Qwen => format!("<|file_sep|>{path}.diff\n"),
        Family::Chat => format!("--- a/{path}\n+++ b/{path}\n@@\n"),
    };
    let prompt = format!("{header}-{}\n+{}\n-{candidate}\n+", edit.before, edit.after);
    // A rewritten line is about as long as the candidate plus what the edit inserted; tokens are
    // at least a char each.
    let budget = (candidate.chars().count() + edit.after.chars().count()) as u32 + 16;
    GenerateRequest {
        prompt: Prompt::Raw { prompt },
        max_tokens: budget.min(max_tokens),
        temperature: 0.0,
        stop: vec!["\n".to_owned(), "<|file_sep|>".to_owned(), "<|endoftext|>".to_owned()],
    }
}

/// Asks the model for one rewritten line: the answer up to its first line break (the stream
/// is dropped there, closing the connection so the model stops). Bounded by the request's
/// `max_tokens`. Errors: the provider's.
pub(crate) async fn ask(provider: &Provider, request: GenerateRequest) -> Result<String, ProviderError> {
    let mut stream = provider.generate(request).await?;
    let mut raw = String::new();
    while let Some(delta) = stream.next().await {
        raw.push_str(&delta?);
        if raw.contains('\n') {
            break;
        }
    }
    Ok(raw)
}

/// The predictions for line `line` of `rope` (its text `candidate`) from the model's `answer`,
/// when the answer changes the line as the user's edit changed theirs: it removes some word the
/// edit removed (or none when the edit removed none), inserts some token the edit inserted (or
/// none when it inserted none), and removes or inserts no more distinct tokens than the edit
/// did. One prediction per run of changed tokens (a name renamed twice on the line is two
/// edits, each valid alone), each narrowed to the chars that differ; empty when the answer is
/// not kept.
pub(crate) fn predictions(rope: &Rope, line: usize, candidate: &str, answer: &str, edit: &LineEdit) -> Vec<Prediction> {
    let answer = answer.split(['\n', '\r']).next().unwrap_or("");
    let answer = answer.trim_end();
    if answer.trim().is_empty() || answer == candidate.trim_end() || answer == edit.after {
        return Vec::new();
    }
    let (removed, inserted) = token_change(candidate, answer);
    let like = |mine: &BTreeSet<String>, theirs: &BTreeSet<String>| {
        if mine.is_empty() {
            theirs.is_empty()
        } else {
            theirs.len() <= mine.len() && theirs.iter().any(|t| mine.contains(t))
        }
    };
    if !like(&edit.removed, &removed) || !like(&edit.inserted, &inserted) {
        return Vec::new();
    }
    let (old, new) = (pieces(candidate), pieces(answer));
    let line_start = rope.line_to_char(line);
    let chars = |ps: &[String]| ps.iter().map(|p| p.chars().count()).sum::<usize>();
    let mut out = Vec::new();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new) {
        let (o, n) = match op {
            similar::DiffOp::Equal { .. } => continue,
            similar::DiffOp::Delete { old_index, old_len, new_index } => {
                (old_index..old_index + old_len, new_index..new_index)
            }
            similar::DiffOp::Insert { old_index, new_index, new_len } => {
                (old_index..old_index, new_index..new_index + new_len)
            }
            similar::DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                (old_index..old_index + old_len, new_index..new_index + new_len)
            }
        };
        let before: String = old[o.clone()].concat();
        let after: String = new[n].concat();
        // Narrowed: `value` -> `value_value` inserts `_value`.
        let prefix = before.chars().zip(after.chars()).take_while(|(a, b)| a == b).count();
        let (b_rest, a_rest): (Vec<char>, Vec<char>) =
            (before.chars().skip(prefix).collect(), after.chars().skip(prefix).collect());
        let suffix = b_rest.iter().rev().zip(a_rest.iter().rev()).take_while(|(a, b)| a == b).count();
        let start = line_start + chars(&old[..o.start]) + prefix;
        let end = start + b_rest.len() - suffix;
        let text: String = a_rest[..a_rest.len() - suffix].iter().collect();
        if start == end && text.is_empty() {
            continue;
        }
        out.push(Prediction { range: start..end, text, source: Source::Model });
    }
    out
}

/// A line cut into words, runs of whitespace and single other chars, which concatenate back to
/// the line (what the answer's changes are split along).
fn pieces(line: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    for c in line.chars() {
        match out.last_mut() {
            Some(last) if class(c) != 2 && last.chars().next().is_some_and(|l| class(l) == class(c)) => last.push(c),
            _ => out.push(c.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{Expect, expect};
    use std::time::Instant;

    /// `text` with `$0` where the user's edit replaced `old`, which the text holds as `new`.
    fn edit_on(text: &str, old: &str, new: &str) -> (Rope, LineEdit) {
        let at = text.find("$0").expect("a $0 marker");
        let text = text.replacen("$0", "", 1);
        let rope = Rope::from_str(&text);
        let start = text[..at].chars().count();
        let h = HistoryEdit { start, old: old.into(), new: new.into(), version: 2, at: Instant::now() };
        let e = line_edit(&rope, &h).expect("a one-line edit");
        (rope, e)
    }

    fn check_candidates(text: &str, old: &str, new: &str, want: Expect) {
        let (rope, e) = edit_on(text, old, new);
        let lines: Vec<String> = candidates(&rope, &e, 10)
            .into_iter()
            .map(|l| format!("{l}: {}", rope.line(l).to_string().trim_end()))
            .collect();
        want.assert_eq(&format!("{:?} -> {:?}\n{}", e.removed, e.inserted, lines.join("\n")));
    }

    #[test]
    fn a_renamed_word_picks_the_lines_that_still_use_it_nearest_first() {
        check_candidates(
            "def area($0w, height):\n    \"\"\"The area.\"\"\"\n    print(width)\n    return width * height\n",
            "width",
            "w",
            expect![[r#"
                {"width"} -> {"w"}
                2:     print(width)
                3:     return width * height"#]],
        );
    }

    #[test]
    fn an_inserted_argument_picks_the_lines_of_the_same_shape_and_skips_the_done_ones() {
        check_candidates(
            "x = compute(a, b$0, c)\ny = compute(d, e)\nz = compute(f, g, h)\nprint(x)\nw = other(i, j)\n",
            "",
            ", c",
            expect![[r#"
                {} -> {",", "c"}
                1: y = compute(d, e)
                2: z = compute(f, g, h)
                4: w = other(i, j)"#]],
        );
    }

    #[test]
    fn a_changed_signature_picks_its_body_then_its_calls_before_other_uses_and_comments() {
        check_candidates(
            "def other(url):\n    return url\n\ndef patch($0url_value, data=None):\n    # url: the address\n    return request(url, data)\n\nx = patch(u)\ny = url\n",
            "url",
            "url_value",
            expect![[r#"
                {"url"} -> {"url_value"}
                5:     return request(url, data)
                4:     # url: the address
                7: x = patch(u)
                1:     return url"#]],
        );
        check_candidates(
            "fn sh(script: &str$0, verbose: bool) -> Command {\n    todo!()\n}\nfn main() {\n    sh(&a);\n    let b = (sh(&c), 1);\n}\n",
            "",
            ", verbose: bool",
            expect![[r#"
                {} -> {",", ":", "bool", "verbose"}
                4:     sh(&a);
                5:     let b = (sh(&c), 1);"#]],
        );
    }

    #[test]
    fn a_multi_line_or_whitespace_only_edit_is_not_a_line_edit() {
        let rope = Rope::from_str("a = 1\n  b = 2\n");
        let multi = HistoryEdit { start: 0, old: "x\ny".into(), new: "a".into(), version: 2, at: Instant::now() };
        assert_eq!(line_edit(&rope, &multi), None);
        let space = HistoryEdit { start: 6, old: "".into(), new: "  ".into(), version: 2, at: Instant::now() };
        assert_eq!(line_edit(&rope, &space), None);
    }

    #[test]
    fn the_prompt_is_a_diff_with_an_open_added_line() {
        let (_, e) = edit_on("def area($0w, height):\n    return width * height\n", "width", "w");
        let r = prompt(Family::Qwen, "/src/geo.py", &e, "    return width * height", 512);
        let Prompt::Raw { prompt: p } = &r.prompt else { panic!("a raw prompt") };
        expect![[r#"
            <|file_sep|>src/geo.py.diff
            -def area(width, height):
            +def area(w, height):
            -    return width * height
            +"#]]
        .assert_eq(p);
        assert_eq!((r.max_tokens, r.temperature, r.stop[0].as_str()), (61, 0.0, "\n"));
        let Prompt::Raw { prompt: p } = prompt(Family::Chat, "geo.py", &e, "x", 8).prompt else { panic!() };
        assert!(p.starts_with("--- a/geo.py\n+++ b/geo.py\n@@\n-def area(width"), "{p}");
    }

    fn check_answer(answer: &str, want: Expect) {
        let (rope, e) = edit_on("def area($0w, height):\n    return width * height\n", "width", "w");
        let got: Vec<String> = predictions(&rope, 1, "    return width * height", answer, &e)
            .into_iter()
            .map(|p| {
                format!(
                    "{}..{} {:?} -> {:?}",
                    p.range.start,
                    p.range.end,
                    rope.slice(p.range.clone()).to_string(),
                    p.text
                )
            })
            .collect();
        want.assert_eq(&format!("{got:?}"));
    }

    #[test]
    fn answers_are_kept_only_when_they_change_the_line_like_the_edit() {
        check_answer("    return w * height", expect![[r#"["33..37 \"idth\" -> \"\""]"#]]);
        check_answer("    return w * height\n-more", expect![[r#"["33..37 \"idth\" -> \"\""]"#]]);
        // Renamed more than the user did, unchanged, the user's own line, another change, prose.
        check_answer("    return w * h", expect!["[]"]);
        check_answer("    return width * height", expect!["[]"]);
        check_answer("def area(w, height):", expect!["[]"]);
        check_answer("    return width + height", expect!["[]"]);
        check_answer("", expect!["[]"]);
    }

    #[test]
    fn a_name_renamed_twice_on_a_line_is_two_edits() {
        let (rope, e) = edit_on("def area($0w):\n    return width * width\n", "width", "w");
        let got: Vec<String> = predictions(&rope, 1, "    return width * width", "    return w * w", &e)
            .into_iter()
            .map(|p| {
                format!(
                    "{}..{} {:?} -> {:?}",
                    p.range.start,
                    p.range.end,
                    rope.slice(p.range.clone()).to_string(),
                    p.text
                )
            })
            .collect();
        expect![[r#"["25..29 \"idth\" -> \"\"", "33..37 \"idth\" -> \"\""]"#]].assert_eq(&format!("{got:?}"));
    }
}
