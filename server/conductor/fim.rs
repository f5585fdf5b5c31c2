//! Fill-in-the-middle prompts: the prefix and suffix windows around the cursor inside a token
//! budget, context from tree-sitter and other open documents, and each model family's template.

use serde::{Deserialize, Serialize};

use crate::providers::{ChatMessage, Prompt, ProviderKind, Role};
use crate::syntax::IMPORTS_HEAD_BYTES as IMPORTS_HEAD;

use super::{DocSnapshot, Excerpt};

/// Estimated bytes per token, for budgeting prompts without a tokenizer.
pub(crate) const BYTES_PER_TOKEN: usize = 4;

/// The parts of a fill-in-the-middle prompt before a template wraps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FimParts {
    /// Context placed before the prefix: other documents' excerpts, then this document's imports
    /// and enclosing scope headers that fall outside the prefix window.
    pub(crate) context: String,
    /// Text before the cursor (starting at a line start).
    pub(crate) prefix: String,
    /// Text after the cursor (ending at a line end).
    pub(crate) suffix: String,
}

impl FimParts {
    /// Context and prefix as one string, as the model sees it.
    pub(crate) fn full_prefix(&self) -> String {
        format!("{}{}", self.context, self.prefix)
    }
}

/// Cuts the windows around `cursor` (a char index) within `budget_tokens`: 60% for the prefix,
/// 20% for the suffix, 20% for this document's imports and scope headers (what they leave
/// unused goes to the prefix). `others` (cross-file context, [`super::context`]) come on top,
/// within `others_tokens`, each under a `Path:` comment line; the document's own path follows
/// them. Without `others` the prompt is the same whatever `others_tokens` is.
pub(crate) fn build_parts(
    doc: &DocSnapshot,
    cursor: usize,
    others: &[Excerpt],
    budget_tokens: u32,
    others_tokens: u32,
    comment: &str,
) -> FimParts {
    let rope = &doc.rope;
    let cursor = cursor.min(rope.len_chars());
    let budget = budget_tokens as usize * BYTES_PER_TOKEN;
    let context_budget = budget / 5;
    let suffix_budget = budget / 5;

    // Suffix: whole lines after the cursor up to its budget (the rest of the cursor's line always).
    let cursor_byte = rope.char_to_byte(cursor);
    let mut suffix_end = (cursor_byte + suffix_budget).min(rope.len_bytes());
    let cursor_line_end = line_end_byte(rope, cursor_byte);
    suffix_end = suffix_end.max(cursor_line_end);
    let suffix_end_line = rope.byte_to_line(suffix_end);
    if suffix_end < rope.len_bytes() && suffix_end > cursor_line_end {
        suffix_end = rope.line_to_byte(suffix_end_line);
    }
    let suffix = rope.byte_slice(cursor_byte..suffix_end).to_string();

    // Context: imports and scope headers outside the window, then other documents.
    let mut context = String::new();
    let mut prefix_budget = budget - suffix_budget - context_budget;
    let tentative_start = window_start(rope, cursor_byte, prefix_budget + context_budget);
    if let Some(syntax) = &doc.syntax {
        let mut local = String::new();
        for r in syntax.imports(rope, tentative_start.min(IMPORTS_HEAD)) {
            if r.end <= tentative_start {
                local.push_str(&rope.byte_slice(r.start..r.end.min(rope.len_bytes())).to_string());
                local.push('\n');
            }
        }
        let mut headers: Vec<_> = syntax.enclosing_scopes(rope, cursor_byte);
        headers.reverse();
        for r in headers {
            if r.start < tentative_start {
                let line = rope.byte_to_line(r.start);
                local.push_str(&rope.line(line).to_string());
                if !local.ends_with('\n') {
                    local.push('\n');
                }
            }
        }
        if local.len() <= context_budget {
            context.push_str(&local);
        }
    }
    let others_budget = others_tokens as usize * BYTES_PER_TOKEN;
    let mut others_text = String::new();
    for e in others {
        let room = others_budget.saturating_sub(others_text.len());
        let header = format!("{comment} Path: {}\n", e.path);
        if room <= header.len() + 16 {
            break;
        }
        others_text.push_str(&header);
        others_text.push_str(truncate_lines(&e.text, room - header.len()));
        if !others_text.ends_with('\n') {
            others_text.push('\n');
        }
    }
    if !others_text.is_empty() {
        context = format!("{others_text}{comment} Path: {}\n{context}", doc.path);
    }
    prefix_budget += context_budget.saturating_sub(context.len());
    let start = window_start(rope, cursor_byte, prefix_budget);
    let prefix = rope.byte_slice(start..cursor_byte).to_string();
    FimParts { context, prefix, suffix }
}

