//! Running one agent turn: dispatching by the profile's kind (CLI agents directly, built-in and
//! ACP agents through a registry of runners the caller fills, so a build or a test can leave one
//! out) under the profile's time limit. [`with_time_limit`] is the one timer for that limit; the
//! agents themselves only watch their cancel token.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{AgentError, AgentKind, AgentOutcome, RunContext};

/// Runs an agent of one kind.
pub(crate) type AgentRunner =
    Arc<dyn Fn(RunContext) -> BoxFuture<'static, Result<AgentOutcome, AgentError>> + Send + Sync>;

/// How long a cancelled run may take to wind down before it is dropped, in milliseconds.
const CANCEL_GRACE_MS: u64 = 5_000;

/// Runners for the agent kinds not built into the orchestrator (`builtin`, `acp`); `cli` always
/// runs [`super::cli::run`] unless a runner is registered for it.
#[derive(Clone, Default)]
pub(crate) struct AgentRunners {
    runners: Vec<(AgentKind, AgentRunner)>,
}

impl std::fmt::Debug for AgentRunners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.runners.iter().map(|(k, _)| k)).finish()
    }
}

impl AgentRunners {
    /// Registers (or replaces) the runner for `kind`.
    pub(crate) fn register(&mut self, kind: AgentKind, runner: AgentRunner) {
        self.runners.retain(|(k, _)| *k != kind);
        self.runners.push((kind, runner));
    }

    /// Runners for every agent kind Baton ships: the built-in tool loop
    /// ([`super::builtin::run`]) and ACP agents ([`super::acp::run`]); CLI agents
    /// need none.
    pub(crate) fn standard() -> Self {
        let mut r = Self::default();
        r.register(AgentKind::Builtin, Arc::new(|ctx| Box::pin(super::builtin::run(ctx))));
        r.register(AgentKind::Acp, Arc::new(|ctx| Box::pin(super::acp::run(ctx))));
        r
    }

    /// The runner registered for `kind`.
    pub(crate) fn get(&self, kind: AgentKind) -> Option<&AgentRunner> {
        self.runners.iter().find(|(k, _)| *k == kind).map(|(_, r)| r)
    }
}

/// Runs the agent of `ctx.profile` once, by kind.
///
/// Errors: whatever the agent returns; [`AgentError::NoRunner`] when no runner is registered for
/// its kind.
pub(crate) async fn dispatch(ctx: RunContext, runners: &AgentRunners) -> Result<AgentOutcome, AgentError> {
    let kind = ctx.profile.kind;
    if let Some(runner) = runners.get(kind) {
        return runner(ctx).await;
    }
    match kind {
        AgentKind::Cli => super::cli::run(ctx).await,
        AgentKind::Builtin | AgentKind::Acp => Err(AgentError::NoRunner {
            kind: if kind == AgentKind::Builtin { "built-in" } else { "ACP" },
            profile: ctx.profile.name.clone(),
        }),
    }
}

/// [`dispatch`] under the profile's time limit ([`with_time_limit`]).
pub(crate) async fn dispatch_with_limit(ctx: RunContext, runners: &AgentRunners) -> Result<AgentOutcome, AgentError> {
    with_time_limit(ctx, |ctx| dispatch(ctx, runners)).await
}

/// Runs `run` under the profile's time limit (`time_limit_ms`; 0 means none) and its
/// inactivity limit (`inactivity_timeout_ms`: no [`super::AgentEvent`] for that long; 0 or
/// absent means none): at either, the run's cancel token (a child of `ctx.cancel`) fires, so the
/// agent stops its processes (ACP agents are sent `session/cancel` first), it gets 5000 ms to
/// wind down before it is dropped (which kills what is left of its process group), and the
/// result is [`AgentError::TimedOut`] or [`AgentError::Inactive`]. The one owner of both limits.
///
/// Errors: [`AgentError::TimedOut`], [`AgentError::Inactive`], or whatever `run` returns.
pub(crate) async fn with_time_limit<F, Fut>(ctx: RunContext, run: F) -> Result<AgentOutcome, AgentError>
where
    F: FnOnce(RunContext) -> Fut,
    Fut: Future<Output = Result<AgentOutcome, AgentError>>,
{
    let limit_ms = ctx.profile.time_limit_ms;
    let idle_ms = ctx.profile.inactivity_timeout_ms.unwrap_or(0);
    if limit_ms == 0 && idle_ms == 0 {
        return run(ctx).await;
    }
    let inner = ctx.cancel.child_token();
    // Every event passes through here on its way to the caller, and counts as a sign of work.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (seen_tx, mut seen) = tokio::sync::watch::channel(());
    let outer = ctx.events.clone();
    // Detached: it ends once every sender the run holds is dropped (with the run, below).
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            seen_tx.send_replace(());
            let _ = outer.send(event);
        }
    });
    let ctx = RunContext { cancel: inner.clone(), events: tx, ..ctx };
    let run = run(ctx);
    tokio::pin!(run);
    let total = async {
        if limit_ms == 0 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(limit_ms)).await;
    };
    let idle = async {
        if idle_ms == 0 {
            std::future::pending::<()>().await;
        }
        // A quiet stretch of `idle_ms` with no event ends it; each event starts a new one.
        while let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(idle_ms), seen.changed()).await {}
    };
    let stopped = tokio::select! {
        r = &mut run => Ok(r),
        () = total => Err(AgentError::TimedOut { ms: limit_ms }),
        () = idle => Err(AgentError::Inactive { ms: idle_ms }),
    };
    match stopped {
        Ok(r) => r,
        Err(why) => {
            inner.cancel();
            // Let the agent stop its processes; dropping the future afterwards kills the rest.
            let _ = tokio::time::timeout(Duration::from_millis(CANCEL_GRACE_MS), &mut run).await;
            Err(why)
        }
    }
}
