//! The LSP layer's shared parts, below the dispatch (`server.rs`) and the handlers: the stdio
//! transport (framing, JSON-RPC validation, panic containment), the session's shared state, the
//! open documents and their background parses, conversions between LSP types and Baton's plain
//! data, the workspace edits Baton sends, the status and task reporters, and Baton's protocol
//! extensions. Only this layer, `server.rs` and `handlers/` know LSP types.
//!
//! Rules (ARCHITECTURE.md, "The LSP layer"; the tidy tests in `server/tidy.rs` check them):
//! modules here never use `handlers` or `server` and use each other without cycles; `transport`
//! uses nothing of the crate; `convert`, `error`, `ext` and `health` use only the layers below.

pub(crate) mod config_watch;
pub(crate) mod convert;
pub(crate) mod documents;
pub(crate) mod error;
pub(crate) mod ext;
pub(crate) mod health;
pub(crate) mod session;
pub(crate) mod status;
pub mod stdio;
pub(crate) mod tasks;
pub mod transport;
pub(crate) mod workspace_edit;
