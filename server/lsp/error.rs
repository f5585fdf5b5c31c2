//! JSON-RPC errors with a message for the user: what a failing request answers (the server stays
//! up). InvalidParams when the request's arguments are wrong, InvalidRequest when the request is
//! refused as things stand (wrong state, unsaved changes, an editor that cannot do it), Internal
//! for everything else.

use tower_lsp_server::jsonrpc::{Error, ErrorCode};

/// An InvalidParams error with this message.
pub(crate) fn invalid_params(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidParams, message: message.into().into(), data: None }
}

/// An InvalidRequest error with this message.
pub(crate) fn invalid_request(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InvalidRequest, message: message.into().into(), data: None }
}

/// An InternalError with this message.
pub(crate) fn internal(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::InternalError, message: message.into().into(), data: None }
}
