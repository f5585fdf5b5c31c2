//! The LSP layer's shared parts: the stdio transport (framing, JSON-RPC validation, panic
//! containment), conversions between LSP types and Baton's plain data, and Baton's protocol
//! extensions. Only this layer, `server.rs` and `handlers/` know LSP types.

pub mod convert;
pub mod ext;
pub mod tasks;
pub mod transport;
