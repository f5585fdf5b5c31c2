//! Baton: a language server that brings AI coding assistance to any LSP editor.
//!
//! Layers, outermost first (ARCHITECTURE.md's layer table, which `tidy.rs` checks the imports
//! against): `server` (dispatch) → `handlers` → `lsp` → `cli`, `cli_task` → `config` →
//! `conductor`, `orchestrator` → `agents` → `process`, `memory` → `providers` → `syntax` → `text` →
//! `secrets`. Only `server`, `handlers` and `lsp` know LSP types and JSON-RPC.

pub(crate) mod agents;
pub mod cli;
pub mod cli_task;
pub(crate) mod conductor;
pub(crate) mod config;
mod handlers;
pub mod lsp;
pub mod memory;
pub(crate) mod orchestrator;
pub(crate) mod process;
pub(crate) mod providers;
pub(crate) mod secrets;
pub mod server;
pub mod step_marks;
pub mod syntax;
pub mod text;
#[cfg(test)]
mod tidy;
