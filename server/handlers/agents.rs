//! `baton/agents`: every agent profile of the session's settings (the built-in presets and the
//! user's), with what [`crate::agents::inventory`] finds on this machine.

use std::sync::Arc;

use serde_json::Value;

use crate::agents::inventory::{Machine, inventory};
use crate::lsp::session::State;

/// The result: an array of [`crate::agents::inventory::AgentReport`]s in the order of the
/// profiles (`builtin` first), as camelCase objects: `name`, `kind`, `source`, `command`?,
/// `installed`, `path`?, `version`?, `runtime`?, `runtimeOk`?, `ready`?, `note`?, `package`?.
/// Takes up to [`crate::agents::inventory::VERSION_LIMIT_MS`] (the `--version` runs).
pub(crate) async fn handle(state: &Arc<State>) -> Value {
    let profiles = crate::orchestrator::with_builtin(state.settings().agents.clone());
    let reports = inventory(&profiles, &Machine::current()).await;
    serde_json::to_value(reports).unwrap_or(Value::Array(Vec::new()))
}
