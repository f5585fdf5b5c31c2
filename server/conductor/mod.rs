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

pub use engine::{CompletionError, Conductor, Outcome, Suggestion, Ticket};

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