/// Byte offset where the prefix window starts: at most `budget` bytes before the cursor,
/// moved forward to a line start.
fn window_start(rope: &ropey::Rope, cursor_byte: usize, budget: usize) -> usize {
    let start = cursor_byte.saturating_sub(budget);
    if start == 0 {
        return 0;
    }
    let line = rope.byte_to_line(start);
    let line_start = rope.line_to_byte(line);
    if line_start == start { start } else { rope.line_to_byte((line + 1).min(rope.byte_to_line(cursor_byte))) }
}

fn line_end_byte(rope: &ropey::Rope, byte: usize) -> usize {
    let line = rope.byte_to_line(byte);
    let slice = rope.line(line);
    let content = crate::text::position::line_len_chars(slice);
    rope.line_to_byte(line) + slice.char_to_byte(content)
}

fn truncate_lines(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let cut = text[..text.floor_char_boundary(max)].rfind('\n').map_or(0, |i| i + 1);
    &text[..cut]
}

/// A concrete template: what `Auto` resolves to for a provider and model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Template {
    Qwen,
    Starcoder,
    Codellama,
    Deepseek,
    Native,
    Chat,
}

/// Which prompt format carries fill-in-the-middle requests to the model (`completion.fim_template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum FimTemplate {
    /// Chosen from the model name (qwen, starcoder, codellama, deepseek); the provider's native
    /// fill-in-the-middle fields for Ollama and llama.cpp; a chat prompt otherwise.
    #[default]
    Auto,
    Qwen,
    Starcoder,
    Codellama,
    Deepseek,
    /// The provider's own prefix/suffix fields (Ollama `suffix`, llama.cpp `/infill`).
    Native,
    /// A chat prompt asking for the missing code (for chat-only models such as Anthropic's).
    Chat,
}

/// Resolves the configured template for a provider kind and model name.
pub(crate) fn resolve(template: FimTemplate, kind: ProviderKind, model: &str) -> Template {
    match template {
        FimTemplate::Qwen => Template::Qwen,
        FimTemplate::Starcoder => Template::Starcoder,
        FimTemplate::Codellama => Template::Codellama,
        FimTemplate::Deepseek => Template::Deepseek,
        FimTemplate::Native => Template::Native,
        FimTemplate::Chat => Template::Chat,
        FimTemplate::Auto => {
            let m = model.to_ascii_lowercase();
            match kind {
                ProviderKind::Anthropic => Template::Chat,
                ProviderKind::Ollama | ProviderKind::Llamacpp => Template::Native,
                ProviderKind::Openai if m.contains("qwen") => Template::Qwen,
                ProviderKind::Openai if m.contains("starcoder") => Template::Starcoder,
                ProviderKind::Openai if m.contains("codellama") || m.contains("code-llama") => Template::Codellama,
                ProviderKind::Openai if m.contains("deepseek") => Template::Deepseek,
                ProviderKind::Openai => Template::Chat,
            }
        }
    }
}

/// The system prompt for chat-based fill-in-the-middle.
pub(crate) const CHAT_SYSTEM: &str = "You complete code. Reply with only the code that belongs at <CURSOR>, \
     with no explanation and no repetition of the surrounding code.";

