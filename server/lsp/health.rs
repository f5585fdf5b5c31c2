//! What Baton last learned about the model server ([`Health`]), for `baton/status` and
//! `baton/health`, and the check of it in flight ([`Probe`]). Plain data: the reporters are in
//! `status.rs`.

use futures::future::{BoxFuture, Shared};

use crate::providers::{ProviderConfig, ProviderError};

/// What Baton last learned about the model server, for `baton/status` and `baton/health`.
/// Each message says what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Health {
    /// Not checked yet: the first check is still running.
    #[default]
    Unknown,
    /// The last request or check was answered.
    Ok,
    /// The server accepted the connection but did not finish answering within
    /// `provider.timeout_ms` ([`ProviderError::Timeout`]): it is there, but slow or busy.
    Slow(String),
    /// No connection could be made ([`ProviderError::Unreachable`]): nothing listens at the
    /// configured URL, or the host cannot be reached.
    Unreachable(String),
    /// The server answered, with an error (HTTP status, malformed or oversized answer, ...).
    Error(String),
}

impl Health {
    /// The health a request's or check's outcome shows: a timeout on a server that accepted the
    /// connection is [`Health::Slow`], a failure to connect [`Health::Unreachable`], any other
    /// failure [`Health::Error`].
    pub(crate) fn of(result: Result<(), &ProviderError>) -> Self {
        match result {
            Ok(()) => Health::Ok,
            Err(e @ ProviderError::Unreachable { .. }) => Health::Unreachable(unreachable_message(e)),
            Err(e @ ProviderError::Timeout { .. }) => Health::Slow(slow_message(e)),
            Err(e) => Health::Error(e.to_string()),
        }
    }

    /// The state's name in `baton/health`: `unknown`, `ok`, `slow`, `unreachable` or `error`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Slow(_) => "slow",
            Health::Unreachable(_) => "unreachable",
            Health::Error(_) => "error",
        }
    }

    /// The message, for the states that have one.
    pub(crate) fn message(&self) -> Option<&str> {
        match self {
            Health::Unknown | Health::Ok => None,
            Health::Slow(m) | Health::Unreachable(m) | Health::Error(m) => Some(m),
        }
    }
}

/// The status message for a model server that does not answer.
fn unreachable_message(e: &ProviderError) -> String {
    format!(
        "{e}. Start a model server there (for example llama.cpp's llama-server: scripts/local-model.sh start) \
         or set provider.base_url and provider.kind in baton.toml or your editor's Baton settings."
    )
}

/// The status message for a model server that accepted the connection but answered too slowly.
fn slow_message(e: &ProviderError) -> String {
    format!(
        "{e}. It may be loading the model or busy with other requests; if answers stay this slow, use a smaller \
         model or raise provider.timeout_ms in baton.toml or your editor's Baton settings."
    )
}

/// A check of the model server: the provider configuration it checks, and a future that
/// completes once it has recorded its result in `State::health`.
pub(crate) type Probe = (ProviderConfig, Shared<BoxFuture<'static, ()>>);
