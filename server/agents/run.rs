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

/// Runs `run` under the profile's time limit (`time_limit_ms`; 0 means none): at the limit the
/// run's cancel token (a child of `ctx.cancel`) fires, so the agent stops its processes (ACP
/// agents are sent `session/cancel` first), it gets 5000 ms to wind down before it is dropped
/// (which kills what is left of its process group), and the result is
/// [`AgentError::TimedOut`]. The one owner of that limit.
///
/// Errors: [`AgentError::TimedOut`], or whatever `run` returns.
pub(crate) async fn with_time_limit<F, Fut>(ctx: RunContext, run: F) -> Result<AgentOutcome, AgentError>
where
    F: FnOnce(RunContext) -> Fut,
    Fut: Future<Output = Result<AgentOutcome, AgentError>>,
{
    let limit_ms = ctx.profile.time_limit_ms;
    if limit_ms == 0 {
        return run(ctx).await;
    }
    let inner = ctx.cancel.child_token();
    let ctx = RunContext { cancel: inner.clone(), ..ctx };
    let run = run(ctx);
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => r,
        _ = tokio::time::sleep(Duration::from_millis(limit_ms)) => {
            inner.cancel();
            // Let the agent stop its processes; dropping the future afterwards kills the rest.
            let _ = tokio::time::timeout(Duration::from_millis(CANCEL_GRACE_MS), &mut run).await;
            Err(AgentError::TimedOut { ms: limit_ms })
        }
    }
}
