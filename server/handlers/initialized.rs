//! `initialized`: start the status and task reporters, show configuration problems, and check that the
//! model server answers so the status bar can say so before the first suggestion; while it does
//! not, check again in the background so the status recovers on its own.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tower_lsp_server::gen_lsp_types::MessageType;

use crate::server::{Health, State, spawn_status_reporter};

/// First wait before checking an unreachable model server again, in milliseconds; each failed
/// check doubles it...
const RECHECK_FIRST_MS: u64 = 1_000;
/// ...up to this, in milliseconds.
const RECHECK_MAX_MS: u64 = 30_000;

pub async fn handle(state: &Arc<State>) {
    spawn_status_reporter(state.clone());
    crate::lsp::tasks::spawn_task_reporter(state.clone());
    let messages: Vec<String> = std::mem::take(&mut *state.pending.lock().unwrap_or_else(|e| e.into_inner()));
    for m in messages {
        state.client.show_message(MessageType::Warning, format!("Baton: {m}")).await;
    }
    drop(check_provider(state));
    spawn_recheck(state.clone());
}

/// Probes the provider ([`Provider::health`](crate::providers::Provider::health)) and records
/// the result for the status bar. The probe runs on a task of its own, so it finishes (and
/// records) even when the caller stops waiting; a probe already running is shared rather than
/// doubled. The returned future completes once that probe has recorded its result.
pub fn check_provider(state: &Arc<State>) -> Shared<BoxFuture<'static, ()>> {
    let provider = state.provider();
    let mut slot = state.probe.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((config, running)) = slot.as_ref()
        && config == provider.config()
        && running.peek().is_none()
    {
        return running.clone();
    }
    let config = provider.config().clone();
    let task = tokio::spawn({
        let state = state.clone();
        let config = config.clone();
        async move {
            let result = provider.health().await;
            if let Err(e) = &result {
                tracing::warn!("model server check failed: {e}");
            }
            // A check of a provider the settings have since replaced says nothing about the new one.
            if state.provider().config() == &config {
                state.observe(result.as_ref().map(|_| ()));
            }
        }
    });
    let probe = async move {
        let _ = task.await;
    }
    .boxed()
    .shared();
    *slot = Some((config, probe.clone()));
    probe
}

/// While the model server is [`Health::Unreachable`], checks it again after 1 s, 2 s, 4 s, ...
/// (at most [`RECHECK_MAX_MS`] apart), so the status recovers when the server comes back even if
/// no request reaches it (answers from the cache, superseded requests, an idle editor). Slow and
/// error states are left to the next request: the server is there, and a cheap check says
/// nothing about how it generates.
fn spawn_recheck(state: Arc<State>) {
    let mut health = state.health.subscribe();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(RECHECK_FIRST_MS);
        loop {
            let unreachable = matches!(*health.borrow_and_update(), Health::Unreachable(_));
            if !unreachable {
                delay = Duration::from_millis(RECHECK_FIRST_MS);
                if health.changed().await.is_err() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {
                    check_provider(&state).await;
                    delay = (delay * 2).min(Duration::from_millis(RECHECK_MAX_MS));
                }
                changed = health.changed() => if changed.is_err() { return },
            }
        }
    });
}
