//! Conductor mode: one model, in real time. Inline suggestions (fill-in-the-middle prompts,
//! debounce, cache, post-processing) and model edits of a selection or a diagnostic.
//!
//! Plain data in, plain data out: nothing here knows LSP; positions are rope char indices.

pub mod cache;
pub mod debounce;
pub mod edit;
pub mod engine;
pub mod fim;
pub mod postprocess;

use ropey::Rope;

use crate::syntax::Syntax;

pub use engine::{CompletionError, CompletionRequest, Conductor, Outcome, Suggestion, Ticket};
pub use fim::FimTemplate;

/// A document as the conductor sees it: an immutable snapshot (cloning a rope or a tree is cheap).
#[derive(Debug, Clone)]
pub struct DocSnapshot {
    /// A key that identifies the document (its URI in the server, its path in the CLI).
    pub key: String,
    /// A path or URI to show the model, for context.
    pub path: String,
    pub rope: Rope,
    pub syntax: Option<Syntax>,
    pub language_id: String,
}

/// An excerpt of another open document, offered to the model as context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    pub path: String,
    pub text: String,
}

/// What inline completion reads from the settings (`completion.*`; `config.rs` translates them).
/// The defaults are the settings' defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompletionConfig {
    /// Shortest wait after the last keystroke before asking the model, in milliseconds.
    pub debounce_ms: u64,
    /// Longest wait when the debounce adapts to slow typing, in milliseconds.
    pub max_debounce_ms: u64,
    /// Stretch the debounce to 1.3 × the recent gap between keystrokes.
    pub adaptive_debounce: bool,
    pub fim_template: FimTemplate,
    /// Prompt budget, in tokens (4 bytes a token), for prefix, suffix and context.
    pub context_tokens: u32,
    /// Upper bound on a suggestion's length, in tokens.
    pub max_tokens: u32,
    pub temperature: f64,
    /// Allow suggestions longer than the rest of the current line.
    pub multiline: bool,
    /// Add excerpts of other open documents of the same language to the prompt.
    pub other_documents: bool,
    /// Suggestions kept for reuse.
    pub cache_size: usize,
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
            cache_size: 64,
        }
    }
}

/// What model edits read from the settings (`edit.*`). The defaults are the settings' defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EditConfig {
    /// Upper bound on the model's answer, in tokens.
    pub max_tokens: u32,
    pub temperature: f64,
}

impl Default for EditConfig {
    fn default() -> Self {
        Self { max_tokens: 1024, temperature: 0.1 }
    }
}
