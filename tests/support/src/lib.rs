//! Baton's test support, one home for the crate's unit tests, the wire tests, the benchmarks and
//! the `scripted_model` example: an LSP client over the real `baton` binary ([`client`]), a
//! scripted model server speaking the providers' wire formats ([`model_server`]), a scripted
//! agent model speaking the agents' ([`agent_model`]), `$0` fixtures ([`fixture`]) and git
//! repositories made with the real git ([`git`]), and generated documents ([`documents`]).
//!
//! It never depends on `baton`, so any target of it may use it. `env!("CARGO_BIN_EXE_baton")`
//! exists only in the `baton` package's own test targets: they name the binary with [`baton!`].

pub mod agent_model;
pub mod client;
pub mod documents;
pub mod fixture;
pub mod git;
pub mod model_server;

pub use fixture::{Fixture, cursor};

use serde_json::{Value, json};

/// The path of the `baton` binary Cargo built for this test target (a `&'static Path`).
/// Expands `env!("CARGO_BIN_EXE_baton")` where it is used, so only the `baton` package's
/// integration tests and benchmarks can use it.
#[macro_export]
macro_rules! baton {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_baton"))
    };
}

/// Initialization options pointing Baton at the scripted server as an OpenAI-compatible
/// provider with a Qwen model (so completions use the Qwen FIM template on /v1/completions).
pub fn openai_options(base_url: &str) -> Value {
    json!({
        "provider": { "kind": "openai", "base_url": format!("{base_url}/v1"), "model": "qwen2.5-coder-test", "max_retries": 0, "timeout_ms": 5000 },
        "completion": { "debounce_ms": 10, "max_debounce_ms": 10 },
    })
}
