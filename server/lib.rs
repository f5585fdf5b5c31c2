//! Baton: a language server that brings AI coding assistance to any LSP editor.
//!
//! Layers, outermost first (see ARCHITECTURE.md): transport and LSP (`server`, `handlers`, `lsp`)
//! → conductor core (`conductor`) → providers, syntax and text (`providers`, `syntax`, `text`).
//! Only the LSP layer knows LSP types and JSON-RPC.

pub(crate) mod agents;
pub mod cli;
pub mod cli_task;
pub(crate) mod conductor;
pub(crate) mod config;
mod handlers;
pub mod lsp;
pub(crate) mod orchestrator;
pub(crate) mod process;
pub(crate) mod providers;
pub(crate) mod secrets;
pub mod server;
pub mod syntax;
#[cfg(test)]
mod test_support;
pub mod text;
