//! Text: documents as ropes and the one clamped conversion between positions and offsets.
//!
//! No I/O and no LSP types here; the LSP layer converts its `Position`s into [`Pos`].

pub mod document;
pub mod position;
pub mod summary;

pub use document::{Document, Edit};
pub use position::{Encoding, Pos};
pub use summary::first_line;
