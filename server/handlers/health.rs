//! `baton/health`: a snapshot for the editors' health checks (`:checkhealth baton`, VS Code's
//! "Baton: Show Health"). Answers within [`FRESH_WAIT_MS`] with what it knows; a check that takes
//! longer goes on in the background and `baton/status` reports its result.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::lsp::health::Health;
use crate::lsp::session::State;

/// How long `baton/health` waits for a fresh check of the model server before answering with
/// the last known state, in milliseconds (a hung server would otherwise hold the answer for the
/// whole `provider.timeout_ms`).
const FRESH_WAIT_MS: u64 = 2_000;

/// The result: `version`, `provider`, `baseUrl`, `model`, `state` (`ok`, `slow`,
/// `unreachable`, `error`, or `unknown` before the first check finished), `reachable` (the server
/// accepted a connection at the last check: `ok`, `slow` or `error`), `message`, `checking` (a
/// check was still running when this answer was sent), `positionEncoding`, `documents`,
/// `counters`.
pub(crate) async fn handle(state: &Arc<State>) -> Value {
    let check = crate::lsp::status::check_provider(state);
    let checking = tokio::time::timeout(Duration::from_millis(FRESH_WAIT_MS), check).await.is_err();
    let provider = state.provider();
    let c = &state.conductor.counters;
    let health = state.health.borrow().clone();
    // Whether agents can run sandboxed here; tasks of sandboxed profiles fail with this reason.
    let sandbox = match crate::agents::sandbox::availability().await {
        Ok(()) => json!({ "available": true, "kind": "bubblewrap" }),
        Err(e) => json!({ "available": false, "message": e.to_string() }),
    };
    let reachable = matches!(health, Health::Ok | Health::Slow(_) | Health::Error(_));
    let message = match &health {
        Health::Unknown => Some(format!(
            "not checked yet: the first check of the model server at {} is still running; the status bar will \
             show its result",
            provider.config().base_url
        )),
        other => other.message().map(str::to_owned),
    };
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "provider": provider.config().kind,
        "baseUrl": provider.config().base_url,
        "model": provider.config().model,
        "state": health.name(),
        "reachable": reachable,
        "message": message,
        "checking": checking,
        "positionEncoding": state.encoding().as_str(),
        "documents": state.docs.len(),
        "sandbox": sandbox,
        "counters": {
            "requests": c.requests.load(Ordering::Relaxed),
            "modelCalls": c.model_calls.load(Ordering::Relaxed),
            "cacheHits": c.cache_hits.load(Ordering::Relaxed),
            "superseded": c.superseded.load(Ordering::Relaxed),
            "discardedParse": c.discarded_parse.load(Ordering::Relaxed),
        },
    })
}
