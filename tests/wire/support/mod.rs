//! Test support: an LSP client over the real binary and a scripted model server.

pub mod model_server;
