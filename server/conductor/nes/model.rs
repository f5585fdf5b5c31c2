//! Model next edit predictions: a prompt with the recent edits (as original/updated blocks) and
//! a window of whole lines around the cursor, asking for the window rewritten; the difference
//! (`similar`) becomes the predicted edits. Prompt formats per model family (tests/nes/DESIGN.md
//! §3): Qwen2.5-Coder's repository format for a raw completion, a short chat otherwise.

use futures::StreamExt;
use ropey::Rope;
use similar::{DiffOp, TextDiff};

use super::history::HistoryEdit;
use super::{NesConfig, Prediction, Source};
use crate::providers::{ChatMessage, GenerateRequest, Prompt, Provider, ProviderError, ProviderKind, Role};

/// Recent edits shown to the model, newest last.
const EDITS_SHOWN: usize = 3;
/// Lines of one edit's block, at most.
const EDIT_LINES: usize = 8;

/// The system prompt for chat models.
pub(crate) const NES_SYSTEM: &str = "You predict the next edit a programmer makes. Given their recent edits and \
     the code around the cursor, rewrite that code with the next edit applied: finish what the recent edits \
     started (the other uses of a renamed name, the calls of a changed function); never undo them; change \
     nothing else. Reply with only the rewritten code in one fenced block.";

/// The whole lines around the cursor the model may rewrite: chars `start..end` of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    /// The text goes on above / below the window (its boundary lines are then suspect).
    pub(crate) more_above: bool,
    pub(crate) more_below: bool,
}

/// `lines` whole lines centred on the cursor's line (a char index), clipped to the text.
pub(crate) fn window(rope: &Rope, cursor: usize, lines: u32) -> Window {
    let cursor = cursor.min(rope.len_chars());
    let line = rope.char_to_line(cursor);
    let last_line = rope.len_lines().saturating_sub(1);
    let half = (lines as usize).saturating_sub(1) / 2;
    let first = line.saturating_sub(half);
    let end_line = (first + lines.max(1) as usize).min(last_line + 1);
    let start = rope.line_to_char(first);
    let end = if end_line > last_line { rope.len_chars() } else { rope.line_to_char(end_line) };
    Window {
        start,
        end,
        text: rope.slice(start..end).to_string(),
        more_above: start > 0,
        more_below: end < rope.len_chars(),
    }
}

/// The prompt family for a provider and model: Qwen's raw repository format where the model is
/// a Qwen served on a completion endpoint, a chat otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Qwen,
    Chat,
}

impl Family {
    pub(crate) fn of(kind: ProviderKind, model: &str) -> Self {
        if kind != ProviderKind::Anthropic && model.to_ascii_lowercase().contains("qwen") {
            Self::Qwen
        } else {
            Self::Chat
        }
    }
}

/// The recent edits as (original lines, updated lines) of the current text, oldest first.
fn edit_blocks(rope: &Rope, history: &[HistoryEdit]) -> Vec<(String, String)> {
    let skip = history.len().saturating_sub(EDITS_SHOWN);
    let mut out = Vec::new();
    for e in &history[skip..] {
        let r = e.new_range();
        if r.end > rope.len_chars() {
            continue;
        }
        let l0 = rope.char_to_line(r.start);
        let l1 = rope.char_to_line(r.end).min(l0 + EDIT_LINES);
        let a = rope.line_to_char(l0);
        let b = if l1 + 1 >= rope.len_lines() { rope.len_chars() } else { rope.line_to_char(l1 + 1) };
        if r.end > b {
            continue;
        }
        let updated = rope.slice(a..b).to_string();
        let original = format!("{}{}{}", rope.slice(a..r.start), e.old, rope.slice(r.end..b));
        out.push((original, updated));
    }
    out
}

