//! Model edits: rewrite a range of a document following an instruction (edit selection, fix a
//! diagnostic), and turn the answer into minimal line edits for the user to accept or reject.

use futures::StreamExt;
use similar::{DiffOp, TextDiff};

use super::EditConfig;
use crate::providers::{ChatMessage, GenerateRequest, Prompt, Provider, ProviderError, Role};

/// What to rewrite and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditRequest {
    pub(crate) language: String,
    pub(crate) path: String,
    /// Lines above the range, for context only.
    pub(crate) before: String,
    /// The text to rewrite.
    pub(crate) target: String,
    /// Lines below the range, for context only.
    pub(crate) after: String,
    pub(crate) instruction: String,
}

/// The system prompt for edits.
pub(crate) const EDIT_SYSTEM: &str = "You edit code. You are given a file excerpt with the part to change \
     between <EDIT> and </EDIT>, and an instruction. Reply with only the new code that replaces the \
     part between the markers, in one fenced code block, with the same indentation style.";

/// The chat request for an edit.
pub(crate) fn prompt(req: &EditRequest, config: &EditConfig) -> GenerateRequest {
    let content = format!(
        "File: {path}\n```{lang}\n{before}<EDIT>\n{target}</EDIT>\n{after}```\n\nInstruction: {instruction}",
        path = req.path,
        lang = req.language,
        before = req.before,
        target = req.target,
        after = req.after,
        instruction = req.instruction,
    );
    GenerateRequest {
        prompt: Prompt::Chat {
            system: Some(EDIT_SYSTEM.to_owned()),
            messages: vec![ChatMessage { role: Role::User, content }],
        },
        max_tokens: config.max_tokens,
        temperature: config.temperature as f32,
        stop: Vec::new(),
    }
}

/// Why an edit failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EditError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("the model answered without code")]
    Empty,
}

/// Asks the model for the replacement of `req.target`. Returns the new text, with the target's
/// trailing newline kept as it was.
pub(crate) async fn run(provider: &Provider, req: &EditRequest, config: &EditConfig) -> Result<String, EditError> {
    let mut stream = provider.generate(prompt(req, config)).await?;
    let mut raw = String::new();
    while let Some(delta) = stream.next().await {
        raw.push_str(&delta?);
    }
    let mut code = extract_code(&raw).to_owned();
    if code.trim().is_empty() {
        return Err(EditError::Empty);
    }
    if req.target.ends_with('\n') && !code.ends_with('\n') {
        code.push('\n');
    }
    Ok(code)
}

/// The body of the first fenced block, or the whole answer without markers when it has none.
pub(crate) fn extract_code(raw: &str) -> &str {
    let raw = raw.trim_matches(|c| c == '\n' || c == '\r');
    let Some(open) = raw.find("```") else {
        return raw.trim_start_matches("<EDIT>").trim_end_matches("</EDIT>");
    };
    let rest = &raw[open + 3..];
    let start = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let body = &rest[start..];
    let end = body.find("```").unwrap_or(body.len());
    body[..end].trim_end_matches(['\n', '\r'])
}

/// One replacement, in byte offsets into the old text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replacement {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
}

/// Line-level edits that turn `old` into `new`, smallest first-to-last (via `similar`'s
/// Myers diff), so the editor shows and undoes only what changed.
pub(crate) fn minimal_edits(old: &str, new: &str) -> Vec<Replacement> {
    let diff = TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = diff.old_slices().to_vec();
    let new_lines: Vec<&str> = diff.new_slices().to_vec();
    let offset = |lines: &[&str], idx: usize| lines[..idx].iter().map(|l| l.len()).sum::<usize>();
    let mut out: Vec<Replacement> = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = match *op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete { old_index, old_len, new_index } => (old_index..old_index + old_len, new_index..new_index),
            DiffOp::Insert { old_index, new_index, new_len } => (old_index..old_index, new_index..new_index + new_len),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                (old_index..old_index + old_len, new_index..new_index + new_len)
            }
        };
        let start = offset(&old_lines, old_range.start);
        let end = offset(&old_lines, old_range.end);
        let text = new_lines[new_range].concat();
        match out.last_mut() {
            Some(last) if last.end == start => {
                last.end = end;
                last.text.push_str(&text);
            }
            _ => out.push(Replacement { start, end, text }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_lines_are_replaced() {
        let old = "fn a() {\n    1\n}\nfn b() {\n    2\n}\n";
        let new = "fn a() {\n    10\n}\nfn b() {\n    2\n}\n// end\n";
        let edits = minimal_edits(old, new);
        assert_eq!(
            edits,
            vec![
                Replacement { start: 9, end: 15, text: "    10\n".into() },
                Replacement { start: old.len(), end: old.len(), text: "// end\n".into() },
            ]
        );
        let mut applied = old.to_owned();
        for e in edits.iter().rev() {
            applied.replace_range(e.start..e.end, &e.text);
        }
        assert_eq!(applied, new);
    }

    #[test]
    fn code_is_taken_from_the_fence() {
        assert_eq!(extract_code("Sure:\n```rust\nlet x = 1;\n```\nDone."), "let x = 1;");
        assert_eq!(extract_code("let x = 1;\n"), "let x = 1;");
    }
}
