//! `baton/health`: a snapshot for the editors' health checks (`:checkhealth baton`, VS Code's
//! "Baton: Show Health").

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::server::{Health, State};

pub async fn handle(state: &State) -> Value {
    super::initialized::check_provider(state).await;
    let provider = state.provider();
    let c = &state.conductor.counters;
    let health = state.health.borrow().clone();
    // Whether agents can run sandboxed here; tasks of sandboxed profiles fail with this reason.
    let sandbox = match crate::agents::sandbox::availability().await {
        Ok(()) => json!({ "available": true, "kind": "bubblewrap" }),
        Err(e) => json!({ "available": false, "message": e.to_string() }),
    };
    let (reachable, message) = match health {
        Health::Ok => (true, None),
        Health::Unreachable(m) => (false, Some(m)),
        Health::Error(m) => (true, Some(m)),
    };
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "provider": provider.config().kind,
        "baseUrl": provider.config().base_url,
        "model": provider.config().model,
        "reachable": reachable,
        "message": message,
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