/// Wraps the parts in a template. Returns the prompt and the stop sequences that end the middle.
pub(crate) fn render(template: Template, parts: &FimParts, language: &str) -> (Prompt, Vec<String>) {
    let p = parts.full_prefix();
    let s = &parts.suffix;
    let raw =
        |prompt: String, stops: &[&str]| (Prompt::Raw { prompt }, stops.iter().map(|s| (*s).to_owned()).collect());
    match template {
        Template::Qwen => raw(
            format!("<|fim_prefix|>{p}<|fim_suffix|>{s}<|fim_middle|>"),
            &[
                "<|endoftext|>",
                "<|fim_prefix|>",
                "<|fim_suffix|>",
                "<|fim_middle|>",
                "<|fim_pad|>",
                "<|file_sep|>",
                "<|im_end|>",
            ],
        ),
        Template::Starcoder => raw(
            format!("<fim_prefix>{p}<fim_suffix>{s}<fim_middle>"),
            &["<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"],
        ),
        Template::Codellama => raw(format!("<PRE> {p} <SUF>{s} <MID>"), &["<EOT>", "<PRE>", "<SUF>", "<MID>"]),
        Template::Deepseek => raw(
            format!("<｜fim▁begin｜>{p}<｜fim▁hole｜>{s}<｜fim▁end｜>"),
            &["<｜end▁of▁sentence｜>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"],
        ),
        Template::Native => (Prompt::Fim { prefix: p, suffix: s.clone() }, Vec::new()),
        Template::Chat => (
            Prompt::Chat {
                system: Some(CHAT_SYSTEM.to_owned()),
                messages: vec![ChatMessage {
                    role: Role::User,
                    content: format!("```{language}\n{p}<CURSOR>{s}\n```"),
                }],
            },
            Vec::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{Syntax, language_for};
    use baton_test_support::Fixture;
    use expect_test::expect;
    use ropey::Rope;

    /// A document from a fixture whose cursor is marked `$0`.
    fn fixture(text: &str, lang: &str) -> (DocSnapshot, usize) {
        let fixture = Fixture::parse(text);
        let rope = Rope::from_str(&fixture.text);
        let cursor = rope.byte_to_char(fixture.cursor());
        let syntax = language_for(lang, "").and_then(|l| Syntax::parse(l, &rope));
        (DocSnapshot { key: "k".into(), path: "src/lib.rs".into(), rope, syntax, language_id: lang.into() }, cursor)
    }

    #[test]
    fn imports_and_scope_header_outside_a_small_window_stay_in_context() {
        let filler: String = (0..40).map(|i| format!("    let v{i} = {i};\n")).collect();
        let (doc, cursor) =
            fixture(&format!("use std::io;\n\nfn main() {{\n{filler}    let total = $0;\n}}\n"), "rust");
        let parts = build_parts(&doc, cursor, &[], 64, 0, "//");
        expect![[r#"
            use std::io;
            fn main() {
        "#]]
        .assert_eq(&parts.context);
        assert!(parts.prefix.ends_with("    let total = "));
        assert!(parts.prefix.starts_with("    let v"), "window starts at a line start");
        assert_eq!(parts.suffix, ";\n}\n");
    }

    #[test]
    fn other_documents_come_first_with_their_paths() {
        let (doc, cursor) = fixture("fn main() { $0 }\n", "rust");
        let others = [Excerpt { path: "src/util.rs".into(), text: "pub(crate) fn helper() -> u32 { 7 }\n".into() }];
        let parts = build_parts(&doc, cursor, &others, 256, 64, "//");
        expect![[r#"
            // Path: src/util.rs
            pub(crate) fn helper() -> u32 { 7 }
            // Path: src/lib.rs
        "#]]
        .assert_eq(&parts.context);
    }

    #[test]
    fn templates_wrap_prefix_and_suffix() {
        let parts = FimParts { context: String::new(), prefix: "def f(".into(), suffix: "):\n".into() };
        let shown: Vec<String> = [Template::Qwen, Template::Starcoder, Template::Codellama, Template::Deepseek]
            .iter()
            .map(|t| match render(*t, &parts, "python").0 {
                Prompt::Raw { prompt } => prompt,
                other => format!("{other:?}"),
            })
            .collect();
        expect![[r#"
            <|fim_prefix|>def f(<|fim_suffix|>):
            <|fim_middle|>
            <fim_prefix>def f(<fim_suffix>):
            <fim_middle>
            <PRE> def f( <SUF>):
             <MID>
            <｜fim▁begin｜>def f(<｜fim▁hole｜>):
            <｜fim▁end｜>"#]]
        .assert_eq(&shown.join("\n"));
        assert_eq!(resolve(FimTemplate::Auto, ProviderKind::Openai, "Qwen2.5-Coder-0.5B"), Template::Qwen);
        assert_eq!(resolve(FimTemplate::Auto, ProviderKind::Ollama, "anything"), Template::Native);
        assert_eq!(resolve(FimTemplate::Auto, ProviderKind::Anthropic, "claude"), Template::Chat);
        assert_eq!(resolve(FimTemplate::Auto, ProviderKind::Openai, "gpt-x"), Template::Chat);
    }
}
