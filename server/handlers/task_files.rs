//! `baton/taskFiles` and `baton/taskFile`: a task's pull request file by file, each side's text,
//! for an editor's own diff view (VS Code's diff editor on read-only virtual documents).

use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};

use crate::lsp::error;
use crate::lsp::ext::{TaskFileEntry, TaskFileParams, TaskFileResult, TaskFileSide, TaskFilesParams, TaskFilesResult};
use crate::lsp::session::State;
use crate::orchestrator::OrchestratorError;
use crate::orchestrator::review::Side;

/// The files the pull request of `params.task_id` changes. Errors: no such task or no pull
/// request (InvalidParams), git failures (InternalError).
pub(crate) async fn files(state: &State, params: TaskFilesParams) -> Result<TaskFilesResult> {
    let orchestrator = state.orchestrator()?;
    let changed = orchestrator.changed_files(params.task_id).await.map_err(to_error)?;
    let files = changed
        .into_iter()
        .map(|f| {
            let status = match (f.in_base, f.in_head) {
                (false, _) => "added",
                (_, false) => "deleted",
                _ => "modified",
            };
            TaskFileEntry { path: f.path, status: status.to_owned() }
        })
        .collect();
    Ok(TaskFilesResult { files })
}

/// One side's text of a changed file. Errors: a path the pull request does not change, a file
/// that is not text there, no such task or pull request (InvalidParams); git failures.
pub(crate) async fn file(state: &State, params: TaskFileParams) -> Result<TaskFileResult> {
    let orchestrator = state.orchestrator()?;
    let side = match params.side {
        TaskFileSide::Base => Side::Base,
        TaskFileSide::Head => Side::Head,
    };
    let text = orchestrator.file_text(params.task_id, &params.path, side).await.map_err(to_error)?;
    Ok(TaskFileResult { text })
}

fn to_error(e: OrchestratorError) -> Error {
    match e {
        OrchestratorError::NotInDiff { .. }
        | OrchestratorError::NotText { .. }
        | OrchestratorError::NoPullRequest(_)
        | OrchestratorError::Store(crate::orchestrator::StoreError::NoTask(_)) => {
            Error { code: ErrorCode::InvalidParams, message: e.to_string().into(), data: None }
        }
        other => error::internal(other.to_string()),
    }
}
