//! Conductor mode: one model, in real time. Inline suggestions (fill-in-the-middle prompts,
//! debounce, cache, post-processing) and model edits of a selection or a diagnostic.
//!
//! Plain data in, plain data out: nothing here knows LSP; positions are rope char indices.

pub(crate) mod cache;
pub(crate) mod context;
pub(crate) mod debounce;
pub(crate) mod edit;
pub(crate) mod engine;
pub(crate) mod fim;
pub(crate) mod in_flight;
pub(crate) mod nes;
pub(crate) mod postprocess;

use ropey::Rope;

use crate::syntax::Syntax;

pub(crate) use engine::{CompletionError, CompletionRequest, Conductor, Outcome};
pub(crate) use fim::FimTemplate;

/// A document as the conductor sees it: an immutable snapshot (cloning a rope or a tree is cheap).
#[derive(Debug, Clone)]
pub struct DocSnapshot {
    /// A key that identifies the document (its URI in the server, its path in the CLI).
    pub(crate) key: String,
    /// A path or URI to show the model, for context.
    pub(crate) path: String,
    pub(crate) rope: Rope,
    pub(crate) syntax: Option<Syntax>,
    pub(crate) language_id: String,
}

/// An excerpt of another open document, offered to the model as context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excerpt {
    pub(crate) path: String,
    pub(crate) text: String,
}

/// What inline completion reads from the settings (`completion.*`; `config.rs` translates them).
/// The defaults are the settings' defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CompletionConfig {
    /// Shortest wait after the last keystroke before asking the model, in milliseconds.
    pub(crate) debounce_ms: u64,
    /// Longest wait when the debounce adapts to slow typing, in milliseconds.
    pub(crate) max_debounce_ms: u64,
    /// Adapt the debounce to the recent gaps between keystrokes (`debounce::Typing`).
    pub(crate) adaptive_debounce: bool,
    pub(crate) fim_template: FimTemplate,
    /// Prompt budget, in tokens (4 bytes a token), for prefix, suffix and context.
    pub(crate) context_tokens: u32,
    /// Upper bound on a suggestion's length, in tokens.
    pub(crate) max_tokens: u32,
    pub(crate) temperature: f64,
    /// Allow suggestions longer than the rest of the current line.
    pub(crate) multiline: bool,
    /// Add excerpts of other open documents of the same language to the prompt.
    pub(crate) other_documents: bool,
    /// Budget of that cross-file context, in tokens (4 bytes a token), on top of `context_tokens`.
    pub(crate) cross_file_tokens: u32,
    /// Suggestions kept for reuse.
    pub(crate) cache_size: usize,
    /// Most suggestions for an invoked request, the first included (alternatives:
    /// [`Conductor::alternatives`]); 0 and 1 mean one.
    pub(crate) suggestions: usize,
}

impl Default for CompletionConfig {
    fn default() -> Self {
        Self {
            debounce_ms: 75,
            max_debounce_ms: 300,
            adaptive_debounce: true,
            fim_template: FimTemplate::Auto,
            context_tokens: 1536,
            max_tokens: 64,
            temperature: 0.1,
            multiline: true,
            other_documents: true,
            cross_file_tokens: 1024,
            cache_size: 64,
            suggestions: 3,
        }
    }
}

/// What model edits read from the settings (`edit.*`). The defaults are the settings' defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EditConfig {
    /// Upper bound on the model's answer, in tokens.
    pub(crate) max_tokens: u32,
    pub(crate) temperature: f64,
}

impl Default for EditConfig {
    fn default() -> Self {
        Self { max_tokens: 1024, temperature: 0.1 }
    }
}
