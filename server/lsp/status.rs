//! The model server's health as the editor sees it: the one writer of `baton/status` (sent only
//! to clients that declared `experimental.baton.status`, only on change), and the checks of the
//! model server (shared by concurrent callers, repeated with backoff while it is unreachable).

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::ext::{self, StatusParams, StatusState};
use super::health::Health;
use super::session::State;
use crate::providers::Provider;

/// First wait before checking an unreachable model server again, in milliseconds; each failed
/// check doubles it...
const RECHECK_FIRST_MS: u64 = 1_000;
/// ...up to this, in milliseconds.
const RECHECK_MAX_MS: u64 = 30_000;

/// `baton/status` for `busy` model requests in flight, the last `health` and the provider.
fn status_params(busy: usize, health: Health, provider: &Provider) -> StatusParams {
    let (state, message) = match (busy, health) {
        (n, _) if n > 0 => (StatusState::Working, None),
        (_, Health::Ok | Health::Unknown) => (StatusState::Idle, None),
        (_, Health::Slow(m)) => (StatusState::Slow, Some(m)),
        (_, Health::Unreachable(m)) => (StatusState::Unreachable, Some(m)),
        (_, Health::Error(m)) => (StatusState::Error, Some(m)),
    };
    let kind = serde_json::to_value(provider.config().kind).ok().and_then(|v| v.as_str().map(str::to_owned));
    StatusParams { state, message, provider: kind.unwrap_or_default(), model: provider.config().model.clone() }
}

/// Sends `baton/status` whenever activity or health changes, to clients that asked for it
/// (`experimental.baton.status`). For the others no reporter runs: it would wake twice per
/// completion request (busy, then idle) for nothing.
pub(crate) fn spawn_status_reporter(state: Arc<State>) {
    if !state.features().status_notification {
        return;
    }
    let mut activity = state.activity.subscribe();
    let mut health = state.health.subscribe();
    tokio::spawn(async move {
        let mut last: Option<StatusParams> = None;
        loop {
            let params = {
                let busy = *activity.borrow_and_update();
                let h = health.borrow_and_update().clone();
                status_params(busy, h, &state.provider())
            };
            if last.as_ref() != Some(&params) {
                state.client.send_notification::<ext::Status>(params.clone()).await;
                last = Some(params);
            }
            tokio::select! {
                r = activity.changed() => if r.is_err() { break },
                r = health.changed() => if r.is_err() { break },
            }
        }
    });
}

/// Probes the provider ([`Provider::health`]) and records the result for the status bar. The
/// probe runs on a task of its own, so it finishes (and records) even when the caller stops
/// waiting; a probe already running is shared rather than doubled. The returned future completes
/// once that probe has recorded its result.
pub(crate) fn check_provider(state: &Arc<State>) -> Shared<BoxFuture<'static, ()>> {
    let provider = state.provider();
    let mut slot = state.probe.lock();
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
pub(crate) fn spawn_recheck(state: Arc<State>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ProviderConfig, ProviderError};

    #[test]
    fn the_status_says_working_while_busy_and_else_what_the_last_outcome_showed() {
        let provider = Provider::new(ProviderConfig { api_key_env: None, ..Default::default() }).expect("provider");
        let unreachable = Health::of(Err(&ProviderError::Unreachable {
            url: "http://127.0.0.1:9/v1".to_owned(),
            reason: "connection refused".to_owned(),
        }));
        let show = |busy, health: Health| {
            let p = status_params(busy, health, &provider);
            format!("{:?} {:?}", p.state, p.message.map(|m| m.split('.').next().unwrap_or("").to_owned()))
        };
        assert_eq!(show(2, unreachable.clone()), "Working None");
        assert_eq!(show(0, Health::Unknown), "Idle None");
        assert_eq!(show(0, Health::Ok), "Idle None");
        assert_eq!(unreachable.name(), "unreachable");
        assert!(show(0, unreachable).starts_with("Unreachable Some(\""), "the message says why");
        assert_eq!(show(0, Health::Error("HTTP 500".to_owned())), "Error Some(\"HTTP 500\")");
    }
}
