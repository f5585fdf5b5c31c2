//! Test support for agent runs (compiled in tests only): a run context with its event receiver,
//! and reading the events back.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_util::sync::CancellationToken;

use super::{AgentEvent, AgentProfile, AgentTask, Confinement, NoUser, RunContext};
use crate::providers::ProviderConfig;

/// A run of `profile` on task 1 (`prompt`) in `worktree`, sandboxed to the worktree alone
/// ([`Confinement::new`]), with no user to ask and the default model; and the receiver of its
/// events.
pub(crate) fn run_context(
    worktree: &Path,
    prompt: &str,
    profile: AgentProfile,
) -> (RunContext, UnboundedReceiver<AgentEvent>) {
    let (events, receiver) = unbounded_channel();
    let ctx = RunContext {
        task: AgentTask {
            id: 1,
            prompt: prompt.to_owned(),
            worktree: worktree.to_path_buf(),
            branch: "baton/task-1".to_owned(),
            planning: false,
        },
        profile,
        default_model: ProviderConfig::default(),
        events,
        cancel: CancellationToken::new(),
        asker: Arc::new(NoUser),
        confinement: Confinement::new(worktree),
        secrets: Default::default(),
    };
    (ctx, receiver)
}

/// Every event received so far.
pub(crate) fn drain(events: &mut UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut all = Vec::new();
    while let Ok(event) = events.try_recv() {
        all.push(event);
    }
    all
}

/// The [`AgentEvent::Step`]s among `events`.
pub(crate) fn steps(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Step(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}
