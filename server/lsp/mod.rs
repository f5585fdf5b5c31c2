//! The LSP layer's shared parts: conversions between LSP types and Baton's plain data, and
//! Baton's protocol extensions. Only this layer, `server.rs` and `handlers/` know LSP types.

pub mod convert;
pub mod ext;
pub mod tasks;