/// The model request for `window` of the document at `path`.
pub(crate) fn prompt(
    family: Family,
    path: &str,
    language: &str,
    rope: &Rope,
    history: &[HistoryEdit],
    window: &Window,
    config: &NesConfig,
) -> GenerateRequest {
    let blocks = edit_blocks(rope, history);
    // Qwen's repository format names files by their path in the repository, without a root.
    let path = path.trim_start_matches('/');
    let (prompt, stop) = match family {
        Family::Qwen => {
            let mut p = format!("<|file_sep|>{path}.diff\n");
            for (original, updated) in &blocks {
                p.push_str(&format!("original:\n{original}updated:\n{updated}"));
            }
            p.push_str(&format!("<|file_sep|>current/{path}\n{}<|file_sep|>updated/{path}\n", window.text));
            (Prompt::Raw { prompt: p }, STOPS.map(String::from).to_vec())
        }
        Family::Chat => {
            let mut c = format!("Recent edits in {path}, oldest first:\n");
            for (original, updated) in &blocks {
                c.push_str(&format!("```original\n{original}```\n```updated\n{updated}```\n"));
            }
            c.push_str(&format!(
                "\nThe code around the cursor now:\n```{language}\n{}```\n\nRewrite it with the next edit.",
                window.text
            ));
            let messages = vec![ChatMessage { role: Role::User, content: c }];
            (Prompt::Chat { system: Some(NES_SYSTEM.to_owned()), messages }, Vec::new())
        }
    };
    GenerateRequest { prompt, max_tokens: config.max_tokens, temperature: 0.0, stop }
}

/// Lines the model may write past the window's own before its answer is cut (an inserted line
/// or two is a prediction; more is a model that ran on).
const EXTRA_LINES: usize = 3;

/// Asks the model for `window` rewritten; the raw answer. Bounded: the provider ends the stream
/// at `max_tokens` worth of text, and the stream is dropped (closing the connection, so the
/// model stops) once the answer has [`EXTRA_LINES`] more lines than the window or reached a
/// stop marker. Errors: the provider's.
pub(crate) async fn ask(
    provider: &Provider,
    request: GenerateRequest,
    window: &Window,
) -> Result<String, ProviderError> {
    let max_lines = window.text.lines().count() + EXTRA_LINES;
    let mut stream = provider.generate(request).await?;
    let mut raw = String::new();
    while let Some(delta) = stream.next().await {
        raw.push_str(&delta?);
        if raw.matches('\n').count() > max_lines || STOPS.iter().any(|m| raw.contains(m)) {
            break;
        }
    }
    Ok(raw)
}

/// Where a raw answer in Qwen's repository format ends.
const STOPS: [&str; 3] = ["<|file_sep|>", "<|endoftext|>", "<|im_end|>"];

/// The rewritten window in the model's answer: cut at a stop marker, a fence's body for chat
/// models, at most the window's line count when it ran on. `None` when there is none.
pub(crate) fn rewritten(family: Family, raw: &str, window: &Window) -> Option<String> {
    let mut text = match family {
        Family::Qwen => {
            // A small model may go on in the prompt's own edit-block format, or close a fence and
            // explain (Qwen2.5-Coder-0.5B-Instruct does): those end the window too.
            let markers = STOPS.iter().chain(&["\noriginal:\n", "\nupdated:\n", "\n```"]).filter_map(|m| raw.find(m));
            let cut = markers.min().map(|at| if raw[at..].starts_with('\n') { at + 1 } else { at });
            raw[..cut.unwrap_or(raw.len())].to_owned()
        }
        Family::Chat => crate::conductor::edit::extract_code(raw).to_owned(),
    };
    if text.trim().is_empty() {
        return None;
    }
    // An answer cut for running on ([`ask`]): its lines past the window's count are not kept.
    let lines = window.text.lines().count();
    if text.lines().count() > lines + EXTRA_LINES {
        text = text.split_inclusive('\n').take(lines).collect();
    }
    if window.text.ends_with('\n') && !text.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

/// The edits that turn the window into `new`, narrowed to the chars that differ, as predictions
/// on the document (char ranges). Hunks touching the window's first or last line are dropped
/// when the text goes on past it: a model that misplaced the window's boundary rewrites them.
pub(crate) fn predictions(window: &Window, new: &str) -> Vec<Prediction> {
    let old = window.text.as_str();
    let diff = TextDiff::from_lines(old, new);
    let old_lines = diff.old_slices();
    let new_lines = diff.new_slices();
    let offset = |lines: &[&str], idx: usize| lines[..idx].iter().map(|l| l.len()).sum::<usize>();
    let n_old = old_lines.len();
    let mut out = Vec::new();
    let mut hunks = Vec::new();
    for op in diff.ops() {
        match *op {
            DiffOp::Equal { .. } => {}
            DiffOp::Delete { old_index, old_len, new_index } => {
                hunks.push((old_index..old_index + old_len, new_index..new_index))
            }
            DiffOp::Insert { old_index, new_index, new_len } => {
                hunks.push((old_index..old_index, new_index..new_index + new_len))
            }
            // Line for line: each line its own edit, so a boundary line drops alone.
            DiffOp::Replace { old_index, old_len, new_index, new_len } if old_len == new_len => {
                hunks.extend((0..old_len).map(|k| (old_index + k..old_index + k + 1, new_index + k..new_index + k + 1)))
            }
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                hunks.push((old_index..old_index + old_len, new_index..new_index + new_len))
            }
        }
    }
    for (o, n) in hunks {
        if (window.more_above && o.start == 0) || (window.more_below && o.end >= n_old) {
            continue;
        }
        let (mut a, mut b) = (offset(old_lines, o.start), offset(old_lines, o.end));
        let text = new_lines[n].concat();
        // Narrow to what differs: the common prefix and suffix (whole chars) are not edited.
        let before = &old[a..b];
        let prefix: usize =
            before.chars().zip(text.chars()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum();
        let rest_old = &before[prefix..];
        let rest_new = &text[prefix..];
        let suffix: usize = rest_old
            .chars()
            .rev()
            .zip(rest_new.chars().rev())
            .take_while(|(x, y)| x == y)
            .map(|(x, _)| x.len_utf8())
            .sum();
        if prefix == before.len() && prefix == text.len() {
            continue;
        }
        let replacement = rest_new[..rest_new.len() - suffix].to_owned();
        b -= suffix;
        a += prefix;
        let start = window.start + old[..a].chars().count();
        let end = window.start + old[..b].chars().count();
        out.push(Prediction { range: start..end, text: replacement, source: Source::Model });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_whole_lines_around_the_cursor() {
        let rope = Rope::from_str("a\nb\nc\nd\ne\n");
        let w = window(&rope, rope.line_to_char(2), 3);
        assert_eq!(w.text, "b\nc\nd\n");
        assert_eq!(window(&rope, 0, 3).text, "a\nb\nc\n");
        assert_eq!(window(&rope, rope.len_chars(), 3).text, "e\n");
    }

    #[test]
    fn a_rewritten_window_becomes_narrow_edits_and_boundary_changes_are_dropped() {
        let rope = Rope::from_str("# top\ndef f(total):\n    x = count\n    y = 2\n    return count\n# end\n# more\n");
        let w = window(&rope, rope.line_to_char(3), 5);
        assert!(w.more_above && w.more_below);
        let new = "def g(total):\n    x = total\n    y = 2\n    return total\n# end\n";
        let p = predictions(&w, new);
        let shown: Vec<_> = p.iter().map(|p| (rope.slice(p.range.clone()).to_string(), p.text.as_str())).collect();
        // The first line (f -> g) is the window's boundary with text above it: dropped.
        assert_eq!(shown, vec![("count".to_owned(), "total"), ("count".to_owned(), "total")]);
    }

    #[test]
    fn answers_are_cut_at_the_stop_markers_or_taken_from_the_fence() {
        let w = Window { start: 0, end: 2, text: "a\n".into(), more_above: false, more_below: false };
        assert_eq!(rewritten(Family::Qwen, "b<|file_sep|>junk", &w).as_deref(), Some("b\n"));
        assert_eq!(rewritten(Family::Chat, "Sure:\n```py\nb\n```", &w).as_deref(), Some("b\n"));
        assert_eq!(rewritten(Family::Qwen, "  \n", &w), None);
        assert_eq!(rewritten(Family::Qwen, "b\nupdated:\nc\n", &w).as_deref(), Some("b\n"));
        assert_eq!(rewritten(Family::Qwen, "b\n```\n\nThis code defines", &w).as_deref(), Some("b\n"));
    }
}
